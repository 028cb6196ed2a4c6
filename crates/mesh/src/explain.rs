//! Where a request would go and why, without sending it (`sluice explain`).

use std::fmt::Write as _;

use http::request::Parts;

use crate::matcher::RequestView;
use crate::path;
use crate::route::{Rewrite, RouteAction, Scheme};
use crate::table::{RouteTable, select_virtual_host};

impl RouteTable {
    /// A human-readable account of how a request on `port` over `scheme` is routed:
    /// authentication and authorization first (as the filters run), then the server,
    /// virtual host and route. `now` is the clock for token expiry, in Unix seconds.
    pub fn explain(&self, port: u16, scheme: Scheme, parts: &Parts, now: u64) -> String {
        let mut out = String::new();
        let Some(listener) = self.listener(port) else {
            let ports: Vec<String> = self.ports().map(|p| p.to_string()).collect();
            let _ = writeln!(
                out,
                "No Gateway server listens on port {port} (ports: {}).\n→ 404",
                if ports.is_empty() {
                    "none".to_string()
                } else {
                    ports.join(", ")
                }
            );
            return out;
        };
        let _ = writeln!(out, "Port {port}: served by {}", listener.servers.join(", "));
        let authority = crate::table::authority(parts);
        // A TLS port: the server is chosen by SNI (the host, for a client like curl).
        let virtual_hosts = if listener.tls.is_empty() {
            &listener.virtual_hosts
        } else {
            let sni = crate::table::strip_port(authority);
            match listener.chain_for(Some(sni)) {
                Some(i) => {
                    let chain = &listener.tls[i];
                    let _ = writeln!(
                        out,
                        "TLS: SNI {sni:?} → the server of {} {} (names: {})",
                        chain.tls.object,
                        chain.tls.at,
                        if chain.server_names.is_empty() {
                            "any".to_string()
                        } else {
                            chain.server_names.join(", ")
                        }
                    );
                    &chain.virtual_hosts
                }
                None => {
                    let _ = writeln!(
                        out,
                        "TLS: no server on this port for SNI {sni:?}.\n→ the handshake is refused"
                    );
                    return out;
                }
            }
        };
        let mut secured = copy_parts(parts);
        if !explain_security(&mut out, self, port, scheme, &mut secured, now) {
            return out;
        }
        let parts = &secured;
        let Ok(target) = path::normalize(&parts.uri) else {
            let _ = writeln!(out, "The path cannot be normalized.\n→ 400");
            return out;
        };
        let domains: Vec<&str> = virtual_hosts.iter().map(|v| v.domain.as_str()).collect();
        let Some(vh) = select_virtual_host(virtual_hosts, authority) else {
            let _ = writeln!(
                out,
                "Host {authority:?} matches no virtual host (hosts: {}).\n→ 404",
                if domains.is_empty() {
                    "none".to_string()
                } else {
                    domains.join(", ")
                }
            );
            return out;
        };
        let _ = writeln!(out, "Host {authority:?} → virtual host {:?}", vh.domain);
        if target.path != parts.uri.path() {
            let _ = writeln!(out, "Path normalized to {:?}", target.path);
        }
        if vh.require_tls && scheme != Scheme::Https {
            let _ = writeln!(
                out,
                "The server has httpsRedirect.\n→ 301 to https://{authority}{}",
                target.path_and_query()
            );
            return out;
        }
        let view = RequestView::new(parts, &target, authority, scheme);
        for (i, route) in vh.routes.iter().enumerate() {
            match route.matcher.mismatch(&view) {
                Some(why) => {
                    let _ = writeln!(out, "  route {} {}: no — {why}", i + 1, route.origin);
                }
                None => {
                    let _ = writeln!(out, "  route {} {}: MATCH", i + 1, route.origin);
                    describe_route(&mut out, route, &target);
                    return out;
                }
            }
        }
        let _ = writeln!(out, "No route matches.\n→ 404");
        out
    }
}

/// The request's method, target, version and headers (extensions are not copied).
fn copy_parts(parts: &Parts) -> Parts {
    let (mut copy, ()) = http::Request::new(()).into_parts();
    copy.method = parts.method.clone();
    copy.uri = parts.uri.clone();
    copy.version = parts.version;
    copy.headers = parts.headers.clone();
    copy
}

/// The authentication and authorization lines; `false` when the request is refused.
fn explain_security(
    out: &mut String,
    table: &RouteTable,
    port: u16,
    scheme: Scheme,
    parts: &mut Parts,
    now: u64,
) -> bool {
    let security = table.security();
    if security.is_empty() {
        let _ = writeln!(
            out,
            "Security: no RequestAuthentication or AuthorizationPolicy applies to this gateway"
        );
        return true;
    }
    let connection = crate::security::Connection {
        peer: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        local: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        port,
        scheme,
        sni: None,
        peer_principal: None,
        num_trusted_proxies: 0,
    };
    if !security.authn.jwks_uris().is_empty() {
        let _ = writeln!(
            out,
            "Authentication: note: keys of jwksUri rules are not fetched by explain; their tokens show as failing"
        );
    }
    let verdict = security.check(parts, &connection, now, &|_| None);
    let authn = match &verdict {
        Ok(v) => v.authn.clone(),
        Err(_) => security
            .authn
            .authenticate(&mut copy_parts(parts), now, &|_| None),
    };
    match &authn {
        crate::security::Outcome::Anonymous => {
            let _ = writeln!(
                out,
                "Authentication: no token in a location the rules read ({} rule(s)): the request goes on without an identity",
                security.authn.providers().len()
            );
        }
        crate::security::Outcome::Verified { identity, origin } => {
            let _ = writeln!(
                out,
                "Authentication: token verified by {origin}: principal {}",
                identity.principal().unwrap_or_else(|| "(no iss/sub)".to_string())
            );
        }
        crate::security::Outcome::Refused(f) => {
            let _ = writeln!(
                out,
                "Authentication: refused by {}: {}\n→ {} {}",
                f.origin,
                f.message,
                f.status.as_u16(),
                f.message
            );
            return false;
        }
    }
    let identity = parts.extensions.get::<crate::security::Identity>().cloned();
    let decision = security.authorize(parts, &connection, identity.as_ref());
    match &decision {
        crate::security::Decision::NoPolicy => {
            let _ = writeln!(out, "Authorization: no AuthorizationPolicy applies: allowed");
        }
        crate::security::Decision::AllowedNoAllowPolicy => {
            let _ = writeln!(
                out,
                "Authorization: no DENY matches and no ALLOW policy applies: allowed"
            );
        }
        crate::security::Decision::AllowedBy { policy, rule } => {
            let _ = writeln!(out, "Authorization: allowed by {policy} spec.rules[{rule}]");
        }
        crate::security::Decision::DeniedBy { policy, rule } => {
            let _ = writeln!(
                out,
                "Authorization: denied by {policy} spec.rules[{rule}]\n→ 403 RBAC: access denied"
            );
        }
        crate::security::Decision::NotAllowed => {
            let allow: Vec<&str> = security
                .authz
                .policies()
                .iter()
                .filter(|p| p.action == crate::security::authz::Action::Allow && !p.dry_run)
                .map(|p| p.name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "Authorization: no rule of the ALLOW policies matches ({})\n→ 403 RBAC: access denied",
                allow.join(", ")
            );
        }
    }
    decision.allowed()
}

fn describe_route(out: &mut String, route: &crate::route::Route, target: &path::Target<'_>) {
    if let Some(fault) = &route.fault {
        if let Some((d, pct)) = fault.delay {
            let _ = writeln!(out, "Fault: delay {d:?} for {pct}% of requests");
        }
        if let Some((a, pct)) = fault.abort {
            let _ = writeln!(out, "Fault: abort {a:?} for {pct}% of requests");
        }
    }
    match &route.action {
        RouteAction::Direct { status, body } => {
            let _ = writeln!(out, "→ direct response {status} ({} bytes)", body.len());
        }
        RouteAction::Redirect(r) => {
            let _ = writeln!(out, "→ redirect {} ({:?})", r.code, r);
        }
        RouteAction::Forward(f) => {
            let total: u64 = f.destinations.iter().map(|d| u64::from(d.weight)).sum();
            let _ = writeln!(out, "→ forward to:");
            for d in &f.destinations {
                let share = if total == 0 {
                    100.0
                } else {
                    f64::from(d.weight) * 100.0 / total as f64
                };
                match &d.cluster {
                    Ok(c) => {
                        let endpoints: Vec<&str> = c.endpoints.iter().map(|e| e.authority()).collect();
                        let _ = writeln!(
                            out,
                            "    {share:.1}%  {}  cluster {}  {:?}  endpoints: {}",
                            d.label,
                            c.name,
                            c.protocol,
                            if endpoints.is_empty() {
                                "none (503 no healthy upstream)".to_string()
                            } else {
                                endpoints.join(", ")
                            }
                        );
                    }
                    Err(m) => {
                        let _ = writeln!(out, "    {share:.1}%  {}  → 503: {}", d.label, m.describe());
                    }
                }
            }
            for (c, pct) in &f.mirrors {
                let _ = writeln!(out, "  mirror {pct}% to {} (fire-and-forget)", c.name);
            }
            if let Some(rw) = &f.rewrite {
                let rewritten = rw.apply(&target.path);
                let kind = match rw {
                    Rewrite::Prefix { .. } => "uri",
                    Rewrite::Regex { .. } => "uriRegexRewrite",
                };
                let _ = writeln!(out, "  rewrite ({kind}): {:?} → {:?}", target.path, rewritten);
            }
            if let Some(a) = &f.authority {
                let _ = writeln!(out, "  authority rewritten to {a:?}");
            }
            let _ = writeln!(
                out,
                "  timeout: {}",
                f.timeout
                    .map_or("none (Istio's default)".to_string(), |t| format!("{t:?}"))
            );
            let r = &f.retry;
            let _ = writeln!(
                out,
                "  retries: {} (up to {} tries), per try {}, on {}",
                r.attempts,
                r.attempts + 1,
                r.per_try_timeout
                    .map_or("no limit".to_string(), |t| format!("{t:?}")),
                r.retry_on
            );
        }
    }
}
