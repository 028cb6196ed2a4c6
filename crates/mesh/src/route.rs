//! Compiled routes and the decision taken for one request.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use regex::Regex;

use crate::cluster::{Cluster, Missing};
use crate::matcher::RequestMatch;
use crate::path::Received;
use crate::policy::{Cors, Fault, HeaderOps, RetryPolicy};

/// Where a compiled route came from: for `explain`, access logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `VirtualService namespace/name`.
    pub resource: String,
    /// Index in `spec.http`.
    pub http_index: usize,
    /// Index in that route's `match` list (`None` for a route without matches).
    pub match_index: Option<usize>,
    /// The route's `name`, if any.
    pub name: Option<String>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} spec.http[{}]", self.resource, self.http_index)?;
        if let Some(m) = self.match_index {
            write!(f, ".match[{m}]")?;
        }
        if let Some(n) = &self.name {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// One Envoy route: a match block of an `HTTPRoute` and what to do on a match.
#[derive(Clone, Debug)]
pub struct Route {
    /// Where it came from (shared with each decision it makes).
    pub origin: Arc<Origin>,
    /// What the request must look like.
    pub matcher: RequestMatch,
    /// What to do.
    pub action: RouteAction,
    /// Fault injection.
    pub fault: Option<Fault>,
    /// CORS policy.
    pub cors: Option<Arc<Cors>>,
    /// Route-level response header operations.
    pub response_headers: HeaderOps,
}

/// The action of a route.
#[derive(Clone, Debug)]
pub enum RouteAction {
    /// Forward upstream.
    Forward(Arc<ForwardAction>),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer with a fixed response.
    Direct {
        /// Status.
        status: StatusCode,
        /// Body.
        body: Vec<u8>,
    },
}

/// A weighted destination of a forwarding route.
#[derive(Clone, Debug)]
pub struct Destination {
    /// The share, relative to the others (one destination always gets everything).
    pub weight: u32,
    /// The resolved cluster, or why it does not exist.
    pub cluster: Result<Arc<Cluster>, Missing>,
    /// `host:port/subset` as written, for messages.
    pub label: String,
    /// Destination-level request header operations.
    pub request_headers: HeaderOps,
    /// Destination-level response header operations.
    pub response_headers: HeaderOps,
    /// Destination-level authority rewrite (`headers.request.set.host`).
    pub authority: Option<HeaderValue>,
}

/// How the path is rewritten.
#[derive(Clone, Debug)]
pub enum Rewrite {
    /// Replace the first `matched` bytes of the path (the matched prefix, or all of it).
    Prefix {
        /// Bytes of the path the route matched; `None` means the whole path.
        matched: Option<usize>,
        /// The replacement.
        replacement: String,
    },
    /// RE2 replace-all on the path.
    Regex {
        /// The pattern.
        pattern: Regex,
        /// The replacement, in the regex crate's `${1}` syntax.
        replacement: String,
    },
}

impl Rewrite {
    /// Rewrite `path` (no query).
    pub fn apply(&self, path: &str) -> String {
        match self {
            Rewrite::Prefix { matched, replacement } => {
                let cut = matched.unwrap_or(path.len()).min(path.len());
                [replacement.as_str(), path.get(cut..).unwrap_or("")].concat()
            }
            Rewrite::Regex { pattern, replacement } => {
                pattern.replace_all(path, replacement.as_str()).into_owned()
            }
        }
    }
}

/// Everything a forwarding route does besides choosing a destination.
#[derive(Clone, Debug)]
pub struct ForwardAction {
    /// Weighted destinations (weight-0 ones dropped when there are several).
    pub destinations: Vec<Destination>,
    /// Path rewrite.
    pub rewrite: Option<Rewrite>,
    /// Authority rewrite (`rewrite.authority`, or route-level `headers.request.set.host`).
    pub authority: Option<HeaderValue>,
    /// Route-level request header operations.
    pub request_headers: HeaderOps,
    /// Route timeout; `None` = none.
    pub timeout: Option<Duration>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Mirror clusters and the percentage of requests each receives (at most
    /// [`MAX_MIRRORS`], so a decision records the ones that fire in a bit set).
    pub mirrors: Vec<(Arc<Cluster>, f64)>,
    /// Route-level response header operations (the route's, kept here for forwards).
    pub response_headers: HeaderOps,
}

/// The most mirrors a route may have.
pub const MAX_MIRRORS: usize = 64;

/// Which port a redirect names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectPort {
    /// Keep the Host's port (dropped when the scheme changes from its default).
    Default,
    /// This port.
    Explicit(u16),
    /// The gateway server's port (omitted when it is the scheme's default).
    FromRequest,
}

/// `http` or `https`: of a listener, a request, a redirect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The scheme's default port.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https` (case-insensitively).
    pub fn parse(value: &str) -> Option<Scheme> {
        if value.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if value.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A redirect.
#[derive(Clone, Debug)]
pub struct Redirect {
    /// 301, 302, 303, 307 or 308.
    pub code: StatusCode,
    /// Replace the path (query kept unless it has its own).
    pub uri: Option<String>,
    /// Replace the matched prefix: (prefix length, replacement).
    pub prefix_rewrite: Option<(usize, String)>,
    /// Replace host and port.
    pub authority: Option<String>,
    /// Port handling.
    pub port: RedirectPort,
    /// A new scheme.
    pub scheme: Option<Scheme>,
}

/// The decision for one request.
#[derive(Clone, Debug)]
pub struct Decision {
    /// The route taken, if any.
    pub route: Option<Arc<Origin>>,
    /// Injected delay before acting.
    pub delay: Option<Duration>,
    /// What to do.
    pub action: Action,
}

/// Answer locally, or forward.
#[derive(Clone, Debug)]
pub enum Action {
    /// A response made by the gateway.
    Reply(Reply),
    /// Forward upstream.
    Forward(Forward),
}

/// A response made by the gateway itself (Istio's "local reply").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Body (`content-type: text/plain` when non-empty, unless a header says otherwise).
    pub body: Vec<u8>,
    /// Extra response headers (`location`, CORS, route response headers).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// For gRPC requests: the gRPC status to answer (else mapped from the HTTP status).
    pub grpc_status: Option<crate::grpc::Code>,
}

impl Reply {
    /// A reply with a status and a text body.
    pub fn new(status: StatusCode, body: &str) -> Self {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            headers: Vec::new(),
            grpc_status: None,
        }
    }

    /// Set header `name` (replacing earlier values).
    pub fn set_header(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
    }
}

/// A request to forward: the chosen destination of a route, the upstream target, and
/// the route's policies — shared with the route, not copied, so deciding allocates nothing
/// unless normalizing changed the path or CORS adds headers (a rewritten path is made by
/// [`Forward::path_and_query`], when the request is sent).
#[derive(Clone, Debug)]
pub struct Forward {
    /// The chosen cluster (its endpoints may be empty: 503 `no healthy upstream`).
    pub cluster: Arc<Cluster>,
    /// The route's forwarding policies.
    pub action: Arc<ForwardAction>,
    /// Which of `action.destinations` was chosen.
    pub destination: usize,
    /// The normalized path, when normalizing changed the request's (rare); `None`: the
    /// request's own path is the normalized one.
    pub normalized: Option<String>,
    /// Extra response headers (CORS).
    pub extra_response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Bit `i` set: `action.mirrors[i]` receives a copy of this request.
    pub mirrored: u64,
}

impl Forward {
    /// The chosen destination.
    pub fn destination(&self) -> &Destination {
        &self.action.destinations[self.destination]
    }

    /// The upstream path and query of a request whose own were `request`: normalized,
    /// then rewritten by the route. Borrowed when neither changed anything. `request` must be
    /// the target the decision was made for (the request's URI, or its `:path`).
    pub fn path_and_query<'a>(&self, request: impl Into<Received<'a>>) -> Cow<'a, str> {
        let request = request.into();
        let path = match (&self.action.rewrite, &self.normalized) {
            (Some(rewrite), normalized) => {
                Cow::Owned(rewrite.apply(normalized.as_deref().unwrap_or(request.path)))
            }
            (None, None) => return Cow::Borrowed(request.whole),
            (None, Some(normalized)) => Cow::Owned(normalized.clone()),
        };
        match request.query {
            Some(q) => Cow::Owned([&*path, "?", q].concat()),
            None => path,
        }
    }

    /// The normalized path and query before a rewrite, for `x-envoy-original-path`;
    /// `None` when the route does not rewrite the path.
    pub fn original_path<'a>(&self, request: impl Into<Received<'a>>) -> Option<Cow<'a, str>> {
        self.action.rewrite.as_ref()?;
        let request = request.into();
        Some(match (&self.normalized, request.query) {
            (None, _) => Cow::Borrowed(request.whole),
            (Some(normalized), Some(q)) => Cow::Owned([normalized, "?", q].concat()),
            (Some(normalized), None) => Cow::Owned(normalized.clone()),
        })
    }

    /// Upstream authority when rewritten (by the route, else by the destination).
    pub fn authority(&self) -> Option<&HeaderValue> {
        self.action
            .authority
            .as_ref()
            .or(self.destination().authority.as_ref())
    }

    /// The authority was rewritten by the route itself (not one destination): Envoy then
    /// sends the original in `x-envoy-original-host`. istiod writes a single destination's
    /// rewrite on the route too; only a weighted cluster's own rewrite leaves it unsent.
    pub fn original_host(&self) -> bool {
        self.action.authority.is_some()
            || (self.destination().authority.is_some() && self.action.destinations.len() == 1)
    }

    /// Request header operations, in order: with one destination its operations run
    /// after the route's; with several, before.
    pub fn request_headers(&self) -> [&HeaderOps; 2] {
        let (route, destination) = (&self.action.request_headers, &self.destination().request_headers);
        if self.action.destinations.len() == 1 {
            [route, destination]
        } else {
            [destination, route]
        }
    }

    /// Response header operations, in the same order as [`Self::request_headers`].
    pub fn response_headers(&self) -> [&HeaderOps; 2] {
        let (route, destination) = (
            &self.action.response_headers,
            &self.destination().response_headers,
        );
        if self.action.destinations.len() == 1 {
            [route, destination]
        } else {
            [destination, route]
        }
    }

    /// Route timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.action.timeout
    }

    /// Retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.action.retry
    }

    /// Clusters that receive a copy of this request.
    pub fn mirrors(&self) -> impl Iterator<Item = &Arc<Cluster>> {
        self.action
            .mirrors
            .iter()
            .take(MAX_MIRRORS)
            .enumerate()
            .filter(|(i, _)| self.mirrored & (1 << i) != 0)
            .map(|(_, (cluster, _))| cluster)
    }
}
