//! What the route table is compiled from: the gateway's own identity and the Istio resources.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_api::istio::{
    AuthorizationPolicy, DestinationRule, Gateway, RequestAuthentication, ServiceEntry, VirtualService,
};

/// The gateway workload this table is for (Istio's "proxy"): Gateways select it by
/// labels, VirtualServices must be exported to its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    /// The gateway workload's namespace.
    pub namespace: String,
    /// The gateway workload's labels.
    pub labels: BTreeMap<String, String>,
    /// Istio's root namespace.
    pub root_namespace: String,
    /// The cluster's DNS domain, for short host names.
    pub cluster_domain: String,
}

impl Default for Proxy {
    /// Istio's default ingress gateway: `istio-system`, `istio: ingressgateway`.
    fn default() -> Self {
        Proxy {
            namespace: "istio-system".to_string(),
            labels: BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]),
            root_namespace: "istio-system".to_string(),
            cluster_domain: "cluster.local".to_string(),
        }
    }
}

/// The Istio resources to compile, shared with the loader (a reload reuses unchanged ones).
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Gateways; those whose selector matches the proxy apply.
    pub gateways: Vec<Arc<Gateway>>,
    /// VirtualServices; those bound to an applying Gateway and exported to the proxy apply.
    pub virtual_services: Vec<Arc<VirtualService>>,
    /// DestinationRules: subsets and traffic policies of destinations.
    pub destination_rules: Vec<Arc<DestinationRule>>,
    /// The service registry: hosts, ports and endpoints.
    pub service_entries: Vec<Arc<ServiceEntry>>,
    /// JWT rules; those selecting the proxy (or in the root namespace) apply at it.
    pub request_authentications: Vec<Arc<RequestAuthentication>>,
    /// Authorization policies; selected like RequestAuthentications.
    pub authorization_policies: Vec<Arc<AuthorizationPolicy>>,
    /// Kubernetes Secrets: the certificates of TLS servers (`credentialName`).
    pub secrets: Vec<Arc<sluice_api::k8s_openapi::api::core::v1::Secret>>,
}

impl Proxy {
    /// The workload security policies are selected for.
    pub fn workload(&self) -> crate::security::Workload {
        crate::security::Workload {
            namespace: self.namespace.clone(),
            labels: self.labels.clone(),
            root_namespace: self.root_namespace.clone(),
        }
    }
}
