//! Prepackaged model servers and the storage initializer: what Seldon Core 1 adds to a pod
//! for a graph node with `implementation: SKLEARN_SERVER` (or any other prepackaged name)
//! and for any node with a `modelUri` (spec `seldon-prepackaged.md` §2–§3).
//!
//! ```text
//!  SeldonDeployment ──> with_server_containers ──> every prepackaged node has a container
//!                        (Seldon's defaulting:      (its image from predictor_servers), so
//!                         componentSpecs[0])         ports, Services and names follow as usual
//!  pod of a componentSpec ──> inject(node) ──> server environment, probes and arguments;
//!                                              the model-initializer init container and volume
//! ```
//!
//! Where Seldon's result is broken (an empty image, a dropped metrics port) validation
//! refuses or sluice keeps the working part; `COMPATIBILITY.md` lists each.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar, HTTPGetAction,
    PersistentVolumeClaimVolumeSource, PodSpec, Probe, ResourceRequirements, SecretEnvSource, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_api::SeldonDeployment;
use sluice_api::seldon::{Parameter, PredictiveUnit, SeldonPodSpec};

use crate::graph;
use crate::ports::UnitPorts;
use crate::settings::Settings;

/// Where the model is found inside the server container.
pub const MODEL_DIR: &str = "/mnt/models";
/// The pod volume of a `pvc://` source.
pub const PVC_VOLUME: &str = "kfserving-pvc-source";
/// Where a `pvc://` source is mounted.
const PVC_DIR: &str = "/mnt/pvc";
/// The TF Serving container beside the proxy (seldon protocol).
pub const TFSERVING: &str = "tfserving";
/// `spec.annotations` key: Triton reads `modelUri` itself, no init container.
pub const NO_STORAGE_INITIALIZER: &str = "seldon.io/no-storage-initializer";

/// The SeldonDeployment's protocol as Seldon reads it: empty means `seldon`.
pub fn protocol(sdep: &SeldonDeployment) -> &str {
    match sdep.spec.protocol.as_deref() {
        None | Some("") => "seldon",
        Some(p) => p,
    }
}

fn is_v2(protocol: &str) -> bool {
    protocol == "v2" || protocol == "kfserving"
}

/// The image Seldon puts in a prepackaged node's container when the user gives none;
/// `None` when `predictor_servers` has none for this implementation and protocol (Seldon
/// then writes an empty image the API server refuses).
pub fn server_image(settings: &Settings, implementation: &str, protocol: &str) -> Option<String> {
    let servers = &settings.predictor_servers;
    match implementation {
        // The proxy's image, then TF Serving's own beside it.
        "TENSORFLOW_SERVER" if !is_v2(protocol) && protocol != "tensorflow" => {
            servers.image(implementation, "tensorflow")?;
            servers.image(implementation, protocol)
        }
        _ => servers.image(implementation, protocol),
    }
}

/// Is the node run by a prepackaged server?
pub fn is_prepackaged(node: &PredictiveUnit) -> bool {
    node.implementation.as_deref().is_some_and(graph::is_prepackaged)
}

/// Seldon's defaulting for prepackaged nodes: a node with no container of its name gets
/// one, appended to the predictor's first componentSpec (created when there is none);
/// a container without an image gets the server's.
pub fn with_server_containers<'a>(
    sdep: &'a SeldonDeployment,
    settings: &Settings,
) -> Cow<'a, SeldonDeployment> {
    let protocol = protocol(sdep);
    let needs_work =
        sdep.spec.predictors.iter().any(|p| {
            p.graph.walk().into_iter().filter(|n| is_prepackaged(n)).any(|n| {
                graph::container(p, &n.name).is_none_or(|c| c.image.as_deref().unwrap_or("").is_empty())
            })
        });
    if !needs_work {
        return Cow::Borrowed(sdep);
    }
    let mut out = sdep.clone();
    for predictor in &mut out.spec.predictors {
        let nodes: Vec<PredictiveUnit> = predictor
            .graph
            .walk()
            .into_iter()
            .filter(|n| is_prepackaged(n))
            .cloned()
            .collect();
        for node in nodes {
            let implementation = node.implementation.as_deref().unwrap_or_default();
            // TF Serving as the node (tensorflow protocol) gets its image in `inject`.
            let tf_serving_node = implementation == "TENSORFLOW_SERVER" && protocol == "tensorflow";
            let image = (!tf_serving_node)
                .then(|| settings.predictor_servers.image(implementation, protocol))
                .flatten();
            let existing = predictor
                .component_specs
                .iter_mut()
                .flat_map(|s| s.spec.containers.iter_mut())
                .find(|c| c.name == node.name);
            let container = match existing {
                Some(container) => container,
                None => {
                    if predictor.component_specs.is_empty() {
                        predictor.component_specs.push(SeldonPodSpec::default());
                    }
                    let containers = &mut predictor.component_specs[0].spec.containers;
                    containers.push(Container {
                        name: node.name.clone(),
                        ..Container::default()
                    });
                    containers.last_mut().expect("just pushed")
                }
            };
            if container.image.as_deref().unwrap_or("").is_empty() {
                container.image = image;
            }
            container
                .image_pull_policy
                .get_or_insert_with(|| "IfNotPresent".to_string());
            container
                .termination_message_path
                .get_or_insert_with(|| "/dev/termination-log".to_string());
            container
                .termination_message_policy
                .get_or_insert_with(|| "File".to_string());
        }
    }
    Cow::Owned(out)
}

/// What the model initializer copies, and with what (a node's or an explainer's fields).
pub(crate) struct ModelSource<'a> {
    /// `modelUri`; nothing is added when empty.
    pub uri: &'a str,
    /// `envSecretRefName`.
    pub env_secret_ref_name: Option<&'a str>,
    /// `storageInitializerImage`.
    pub storage_initializer_image: Option<&'a str>,
}

/// What [`inject`] needs to know about the node and its SeldonDeployment.
pub(crate) struct Node<'a> {
    pub sdep: &'a SeldonDeployment,
    pub settings: &'a Settings,
    pub unit: &'a PredictiveUnit,
    pub ports: UnitPorts,
}

/// Add the server's settings and the model initializer for `node`, whose container is
/// `pod.containers[index]` (already wired with ports and Seldon's environment).
pub(crate) fn inject(node: &Node<'_>, pod: &mut PodSpec, index: usize) {
    let unit = node.unit;
    let model_uri = unit.model_uri.as_deref().unwrap_or("");
    if !is_prepackaged(unit) {
        if !model_uri.is_empty() {
            add_storage_initializer(node.settings, &node.source(), pod, index);
        }
        return;
    }
    if let Some(account) = unit.service_account_name.as_deref().filter(|a| !a.is_empty()) {
        pod.service_account_name = Some(account.to_string());
    }
    let protocol = protocol(node.sdep);
    let implementation = unit.implementation.as_deref().unwrap_or_default();
    match implementation {
        "TENSORFLOW_SERVER" if protocol == "tensorflow" => {
            let container = &mut pod.containers[index];
            if container.image.as_deref().unwrap_or("").is_empty() {
                container.image = Some(node.image(implementation, "tensorflow"));
            }
            if container.args.as_ref().is_none_or(Vec::is_empty) {
                container.args = Some(vec![
                    format!("--port={}", node.ports.grpc),
                    format!("--rest_api_port={}", node.ports.http),
                    format!("--model_name={}", unit.name),
                    format!("--model_base_path={MODEL_DIR}"),
                ]);
            }
            add_tcp_probes(container);
            add_storage_initializer(node.settings, &node.source(), pod, index);
        }
        "TENSORFLOW_SERVER" => tensorflow_proxy(node, pod, index),
        "TRITON_SERVER" => triton(node, pod, index),
        _ if is_v2(protocol) => {
            mlserver(node, &mut pod.containers[index]);
            add_storage_initializer(node.settings, &node.source(), pod, index);
        }
        _ => {
            let mut parameters = unit.parameters.clone();
            parameters.push(string_parameter("model_uri", MODEL_DIR));
            set_parameters(&mut pod.containers[index], &parameters);
            add_tcp_probes(&mut pod.containers[index]);
            add_storage_initializer(node.settings, &node.source(), pod, index);
        }
    }
}

impl Node<'_> {
    fn source(&self) -> ModelSource<'_> {
        ModelSource {
            uri: self.unit.model_uri.as_deref().unwrap_or(""),
            env_secret_ref_name: self.unit.env_secret_ref_name.as_deref(),
            storage_initializer_image: self.unit.storage_initializer_image.as_deref(),
        }
    }

    fn image(&self, implementation: &str, protocol: &str) -> String {
        // Validation refuses the combinations without an image.
        self.settings
            .predictor_servers
            .image(implementation, protocol)
            .unwrap_or_default()
    }
}

fn string_parameter(name: &str, value: &str) -> Parameter {
    Parameter {
        name: name.to_string(),
        value: value.to_string(),
        kind: "STRING".to_string(),
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// `PREDICTIVE_UNIT_PARAMETERS`, replacing the value in place or appended.
fn set_parameters(container: &mut Container, parameters: &[Parameter]) {
    let value = serde_json::to_string(parameters).unwrap_or_default();
    set_env(container, env("PREDICTIVE_UNIT_PARAMETERS", value));
}

fn set_env(container: &mut Container, var: EnvVar) {
    let list = container.env.get_or_insert_with(Vec::new);
    match list.iter_mut().find(|e| e.name == var.name) {
        Some(existing) => *existing = var,
        None => list.push(var),
    }
}

/// The Seldon wrapper servers answer on the http port as soon as they listen.
fn add_tcp_probes(container: &mut Container) {
    let probe = |initial: i32| Probe {
        tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
            port: IntOrString::String("http".to_string()),
            ..Default::default()
        }),
        ..timings(initial)
    };
    container.readiness_probe.get_or_insert_with(|| probe(20));
    container.liveness_probe.get_or_insert_with(|| probe(60));
}

/// Seldon's component probe timings: period 5 s, timeout 1 s, 3 failures.
fn timings(initial_delay: i32) -> Probe {
    Probe {
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(5),
        timeout_seconds: Some(1),
        success_threshold: Some(1),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

/// The MLServer class of each prepackaged implementation (`MLSERVER_MODEL_IMPLEMENTATION`).
pub fn mlserver_class(implementation: &str) -> Option<&'static str> {
    Some(match implementation {
        "SKLEARN_SERVER" => "mlserver_sklearn.SKLearnModel",
        "XGBOOST_SERVER" => "mlserver_xgboost.XGBoostModel",
        "MLFLOW_SERVER" => "mlserver_mlflow.MLflowRuntime",
        "HUGGINGFACE_SERVER" => "mlserver_huggingface.HuggingFaceRuntime",
        "TEMPO_SERVER" => "tempo.mlserver.InferenceRuntime",
        _ => return None,
    })
}

/// MLServer's environment first, in Seldon's order, with the container's own variables
/// replacing those of the same name in place; HTTP probes on MLServer's health routes.
fn mlserver(node: &Node<'_>, container: &mut Container) {
    let unit = node.unit;
    let implementation = unit.implementation.as_deref().unwrap_or_default();
    let namespace = crate::names::namespace(node.sdep);
    let mut list = vec![
        env("MLSERVER_HTTP_PORT", node.ports.http.to_string()),
        env("MLSERVER_GRPC_PORT", node.ports.grpc.to_string()),
        env(
            "MLSERVER_MODEL_IMPLEMENTATION",
            mlserver_class(implementation).unwrap_or_default(),
        ),
        env("MLSERVER_MODEL_NAME", unit.name.clone()),
        env("MLSERVER_MODEL_VERSION", "v1"),
        env("MLSERVER_MODEL_URI", MODEL_DIR),
        env(
            "TEMPO_RUNTIME_OPTIONS",
            format!(
                r#"{{"k8s_options": {{"defaultRuntime": "tempo.seldon.SeldonKubernetesRuntime", "namespace": "{namespace}"}}}}"#
            ),
        ),
    ];
    if implementation == "HUGGINGFACE_SERVER" {
        list.push(env("MLSERVER_PARALLEL_WORKERS", "0"));
        list.push(env("XDG_CACHE_HOME", "/opt/mlserver"));
    }
    list.push(env("MLSERVER_METRICS_PORT", node.ports.metrics.to_string()));
    list.push(env(
        "MLSERVER_METRICS_ENDPOINT",
        node.settings.prometheus_path.clone(),
    ));
    for own in container.env.take().unwrap_or_default() {
        match list.iter_mut().find(|e| e.name == own.name) {
            Some(slot) => *slot = own,
            None => list.push(own),
        }
    }
    container.env = Some(list);
    let probe = |path: &str, initial: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("http".to_string()),
            scheme: Some("HTTP".to_string()),
            ..HTTPGetAction::default()
        }),
        ..timings(initial)
    };
    container
        .readiness_probe
        .get_or_insert_with(|| probe("/v2/health/ready", 20));
    container
        .liveness_probe
        .get_or_insert_with(|| probe("/v2/health/live", 60));
}

/// TENSORFLOW_SERVER in the seldon protocol: the node's container is Seldon's proxy, and a
/// `tfserving` container beside it serves the model the initializer downloads.
fn tensorflow_proxy(node: &Node<'_>, pod: &mut PodSpec, index: usize) {
    let unit = node.unit;
    let proxy = &mut pod.containers[index];
    proxy.image = Some(node.image("TENSORFLOW_SERVER", protocol(node.sdep)));
    let mut parameters = unit.parameters.clone();
    // Both endpoints, unless the user points the proxy at a TF Serving of their own.
    if !parameters
        .iter()
        .any(|p| p.name == "rest_endpoint" || p.name == "grpc_endpoint")
    {
        parameters.push(string_parameter("rest_endpoint", "http://0.0.0.0:2001"));
        parameters.push(string_parameter("grpc_endpoint", "0.0.0.0:2000"));
    }
    parameters.push(string_parameter("model_name", &unit.name));
    set_parameters(proxy, &parameters);
    add_tcp_probes(proxy);

    let serving = match pod.containers.iter().position(|c| c.name == TFSERVING) {
        Some(existing) => existing,
        None => {
            pod.containers.push(Container {
                name: TFSERVING.to_string(),
                image_pull_policy: Some("IfNotPresent".to_string()),
                termination_message_path: Some("/dev/termination-log".to_string()),
                termination_message_policy: Some("File".to_string()),
                ..Container::default()
            });
            pod.containers.len() - 1
        }
    };
    let container = &mut pod.containers[serving];
    if container.image.as_deref().unwrap_or("").is_empty() {
        container.image = Some(node.image("TENSORFLOW_SERVER", "tensorflow"));
    }
    if container.args.as_ref().is_none_or(Vec::is_empty) {
        container.args = Some(vec![
            "--port=2000".to_string(),
            "--rest_api_port=2001".to_string(),
            format!("--model_name={}", unit.name),
            format!("--model_base_path={MODEL_DIR}"),
        ]);
    }
    if container.ports.as_ref().is_none_or(Vec::is_empty) {
        container.ports = Some(
            [2000, 2001]
                .into_iter()
                .map(|port| ContainerPort {
                    container_port: port,
                    protocol: Some("TCP".to_string()),
                    ..ContainerPort::default()
                })
                .collect(),
        );
    }
    add_storage_initializer(node.settings, &node.source(), pod, serving);
}

/// TRITON_SERVER: Triton's own command line; with `seldon.io/no-storage-initializer` it
/// reads `modelUri` itself with the node's secret.
fn triton(node: &Node<'_>, pod: &mut PodSpec, index: usize) {
    let unit = node.unit;
    let no_initializer = node
        .sdep
        .spec
        .annotations
        .get(NO_STORAGE_INITIALIZER)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let container = &mut pod.containers[index];
    if container.args.is_none() {
        let mut args = vec![
            "/opt/tritonserver/bin/tritonserver".to_string(),
            format!("--grpc-port={}", node.ports.grpc),
            format!("--http-port={}", node.ports.http),
        ];
        if no_initializer {
            args.push(format!(
                "--model-repository={}",
                unit.model_uri.as_deref().unwrap_or_default()
            ));
            for p in &unit.parameters {
                let flag = match p.name.to_ascii_lowercase().as_str() {
                    "model_control_mode" => "--model-control-mode",
                    "load_model" => "--load-model",
                    "strict_model_config" => "--strict-model-config",
                    _ => continue,
                };
                args.push(format!("{flag}={}", p.value));
            }
        } else {
            args.push(format!("--model-repository={MODEL_DIR}"));
            args.push("--strict-model-config=false".to_string());
        }
        container.args = Some(args);
    }
    add_tcp_probes(container);
    if no_initializer {
        if container.env_from.is_none() {
            container.env_from = secret_ref(node.settings, node.unit.env_secret_ref_name.as_deref());
        }
    } else {
        add_storage_initializer(node.settings, &node.source(), pod, index);
    }
}

/// `envFrom` of the node's Secret (`envSecretRefName`, else the installation's default).
fn secret_ref(settings: &Settings, name: Option<&str>) -> Option<Vec<EnvFromSource>> {
    let name = name
        .filter(|n| !n.is_empty())
        .unwrap_or(&settings.storage_initializer.default_env_secret_ref_name);
    (!name.is_empty()).then(|| {
        vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: name.to_string(),
                optional: None,
            }),
            ..EnvFromSource::default()
        }]
    })
}

/// `<container>-model-initializer`, cut to 63 characters without a trailing `-`.
pub fn initializer_name(container: &str) -> String {
    crate::names::truncated(format!("{container}-model-initializer"))
}

/// `<container>-provision-location`, cut to 63 characters without a trailing `-`.
pub fn volume_name(container: &str) -> String {
    crate::names::truncated(format!("{container}-provision-location"))
}

/// The volumes a node's model initializer adds to its pod, by name (for validation); none
/// when the pod has the user's own initializer (§3.7).
pub fn generated_volumes(sdep: &SeldonDeployment, unit: &PredictiveUnit, pod: &PodSpec) -> Vec<String> {
    let uri = unit.model_uri.as_deref().unwrap_or("");
    let no_initializer = unit.implementation.as_deref() == Some("TRITON_SERVER")
        && sdep
            .spec
            .annotations
            .get(NO_STORAGE_INITIALIZER)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if uri.is_empty() || no_initializer {
        return Vec::new();
    }
    let target =
        if unit.implementation.as_deref() == Some("TENSORFLOW_SERVER") && protocol(sdep) != "tensorflow" {
            TFSERVING
        } else {
            unit.name.as_str()
        };
    let initializer = initializer_name(target);
    if pod
        .init_containers
        .iter()
        .flatten()
        .any(|c| c.name == initializer)
    {
        return Vec::new();
    }
    let mut out = vec![volume_name(target)];
    if uri.starts_with("pvc://") {
        out.push(PVC_VOLUME.to_string());
    }
    out
}

/// The init container that copies `modelUri` to `/mnt/models`, its volume, and the
/// read-only mount in `pod.containers[index]`.
pub(crate) fn add_storage_initializer(
    settings: &Settings,
    source: &ModelSource<'_>,
    pod: &mut PodSpec,
    index: usize,
) {
    let uri = source.uri;
    if uri.is_empty() {
        return;
    }
    let target = pod.containers[index].name.clone();
    let (init_name, volume) = (initializer_name(&target), volume_name(&target));
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    };
    let pvc = uri.strip_prefix("pvc://").map(|rest| {
        let (claim, path) = rest.split_once('/').unwrap_or((rest, ""));
        (claim.to_string(), format!("{PVC_DIR}/{path}"))
    });
    let mut server_mounts = Vec::new();
    if pvc.is_some() {
        server_mounts.push(mount(PVC_VOLUME, PVC_DIR, true));
    }
    server_mounts.push(mount(&volume, MODEL_DIR, true));
    let user_initializer = pod.init_containers.iter().flatten().any(|c| c.name == init_name);
    if user_initializer {
        // The user brings the init container and its volume; only the mount is added.
        server_mounts.retain(|m| m.name == volume);
    }
    let mounts = pod.containers[index].volume_mounts.get_or_insert_with(Vec::new);
    for m in server_mounts {
        if !mounts.iter().any(|existing| existing.name == m.name) {
            mounts.push(m);
        }
    }
    if user_initializer {
        return;
    }

    let volumes = pod.volumes.get_or_insert_with(Vec::new);
    if let Some((claim, _)) = &pvc {
        volumes.push(Volume {
            name: PVC_VOLUME.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    volumes.push(Volume {
        name: volume.clone(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    });

    let storage = &settings.storage_initializer;
    let image = source
        .storage_initializer_image
        .filter(|i| !i.is_empty())
        .unwrap_or(&storage.image);
    let mut init_mounts = Vec::new();
    if pvc.is_some() {
        init_mounts.push(mount(PVC_VOLUME, PVC_DIR, true));
    }
    init_mounts.push(mount(&volume, MODEL_DIR, false));
    let amounts = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.to_string())),
            ("memory".to_string(), Quantity(memory.to_string())),
        ])
    };
    let from = pvc.map(|(_, path)| path).unwrap_or_else(|| uri.to_string());
    pod.init_containers.get_or_insert_with(Vec::new).push(Container {
        name: init_name,
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        args: Some(vec![from, MODEL_DIR.to_string()]),
        volume_mounts: Some(init_mounts),
        env_from: secret_ref(settings, source.env_secret_ref_name),
        resources: Some(ResourceRequirements {
            limits: Some(amounts(&storage.cpu_limit, &storage.memory_limit)),
            requests: Some(amounts(&storage.cpu_request, &storage.memory_request)),
            ..ResourceRequirements::default()
        }),
        termination_message_path: Some("/dev/termination-log".to_string()),
        termination_message_policy: Some("File".to_string()),
        ..Container::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_cut_to_63_without_a_trailing_dash() {
        assert_eq!(initializer_name("classifier"), "classifier-model-initializer");
        assert_eq!(volume_name("classifier"), "classifier-provision-location");
        // A cut inside a multi-byte character moves back to the character's start.
        assert_eq!(initializer_name(&"é".repeat(40)), "é".repeat(31));
        // Cut at 63 would end in the dash after the container name: it goes too.
        assert_eq!(initializer_name(&"a".repeat(62)), "a".repeat(62));
        let name = volume_name(&"b".repeat(60));
        assert_eq!(name, format!("{}-pr", "b".repeat(60)));
    }
}
