//! The Deployments: one per componentSpec, with the orchestrator in the first one
//! (or in its own Deployment with `seldon.io/engine-separate-pod: "true"`).

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_api::SeldonDeployment;
use sluice_api::seldon::{Endpoint, PredictiveUnit, PredictorSpec, SeldonPodSpec};

use crate::meta::{self, MANAGED_BY, SELDON_APP, SELDON_DEPLOYMENT_ID};
use crate::ports::UnitPorts;
use crate::services::container_label;
use crate::{Plan, istio, names, prepack};

/// Every Deployment of the SDep, in predictor then componentSpec order.
pub(crate) fn deployments(sdep: &SeldonDeployment, plan: &Plan<'_>) -> Vec<Deployment> {
    let mut out = Vec::new();
    for (i, predictor) in sdep.spec.predictors.iter().enumerate() {
        for (j, spec) in predictor.component_specs.iter().enumerate() {
            out.push(component_deployment(sdep, plan, i, j, spec));
        }
        if plan.separate_engine && !plan.no_engine(i) {
            out.push(engine_deployment(sdep, plan, i));
        }
    }
    out
}

fn component_deployment(
    sdep: &SeldonDeployment,
    plan: &Plan<'_>,
    i: usize,
    j: usize,
    spec: &SeldonPodSpec,
) -> Deployment {
    let predictor = &sdep.spec.predictors[i];
    let name = names::deployment(sdep, predictor, j, spec);
    let key = names::predictor_key(sdep, predictor);
    let hosts_engine = j == 0 && !plan.no_engine(i) && !plan.separate_engine;

    let mut labels = meta::labels([
        ("app", name.clone()),
        (SELDON_DEPLOYMENT_ID, names::seldon_id(sdep)),
        (MANAGED_BY.0, MANAGED_BY.1.to_string()),
    ]);
    if hosts_engine || (j == 0 && plan.no_engine(i)) {
        labels.insert(SELDON_APP.to_string(), key.clone());
    }
    let mut pod_labels = predictor.labels.clone();
    pod_labels.insert("version".to_string(), istio::version(predictor));
    pod_labels.extend(
        spec.metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
    );
    pod_labels.extend(labels.clone());
    let mut pod = spec.spec.clone();
    for index in 0..pod.containers.len() {
        let container = &mut pod.containers[index];
        if let (Some(node), Some(ports)) = (
            crate::graph::node(predictor, &container.name),
            plan.ports.get(i, &container.name),
        ) {
            pod_labels.insert(
                container_label(&container.name),
                names::container_service(sdep, predictor, &container.name),
            );
            wire_component(sdep, plan, predictor, node, ports, container);
            let unit = prepack::Node {
                sdep,
                settings: plan.settings,
                unit: node,
                ports,
            };
            prepack::inject(&unit, &mut pod, index);
        }
    }
    if hosts_engine {
        labels.insert(
            "seldon-deployment-contains-svcorch".to_string(),
            "true".to_string(),
        );
        pod.containers.push(engine_container(sdep, plan, i));
    }
    let mut pod_annotations = spec
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    pod_annotations.insert(
        "prometheus.io/path".to_string(),
        plan.settings.prometheus_path.clone(),
    );
    pod_annotations.insert("prometheus.io/scrape".to_string(), "true".to_string());

    let replicas = spec
        .replicas
        .or(predictor.replicas)
        .or(sdep.spec.replicas)
        .unwrap_or(1);
    deployment(sdep, &name, labels, pod_labels, pod_annotations, replicas, pod)
}

fn engine_deployment(sdep: &SeldonDeployment, plan: &Plan<'_>, i: usize) -> Deployment {
    let predictor = &sdep.spec.predictors[i];
    let name = names::engine_deployment(sdep, predictor);
    // Seldon labels this Deployment's id with the predictor key (B11); sluice uses the seldonId.
    let labels = meta::labels([
        ("app", name.clone()),
        (SELDON_APP, names::predictor_key(sdep, predictor)),
        (SELDON_DEPLOYMENT_ID, names::seldon_id(sdep)),
        ("seldon-deployment-contains-svcorch", "true".to_string()),
        (MANAGED_BY.0, MANAGED_BY.1.to_string()),
    ]);
    let mut pod_labels = predictor.labels.clone();
    pod_labels.insert("version".to_string(), istio::version(predictor));
    pod_labels.extend(labels.clone());
    let pod = PodSpec {
        containers: vec![engine_container(sdep, plan, i)],
        ..PodSpec::default()
    };
    let annotations = BTreeMap::from([
        (
            "prometheus.io/path".to_string(),
            plan.settings.prometheus_path.clone(),
        ),
        ("prometheus.io/scrape".to_string(), "true".to_string()),
    ]);
    let replicas = predictor
        .svc_orch_spec
        .as_ref()
        .and_then(|s| s.replicas)
        .or(predictor.replicas)
        .unwrap_or(1);
    deployment(sdep, &name, labels, pod_labels, annotations, replicas, pod)
}

fn deployment(
    sdep: &SeldonDeployment,
    name: &str,
    labels: BTreeMap<String, String>,
    pod_labels: BTreeMap<String, String>,
    pod_annotations: BTreeMap<String, String>,
    replicas: i32,
    pod: PodSpec,
) -> Deployment {
    let selector = BTreeMap::from([
        ("app".to_string(), name.to_string()),
        (SELDON_DEPLOYMENT_ID.to_string(), names::seldon_id(sdep)),
    ]);
    Deployment {
        metadata: meta::object(sdep, name, labels, BTreeMap::new()),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// Ports and the `PREDICTIVE_UNIT_*` environment of a graph container. Variables the
/// user already set are kept (Seldon drops the ones before them, B25).
fn wire_component(
    sdep: &SeldonDeployment,
    plan: &Plan<'_>,
    predictor: &PredictorSpec,
    node: &PredictiveUnit,
    ports: UnitPorts,
    container: &mut Container,
) {
    let declared = container.ports.get_or_insert_with(Vec::new);
    for (name, number) in [
        ("http", ports.http),
        ("grpc", ports.grpc),
        (plan.settings.metrics_port_name.as_str(), ports.metrics),
    ] {
        if !declared.iter().any(|p| p.name.as_deref() == Some(name)) {
            declared.push(ContainerPort {
                name: Some(name.to_string()),
                container_port: number,
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            });
        }
    }
    let service_port = if plan.grpc_to(node) {
        ports.grpc
    } else {
        ports.http
    };
    let mut wanted = vec![
        ("PREDICTIVE_UNIT_SERVICE_PORT", service_port.to_string()),
        ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", ports.http.to_string()),
        ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", ports.grpc.to_string()),
        ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", ports.metrics.to_string()),
        (
            "PREDICTIVE_UNIT_METRICS_ENDPOINT",
            plan.settings.prometheus_path.clone(),
        ),
        ("PREDICTIVE_UNIT_ID", container.name.clone()),
        (
            "PREDICTIVE_UNIT_IMAGE",
            container.image.clone().unwrap_or_default(),
        ),
        ("PREDICTOR_ID", predictor.name.clone()),
        (
            "PREDICTOR_LABELS",
            serde_json::to_string(&predictor.labels).unwrap_or_default(),
        ),
        ("SELDON_DEPLOYMENT_ID", names::seldon_id(sdep)),
        (
            "SELDON_EXECUTOR_ENABLED",
            (!Plan::no_engine_flag(predictor)).to_string(),
        ),
    ];
    if !node.parameters.is_empty() {
        wanted.push((
            "PREDICTIVE_UNIT_PARAMETERS",
            serde_json::to_string(&node.parameters).unwrap_or_default(),
        ));
    }
    let env = container.env.get_or_insert_with(Vec::new);
    for (name, value) in wanted {
        if !env.iter().any(|e| e.name == name) {
            env.push(EnvVar {
                name: name.to_string(),
                value: Some(value),
                value_from: None,
            });
        }
    }
}

fn engine_container(sdep: &SeldonDeployment, plan: &Plan<'_>, i: usize) -> Container {
    let predictor = &sdep.spec.predictors[i];
    let s = plan.settings;
    let or = |v: Option<&str>, default: &str| v.filter(|v| !v.is_empty()).unwrap_or(default).to_string();
    let args: Vec<String> = [
        ("--sdep", names::sdep_name(sdep).to_string()),
        ("--namespace", names::namespace(sdep).to_string()),
        ("--predictor", predictor.name.clone()),
        ("--http_port", s.engine_http_port.to_string()),
        ("--grpc_port", s.engine_grpc_port.to_string()),
        ("--protocol", or(sdep.spec.protocol.as_deref(), "seldon")),
        ("--transport", or(sdep.spec.transport.as_deref(), "rest")),
        ("--prometheus_path", s.prometheus_path.clone()),
        ("--server_type", or(sdep.spec.server_type.as_deref(), "rpc")),
        ("--log_work_buffer_size", "10000".to_string()),
        ("--log_write_timeout_ms", "2000".to_string()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_string(), value])
    .chain(["--full_health_checks=false".to_string()])
    .chain(
        crate::annotations::max_body_size(sdep)
            .into_iter()
            .flat_map(|bytes| ["--max_request_body".to_string(), bytes.to_string()]),
    )
    .collect();

    let mut env = vec![EnvVar {
        name: "ENGINE_PREDICTOR".to_string(),
        value: Some(engine_predictor(sdep, plan, i)),
        value_from: None,
    }];
    env.extend(orchestrator_env(sdep, predictor));
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(s.engine_http_port),
            scheme: Some("HTTP".to_string()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(20),
        period_seconds: Some(5),
        timeout_seconds: Some(60),
        failure_threshold: Some(3),
        success_threshold: Some(1),
        ..Probe::default()
    };
    let port = |name: &str, number: i32| ContainerPort {
        name: Some(name.to_string()),
        container_port: number,
        protocol: Some("TCP".to_string()),
        ..ContainerPort::default()
    };
    let default_resources = || {
        let amounts = BTreeMap::from([
            ("cpu".to_string(), Quantity("500m".to_string())),
            ("memory".to_string(), Quantity("512Mi".to_string())),
        ]);
        ResourceRequirements {
            limits: Some(amounts.clone()),
            requests: Some(amounts),
            ..ResourceRequirements::default()
        }
    };
    Container {
        name: names::ENGINE_CONTAINER.to_string(),
        image: Some(s.engine_image.clone()),
        command: (!s.engine_command.is_empty()).then(|| s.engine_command.clone()),
        args: Some(args),
        env: Some(env),
        // Seldon also declares the http port a second time, named `metrics`: a duplicate
        // that server-side apply (and kubectl's warnings) refuse; metrics are scraped on the
        // http port through the `prometheus.io/*` annotations (COMPATIBILITY.md).
        ports: Some(vec![
            port("http", s.engine_http_port),
            port("grpc", s.engine_grpc_port),
        ]),
        readiness_probe: Some(probe("/ready")),
        liveness_probe: Some(probe("/live")),
        resources: Some(
            predictor
                .svc_orch_spec
                .as_ref()
                .and_then(|o| o.resources.clone())
                .or_else(|| predictor.engine_resources.clone())
                .unwrap_or_else(default_resources),
        ),
        ..Container::default()
    }
}

/// The orchestrator's copy of the predictor, base64 JSON: traffic and replicas zeroed,
/// and every graph node's type and endpoint filled in (host, port, type) as Seldon's
/// defaulting does.
fn engine_predictor(sdep: &SeldonDeployment, plan: &Plan<'_>, i: usize) -> String {
    let mut predictor = sdep.spec.predictors[i].clone();
    predictor.traffic = Some(0);
    predictor.replicas = Some(0);
    predictor.explainer = None;
    let original = &sdep.spec.predictors[i];
    crate::graph::default_types(&mut predictor.graph);
    fill_endpoints(sdep, plan, i, original, &mut predictor.graph);
    let json = serde_json::to_vec(&predictor).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(json)
}

fn fill_endpoints(
    sdep: &SeldonDeployment,
    plan: &Plan<'_>,
    i: usize,
    predictor: &PredictorSpec,
    node: &mut PredictiveUnit,
) {
    if let Some(ports) = plan.ports.get(i, &node.name) {
        let in_first_pod = predictor
            .component_specs
            .first()
            .is_some_and(|s| s.spec.containers.iter().any(|c| c.name == node.name));
        let host = if in_first_pod && !plan.separate_engine {
            "localhost".to_string()
        } else {
            names::fqdn(
                &names::container_service(sdep, predictor, &node.name),
                names::namespace(sdep),
                &plan.settings.cluster_domain,
            )
        };
        let grpc = plan.grpc_to(node);
        node.endpoint = Some(Endpoint {
            service_host: Some(host),
            service_port: Some(if grpc { ports.grpc } else { ports.http }),
            kind: Some(if grpc { "GRPC" } else { "REST" }.to_string()),
            http_port: Some(ports.http),
            grpc_port: Some(ports.grpc),
        });
    }
    for child in &mut node.children {
        fill_endpoints(sdep, plan, i, predictor, child);
    }
}

/// The orchestrator's environment besides `ENGINE_PREDICTOR`, as the operator sets it: each
/// `seldon.io/engine-<x>` annotation of the SDep as `<X>` (upper case, `-` → `_`), then the
/// predictor's `svcOrchSpec.env`.
pub fn orchestrator_env(sdep: &SeldonDeployment, predictor: &PredictorSpec) -> Vec<EnvVar> {
    let mut env = Vec::new();
    for (key, value) in &sdep.spec.annotations {
        if let Some(setting) = key.strip_prefix("seldon.io/engine-") {
            env.push(EnvVar {
                name: setting.to_uppercase().replace('-', "_"),
                value: Some(value.clone()),
                value_from: None,
            });
        }
    }
    if let Some(orch) = &predictor.svc_orch_spec {
        env.extend(orch.env.iter().cloned());
    }
    env
}
