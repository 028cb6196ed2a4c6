//! Forwarding a routed request upstream (spec §4.8–§4.11, §8, §9): the upstream request's
//! headers, the body (buffered up to a limit, so it can be retried and mirrored), the
//! tries with their timeouts and back-off, and the response as the client gets it.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version, header};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use rand::RngExt;
use sluice_mesh::{Forward, Reply, UpstreamProtocol};

use crate::flags::ResponseFlag;
use crate::headers::{
    GRPC_STATUS, GRPC_TIMEOUT, X_ENVOY_ATTEMPT_COUNT, X_ENVOY_EXPECTED_RQ_TIMEOUT_MS, X_ENVOY_ORIGINAL_HOST,
    X_ENVOY_ORIGINAL_PATH, X_ENVOY_OVERLOADED, X_ENVOY_UPSTREAM_SERVICE_TIME, X_FORWARDED_CLIENT_CERT,
};
use crate::proxy::{Exchange, Outcome};
use crate::record::Counted;
use crate::upstream::Outcome as Try;
use crate::{Body, BoxError, full, headers, mirror};

/// Request bodies up to this size are buffered, so they can be retried and mirrored.
pub(crate) const BUFFER_LIMIT: usize = 1 << 20;

/// The headers a request usually gains on its way upstream: `x-forwarded-for`,
/// `x-forwarded-proto`, `x-envoy-external-address`, `x-request-id`, `x-envoy-original-path`,
/// `x-envoy-attempt-count`, `x-envoy-expected-rq-timeout-ms` and `grpc-timeout`.
const ADDED_HEADERS: usize = 8;

/// The start of the connect-failure body (Envoy's wording).
const RESET_PREFIX: &str = "upstream connect error or disconnect/reset before headers. ";

impl Exchange<'_> {
    /// A local reply on behalf of `f`'s cluster.
    fn fail(&self, f: &Forward, status: StatusCode, text: &str, flag: ResponseFlag) -> Outcome {
        self.local(&Reply::new(status, text), flag, Some(f.cluster.clone()))
    }
}

/// Forward `f` with the request's `parts` and `body`.
pub(crate) async fn forward(
    ex: &Exchange<'_>,
    f: Forward,
    mut parts: http::request::Parts,
    body: Counted<Incoming>,
) -> Outcome {
    if f.cluster.endpoints.is_empty() {
        return ex.fail(
            &f,
            StatusCode::SERVICE_UNAVAILABLE,
            "no healthy upstream",
            ResponseFlag::NoHealthyUpstream,
        );
    }
    let Some(_in_flight) = ex.shared.balancer.admit(&f.cluster) else {
        let mut o = ex.fail(
            &f,
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{RESET_PREFIX}reset reason: overflow"),
            ResponseFlag::UpstreamOverflow,
        );
        o.response
            .headers_mut()
            .insert(X_ENVOY_OVERLOADED, HeaderValue::from_static("true"));
        return o;
    };
    let Some(uri) = upstream_uri(&f, &parts.uri) else {
        return ex.fail(&f, StatusCode::BAD_REQUEST, "", ResponseFlag::None);
    };
    // Read before the headers move to the upstream request.
    let grpc_timeout = if ex.grpc {
        client_grpc_timeout(&parts.headers)
    } else {
        None
    };
    let request_headers = upstream_headers(ex, &f, &mut parts);
    let Ok(body) = read_body(body).await else {
        return ex.fail(&f, StatusCode::BAD_REQUEST, "", ResponseFlag::None);
    };
    let mirrored = f.mirrors().next().is_some();
    if let (RequestBody::Buffered(bytes), true) = (&body, mirrored) {
        mirror::send(
            mirror::Copy {
                method: parts.method.clone(),
                uri: uri.clone(),
                headers: request_headers.clone(),
                body: bytes.clone(),
                timeout: f.timeout(),
                local: ex.downstream.local,
            },
            f.mirrors().cloned().collect(),
            &ex.shared.clients,
            &ex.shared.balancer,
            &ex.shared.mirror_limit,
        );
    }
    if matches!(body, RequestBody::Streaming(_)) && mirrored {
        tracing::debug!("request body over {BUFFER_LIMIT} bytes: not mirrored and not retried");
    }
    let tries = Tries::new(ex, &f, parts.version, grpc_timeout, &body);
    tries.run(ex, &f, &parts.method, uri, request_headers, body).await
}

/// The upstream request target (origin-form): the request's own, shared rather than
/// copied, unless the route rewrote it or normalizing changed it.
fn upstream_uri(f: &Forward, request: &Uri) -> Option<Uri> {
    let own = request.path_and_query();
    match f.path_and_query(request) {
        Cow::Borrowed(_) => Some(own.cloned().map_or_else(|| Uri::from_static("/"), Uri::from)),
        Cow::Owned(rewritten) => {
            let uri = Uri::try_from(rewritten).ok()?;
            // Origin-form only: a rewrite to an absolute URI sends its path, one to no path `/`.
            match (uri.scheme(), uri.authority(), uri.path_and_query()) {
                (None, None, Some(_)) => Some(uri),
                (_, _, path) => Some(path.cloned().map_or_else(|| Uri::from_static("/"), Uri::from)),
            }
        }
    }
}

/// Request headers as the upstream sees them (spec §8): the client's, cleaned, with the
/// forwarding headers, the route's header operations, and the rewritten authority and path.
/// The client's headers are moved out of `parts`, not copied.
fn upstream_headers(ex: &Exchange<'_>, f: &Forward, parts: &mut http::request::Parts) -> HeaderMap {
    let mut headers = std::mem::take(&mut parts.headers);
    // Room for the headers added below and per try, made at once: a map parsed to the size
    // of the client's headers would otherwise grow (and rehash) on the way, and a copy kept
    // for a retry would grow again.
    headers.reserve(ADDED_HEADERS);
    let original_authority = match parts.uri.authority() {
        Some(a) => HeaderValue::try_from(a.as_str()).ok(),
        None => headers.get(header::HOST).filter(|h| h.to_str().is_ok()).cloned(),
    };
    let request_id = headers::request_id(&mut rand::rng());
    headers::upstream_request(&mut headers, &ex.downstream.peer_ip, ex.scheme, request_id);
    // x-forwarded-client-cert: Istio's SANITIZE_SET — the client's never passes (removed
    // above); a verified client certificate's details are set (spec §8, C83).
    if let Some(xfcc) = ex.downstream.tls.as_ref().and_then(|t| t.xfcc.clone()) {
        headers.insert(X_FORWARDED_CLIENT_CERT, xfcc);
    }
    for ops in f.request_headers() {
        ops.apply(&mut headers);
    }
    // The original authority is moved, not cloned: a clone of a value made from a `&str`
    // would allocate again.
    match (f.authority(), original_authority) {
        (Some(rewritten), original) => {
            if f.original_host()
                && let Some(original) = original
            {
                headers.insert(X_ENVOY_ORIGINAL_HOST, original);
            }
            headers.insert(header::HOST, rewritten.clone());
        }
        (None, Some(original)) => {
            headers.insert(header::HOST, original);
        }
        (None, None) => {}
    }
    if let Some(original) = f.original_path(&parts.uri)
        && let Ok(v) = HeaderValue::try_from(&*original)
    {
        headers.insert(X_ENVOY_ORIGINAL_PATH, v);
    }
    headers
}

/// The client's `grpc-timeout` header, if it is one.
fn client_grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(GRPC_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

/// The request body: buffered (replayable) or streamed (not retried, not mirrored).
enum RequestBody {
    Buffered(Bytes),
    Streaming(Body),
}

/// Buffer up to `BUFFER_LIMIT`; past it, stream what was read followed by the rest.
async fn read_body(mut body: Counted<Incoming>) -> Result<RequestBody, BoxError> {
    let mut chunks: VecDeque<Bytes> = VecDeque::new();
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Ok(data) = frame.into_data() {
            size += data.len();
            chunks.push_back(data);
            if size > BUFFER_LIMIT {
                return Ok(RequestBody::Streaming(
                    Prefixed {
                        prefix: chunks,
                        rest: body,
                    }
                    .boxed(),
                ));
            }
        }
        // Request trailers are dropped here; gRPC clients do not send them.
    }
    if chunks.len() <= 1 {
        return Ok(RequestBody::Buffered(chunks.pop_front().unwrap_or_default()));
    }
    let mut all = Vec::with_capacity(size);
    for c in chunks {
        all.extend_from_slice(&c);
    }
    Ok(RequestBody::Buffered(Bytes::from(all)))
}

/// Buffered chunks, then the rest of the incoming body.
struct Prefixed {
    prefix: VecDeque<Bytes>,
    rest: Counted<Incoming>,
}

impl hyper::body::Body for Prefixed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(chunk) = self.prefix.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        Pin::new(&mut self.rest)
            .poll_frame(cx)
            .map_err(|e| Box::new(e) as BoxError)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The tries of one request: how many, over which protocol, until when.
struct Tries {
    /// Tries in all (1 + retries; 1 for a streamed body, which cannot be replayed).
    max: u32,
    use_h2: bool,
    /// A gRPC call: its deadline is passed on in `grpc-timeout`.
    grpc: bool,
    /// Per-try timeout.
    per_try: Option<Duration>,
    /// The route timeout, capped by a gRPC client's deadline.
    timeout: Option<Duration>,
    /// When `timeout` expires.
    deadline: Option<Instant>,
}

/// What one try came to.
enum Tried {
    /// The response to send downstream.
    Answered(Response<Body>, Duration),
    /// Try again (after back-off), having seen this failure.
    Again(Failure),
    /// Give up with this outcome.
    Done(Failure),
}

/// Why a try failed.
#[derive(Clone, Copy)]
enum Failure {
    /// Every endpoint is ejected.
    NoHealthy,
    /// The per-try or route timeout expired.
    Timeout,
    /// No connection; Envoy's reset reason.
    Connect(&'static str),
    /// The stream was reset or refused; Envoy's reset reason.
    Reset(&'static str),
}

impl Tries {
    /// `grpc_timeout` is the client's (gRPC only), capped by the route timeout (Envoy's
    /// max_grpc_timeout).
    fn new(
        ex: &Exchange<'_>,
        f: &Forward,
        version: Version,
        grpc_timeout: Option<Duration>,
        body: &RequestBody,
    ) -> Tries {
        let use_h2 = match f.cluster.protocol {
            UpstreamProtocol::Http2 => true,
            UpstreamProtocol::Http1 => false,
            UpstreamProtocol::Client => version == Version::HTTP_2,
        };
        let timeout = match (f.timeout(), grpc_timeout) {
            (Some(route), Some(client)) => Some(route.min(client)),
            (route, client) => route.or(client),
        };
        Tries {
            max: match body {
                RequestBody::Buffered(_) => f.retry().attempts + 1,
                RequestBody::Streaming(_) => 1,
            },
            use_h2,
            grpc: ex.grpc,
            per_try: f.retry().per_try_timeout,
            timeout,
            deadline: timeout.map(|t| Instant::now() + t),
        }
    }

    async fn run(
        &self,
        ex: &Exchange<'_>,
        f: &Forward,
        method: &Method,
        uri: Uri,
        mut request_headers: HeaderMap,
        body: RequestBody,
    ) -> Outcome {
        let (replayable, mut streaming) = match body {
            RequestBody::Buffered(b) => (Some(b), None),
            RequestBody::Streaming(s) => (None, Some(s)),
        };
        // An HTTP/2 upstream gets the host as `:authority`: a host that is no authority
        // fails every try alike, so it is the request's fault (400), not a connect failure
        // to retry and to count against the endpoint.
        if self.use_h2
            && request_headers
                .get(header::HOST)
                .is_some_and(|h| http::uri::Authority::try_from(h.as_bytes()).is_err())
        {
            return ex.fail(f, StatusCode::BAD_REQUEST, "", ResponseFlag::None);
        }
        let empty = replayable.as_ref().is_some_and(Bytes::is_empty);
        self.add_try_headers(&mut request_headers, method, empty);
        let mut tried: Vec<&str> = Vec::new();
        let mut last = Failure::Connect("remote connection failure");
        for attempt in 1..=self.max {
            let body = match (&replayable, streaming.take()) {
                (Some(b), _) => full(b.clone()),
                (None, Some(s)) => s,
                (None, None) => full(Bytes::new()),
            };
            // The last try takes the headers; earlier ones a copy, kept for a retry.
            let headers = if attempt == self.max {
                std::mem::take(&mut request_headers)
            } else {
                request_headers.clone()
            };
            let request = self.request(method, &uri, headers, attempt, body);
            match self.once(ex, f, attempt, request, &mut tried).await {
                Tried::Answered(response, service_time) => {
                    return Outcome {
                        response: downstream(ex, f, response, service_time, self.deadline),
                        flag: ResponseFlag::None,
                        service: Some(f.cluster.clone()),
                    };
                }
                Tried::Again(failure) => {
                    last = failure;
                    backoff(attempt, f.retry().backoff, self.deadline).await;
                }
                Tried::Done(failure) => return self.failed(ex, f, failure, attempt),
            }
        }
        self.failed(ex, f, last, self.max)
    }

    /// The headers every try adds, added once to the headers each try copies (so a copy,
    /// made to its length, needs no room for them).
    fn add_try_headers(&self, h: &mut HeaderMap, method: &Method, empty: bool) {
        h.insert(X_ENVOY_ATTEMPT_COUNT, attempt_count(1));
        // Envoy states the try's timeout, and passes it on as a gRPC call's deadline.
        if let Some(expected) = self.per_try.or(self.timeout) {
            let ms = expected.as_millis() as u64;
            h.insert(X_ENVOY_EXPECTED_RQ_TIMEOUT_MS, HeaderValue::from(ms));
            if self.grpc
                && let Ok(v) = HeaderValue::try_from(format!("{ms}m"))
            {
                h.insert(GRPC_TIMEOUT, v);
            }
        }
        // Envoy's HTTP/1 codec states an empty body, except where none is expected.
        if empty
            && !self.use_h2
            && ![Method::GET, Method::HEAD, Method::CONNECT].contains(method)
            && !h.contains_key(header::TRANSFER_ENCODING)
        {
            h.entry(header::CONTENT_LENGTH)
                .or_insert(HeaderValue::from_static("0"));
        }
    }

    /// The upstream request of try number `attempt`, its headers those of
    /// [`add_try_headers`](Self::add_try_headers).
    fn request(
        &self,
        method: &Method,
        uri: &Uri,
        mut headers: HeaderMap,
        attempt: u32,
        body: Body,
    ) -> Request<Body> {
        if attempt > 1 {
            headers.insert(X_ENVOY_ATTEMPT_COUNT, attempt_count(attempt));
        }
        let mut request = Request::new(body);
        *request.method_mut() = method.clone();
        *request.version_mut() = if self.use_h2 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        // The endpoint is chosen per try; the path is fixed.
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        request
    }

    /// How long the next try may take: the per-try timeout, capped by the time left.
    fn try_limit(&self) -> Option<Duration> {
        let remaining = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match (self.per_try, remaining) {
            (Some(p), Some(r)) => Some(p.min(r)),
            (p, r) => p.or(r),
        }
    }

    /// Send one try to an endpoint of `f`'s cluster.
    async fn once<'f>(
        &self,
        ex: &Exchange<'_>,
        f: &'f Forward,
        attempt: u32,
        request: Request<Body>,
        tried: &mut Vec<&'f str>,
    ) -> Tried {
        let more = attempt < self.max;
        let balancer = &ex.shared.balancer;
        let Some(pick) = balancer.pick(&f.cluster, if f.retry().previous_hosts { tried } else { &[] }) else {
            return Tried::Done(Failure::NoHealthy);
        };
        let endpoint = pick.endpoint.authority();
        let limit = self.try_limit();
        let started = Instant::now();
        let sent = ex.shared.clients.request(self.use_h2, endpoint, request);
        let result = match limit {
            Some(l) => tokio::time::timeout(l, sent).await.map_err(|_| ()),
            None => Ok(sent.await),
        };
        let retry_on = &f.retry().retry_on;
        let tried_here = match result {
            Err(()) => {
                balancer.report(&f.cluster, pick.endpoint, Try::Failure);
                let route_expired = self.deadline.is_some_and(|d| Instant::now() >= d);
                if !route_expired && more && retry_on.per_try_timeout() {
                    Tried::Again(Failure::Timeout)
                } else {
                    Tried::Done(Failure::Timeout)
                }
            }
            Ok(Err(e)) => {
                balancer.report(&f.cluster, pick.endpoint, Try::Failure);
                let (failure, retry) = if e.is_connect() {
                    (Failure::Connect(e.reset_reason()), retry_on.connect_failure())
                } else if e.is_refused_stream() {
                    (Failure::Reset(e.reset_reason()), retry_on.refused_stream())
                } else {
                    (Failure::Reset(e.reset_reason()), retry_on.reset())
                };
                if retry && more {
                    Tried::Again(failure)
                } else {
                    Tried::Done(failure)
                }
            }
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                balancer.report(&f.cluster, pick.endpoint, Try::Status(status));
                let grpc_status = response
                    .headers()
                    .get(GRPC_STATUS)
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                if more && retry_on.response(status, grpc_status) {
                    // Not read, as Envoy resets the stream: its connection is closed (or,
                    // the answer having no body, kept).
                    drop(response);
                    Tried::Again(Failure::Reset("remote reset"))
                } else {
                    Tried::Answered(response, started.elapsed())
                }
            }
        };
        if matches!(tried_here, Tried::Again(_)) {
            tried.push(endpoint);
        }
        tried_here
    }

    /// The local reply after the last try failed.
    fn failed(&self, ex: &Exchange<'_>, f: &Forward, failure: Failure, attempts: u32) -> Outcome {
        let reason = match failure {
            Failure::NoHealthy => {
                return ex.fail(
                    f,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no healthy upstream",
                    ResponseFlag::NoHealthyUpstream,
                );
            }
            Failure::Timeout => {
                return ex.fail(
                    f,
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream request timeout",
                    ResponseFlag::UpstreamRequestTimeout,
                );
            }
            Failure::Connect(reason) | Failure::Reset(reason) => reason,
        };
        let (retried, flag) = match (attempts > 1, failure) {
            (true, _) => (
                "retried and the latest ",
                ResponseFlag::UpstreamRetryLimitExceeded,
            ),
            (false, Failure::Connect(_)) => ("", ResponseFlag::UpstreamConnectionFailure),
            (false, _) => ("", ResponseFlag::UpstreamReset),
        };
        ex.fail(
            f,
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("{RESET_PREFIX}{retried}reset reason: {reason}"),
            flag,
        )
    }
}

/// The upstream's response as the client gets it (spec §8): hop-by-hop headers gone,
/// `server` replaced, service time, the route's response header operations, CORS; the
/// route timeout still running over the body.
fn downstream(
    ex: &Exchange<'_>,
    f: &Forward,
    response: Response<Body>,
    service_time: Duration,
    deadline: Option<Instant>,
) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    // The client gets the gateway's HTTP version, not the upstream's.
    parts.version = ex.version;
    headers::downstream_response(&mut parts.headers);
    parts.headers.insert(
        X_ENVOY_UPSTREAM_SERVICE_TIME,
        HeaderValue::from(service_time.as_millis() as u64),
    );
    for ops in f.response_headers() {
        ops.apply(&mut parts.headers);
    }
    for (name, value) in &f.extra_response_headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    // The route timeout lasts until the response is complete (spec §4.8).
    let body = match deadline {
        Some(d) => Deadline {
            inner: body,
            sleep: Box::pin(tokio::time::sleep_until(d.into())),
        }
        .boxed(),
        None => body,
    };
    Response::from_parts(parts, body)
}

/// A response body cut off (reset) when the route timeout expires mid-stream.
struct Deadline<B> {
    inner: B,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<B> hyper::body::Body for Deadline<B>
where
    B: hyper::body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err("upstream request timeout".into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The `x-envoy-attempt-count` value of try number `attempt`: the first tries' are made once.
fn attempt_count(attempt: u32) -> HeaderValue {
    match attempt {
        1 => HeaderValue::from_static("1"),
        2 => HeaderValue::from_static("2"),
        3 => HeaderValue::from_static("3"),
        n => HeaderValue::from(n),
    }
}

/// A gRPC `grpc-timeout` value: up to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Envoy's retry back-off: fully jittered, `[0, (2^n - 1) * base)` for retry n, capped at
/// ten times the base, and never past the route deadline.
async fn backoff(attempt: u32, base: Duration, deadline: Option<Instant>) {
    let factor = (1u32 << attempt.min(10)) - 1;
    let ceiling = (base * factor).min(base * 10);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut wait = Duration::from_millis(rand::rng().random_range(0..ceiling_ms));
    if let Some(d) = deadline {
        wait = wait.min(d.saturating_duration_since(Instant::now()));
    }
    tokio::time::sleep(wait).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_counts_are_the_numbers() {
        for n in 1..=12 {
            assert_eq!(attempt_count(n), n.to_string().as_str());
        }
    }

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_grpc_timeout("500m"), Some(Duration::from_millis(500)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        for bad in ["", "S", "1x", "123456789S", "-1S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }
}
