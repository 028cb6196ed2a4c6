//! Explainers (`predictors[*].explainer`): the Deployment, Service, VirtualService and
//! DestinationRule Seldon Core 1 creates beside a predictor, so that
//! `/seldon/<ns>/<sdep>-explainer/<predictor>/...` reaches an alibi explainer that calls the
//! predictor (spec `seldon-prepackaged.md` §4, `seldon-core-1.md` §3.6).
//!
//! Where Seldon's objects are broken, sluice differs (`COMPATIBILITY.md`): the Deployment
//! selects only its own pods, and the Service and routes use the container's http port.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec,
    TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_api::SeldonDeployment;
use sluice_api::istio::{
    Destination, DestinationRule, DestinationRuleSpec, HttpMatchRequest, HttpRewrite, HttpRoute,
    HttpRouteDestination, NETWORKING_API_VERSION, Object, PortSelector, StringMatch, Subset, VirtualService,
    VirtualServiceSpec,
};
use sluice_api::seldon::{Explainer, PredictorSpec};

use crate::annotations::IstioOptions;
use crate::meta::{self, MANAGED_BY, SELDON_APP, SELDON_DEPLOYMENT_ID};
use crate::prepack::{self, MODEL_DIR, ModelSource};
use crate::{Plan, istio, names};

/// The explainer's http port when its endpoint sets none.
pub const DEFAULT_PORT: i32 = 9000;

/// The explainer types Seldon knows, with MLServer's tag for each (v2).
pub const TYPES: &[(&str, &str)] = &[
    ("AnchorTabular", "anchor_tabular"),
    ("AnchorImages", "anchor_image"),
    ("AnchorText", "anchor_text"),
    ("Counterfactuals", "counterfactuals"),
    ("Contrastive", "contrastive"),
    ("KernelShap", "kernel_shap"),
    ("IntegratedGradients", "integrated_gradients"),
    ("ALE", "ALE"),
    ("TreeShap", "tree_shap"),
];

/// The predictor's explainer, when it has one with a type.
pub fn of(predictor: &PredictorSpec) -> Option<&Explainer> {
    predictor
        .explainer
        .as_ref()
        .filter(|e| e.kind.as_deref().is_some_and(|k| !k.is_empty()))
}

/// `seldon`, `tensorflow` or `v2`: the protocol the explainer speaks to the predictor.
fn protocol(sdep: &SeldonDeployment) -> &'static str {
    match sdep.spec.protocol.as_deref() {
        Some("tensorflow") => "tensorflow",
        Some("v2" | "kfserving") => "v2",
        _ => "seldon",
    }
}

/// The URL path prefix users call: `/seldon/<ns>/<sdep>-explainer/<predictor>/`.
pub fn url_prefix(sdep: &SeldonDeployment, predictor: &PredictorSpec) -> String {
    format!(
        "/seldon/{}/{}-explainer/{}/",
        names::namespace(sdep),
        names::sdep_name(sdep),
        predictor.name
    )
}

/// Everything for predictor `i`'s explainer, if it has one.
pub(crate) struct Objects {
    pub deployment: Deployment,
    pub service: Service,
    pub virtual_service: Option<VirtualService>,
    pub destination_rule: Option<DestinationRule>,
}

pub(crate) fn objects(
    sdep: &SeldonDeployment,
    plan: &Plan<'_>,
    i: usize,
    options: &IstioOptions,
) -> Option<Objects> {
    let predictor = &sdep.spec.predictors[i];
    let explainer = of(predictor)?;
    let name = names::explainer(sdep, predictor);
    let mut pod = PodSpec {
        containers: vec![container(sdep, plan, i, explainer, &name)],
        service_account_name: explainer.service_account_name.clone().filter(|a| !a.is_empty()),
        ..PodSpec::default()
    };
    let source = ModelSource {
        uri: explainer.model_uri.as_deref().unwrap_or(""),
        env_secret_ref_name: explainer.env_secret_ref_name.as_deref(),
        storage_initializer_image: explainer.storage_initializer_image.as_deref(),
    };
    prepack::add_storage_initializer(plan.settings, &source, &mut pod, 0);
    let port = http_port(&pod.containers[0]);

    let mut labels = predictor.labels.clone();
    labels.insert("version".to_string(), istio::version(predictor));
    labels.extend(meta::labels([
        (SELDON_DEPLOYMENT_ID, names::seldon_id(sdep)),
        ("app", name.clone()),
        ("fluentd", "true".to_string()),
        ("seldon.io/explainer", "true".to_string()),
        (MANAGED_BY.0, MANAGED_BY.1.to_string()),
        (SELDON_APP, name.clone()),
    ]));
    if predictor.is_shadow() {
        labels.insert("seldon.io/shadow".to_string(), "true".to_string());
    }
    let mut annotations = sdep.spec.annotations.clone();
    annotations.extend(predictor.annotations.clone());
    // Seldon's replicas: none when the predictor is scaled to zero.
    let zero =
        predictor.replicas == Some(0) || (predictor.replicas.is_none() && sdep.spec.replicas == Some(0));
    let replicas = if zero { 0 } else { explainer.replicas.unwrap_or(1) };
    let deployment = Deployment {
        metadata: meta::object(sdep, &name, labels.clone(), BTreeMap::new()),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            // Seldon selects on seldon-deployment-id alone, which every pod of the SDep
            // carries; sluice selects the explainer's own pods.
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([
                    ("app".to_string(), name.clone()),
                    (SELDON_DEPLOYMENT_ID.to_string(), names::seldon_id(sdep)),
                ])),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: (!annotations.is_empty()).then_some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    };

    let service = Service {
        metadata: meta::object(
            sdep,
            &name,
            meta::labels([
                (SELDON_APP, names::predictor_key(sdep, predictor)),
                (SELDON_DEPLOYMENT_ID, names::seldon_id(sdep)),
                (MANAGED_BY.0, MANAGED_BY.1.to_string()),
                ("seldon.io/explainer", "true".to_string()),
            ]),
            predictor.annotations.clone(),
        ),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(SELDON_APP.to_string(), name.clone())])),
            ports: Some(vec![ServicePort {
                name: Some("http".to_string()),
                port,
                target_port: Some(IntOrString::Int(port)),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    };

    let host = names::fqdn(&name, names::namespace(sdep), &plan.settings.cluster_domain);
    let (virtual_service, destination_rule) = if plan.settings.istio_enabled {
        let vs = Object {
            api_version: NETWORKING_API_VERSION.to_string(),
            kind: "VirtualService".to_string(),
            metadata: meta::object(
                sdep,
                &names::truncated(format!("{name}-http")),
                BTreeMap::new(),
                BTreeMap::new(),
            ),
            spec: VirtualServiceSpec {
                hosts: options.hosts.clone(),
                gateways: options
                    .gateways
                    .clone()
                    .unwrap_or_else(|| vec![plan.settings.istio_gateway.clone()]),
                http: vec![HttpRoute {
                    matches: vec![HttpMatchRequest {
                        uri: Some(StringMatch {
                            prefix: Some(url_prefix(sdep, predictor)),
                            ..StringMatch::default()
                        }),
                        ..HttpMatchRequest::default()
                    }],
                    rewrite: Some(HttpRewrite {
                        uri: Some("/".to_string()),
                        ..HttpRewrite::default()
                    }),
                    route: vec![HttpRouteDestination {
                        destination: Destination {
                            host: host.clone(),
                            subset: Some(predictor.name.clone()),
                            port: Some(PortSelector {
                                number: u32::try_from(port).ok(),
                            }),
                        },
                        weight: Some(100),
                        headers: None,
                    }],
                    ..HttpRoute::default()
                }],
                ..VirtualServiceSpec::default()
            },
            status: None,
        };
        let dr = Object {
            api_version: NETWORKING_API_VERSION.to_string(),
            kind: "DestinationRule".to_string(),
            metadata: meta::object(sdep, &name, BTreeMap::new(), BTreeMap::new()),
            spec: DestinationRuleSpec {
                host,
                subsets: vec![Subset {
                    name: predictor.name.clone(),
                    labels: BTreeMap::from([("version".to_string(), istio::version(predictor))]),
                    traffic_policy: None,
                }],
                ..DestinationRuleSpec::default()
            },
            status: None,
        };
        (Some(vs), Some(dr))
    } else {
        (None, None)
    };
    Some(Objects {
        deployment,
        service,
        virtual_service,
        destination_rule,
    })
}

/// The port named `http` of the explainer's container.
fn http_port(container: &Container) -> i32 {
    container
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("http"))
        .map_or(DEFAULT_PORT, |p| p.container_port)
}

/// The explainer's container: `containerSpec`, with Seldon's image, port, probes and
/// arguments (seldon/tensorflow) or MLServer environment (v2).
fn container(
    sdep: &SeldonDeployment,
    plan: &Plan<'_>,
    i: usize,
    explainer: &Explainer,
    name: &str,
) -> Container {
    let predictor = &sdep.spec.predictors[i];
    let protocol = protocol(sdep);
    let mut c = explainer.container_spec.clone().unwrap_or_default();
    if c.name.is_empty() {
        c.name = name.to_string();
    }
    c.image_pull_policy
        .get_or_insert_with(|| "IfNotPresent".to_string());
    if c.image.as_deref().unwrap_or("").is_empty() {
        let images = &plan.settings.explainer;
        c.image = Some(
            if protocol == "v2" {
                &images.image_v2
            } else {
                &images.image
            }
            .clone(),
        );
    }
    let wanted = explainer
        .endpoint
        .as_ref()
        .and_then(|e| e.service_port)
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_PORT);
    let ports = c.ports.get_or_insert_with(Vec::new);
    if !ports.iter().any(|p| p.name.as_deref() == Some("http")) {
        ports.push(ContainerPort {
            name: Some("http".to_string()),
            container_port: wanted,
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        });
    }
    let port = http_port(&c);
    let probe = |initial: i32, failures: i32| Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String("http".to_string()),
            ..TCPSocketAction::default()
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(5),
        timeout_seconds: Some(1),
        success_threshold: Some(1),
        failure_threshold: Some(failures),
        ..Probe::default()
    };
    c.liveness_probe.get_or_insert_with(|| probe(60, 5));
    c.readiness_probe.get_or_insert_with(|| probe(20, 7));

    // The predictor as the explainer calls it: its Service, REST or gRPC.
    let grpc = plan.grpc_transport
        || explainer
            .endpoint
            .as_ref()
            .and_then(|e| e.kind.as_deref())
            .is_some_and(|k| k == "GRPC");
    let predictor_host = format!(
        "{}.{}:{}",
        names::predictor_key(sdep, predictor),
        names::namespace(sdep),
        plan.route_port(i, grpc)
    );
    let root = &predictor.graph.name;
    let kind = explainer.kind.as_deref().unwrap_or_default();
    let model_uri = explainer.model_uri.as_deref().filter(|u| !u.is_empty());
    if protocol == "v2" {
        let tag = TYPES
            .iter()
            .find(|(t, _)| *t == kind)
            .map_or(kind, |(_, tag)| tag);
        let mut extra = serde_json::Map::new();
        extra.insert("explainer_type".to_string(), tag.into());
        extra.insert(
            "infer_uri".to_string(),
            format!("http://{predictor_host}/v2/models/{root}/infer").into(),
        );
        let mut extra = serde_json::Value::Object(extra).to_string();
        if let Some(init) = explainer.init_parameters.as_deref().filter(|p| !p.is_empty()) {
            // Verbatim, as Seldon splices it in.
            extra.pop();
            extra.push_str(&format!(",\"init_parameters\":{init}}}"));
        }
        let env = |name: &str, value: String| EnvVar {
            name: name.to_string(),
            value: Some(value),
            value_from: None,
        };
        c.env = Some(vec![
            env("MLSERVER_HTTP_PORT", port.to_string()),
            env(
                "MLSERVER_MODEL_IMPLEMENTATION",
                "mlserver_alibi_explain.AlibiExplainRuntime".to_string(),
            ),
            env("MLSERVER_MODEL_NAME", c.name.clone()),
            env("MLSERVER_MODEL_URI", MODEL_DIR.to_string()),
            env("MLSERVER_MODEL_EXTRA", extra),
        ]);
    } else {
        let mut args = vec![
            format!("--model_name={root}"),
            format!("--predictor_host={predictor_host}"),
            format!("--protocol={protocol}.{}", if grpc { "grpc" } else { "http" }),
            format!("--http_port={port}"),
        ];
        if model_uri.is_some() {
            args.push(format!("--storage_uri={MODEL_DIR}"));
        }
        args.push(kind.to_string());
        if kind == "AnchorImages" {
            args.push("--tf_data_type=float32".to_string());
        }
        for (key, value) in &explainer.config {
            let value = match model_uri {
                Some(uri) => value.replacen(uri, MODEL_DIR, 1),
                None => value.clone(),
            };
            args.push(format!("--{key}={value}"));
        }
        c.args = Some(args);
    }
    c
}
