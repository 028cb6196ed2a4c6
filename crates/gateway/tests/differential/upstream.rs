//! The upstreams of spec §12.0's service registry: echo servers that record what they
//! receive, shared by Envoy and sluice within one variant.
//!
//! Each client request carries `x-diff-id`; the servers log what they saw under it, so
//! retries and mirrored copies are attributed to the request that caused them. Request
//! headers steer them:
//! - `x-echo-status: N` answers N; `x-echo-fail-first: K` answers `x-echo-fail-status`
//!   (default 503) to the first K tries of this `x-diff-id` (across all servers);
//! - `x-echo-sleep-ms: N` waits before answering;
//! - `x-echo-grpc-status: N` sets the gRPC status trailer of a gRPC answer;
//! - `x-echo-fail-grpc-status: N` with `x-echo-fail-first: K` answers the first K gRPC tries
//!   with status N (HTTP 200) trailers-only, or in trailers after a message with
//!   `x-echo-fail-grpc-in: trailers` (Envoy retries only on the first form).

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Serialize;
use tokio::net::TcpListener;

/// One request as an upstream saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UpstreamSeen {
    /// Which server: `a-v1`, `a-v2`, `b`, `g`.
    pub backend: String,
    pub method: String,
    pub path: String,
    pub version: String,
    /// Headers, comparable between proxies (volatile values replaced by their shape).
    pub headers: BTreeMap<String, String>,
    pub body_len: usize,
}

impl UpstreamSeen {
    /// A mirrored copy: Envoy's shadow writer sends it as an internal request.
    pub fn is_mirror(&self) -> bool {
        self.headers.get("x-envoy-internal").is_some_and(|v| v == "true")
    }
}

/// What every server of one variant saw, by `x-diff-id`.
#[derive(Default)]
pub struct Log {
    seen: Mutex<BTreeMap<String, Vec<UpstreamSeen>>>,
    tries: Mutex<BTreeMap<String, usize>>,
}

impl Log {
    /// The requests logged under `id`, ordered by backend (arrival order within one).
    pub fn take(&self, id: &str) -> Vec<UpstreamSeen> {
        let mut all = self.seen.lock().expect("lock").remove(id).unwrap_or_default();
        all.sort_by(|a, b| a.backend.cmp(&b.backend));
        all
    }

    fn record(&self, id: &str, seen: UpstreamSeen) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .entry(id.to_string())
            .or_default()
            .push(seen);
        let mut tries = self.tries.lock().expect("lock");
        let n = tries.entry(id.to_string()).or_default();
        *n += 1;
        *n
    }
}

/// The registry's endpoints: their addresses and the log they share.
pub struct Upstreams {
    pub log: Arc<Log>,
    pub a_v1: SocketAddr,
    pub a_v2: SocketAddr,
    pub b: SocketAddr,
    /// gRPC: HTTP/2 only.
    pub g: SocketAddr,
    /// A port that refuses connections.
    pub d: SocketAddr,
}

impl Upstreams {
    pub async fn start() -> Upstreams {
        let log = Arc::new(Log::default());
        Upstreams {
            a_v1: serve("a-v1", log.clone(), false).await,
            a_v2: serve("a-v2", log.clone(), false).await,
            b: serve("b", log.clone(), false).await,
            g: serve("g", log.clone(), true).await,
            d: refused().await,
            log,
        }
    }

    /// `${A_V1}`, `${A_V2}`, `${B}`, `${G}`, `${D}`: the endpoints' ports.
    pub fn substitute(&self, text: &str) -> String {
        text.replace("${A_V1}", &self.a_v1.port().to_string())
            .replace("${A_V2}", &self.a_v2.port().to_string())
            .replace("${B}", &self.b.port().to_string())
            .replace("${G}", &self.g.port().to_string())
            .replace("${D}", &self.d.port().to_string())
    }
}

async fn refused() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

/// The address Envoy appends to `x-forwarded-for` for loopback clients: its node address,
/// the first non-loopback address of the machine. sluice appends the client's loopback
/// address instead (COMPATIBILITY.md), so Envoy's is compared as `127.0.0.1`.
fn envoy_node_address() -> Option<std::net::IpAddr> {
    static ADDRESS: std::sync::OnceLock<Option<std::net::IpAddr>> = std::sync::OnceLock::new();
    *ADDRESS.get_or_init(|| {
        // Connecting a UDP socket sends nothing; it only picks the outgoing interface.
        ["192.0.2.1:9", "10.255.255.255:9", "8.8.8.8:53"]
            .iter()
            .find_map(|target| {
                let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
                socket.connect(target).ok()?;
                let ip = socket.local_addr().ok()?.ip();
                (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
            })
    })
}

/// Headers whose values differ per request or per proxy by design: kept as a shape.
fn comparable(name: &str, value: &str) -> String {
    match name {
        "x-request-id" if value.len() == 36 && value.matches('-').count() == 4 => "<uuid>".into(),
        // Entries are joined with ", " by the proxy's own append, "," by Envoy's shadow
        // writer; both are kept as they are.
        "x-forwarded-for" => value
            .split(',')
            .map(|a| {
                let (space, address) = match a.strip_prefix(' ') {
                    Some(rest) => (" ", rest),
                    None => ("", a),
                };
                match envoy_node_address() {
                    Some(node) if address == node.to_string() => format!("{space}127.0.0.1"),
                    _ => a.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => value.to_string(),
    }
}

/// Request headers that steer the echo servers (not compared).
const STEERING: &[&str] = &[
    "x-echo-status",
    "x-echo-fail-first",
    "x-echo-fail-status",
    "x-echo-sleep-ms",
    "x-echo-grpc-status",
    "x-echo-fail-grpc-status",
    "x-echo-fail-grpc-in",
];

/// The request headers an upstream saw, without the test's own steering headers.
pub fn seen_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        if name == "x-diff-id" || STEERING.contains(&name) {
            continue;
        }
        let value = comparable(name, &String::from_utf8_lossy(value.as_bytes()));
        out.entry(name.to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

async fn serve(name: &'static str, log: Arc<Log>, h2_only: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let service = service_fn(move |req: Request<Incoming>| answer(name, log.clone(), req));
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                if h2_only {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await;
                } else {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await;
                }
            });
        }
    });
    addr
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn answer(
    name: &'static str,
    log: Arc<Log>,
    req: Request<Incoming>,
) -> Result<Response<Frames>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let id = header(&parts.headers, "x-diff-id").unwrap_or("-").to_string();
    let seen = UpstreamSeen {
        backend: name.to_string(),
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        version: format!("{:?}", parts.version),
        headers: seen_headers(&parts.headers),
        body_len: body.len(),
    };
    let try_number = log.record(&id, seen.clone());
    let number = |h: &str| header(&parts.headers, h).and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = number("x-echo-sleep-ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let failing = number("x-echo-fail-first").is_some_and(|k| try_number as u64 <= k);
    let grpc_failure = header(&parts.headers, "x-echo-fail-grpc-status").filter(|_| failing);
    let mut status = number("x-echo-status").map_or(200, |s| s as u16);
    if failing && grpc_failure.is_none() {
        status = number("x-echo-fail-status").map_or(503, |s| s as u16);
    }
    let grpc = header(&parts.headers, "content-type").is_some_and(|c| c.starts_with("application/grpc"));
    if let Some(code) =
        grpc_failure.filter(|_| header(&parts.headers, "x-echo-fail-grpc-in") != Some("trailers"))
    {
        // Trailers-only: the status in the response headers, no body.
        let response = Response::builder()
            .status(200)
            .header("server", "echo")
            .header("x-echo-backend", name)
            .header("content-type", "application/grpc")
            .header("grpc-status", code)
            .body(Frames(VecDeque::new()))
            .expect("response");
        return Ok(response);
    }
    let mut frames = VecDeque::new();
    let mut response = Response::builder()
        .status(status)
        .header("server", "echo")
        .header("x-up", "1")
        .header("x-echo-backend", name);
    if grpc {
        response = response.header("content-type", "application/grpc");
        // One empty message, then the status in trailers.
        frames.push_back(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0])));
        let mut trailers = HeaderMap::new();
        let code = grpc_failure
            .or_else(|| header(&parts.headers, "x-echo-grpc-status"))
            .unwrap_or("0")
            .to_string();
        trailers.insert("grpc-status", HeaderValue::from_str(&code).expect("code"));
        frames.push_back(Frame::trailers(trailers));
    } else {
        let text = serde_json::to_string(&seen).expect("json");
        response = response
            .header("content-type", "application/json")
            .header("content-length", text.len());
        frames.push_back(Frame::data(Bytes::from(text)));
    }
    Ok(response.body(Frames(frames)).expect("response"))
}

/// A body of prepared frames (data, then trailers).
pub struct Frames(pub VecDeque<Frame<Bytes>>);

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}
