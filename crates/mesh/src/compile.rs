//! A VirtualService's `http` routes compiled for one gateway server: Istio's
//! `BuildHTTPRoutesForVirtualService`, with its admission checks (spec §13).
//!
//! One `HTTPRoute` compiles in steps, each a function below: the checks of its action
//! fields, header operations, timeout and retries, fault and CORS, then its action
//! (`redirect`, `directResponse`, or `route` with destinations, mirrors and rewrite).
//! Every problem is a diagnostic at the field's path; a route with errors is not served.

use std::sync::Arc;

use http::{HeaderValue, StatusCode};
use sluice_api::istio::{HttpRoute, RedirectPortSelection, VirtualService};

use crate::cluster::{Cluster, Missing, Registry};
use crate::diagnostic::{self, Diagnostic, ObjectRef};
use crate::host;
use crate::matcher::{HeaderKey, RequestMatch};
use crate::policy::{Cors, Fault, HeaderOps, RetryPolicy, duration};
use crate::route::{
    Destination, ForwardAction, MAX_MIRRORS, Origin, Redirect, RedirectPort, Rewrite, Route, RouteAction,
    Scheme,
};

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

/// Identity of a VirtualService for explain and access logs: `VirtualService ns/name`.
pub(crate) fn id(vs: &VirtualService) -> String {
    format!(
        "VirtualService {}/{}",
        vs.metadata.namespace.as_deref().unwrap_or("default"),
        vs.metadata.name.as_deref().unwrap_or("")
    )
}

/// The VirtualService as the object of diagnostics.
pub(crate) fn object(vs: &VirtualService) -> ObjectRef {
    ObjectRef::of("VirtualService", &vs.metadata)
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
    let mut sink = Vec::new();
    let mut cx = RouteCx {
        object: object(vs),
        at: String::new(),
        namespace,
        server,
        mesh_bound: vs.spec.gateways.is_empty()
            || vs
                .spec
                .gateways
                .iter()
                .any(|g| crate::host::resolve_gateway(g, namespace) == "mesh"),
        diags: if report { diagnostics } else { &mut sink },
    };
    let mut out = Vec::new();
    for (i, http) in vs.spec.http.iter().enumerate() {
        cx.at = format!("spec.http[{i}]");
        let Some(shared) = cx.route(http, registry) else {
            continue;
        };
        let mut stop = false;
        for (j, matcher) in cx.match_blocks(http) {
            stop = matcher.is_catch_all();
            let action = specialise(&shared.action, &matcher);
            out.push(Arc::new(Route {
                origin: Arc::new(Origin {
                    resource: resource.clone(),
                    http_index: i,
                    match_index: j,
                    name: http.name.clone(),
                }),
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
                let at = cx.at.clone();
                cx.warn_at(
                    &format!("spec.http[{}]", i + 1),
                    format!("unreachable: {at} matches every request, so later routes of this VirtualService are dropped (as Istio does)"),
                );
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

/// Compiling one `HTTPRoute`: whose it is, where it is, and where problems go.
struct RouteCx<'a, 'd> {
    object: ObjectRef,
    /// `spec.http[i]`.
    at: String,
    namespace: &'a str,
    server: &'a Server<'a>,
    /// The VirtualService is bound to `mesh` (sidecars), where JWT claims are not known.
    mesh_bound: bool,
    diags: &'d mut Vec<Diagnostic>,
}

impl RouteCx<'_, '_> {
    /// An error at `field` of this route (`.timeout`; `""` for the route itself).
    fn err(&mut self, field: &str, message: impl Into<String>) {
        let path = format!("{}{field}", self.at);
        self.diags.push(diagnostic::error(&self.object, path, message));
    }

    /// A warning at `field` of this route.
    fn warn(&mut self, field: &str, message: impl Into<String>) {
        let path = format!("{}{field}", self.at);
        self.warn_at(&path, message);
    }

    /// A warning at a path of the VirtualService.
    fn warn_at(&mut self, path: &str, message: impl Into<String>) {
        self.diags.push(diagnostic::warning(&self.object, path, message));
    }

    fn errors(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    /// The route's match blocks that apply to this server, compiled.
    fn match_blocks(&mut self, http: &HttpRoute) -> Vec<(Option<usize>, RequestMatch)> {
        if http.matches.is_empty() {
            return vec![(None, RequestMatch::any())];
        }
        let mut out = Vec::new();
        for (j, m) in http.matches.iter().enumerate() {
            if !applies_here(m, self.server, self.namespace) {
                continue;
            }
            match RequestMatch::compile(m) {
                Ok(c) => {
                    if self.mesh_bound && c.headers.iter().any(|(k, _)| matches!(k, HeaderKey::Claim(_))) {
                        self.err(
                            &format!(".match[{j}].headers"),
                            "@request.auth.claims matches work only on gateways: bind this VirtualService to gateways only (not mesh)",
                        );
                    }
                    out.push((Some(j), c));
                }
                Err(errors) => {
                    for (field, e) in errors {
                        self.err(&format!(".match[{j}].{field}"), e);
                    }
                }
            }
        }
        out
    }

    /// Compile the route's policies and action; `None` when it has errors.
    fn route(&mut self, http: &HttpRoute, registry: &mut Registry) -> Option<Shared> {
        let before = self.errors();
        self.check_action_fields(http);
        let (request_headers, request_authority) = self.header_ops(
            ".headers.request",
            http.headers.as_ref().and_then(|h| h.request.as_ref()),
        );
        let (response_headers, _) = self.header_ops(
            ".headers.response",
            http.headers.as_ref().and_then(|h| h.response.as_ref()),
        );
        let timeout = match http.timeout.as_deref().map(duration).transpose() {
            Ok(t) => t,
            Err(e) => {
                self.err(".timeout", e);
                None
            }
        };
        let retry = match RetryPolicy::compile(http.retries.as_ref(), timeout) {
            Ok(r) => r,
            Err(errors) => {
                for (field, e) in errors {
                    self.err(&format!(".retries.{field}"), e);
                }
                RetryPolicy::none()
            }
        };
        let fault = http.fault.as_ref().and_then(|f| match Fault::compile(f) {
            Ok(f) => Some(f),
            Err((field, e)) => {
                self.err(&format!(".fault.{field}"), e);
                None
            }
        });
        let cors = http.cors_policy.as_ref().and_then(|c| match Cors::compile(c) {
            Ok(c) => Some(Arc::new(c)),
            Err((field, e)) => {
                self.err(&format!(".corsPolicy.{field}"), e);
                None
            }
        });
        let action = if let Some(r) = &http.redirect {
            RouteAction::Redirect(self.redirect(r, http))
        } else if let Some(d) = &http.direct_response {
            self.direct_response(d)
        } else {
            let destinations = self.destinations(http, registry);
            let mirrors = self.mirrors(http, registry);
            let rewrite = self.rewrite(http);
            let rewrite_authority = http
                .rewrite
                .as_ref()
                .and_then(|r| r.authority.as_deref())
                .and_then(|a| match HeaderValue::try_from(a) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        self.err(".rewrite.authority", format!("{a:?} is not a valid authority"));
                        None
                    }
                });
            if rewrite_authority.is_some() && request_authority.is_some() {
                self.err(
                    ".rewrite.authority",
                    "the authority is also set in headers.request; set it once",
                );
            }
            RouteAction::Forward(Arc::new(ForwardAction {
                destinations,
                rewrite,
                authority: rewrite_authority.or(request_authority),
                request_headers,
                timeout,
                retry,
                mirrors,
                response_headers: response_headers.clone(),
            }))
        };
        (self.errors() == before).then_some(Shared {
            action,
            fault,
            cors,
            response_headers,
        })
    }

    /// Exactly one of route, redirect, directResponse; no fault or rewrite beside a local
    /// answer; mirror or mirrors.
    fn check_action_fields(&mut self, http: &HttpRoute) {
        let actions = [
            !http.route.is_empty(),
            http.redirect.is_some(),
            http.direct_response.is_some(),
            http.delegate.is_some(),
        ];
        match actions.iter().filter(|a| **a).count() {
            0 => self.err("", "a route needs one of route, redirect, directResponse"),
            1 => {}
            _ => self.err(
                "",
                "route, redirect, directResponse and delegate are mutually exclusive",
            ),
        }
        if http.delegate.is_some() {
            self.err(
                ".delegate",
                "delegate VirtualServices are not supported by the local gateway yet",
            );
        }
        let answers_locally = http.redirect.is_some() || http.direct_response.is_some();
        if answers_locally && (http.fault.is_some() || http.rewrite.is_some()) {
            self.err(
                "",
                "fault and rewrite cannot be combined with redirect or directResponse",
            );
        }
        if http.mirror.is_some() && !http.mirrors.is_empty() {
            self.err(".mirrors", "use either mirror or mirrors, not both");
        }
    }

    /// Header operations at `field`, and an authority they set.
    fn header_ops(
        &mut self,
        field: &str,
        ops: Option<&sluice_api::istio::HeaderOperations>,
    ) -> (HeaderOps, Option<HeaderValue>) {
        match HeaderOps::compile(ops) {
            Ok(v) => v,
            Err(errors) => {
                for (op, e) in errors {
                    self.err(&format!("{field}.{op}"), e);
                }
                Default::default()
            }
        }
    }

    fn direct_response(&mut self, d: &sluice_api::istio::HttpDirectResponse) -> RouteAction {
        let status = match u16::try_from(d.status).ok().filter(|s| (200..=599).contains(s)) {
            Some(s) => StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            None => {
                self.err(".directResponse.status", "a status is between 200 and 599");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = match d.body.as_ref().map(|b| (&b.string, &b.bytes)) {
            Some((Some(s), None)) => s.clone().into_bytes(),
            Some((None, Some(_))) => {
                self.err(
                    ".directResponse.body.bytes",
                    "base64 bodies are not supported by the local gateway yet; use string",
                );
                Vec::new()
            }
            _ => Vec::new(),
        };
        if body.len() > 1 << 20 {
            self.err(".directResponse.body", "a body is at most 1 MiB");
        }
        RouteAction::Direct { status, body }
    }

    /// The cluster of `destination` on this server's port, or why it is missing.
    fn cluster(
        &self,
        registry: &mut Registry,
        destination: &sluice_api::istio::Destination,
    ) -> (String, u16, Result<Arc<Cluster>, Missing>) {
        let host = host::resolve_short(
            &destination.host,
            self.namespace,
            &self.server.proxy.cluster_domain,
        );
        let port = match destination.port.as_ref().and_then(|p| p.number) {
            Some(p) => u16::try_from(p).unwrap_or(0),
            None => registry.default_port(&host, self.server.port),
        };
        let cluster = registry.cluster(&host, destination.subset.as_deref(), port);
        (host, port, cluster)
    }

    /// Weighted destinations (weight-0 ones dropped when there are several).
    fn destinations(&mut self, http: &HttpRoute, registry: &mut Registry) -> Vec<Destination> {
        let single = http.route.len() == 1;
        let mut destinations = Vec::new();
        let mut total = 0i64;
        for (k, d) in http.route.iter().enumerate() {
            let weight = d.weight.unwrap_or(0);
            if weight < 0 {
                self.err(&format!(".route[{k}].weight"), "a weight cannot be negative");
            }
            total += i64::from(weight);
            // One destination takes everything; with several, weight 0 takes nothing.
            if !single && weight <= 0 {
                continue;
            }
            let (host, port, cluster) = self.cluster(registry, &d.destination);
            let subset = d.destination.subset.as_deref();
            // Destinations depend on the server port; an unbound check cannot judge them.
            if let (Err(missing), false) = (&cluster, self.server.check_only) {
                let message = format!(
                    "{host}:{port}{}: {}; requests routed here get 503",
                    subset.map(|s| format!(" subset {s}")).unwrap_or_default(),
                    missing.describe()
                );
                self.warn(&format!(".route[{k}].destination"), message);
            }
            let (request_headers, authority) = self.header_ops(
                &format!(".route[{k}].headers.request"),
                d.headers.as_ref().and_then(|h| h.request.as_ref()),
            );
            let (response_headers, _) = self.header_ops(
                &format!(".route[{k}].headers.response"),
                d.headers.as_ref().and_then(|h| h.response.as_ref()),
            );
            destinations.push(Destination {
                weight: u32::try_from(weight.max(1)).unwrap_or(1),
                cluster,
                label: format!(
                    "{host}:{port}{}",
                    subset.map(|s| format!("/{s}")).unwrap_or_default()
                ),
                request_headers,
                response_headers,
                authority,
            });
        }
        if !single && total == 0 && !http.route.is_empty() {
            self.err(
                ".route",
                "with several destinations the weights must not all be 0",
            );
        }
        destinations
    }

    /// Mirror clusters and the percentage of requests each receives.
    fn mirrors(&mut self, http: &HttpRoute, registry: &mut Registry) -> Vec<(Arc<Cluster>, f64)> {
        let list: Vec<(&sluice_api::istio::Destination, f64, String)> = match &http.mirror {
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
        if list.len() > MAX_MIRRORS {
            self.err(
                ".mirrors",
                format!("{} mirrors; a route may have at most {MAX_MIRRORS}", list.len()),
            );
        }
        let mut mirrors = Vec::new();
        for (m, pct, field) in list.into_iter().take(MAX_MIRRORS) {
            if !(0.0..=100.0).contains(&pct) {
                self.err(&field, "a mirror percentage is between 0 and 100");
            }
            let (host, port, cluster) = self.cluster(registry, m);
            match cluster {
                Ok(c) if pct > 0.0 => mirrors.push((c, pct)),
                Ok(_) => {}
                Err(_) if self.server.check_only => {}
                Err(missing) => self.warn(
                    &field,
                    format!("{host}:{port}: {}; Istio skips this mirror", missing.describe()),
                ),
            }
        }
        mirrors
    }

    /// The path rewrite: a prefix (fitted to each match block later) or a regex.
    fn rewrite(&mut self, http: &HttpRoute) -> Option<Rewrite> {
        let r = http.rewrite.as_ref()?;
        match (&r.uri, &r.uri_regex_rewrite) {
            (Some(_), Some(_)) => {
                self.err(".rewrite", "set uri or uriRegexRewrite, not both");
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
                        self.err(
                            ".rewrite.uriRegexRewrite.match",
                            format!("not a valid RE2 regex: {e}"),
                        );
                        None
                    }
                },
                _ => {
                    self.err(".rewrite.uriRegexRewrite", "needs both match and rewrite");
                    None
                }
            },
            (None, None) => {
                if r.authority.is_none() {
                    self.err(".rewrite", "a rewrite needs uri, uriRegexRewrite or authority");
                }
                None
            }
        }
    }

    fn redirect(&mut self, r: &sluice_api::istio::HttpRedirect, http: &HttpRoute) -> Redirect {
        if r.uri.is_some() && r.prefix_rewrite.is_some() {
            self.err(".redirect", "set uri or prefixRewrite, not both");
        }
        if r.prefix_rewrite.is_some()
            && http
                .matches
                .iter()
                .any(|m| m.uri.as_ref().is_some_and(|u| u.prefix.is_none()))
        {
            self.err(
                ".redirect.prefixRewrite",
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
            self.err(
                ".redirect",
                "a redirect needs one of uri, prefixRewrite, authority, port, scheme",
            );
        }
        let code = match r.redirect_code.unwrap_or(301) {
            0 | 301 => StatusCode::MOVED_PERMANENTLY,
            302 => StatusCode::FOUND,
            303 => StatusCode::SEE_OTHER,
            307 => StatusCode::TEMPORARY_REDIRECT,
            308 => StatusCode::PERMANENT_REDIRECT,
            _ => {
                self.err(".redirect.redirectCode", "use 301, 302, 303, 307 or 308");
                StatusCode::MOVED_PERMANENTLY
            }
        };
        let scheme = match r.scheme.as_deref() {
            None => None,
            Some("http") => Some(Scheme::Http),
            Some("https") => Some(Scheme::Https),
            Some(_) => {
                self.err(".redirect.scheme", "use http or https");
                None
            }
        };
        let port = match (r.port, r.derive_port) {
            (Some(p), _) => RedirectPort::Explicit(u16::try_from(p).unwrap_or(0)),
            (None, Some(RedirectPortSelection::FromRequestPort)) => RedirectPort::FromRequest,
            _ => RedirectPort::Default,
        };
        Redirect {
            code,
            uri: r.uri.clone(),
            prefix_rewrite: r.prefix_rewrite.clone().map(|p| (0, p)),
            authority: r.authority.clone(),
            port,
            scheme,
        }
    }
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
