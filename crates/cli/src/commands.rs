//! `sluice validate`, `render` and `crd`: read the files, check them with the same
//! loader and rules `sluice up` and `sluice gateway` use, print.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::Value;
use sluice_api::SeldonDeployment;
use sluice_api::diagnostic::{self, Diagnostic, Severity};
use sluice_api::load::{self, Typed};
use sluice_translate::{Settings, source};

use crate::input;

/// Every problem of the files, located and in reading order, and the valid SeldonDeployments.
fn check_all(
    files: &[PathBuf],
    namespace: Option<&str>,
    settings: &Settings,
) -> Result<(Vec<Diagnostic>, Vec<SeldonDeployment>)> {
    let loaded = load::load(&input::read(files)?);
    let mut problems = loaded.diagnostics.clone();
    let mut valid = Vec::new();
    for resource in &loaded.resources {
        let Typed::SeldonDeployment(sdep) = &resource.typed else {
            continue;
        };
        let checked = source::check(sdep, settings, namespace);
        problems.extend(checked.diagnostics.iter().map(|d| resource.locate(d.clone())));
        if let Some(sdep) = checked.valid() {
            // What `sluice up` would refuse: its orchestrator's settings are errors, what it
            // does not serve yet a warning (the cluster serves it).
            problems.extend(
                sluice_local::orchestrator_checks(sdep)
                    .into_iter()
                    .map(|d| resource.locate(d)),
            );
            problems.extend(
                sluice_local::not_served_locally(sdep)
                    .into_iter()
                    .map(|d| resource.locate(local_only(d))),
            );
            valid.push(sdep.clone());
        }
    }
    // What the gateway (an Istio ingress gateway's admission) would refuse.
    let (istio, skipped) = sluice_gateway::config::istio(&loaded);
    problems.extend(
        skipped
            .into_iter()
            .filter(|d| d.object.as_ref().is_none_or(|o| o.kind != "SeldonDeployment"))
            .map(local_only),
    );
    problems.extend(
        sluice_mesh::RouteTable::check(&sluice_mesh::Proxy::default(), &istio)
            .into_iter()
            .map(|d| loaded.locate(d)),
    );
    problems.extend(loaded.files_without_objects());
    diagnostic::sort_by_location(&mut problems, &loaded.files);
    Ok((problems, valid))
}

/// A refusal of `sluice up` or `sluice gateway` about something a cluster serves: a warning.
fn local_only(mut d: Diagnostic) -> Diagnostic {
    if d.is_error() {
        d.severity = Severity::Warning;
        d.message = format!("`sluice up` and `sluice gateway` refuse this: {}", d.message);
    }
    d
}

/// `sluice validate`
pub(crate) fn validate(
    files: &[PathBuf],
    namespace: Option<&str>,
    settings: &Settings,
    json: bool,
    verbose: bool,
) -> Result<ExitCode> {
    let (diagnostics, _) = check_all(files, namespace, settings)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&diagnostics)?);
    } else {
        for d in diagnostic::shown(&diagnostics, verbose) {
            println!("{d}");
        }
        println!("{}", diagnostic::summary(&diagnostics));
    }
    Ok(exit(&diagnostics))
}

/// `sluice render`
pub(crate) fn render(
    files: &[PathBuf],
    namespace: Option<&str>,
    settings: &Settings,
    json: bool,
    verbose: bool,
) -> Result<ExitCode> {
    let (diagnostics, valid) = check_all(files, namespace, settings)?;
    for d in diagnostic::shown(&diagnostics, verbose) {
        eprintln!("{d}");
    }
    if diagnostic::has_errors(&diagnostics) {
        eprintln!("{}; nothing rendered", diagnostic::summary(&diagnostics));
        return Ok(ExitCode::from(1));
    }
    let mut objects = Vec::new();
    for sdep in &valid {
        let desired = sluice_translate::desired(sdep, settings)
            .context("translation failed after validation passed")?;
        objects.extend(desired.objects()?);
    }
    print!("{}", format_objects(&objects, json)?);
    Ok(ExitCode::SUCCESS)
}

/// Multi-document YAML, or one JSON `List`.
fn format_objects(objects: &[Value], json: bool) -> Result<String> {
    if json {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
        return Ok(serde_json::to_string_pretty(&list)? + "\n");
    }
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(object)?);
    }
    Ok(out)
}

/// `sluice crd`
pub(crate) fn crd() -> Result<ExitCode> {
    print!("{}", sluice_api::seldon::crd_yaml()?);
    Ok(ExitCode::SUCCESS)
}

fn exit(diagnostics: &[Diagnostic]) -> ExitCode {
    if diagnostic::has_errors(diagnostics) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
