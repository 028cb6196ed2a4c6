//! The one translation from a `SeldonDeployment` to the Kubernetes and Istio objects
//! that run it. The operator applies the result to a cluster; `sluice up` feeds the
//! very same VirtualServices and DestinationRules to the local gateway.
//!
//! ```text
//!  SeldonDeployment ──> validate(&sdep, &settings) ──> Vec<Diagnostic>   (all problems, with field paths)
//!         │
//!         └─────────> desired(&sdep, &settings)  ──> Desired { deployments, services,
//!                                                              virtual_services, destination_rules }
//! ```
//!
//! Everything here is pure and deterministic: no I/O, no environment, no clock; maps
//! are sorted, so the same input renders the same bytes. Behaviour follows Seldon
//! Core 1.18 (`spec/seldon-core-1.md` §2–§6); where sluice differs on purpose it is
//! listed in `COMPATIBILITY.md`.

pub mod annotations;
mod deployments;
pub mod dns;
pub mod explainers;
#[cfg(any(test, feature = "testing"))]
pub mod fixture;
pub mod graph;
pub mod istio;
pub mod meta;
pub mod names;
pub mod ports;
pub mod prepack;
pub mod servers;
mod services;
pub mod settings;
pub mod source;
mod validate;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde::Serialize;
use sluice_api::SeldonDeployment;
use sluice_api::istio::{DestinationRule, VirtualService};
use sluice_api::seldon::{PredictiveUnit, PredictorSpec};

pub use deployments::orchestrator_env;
pub use settings::{Settings, SettingsError, TlsMode};
pub use sluice_api::diagnostic::{Diagnostic, Severity};
pub use validate::validate;

use annotations::{ENGINE_SEPARATE_POD, NO_ENGINE};
use ports::Ports;

/// Everything generated for one SeldonDeployment, its fields in apply order: Services and
/// Deployments, then DestinationRules before the VirtualService that uses their subsets
/// (Istio's make-before-break order).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Desired {
    /// Per predictor: its Service, then one per graph container.
    pub services: Vec<Service>,
    /// One per componentSpec (plus separate orchestrators).
    pub deployments: Vec<Deployment>,
    /// One per predictor, shadow included (none when Istio is disabled).
    pub destination_rules: Vec<DestinationRule>,
    /// The SDep's VirtualService (none when Istio is disabled).
    pub virtual_services: Vec<VirtualService>,
}

impl Desired {
    /// Every object as JSON, in apply order (the order of the fields).
    pub fn objects(&self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
        let mut out = Vec::new();
        for s in &self.services {
            out.push(serde_json::to_value(s)?);
        }
        for d in &self.deployments {
            out.push(serde_json::to_value(d)?);
        }
        for d in &self.destination_rules {
            out.push(serde_json::to_value(d)?);
        }
        for v in &self.virtual_services {
            out.push(serde_json::to_value(v)?);
        }
        Ok(out)
    }
}

/// The SeldonDeployment has errors; nothing can be generated from it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("the SeldonDeployment is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<Diagnostic>);

/// Translate a SeldonDeployment. It is validated first; any error makes the whole
/// translation fail, so no object is ever generated from an invalid SDep.
pub fn desired(sdep: &SeldonDeployment, settings: &Settings) -> Result<Desired, Invalid> {
    let analysis = validate::analyse(sdep, settings);
    if analysis.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(Invalid(
            analysis
                .diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect(),
        ));
    }
    let options = analysis.options;
    let sdep = &*prepack::with_server_containers(sdep, settings);
    let plan = Plan::new(sdep, settings, analysis.ports);
    let mut out = Desired {
        deployments: deployments::deployments(sdep, &plan),
        services: services::services(sdep, &plan),
        ..Desired::default()
    };
    if settings.istio_enabled {
        out.virtual_services
            .push(istio::virtual_service(sdep, &plan, &options));
        out.destination_rules = istio::destination_rules(sdep, &plan);
    }
    for i in 0..sdep.spec.predictors.len() {
        if let Some(explainer) = explainers::objects(sdep, &plan, i, &options) {
            out.deployments.push(explainer.deployment);
            out.services.push(explainer.service);
            out.virtual_services.extend(explainer.virtual_service);
            out.destination_rules.extend(explainer.destination_rule);
        }
    }
    Ok(out)
}

/// Facts about one valid SDep that every output needs, worked out once.
pub(crate) struct Plan<'a> {
    settings: &'a Settings,
    ports: Ports,
    no_engine: Vec<bool>,
    separate_engine: bool,
    fqdns: Vec<String>,
    root_names: Vec<String>,
    grpc_transport: bool,
}

impl<'a> Plan<'a> {
    fn new(sdep: &SeldonDeployment, settings: &'a Settings, ports: Ports) -> Self {
        let namespace = names::namespace(sdep);
        Plan {
            settings,
            ports,
            no_engine: sdep.spec.predictors.iter().map(Plan::no_engine_flag).collect(),
            // Read from spec.annotations only, as Seldon does.
            separate_engine: annotations::flag(&sdep.spec.annotations, ENGINE_SEPARATE_POD),
            fqdns: sdep
                .spec
                .predictors
                .iter()
                .map(|p| {
                    names::fqdn(
                        &names::predictor_key(sdep, p),
                        namespace,
                        &settings.cluster_domain,
                    )
                })
                .collect(),
            root_names: sdep
                .spec
                .predictors
                .iter()
                .map(|p| p.graph.name.clone())
                .collect(),
            grpc_transport: sdep.spec.transport.as_deref() == Some("grpc"),
        }
    }

    fn no_engine_flag(predictor: &PredictorSpec) -> bool {
        annotations::flag(&predictor.annotations, NO_ENGINE)
    }

    /// Does predictor `i` route straight to its single container?
    fn no_engine(&self, i: usize) -> bool {
        self.no_engine.get(i).copied().unwrap_or(false)
    }

    /// The FQDN of predictor `i`'s Service.
    fn fqdn(&self, i: usize) -> String {
        self.fqdns[i].clone()
    }

    /// The (http, grpc) ports of predictor `i`'s Service: the orchestrator's, or the
    /// single container's for a no-engine predictor.
    fn predictor_ports(&self, i: usize) -> (i32, i32) {
        if self.no_engine(i) {
            // Validation guarantees a single-node graph; its container may be absent
            // (a built-in implementation), in which case the orchestrator ports apply.
            if let Some(ports) = self.ports_of_root(i) {
                return (ports.http, ports.grpc);
            }
        }
        (self.settings.engine_http_port, self.settings.engine_grpc_port)
    }

    fn ports_of_root(&self, i: usize) -> Option<ports::UnitPorts> {
        self.root_names.get(i).and_then(|name| self.ports.get(i, name))
    }

    /// The destination port of predictor `i` on the REST or gRPC route.
    fn route_port(&self, i: usize, grpc: bool) -> u32 {
        let (http, grpc_port) = self.predictor_ports(i);
        u32::try_from(if grpc { grpc_port } else { http }).unwrap_or_default()
    }

    /// Does the orchestrator call `node` over gRPC?
    fn grpc_to(&self, node: &PredictiveUnit) -> bool {
        graph::over_grpc(self.grpc_transport.then_some("grpc"), node)
    }
}
