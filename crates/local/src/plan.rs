//! What the files say: SeldonDeployments (checked like `sluice validate`) and any Istio
//! resources beside them (Gateways, extra VirtualServices, ...).

use std::path::PathBuf;

use sluice_api::SeldonDeployment;
use sluice_api::document;
use sluice_engine::server::Cors;
use sluice_gateway::config::{self, Loaded};
use sluice_translate::annotations::ENGINE_SEPARATE_POD;
use sluice_translate::{Settings, source};

/// The files' content.
#[derive(Debug, Default)]
pub struct Plan {
    /// Valid SeldonDeployments.
    pub deployments: Vec<SeldonDeployment>,
    /// Istio resources found beside them.
    pub istio: sluice_mesh::Config,
    /// Warnings (`file:line:col: warning: ...`).
    pub warnings: Vec<String>,
}

/// The files cannot be run: every problem, compiler style.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct PlanError(pub Vec<String>);

impl Plan {
    /// Read and check every file.
    pub fn load(paths: &[PathBuf], settings: &Settings) -> Result<Plan, PlanError> {
        let files = config::files(paths).map_err(|e| PlanError(vec![format!("error: {e}")]))?;
        if files.is_empty() {
            return Err(PlanError(vec![
                "error: no .yaml, .yml or .json files given".to_string(),
            ]));
        }
        let mut plan = Plan::default();
        let mut errors = Vec::new();
        let mut loaded = Loaded::default();
        let mut order = 0i64;
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| PlanError(vec![format!("error: cannot read {}: {e}", file.display())]))?;
            let name = file.display().to_string();
            let docs = match document::parse(&text) {
                Ok(docs) => docs,
                Err(e) => {
                    errors.push(format!(
                        "{name}:{}: error: not valid YAML: {}",
                        e.position.unwrap_or_default(),
                        e.message
                    ));
                    continue;
                }
            };
            for doc in &docs {
                if source::is_seldon_deployment(doc) {
                    let checked = source::check(doc, settings, None);
                    for d in &checked.diagnostics {
                        let line = format!("{}: {} {d}", at(&name, doc, &d.path), object(doc));
                        if d.is_error() {
                            errors.push(line)
                        } else {
                            plan.warnings.push(line)
                        }
                    }
                    if let Some(sdep) = checked.valid() {
                        let unsupported = unsupported_locally(sdep);
                        for (path, problem) in &unsupported {
                            errors.push(format!(
                                "{}: {} error: {problem}",
                                at(&name, doc, path),
                                object(doc)
                            ));
                        }
                        let (env_errors, env_warnings) = orchestrator_env(sdep);
                        for (path, problem) in &env_errors {
                            errors.push(format!(
                                "{}: {} error: {problem}",
                                at(&name, doc, path),
                                object(doc)
                            ));
                        }
                        for (path, problem) in &env_warnings {
                            plan.warnings.push(format!(
                                "{}: {} warning: {problem}",
                                at(&name, doc, path),
                                object(doc)
                            ));
                        }
                        if unsupported.is_empty() && env_errors.is_empty() {
                            plan.deployments.push(sdep.clone());
                        }
                    }
                } else if !config::add_document(&name, doc, &mut loaded, &mut order) {
                    plan.warnings.push(format!(
                        "{}: warning: {} is neither a SeldonDeployment nor an Istio resource; skipped",
                        at(&name, doc, &document::FieldPath::root().key("kind")),
                        object(doc)
                    ));
                }
            }
        }
        for p in loaded.problems {
            if p.error {
                errors.push(p.text)
            } else {
                plan.warnings.push(p.text)
            }
        }
        plan.istio = loaded.config;
        if errors.is_empty() {
            Ok(plan)
        } else {
            Err(PlanError(errors))
        }
    }
}

/// What a valid SeldonDeployment may say that the local orchestrator cannot serve yet.
/// Refused rather than served differently: the operator's output would behave otherwise.
fn unsupported_locally(sdep: &SeldonDeployment) -> Vec<(document::FieldPath, String)> {
    let spec = document::FieldPath::root().key("spec");
    let mut out = Vec::new();
    if let Some(t) = sdep.spec.transport.as_deref().filter(|t| *t != "rest") {
        out.push((
            spec.key("transport"),
            format!(
                "spec.transport {t:?}: `sluice up` serves REST only for now (`sluice render` accepts {t:?}); \
                 remove the field or set it to \"rest\""
            ),
        ));
    }
    out
}

type Problems = Vec<(document::FieldPath, String)>;

/// The orchestrator's environment (`seldon.io/engine-<x>` annotations, `svcOrchSpec.env`):
/// the CORS variables sluice's orchestrator reads must be valid header values (errors); any
/// other variable has no effect locally (warnings), never silently.
fn orchestrator_env(sdep: &SeldonDeployment) -> (Problems, Problems) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    let spec = document::FieldPath::root().key("spec");
    let mut check = |path: document::FieldPath, name: &str, value: Option<&str>, value_from: bool| {
        if Cors::ENV.contains(&name) {
            if value_from {
                warnings.push((
                    path,
                    format!(
                        "{name} takes its value from a Secret or ConfigMap (valueFrom), which `sluice up` does not \
                         read; Seldon's default applies here (write the value to use it locally)"
                    ),
                ));
            } else if let Err(e) = Cors::from_env(|_| value.map(str::to_string)) {
                errors.push((path, e));
            }
        } else {
            warnings.push((
                path,
                format!(
                    "the orchestrator of `sluice up` does not read {name}; it has no effect here \
                     (it reads {})",
                    Cors::ENV.join(" and ")
                ),
            ));
        }
    };
    for (key, value) in &sdep.spec.annotations {
        // Where the operator places the orchestrator, not a setting of it.
        if key == ENGINE_SEPARATE_POD {
            continue;
        }
        if let Some(setting) = key.strip_prefix("seldon.io/engine-") {
            let name = setting.to_uppercase().replace('-', "_");
            check(
                spec.clone().key("annotations").key(key.clone()),
                &name,
                Some(value),
                false,
            );
        }
    }
    for (i, predictor) in sdep.spec.predictors.iter().enumerate() {
        let env = predictor.svc_orch_spec.iter().flat_map(|o| o.env.iter());
        for (j, var) in env.enumerate() {
            let path = spec
                .clone()
                .key("predictors")
                .index(i)
                .key("svcOrchSpec")
                .key("env")
                .index(j);
            check(path, &var.name, var.value.as_deref(), var.value_from.is_some());
        }
    }
    (errors, warnings)
}

fn at(file: &str, doc: &document::Document, path: &document::FieldPath) -> String {
    format!("{file}:{}", doc.position(path))
}

fn object(doc: &document::Document) -> String {
    format!("[{}/{}]", doc.kind(), doc.name())
}
