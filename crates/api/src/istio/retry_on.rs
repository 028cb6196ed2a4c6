//! `HTTPRetry.retryOn`: Envoy's retry conditions and retriable status codes, parsed once
//! (by `sluice-mesh` for VirtualServices and `sluice-translate` for Seldon's
//! `seldon.io/istio-retry-on` annotation) into a set the data path tests without strings.

use std::collections::BTreeSet;
use std::fmt;

/// One retry condition Istio accepts in `retryOn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// `5xx`: a 5xx answer, a reset, a connect failure or a refused stream.
    FiveXx,
    /// `gateway-error`: 502, 503, 504, or the failures that would produce them.
    GatewayError,
    /// `reset`: the upstream did not answer (disconnect, reset, read timeout).
    Reset,
    /// `reset-before-request`.
    ResetBeforeRequest,
    /// `connect-failure`.
    ConnectFailure,
    /// `envoy-ratelimited`.
    EnvoyRatelimited,
    /// `retriable-4xx`: 409.
    Retriable4xx,
    /// `refused-stream`: HTTP/2 REFUSED_STREAM.
    RefusedStream,
    /// `retriable-status-codes`: the listed HTTP statuses.
    RetriableStatusCodes,
    /// `retriable-headers`.
    RetriableHeaders,
    /// `http3-post-connect-failure`.
    Http3PostConnectFailure,
    /// gRPC `cancelled` (1).
    Cancelled,
    /// gRPC `deadline-exceeded` (4).
    DeadlineExceeded,
    /// gRPC `internal` (13).
    Internal,
    /// gRPC `resource-exhausted` (8).
    ResourceExhausted,
    /// gRPC `unavailable` (14).
    Unavailable,
}

impl Condition {
    /// Every condition, with its name in `retryOn`.
    pub const ALL: [(Condition, &'static str); 16] = [
        (Condition::FiveXx, "5xx"),
        (Condition::GatewayError, "gateway-error"),
        (Condition::Reset, "reset"),
        (Condition::ResetBeforeRequest, "reset-before-request"),
        (Condition::ConnectFailure, "connect-failure"),
        (Condition::EnvoyRatelimited, "envoy-ratelimited"),
        (Condition::Retriable4xx, "retriable-4xx"),
        (Condition::RefusedStream, "refused-stream"),
        (Condition::RetriableStatusCodes, "retriable-status-codes"),
        (Condition::RetriableHeaders, "retriable-headers"),
        (Condition::Http3PostConnectFailure, "http3-post-connect-failure"),
        (Condition::Cancelled, "cancelled"),
        (Condition::DeadlineExceeded, "deadline-exceeded"),
        (Condition::Internal, "internal"),
        (Condition::ResourceExhausted, "resource-exhausted"),
        (Condition::Unavailable, "unavailable"),
    ];

    /// The condition named `name`.
    pub fn from_name(name: &str) -> Option<Condition> {
        Condition::ALL.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// Its name in `retryOn`.
    pub fn name(self) -> &'static str {
        Condition::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("", |(_, n)| n)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A parsed `retryOn`: conditions, and the statuses `retriable-status-codes` retries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RetryOn {
    conditions: u32,
    status_codes: BTreeSet<u16>,
}

/// An entry of `retryOn` is neither a condition nor an HTTP status code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{entry:?} is not a retry condition; use HTTP status codes and: {} (entries are separated by ',' without spaces)",
    Condition::ALL.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
)]
pub struct RetryOnError {
    /// The entry, as written.
    pub entry: String,
}

/// Istio's default for routes without `retries` (since 1.24: no retriable status codes).
pub const ISTIO_DEFAULT: &str = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

impl RetryOn {
    /// Parse a `retryOn` list as Istio's validation does: entries separated by `,`
    /// (not trimmed), each a condition or an HTTP status code (which also turns on
    /// `retriable-status-codes`).
    pub fn parse(list: &str) -> Result<RetryOn, RetryOnError> {
        let mut out = RetryOn::default();
        for entry in list.split(',') {
            if let Ok(code) = entry.parse::<u16>()
                && is_known_status(code)
            {
                out.status_codes.insert(code);
                out.insert(Condition::RetriableStatusCodes);
            } else if let Some(condition) = Condition::from_name(entry) {
                out.insert(condition);
            } else {
                return Err(RetryOnError {
                    entry: entry.to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Istio's default policy's conditions.
    pub fn istio_default() -> RetryOn {
        let mut out = RetryOn::default();
        for name in ISTIO_DEFAULT.split(',') {
            if let Some(c) = Condition::from_name(name) {
                out.insert(c);
            }
        }
        out
    }

    /// Add a condition.
    pub fn insert(&mut self, condition: Condition) {
        self.conditions |= condition.bit();
    }

    /// Is `condition` on?
    pub fn has(&self, condition: Condition) -> bool {
        self.conditions & condition.bit() != 0
    }

    /// The statuses retried under `retriable-status-codes`.
    pub fn status_codes(&self) -> &BTreeSet<u16> {
        &self.status_codes
    }

    fn any(&self, conditions: &[Condition]) -> bool {
        conditions.iter().any(|c| self.has(*c))
    }

    /// Retry after a failed connection (refused, timed out)?
    pub fn connect_failure(&self) -> bool {
        self.any(&[
            Condition::ConnectFailure,
            Condition::FiveXx,
            Condition::GatewayError,
            Condition::Reset,
        ])
    }

    /// Retry after the upstream reset the stream before response headers?
    pub fn reset(&self) -> bool {
        self.any(&[Condition::Reset, Condition::FiveXx, Condition::GatewayError])
    }

    /// Retry after an HTTP/2 REFUSED_STREAM?
    pub fn refused_stream(&self) -> bool {
        self.any(&[
            Condition::RefusedStream,
            Condition::FiveXx,
            Condition::GatewayError,
            Condition::Reset,
        ])
    }

    /// Retry after a per-try timeout (a local reset: only `5xx`, `gateway-error`, `reset`)?
    pub fn per_try_timeout(&self) -> bool {
        self.reset()
    }

    /// Retry an upstream answer with this status (and `grpc-status` header)?
    pub fn response(&self, status: u16, grpc_status: Option<u32>) -> bool {
        (self.has(Condition::FiveXx) && status >= 500)
            || (self.has(Condition::GatewayError) && matches!(status, 502..=504))
            || (self.has(Condition::Retriable4xx) && status == 409)
            || (self.has(Condition::RetriableStatusCodes) && self.status_codes.contains(&status))
            || grpc_status.is_some_and(|code| {
                (self.has(Condition::Cancelled) && code == 1)
                    || (self.has(Condition::DeadlineExceeded) && code == 4)
                    || (self.has(Condition::ResourceExhausted) && code == 8)
                    || (self.has(Condition::Internal) && code == 13)
                    || (self.has(Condition::Unavailable) && code == 14)
            })
    }
}

/// A status Go's `http.StatusText` names (what Istio's validation accepts).
fn is_known_status(code: u16) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429 | 431 | 451
        | 500..=508 | 510 | 511)
}

impl fmt::Display for RetryOn {
    /// The canonical list: conditions in Envoy's order, then status codes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries: Vec<String> = Condition::ALL
            .iter()
            .filter(|(c, _)| {
                self.has(*c) && (*c != Condition::RetriableStatusCodes || self.status_codes.is_empty())
            })
            .map(|(_, n)| n.to_string())
            .collect();
        entries.extend(self.status_codes.iter().map(u16::to_string));
        f.write_str(&entries.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_codes_without_trimming() {
        let on = RetryOn::parse("5xx,503,connect-failure").expect("valid");
        assert!(on.has(Condition::FiveXx) && on.has(Condition::ConnectFailure));
        assert!(on.has(Condition::RetriableStatusCodes));
        assert_eq!(on.status_codes().iter().copied().collect::<Vec<_>>(), vec![503]);
        assert_eq!(RetryOn::parse("5xx, reset").expect_err("space").entry, " reset");
        assert!(RetryOn::parse("sometimes").is_err());
        assert!(RetryOn::parse("").is_err());
        assert!(RetryOn::parse("99").is_err());
    }

    #[test]
    fn semantics_follow_envoy() {
        let on = RetryOn::parse("retriable-4xx").expect("valid");
        assert!(on.response(409, None) && !on.response(404, None));
        let on = RetryOn::parse("gateway-error").expect("valid");
        assert!(on.response(503, None) && !on.response(500, None) && on.connect_failure());
        let default = RetryOn::istio_default();
        assert!(default.connect_failure() && !default.response(503, None));
        assert!(default.response(200, Some(14)) && !default.per_try_timeout());
    }

    #[test]
    fn displays_canonically() {
        let on = RetryOn::parse("503,gateway-error,504").expect("valid");
        assert_eq!(on.to_string(), "gateway-error,503,504");
        assert_eq!(RetryOn::parse(&on.to_string()).expect("re-parses"), on);
    }
}
