//! The commands: read input, call the translation, print.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::Value;
use sluice_api::SeldonDeployment;
use sluice_translate::{Desired, Settings, source};

use crate::input;
use crate::report::{self, Located};

/// Check every document; return the diagnostics and the valid SeldonDeployments.
fn check_all(
    files: &[PathBuf],
    namespace: Option<&str>,
    settings: &Settings,
) -> Result<(Vec<Located>, Vec<SeldonDeployment>)> {
    let mut diagnostics = Vec::new();
    let mut valid = Vec::new();
    for file in input::read(files)? {
        let documents = match file.documents {
            Ok(documents) => documents,
            Err(err) => {
                let at = err.position.unwrap_or_default();
                diagnostics.push(Located::file_error(
                    &file.name,
                    at.line,
                    at.column,
                    format!("not valid YAML: {}", err.message),
                ));
                continue;
            }
        };
        let first = diagnostics.len();
        for doc in &documents {
            if source::is_seldon_deployment(doc) {
                let checked = source::check(doc, settings, namespace);
                diagnostics.extend(
                    checked
                        .diagnostics
                        .iter()
                        .map(|d| Located::new(&file.name, doc, d)),
                );
                if let Some(sdep) = checked.valid() {
                    valid.push(sdep.clone());
                }
            } else {
                diagnostics.extend(
                    source::check_other(doc)
                        .iter()
                        .map(|d| Located::new(&file.name, doc, d)),
                );
            }
        }
        // Within a file, in the order a reader meets them.
        diagnostics[first..].sort_by_key(|d| (d.line, d.column));
    }
    Ok((diagnostics, valid))
}

/// `sluice validate`
pub(crate) fn validate(
    files: &[PathBuf],
    namespace: Option<&str>,
    settings: &Settings,
    json: bool,
) -> Result<ExitCode> {
    let (diagnostics, _) = check_all(files, namespace, settings)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&diagnostics)?);
    } else {
        for d in &diagnostics {
            println!("{}", d.text());
        }
        println!("{}", report::summary(&diagnostics));
    }
    Ok(exit(&diagnostics))
}

/// `sluice render`
pub(crate) fn render(
    files: &[PathBuf],
    namespace: Option<&str>,
    settings: &Settings,
    json: bool,
) -> Result<ExitCode> {
    let (diagnostics, valid) = check_all(files, namespace, settings)?;
    for d in &diagnostics {
        eprintln!("{}", d.text());
    }
    if diagnostics.iter().any(Located::is_error) {
        eprintln!("{}; nothing rendered", report::summary(&diagnostics));
        return Ok(ExitCode::from(1));
    }
    let mut objects = Vec::new();
    for sdep in &valid {
        let desired = sluice_translate::desired(sdep, settings)
            .context("translation failed after validation passed")?;
        objects.extend(objects_in_apply_order(&desired)?);
    }
    print!("{}", format_objects(&objects, json)?);
    Ok(ExitCode::SUCCESS)
}

/// Services and Deployments, then DestinationRules before the VirtualService that uses
/// their subsets (Istio's make-before-break order).
pub(crate) fn objects_in_apply_order(desired: &Desired) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for s in &desired.services {
        out.push(serde_json::to_value(s)?);
    }
    for d in &desired.deployments {
        out.push(serde_json::to_value(d)?);
    }
    for d in &desired.destination_rules {
        out.push(serde_json::to_value(d)?);
    }
    for v in &desired.virtual_services {
        out.push(serde_json::to_value(v)?);
    }
    Ok(out)
}

/// Multi-document YAML, or one JSON `List`.
pub(crate) fn format_objects(objects: &[Value], json: bool) -> Result<String> {
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

fn exit(diagnostics: &[Located]) -> ExitCode {
    if diagnostics.iter().any(Located::is_error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
