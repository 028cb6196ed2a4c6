//! The route table: Gateways bound to listener ports, virtual hosts built from the
//! VirtualServices bound to them, and the per-request decision (spec §2–§4, §9).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, StatusCode};
use rand::Rng;
use sluice_api::istio::{Gateway, VirtualService};

use crate::compile::{self, Server};
use crate::config::{Config, Proxy};
use crate::decide;
use crate::diagnostic::{self, Diagnostic, ObjectRef};
use crate::host;
use crate::index::RouteIndex;
use crate::matcher::RequestView;
use crate::path;
use crate::reuse::{Compiling, Indexes, Reuse, Swaps};
use crate::route::{Decision, Reply, Route, Scheme};
use crate::security::Security;
use crate::tls::{self, ServerTls};

/// One virtual host: a domain (exact, `*.suffix` or `*`) and its ordered routes.
#[derive(Clone, Debug)]
pub struct VirtualHost {
    /// Lower-case domain.
    pub domain: String,
    /// Routes, first match wins (catch-alls last).
    pub routes: Vec<Arc<Route>>,
    /// `httpsRedirect`: plain-HTTP requests get 301 to https.
    pub require_tls: bool,
    /// `routes` indexed by what they match, built with them (or kept from the last
    /// compile, when they match what its routes matched).
    pub(crate) index: Arc<RouteIndex>,
}

impl VirtualHost {
    /// The virtual host of `domain` with `routes` in match order.
    pub fn new(domain: String, routes: Vec<Arc<Route>>, require_tls: bool) -> Self {
        let index = Arc::new(RouteIndex::build(routes.iter().map(|r| &r.matcher)));
        VirtualHost {
            domain,
            routes,
            require_tls,
            index,
        }
    }

    /// Whether `other` uses this virtual host's very route index: a compile keeps the last
    /// one's index while the routes match what they matched (for tests).
    #[doc(hidden)]
    pub fn shares_index_with(&self, other: &VirtualHost) -> bool {
        Arc::ptr_eq(&self.index, &other.index)
    }

    /// The first route `request` matches, in Istio's order, found without testing the
    /// routes that cannot match it (see [`crate::index`]).
    pub fn first_match(&self, request: &RequestView<'_>) -> Option<&Arc<Route>> {
        let matches = |i: usize| self.routes.get(i).is_some_and(|r| r.matcher.matches(request));
        self.index
            .first(request, matches)
            .and_then(|i| self.routes.get(i))
    }
}

/// The virtual hosts of one listener port.
#[derive(Clone, Debug, Default)]
pub struct Listener {
    /// Virtual hosts of the plain-text servers.
    pub virtual_hosts: Vec<VirtualHost>,
    /// The TLS servers of the port (Envoy's filter chains), chosen by SNI; when there are
    /// any, the port speaks only TLS.
    pub tls: Vec<TlsChain>,
    /// `Gateway ns/name` of each server on this port, for `explain`.
    pub servers: Vec<String>,
}

/// One TLS server of a port: the server names it answers, its TLS, its own routes
/// (spec §3.3, C82: a connection for one server never reaches another's routes).
#[derive(Clone, Debug)]
pub struct TlsChain {
    /// Lower-case server names (`*.example.com` allowed); empty: any SNI, also none.
    pub server_names: Vec<String>,
    /// How TLS is terminated.
    pub tls: ServerTls,
    /// Its virtual hosts.
    pub virtual_hosts: Vec<VirtualHost>,
}

impl Listener {
    /// The TLS server for a ClientHello's SNI: an exact name, then the longest wildcard,
    /// then a server for any name; `None`: the handshake is refused.
    pub fn chain_for(&self, sni: Option<&str>) -> Option<usize> {
        let sni = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase());
        if let Some(sni) = &sni {
            if let Some(i) = self
                .tls
                .iter()
                .position(|c| c.server_names.iter().any(|n| n == sni))
            {
                return Some(i);
            }
            let wildcard = self
                .tls
                .iter()
                .enumerate()
                .flat_map(|(i, c)| c.server_names.iter().map(move |n| (i, n)))
                .filter(|(_, n)| {
                    n.strip_prefix('*')
                        .is_some_and(|suffix| sni.ends_with(suffix) && sni.len() > suffix.len())
                })
                .max_by_key(|(_, n)| n.len());
            if let Some((i, _)) = wildcard {
                return Some(i);
            }
        }
        self.tls.iter().position(|c| c.server_names.is_empty())
    }
}

/// The compiled routing of one gateway. Immutable; swap a new one in to reconfigure.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    listeners: BTreeMap<u16, Listener>,
    /// The RequestAuthentications and AuthorizationPolicies that apply at this gateway.
    security: Arc<Security>,
}

const HTTP_PROTOCOLS: &[&str] = &["HTTP", "HTTP2", "GRPC", "GRPC-WEB"];

/// A Gateway server selected by this proxy.
struct BoundServer<'a> {
    /// Its Gateway's `namespace/name`.
    gateway: String,
    /// The Gateway, for diagnostics.
    object: ObjectRef,
    /// `spec.servers[i]`.
    at: String,
    server: &'a sluice_api::istio::Server,
    /// For an HTTPS server, its TLS.
    tls: Option<ServerTls>,
}

impl RouteTable {
    /// Compile the configuration for `proxy`. Errors are problems Istio would reject;
    /// callers should not serve a table compiled with errors.
    pub fn compile(proxy: &Proxy, config: &Config) -> (RouteTable, Vec<Diagnostic>) {
        Self::compile_reusing(proxy, config, &mut Reuse::default())
    }

    /// [`RouteTable::compile`], reusing what the last compile with `reuse` made of the
    /// objects that are unchanged (the same `Arc`s), and keeping this compile's for the next.
    pub fn compile_reusing(
        proxy: &Proxy,
        config: &Config,
        reuse: &mut Reuse,
    ) -> (RouteTable, Vec<Diagnostic>) {
        Self::compile_selecting(proxy, config, false, reuse)
    }

    /// Every problem Istio's admission or the local gateway would refuse, in every
    /// resource — also Gateways that do not select `proxy` (`sluice validate`).
    pub fn check(proxy: &Proxy, config: &Config) -> Vec<Diagnostic> {
        Self::compile_selecting(proxy, config, true, &mut Reuse::default()).1
    }

    fn compile_selecting(
        proxy: &Proxy,
        config: &Config,
        every_gateway: bool,
        reuse: &mut Reuse,
    ) -> (RouteTable, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let mut compiling = reuse.start(proxy, config, &mut diagnostics);
        let secrets: tls::Secrets<'_> = config
            .secrets
            .iter()
            .map(|s| {
                let ns = s
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_string());
                ((ns, s.metadata.name.clone().unwrap_or_default()), &**s)
            })
            .collect();
        let servers = servers_by_port(proxy, &config.gateways, &secrets, every_gateway, &mut diagnostics);
        let bound = ordered_virtual_services(proxy, &config.virtual_services, &mut diagnostics);
        let mut reported = BTreeSet::new();
        let listeners: BTreeMap<u16, Listener> = servers
            .iter()
            .map(|(port, port_servers)| {
                let listener = listener(
                    proxy,
                    *port,
                    port_servers,
                    &bound,
                    &mut compiling,
                    &mut diagnostics,
                    &mut reported,
                );
                (*port, listener)
            })
            .collect();
        // Every VirtualService is checked whole, as Istio's admission does: also the match
        // blocks no server uses and the VirtualServices no server binds.
        for (_, vs, ..) in &bound {
            let ctx = Server {
                gateway: "",
                port: 0,
                proxy,
                check_only: true,
            };
            compiling.routes(vs, &ctx, &mut diagnostics, true);
        }
        reuse.finish(compiling);
        let security = Security::compile(
            &proxy.workload(),
            &config.request_authentications,
            &config.authorization_policies,
            every_gateway,
            &mut diagnostics,
        );
        // Principals come from client certificates: at a gateway without mutual TLS no
        // request has one, so such a rule never matches (Istio's best practices).
        let mutual = listeners.values().any(|l: &Listener| {
            l.tls
                .iter()
                .any(|c| c.tls.client_auth != crate::tls::ClientAuth::None)
        });
        if !mutual {
            for p in security
                .authz
                .policies()
                .iter()
                .filter(|p| p.needs_peer_identity())
            {
                diagnostics.push(diagnostic::warning(
                    &p.object,
                    "spec.rules",
                    "principals and namespaces come from client certificates, and no server of this gateway asks for one (tls.mode MUTUAL or OPTIONAL_MUTUAL): these conditions never match here",
                ));
            }
        }
        // One report per problem, in the order found.
        let mut seen = BTreeSet::new();
        diagnostics
            .retain(|d| seen.insert((d.severity, d.object.clone(), d.path.clone(), d.message.clone())));
        (
            RouteTable {
                listeners,
                security: Arc::new(security),
            },
            diagnostics,
        )
    }

    /// This table with the routes of `swaps` replaced (by address); a virtual host's index
    /// is kept when its routes match what they matched, built again otherwise, and kept in
    /// `indexes` for the next compile.
    pub(crate) fn with_routes_swapped(&self, swaps: &Swaps, indexes: &mut Indexes) -> RouteTable {
        let mut table = self.clone();
        for (&port, listener) in &mut table.listeners {
            swap_routes(&mut listener.virtual_hosts, (port, 0), swaps, indexes);
            for (n, chain) in listener.tls.iter_mut().enumerate() {
                swap_routes(&mut chain.virtual_hosts, (port, n + 1), swaps, indexes);
            }
        }
        table
    }

    /// A table from listeners built elsewhere (the sidecar view).
    pub(crate) fn from_listeners(listeners: BTreeMap<u16, Listener>) -> Self {
        RouteTable {
            listeners,
            security: Arc::default(),
        }
    }

    /// The same table with only the listeners of `ports`.
    pub fn only_ports(&self, ports: &BTreeSet<u16>) -> RouteTable {
        RouteTable {
            listeners: self
                .listeners
                .iter()
                .filter(|(p, _)| ports.contains(p))
                .map(|(p, l)| (*p, l.clone()))
                .collect(),
            security: self.security.clone(),
        }
    }

    /// The security filters that run before routing at this gateway.
    pub fn security(&self) -> &Arc<Security> {
        &self.security
    }

    /// The listener ports of this table.
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.listeners.keys().copied()
    }

    /// The listener of `port`, for `explain` and `config_dump`.
    pub fn listener(&self, port: u16) -> Option<&Listener> {
        self.listeners.get(&port)
    }

    /// Decide what to do with a request that arrived on `port` over `scheme`.
    pub fn route(&self, port: u16, scheme: Scheme, parts: &Parts, rng: &mut impl Rng) -> Decision {
        self.route_on(port, None, scheme, parts, rng)
    }

    /// Decide what to do with a request that arrived on `port`, on the TLS server `chain`
    /// of that port when the connection is TLS (see [`Listener::chain_for`]).
    pub fn route_on(
        &self,
        port: u16,
        chain: Option<usize>,
        scheme: Scheme,
        parts: &Parts,
        rng: &mut impl Rng,
    ) -> Decision {
        let reply = |status: StatusCode| Decision::reply(Reply::new(status, ""));
        let Some(listener) = self.listeners.get(&port) else {
            return reply(StatusCode::NOT_FOUND);
        };
        let virtual_hosts = match chain {
            None => &listener.virtual_hosts,
            Some(i) => match listener.tls.get(i) {
                Some(c) => &c.virtual_hosts,
                None => return reply(StatusCode::NOT_FOUND),
            },
        };
        let Ok(target) = path::normalize(&parts.uri) else {
            return reply(StatusCode::BAD_REQUEST);
        };
        let authority = authority(parts);
        let Some(vh) = select_virtual_host(virtual_hosts, authority) else {
            return reply(StatusCode::NOT_FOUND);
        };
        if vh.require_tls && scheme != Scheme::Https {
            let mut r = Reply::new(StatusCode::MOVED_PERMANENTLY, "");
            let location = format!("https://{authority}{}", target.path_and_query());
            if let Ok(location) = HeaderValue::try_from(location) {
                r.headers.push((http::header::LOCATION, location));
            }
            return Decision::reply(r);
        }
        let view = RequestView::new(parts, &target, authority, scheme);
        let Some(route) = vh.first_match(&view) else {
            return reply(StatusCode::NOT_FOUND);
        };
        decide::decide(route, &view, port, &target, rng)
    }
}

/// The servers of the Gateways that select `proxy`, by port, with each server's checks.
fn servers_by_port<'a>(
    proxy: &Proxy,
    gateways: &'a [Arc<Gateway>],
    secrets: &tls::Secrets<'_>,
    every_gateway: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<u16, Vec<BoundServer<'a>>> {
    let mut servers: BTreeMap<u16, Vec<BoundServer<'a>>> = BTreeMap::new();
    for gw in gateways {
        if !every_gateway
            && !gw
                .spec
                .selector
                .iter()
                .all(|(k, v)| proxy.labels.get(k) == Some(v))
        {
            continue;
        }
        let resource = ObjectRef::of("Gateway", &gw.metadata);
        if gw.spec.servers.is_empty() {
            diagnostics.push(diagnostic::error(
                &resource,
                "spec.servers",
                "a Gateway needs at least one server",
            ));
        }
        let mut names = BTreeSet::new();
        for (i, server) in gw.spec.servers.iter().enumerate() {
            let at = format!("spec.servers[{i}]");
            if !names.insert(server.port.name.as_str()) {
                diagnostics.push(diagnostic::error(
                    &resource,
                    format!("{at}.port.name"),
                    "port names must be unique within a Gateway",
                ));
            }
            if server.hosts.is_empty() {
                diagnostics.push(diagnostic::error(
                    &resource,
                    format!("{at}.hosts"),
                    "a server needs at least one host",
                ));
            }
            let protocol = server.port.protocol.to_ascii_uppercase();
            let Ok(port) = u16::try_from(server.port.number) else {
                diagnostics.push(diagnostic::error(
                    &resource,
                    format!("{at}.port.number"),
                    "a port number is between 1 and 65535",
                ));
                continue;
            };
            let bound = |tls| BoundServer {
                gateway: gateway_id(gw),
                object: resource.clone(),
                at: at.clone(),
                server,
                tls,
            };
            if HTTP_PROTOCOLS.contains(&protocol.as_str()) {
                let only_redirect = server.tls.as_ref().is_none_or(|t| {
                    *t == sluice_api::istio::ServerTlsSettings {
                        https_redirect: t.https_redirect,
                        ..Default::default()
                    }
                });
                if !only_redirect {
                    diagnostics.push(diagnostic::error(
                        &resource,
                        format!("{at}.tls"),
                        format!(
                            "a {protocol} server takes only tls.httpsRedirect; to terminate TLS on this port use protocol HTTPS"
                        ),
                    ));
                    continue;
                }
                servers.entry(port).or_default().push(bound(None));
            } else if protocol == "HTTPS" {
                if let Some(tls) =
                    tls::server_tls(&resource, &at, server, &proxy.namespace, secrets, diagnostics)
                {
                    servers.entry(port).or_default().push(bound(Some(tls)));
                }
            } else if ["TCP", "TLS", "MONGO", "REDIS", "MYSQL"].contains(&protocol.as_str()) {
                diagnostics.push(diagnostic::warning(
                    &resource,
                    format!("{at}.port.protocol"),
                    "TCP and TLS passthrough servers are not served by the local gateway; this server is skipped",
                ));
            } else {
                diagnostics.push(diagnostic::error(
                    &resource,
                    format!("{at}.port.protocol"),
                    format!(
                        "unknown protocol {:?}; use HTTP, HTTP2, GRPC, GRPC-WEB, HTTPS, TCP or TLS",
                        server.port.protocol
                    ),
                ));
            }
        }
    }
    servers
}

/// The listener of one port: the plain-text servers' virtual hosts, or one TLS chain per
/// HTTPS server; a plain and a TLS server cannot share a port (the later is dropped,
/// spec §3.5), nor can two TLS servers with the same host.
fn listener(
    proxy: &Proxy,
    port: u16,
    port_servers: &[BoundServer<'_>],
    bound: &[Bound<'_>],
    compiling: &mut Compiling,
    diagnostics: &mut Vec<Diagnostic>,
    reported: &mut BTreeSet<usize>,
) -> Listener {
    let is_tls = port_servers.first().is_some_and(|s| s.tls.is_some());
    let mut kept: Vec<&BoundServer<'_>> = Vec::new();
    for s in port_servers {
        if s.tls.is_some() != is_tls {
            diagnostics.push(diagnostic::warning(
                &s.object,
                format!("{}.port", s.at),
                format!(
                    "port {port} is already served {} by another server; a plain-text and a TLS server cannot share a port, so this server is skipped (as Istio does)",
                    if is_tls { "with TLS" } else { "in plain text" }
                ),
            ));
            continue;
        }
        kept.push(s);
    }
    let mut listener = Listener {
        servers: kept.iter().map(|s| format!("Gateway {}", s.gateway)).collect(),
        ..Listener::default()
    };
    if !is_tls {
        listener.virtual_hosts =
            virtual_hosts(proxy, (port, 0), &kept, bound, compiling, diagnostics, reported);
        return listener;
    }
    let mut taken: BTreeSet<String> = BTreeSet::new();
    for s in kept {
        let Some(tls) = &s.tls else { continue };
        let mut names: Vec<String> = s
            .server
            .hosts
            .iter()
            .map(|h| server_host_parts(h, "").1)
            .collect();
        names.sort();
        names.dedup();
        let names = if names.iter().any(|n| n == "*") {
            Vec::new()
        } else {
            names
        };
        let keys: Vec<String> = if names.is_empty() {
            vec!["*".to_string()]
        } else {
            names.clone()
        };
        if let Some(dup) = keys.iter().find(|k| taken.contains(*k)) {
            diagnostics.push(diagnostic::warning(
                &s.object,
                format!("{}.hosts", s.at),
                format!("another TLS server on port {port} already serves {dup}; this server is skipped (as Istio does)"),
            ));
            continue;
        }
        taken.extend(keys);
        let chain = (port, listener.tls.len() + 1);
        let virtual_hosts = virtual_hosts(proxy, chain, &[s], bound, compiling, diagnostics, reported);
        listener.tls.push(TlsChain {
            server_names: names,
            tls: tls.clone(),
            virtual_hosts,
        });
    }
    listener
}

/// The virtual hosts of some servers of one port: each server host intersected with the
/// hosts of the VirtualServices bound to its Gateway, routes in Istio's order (catch-alls
/// last). `chain` is the port and which of its sets of virtual hosts this is (0: the plain
/// ones; n: the nth TLS chain's), so that each keeps its own route indexes.
fn virtual_hosts(
    proxy: &Proxy,
    chain: (u16, usize),
    port_servers: &[&BoundServer<'_>],
    bound: &[Bound<'_>],
    compiling: &mut Compiling,
    diagnostics: &mut Vec<Diagnostic>,
    reported: &mut BTreeSet<usize>,
) -> Vec<VirtualHost> {
    let port = chain.0;
    let mut vhosts: BTreeMap<String, VirtualHost> = BTreeMap::new();
    let mut seen: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for bs in port_servers {
        let (gw_id, server) = (&bs.gateway, bs.server);
        let gw_ns = gw_id.split('/').next().unwrap_or("");
        let redirect = server.tls.as_ref().and_then(|t| t.https_redirect) == Some(true);
        for server_host in &server.hosts {
            let (filter, pattern) = server_host_parts(server_host, gw_ns);
            if redirect {
                vhost(&mut vhosts, &pattern).require_tls = true;
            }
            for (index, vs, gateways, vs_hosts) in bound {
                let vs_ns = vs.metadata.namespace.as_deref().unwrap_or("default");
                if !gateways.contains(gw_id) || filter.as_deref().is_some_and(|f| f != vs_ns) {
                    continue;
                }
                for vs_host in vs_hosts {
                    let Some(name) = host::intersect(&pattern, vs_host) else {
                        continue;
                    };
                    if !seen.entry(name.clone()).or_default().insert(*index) {
                        continue;
                    }
                    let ctx = Server {
                        gateway: gw_id,
                        port,
                        proxy,
                        check_only: false,
                    };
                    let routes = compiling.routes(vs, &ctx, diagnostics, reported.insert(*index));
                    let vh = vhost(&mut vhosts, &name);
                    vh.routes.extend(routes);
                    // Every virtual host of an httpsRedirect server redirects.
                    vh.require_tls |= redirect;
                }
            }
        }
    }
    vhosts
        .into_values()
        .map(|vh| {
            let routes = catch_alls_last(vh.routes);
            let index = compiling.index(chain, &vh.domain, &routes);
            VirtualHost {
                domain: vh.domain,
                routes,
                require_tls: vh.require_tls,
                index,
            }
        })
        .collect()
}

/// Replace the routes of `swaps` in `vhosts`, the virtual hosts of `chain` (see
/// [`RouteTable::with_routes_swapped`]).
fn swap_routes(vhosts: &mut [VirtualHost], chain: (u16, usize), swaps: &Swaps, indexes: &mut Indexes) {
    for vh in vhosts {
        let (mut swapped, mut rematched) = (false, false);
        for route in &mut vh.routes {
            if let Some(now) = swaps.get(&(Arc::as_ptr(route) as usize)) {
                rematched |= now.matcher != route.matcher;
                *route = now.clone();
                swapped = true;
            }
        }
        if !swapped {
            continue;
        }
        if rematched {
            vh.index = Arc::new(RouteIndex::build(vh.routes.iter().map(|r| &r.matcher)));
        }
        indexes.insert((chain, vh.domain.clone()), (vh.routes.clone(), vh.index.clone()));
    }
}

/// `routes` with the catch-alls moved last, keeping their order (Istio's SortVHostRoutes).
pub(crate) fn catch_alls_last(routes: Vec<Arc<Route>>) -> Vec<Arc<Route>> {
    let (catch_all, specific): (Vec<_>, Vec<_>) = routes.into_iter().partition(|r| r.matcher.is_catch_all());
    specific.into_iter().chain(catch_all).collect()
}

fn gateway_id(gw: &Gateway) -> String {
    format!(
        "{}/{}",
        gw.metadata.namespace.as_deref().unwrap_or("default"),
        gw.metadata.name.as_deref().unwrap_or("")
    )
}

/// A server host `ns/host`: the namespace filter (`None` = any) and the host pattern.
fn server_host_parts(value: &str, gateway_namespace: &str) -> (Option<String>, String) {
    match value.split_once('/') {
        Some(("*", h)) => (None, h.to_ascii_lowercase()),
        Some((".", h)) => (Some(gateway_namespace.to_string()), h.to_ascii_lowercase()),
        Some((ns, h)) => (Some(ns.to_string()), h.to_ascii_lowercase()),
        None => (None, value.to_ascii_lowercase()),
    }
}

fn vhost<'a>(vhosts: &'a mut BTreeMap<String, VirtualHost>, domain: &str) -> &'a mut VirtualHost {
    vhosts
        .entry(domain.to_string())
        .or_insert_with(|| VirtualHost::new(domain.to_string(), Vec::new(), false))
}

type Bound<'a> = (usize, &'a Arc<VirtualService>, Vec<String>, Vec<String>);

/// VirtualServices visible to the proxy with their resolved gateways and hosts, in
/// Istio's order: private to the proxy's namespace first, then by creation time, name, namespace.
fn ordered_virtual_services<'a>(
    proxy: &Proxy,
    all: &'a [Arc<VirtualService>],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Bound<'a>> {
    let mut out: Vec<(bool, Bound<'a>)> = Vec::new();
    for (index, vs) in all.iter().enumerate() {
        let ns = vs.metadata.namespace.as_deref().unwrap_or("default");
        // Made only for a problem: most VirtualServices have none.
        let resource = || compile::object(vs);
        let export = &vs.spec.export_to;
        let visible = export.is_empty()
            || export
                .iter()
                .any(|e| e == "*" || *e == proxy.namespace || (e == "." && ns == proxy.namespace));
        if !visible {
            continue;
        }
        if vs.spec.hosts.is_empty() {
            diagnostics.push(diagnostic::warning(
                &resource(),
                "spec.hosts",
                "a VirtualService without hosts is a delegate, and delegates are not supported by the local gateway yet; it is skipped",
            ));
            continue;
        }
        let private = export
            .iter()
            .any(|e| *e == proxy.namespace || (e == "." && ns == proxy.namespace));
        let gateways: Vec<String> = if vs.spec.gateways.is_empty() {
            vec!["mesh".to_string()]
        } else {
            vs.spec
                .gateways
                .iter()
                .map(|g| host::resolve_gateway(g, ns))
                .collect()
        };
        let mut hosts = Vec::new();
        for h in &vs.spec.hosts {
            let resolved = host::resolve_short(h, ns, &proxy.cluster_domain);
            if hosts.contains(&resolved) {
                diagnostics.push(diagnostic::error(
                    &resource(),
                    "spec.hosts",
                    format!("duplicate host {resolved:?}"),
                ));
            }
            hosts.push(resolved);
        }
        if !vs.spec.tcp.is_empty() || !vs.spec.tls.is_empty() {
            diagnostics.push(diagnostic::warning(
                &resource(),
                "spec.tcp",
                "tcp and tls routes are not served by the local gateway; they are skipped",
            ));
        }
        out.push((!private, (index, vs, gateways, hosts)));
    }
    out.sort_by(|(a_public, a), (b_public, b)| {
        let key = |vs: &'a VirtualService| {
            (
                vs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                vs.metadata.name.as_deref().unwrap_or_default(),
                vs.metadata.namespace.as_deref().unwrap_or_default(),
            )
        };
        (a_public, key(a.1)).cmp(&(b_public, key(b.1)))
    });
    out.into_iter().map(|(_, b)| b).collect()
}

/// The request authority: `:authority` (HTTP/2) or `Host`.
pub(crate) fn authority(parts: &Parts) -> &str {
    parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or_default()
}

/// Envoy's virtual host search: exact domain, then the longest `*.suffix`, then `*`;
/// the port is ignored and the comparison is case-insensitive (domains are lower-case).
pub fn select_virtual_host<'a>(vhosts: &'a [VirtualHost], authority: &str) -> Option<&'a VirtualHost> {
    let host = strip_port(authority);
    if let Some(exact) = vhosts.iter().find(|v| v.domain.eq_ignore_ascii_case(host)) {
        return Some(exact);
    }
    let under = |domain: &str| {
        domain.strip_prefix('*').is_some_and(|suffix| {
            host.len() > suffix.len()
                && host.as_bytes()[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
        })
    };
    vhosts
        .iter()
        .filter(|v| v.domain.starts_with("*.") && under(&v.domain))
        .max_by_key(|v| v.domain.len())
        .or_else(|| vhosts.iter().find(|v| v.domain == "*"))
}

pub(crate) fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}
