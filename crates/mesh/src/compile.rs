//! A VirtualService's `http` routes compiled for one gateway server: Istio's
//! `BuildHTTPRoutesForVirtualService`, with its admission checks (spec §13).

use std::sync::Arc;

use sluice_api::istio::{HttpRoute, RedirectPortSelection, VirtualService};

use crate::cluster::Registry;
use crate::diagnostic::Diagnostic;
use crate::host;
use crate::matcher::RequestMatch;
use crate::policy::{Cors, Fault, HeaderOps, RetryPolicy, duration};
use crate::route::{Destination, ForwardAction, Origin, Redirect, RedirectPort, Rewrite, Route, RouteAction};

/// Where routes are being built: the gateway server they serve.
pub(crate) struct Server<'a> {
    /// `namespace/name` of the Gateway.
    pub(crate) gateway: &'a str,
    /// The server's port.
    pub(crate) port: u16,
    /// The proxy's labels and namespace, for `sourceLabels`/`sourceNamespace`.
    pub(crate) proxy: &'a crate::config::Proxy,
    /// Compile every match block, ignoring the static filters (to check a VirtualService
    /// that no server binds, as Istio's admission does).
    pub(crate) check_only: bool,
}

/// Identity of a VirtualService for messages: `VirtualService ns/name`.
pub(crate) fn id(vs: &VirtualService) -> String {
    format!(
        "VirtualService {}/{}",
        vs.metadata.namespace.as_deref().unwrap_or("default"),
        vs.metadata.name.as_deref().unwrap_or("")
    )
}

/// Compile the VirtualService's `http` list for `server`. Problems are pushed to
/// `diagnostics` (once per VirtualService: only when `report` is set).
pub(crate) fn routes(
    vs: &VirtualService,
    server: &Server<'_>,
    registry: &mut Registry,
    diagnostics: &mut Vec<Diagnostic>,
    report: bool,
) -> Vec<Arc<Route>> {
    let resource = id(vs);
    let namespace = vs.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = Vec::new();
    let mut sink = Vec::new();
    let diags = if report { diagnostics } else { &mut sink };
    for (i, http) in vs.spec.http.iter().enumerate() {
        let at = format!("spec.http[{i}]");
        let Some(shared) = compile_route(http, &resource, &at, namespace, server, registry, diags) else {
            continue;
        };
        let blocks: Vec<(Option<usize>, RequestMatch)> = if http.matches.is_empty() {
            vec![(None, RequestMatch::any())]
        } else {
            http.matches
                .iter()
                .enumerate()
                .filter(|(_, m)| applies_here(m, server, namespace))
                .filter_map(|(j, m)| match RequestMatch::compile(m) {
                    Ok(c) => Some((Some(j), c)),
                    Err(errors) => {
                        for (field, e) in errors {
                            diags.push(Diagnostic::error(
                                &resource,
                                format!("{at}.match[{j}].{field}"),
                                e,
                            ));
                        }
                        None
                    }
                })
                .collect()
        };
        let mut stop = false;
        for (j, matcher) in blocks {
            stop = matcher.is_catch_all();
            let action = specialise(&shared.action, &matcher);
            out.push(Arc::new(Route {
                origin: Origin {
                    resource: resource.clone(),
                    http_index: i,
                    match_index: j,
                    name: http.name.clone(),
                },
                matcher,
                action,
                fault: shared.fault.clone(),
                cors: shared.cors.clone(),
                response_headers: shared.response_headers.clone(),
            }));
            if stop {
                break;
            }
        }
        if stop {
            // Routes after a catch-all are never reached: Istio drops them.
            if i + 1 < vs.spec.http.len() {
                diags.push(Diagnostic::warning(
                    &resource,
                    format!("spec.http[{}]", i + 1),
                    format!("unreachable: {at} matches every request, so later routes of this VirtualService are dropped (as Istio does)"),
                ));
            }
            break;
        }
    }
    out
}

/// `match.port`, `match.gateways`, `sourceLabels` and `sourceNamespace` are static filters.
fn applies_here(m: &sluice_api::istio::HttpMatchRequest, server: &Server<'_>, namespace: &str) -> bool {
    if server.check_only {
        return true;
    }
    if m.port.is_some_and(|p| p != u32::from(server.port)) {
        return false;
    }
    if !m.gateways.is_empty() {
        return m
            .gateways
            .iter()
            .any(|g| host::resolve_gateway(g, namespace) == server.gateway);
    }
    m.source_labels
        .iter()
        .all(|(k, v)| server.proxy.labels.get(k) == Some(v))
        && m.source_namespace
            .as_ref()
            .is_none_or(|ns| *ns == server.proxy.namespace)
}

/// The parts of a route that do not depend on the match block.
struct Shared {
    action: RouteAction,
    fault: Option<Fault>,
    cors: Option<Arc<Cors>>,
    response_headers: HeaderOps,
}

#[allow(clippy::too_many_arguments)] // reason: the route's context, passed once
fn compile_route(
    http: &HttpRoute,
    resource: &str,
    at: &str,
    namespace: &str,
    server: &Server<'_>,
    registry: &mut Registry,
    diags: &mut Vec<Diagnostic>,
) -> Option<Shared> {
    let before = diags.iter().filter(|d| d.is_error()).count();
    let err = |diags: &mut Vec<Diagnostic>, field: &str, message: String| {
        diags.push(Diagnostic::error(resource, format!("{at}{field}"), message));
    };
    let actions = [
        !http.route.is_empty(),
        http.redirect.is_some(),
        http.direct_response.is_some(),
        http.delegate.is_some(),
    ];
    match actions.iter().filter(|a| **a).count() {
        0 => err(
            diags,
            "",
            "a route needs one of route, redirect, directResponse".to_string(),
        ),
        1 => {}
        _ => err(
            diags,
            "",
            "route, redirect, directResponse and delegate are mutually exclusive".to_string(),
        ),
    }
    if http.delegate.is_some() {
        err(
            diags,
            ".delegate",
            "delegate VirtualServices are not supported by the local gateway yet".to_string(),
        );
    }
    let answers_locally = http.redirect.is_some() || http.direct_response.is_some();
    if answers_locally && (http.fault.is_some() || http.rewrite.is_some()) {
        err(
            diags,
            "",
            "fault and rewrite cannot be combined with redirect or directResponse".to_string(),
        );
    }
    if http.mirror.is_some() && !http.mirrors.is_empty() {
        err(
            diags,
            ".mirrors",
            "use either mirror or mirrors, not both".to_string(),
        );
    }
    let (route_request, route_authority) =
        match HeaderOps::compile(http.headers.as_ref().and_then(|h| h.request.as_ref())) {
            Ok(v) => v,
            Err(e) => {
                err(diags, ".headers.request", e);
                Default::default()
            }
        };
    let (response_headers, _) =
        match HeaderOps::compile(http.headers.as_ref().and_then(|h| h.response.as_ref())) {
            Ok(v) => v,
            Err(e) => {
                err(diags, ".headers.response", e);
                Default::default()
            }
        };
    let timeout = match http.timeout.as_deref().map(duration).transpose() {
        Ok(t) => t,
        Err(e) => {
            err(diags, ".timeout", e);
            None
        }
    };
    let retry = match RetryPolicy::compile(http.retries.as_ref(), timeout) {
        Ok(r) => r,
        Err(errors) => {
            for (field, e) in errors {
                err(diags, &format!(".retries.{field}"), e);
            }
            RetryPolicy::none()
        }
    };
    let fault = http.fault.as_ref().and_then(|f| match Fault::compile(f) {
        Ok(f) => Some(f),
        Err((field, e)) => {
            err(diags, &format!(".fault.{field}"), e);
            None
        }
    });
    let cors = http.cors_policy.as_ref().and_then(|c| match Cors::compile(c) {
        Ok(c) => Some(Arc::new(c)),
        Err((field, e)) => {
            err(diags, &format!(".corsPolicy.{field}"), e);
            None
        }
    });

    let action = if let Some(r) = &http.redirect {
        redirect(r, http, resource, at, diags)
    } else if let Some(d) = &http.direct_response {
        if !(200..=599).contains(&d.status) {
            err(
                diags,
                ".directResponse.status",
                "a status is between 200 and 599".to_string(),
            );
        }
        let body = match &d.body {
            Some(b) => match (&b.string, &b.bytes) {
                (Some(s), None) => s.clone().into_bytes(),
                (None, Some(_)) => {
                    err(
                        diags,
                        ".directResponse.body.bytes",
                        "base64 bodies are not supported by the local gateway yet; use string".to_string(),
                    );
                    Vec::new()
                }
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        if body.len() > 1 << 20 {
            err(
                diags,
                ".directResponse.body",
                "a body is at most 1 MiB".to_string(),
            );
        }
        RouteAction::Direct {
            status: u16::try_from(d.status).unwrap_or(500),
            body,
        }
    } else {
        let listener = server.port;
        let single = http.route.len() == 1;
        let mut destinations = Vec::new();
        let mut total = 0i64;
        for (k, d) in http.route.iter().enumerate() {
            let weight = d.weight.unwrap_or(0);
            if weight < 0 {
                err(
                    diags,
                    &format!(".route[{k}].weight"),
                    "a weight cannot be negative".to_string(),
                );
            }
            total += i64::from(weight);
            // One destination takes everything; with several, weight 0 takes nothing.
            if !single && weight <= 0 {
                continue;
            }
            let host = host::resolve_short(&d.destination.host, namespace, &server.proxy.cluster_domain);
            let port = match d.destination.port.as_ref().and_then(|p| p.number) {
                Some(p) => u16::try_from(p).unwrap_or(0),
                None => registry.default_port(&host, listener),
            };
            let cluster = registry.cluster(&host, d.destination.subset.as_deref(), port);
            // Destinations depend on the server port; an unbound check cannot judge them.
            if let (Err(missing), false) = (&cluster, server.check_only) {
                diags.push(Diagnostic::warning(
                    resource,
                    format!("{at}.route[{k}].destination"),
                    format!(
                        "{host}:{port}{}: {}; requests routed here get 503",
                        d.destination
                            .subset
                            .as_deref()
                            .map(|s| format!(" subset {s}"))
                            .unwrap_or_default(),
                        missing.describe()
                    ),
                ));
            }
            let (request_headers, authority) =
                HeaderOps::compile(d.headers.as_ref().and_then(|h| h.request.as_ref())).unwrap_or_else(|e| {
                    err(diags, &format!(".route[{k}].headers.request"), e);
                    Default::default()
                });
            let (response_headers, _) = HeaderOps::compile(
                d.headers.as_ref().and_then(|h| h.response.as_ref()),
            )
            .unwrap_or_else(|e| {
                err(diags, &format!(".route[{k}].headers.response"), e);
                Default::default()
            });
            destinations.push(Destination {
                weight: u32::try_from(weight.max(1)).unwrap_or(1),
                cluster,
                label: format!(
                    "{host}:{port}{}",
                    d.destination
                        .subset
                        .as_deref()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default()
                ),
                request_headers,
                response_headers,
                authority,
            });
        }
        if !single && total == 0 && !http.route.is_empty() {
            err(
                diags,
                ".route",
                "with several destinations the weights must not all be 0".to_string(),
            );
        }
        let rewrite_authority = http.rewrite.as_ref().and_then(|r| r.authority.clone());
        if rewrite_authority.is_some() && route_authority.is_some() {
            err(
                diags,
                ".rewrite.authority",
                "the authority is also set in headers.request; set it once".to_string(),
            );
        }
        let mut mirrors = Vec::new();
        let mirror_list: Vec<(&sluice_api::istio::Destination, f64, String)> = match &http.mirror {
            Some(m) => vec![(m, mirror_percentage(http), ".mirror".to_string())],
            None => http
                .mirrors
                .iter()
                .enumerate()
                .map(|(k, m)| {
                    (
                        &m.destination,
                        m.percentage.as_ref().map_or(100.0, |p| p.value),
                        format!(".mirrors[{k}]"),
                    )
                })
                .collect(),
        };
        for (m, pct, field) in mirror_list {
            if !(0.0..=100.0).contains(&pct) {
                err(
                    diags,
                    &field,
                    "a mirror percentage is between 0 and 100".to_string(),
                );
            }
            let host = host::resolve_short(&m.host, namespace, &server.proxy.cluster_domain);
            let port = match m.port.as_ref().and_then(|p| p.number) {
                Some(p) => u16::try_from(p).unwrap_or(0),
                None => registry.default_port(&host, listener),
            };
            match registry.cluster(&host, m.subset.as_deref(), port) {
                Ok(c) if pct > 0.0 => mirrors.push((c, pct)),
                Ok(_) => {}
                Err(_) if server.check_only => {}
                Err(missing) => diags.push(Diagnostic::warning(
                    resource,
                    format!("{at}{field}"),
                    format!("{host}:{port}: {}; Istio skips this mirror", missing.describe()),
                )),
            }
        }
        let rewrite = http
            .rewrite
            .as_ref()
            .and_then(|r| match (&r.uri, &r.uri_regex_rewrite) {
                (Some(_), Some(_)) => {
                    err(
                        diags,
                        ".rewrite",
                        "set uri or uriRegexRewrite, not both".to_string(),
                    );
                    None
                }
                (Some(uri), None) => Some(Rewrite::Prefix {
                    matched: None,
                    replacement: uri.clone(),
                }),
                (None, Some(rr)) => match (&rr.match_regex, &rr.rewrite) {
                    (Some(pattern), Some(replacement)) => match regex::Regex::new(pattern) {
                        Ok(pattern) => Some(Rewrite::Regex {
                            pattern,
                            replacement: re2_replacement(replacement),
                        }),
                        Err(e) => {
                            err(
                                diags,
                                ".rewrite.uriRegexRewrite.match",
                                format!("not a valid RE2 regex: {e}"),
                            );
                            None
                        }
                    },
                    _ => {
                        err(
                            diags,
                            ".rewrite.uriRegexRewrite",
                            "needs both match and rewrite".to_string(),
                        );
                        None
                    }
                },
                (None, None) => {
                    if r.authority.is_none() {
                        err(
                            diags,
                            ".rewrite",
                            "a rewrite needs uri, uriRegexRewrite or authority".to_string(),
                        );
                    }
                    None
                }
            });
        RouteAction::Forward(Arc::new(ForwardAction {
            destinations,
            rewrite,
            authority: rewrite_authority.or(route_authority),
            request_headers: route_request,
            timeout,
            retry,
            mirrors,
        }))
    };
    let after = diags.iter().filter(|d| d.is_error()).count();
    (after == before).then_some(Shared {
        action,
        fault,
        cors,
        response_headers,
    })
}

fn mirror_percentage(http: &HttpRoute) -> f64 {
    match (
        &http.mirror_percentage,
        http.mirror_percent.or(http.mirror_percent_alt),
    ) {
        (Some(p), _) => p.value,
        (None, Some(p)) => f64::from(p),
        (None, None) => 100.0,
    }
}

/// `\1` capture references (RE2/Envoy) become `${1}` (regex crate).
fn re2_replacement(rewrite: &str) -> String {
    let mut out = String::with_capacity(rewrite.len());
    let mut chars = rewrite.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(d)) if d.is_ascii_digit() => {
                out.push_str(&format!("${{{d}}}"));
                chars.next();
            }
            ('$', _) => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out
}

fn redirect(
    r: &sluice_api::istio::HttpRedirect,
    http: &HttpRoute,
    resource: &str,
    at: &str,
    diags: &mut Vec<Diagnostic>,
) -> RouteAction {
    let mut err = |field: &str, message: &str| {
        diags.push(Diagnostic::error(
            resource,
            format!("{at}.redirect{field}"),
            message,
        ))
    };
    if r.uri.is_some() && r.prefix_rewrite.is_some() {
        err("", "set uri or prefixRewrite, not both");
    }
    if r.prefix_rewrite.is_some()
        && http
            .matches
            .iter()
            .any(|m| m.uri.as_ref().is_some_and(|u| u.prefix.is_none()))
    {
        err(
            ".prefixRewrite",
            "prefixRewrite needs every match to use a uri prefix",
        );
    }
    if r.uri.is_none()
        && r.prefix_rewrite.is_none()
        && r.authority.is_none()
        && r.port.is_none()
        && r.scheme.is_none()
        && r.derive_port.is_none()
    {
        err(
            "",
            "a redirect needs one of uri, prefixRewrite, authority, port, scheme",
        );
    }
    let code = match r.redirect_code.unwrap_or(301) {
        0 | 301 => 301,
        c @ (302 | 303 | 307 | 308) => c as u16,
        _ => {
            err(".redirectCode", "use 301, 302, 303, 307 or 308");
            301
        }
    };
    if let Some(s) = &r.scheme
        && s != "http"
        && s != "https"
    {
        err(".scheme", "use http or https");
    }
    let port = match (r.port, r.derive_port) {
        (Some(p), _) => RedirectPort::Explicit(u16::try_from(p).unwrap_or(0)),
        (None, Some(RedirectPortSelection::FromRequestPort)) => RedirectPort::FromRequest,
        _ => RedirectPort::Default,
    };
    RouteAction::Redirect(Redirect {
        code,
        uri: r.uri.clone(),
        prefix_rewrite: r.prefix_rewrite.clone().map(|p| (0, p)),
        authority: r.authority.clone(),
        port,
        scheme: r.scheme.clone(),
    })
}

/// Fit the action to one match block: a path rewrite replaces what that block matched.
fn specialise(action: &RouteAction, matcher: &RequestMatch) -> RouteAction {
    let matched = match matcher.uri.as_ref() {
        None => Some(1), // prefix "/"
        Some(u) => u.matched_prefix_len(),
    };
    match action {
        RouteAction::Forward(f) => match &f.rewrite {
            Some(Rewrite::Prefix { replacement, .. }) => {
                let mut f = (**f).clone();
                f.rewrite = Some(Rewrite::Prefix {
                    matched,
                    replacement: replacement.clone(),
                });
                RouteAction::Forward(Arc::new(f))
            }
            _ => action.clone(),
        },
        RouteAction::Redirect(r) => match &r.prefix_rewrite {
            Some((_, replacement)) => {
                let mut r = r.clone();
                r.prefix_rewrite = Some((matched.unwrap_or(0), replacement.clone()));
                RouteAction::Redirect(r)
            }
            None => action.clone(),
        },
        RouteAction::Direct { .. } => action.clone(),
    }
}
