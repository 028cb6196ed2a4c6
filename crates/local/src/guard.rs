//! The sidecar in front of each predictor's orchestrator: the RequestAuthentications and
//! AuthorizationPolicies that select the predictor's pod (its namespace without a
//! selector, a selector matching the pod's labels, or Istio's root namespace) run before
//! the orchestrator answers — on its socket and on the gateway's in-process hand-over
//! alike, `/prometheus` included, as an Istio sidecar would on port 8000. The pod
//! annotation `traffic.sidecar.istio.io/excludeInboundPorts` takes ports out, as in Istio.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::Response;
use http::request::Parts;
use k8s_openapi::api::apps::v1::Deployment;
use sluice_api::SeldonDeployment;
use sluice_api::seldon::PredictorSpec;
use sluice_mesh::Diagnostic;
use sluice_mesh::security::{Connection, Security, Workload};
use sluice_mesh::{Config, Scheme};
use sluice_translate::names;

/// The annotation that takes inbound ports away from the sidecar.
pub(crate) const EXCLUDE_INBOUND_PORTS: &str = "traffic.sidecar.istio.io/excludeInboundPorts";

/// The policies in force for one predictor, swapped when the files change.
pub(crate) type SharedGuard = Arc<ArcSwap<Guard>>;

/// A predictor's inbound security.
#[derive(Debug)]
pub(crate) struct Guard {
    /// The pod the policies were selected for.
    pub(crate) workload: Workload,
    /// The pod's port the orchestrator listens on (Seldon's 8000).
    pub(crate) port: u16,
    /// The pod's port the orchestrator serves gRPC on (Seldon's 5001).
    pub(crate) grpc_port: u16,
    /// The filters of the policies that select the pod.
    pub(crate) security: Security,
    /// Ports the sidecar does not intercept.
    pub(crate) excluded: BTreeSet<u16>,
}

/// The pod that runs a predictor's orchestrator: its Deployment's template.
fn engine_pod<'a>(
    sdep: &SeldonDeployment,
    predictor: &PredictorSpec,
    deployments: &'a [Deployment],
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta> {
    let key = names::predictor_key(sdep, predictor);
    deployments
        .iter()
        .filter_map(|d| d.spec.as_ref()?.template.metadata.as_ref())
        .find(|m| {
            m.labels
                .as_ref()
                .is_some_and(|l| l.get("seldon-app") == Some(&key))
        })
}

impl Guard {
    /// The guard of `predictor` for the policies of `config`; problems in the annotation
    /// are returned.
    pub(crate) fn for_predictor(
        config: &Config,
        sdep: &SeldonDeployment,
        predictor: &PredictorSpec,
        deployments: &[Deployment],
        (port, grpc_port): (u16, u16),
    ) -> (Guard, Vec<Diagnostic>) {
        let mut problems = Vec::new();
        let pod = engine_pod(sdep, predictor, deployments);
        let workload = Workload {
            namespace: names::namespace(sdep).to_string(),
            labels: pod.and_then(|m| m.labels.clone()).unwrap_or_default(),
            root_namespace: sluice_mesh::Proxy::default().root_namespace,
        };
        let mut excluded = BTreeSet::new();
        if let Some(value) = pod
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(EXCLUDE_INBOUND_PORTS))
        {
            for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match item.parse::<u16>() {
                    Ok(p) => {
                        excluded.insert(p);
                    }
                    Err(_) => problems.push(
                        Diagnostic::error(
                            sluice_api::document::FieldPath::parse(&format!(
                                "spec.predictors[name={}].componentSpecs[0].metadata.annotations",
                                predictor.name
                            )),
                            format!("{EXCLUDE_INBOUND_PORTS}: {item:?} is not a port; write ports separated by commas, e.g. \"8000,6000\""),
                        )
                        .in_object(sluice_api::ObjectRef::of("SeldonDeployment", &sdep.metadata)),
                    ),
                }
            }
        }
        // The policies were checked with the gateway's compile; only selection happens here.
        let mut ignored = Vec::new();
        let security = Security::compile(
            &workload,
            &config.request_authentications,
            &config.authorization_policies,
            false,
            &mut ignored,
        );
        (
            Guard {
                workload,
                port,
                grpc_port,
                security,
                excluded,
            },
            problems,
        )
    }

    /// Run the sidecar's filters for a request from `peer`: Istio's 401/403 when refused
    /// (as a gRPC status for a gRPC request, which reaches the pod's gRPC port).
    pub(crate) fn check(
        &self,
        parts: &mut Parts,
        peer: SocketAddr,
        jwks: &sluice_gateway::jwks::Jwks,
    ) -> Option<Response<sluice_gateway::Body>> {
        let grpc = sluice_engine::grpc::is_grpc(&parts.headers);
        let port = if grpc { self.grpc_port } else { self.port };
        if self.security.is_empty() || self.excluded.contains(&port) {
            return None;
        }
        let connection = Connection {
            peer,
            local: SocketAddr::from(([127, 0, 0, 1], port)),
            port,
            scheme: Scheme::Http,
            sni: None,
            peer_principal: None,
            num_trusted_proxies: 0,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match self.security.check(parts, &connection, now, &|uri| jwks.get(uri)) {
            Ok(_) => None,
            Err(reply) => Some(sluice_gateway::local_reply(&reply, grpc)),
        }
    }
}
