//! Where a request would go and why, without sending it (`sluice explain`).

use std::fmt::Write as _;

use http::request::Parts;

use crate::matcher::RequestView;
use crate::path;
use crate::route::{Rewrite, RouteAction, Scheme};
use crate::table::{RouteTable, select_virtual_host};

impl RouteTable {
    /// A human-readable account of how a request on `port` over `scheme` is routed.
    pub fn explain(&self, port: u16, scheme: Scheme, parts: &Parts) -> String {
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
        let Ok(target) = path::normalize(parts.uri.path_and_query().map_or("/", |p| p.as_str())) else {
            let _ = writeln!(out, "The path cannot be normalized.\n→ 400");
            return out;
        };
        let authority = crate::table::authority(parts);
        let domains: Vec<&str> = listener.virtual_hosts.iter().map(|v| v.domain.as_str()).collect();
        let Some(vh) = select_virtual_host(&listener.virtual_hosts, &authority) else {
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
        let view = RequestView::new(parts, &target, &authority, scheme);
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

fn describe_route(out: &mut String, route: &crate::route::Route, target: &path::Target) {
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
                        let endpoints: Vec<String> = c.endpoints.iter().map(|e| e.authority()).collect();
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
