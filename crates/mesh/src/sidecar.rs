//! In-mesh routing: what a client's sidecar does with requests to a service — the
//! VirtualServices bound to the `mesh` gateway, or straight to the service when none
//! applies (Istio's outbound listeners, one per service port).

use std::collections::BTreeMap;

use sluice_api::istio::VirtualService;

use crate::cluster::Registry;
use crate::compile::{self, Server};
use crate::config::{Config, Proxy};
use crate::diagnostic::Diagnostic;
use crate::host;
use crate::matcher::RequestMatch;
use crate::policy::{HeaderOps, RetryPolicy};
use crate::route::{Destination, ForwardAction, Origin, Route, RouteAction};
use crate::table::{Listener, RouteTable, VirtualHost};

impl RouteTable {
    /// The outbound routing of a sidecar: one listener per service port; a virtual host per
    /// service (answering its FQDN and the short forms `name`, `name.ns`, `name.ns.svc`) whose
    /// routes come from the mesh-bound VirtualServices for that host, or, without one, a
    /// single route to the service itself.
    pub fn compile_mesh(proxy: &Proxy, config: &Config) -> (RouteTable, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let mut registry = Registry::build(
            proxy,
            &config.service_entries,
            &config.destination_rules,
            &mut diagnostics,
        );
        let bound: Vec<(&VirtualService, Vec<String>)> = config
            .virtual_services
            .iter()
            .filter(|vs| {
                let ns = vs.metadata.namespace.as_deref().unwrap_or("default");
                vs.spec.gateways.is_empty()
                    || vs
                        .spec
                        .gateways
                        .iter()
                        .any(|g| host::resolve_gateway(g, ns) == "mesh")
            })
            .map(|vs| {
                let ns = vs.metadata.namespace.as_deref().unwrap_or("default");
                let hosts = vs
                    .spec
                    .hosts
                    .iter()
                    .map(|h| host::resolve_short(h, ns, &proxy.cluster_domain))
                    .collect();
                (&**vs, hosts)
            })
            .collect();
        let mut listeners: BTreeMap<u16, Listener> = BTreeMap::new();
        for (service, namespace, port) in registry.service_ports() {
            let server = Server {
                gateway: "mesh",
                port,
                proxy,
                check_only: false,
            };
            let mut routes = Vec::new();
            for (vs, hosts) in &bound {
                if hosts.iter().any(|h| host::covers(h, &service)) {
                    routes.extend(compile::routes(
                        vs,
                        &server,
                        &mut registry,
                        &mut diagnostics,
                        false,
                    ));
                }
            }
            if routes.is_empty() {
                routes.push(std::sync::Arc::new(direct_route(&service, port, &mut registry)));
            }
            let indexed = VirtualHost::new(String::new(), crate::table::catch_alls_last(routes), false);
            let listener = listeners.entry(port).or_default();
            listener.servers = vec!["mesh (sidecar outbound)".to_string()];
            for domain in aliases(&service, &namespace, &proxy.cluster_domain) {
                listener.virtual_hosts.push(VirtualHost {
                    domain,
                    ..indexed.clone()
                });
            }
        }
        (RouteTable::from_listeners(listeners), diagnostics)
    }
}

/// A route to the service itself, as a sidecar sends traffic no VirtualService claims.
fn direct_route(service: &str, port: u16, registry: &mut Registry) -> Route {
    Route {
        origin: std::sync::Arc::new(Origin {
            resource: format!("service {service}:{port}"),
            http_index: 0,
            match_index: None,
            name: None,
        }),
        matcher: RequestMatch::any(),
        action: RouteAction::Forward(std::sync::Arc::new(ForwardAction {
            destinations: vec![Destination {
                weight: 1,
                cluster: registry.cluster(service, None, port),
                label: format!("{service}:{port}"),
                request_headers: HeaderOps::default(),
                response_headers: HeaderOps::default(),
                authority: None,
            }],
            rewrite: None,
            authority: None,
            request_headers: HeaderOps::default(),
            timeout: None,
            retry: RetryPolicy::default(),
            mirrors: Vec::new(),
            response_headers: HeaderOps::default(),
        })),
        fault: None,
        cors: None,
        response_headers: HeaderOps::default(),
    }
}

/// The names a client in the mesh may use for `name.ns.svc.<domain>`.
fn aliases(service: &str, namespace: &str, domain: &str) -> Vec<String> {
    let suffix = format!(".{namespace}.svc.{domain}");
    match service.strip_suffix(&suffix) {
        Some(name) if !name.contains('.') => vec![
            service.to_string(),
            name.to_string(),
            format!("{name}.{namespace}"),
            format!("{name}.{namespace}.svc"),
        ],
        _ => vec![service.to_string()],
    }
}
