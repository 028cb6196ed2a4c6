//! Per-route policies compiled from a VirtualService `HTTPRoute`: retries, header
//! operations, fault injection and CORS.

use std::collections::BTreeSet;
use std::time::Duration;

use sluice_api::istio::{CorsPolicy, HeaderOperations, HttpFaultInjection, HttpRetry, UnmatchedPreflights};

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

/// When to retry, Envoy's `retry_on` as Istio configures it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetryOn {
    /// The named conditions (`5xx`, `gateway-error`, `connect-failure`, ...).
    pub conditions: BTreeSet<String>,
    /// HTTP statuses retried under `retriable-status-codes`.
    pub status_codes: BTreeSet<u16>,
}

/// Retry conditions Istio accepts in `retryOn`.
pub const RETRY_ON: &[&str] = sluice_api::istio::RETRY_ON_CONDITIONS;

/// Istio's default `retryOn` (since 1.24: no retriable status codes).
pub const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

impl RetryOn {
    /// Parse a `retryOn` list: names, and HTTP status codes (which add `retriable-status-codes`).
    /// Entries are split on `,` without trimming, as Istio does.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut out = RetryOn::default();
        for entry in list.split(',') {
            if let Ok(code) = entry.parse::<u16>() {
                out.status_codes.insert(code);
                out.conditions.insert("retriable-status-codes".to_string());
            } else if RETRY_ON.contains(&entry) {
                out.conditions.insert(entry.to_string());
            } else {
                return Err(format!(
                    "{entry:?} is not a retry condition; use HTTP status codes and: {}",
                    RETRY_ON.join(", ")
                ));
            }
        }
        Ok(out)
    }

    fn has(&self, condition: &str) -> bool {
        self.conditions.contains(condition)
    }

    /// Retry after a failed connection (refused, timed out)?
    pub fn connect_failure(&self) -> bool {
        self.has("connect-failure") || self.has("5xx") || self.has("gateway-error") || self.has("reset")
    }

    /// Retry after the upstream reset the stream before response headers?
    pub fn reset(&self) -> bool {
        self.has("reset") || self.has("5xx") || self.has("gateway-error")
    }

    /// Retry after an HTTP/2 REFUSED_STREAM?
    pub fn refused_stream(&self) -> bool {
        self.has("refused-stream") || self.has("5xx") || self.has("gateway-error") || self.has("reset")
    }

    /// Retry after a per-try timeout (a local reset: only `5xx`, `gateway-error`, `reset`)?
    pub fn per_try_timeout(&self) -> bool {
        self.reset()
    }

    /// Retry an upstream response with this status (and `grpc-status` response header)?
    pub fn response(&self, status: u16, grpc_status: Option<u32>) -> bool {
        (self.has("5xx") && status >= 500)
            || (self.has("gateway-error") && matches!(status, 502..=504))
            || (self.has("retriable-4xx") && status == 409)
            || (self.has("retriable-status-codes") && self.status_codes.contains(&status))
            || grpc_status.is_some_and(|code| {
                (self.has("cancelled") && code == 1)
                    || (self.has("deadline-exceeded") && code == 4)
                    || (self.has("resource-exhausted") && code == 8)
                    || (self.has("internal") && code == 13)
                    || (self.has("unavailable") && code == 14)
            })
    }
}

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
            retry_on: RetryOn::parse(DEFAULT_RETRY_ON).unwrap_or_default(),
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
            Ok(on) => on.unwrap_or_else(|| RetryPolicy::default().retry_on),
            Err(e) => {
                errors.push(("retryOn".to_string(), e));
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

/// Header operations (`set` overwrites, `add` appends, `remove` deletes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderOps {
    /// Overwrite or add.
    pub set: Vec<(String, String)>,
    /// Append a value.
    pub add: Vec<(String, String)>,
    /// Remove.
    pub remove: Vec<String>,
}

impl HeaderOps {
    /// Compile Istio header operations; `%%` in values is a literal `%`. Authority keys
    /// (`host`, `:authority`) are returned apart, as an authority rewrite.
    pub fn compile(ops: Option<&HeaderOperations>) -> Result<(Self, Option<String>), String> {
        let mut out = HeaderOps::default();
        let mut authority = None;
        let Some(ops) = ops else {
            return Ok((out, None));
        };
        for (list, target) in [(&ops.set, true), (&ops.add, false)] {
            for (name, value) in list {
                let name = name.to_ascii_lowercase();
                let value = header_value(value)?;
                if name == "host" || name == ":authority" {
                    authority = Some(value);
                } else if name.starts_with(':') {
                    return Err(format!(
                        "header {name:?}: only :authority may be set among pseudo-headers"
                    ));
                } else if target {
                    out.set.push((name, value));
                } else {
                    out.add.push((name, value));
                }
            }
        }
        for name in &ops.remove {
            let name = name.to_ascii_lowercase();
            if name == "host" || name.starts_with(':') {
                return Err(format!("header {name:?} cannot be removed"));
            }
            out.remove.push(name);
        }
        Ok((out, authority))
    }

    /// Apply to a header map (values that are not valid header values are skipped).
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for name in &self.remove {
            headers.remove(name.as_str());
        }
        for (name, value) in &self.set {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::try_from(name.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                headers.insert(n, v);
            }
        }
        for (name, value) in &self.add {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::try_from(name.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                headers.append(n, v);
            }
        }
    }
}

/// Envoy header-formatter values: `%%` is `%`; `%VAR%` substitutions are not supported
/// locally and reported; a lone `%` is invalid.
fn header_value(value: &str) -> Result<String, String> {
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
    Ok(out)
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
    Http(u16),
    /// A gRPC status code (for gRPC requests).
    Grpc(u32),
}

const GRPC_CODES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

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
                (Some(s), None) if (200..=599).contains(&s) => Abort::Http(u16::try_from(s).unwrap_or(500)),
                (Some(_), None) => {
                    return Err((
                        "abort.httpStatus".into(),
                        "an HTTP status is between 200 and 599".into(),
                    ));
                }
                (None, Some(name)) => match GRPC_CODES.iter().position(|c| *c == name) {
                    Some(code) => Abort::Grpc(u32::try_from(code).unwrap_or(2)),
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
    pub allow_methods: String,
    /// `access-control-allow-headers`.
    pub allow_headers: String,
    /// `access-control-expose-headers`.
    pub expose_headers: String,
    /// `access-control-max-age` in seconds.
    pub max_age: Option<u64>,
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
            Ok(d) => d.map(|d| d.as_secs()),
            Err(e) => return Err(("maxAge".into(), e)),
        };
        Ok(Cors {
            allow_origins,
            allow_methods: c.allow_methods.join(","),
            allow_headers: c.allow_headers.join(","),
            expose_headers: c.expose_headers.join(","),
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
