//! What the files say: SeldonDeployments (checked like `sluice validate`) and any Istio
//! resources beside them (Gateways, extra VirtualServices, ...), read by the one loader
//! (`sluice_api::load`) so every problem carries its file, line and column.

use std::path::PathBuf;

use sluice_api::document::FieldPath;
use sluice_api::load::{Loaded, Typed};
use sluice_api::{Diagnostic, ObjectRef, SeldonDeployment};
use sluice_engine::server::Cors;
use sluice_gateway::config;
use sluice_translate::annotations::ENGINE_SEPARATE_POD;
use sluice_translate::{Settings, source};

/// The files' content.
#[derive(Debug, Default)]
pub struct Plan {
    /// Valid SeldonDeployments.
    pub deployments: Vec<SeldonDeployment>,
    /// Istio resources found beside them.
    pub istio: sluice_mesh::Config,
    /// Warnings, located.
    pub warnings: Vec<Diagnostic>,
    /// What was read, to place later problems (the route table's) in the files.
    pub loaded: Loaded,
}

/// The files cannot be run: every problem, located where it is written.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PlanError(pub Vec<Diagnostic>);

impl PlanError {
    /// One problem not about a file (a socket, a component).
    pub fn single(message: impl Into<String>) -> Self {
        PlanError(vec![Diagnostic::error(FieldPath::root(), message)])
    }
}

impl Plan {
    /// Read and check every file. Blocking (file reads): call it off the async workers.
    pub fn load(paths: &[PathBuf], settings: &Settings) -> Result<Plan, PlanError> {
        let loaded = config::load(paths).map_err(PlanError)?;
        Plan::check(loaded, settings)
    }

    /// Check what was read.
    pub fn check(loaded: Loaded, settings: &Settings) -> Result<Plan, PlanError> {
        let mut problems = loaded.diagnostics.clone();
        let mut deployments = Vec::new();
        for resource in &loaded.resources {
            let Typed::SeldonDeployment(sdep) = &resource.typed else {
                continue;
            };
            let checked = source::check(sdep, settings, None);
            problems.extend(checked.diagnostics.iter().map(|d| resource.locate(d.clone())));
            if let Some(sdep) = checked.valid() {
                let mut local = not_served_locally(sdep);
                local.extend(orchestrator_checks(sdep));
                let refused = local.iter().any(Diagnostic::is_error);
                problems.extend(local.into_iter().map(|d| resource.locate(d)));
                if !refused {
                    deployments.push(sdep.clone());
                }
            }
        }
        let (istio, skipped) = istio(&loaded);
        problems.extend(skipped);
        problems.extend(loaded.files_without_objects());
        if loaded.resources.is_empty() && !sluice_api::diagnostic::has_errors(&problems) {
            problems.push(Diagnostic::warning(FieldPath::root(), "nothing to run"));
        }
        sluice_api::diagnostic::sort_by_location(&mut problems, &loaded.files);
        if sluice_api::diagnostic::has_errors(&problems) {
            return Err(PlanError(problems));
        }
        Ok(Plan {
            deployments,
            istio,
            warnings: problems,
            loaded,
        })
    }
}

/// The Istio resources beside the SeldonDeployments (the gateway's reading, without its
/// note on SeldonDeployments, which are what `sluice up` runs).
fn istio(loaded: &Loaded) -> (sluice_mesh::Config, Vec<Diagnostic>) {
    let (config, problems) = config::istio(loaded);
    let kept = problems
        .into_iter()
        .filter(|d| d.object.as_ref().is_none_or(|o| o.kind != "SeldonDeployment"))
        .collect();
    (config, kept)
}

/// What `sluice up` does not serve yet in a valid SeldonDeployment (errors: it refuses
/// rather than serve it differently), with field paths.
pub fn not_served_locally(sdep: &SeldonDeployment) -> Vec<Diagnostic> {
    let object = ObjectRef::of("SeldonDeployment", &sdep.metadata);
    unsupported_locally(sdep)
        .into_iter()
        .map(|(path, message)| Diagnostic::error(path, message).in_object(object.clone()))
        .collect()
}

/// The orchestrator environment (`seldon.io/engine-*`, `svcOrchSpec.env`): invalid CORS
/// values are errors; variables the orchestrator does not read are warnings. Also a
/// warning for each `modelUri` of a user's container, which `sluice up` does not download.
pub fn orchestrator_checks(sdep: &SeldonDeployment) -> Vec<Diagnostic> {
    let object = ObjectRef::of("SeldonDeployment", &sdep.metadata);
    let (errors, mut warnings) = orchestrator_env(sdep);
    for (i, predictor) in sdep.spec.predictors.iter().enumerate() {
        let graph = FieldPath::root()
            .key("spec")
            .key("predictors")
            .index(i)
            .key("graph");
        for (node, path) in sluice_translate::graph::walk_with_paths(&predictor.graph, graph) {
            // Prepackaged nodes' models are fetched by `sluice up` itself.
            let prepackaged = sluice_translate::prepack::is_prepackaged(node);
            if node.model_uri.as_deref().is_some_and(|u| !u.is_empty()) && !prepackaged {
                warnings.push((
                    path.key("modelUri"),
                    "`sluice up` fetches modelUri for prepackaged servers only (in a cluster the model initializer \
                     downloads it into this container): the component you map with --component loads its model itself"
                        .to_string(),
                ));
            }
        }
    }
    let errors = errors
        .into_iter()
        .map(|(path, message)| Diagnostic::error(path, message));
    let warnings = warnings
        .into_iter()
        .map(|(path, message)| Diagnostic::warning(path, message));
    errors
        .chain(warnings)
        .map(|d| d.in_object(object.clone()))
        .collect()
}

/// What a valid SeldonDeployment may say that the local orchestrator cannot serve yet.
/// Refused rather than served differently: the operator's output would behave otherwise.
fn unsupported_locally(sdep: &SeldonDeployment) -> Vec<(FieldPath, String)> {
    let mut out = Vec::new();
    if sdep.spec.server_type.as_deref() == Some("kafka") {
        out.push((
            FieldPath::root().key("spec").key("serverType"),
            "serverType kafka: `sluice up` serves REST and gRPC only (`sluice render` accepts kafka); \
             remove the field or set it to \"rpc\""
                .to_string(),
        ));
    }
    out
}

type Problems = Vec<(FieldPath, String)>;

/// The orchestrator's environment (`seldon.io/engine-<x>` annotations, `svcOrchSpec.env`):
/// the CORS variables sluice's orchestrator reads must be valid header values (errors); any
/// other variable has no effect locally (warnings), never silently.
fn orchestrator_env(sdep: &SeldonDeployment) -> (Problems, Problems) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    let spec = FieldPath::root().key("spec");
    let mut check = |path: FieldPath, name: &str, value: Option<&str>, value_from: bool| {
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
