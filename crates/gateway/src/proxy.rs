//! One request through the gateway: decide, then answer locally or forward with
//! retries, timeouts and mirrors (spec §4.5–§4.11, §8, §9).

use std::collections::VecDeque;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Version, header};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use rand::RngExt;
use sluice_mesh::{Action, Forward, UpstreamProtocol};

use crate::metrics::{Labels, service_parts};
use crate::server::Shared;
use crate::upstream::Outcome as Try;
use crate::{Body, BoxError, full, headers, mirror, reply};

/// Request bodies up to this size are buffered, so they can be retried and mirrored.
pub(crate) const BUFFER_LIMIT: usize = 1 << 20;

/// The start of the connect-failure body (Envoy's wording).
const RESET_PREFIX: &str = "upstream connect error or disconnect/reset before headers. ";

/// What the metrics and access log need to know about the outcome.
struct Outcome {
    response: Response<Body>,
    flags: &'static str,
    service: Option<String>,
}

/// Handle one request that arrived on gateway port `port`.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    peer: SocketAddr,
    port: u16,
    scheme: &'static str,
) -> Response<Body> {
    let start = Instant::now();
    let table = shared.table.load_full();
    let (parts, body) = request.into_parts();
    let grpc = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let head = parts.method == http::Method::HEAD;
    let request_bytes = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    // With trusted proxies in front, their x-forwarded-proto is believed (spec §3.4, C80).
    let scheme = if shared.options.num_trusted_proxies > 0
        && parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    {
        "https"
    } else {
        scheme
    };
    // What the access log says of the request, taken before the request moves on.
    let logged = shared.access_log.is_some().then(|| {
        let header = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        serde_json::json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
            "protocol": protocol(parts.version),
            "authority": parts.uri.authority().map(|a| a.to_string()).or_else(|| header(header::HOST)),
            "user_agent": header(header::USER_AGENT),
        })
    });
    let decision = table.route(port, scheme, &parts, &mut rand::rng());
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    let outcome = match decision.action {
        Action::Reply(r) => {
            let flags = match (r.status, decision.route.is_some(), r.body.as_slice()) {
                (_, _, b"fault filter abort") => "FI",
                (404, false, _) => "NR",
                (503, true, b"") => "NC",
                _ => "-",
            };
            Outcome {
                response: reply::local(&r, grpc, head),
                flags,
                service: None,
            }
        }
        Action::Forward(f) => forward(&shared, *f, parts, body, peer, scheme, grpc, head).await,
    };
    let response = outcome.response;
    let service = outcome.service.unwrap_or_else(|| "unknown".to_string());
    let (name, namespace) = service_parts(&service);
    let labels = Labels {
        reporter: "source",
        source_workload: shared.options.workload.clone(),
        source_workload_namespace: shared.options.proxy.namespace.clone(),
        destination_service: service,
        destination_service_name: name,
        destination_service_namespace: namespace,
        request_protocol: if grpc { "grpc" } else { "http" },
        response_code: response.status().as_u16().to_string(),
        // Only real gRPC codes, so an upstream cannot grow the label set.
        grpc_response_status: response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse::<u8>().ok())
            .filter(|code| *code <= 16)
            .map(|code| code.to_string())
            .unwrap_or_default(),
        response_flags: if decision.delay.is_some() && outcome.flags == "-" {
            "DI"
        } else {
            outcome.flags
        }
        .to_string(),
    };
    let response_bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let millis = start.elapsed().as_secs_f64() * 1000.0;
    shared
        .metrics
        .record(&labels, millis, request_bytes, response_bytes);
    if let Some(mut line) = logged {
        // Istio's JSON access log field names.
        let outcome = serde_json::json!({
            "route_name": decision.route.map(|o| o.to_string()),
            "response_code": response.status().as_u16(),
            "response_flags": labels.response_flags,
            "upstream_cluster": labels.destination_service,
            "downstream_remote_address": peer.to_string(),
            "bytes_received": request_bytes,
            "bytes_sent": response_bytes,
            "duration": millis.round() as u64,
        });
        if let (Some(line), serde_json::Value::Object(outcome)) = (line.as_object_mut(), outcome) {
            line.extend(outcome);
        }
        if let Some(log) = &shared.access_log {
            log.write(line.to_string());
        }
    }
    response
}

/// The protocol as Envoy's access log writes it.
fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// The request body: buffered (replayable) or streamed (not retried, not mirrored).
enum RequestBody {
    Buffered(Bytes),
    Streaming(Body),
}

/// Buffer up to `BUFFER_LIMIT`; past it, stream what was read followed by the rest.
async fn read_body(mut body: Incoming) -> Result<RequestBody, BoxError> {
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
    rest: Incoming,
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

#[allow(clippy::too_many_arguments)] // reason: the request's parts, passed once
async fn forward(
    shared: &Shared,
    f: Forward,
    parts: http::request::Parts,
    body: Incoming,
    peer: SocketAddr,
    scheme: &'static str,
    grpc: bool,
    head: bool,
) -> Outcome {
    let cluster = f.cluster.clone();
    let fail = |status: u16, text: &str, flags: &'static str| Outcome {
        response: reply::text(status, text, grpc, head),
        flags,
        service: Some(cluster.host.clone()),
    };
    if cluster.endpoints.is_empty() {
        return fail(503, "no healthy upstream", "UH");
    }
    let Some(_in_flight) = shared.balancer.admit(&cluster) else {
        let mut o = fail(503, &format!("{RESET_PREFIX}reset reason: overflow"), "UO");
        o.response
            .headers_mut()
            .insert("x-envoy-overloaded", HeaderValue::from_static("true"));
        return o;
    };

    // Request headers as the upstream sees them.
    let mut request_headers = parts.headers.clone();
    let original_authority = parts.uri.authority().map(|a| a.to_string()).or_else(|| {
        parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    let request_id = headers::request_id(&mut rand::rng());
    headers::upstream_request(&mut request_headers, peer, scheme, &request_id);
    for ops in &f.request_headers {
        ops.apply(&mut request_headers);
    }
    if let Some(authority) = f.authority.clone().or(original_authority)
        && let Ok(v) = HeaderValue::try_from(authority)
    {
        request_headers.insert(header::HOST, v);
    }
    if let Some(original) = &f.original_path
        && let Ok(v) = HeaderValue::try_from(original.as_str())
    {
        request_headers.insert("x-envoy-original-path", v);
    }
    let per_try = f.retry.per_try_timeout;
    if let Some(ms) = per_try.or(f.timeout).map(|d| d.as_millis())
        && let Ok(v) = HeaderValue::try_from(ms.to_string())
    {
        request_headers.insert("x-envoy-expected-rq-timeout-ms", v);
    }

    let body = match read_body(body).await {
        Ok(b) => b,
        Err(_) => return fail(400, "", "-"),
    };
    if let (RequestBody::Buffered(bytes), false) = (&body, f.mirrors.is_empty()) {
        mirror::send(
            mirror::Copy {
                method: parts.method.clone(),
                path_and_query: f.path_and_query.clone(),
                headers: request_headers.clone(),
                body: bytes.clone(),
                timeout: f.timeout,
            },
            f.mirrors.clone(),
            &shared.clients,
            &shared.balancer,
            &shared.mirror_limit,
        );
    }
    if matches!(body, RequestBody::Streaming(_)) && !f.mirrors.is_empty() {
        tracing::debug!("request body over {BUFFER_LIMIT} bytes: not mirrored and not retried");
    }
    let (replayable, mut streaming) = match body {
        RequestBody::Buffered(b) => (Some(b), None),
        RequestBody::Streaming(s) => (None, Some(s)),
    };
    let use_h2 = match cluster.protocol {
        UpstreamProtocol::Http2 => true,
        UpstreamProtocol::Http1 => false,
        UpstreamProtocol::Client => parts.version == Version::HTTP_2,
    };
    // gRPC: the client's grpc-timeout, capped by the route timeout (Envoy's max_grpc_timeout).
    let grpc_timeout = if grpc {
        parts
            .headers
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
    } else {
        None
    };
    let timeout = match (f.timeout, grpc_timeout) {
        (Some(route), Some(client)) => Some(route.min(client)),
        (route, client) => route.or(client),
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    let max_tries = if replayable.is_some() {
        f.retry.attempts + 1
    } else {
        1
    };
    let mut tried: Vec<String> = Vec::new();
    for attempt in 1..=max_tries {
        let more = attempt < max_tries;
        let Some(pick) = shared
            .balancer
            .pick(&cluster, if f.retry.previous_hosts { &tried } else { &[] })
        else {
            return fail(503, "no healthy upstream", "UH");
        };
        let authority = pick.endpoint.authority();
        let uri = format!("http://{authority}{}", f.path_and_query);
        let mut builder = Request::builder()
            .method(parts.method.clone())
            .uri(uri)
            .version(if use_h2 { Version::HTTP_2 } else { Version::HTTP_11 });
        if let Some(h) = builder.headers_mut() {
            *h = request_headers.clone();
            h.insert("x-envoy-attempt-count", HeaderValue::from(attempt));
        }
        let body = match (&replayable, streaming.take()) {
            (Some(b), _) => full(b.clone()),
            (None, Some(s)) => s,
            (None, None) => full(Bytes::new()),
        };
        let Ok(upstream_request) = builder.body(body) else {
            return fail(400, "", "-");
        };
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let limit = match (per_try, remaining) {
            (Some(p), Some(r)) => Some(p.min(r)),
            (p, r) => p.or(r),
        };
        let started = Instant::now();
        tried.push(authority.clone());
        let sent = shared.clients.request(use_h2, &authority, upstream_request);
        let result = match limit {
            Some(l) => tokio::time::timeout(l, sent).await.map_err(|_| ()),
            None => Ok(sent.await),
        };
        match result {
            Err(()) => {
                shared.balancer.report(&cluster, &pick.endpoint, Try::Failure);
                let route_expired = deadline.is_some_and(|d| Instant::now() >= d);
                if !route_expired && more && f.retry.retry_on.per_try_timeout() {
                    backoff(attempt, f.retry.backoff, deadline).await;
                    continue;
                }
                return fail(504, "upstream request timeout", "UT");
            }
            Ok(Err(e)) => {
                shared.balancer.report(&cluster, &pick.endpoint, Try::Failure);
                let connect = e.is_connect();
                let refused = refused_stream(&e);
                let last_reset = if connect {
                    "connection failure".to_string()
                } else if refused {
                    "remote refused stream reset".to_string()
                } else {
                    "remote reset".to_string()
                };
                let retry = if connect {
                    f.retry.retry_on.connect_failure()
                } else if refused {
                    f.retry.retry_on.refused_stream()
                } else {
                    f.retry.retry_on.reset()
                };
                if retry && more {
                    backoff(attempt, f.retry.backoff, deadline).await;
                    continue;
                }
                let retried = if attempt > 1 {
                    "retried and the latest "
                } else {
                    ""
                };
                let flags = if attempt > 1 {
                    "URX"
                } else if connect {
                    "UF"
                } else {
                    "UR"
                };
                return fail(
                    503,
                    &format!("{RESET_PREFIX}{retried}reset reason: {last_reset}"),
                    flags,
                );
            }
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                shared
                    .balancer
                    .report(&cluster, &pick.endpoint, Try::Status(status));
                let grpc_status = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                if more && f.retry.retry_on.response(status, grpc_status) {
                    drop(response);
                    backoff(attempt, f.retry.backoff, deadline).await;
                    continue;
                }
                let service_time = started.elapsed().as_millis();
                let (mut rparts, rbody) = response.into_parts();
                // The client gets the gateway's HTTP version, not the upstream's.
                rparts.version = parts.version;
                headers::downstream_response(&mut rparts.headers);
                if let Ok(v) = HeaderValue::try_from(service_time.to_string()) {
                    rparts.headers.insert("x-envoy-upstream-service-time", v);
                }
                for ops in &f.response_headers {
                    ops.apply(&mut rparts.headers);
                }
                for (name, value) in &f.extra_response_headers {
                    if let (Ok(n), Ok(v)) = (
                        http::HeaderName::try_from(name.as_str()),
                        HeaderValue::try_from(value.as_str()),
                    ) {
                        rparts.headers.insert(n, v);
                    }
                }
                let body = rbody;
                // The route timeout lasts until the response is complete (spec §4.8).
                let body = match deadline {
                    Some(d) => Deadline {
                        inner: body,
                        sleep: Box::pin(tokio::time::sleep_until(d.into())),
                    }
                    .boxed(),
                    None => body.boxed(),
                };
                return Outcome {
                    response: Response::from_parts(rparts, body),
                    flags: "-",
                    service: Some(cluster.host.clone()),
                };
            }
        }
    }
    fail(
        503,
        &format!("{RESET_PREFIX}reset reason: connection failure"),
        "UF",
    )
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

/// Did the upstream refuse the HTTP/2 stream (REFUSED_STREAM)?
fn refused_stream(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

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
