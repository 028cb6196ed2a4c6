//! The route table: Gateways bound to listener ports, virtual hosts built from the
//! VirtualServices bound to them, and the per-request decision (spec §2–§4, §9).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use http::request::Parts;
use rand::{Rng, RngExt};
use sluice_api::istio::{Gateway, VirtualService};

use crate::cluster::Registry;
use crate::compile::{self, Server};
use crate::config::{Config, Proxy};
use crate::diagnostic::Diagnostic;
use crate::host;
use crate::matcher::RequestView;
use crate::path;
use crate::route::{Action, Decision, Forward, RedirectPort, Reply, Route, RouteAction};

/// One virtual host: a domain (exact, `*.suffix` or `*`) and its ordered routes.
#[derive(Clone, Debug)]
pub struct VirtualHost {
    /// Lower-case domain.
    pub domain: String,
    /// Routes, first match wins (catch-alls last).
    pub routes: Vec<Arc<Route>>,
    /// `httpsRedirect`: plain-HTTP requests get 301 to https.
    pub require_tls: bool,
}

/// The virtual hosts of one listener port.
#[derive(Clone, Debug, Default)]
pub struct Listener {
    /// Virtual hosts.
    pub virtual_hosts: Vec<VirtualHost>,
    /// `Gateway ns/name` of each server on this port, for `explain`.
    pub servers: Vec<String>,
}

/// The compiled routing of one gateway. Immutable; swap a new one in to reconfigure.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    listeners: BTreeMap<u16, Listener>,
}

const HTTP_PROTOCOLS: &[&str] = &["HTTP", "HTTP2", "GRPC", "GRPC-WEB"];

impl RouteTable {
    /// Compile the configuration for `proxy`. Errors are problems Istio would reject;
    /// callers should not serve a table compiled with errors.
    pub fn compile(proxy: &Proxy, config: &Config) -> (RouteTable, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let mut registry = Registry::build(
            proxy,
            &config.service_entries,
            &config.destination_rules,
            &mut diagnostics,
        );

        // Servers of the Gateways that select this proxy, by port.
        let mut servers: BTreeMap<u16, Vec<(String, &sluice_api::istio::Server)>> = BTreeMap::new();
        for gw in &config.gateways {
            let gw_id = gateway_id(gw);
            let resource = format!("Gateway {gw_id}");
            if !gw
                .spec
                .selector
                .iter()
                .all(|(k, v)| proxy.labels.get(k) == Some(v))
            {
                continue;
            }
            if gw.spec.servers.is_empty() {
                diagnostics.push(Diagnostic::error(
                    &resource,
                    "spec.servers",
                    "a Gateway needs at least one server",
                ));
            }
            let mut names = BTreeSet::new();
            for (i, server) in gw.spec.servers.iter().enumerate() {
                let at = format!("spec.servers[{i}]");
                if !names.insert(server.port.name.as_str()) {
                    diagnostics.push(Diagnostic::error(
                        &resource,
                        format!("{at}.port.name"),
                        "port names must be unique within a Gateway",
                    ));
                }
                if server.hosts.is_empty() {
                    diagnostics.push(Diagnostic::error(
                        &resource,
                        format!("{at}.hosts"),
                        "a server needs at least one host",
                    ));
                }
                let protocol = server.port.protocol.to_ascii_uppercase();
                let Ok(port) = u16::try_from(server.port.number) else {
                    diagnostics.push(Diagnostic::error(
                        &resource,
                        format!("{at}.port.number"),
                        "a port number is between 1 and 65535",
                    ));
                    continue;
                };
                if HTTP_PROTOCOLS.contains(&protocol.as_str()) {
                    servers.entry(port).or_default().push((gw_id.clone(), server));
                } else if protocol == "HTTPS" {
                    diagnostics.push(Diagnostic::error(
                        &resource,
                        format!("{at}.port.protocol"),
                        "HTTPS servers (TLS termination) are not supported by the local gateway yet",
                    ));
                } else if ["TCP", "TLS", "MONGO", "REDIS", "MYSQL"].contains(&protocol.as_str()) {
                    diagnostics.push(Diagnostic::warning(&resource, format!("{at}.port.protocol"), "TCP and TLS passthrough servers are not served by the local gateway; this server is skipped"));
                } else {
                    diagnostics.push(Diagnostic::error(
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

        let bound = ordered_virtual_services(proxy, &config.virtual_services, &mut diagnostics);
        let mut reported = BTreeSet::new();
        let mut listeners = BTreeMap::new();
        for (port, port_servers) in &servers {
            let mut vhosts: BTreeMap<String, VirtualHost> = BTreeMap::new();
            let mut seen: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
            for (gw_id, server) in port_servers {
                let gw_ns = gw_id.split('/').next().unwrap_or("");
                let redirect = server.tls.as_ref().and_then(|t| t.https_redirect) == Some(true);
                for server_host in &server.hosts {
                    let (filter, pattern) = server_host_parts(server_host, gw_ns);
                    if redirect {
                        vhost(&mut vhosts, &pattern).require_tls = true;
                    }
                    for (index, vs, gateways, vs_hosts) in &bound {
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
                                port: *port,
                                proxy,
                                check_only: false,
                            };
                            let routes = compile::routes(
                                vs,
                                &ctx,
                                &mut registry,
                                &mut diagnostics,
                                reported.insert(*index),
                            );
                            let vh = vhost(&mut vhosts, &name);
                            vh.routes.extend(routes);
                            // Every virtual host of an httpsRedirect server redirects.
                            vh.require_tls |= redirect;
                        }
                    }
                }
            }
            let mut virtual_hosts: Vec<VirtualHost> = vhosts.into_values().collect();
            for vh in &mut virtual_hosts {
                // Catch-alls go last, keeping their order (Istio's SortVHostRoutes).
                let (catch_all, specific): (Vec<_>, Vec<_>) =
                    vh.routes.drain(..).partition(|r| r.matcher.is_catch_all());
                vh.routes = specific.into_iter().chain(catch_all).collect();
            }
            listeners.insert(
                *port,
                Listener {
                    virtual_hosts,
                    servers: port_servers.iter().map(|(g, _)| format!("Gateway {g}")).collect(),
                },
            );
        }
        // Every VirtualService is checked whole, as Istio's admission does: also the match
        // blocks no server uses and the VirtualServices no server binds.
        for (_, vs, ..) in &bound {
            let ctx = Server {
                gateway: "",
                port: 0,
                proxy,
                check_only: true,
            };
            compile::routes(vs, &ctx, &mut registry, &mut diagnostics, true);
        }
        // One report per problem, in the order found.
        let mut seen = BTreeSet::new();
        diagnostics
            .retain(|d| seen.insert((d.severity, d.resource.clone(), d.path.clone(), d.message.clone())));
        (RouteTable { listeners }, diagnostics)
    }

    /// A table from listeners built elsewhere (the sidecar view).
    pub(crate) fn from_listeners(listeners: BTreeMap<u16, Listener>) -> Self {
        RouteTable { listeners }
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
        }
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
    pub fn route(&self, port: u16, scheme: &str, parts: &Parts, rng: &mut impl Rng) -> Decision {
        let reply = |status: u16, body: &str| Decision {
            route: None,
            delay: None,
            action: Action::Reply(Reply::new(status, body)),
        };
        let Some(listener) = self.listeners.get(&port) else {
            return reply(404, "");
        };
        let Ok(target) = path::normalize(parts.uri.path_and_query().map_or("/", |p| p.as_str())) else {
            return reply(400, "");
        };
        let authority = authority(parts);
        let Some(vh) = select_virtual_host(&listener.virtual_hosts, &authority) else {
            return reply(404, "");
        };
        if vh.require_tls && scheme != "https" {
            let mut r = Reply::new(301, "");
            r.headers.push((
                "location".into(),
                format!("https://{authority}{}", target.path_and_query()),
            ));
            return Decision {
                route: None,
                delay: None,
                action: Action::Reply(r),
            };
        }
        let view = RequestView::new(parts, &target, &authority, scheme);
        let Some(route) = vh.routes.iter().find(|r| r.matcher.matches(&view)) else {
            return reply(404, "");
        };
        decide(route, &view, port, &target, rng)
    }
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
    vhosts.entry(domain.to_string()).or_insert_with(|| VirtualHost {
        domain: domain.to_string(),
        routes: Vec::new(),
        require_tls: false,
    })
}

type Bound<'a> = (usize, &'a VirtualService, Vec<String>, Vec<String>);

/// VirtualServices visible to the proxy with their resolved gateways and hosts, in
/// Istio's order: private to the proxy's namespace first, then by creation time, name, namespace.
fn ordered_virtual_services<'a>(
    proxy: &Proxy,
    all: &'a [VirtualService],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Bound<'a>> {
    let mut out: Vec<(bool, Bound<'a>)> = Vec::new();
    for (index, vs) in all.iter().enumerate() {
        let ns = vs.metadata.namespace.as_deref().unwrap_or("default");
        let resource = compile::id(vs);
        let export = &vs.spec.export_to;
        let visible = export.is_empty()
            || export
                .iter()
                .any(|e| e == "*" || *e == proxy.namespace || (e == "." && ns == proxy.namespace));
        if !visible {
            continue;
        }
        if vs.spec.hosts.is_empty() {
            diagnostics.push(Diagnostic::warning(
                &resource,
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
                diagnostics.push(Diagnostic::error(
                    &resource,
                    "spec.hosts",
                    format!("duplicate host {resolved:?}"),
                ));
            }
            hosts.push(resolved);
        }
        if !vs.spec.tcp.is_empty() || !vs.spec.tls.is_empty() {
            diagnostics.push(Diagnostic::warning(
                &resource,
                "spec.tcp",
                "tcp and tls routes are not served by the local gateway; they are skipped",
            ));
        }
        out.push((!private, (index, vs, gateways, hosts)));
    }
    out.sort_by(|(a_public, a), (b_public, b)| {
        let key = |vs: &VirtualService| {
            (
                vs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                vs.metadata.name.clone().unwrap_or_default(),
                vs.metadata.namespace.clone().unwrap_or_default(),
            )
        };
        (a_public, key(a.1)).cmp(&(b_public, key(b.1)))
    });
    out.into_iter().map(|(_, b)| b).collect()
}

/// The request authority: `:authority` (HTTP/2) or `Host`.
pub(crate) fn authority(parts: &Parts) -> String {
    parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Envoy's virtual host search: exact domain, then the longest `*.suffix`, then `*`;
/// the port is ignored and the comparison is case-insensitive.
pub fn select_virtual_host<'a>(vhosts: &'a [VirtualHost], authority: &str) -> Option<&'a VirtualHost> {
    let host = strip_port(authority).to_ascii_lowercase();
    if let Some(exact) = vhosts.iter().find(|v| v.domain == host) {
        return Some(exact);
    }
    vhosts
        .iter()
        .filter(|v| v.domain.starts_with("*.") && host::covers(&v.domain, &host))
        .max_by_key(|v| v.domain.len())
        .or_else(|| vhosts.iter().find(|v| v.domain == "*"))
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn fires(rng: &mut impl Rng, percentage: f64) -> bool {
    percentage >= 100.0 || (percentage > 0.0 && rng.random::<f64>() * 100.0 < percentage)
}

/// The decision for a request that matched `route`.
fn decide(
    route: &Route,
    view: &RequestView<'_>,
    port: u16,
    target: &path::Target,
    rng: &mut impl Rng,
) -> Decision {
    let origin = Some(route.origin.clone());
    let mut delay = None;
    if let Some(fault) = &route.fault {
        if let Some((d, pct)) = fault.delay
            && fires(rng, pct)
        {
            delay = Some(d);
        }
        if let Some((abort, pct)) = fault.abort
            && fires(rng, pct)
        {
            let mut reply = Reply::new(500, "fault filter abort");
            match abort {
                crate::policy::Abort::Http(status) => reply.status = status,
                crate::policy::Abort::Grpc(code) => {
                    // gRPC clients get the code; others the HTTP status Envoy maps it to.
                    reply.status = http_status_for_grpc(code);
                    reply.grpc_status = Some(code);
                }
            }
            return Decision {
                route: origin,
                delay,
                action: Action::Reply(reply),
            };
        }
    }

    let mut cors_headers = Vec::new();
    if let (Some(cors), Some(origin_header)) = (&route.cors, view.header("origin").filter(|o| !o.is_empty()))
    {
        let allowed = cors.allows(&origin_header);
        let preflight = view.method == "OPTIONS"
            && view
                .header("access-control-request-method")
                .is_some_and(|m| !m.is_empty());
        if preflight && (allowed || cors.ignore_unmatched_preflights) {
            let mut reply = Reply::new(200, "");
            if allowed {
                reply
                    .headers
                    .push(("access-control-allow-origin".into(), origin_header.clone()));
            }
            for (name, value) in [
                ("access-control-allow-methods", cors.allow_methods.clone()),
                ("access-control-allow-headers", cors.allow_headers.clone()),
                (
                    "access-control-max-age",
                    cors.max_age.map(|s| s.to_string()).unwrap_or_default(),
                ),
            ] {
                if !value.is_empty() {
                    reply.headers.push((name.into(), value));
                }
            }
            if cors.allow_credentials {
                reply
                    .headers
                    .push(("access-control-allow-credentials".into(), "true".into()));
            }
            return Decision {
                route: origin,
                delay,
                action: Action::Reply(reply),
            };
        }
        if allowed && !preflight {
            cors_headers.push(("access-control-allow-origin".to_string(), origin_header));
            if cors.allow_credentials {
                cors_headers.push(("access-control-allow-credentials".into(), "true".into()));
            }
            if !cors.expose_headers.is_empty() {
                cors_headers.push((
                    "access-control-expose-headers".into(),
                    cors.expose_headers.clone(),
                ));
            }
        }
    }

    let action = match &route.action {
        RouteAction::Direct { status, body } => {
            let mut reply = Reply {
                status: *status,
                body: body.clone(),
                headers: cors_headers,
                grpc_status: None,
            };
            if *status == 201 || (300..400).contains(status) {
                reply.headers.push((
                    "location".into(),
                    format!("{}://{}{}", view.scheme, view.authority, target.path_and_query()),
                ));
            }
            apply_response_ops(&mut reply, &route.response_headers);
            Action::Reply(reply)
        }
        RouteAction::Redirect(r) => {
            let mut reply = Reply::new(r.code, "");
            reply.headers = cors_headers;
            reply
                .headers
                .push(("location".into(), redirect_location(r, view, port, target)));
            apply_response_ops(&mut reply, &route.response_headers);
            Action::Reply(reply)
        }
        RouteAction::Forward(f) => {
            let total: u64 = f.destinations.iter().map(|d| u64::from(d.weight)).sum();
            let mut pick = if total > 0 { rng.random_range(0..total) } else { 0 };
            let chosen = f.destinations.iter().find(|d| {
                let weight = u64::from(d.weight);
                if pick < weight {
                    true
                } else {
                    pick -= weight;
                    false
                }
            });
            match chosen.map(|d| (d, d.cluster.clone())) {
                None | Some((_, Err(_))) => Action::Reply(Reply::new(503, "")),
                Some((d, Ok(cluster))) => {
                    let original = target.path_and_query();
                    let path = f
                        .rewrite
                        .as_ref()
                        .map_or_else(|| target.path.clone(), |rw| rw.apply(&target.path));
                    let rewritten = f.rewrite.is_some();
                    let path_and_query = match &target.query {
                        Some(q) => format!("{path}?{q}"),
                        None => path,
                    };
                    // With one destination its header ops run after the route's; with several, before.
                    let (request_headers, response_headers) = if f.destinations.len() == 1 {
                        (
                            vec![f.request_headers.clone(), d.request_headers.clone()],
                            vec![route.response_headers.clone(), d.response_headers.clone()],
                        )
                    } else {
                        (
                            vec![d.request_headers.clone(), f.request_headers.clone()],
                            vec![d.response_headers.clone(), route.response_headers.clone()],
                        )
                    };
                    let mirrors = f
                        .mirrors
                        .iter()
                        .filter(|(_, pct)| fires(rng, *pct))
                        .map(|(c, _)| c.clone())
                        .collect();
                    Action::Forward(Box::new(Forward {
                        cluster,
                        path_and_query,
                        original_path: rewritten.then_some(original),
                        authority: f.authority.clone().or_else(|| d.authority.clone()),
                        request_headers,
                        response_headers,
                        extra_response_headers: cors_headers,
                        timeout: f.timeout,
                        retry: f.retry.clone(),
                        mirrors,
                    }))
                }
            }
        }
    };
    Decision {
        route: origin,
        delay,
        action,
    }
}

/// Envoy's gRPC-to-HTTP status mapping, for gRPC aborts answered to plain HTTP clients.
fn http_status_for_grpc(code: u32) -> u16 {
    match code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

fn apply_response_ops(reply: &mut Reply, ops: &crate::policy::HeaderOps) {
    reply.headers.retain(|(n, _)| !ops.remove.contains(n));
    for (n, v) in &ops.set {
        reply.headers.retain(|(name, _)| name != n);
        reply.headers.push((n.clone(), v.clone()));
    }
    reply.headers.extend(ops.add.iter().cloned());
}

/// Envoy's redirect URL (spec §4.5.2).
fn redirect_location(
    r: &crate::route::Redirect,
    view: &RequestView<'_>,
    port: u16,
    target: &path::Target,
) -> String {
    let scheme = r.scheme.clone().unwrap_or_else(|| view.scheme.to_string());
    let mut host = match &r.authority {
        Some(a) => a.clone(),
        None => {
            let h = view.authority.to_string();
            // Changing scheme drops the old scheme's default port.
            if scheme != view.scheme {
                let old = if view.scheme == "https" { ":443" } else { ":80" };
                h.strip_suffix(old).map(str::to_string).unwrap_or(h)
            } else {
                h
            }
        }
    };
    match r.port {
        RedirectPort::Explicit(p) => host = format!("{}:{p}", strip_port(&host)),
        RedirectPort::FromRequest => {
            // The scheme's default port is not added, but a port in the Host is kept.
            if !((port == 80 && scheme == "http") || (port == 443 && scheme == "https")) {
                host = format!("{}:{port}", strip_port(&host));
            }
        }
        RedirectPort::Default => {}
    }
    let path_and_query = match (&r.uri, &r.prefix_rewrite) {
        (Some(uri), _) if uri.contains('?') => uri.clone(),
        (Some(uri), _) => match &target.query {
            Some(q) => format!("{uri}?{q}"),
            None => uri.clone(),
        },
        (None, Some((len, replacement))) => {
            let rest = target.path.get(*len..).unwrap_or("");
            match &target.query {
                Some(q) => format!("{replacement}{rest}?{q}"),
                None => format!("{replacement}{rest}"),
            }
        }
        (None, None) => target.path_and_query(),
    };
    format!("{scheme}://{host}{path_and_query}")
}
