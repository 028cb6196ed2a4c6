//! The differential runner: a conformance case of spec §12 written twice — as Istio
#![allow(unreachable_pub)] // reason: a test module, its items shared by the test crate only
//! resources for sluice and as the Envoy configuration istiod generates from them — run
//! against real Envoy and `sluice gateway`, with the same requests compared on what a
//! client and the upstreams can observe.
//!
//! Cases live in `cases/cNN.yaml` (format in `README.md` beside this file).

pub mod envoy;
pub mod upstream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};

use crate::support;
use upstream::{UpstreamSeen, Upstreams};

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `C19`.
    pub case: String,
    /// What it shows.
    pub title: String,
    pub variants: Vec<Variant>,
}

/// One configuration and the requests sent through it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// Gateways replacing spec §12.0's `G0` (YAML documents).
    #[serde(default)]
    pub gateway: Option<String>,
    /// Add the registry's ServiceEntries (default yes).
    #[serde(default = "yes")]
    pub registry: bool,
    /// The case's Istio resources (YAML documents).
    pub istio: String,
    /// The same, as istiod writes it for Envoy.
    pub envoy: envoy::Side,
    /// The mesh's `gatewayTopology.numTrustedProxies`.
    #[serde(default)]
    pub trusted_proxies: u32,
    /// Tell `a-v1` from `a-v2` (subset cases); otherwise both are `a`, as load balancing
    /// across a cluster's endpoints is random in both proxies.
    #[serde(default)]
    pub exact_endpoints: bool,
    pub requests: Vec<Req>,
}

fn yes() -> bool {
    true
}

/// A request to send, the same way to both proxies.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Req {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    /// Request headers; `host` replaces the default `app.example.com`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Send with HTTP/2 prior knowledge (h2c).
    #[serde(default)]
    pub h2: bool,
    /// A gRPC unary call (h2c, `content-type: application/grpc`, one empty message).
    #[serde(default)]
    pub grpc: bool,
    /// The request body (default none).
    #[serde(default)]
    pub body: Option<String>,
    /// Send this many times and compare where they went: each proxy's share of each
    /// backend must be within binomial bounds of `share`.
    #[serde(default)]
    pub repeat: Option<usize>,
    /// Expected share per backend (`a-v1`, `b`, ... or `mirror:b` for mirrored copies).
    #[serde(default)]
    pub share: BTreeMap<String, f64>,
    /// Send this many at once; their outcomes are compared as a multiset.
    #[serde(default)]
    pub concurrent: Option<usize>,
    /// Wait this long before sending.
    #[serde(default)]
    pub after_ms: u64,
    /// Wait this long after the response for late upstream copies (mirrors).
    #[serde(default)]
    pub settle_ms: u64,
    /// What the spec says must happen, checked on both proxies.
    #[serde(default)]
    pub expect: Expect,
}

fn get() -> String {
    "GET".into()
}

/// Expected outcome, from the spec's case text.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<u16>,
    /// The backend that answered (`a-v1`, `b`, ...), or `-` for a local reply.
    pub backend: Option<String>,
    /// The response body starts with this.
    pub body: Option<String>,
    /// The path the (first) upstream saw.
    pub path: Option<String>,
    /// Upstream tries (all backends, mirrors included).
    pub tries: Option<usize>,
    /// Response headers: a value, or null for absent.
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
    /// Headers the first upstream saw: a value, or null for absent.
    #[serde(default)]
    pub upstream_headers: BTreeMap<String, Option<String>>,
    /// The response took at least / at most this long.
    pub min_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

/// What a client and the upstreams observed of one request.
#[derive(Clone, Debug, Serialize)]
pub struct Seen {
    pub status: u16,
    /// Response headers (volatile values replaced by their shape).
    pub headers: BTreeMap<String, String>,
    pub trailers: BTreeMap<String, String>,
    /// The body of a local reply; `<upstream>` when an echo server answered.
    pub body: String,
    /// Every request the upstreams received for it, retries and mirrors included.
    pub upstream: Vec<UpstreamSeen>,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl Seen {
    /// `a-v1` and `a-v2` as `a`.
    fn merge_endpoints(&mut self) {
        let merge = |name: &mut String| {
            if name.starts_with("a-v") {
                *name = "a".into();
            }
        };
        if let Some(b) = self.headers.get_mut("x-echo-backend") {
            merge(b);
        }
        for u in &mut self.upstream {
            merge(&mut u.backend);
        }
        // Tries in the order they were made, whichever endpoint each went to.
        self.upstream.sort_by_key(|u| {
            (
                u.backend.clone(),
                u.is_mirror(),
                u.headers
                    .get("x-envoy-attempt-count")
                    .and_then(|n| n.parse::<u32>().ok()),
            )
        });
    }

    /// The backend that answered, or `-`.
    fn backend(&self) -> &str {
        self.headers.get("x-echo-backend").map_or("-", String::as_str)
    }
}

/// Run every variant of the case in `cases/<file>.yaml`.
pub async fn run(file: &str) {
    let path = cases_dir().join(format!("{file}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let case: Case = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut failures = Vec::new();
    for variant in &case.variants {
        if let Err(problems) = run_variant(&case, variant).await {
            failures.push(format!(
                "{} [{}]:\n  {}",
                case.case,
                variant.name,
                problems.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} — {}\n{}",
        case.case,
        case.title,
        failures.join("\n")
    );
}

pub fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/differential/cases")
}

fn scratch(case: &str, variant: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-diff-{}-{}-{}-{}",
        std::process::id(),
        case,
        variant.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}

/// The §12.0 registry as ServiceEntries.
fn registry(up: &Upstreams) -> String {
    [
        support::service_on("a", 8080, "http", &[(up.a_v1, "v1"), (up.a_v2, "v2")]),
        support::service_on("b", 8080, "http", &[(up.b, "v1")]),
        support::service_on("e", 8080, "http", &[]),
        support::service_on("d", 8080, "http", &[(up.d, "v1")]),
        support::service_on("g", 9090, "grpc", &[(up.g, "v1")]),
    ]
    .concat()
}

async fn run_variant(case: &Case, variant: &Variant) -> Result<(), Vec<String>> {
    let up = Upstreams::start().await;
    let dir = scratch(&case.case, &variant.name);

    // sluice: the Istio resources.
    let mut yaml = variant
        .gateway
        .clone()
        .unwrap_or_else(|| support::gateway_yaml().to_string());
    if !yaml.trim_end().ends_with("---") {
        yaml.push_str("\n---\n");
    }
    if variant.registry {
        yaml.push_str(&registry(&up));
    }
    yaml.push_str(&up.substitute(&variant.istio));
    let server_port = variant.envoy.port.unwrap_or(80);
    let trusted = variant.trusted_proxies;
    let sluice = support::start_with(&yaml, |o| {
        o.port_map = BTreeMap::from([(server_port, 0)]);
        o.num_trusted_proxies = trusted;
    })
    .await;
    let sluice_addr = sluice.gateway.addresses()[&server_port];

    // Envoy: the same, as istiod writes it.
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port().await));
    let config = up.substitute(&envoy::bootstrap(&variant.envoy, listen.port(), trusted));
    let envoy = envoy::Envoy::start(&dir, &config, listen).await;

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut problems = Vec::new();
    for (i, req) in variant.requests.iter().enumerate() {
        let label = format!("request {i} {} {} {:?}", req.method, req.path, req.headers);
        if req.after_ms > 0 {
            tokio::time::sleep(Duration::from_millis(req.after_ms)).await;
        }
        if let Some(n) = req.repeat {
            for (proxy, addr) in [("envoy", envoy.addr), ("sluice", sluice_addr)] {
                let mut counts = repeat(&client, addr, req, &up, n).await;
                if !variant.exact_endpoints {
                    for endpoint in ["a-v1", "a-v2"] {
                        if let Some(k) = counts.remove(endpoint) {
                            *counts.entry("a".to_string()).or_insert(0) += k;
                        }
                    }
                }
                for (backend, share) in &req.share {
                    let got = counts.get(backend).copied().unwrap_or(0);
                    if !within_binomial(got, n, *share) {
                        problems.push(format!(
                            "{label}: {proxy} sent {got} of {n} to {backend}, expected a share of {share} ({counts:?})"
                        ));
                    }
                }
            }
            continue;
        }
        let copies = req.concurrent.unwrap_or(1);
        let mut from_envoy = concurrently(&client, envoy.addr, req, &up, copies).await;
        if req.after_ms > 0 {
            tokio::time::sleep(Duration::from_millis(req.after_ms)).await;
        }
        let mut from_sluice = concurrently(&client, sluice_addr, req, &up, copies).await;
        if !variant.exact_endpoints {
            for seen in from_envoy.iter_mut().chain(from_sluice.iter_mut()) {
                seen.merge_endpoints();
            }
        }
        for (proxy, seen) in [("envoy", &from_envoy), ("sluice", &from_sluice)] {
            for s in seen {
                problems.extend(
                    check(&req.expect, s)
                        .into_iter()
                        .map(|p| format!("{label}: {proxy}: {p}")),
                );
            }
        }
        if serde_json::to_value(&from_envoy).ok() != serde_json::to_value(&from_sluice).ok() {
            problems.push(format!(
                "{label}: sluice and Envoy differ\n    envoy:  {}\n    sluice: {}",
                serde_json::to_string(&from_envoy).unwrap_or_default(),
                serde_json::to_string(&from_sluice).unwrap_or_default()
            ));
        }
    }
    sluice.gateway.shutdown().await;
    drop(envoy);
    if problems.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    } else {
        problems.push(format!("Envoy configuration and log: {}", dir.display()));
        Err(problems)
    }
}

/// Is `got` of `n` within five standard deviations of `share`?
fn within_binomial(got: usize, n: usize, share: f64) -> bool {
    let mean = share * n as f64;
    let sd = (n as f64 * share * (1.0 - share)).sqrt();
    (got as f64 - mean).abs() <= 5.0 * sd.max(0.5)
}

async fn repeat(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    req: &Req,
    up: &Upstreams,
    n: usize,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut ids = Vec::new();
    for _ in 0..n {
        let (seen, id) = send(client, addr, req, up, false).await;
        *counts.entry(seen.backend().to_string()).or_insert(0) += 1;
        ids.push(id);
    }
    tokio::time::sleep(Duration::from_millis(req.settle_ms)).await;
    for id in ids {
        for u in up.log.take(&id) {
            if u.is_mirror() {
                *counts.entry(format!("mirror:{}", u.backend)).or_insert(0) += 1;
            }
        }
    }
    counts
}

async fn concurrently(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    req: &Req,
    up: &Upstreams,
    copies: usize,
) -> Vec<Seen> {
    let sends = (0..copies).map(|_| send(client, addr, req, up, true));
    let mut all: Vec<Seen> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    tokio::time::sleep(Duration::from_millis(req.settle_ms)).await;
    all.sort_by_key(|s| serde_json::to_string(s).unwrap_or_default());
    all
}

static IDS: AtomicUsize = AtomicUsize::new(0);

/// Send `req` to `addr`; what was seen and the request's `x-diff-id`.
async fn send(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    req: &Req,
    up: &Upstreams,
    collect: bool,
) -> (Seen, String) {
    let id = format!("r{}", IDS.fetch_add(1, Ordering::SeqCst));
    let host = req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map_or("app.example.com", |(_, v)| v.as_str());
    let h2 = req.h2 || req.grpc;
    let uri = if h2 {
        format!("http://{host}{}", req.path)
    } else {
        format!("http://{addr}{}", req.path)
    };
    let mut builder = Request::builder().method(req.method.as_str()).uri(uri);
    if !h2 {
        builder = builder.header("host", host);
    }
    builder = builder.header("x-diff-id", &id);
    for (k, v) in &req.headers {
        if !k.eq_ignore_ascii_case("host") {
            builder = builder.header(k.as_str(), v.as_str());
        }
    }
    let body = if req.grpc {
        builder = builder
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        Bytes::from_static(&[0, 0, 0, 0, 0])
    } else {
        Bytes::from(req.body.clone().unwrap_or_default())
    };
    if req.path.contains('#') {
        let seen = raw(addr, req, host, &id).await;
        return finish(seen, req, up, &id, collect).await;
    }
    let request = builder.body(Full::new(body)).expect("request");
    let started = Instant::now();
    let response = if h2 {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("h2 handshake");
        tokio::spawn(connection);
        sender.send_request(request).await
    } else {
        client.request(request).await.map_err(|e| panic!("{e}"))
    };
    let seen = match response {
        Err(e) => Seen {
            status: 0,
            headers: BTreeMap::from([("error".to_string(), e.to_string())]),
            trailers: BTreeMap::new(),
            body: String::new(),
            upstream: Vec::new(),
            elapsed: started.elapsed(),
        },
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let collected = body.collect().await;
            let elapsed = started.elapsed();
            let (bytes, trailers) = match collected {
                Ok(c) => {
                    let trailers = c.trailers().map(upstream::seen_headers).unwrap_or_default();
                    (c.to_bytes(), trailers)
                }
                Err(e) => (Bytes::from(format!("<body error: {e}>")), BTreeMap::new()),
            };
            let mut headers = upstream::seen_headers(&parts.headers);
            headers.remove("date");
            if let Some(t) = headers.get_mut("x-envoy-upstream-service-time") {
                *t = "<ms>".into();
            }
            let from_echo = serde_json::from_slice::<UpstreamSeen>(&bytes).is_ok();
            Seen {
                status: parts.status.as_u16(),
                headers,
                trailers,
                body: if from_echo {
                    "<upstream>".into()
                } else {
                    String::from_utf8_lossy(&bytes).into_owned()
                },
                upstream: Vec::new(),
                elapsed,
            }
        }
    };
    finish(seen, req, up, &id, collect).await
}

/// Attach what the upstreams saw of request `id`.
async fn finish(mut seen: Seen, req: &Req, up: &Upstreams, id: &str, collect: bool) -> (Seen, String) {
    if collect {
        if req.settle_ms > 0 {
            tokio::time::sleep(Duration::from_millis(req.settle_ms)).await;
        }
        seen.upstream = up.log.take(id);
    }
    (seen, id.to_string())
}

/// Send `req` as raw HTTP/1.1 bytes, for request targets a client library would change
/// (a `#fragment`), and read the response until the connection closes.
async fn raw(addr: SocketAddr, req: &Req, host: &str, id: &str) -> Seen {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut text = format!(
        "{} {} HTTP/1.1\r\nhost: {host}\r\nx-diff-id: {id}\r\nconnection: close\r\n",
        req.method, req.path
    );
    for (k, v) in req
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
    {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(text.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                http::HeaderName::try_from(k.trim()),
                http::HeaderValue::try_from(v.trim()),
            )
        {
            headers.append(k, v);
        }
    }
    let mut headers = upstream::seen_headers(&headers);
    headers.remove("date");
    headers.remove("connection");
    if let Some(t) = headers.get_mut("x-envoy-upstream-service-time") {
        *t = "<ms>".into();
    }
    let from_echo = serde_json::from_str::<UpstreamSeen>(body).is_ok();
    Seen {
        status,
        headers,
        trailers: BTreeMap::new(),
        body: if from_echo {
            "<upstream>".into()
        } else {
            body.to_string()
        },
        upstream: Vec::new(),
        elapsed: started.elapsed(),
    }
}

/// Problems with `seen` against what the spec expects.
fn check(expect: &Expect, seen: &Seen) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(status) = expect.status
        && seen.status != status
    {
        out.push(format!("status {} (expected {status})", seen.status));
    }
    if let Some(backend) = &expect.backend
        && seen.backend() != backend
    {
        out.push(format!("answered by {} (expected {backend})", seen.backend()));
    }
    if let Some(body) = &expect.body
        && !seen.body.starts_with(body.as_str())
    {
        out.push(format!(
            "body {:?} (expected it to start with {body:?})",
            seen.body
        ));
    }
    let first = seen.upstream.iter().find(|u| !u.is_mirror());
    if let Some(path) = &expect.path
        && first.map(|u| u.path.as_str()) != Some(path.as_str())
    {
        out.push(format!(
            "upstream path {:?} (expected {path:?})",
            first.map(|u| &u.path)
        ));
    }
    if let Some(tries) = expect.tries
        && seen.upstream.len() != tries
    {
        out.push(format!(
            "{} upstream tries (expected {tries})",
            seen.upstream.len()
        ));
    }
    for (name, value) in &expect.headers {
        let got = seen.headers.get(name).or_else(|| seen.trailers.get(name));
        if got != value.as_ref() {
            out.push(format!("response header {name}: {got:?} (expected {value:?})"));
        }
    }
    for (name, value) in &expect.upstream_headers {
        let got = first.and_then(|u| u.headers.get(name));
        if got != value.as_ref() {
            out.push(format!("upstream header {name}: {got:?} (expected {value:?})"));
        }
    }
    let ms = seen.elapsed.as_millis() as u64;
    if let Some(min) = expect.min_ms
        && ms < min
    {
        out.push(format!("answered after {ms} ms (expected at least {min})"));
    }
    if let Some(max) = expect.max_ms
        && ms > max
    {
        out.push(format!("answered after {ms} ms (expected at most {max})"));
    }
    out
}

/// Every case file, for the test that checks each has its test function.
pub fn case_files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("cases dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    out.sort();
    out
}
