//! Admission rules: Seldon's (spec §6.3, same meaning, clearer words) plus the checks
//! Seldon leaves out (DNS names, annotation values, traffic bounds, name collisions).
//! Every problem is reported at once, each with its field path.

use std::collections::{BTreeMap, BTreeSet};

use sluice_api::SeldonDeployment;
use sluice_api::document::FieldPath;
use sluice_api::seldon::{PredictiveUnit, PredictorSpec};

use crate::annotations::IstioOptions;
use crate::annotations::{self, ENGINE_SEPARATE_POD, HEADLESS_SVC, NO_ENGINE, SVC_NAME};
use crate::ports::Ports;
use crate::settings::Settings;
use crate::{dns, graph, names, prepack};
use sluice_api::Diagnostic;

const PROTOCOLS: &[&str] = &["seldon", "tensorflow", "kfserving", "v2"];
const TRANSPORTS: &[&str] = &["rest", "grpc"];
const SERVER_TYPES: &[&str] = &["rpc", "kafka"];
const KAFKA_ENV: &[&str] = &["KAFKA_BROKER", "KAFKA_INPUT_TOPIC", "KAFKA_OUTPUT_TOPIC"];
const UNIT_TYPES: &[&str] = &[
    "MODEL",
    "ROUTER",
    "COMBINER",
    "TRANSFORMER",
    "OUTPUT_TRANSFORMER",
    "UNKNOWN_TYPE",
];
const ENDPOINT_TYPES: &[&str] = &["REST", "GRPC"];
const PARAMETER_TYPES: &[&str] = &["INT", "FLOAT", "DOUBLE", "STRING", "BOOL", "JSON"];
const LOGGER_MODES: &[&str] = &["request", "response", "all"];
const NO_TENSORFLOW: &[&str] = &[
    "SKLEARN_SERVER",
    "XGBOOST_SERVER",
    "MLFLOW_SERVER",
    "HUGGINGFACE_SERVER",
];
/// Longest container name whose `seldon-app-svc-<name>` label key is still valid.
const MAX_GRAPH_CONTAINER_NAME: usize = 63 - "seldon-app-svc-".len();

/// Check a SeldonDeployment; errors and warnings, in field order.
pub fn validate(sdep: &SeldonDeployment, settings: &Settings) -> Vec<Diagnostic> {
    analyse(sdep, settings).diagnostics
}

/// What validation works out on the way, kept for the translation so nothing is parsed twice.
pub(crate) struct Analysis {
    pub(crate) diagnostics: Vec<Diagnostic>,
    pub(crate) options: IstioOptions,
    pub(crate) ports: Ports,
}

pub(crate) fn analyse(sdep: &SeldonDeployment, settings: &Settings) -> Analysis {
    let mut out = Vec::new();
    let spec_path = FieldPath::parse("spec");
    let predictors_path = spec_path.key("predictors");

    check_metadata(sdep, &mut out);
    check_one_of(
        &mut out,
        &spec_path.key("protocol"),
        sdep.spec.protocol.as_deref(),
        PROTOCOLS,
        "protocol",
    );
    check_one_of(
        &mut out,
        &spec_path.key("transport"),
        sdep.spec.transport.as_deref(),
        TRANSPORTS,
        "transport",
    );
    check_one_of(
        &mut out,
        &spec_path.key("serverType"),
        sdep.spec.server_type.as_deref(),
        SERVER_TYPES,
        "server type",
    );
    if let Some(name) = sdep.spec.name.as_deref()
        && Some(name) != sdep.metadata.name.as_deref()
    {
        out.push(
            Diagnostic::note(
                spec_path.key("name"),
                "spec.name is deprecated and unused: generated names and URLs come from metadata.name",
            )
            .with_value(name),
        );
    }
    for field in ["oauthKey", "oauthSecret"] {
        let set = if field == "oauthKey" {
            &sdep.spec.oauth_key
        } else {
            &sdep.spec.oauth_secret
        };
        if set.is_some() {
            out.push(Diagnostic::warning(
                spec_path.key(field),
                "deprecated by Seldon and unused; use Istio RequestAuthentication for authentication",
            ));
        }
    }

    if sdep.spec.predictors.is_empty() {
        out.push(Diagnostic::error(
            predictors_path.clone(),
            "a SeldonDeployment needs at least one predictor",
        ));
    }

    let (options, annotation_problems) = annotations::istio_options(sdep);
    out.extend(annotation_problems);
    check_annotation_keys(sdep, &mut out);

    let mut seen = BTreeSet::new();
    for (i, predictor) in sdep.spec.predictors.iter().enumerate() {
        let path = predictors_path.index(i);
        if !seen.insert(predictor.name.as_str()) {
            out.push(
                Diagnostic::error(
                    path.key("name"),
                    "duplicate predictor name; predictor names must be unique",
                )
                .with_value(&predictor.name),
            );
        }
        check_predictor(sdep, predictor, &path, settings, &mut out);
    }

    // From here on, with the containers Seldon adds for prepackaged servers.
    let sdep = &*prepack::with_server_containers(sdep, settings);
    check_service_names(sdep, &mut out);
    let ports = Ports::assign(sdep, settings);
    check_port_env(sdep, settings, &ports, &mut out);
    check_endpoint_types(sdep, &mut out);
    check_traffic(sdep, &predictors_path, &mut out);
    Analysis {
        diagnostics: out,
        options,
        ports,
    }
}

fn check_metadata(sdep: &SeldonDeployment, out: &mut Vec<Diagnostic>) {
    let path = FieldPath::parse("metadata.name");
    match sdep.metadata.name.as_deref() {
        None | Some("") => out.push(Diagnostic::error(path, "a SeldonDeployment needs metadata.name")),
        Some(name) => {
            if let Err(why) = dns::check_object_name(name) {
                out.push(
                    Diagnostic::error(path, format!("not a valid Kubernetes object name: {why}"))
                        .with_value(name),
                );
            }
        }
    }
    if let Some(ns) = sdep.metadata.namespace.as_deref().filter(|ns| !ns.is_empty())
        && let Err(why) = dns::check_label(ns)
    {
        out.push(
            Diagnostic::error(
                FieldPath::parse("metadata.namespace"),
                format!("not a valid namespace: {why}"),
            )
            .with_value(ns),
        );
    }
}

fn check_one_of(
    out: &mut Vec<Diagnostic>,
    path: &FieldPath,
    value: Option<&str>,
    valid: &[&str],
    what: &str,
) {
    if let Some(value) = value
        && !value.is_empty()
        && !valid.contains(&value)
    {
        out.push(
            Diagnostic::error(
                path.clone(),
                format!("unknown {what}; use one of: {}", valid.join(", ")),
            )
            .with_value(value),
        );
    }
}

fn check_annotation_keys(sdep: &SeldonDeployment, out: &mut Vec<Diagnostic>) {
    let metadata = sdep.metadata.annotations.clone().unwrap_or_default();
    let sources = [
        (FieldPath::parse("metadata.annotations"), &metadata),
        (FieldPath::parse("spec.annotations"), &sdep.spec.annotations),
    ];
    for (path, map) in sources {
        for key in map.keys() {
            if !annotations::is_known(key) {
                out.push(Diagnostic::warning(
                    path.key(key.clone()),
                    annotations::unknown_message(key),
                ));
            } else if annotations::PREDICTOR_LEVEL.contains(&key.as_str()) {
                out.push(Diagnostic::warning(path.key(key.clone()), "only read from a predictor's annotations (spec.predictors[*].annotations); here it has no effect"));
            } else if key.starts_with("seldon.io/engine-") && path.to_string().starts_with("metadata") {
                out.push(Diagnostic::warning(path.key(key.clone()), "orchestrator settings are only read from spec.annotations, as in Seldon; here it has no effect"));
            }
        }
    }
    if let Some(found) = annotations::lookup(sdep, HEADLESS_SVC) {
        check_bool(out, &found.path, found.value);
    }
    if let Some(found) = annotations::lookup(sdep, annotations::REST_MAX_BODY_SIZE)
        && let Err(why) = annotations::parse_size(found.value)
    {
        out.push(Diagnostic::error(found.path, why).with_value(found.value));
    }
    check_millis(out, &sdep.spec.annotations, &FieldPath::parse("spec.annotations"));
    if let Some(value) = sdep.spec.annotations.get(ENGINE_SEPARATE_POD) {
        check_bool(
            out,
            &FieldPath::parse("spec.annotations").key(ENGINE_SEPARATE_POD),
            value,
        );
    }
}

/// The executor's timeouts are whole milliseconds; its gRPC message limit is a positive
/// 32-bit number of bytes (Seldon silently ignores any other value).
fn check_millis(
    out: &mut Vec<Diagnostic>,
    annotations: &std::collections::BTreeMap<String, String>,
    at: &FieldPath,
) {
    for key in ["seldon.io/rest-timeout", "seldon.io/grpc-timeout"] {
        if let Some(value) = annotations.get(key)
            && !value.parse::<u64>().is_ok_and(|ms| ms > 0)
        {
            out.push(
                Diagnostic::error(at.key(key), "a timeout in whole milliseconds, e.g. \"30000\"")
                    .with_value(value),
            );
        }
    }
    let key = annotations::GRPC_MAX_MESSAGE_SIZE;
    if let Some(value) = annotations.get(key)
        && annotations::parse_grpc_max_message_size(value).is_none()
    {
        out.push(
            Diagnostic::error(
                at.key(key),
                "a number of bytes from 1 to 2147483647, without a unit, e.g. \"8388608\"",
            )
            .with_value(value),
        );
    }
}

fn check_bool(out: &mut Vec<Diagnostic>, path: &FieldPath, value: &str) {
    if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
        out.push(Diagnostic::error(path.clone(), "use \"true\" or \"false\"").with_value(value));
    }
}

fn check_predictor(
    sdep: &SeldonDeployment,
    predictor: &PredictorSpec,
    path: &FieldPath,
    settings: &Settings,
    out: &mut Vec<Diagnostic>,
) {
    if let Err(why) = dns::check_label(&predictor.name) {
        out.push(
            Diagnostic::error(
                path.key("name"),
                format!("a predictor name is an Istio subset name and a label value: {why}"),
            )
            .with_value(&predictor.name),
        );
    }
    let annotations_path = path.key("annotations");
    for key in predictor.annotations.keys() {
        if !annotations::is_known(key) {
            out.push(Diagnostic::warning(
                annotations_path.key(key.clone()),
                annotations::unknown_message(key),
            ));
        } else if annotations::SDEP_LEVEL.contains(&key.as_str()) || key.starts_with("seldon.io/engine-") {
            out.push(Diagnostic::warning(annotations_path.key(key.clone()), "read from the SeldonDeployment's annotations (spec.annotations), not a predictor's; here it has no effect"));
        }
    }
    check_containers(sdep, predictor, path, out);
    check_millis(out, &predictor.annotations, &annotations_path);
    if let Some(value) = predictor.annotations.get(NO_ENGINE) {
        let at = annotations_path.key(NO_ENGINE);
        check_bool(out, &at, value);
        let nodes = predictor.graph.walk().len();
        if value.eq_ignore_ascii_case("true") && nodes > 1 {
            out.push(Diagnostic::error(at, format!("running without the orchestrator needs a single-node graph; this graph has {nodes} nodes")).with_value(value));
        }
    }
    if let Some(name) = predictor.annotations.get(SVC_NAME)
        && let Err(why) = dns::check_service_name(name)
    {
        out.push(
            Diagnostic::error(
                annotations_path.key(SVC_NAME),
                format!("names the predictor Service: {why}"),
            )
            .with_value(name),
        );
    }
    if sdep.spec.server_type.as_deref() == Some("kafka") {
        let env = predictor
            .svc_orch_spec
            .as_ref()
            .map(|s| s.env.as_slice())
            .unwrap_or_default();
        let missing: Vec<&str> = KAFKA_ENV
            .iter()
            .copied()
            .filter(|k| !env.iter().any(|e| e.name == *k))
            .collect();
        if !missing.is_empty() {
            out.push(Diagnostic::error(
                path.key("svcOrchSpec").key("env"),
                format!(
                    "server type kafka needs the orchestrator env vars {}",
                    missing.join(", ")
                ),
            ));
        }
    }
    if let Some(explainer) = &predictor.explainer {
        check_explainer(sdep, explainer, &path.key("explainer"), out);
    }
    if predictor.ssl.is_some() {
        out.push(Diagnostic::error(path.key("ssl"), "TLS between the orchestrator and components is not supported by sluice yet; use the mesh's mutual TLS (ISTIO_TLS_MODE)"));
    }
    for (j, spec) in predictor.component_specs.iter().enumerate() {
        let at = path.key("componentSpecs").index(j);
        for (field, set) in [
            ("hpaSpec", spec.hpa_spec.is_some()),
            ("kedaSpec", spec.keda_spec.is_some()),
            ("pdbSpec", spec.pdb_spec.is_some()),
        ] {
            if set {
                out.push(Diagnostic::warning(
                    at.key(field),
                    "sluice does not generate autoscalers or disruption budgets yet; this has no effect",
                ));
            }
        }
    }
    for (node, node_path) in graph::walk_with_paths(&predictor.graph, path.key("graph")) {
        check_node(sdep, predictor, node, &node_path, settings, out);
    }
}

fn check_node(
    sdep: &SeldonDeployment,
    predictor: &PredictorSpec,
    node: &PredictiveUnit,
    path: &FieldPath,
    settings: &Settings,
    out: &mut Vec<Diagnostic>,
) {
    let container = graph::container(predictor, &node.name);
    let implementation = node.implementation.as_deref().unwrap_or("UNKNOWN_IMPLEMENTATION");
    if let Some(kind) = node.kind.as_deref()
        && !UNIT_TYPES.contains(&kind)
    {
        out.push(
            Diagnostic::error(
                path.key("type"),
                format!("unknown graph node type; use one of: {}", UNIT_TYPES.join(", ")),
            )
            .with_value(kind),
        );
    }
    if graph::is_builtin(implementation) || implementation == "UNKNOWN_IMPLEMENTATION" {
        if implementation == "UNKNOWN_IMPLEMENTATION" && container.is_none() {
            out.push(
                Diagnostic::error(path.key("name"), format!("no container named {:?} in any componentSpec of this predictor: add one, or set an implementation", node.name))
                    .with_value(&node.name),
            );
        }
        if implementation == "UNKNOWN_IMPLEMENTATION"
            && node.kind.as_deref() == Some("UNKNOWN_TYPE")
            && node.methods.is_empty()
        {
            out.push(Diagnostic::error(path.key("type"), "a node of type UNKNOWN_TYPE must list the methods it implements; use a known type or add methods").with_value("UNKNOWN_TYPE"));
        }
    } else {
        let model_uri_missing = node.model_uri.as_deref().unwrap_or("").is_empty();
        if model_uri_missing && implementation != "HUGGINGFACE_SERVER" {
            out.push(Diagnostic::error(
                path.key("modelUri"),
                format!("the prepackaged server {implementation} needs a modelUri"),
            ));
        }
        if sdep.spec.protocol.as_deref() == Some("tensorflow") && NO_TENSORFLOW.contains(&implementation) {
            out.push(
                Diagnostic::error(
                    path.key("implementation"),
                    "this prepackaged server does not speak the tensorflow protocol",
                )
                .with_value(implementation),
            );
        }
        check_server_image(sdep, node, container, path, settings, out);
    }
    check_model_uri(node, container.is_some(), path, out);
    if container.is_none() && prepack::is_prepackaged(node) {
        // The server's container is added with the node's name.
        if let Err(why) = dns::check_label(&node.name) {
            out.push(
                Diagnostic::error(
                    path.key("name"),
                    format!(
                        "the server's container is named after the node: not a valid container name: {why}"
                    ),
                )
                .with_value(&node.name),
            );
        }
    }
    if (container.is_some() || prepack::is_prepackaged(node)) && node.name.len() > MAX_GRAPH_CONTAINER_NAME {
        out.push(Diagnostic::error(path.key("name"), format!("graph container names are used in the label key seldon-app-svc-<name> and may have at most {MAX_GRAPH_CONTAINER_NAME} characters")).with_value(&node.name));
    }
    if let Some(logger) = &node.logger {
        match logger.mode.as_deref() {
            None | Some("") => out.push(Diagnostic::error(
                path.key("logger").key("mode"),
                format!("the logger needs a mode: {}", LOGGER_MODES.join(", ")),
            )),
            Some(mode) if !LOGGER_MODES.contains(&mode) => out.push(
                Diagnostic::error(
                    path.key("logger").key("mode"),
                    format!("unknown logger mode; use one of: {}", LOGGER_MODES.join(", ")),
                )
                .with_value(mode),
            ),
            Some(_) => out.push(Diagnostic::warning(
                path.key("logger"),
                "sluice's orchestrator does not log requests yet: this node's requests and responses are not sent to a logger",
            )),
        }
    }
    if let Some(kind) = node.endpoint.as_ref().and_then(|e| e.kind.as_deref())
        && !ENDPOINT_TYPES.contains(&kind)
    {
        out.push(
            Diagnostic::error(
                path.key("endpoint").key("type"),
                "unknown endpoint type; use REST or GRPC",
            )
            .with_value(kind),
        );
    }
    for (k, parameter) in node.parameters.iter().enumerate() {
        if !PARAMETER_TYPES.contains(&parameter.kind.as_str()) {
            out.push(
                Diagnostic::error(
                    path.key("parameters").index(k).key("type"),
                    format!(
                        "unknown parameter type; use one of: {}",
                        PARAMETER_TYPES.join(", ")
                    ),
                )
                .with_value(&parameter.kind),
            );
        }
    }
}

/// What Seldon's explainer servers accept (spec `seldon-prepackaged.md` §4, §7.3).
fn check_explainer(
    sdep: &SeldonDeployment,
    explainer: &sluice_api::seldon::Explainer,
    path: &FieldPath,
    out: &mut Vec<Diagnostic>,
) {
    let kind = explainer.kind.as_deref().unwrap_or("");
    if kind.is_empty() {
        out.push(Diagnostic::warning(path.key("type"), "an explainer without a type is not created, as in Seldon; set one of: AnchorTabular, AnchorImages, AnchorText, KernelShap, IntegratedGradients, ALE, TreeShap"));
        return;
    }
    let known: Vec<&str> = crate::explainers::TYPES.iter().map(|(t, _)| *t).collect();
    let v2 = matches!(sdep.spec.protocol.as_deref(), Some("v2" | "kfserving"));
    if !known.contains(&kind) {
        out.push(
            Diagnostic::error(
                path.key("type"),
                format!(
                    "not an explainer type Seldon's servers run; use one of: {}",
                    known.join(", ")
                ),
            )
            .with_value(kind),
        );
    } else if !v2 && matches!(kind, "Counterfactuals" | "Contrastive") {
        out.push(
            Diagnostic::error(path.key("type"), "Seldon's alibi explainer server (seldon and tensorflow protocols) has no such command and exits at start; use protocol v2 (MLServer's alibi-explain runtime)")
                .with_value(kind),
        );
    }
    if sdep.spec.protocol.as_deref() == Some("tensorflow") && sdep.spec.transport.as_deref() == Some("grpc") {
        out.push(Diagnostic::error(path.clone(), "Seldon's explainer server cannot call a tensorflow predictor over gRPC (it accepts tensorflow.http, seldon.http and seldon.grpc); use REST"));
    }
    if let Some(init) = explainer.init_parameters.as_deref().filter(|p| !p.is_empty())
        && serde_json::from_str::<serde_json::Value>(init).is_err()
    {
        out.push(
            Diagnostic::error(
                path.key("initParameters"),
                "not JSON: it is spliced into MLSERVER_MODEL_EXTRA as is",
            )
            .with_value(init),
        );
    }
}

/// Seldon's rule 14 (the implementation is in `predictor_servers`, unless the node's
/// container has an image), and the image Seldon would leave empty (spec
/// `seldon-prepackaged.md` §7.3): an empty image is refused by the API server.
fn check_server_image(
    sdep: &SeldonDeployment,
    node: &PredictiveUnit,
    container: Option<&k8s_openapi::api::core::v1::Container>,
    path: &FieldPath,
    settings: &Settings,
    out: &mut Vec<Diagnostic>,
) {
    let implementation = node.implementation.as_deref().unwrap_or_default();
    let protocol = prepack::protocol(sdep);
    let has_image = container.is_some_and(|c| c.image.as_deref().is_some_and(|i| !i.is_empty()));
    let servers = &settings.predictor_servers;
    if !servers.contains(implementation) {
        // With an image Seldon's webhook lets it pass, then the reconcile fails ("Failed to
        // get server config"): refused either way.
        let fix = if has_image {
            "add it to predictor_servers (--predictor-servers), or remove implementation to run the container as a plain component; configured"
        } else {
            "add a container of the node's name with an image, or use one of"
        };
        out.push(
            Diagnostic::error(
                path.key("implementation"),
                format!(
                    "not a prepackaged server in predictor_servers: {fix}: {}",
                    servers.names().join(", ")
                ),
            )
            .with_value(implementation),
        );
        return;
    }
    // The TF proxy's image is always the table's; other servers keep the user's image.
    let table_image_used = !has_image || (implementation == "TENSORFLOW_SERVER" && protocol != "tensorflow");
    if table_image_used && prepack::server_image(settings, implementation, protocol).is_none() {
        let served: Vec<&str> = servers.0[implementation]
            .protocols
            .keys()
            .map(String::as_str)
            .collect();
        out.push(
            Diagnostic::error(
                path.key("implementation"),
                format!(
                    "predictor_servers has no image for {implementation} with protocol {protocol} (it has: {}): set spec.protocol to one of those, or add a container named {:?} with an image",
                    if served.is_empty() { "none".to_string() } else { served.join(", ") },
                    node.name
                ),
            )
            .with_value(implementation),
        );
    }
}

/// What downloads `modelUri`, and the fields only the download reads.
fn check_model_uri(node: &PredictiveUnit, has_container: bool, path: &FieldPath, out: &mut Vec<Diagnostic>) {
    let uri = node.model_uri.as_deref().unwrap_or("");
    let prepackaged = prepack::is_prepackaged(node);
    if !uri.is_empty() && !prepackaged && !has_container {
        out.push(
            Diagnostic::error(path.key("modelUri"), format!("a modelUri is downloaded into the node's container, and node {:?} has none: add a container of that name, or remove modelUri", node.name))
                .with_value(uri),
        );
    }
    if uri.starts_with("pvc://") && uri["pvc://".len()..].split('/').next().unwrap_or("").is_empty() {
        out.push(
            Diagnostic::error(
                path.key("modelUri"),
                "write pvc://CLAIM/PATH: the claim name is missing",
            )
            .with_value(uri),
        );
    }
    for (field, set) in [
        (
            "storageInitializerImage",
            node.storage_initializer_image.is_some(),
        ),
        ("envSecretRefName", node.env_secret_ref_name.is_some()),
    ] {
        if set && uri.is_empty() {
            out.push(Diagnostic::warning(
                path.key(field),
                "only the model initializer reads it, and this node has no modelUri; it has no effect",
            ));
        }
    }
    if node.service_account_name.is_some() && !uri.is_empty() {
        out.push(Diagnostic::warning(path.key("serviceAccountName"), "Seldon also copies S3/GCS credentials from this service account's secrets into the model initializer; sluice does not: give them with envSecretRefName"));
    } else if node.service_account_name.is_some() && !prepackaged {
        out.push(Diagnostic::warning(
            path.key("serviceAccountName"),
            "only read for prepackaged servers and model downloads; it has no effect here",
        ));
    }
}

/// Container names must be DNS labels (the API server checks it; so does `validate`), and
/// declared ports must be real port numbers.
fn check_containers(
    sdep: &SeldonDeployment,
    predictor: &PredictorSpec,
    path: &FieldPath,
    out: &mut Vec<Diagnostic>,
) {
    for (j, spec) in predictor.component_specs.iter().enumerate() {
        // The pod's volumes: declared, and those the model initializer adds.
        let mut volumes: BTreeSet<String> = spec
            .spec
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.clone())
            .collect();
        for container in &spec.spec.containers {
            if let Some(node) = graph::node(predictor, &container.name) {
                volumes.extend(prepack::generated_volumes(sdep, node, &spec.spec));
            }
        }
        if j == 0 {
            // Servers added for prepackaged nodes go to the first componentSpec.
            for node in predictor.graph.walk() {
                if prepack::is_prepackaged(node) && graph::container(predictor, &node.name).is_none() {
                    volumes.extend(prepack::generated_volumes(sdep, node, &spec.spec));
                }
            }
        }
        let at = path.key("componentSpecs").index(j).key("spec");
        let mut check_mounts = |field: &str, containers: &[k8s_openapi::api::core::v1::Container]| {
            for (k, container) in containers.iter().enumerate() {
                for (m, mount) in container.volume_mounts.iter().flatten().enumerate() {
                    if !volumes.contains(&mount.name) {
                        out.push(
                            Diagnostic::error(
                                at.key(field).index(k).key("volumeMounts").index(m).key("name"),
                                format!("no volume of this name in the pod: declare it in componentSpecs[{j}].spec.volumes (the API server refuses the Deployment otherwise)"),
                            )
                            .with_value(&mount.name),
                        );
                    }
                }
            }
        };
        check_mounts("containers", &spec.spec.containers);
        check_mounts(
            "initContainers",
            spec.spec.init_containers.as_deref().unwrap_or_default(),
        );
        for (k, container) in spec.spec.containers.iter().enumerate() {
            let at = path
                .key("componentSpecs")
                .index(j)
                .key("spec")
                .key("containers")
                .index(k);
            if let Err(why) = dns::check_label(&container.name) {
                out.push(
                    Diagnostic::error(at.key("name"), format!("not a valid container name: {why}"))
                        .with_value(&container.name),
                );
            }
            for (p, port) in container.ports.iter().flatten().enumerate() {
                if !(1..=65535).contains(&port.container_port) {
                    out.push(
                        Diagnostic::error(
                            at.key("ports").index(p).key("containerPort"),
                            "a port number is between 1 and 65535",
                        )
                        .with_value(port.container_port),
                    );
                }
            }
        }
    }
}

/// Every Service the SDep generates needs a valid, unique name (Seldon checks only
/// duplicate `seldon.io/svc-name` values among themselves).
fn check_service_names(sdep: &SeldonDeployment, out: &mut Vec<Diagnostic>) {
    /// Which kind of Service a name belongs to, and the field it comes from.
    struct Generated {
        name: String,
        path: FieldPath,
        predictor_service: bool,
    }
    let predictors = FieldPath::parse("spec.predictors");
    let mut all = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, predictor) in sdep.spec.predictors.iter().enumerate() {
        let at = predictors.index(i);
        let svc_name = predictor.annotations.contains_key(SVC_NAME);
        if !seen.insert(predictor.name.as_str()) && !svc_name {
            continue; // a duplicate predictor name, reported as such
        }
        all.push(Generated {
            name: names::predictor_key(sdep, predictor),
            path: if svc_name {
                at.key("annotations").key(SVC_NAME)
            } else {
                at.key("name")
            },
            predictor_service: true,
        });
        for (node, node_path) in graph::walk_with_paths(&predictor.graph, at.key("graph")) {
            if graph::container(predictor, &node.name).is_some() {
                all.push(Generated {
                    name: names::container_service(sdep, predictor, &node.name),
                    path: node_path.key("name"),
                    predictor_service: false,
                });
            }
        }
    }
    // Invalid names are reported once, at their source: the SDep name here; predictor
    // names and svc-name values are reported by the predictor checks.
    let sdep_name = names::sdep_name(sdep);
    let mut reported_sdep_name = false;
    let mut first: BTreeMap<&str, &Generated> = BTreeMap::new();
    for generated in &all {
        if let Err(why) = dns::check_service_name(&generated.name) {
            let from_sdep_name =
                dns::check_service_name(sdep_name).is_err() && generated.name.starts_with(sdep_name);
            if from_sdep_name && !reported_sdep_name {
                reported_sdep_name = true;
                out.push(
                    Diagnostic::error(
                        FieldPath::parse("metadata.name"),
                        format!("the generated Service name {:?} is not valid: {why}; every Service name starts with the SeldonDeployment name", generated.name),
                    )
                    .with_value(sdep_name),
                );
            }
            continue;
        }
        match first.get(generated.name.as_str()) {
            // Two graph nodes sharing a container share its Service, as in Seldon (§2.7).
            Some(earlier) if !earlier.predictor_service && !generated.predictor_service => {}
            Some(earlier) => out.push(
                Diagnostic::error(generated.path.clone(), format!("the Service name {:?} is already generated for {}; Service names must be unique within the SeldonDeployment", generated.name, earlier.path))
                    .with_value(&generated.name),
            ),
            None => {
                first.insert(&generated.name, generated);
            }
        }
    }
}

/// The port variables of graph containers are set from their ports; a different value
/// would make the component listen where its Service does not point.
fn check_port_env(sdep: &SeldonDeployment, settings: &Settings, ports: &Ports, out: &mut Vec<Diagnostic>) {
    for (i, predictor) in sdep.spec.predictors.iter().enumerate() {
        for (j, spec) in predictor.component_specs.iter().enumerate() {
            for (k, container) in spec.spec.containers.iter().enumerate() {
                let Some(assigned) = ports.get(i, &container.name) else {
                    continue;
                };
                for (e, env) in container.env.iter().flatten().enumerate() {
                    let (port, port_name) = match env.name.as_str() {
                        "PREDICTIVE_UNIT_HTTP_SERVICE_PORT" => (assigned.http, "http"),
                        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT" => (assigned.grpc, "grpc"),
                        "PREDICTIVE_UNIT_METRICS_SERVICE_PORT" => {
                            (assigned.metrics, settings.metrics_port_name.as_str())
                        }
                        _ => continue,
                    };
                    if env.value.as_deref() != Some(port.to_string().as_str()) {
                        let path = FieldPath::parse("spec.predictors")
                            .index(i)
                            .key("componentSpecs")
                            .index(j)
                            .key("spec")
                            .key("containers")
                            .index(k)
                            .key("env")
                            .index(e)
                            .key("value");
                        out.push(
                            Diagnostic::error(path, format!("{} is set from the container's {port_name:?} port ({port}); to choose the port, declare it: ports: [{{name: {port_name}, containerPort: N}}]", env.name))
                                .with_value(env.value.as_deref().unwrap_or("")),
                        );
                    }
                }
            }
        }
    }
}

/// Rules 16 and 17: one endpoint type across the graphs, agreeing with `spec.transport`.
fn check_endpoint_types(sdep: &SeldonDeployment, out: &mut Vec<Diagnostic>) {
    let types: BTreeSet<&str> = sdep
        .spec
        .predictors
        .iter()
        .flat_map(|p| p.graph.walk())
        .filter_map(|n| n.endpoint.as_ref().and_then(|e| e.kind.as_deref()))
        .collect();
    let path = FieldPath::parse("spec.transport");
    if types.len() > 1 {
        out.push(Diagnostic::error(path, format!("the graphs mix endpoint types ({}); use one, or set spec.transport and remove the endpoint types", types.into_iter().collect::<Vec<_>>().join(", "))));
    } else if let (Some(only), Some(transport)) = (
        types.first(),
        sdep.spec.transport.as_deref().filter(|t| !t.is_empty()),
    ) && !only.eq_ignore_ascii_case(transport)
    {
        out.push(Diagnostic::error(path, format!("spec.transport disagrees with the graphs' endpoint type {only}; remove the endpoint types when the transport is set")).with_value(transport));
    }
}

/// Rules 5 and 18–21, plus bounds Seldon does not check.
fn check_traffic(sdep: &SeldonDeployment, predictors_path: &FieldPath, out: &mut Vec<Diagnostic>) {
    let predictors = &sdep.spec.predictors;
    let shadows: Vec<usize> = (0..predictors.len())
        .filter(|i| predictors[*i].is_shadow())
        .collect();
    if predictors.len() == 1 && shadows.len() == 1 {
        out.push(Diagnostic::error(
            predictors_path.index(0).key("shadow"),
            "a shadow cannot be the only predictor: it receives a copy of another predictor's traffic",
        ));
    }
    for extra in shadows.iter().skip(1) {
        out.push(Diagnostic::error(
            predictors_path.index(*extra).key("shadow"),
            "only one shadow predictor is allowed",
        ));
    }
    for (i, p) in predictors.iter().enumerate() {
        let traffic = p.traffic();
        if !(0..=100).contains(&traffic) {
            let what = if p.is_shadow() {
                "the share of traffic mirrored to the shadow"
            } else {
                "a percentage of traffic"
            };
            out.push(
                Diagnostic::error(
                    predictors_path.index(i).key("traffic"),
                    format!("traffic is {what} and must be between 0 and 100"),
                )
                .with_value(traffic),
            );
        }
    }
    let main: Vec<usize> = (0..predictors.len())
        .filter(|i| !predictors[*i].is_shadow())
        .collect();
    let sum: i64 = main.iter().map(|i| i64::from(predictors[*i].traffic())).sum();
    match main.as_slice() {
        [] => {}
        [only] => {
            let traffic = predictors[*only].traffic();
            if traffic != 0 && traffic != 100 && (0..=100).contains(&traffic) {
                out.push(
                    Diagnostic::error(predictors_path.index(*only).key("traffic"), "the only non-shadow predictor receives all traffic: set traffic to 100 or leave it unset")
                        .with_value(traffic),
                );
            }
        }
        _ => {
            if sum != 100 {
                let shares: Vec<String> = main
                    .iter()
                    .map(|i| format!("{}={}", predictors[*i].name, predictors[*i].traffic()))
                    .collect();
                out.push(Diagnostic::error(
                    predictors_path.clone(),
                    format!(
                        "the traffic of the non-shadow predictors must sum to 100; it sums to {sum} ({})",
                        shares.join(", ")
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
