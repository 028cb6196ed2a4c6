//! Per-route policies compiled from a VirtualService `HTTPRoute`: retries, header
//! operations, fault injection and CORS.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use sluice_api::document::FieldPath;

use sluice_api::istio::{CorsPolicy, HeaderOperations, HttpFaultInjection, HttpRetry, UnmatchedPreflights};

use crate::grpc::Code;
use crate::matcher::Match;

/// Parse an Istio duration field (at least 1 ms, as Istio's validation requires).
pub fn duration(value: &str) -> Result<Duration, String> {
    match sluice_api::duration::parse(value) {
        Some(d) if d >= Duration::from_millis(1) => Ok(d),
        Some(_) => Err(format!("{value:?} is shorter than Istio's minimum of 1ms")),
        None => Err(format!(
            "{value:?} is not a duration such as \"500ms\", \"2s\", \"1m\""
        )),
    }
}

pub use sluice_api::istio::retry_on::{Condition, RetryOn};

/// The retry policy of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (0 = no retries).
    pub attempts: u32,
    /// Timeout of each try until response headers; `None` = only the route timeout.
    pub per_try_timeout: Option<Duration>,
    /// When to retry.
    pub retry_on: RetryOn,
    /// Prefer another endpoint than the ones tried.
    pub previous_hosts: bool,
    /// Base interval of the jittered exponential back-off (Envoy's default 25 ms).
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    /// Istio's default for routes without `retries`: 2 retries on connect failures,
    /// refused streams and gRPC unavailable/cancelled, trying other hosts.
    fn default() -> Self {
        RetryPolicy {
            attempts: 2,
            per_try_timeout: None,
            retry_on: RetryOn::istio_default(),
            previous_hosts: true,
            backoff: Duration::from_millis(25),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (`attempts: 0`).
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 0,
            previous_hosts: false,
            ..RetryPolicy::default()
        }
    }

    /// Compile a route's `retries` (absent ⇒ Istio's default), given its route timeout.
    pub fn compile(
        retries: Option<&HttpRetry>,
        route_timeout: Option<Duration>,
    ) -> Result<Self, Vec<(String, String)>> {
        let Some(r) = retries else {
            return Ok(RetryPolicy::default());
        };
        let mut errors = Vec::new();
        let attempts = r.attempts.unwrap_or(0);
        if attempts < 0 {
            errors.push(("attempts".to_string(), "attempts must be 0 or more".to_string()));
        }
        if attempts == 0
            && (r.per_try_timeout.is_some() || r.retry_on.is_some() || r.retry_remote_localities.is_some())
        {
            errors.push((
                "attempts".to_string(),
                "attempts 0 disables retries; perTryTimeout, retryOn and retryRemoteLocalities are not allowed with it".to_string(),
            ));
        }
        let per_try_timeout = match r.per_try_timeout.as_deref().map(duration).transpose() {
            Ok(d) => d,
            Err(e) => {
                errors.push(("perTryTimeout".to_string(), e));
                None
            }
        };
        let retry_on = match r.retry_on.as_deref().map(RetryOn::parse).transpose() {
            Ok(on) => on.unwrap_or_else(RetryOn::istio_default),
            Err(e) => {
                errors.push(("retryOn".to_string(), e.to_string()));
                RetryOn::default()
            }
        };
        let backoff = match r.backoff.as_deref().map(duration).transpose() {
            Ok(b) => b.unwrap_or(Duration::from_millis(25)),
            Err(e) => {
                errors.push(("backoff".to_string(), e));
                Duration::from_millis(25)
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        if attempts <= 0 {
            return Ok(RetryPolicy::none());
        }
        Ok(RetryPolicy {
            attempts: u32::try_from(attempts).unwrap_or(0),
            // A per-try timeout at least as long as the route timeout has no effect.
            per_try_timeout: per_try_timeout.filter(|p| route_timeout.is_none_or(|t| *p < t)),
            retry_on,
            previous_hosts: r.retry_ignore_previous_hosts != Some(false),
            backoff,
        })
    }
}

/// A problem in a field of a policy: the field (relative to the policy) and what is wrong.
pub type FieldError = (String, String);

/// Header operations (`set` overwrites, `add` appends, `remove` deletes), with names and
/// values checked once, when the route compiles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderOps {
    /// Overwrite or add.
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Append a value.
    pub add: Vec<(HeaderName, HeaderValue)>,
    /// Remove.
    pub remove: Vec<HeaderName>,
}

impl HeaderOps {
    /// Compile Istio header operations; `%%` in values is a literal `%`. Authority keys
    /// (`host`, `:authority`) are returned apart, as an authority rewrite. Errors name
    /// the field (`set["x y"]`) and what is wrong.
    pub fn compile(ops: Option<&HeaderOperations>) -> Result<(Self, Option<HeaderValue>), Vec<FieldError>> {
        let mut out = HeaderOps::default();
        let mut authority = None;
        let mut errors = Vec::new();
        let Some(ops) = ops else {
            return Ok((out, None));
        };
        let field = |list: &str, name: &str| FieldPath::root().key(list).key(name).to_string();
        for (list, values, set) in [("set", &ops.set, true), ("add", &ops.add, false)] {
            for (name, value) in values {
                let lower = name.to_ascii_lowercase();
                let value = match header_value(value) {
                    Ok(v) => v,
                    Err(e) => {
                        errors.push((field(list, name), e));
                        continue;
                    }
                };
                if lower == "host" || lower == ":authority" {
                    authority = Some(value);
                } else if lower.starts_with(':') {
                    errors.push((
                        field(list, name),
                        "only :authority may be set among pseudo-headers".into(),
                    ));
                } else {
                    match HeaderName::try_from(lower.as_str()) {
                        Ok(n) if set => out.set.push((n, value)),
                        Ok(n) => out.add.push((n, value)),
                        Err(_) => errors.push((field(list, name), invalid_name(name))),
                    }
                }
            }
        }
        for (i, name) in ops.remove.iter().enumerate() {
            let lower = name.to_ascii_lowercase();
            if lower == "host" || lower.starts_with(':') {
                errors.push((
                    format!("remove[{i}]"),
                    format!("header {name:?} cannot be removed"),
                ));
                continue;
            }
            match HeaderName::try_from(lower.as_str()) {
                Ok(n) => out.remove.push(n),
                Err(_) => errors.push((format!("remove[{i}]"), invalid_name(name))),
            }
        }
        if errors.is_empty() {
            Ok((out, authority))
        } else {
            Err(errors)
        }
    }

    /// Apply to a header map.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }

    /// Apply to the headers of a local reply.
    pub fn apply_to_reply(&self, reply: &mut crate::route::Reply) {
        reply.headers.retain(|(n, _)| !self.remove.contains(n));
        for (name, value) in &self.set {
            reply.set_header(name.clone(), value.clone());
        }
        reply.headers.extend(self.add.iter().cloned());
    }
}

fn invalid_name(name: &str) -> String {
    format!("{name:?} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)")
}

/// Envoy header-formatter values: `%%` is `%`; `%VAR%` substitutions are not supported
/// locally and reported; a lone `%` is invalid.
fn header_value(value: &str) -> Result<HeaderValue, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('%') {
            out.push('%');
            rest = after;
        } else if rest.find('%').is_some() {
            return Err(format!(
                "{value:?}: %VARIABLE% substitutions are not supported by the local gateway; write %% for a literal %"
            ));
        } else {
            return Err(format!(
                "{value:?}: a lone % is not allowed; write %% for a literal %"
            ));
        }
    }
    out.push_str(rest);
    if out.chars().any(|c| c.is_control()) {
        return Err(format!("{value:?} contains control characters"));
    }
    HeaderValue::try_from(out).map_err(|_| format!("{value:?} is not a valid HTTP header value"))
}

/// Fault injection of a route.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fault {
    /// Delay and the percentage of requests it applies to.
    pub delay: Option<(Duration, f64)>,
    /// Abort: HTTP status or gRPC status, and the percentage.
    pub abort: Option<(Abort, f64)>,
}

/// What an abort answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// An HTTP status.
    Http(StatusCode),
    /// A gRPC status code (for gRPC requests).
    Grpc(Code),
}

impl Fault {
    /// Compile a route's `fault`.
    pub fn compile(f: &HttpFaultInjection) -> Result<Self, (String, String)> {
        let percentage = |p: Option<f64>, field: &str| -> Result<f64, (String, String)> {
            let v = p.unwrap_or(0.0);
            if v == 0.0 || (0.0001..=100.0).contains(&v) {
                Ok(v)
            } else {
                Err((
                    format!("{field}.percentage"),
                    "a percentage is 0, or between 0.0001 and 100".to_string(),
                ))
            }
        };
        let mut out = Fault::default();
        if let Some(d) = &f.delay {
            if d.exponential_delay.is_some() {
                return Err(("delay.exponentialDelay".into(), "not supported by Istio".into()));
            }
            let fixed = d.fixed_delay.as_deref().ok_or((
                "delay.fixedDelay".to_string(),
                "a delay needs fixedDelay".to_string(),
            ))?;
            let fixed = duration(fixed).map_err(|e| ("delay.fixedDelay".to_string(), e))?;
            let pct = match (&d.percentage, d.percent) {
                (Some(p), _) => Some(p.value),
                (None, Some(p)) => Some(f64::from(p)),
                (None, None) => None,
            };
            out.delay = Some((fixed, percentage(pct, "delay")?));
        }
        if let Some(a) = &f.abort {
            if a.http2_error.is_some() {
                return Err(("abort.http2Error".into(), "not supported by Istio".into()));
            }
            let abort = match (a.http_status, a.grpc_status.as_deref()) {
                (Some(s), None) if (200..=599).contains(&s) => Abort::Http(
                    StatusCode::from_u16(u16::try_from(s).unwrap_or(500))
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                ),
                (Some(_), None) => {
                    return Err((
                        "abort.httpStatus".into(),
                        "an HTTP status is between 200 and 599".into(),
                    ));
                }
                (None, Some(name)) => match Code::from_name(name) {
                    Some(code) => Abort::Grpc(code),
                    None => {
                        return Err((
                            "abort.grpcStatus".into(),
                            format!("{name:?} is not a gRPC status name such as UNAVAILABLE"),
                        ));
                    }
                },
                _ => return Err(("abort".into(), "set exactly one of httpStatus, grpcStatus".into())),
            };
            out.abort = Some((
                abort,
                percentage(a.percentage.as_ref().map(|p| p.value), "abort")?,
            ));
        }
        if out.delay.is_none() && out.abort.is_none() {
            return Err(("fault".into(), "a fault needs a delay or an abort".into()));
        }
        Ok(out)
    }
}

/// A route's CORS policy.
#[derive(Clone, Debug)]
pub struct Cors {
    /// Allowed origins.
    pub allow_origins: Vec<Match>,
    /// `access-control-allow-methods`.
    pub allow_methods: Option<HeaderValue>,
    /// `access-control-allow-headers`.
    pub allow_headers: Option<HeaderValue>,
    /// `access-control-expose-headers`.
    pub expose_headers: Option<HeaderValue>,
    /// `access-control-max-age` in seconds.
    pub max_age: Option<HeaderValue>,
    /// `access-control-allow-credentials: true`.
    pub allow_credentials: bool,
    /// Answer preflights from other origins (without allow-origin) instead of forwarding them.
    pub ignore_unmatched_preflights: bool,
}

impl Cors {
    /// Compile a route's `corsPolicy`.
    pub fn compile(c: &CorsPolicy) -> Result<Self, (String, String)> {
        let mut allow_origins = Vec::new();
        for (i, m) in c.allow_origins.iter().enumerate() {
            allow_origins.push(Match::compile(m).map_err(|e| (format!("allowOrigins[{i}]"), e))?);
        }
        allow_origins.extend(c.allow_origin.iter().map(|o| Match::Exact(o.clone())));
        let max_age = match c.max_age.as_deref().map(duration).transpose() {
            Ok(d) => d.map(|d| HeaderValue::from(d.as_secs())),
            Err(e) => return Err(("maxAge".into(), e)),
        };
        let list = |field: &str, values: &[String]| -> Result<Option<HeaderValue>, (String, String)> {
            if values.is_empty() {
                return Ok(None);
            }
            HeaderValue::try_from(values.join(","))
                .map(Some)
                .map_err(|_| (field.to_string(), "not a valid HTTP header value".to_string()))
        };
        Ok(Cors {
            allow_origins,
            allow_methods: list("allowMethods", &c.allow_methods)?,
            allow_headers: list("allowHeaders", &c.allow_headers)?,
            expose_headers: list("exposeHeaders", &c.expose_headers)?,
            max_age,
            allow_credentials: c.allow_credentials == Some(true),
            ignore_unmatched_preflights: c.unmatched_preflights == Some(UnmatchedPreflights::Ignore),
        })
    }

    /// Is `origin` allowed? (An entry matching the literal `*` allows every origin.)
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origins
            .iter()
            .any(|m| m.matches("*") || m.matches(origin))
    }
}
