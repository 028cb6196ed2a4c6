//! The decision for a request that matched a route, in Envoy's filter order (spec §1):
//! fault injection, then CORS, then the route's action — a direct response, a redirect,
//! or a forward to one weighted destination with its rewrites, header operations,
//! timeout, retries and mirrors.

use std::sync::Arc;

use http::header::{self, HeaderName};
use http::{HeaderValue, StatusCode};
use rand::{Rng, RngExt};

use crate::matcher::{HeaderKey, RequestView};
use crate::path::Target;
use crate::policy::{Abort, Cors};
use crate::route::{
    Action, Decision, Destination, Forward, ForwardAction, MAX_MIRRORS, Redirect, RedirectPort, Reply, Route,
    RouteAction,
};

impl Decision {
    /// A local reply that no route made.
    pub fn reply(reply: Reply) -> Decision {
        Decision {
            route: None,
            delay: None,
            action: Action::Reply(reply),
        }
    }
}

/// Does a policy applying to `percentage` of requests fire for this one?
fn fires(rng: &mut impl Rng, percentage: f64) -> bool {
    percentage >= 100.0 || (percentage > 0.0 && rng.random::<f64>() * 100.0 < percentage)
}

/// The decision for a request that matched `route`, received on gateway `port`.
pub(crate) fn decide(
    route: &Route,
    view: &RequestView<'_>,
    port: u16,
    target: &Target<'_>,
    rng: &mut impl Rng,
) -> Decision {
    let mut decision = Decision {
        route: Some(route.origin.clone()),
        delay: None,
        action: Action::Reply(Reply::new(StatusCode::NOT_FOUND, "")),
    };
    if let Some(fault) = &route.fault {
        decision.delay = fault.delay.filter(|(_, pct)| fires(rng, *pct)).map(|(d, _)| d);
        if let Some((abort, _)) = fault.abort.filter(|(_, pct)| fires(rng, *pct)) {
            decision.action = Action::Reply(aborted(abort));
            return decision;
        }
    }
    let cors_headers = match route.cors.as_deref().map(|cors| cors_check(cors, view)) {
        Some(CorsOutcome::Preflight(reply)) => {
            decision.action = Action::Reply(reply);
            return decision;
        }
        Some(CorsOutcome::Headers(headers)) => headers,
        None => Vec::new(),
    };
    decision.action = match &route.action {
        RouteAction::Direct { status, body } => {
            let mut reply = Reply {
                status: *status,
                body: body.clone(),
                headers: cors_headers,
                grpc_status: None,
            };
            if *status == StatusCode::CREATED || status.is_redirection() {
                let location = format!("{}://{}{}", view.scheme, view.authority, target.path_and_query());
                if let Ok(location) = HeaderValue::try_from(location) {
                    reply.headers.push((header::LOCATION, location));
                }
            }
            route.response_headers.apply_to_reply(&mut reply);
            Action::Reply(reply)
        }
        RouteAction::Redirect(r) => {
            let mut reply = Reply::new(r.code, "");
            reply.headers = cors_headers;
            if let Ok(location) = HeaderValue::try_from(redirect_location(r, view, port, target)) {
                reply.headers.push((header::LOCATION, location));
            }
            route.response_headers.apply_to_reply(&mut reply);
            Action::Reply(reply)
        }
        RouteAction::Forward(f) => match pick(&f.destinations, rng) {
            Some(d) => forward(f, d, target, cors_headers, rng),
            None => Action::Reply(Reply::new(StatusCode::SERVICE_UNAVAILABLE, "")),
        },
    };
    decision
}

/// A fault abort's reply: gRPC clients get the code; others the HTTP status Envoy maps it to.
fn aborted(abort: Abort) -> Reply {
    let mut reply = Reply::new(StatusCode::INTERNAL_SERVER_ERROR, "fault filter abort");
    match abort {
        Abort::Http(status) => reply.status = status,
        Abort::Grpc(code) => {
            reply.status = code.http_status();
            reply.grpc_status = Some(code);
        }
    }
    reply
}

/// What a route's CORS policy does with a request.
enum CorsOutcome {
    /// A preflight answered by the gateway.
    Preflight(Reply),
    /// Headers to add to the response (possibly none).
    Headers(Vec<(HeaderName, HeaderValue)>),
}

/// Envoy's CORS filter (spec §4.12): answer allowed preflights (or all, with
/// `unmatchedPreflights: IGNORE`), add allow-origin to allowed simple requests.
fn cors_check(cors: &Cors, view: &RequestView<'_>) -> CorsOutcome {
    let origin = view
        .headers
        .get(header::ORIGIN)
        .filter(|o| !o.is_empty())
        .cloned();
    let Some(origin) = origin else {
        return CorsOutcome::Headers(Vec::new());
    };
    let allowed = cors.allows(&String::from_utf8_lossy(origin.as_bytes()));
    let preflight = view.method == "OPTIONS"
        && view
            .header(&HeaderKey::Name(header::ACCESS_CONTROL_REQUEST_METHOD))
            .is_some_and(|m| !m.is_empty());
    let credentials = HeaderValue::from_static("true");
    let mut headers = Vec::new();
    if preflight {
        if !allowed && !cors.ignore_unmatched_preflights {
            // Envoy forwards preflights from origins it does not allow.
            return CorsOutcome::Headers(headers);
        }
        if allowed {
            headers.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin));
        }
        for (name, value) in [
            (header::ACCESS_CONTROL_ALLOW_METHODS, &cors.allow_methods),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, &cors.allow_headers),
            (header::ACCESS_CONTROL_MAX_AGE, &cors.max_age),
        ] {
            if let Some(value) = value {
                headers.push((name, value.clone()));
            }
        }
        if cors.allow_credentials {
            headers.push((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, credentials));
        }
        let mut reply = Reply::new(StatusCode::OK, "");
        reply.headers = headers;
        return CorsOutcome::Preflight(reply);
    }
    if allowed {
        headers.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin));
        if cors.allow_credentials {
            headers.push((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, credentials));
        }
        if let Some(expose) = &cors.expose_headers {
            headers.push((header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone()));
        }
    }
    CorsOutcome::Headers(headers)
}

/// One destination (its index), with probability proportional to its weight.
fn pick(destinations: &[Destination], rng: &mut impl Rng) -> Option<usize> {
    let total: u64 = destinations.iter().map(|d| u64::from(d.weight)).sum();
    let mut left = if total > 0 { rng.random_range(0..total) } else { 0 };
    destinations.iter().position(|d| {
        let weight = u64::from(d.weight);
        if left < weight {
            true
        } else {
            left -= weight;
            false
        }
    })
}

/// Forward to destination number `destination` of route `f`.
fn forward(
    f: &Arc<ForwardAction>,
    destination: usize,
    target: &Target<'_>,
    cors_headers: Vec<(HeaderName, HeaderValue)>,
    rng: &mut impl Rng,
) -> Action {
    let Ok(cluster) = &f.destinations[destination].cluster else {
        return Action::Reply(Reply::new(StatusCode::SERVICE_UNAVAILABLE, ""));
    };
    let mut mirrored = 0;
    for (i, (_, pct)) in f.mirrors.iter().enumerate().take(MAX_MIRRORS) {
        if fires(rng, *pct) {
            mirrored |= 1 << i;
        }
    }
    Action::Forward(Forward {
        cluster: cluster.clone(),
        action: f.clone(),
        destination,
        normalized: (!target.is_unchanged()).then(|| target.path.to_string()),
        extra_response_headers: cors_headers,
        mirrored,
    })
}

/// Envoy's redirect URL (spec §4.5.2).
fn redirect_location(r: &Redirect, view: &RequestView<'_>, port: u16, target: &Target<'_>) -> String {
    let scheme = r.scheme.unwrap_or(view.scheme);
    let mut host = match &r.authority {
        Some(a) => a.clone(),
        None => {
            let h = view.authority.to_string();
            // Changing scheme drops the old scheme's default port.
            if scheme != view.scheme {
                let old = format!(":{}", view.scheme.default_port());
                h.strip_suffix(old.as_str()).map(str::to_string).unwrap_or(h)
            } else {
                h
            }
        }
    };
    match r.port {
        RedirectPort::Explicit(p) => host = format!("{}:{p}", crate::table::strip_port(&host)),
        RedirectPort::FromRequest => {
            // The scheme's default port is not added, but a port in the Host is kept.
            if port != scheme.default_port() {
                host = format!("{}:{port}", crate::table::strip_port(&host));
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
