//! The Services: one per graph container and one per predictor (spec §4).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_api::SeldonDeployment;
use sluice_api::seldon::PredictorSpec;

use crate::annotations::{self, HEADLESS_SVC};
use crate::meta::{self, MANAGED_BY, SELDON_APP, SELDON_DEPLOYMENT_ID};
use crate::ports::{Ports, UnitPorts};
use crate::{Plan, graph, names};

/// The label selecting a graph container's pods: `seldon-app-svc-<container>`.
pub(crate) fn container_label(container: &str) -> String {
    format!("seldon-app-svc-{container}")
}

/// The predictor Service, then the container Services, for every predictor.
pub(crate) fn services(sdep: &SeldonDeployment, plan: &Plan<'_>) -> Vec<Service> {
    let mut out = Vec::new();
    for (i, predictor) in sdep.spec.predictors.iter().enumerate() {
        out.push(predictor_service(sdep, i, predictor, plan));
        out.extend(container_services(sdep, i, predictor, &plan.ports));
    }
    out
}

fn predictor_service(
    sdep: &SeldonDeployment,
    i: usize,
    predictor: &PredictorSpec,
    plan: &Plan<'_>,
) -> Service {
    let key = names::predictor_key(sdep, predictor);
    let mut labels = meta::labels([
        (SELDON_APP, key.clone()),
        (SELDON_DEPLOYMENT_ID, names::seldon_id(sdep)),
        (MANAGED_BY.0, MANAGED_BY.1.to_string()),
    ]);
    if plan.no_engine(i) {
        add_type_labels(&mut labels, predictor, &predictor.graph.name);
    }
    let (http, grpc) = plan.predictor_ports(i);
    let headless =
        annotations::lookup(sdep, HEADLESS_SVC).is_some_and(|f| f.value.eq_ignore_ascii_case("true"));
    Service {
        metadata: meta::object(sdep, &key, labels, predictor.annotations.clone()),
        spec: Some(ServiceSpec {
            cluster_ip: headless.then(|| "None".to_string()),
            ..service_spec(
                BTreeMap::from([(SELDON_APP.to_string(), key.clone())]),
                http,
                grpc,
            )
        }),
        status: None,
    }
}

fn container_services(
    sdep: &SeldonDeployment,
    i: usize,
    predictor: &PredictorSpec,
    ports: &Ports,
) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    for container in predictor
        .component_specs
        .iter()
        .flat_map(|s| s.spec.containers.iter())
    {
        let (Some(UnitPorts { http, grpc, .. }), false) =
            (ports.get(i, &container.name), is_excluded(&container.name))
        else {
            continue;
        };
        let name = names::container_service(sdep, predictor, &container.name);
        if out
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some(name.as_str()))
        {
            continue;
        }
        let selector_key = container_label(&container.name);
        let mut labels = meta::labels([
            (selector_key.as_str(), name.clone()),
            (SELDON_DEPLOYMENT_ID, names::seldon_id(sdep)),
            (SELDON_APP, names::predictor_key(sdep, predictor)),
            (MANAGED_BY.0, MANAGED_BY.1.to_string()),
        ]);
        add_type_labels(&mut labels, predictor, &container.name);
        out.push(Service {
            metadata: meta::object(sdep, &name, labels, predictor.annotations.clone()),
            spec: Some(service_spec(
                BTreeMap::from([(selector_key, name.clone())]),
                http,
                grpc,
            )),
            status: None,
        });
    }
    out
}

/// The orchestrator and TF Serving containers get no Service of their own.
fn is_excluded(container: &str) -> bool {
    container == names::ENGINE_CONTAINER || container == "tfserving"
}

fn add_type_labels(labels: &mut BTreeMap<String, String>, predictor: &PredictorSpec, node: &str) {
    if let Some(label) = graph::node(predictor, node).and_then(graph::type_label) {
        labels.insert(label.to_string(), "true".to_string());
    }
    if predictor.is_shadow() {
        labels.insert("seldon.io/shadow".to_string(), "true".to_string());
    }
}

fn service_spec(selector: BTreeMap<String, String>, http: i32, grpc: i32) -> ServiceSpec {
    let port = |name: &str, number: i32| ServicePort {
        name: Some(name.to_string()),
        port: number,
        protocol: Some("TCP".to_string()),
        target_port: Some(IntOrString::Int(number)),
        ..ServicePort::default()
    };
    ServiceSpec {
        type_: Some("ClusterIP".to_string()),
        session_affinity: Some("None".to_string()),
        selector: Some(selector),
        ports: Some(vec![port("http", http), port("grpc", grpc)]),
        ..ServiceSpec::default()
    }
}
