//! Real upstream servers on 127.0.0.1:0 and a gateway in front of them.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use sluice_gateway::server::compile_files;
use sluice_gateway::{Gateway, Options};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What an echo upstream saw and how it behaves.
#[derive(Default)]
pub struct Echo {
    /// Requests received.
    pub hits: AtomicUsize,
    /// Answer 503 (or `fail_status`) to this many first requests.
    pub fail_first: AtomicUsize,
    /// The status of those failures, when not 503.
    pub fail_status: std::sync::atomic::AtomicU16,
    /// When set, requests wait until notified.
    pub hold: Option<Arc<Notify>>,
    /// Requests seen (JSON of method, path, version, headers).
    pub seen: std::sync::Mutex<Vec<serde_json::Value>>,
}

/// Start an echo server (HTTP/1.1 and h2c) named `name`; returns its address.
/// Headers: `x-echo-sleep-ms` delays the answer, `x-echo-status` sets the status.
pub async fn echo(name: &'static str, state: Arc<Echo>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let state = state.clone();
                async move {
                    let n = state.hits.fetch_add(1, Ordering::SeqCst);
                    let headers: BTreeMap<String, String> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                        .collect();
                    let seen = json!({
                        "name": name,
                        "method": req.method().as_str(),
                        "path": req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                        // The request target as sent: origin-form (`/p?q`) or absolute-form.
                        "target": req.uri().to_string(),
                        "version": format!("{:?}", req.version()),
                        "headers": headers,
                    });
                    state.seen.lock().expect("lock").push(seen.clone());
                    if let Some(ms) = headers.get("x-echo-sleep-ms").and_then(|v| v.parse::<u64>().ok()) {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    if let Some(hold) = &state.hold {
                        hold.notified().await;
                    }
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let mut status = headers
                        .get("x-echo-status")
                        .and_then(|s| s.parse::<u16>().ok())
                        .unwrap_or(200);
                    if n < state.fail_first.load(Ordering::SeqCst) {
                        status = match state.fail_status.load(Ordering::SeqCst) {
                            0 => 503,
                            s => s,
                        };
                    }
                    if let Some(ms) = headers
                        .get("x-echo-stream-ms")
                        .and_then(|v| v.parse::<u64>().ok())
                    {
                        // Headers now, the body later.
                        let body = SlowBody {
                            sleep: Box::pin(tokio::time::sleep(Duration::from_millis(ms))),
                            done: false,
                        };
                        return Ok::<_, Infallible>(Response::new(http_body_util::Either::Right(body)));
                    }
                    let mut out = seen;
                    out["body_len"] = json!(body.len());
                    let response = Response::builder()
                        .status(status)
                        .header("server", "echo")
                        .header("x-up", "1")
                        .header("content-type", "application/json")
                        .body(http_body_util::Either::Left(Full::new(Bytes::from(
                            out.to_string(),
                        ))))
                        .expect("response");
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A body whose only chunk comes after a delay.
pub struct SlowBody {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl hyper::body::Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        use std::future::Future as _;
        if self.done {
            return std::task::Poll::Ready(None);
        }
        match self.sleep.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => {
                self.done = true;
                std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(b"late")))))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// A loopback port with nothing listening (connections are refused).
pub async fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// The Gateway of spec §12.0 plus ServiceEntries, as YAML.
pub fn gateway_yaml() -> &'static str {
    "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n---\n"
}

/// A ServiceEntry `name.default.svc.cluster.local` on port 8080 (named `port_name`) with endpoints.
pub fn service(name: &str, port_name: &str, endpoints: &[(SocketAddr, &str)]) -> String {
    service_on(name, 8080, port_name, endpoints)
}

/// A ServiceEntry `name.default.svc.cluster.local` on `port` (named `port_name`) with
/// endpoints labelled with their version.
pub fn service_on(name: &str, port: u16, port_name: &str, endpoints: &[(SocketAddr, &str)]) -> String {
    let eps: Vec<String> = endpoints
        .iter()
        .map(|(a, version)| {
            format!(
                "{{address: \"{}\", ports: {{{port_name}: {}}}, labels: {{version: {version}}}}}",
                a.ip(),
                a.port()
            )
        })
        .collect();
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  hosts: [{name}.default.svc.cluster.local]\n  resolution: STATIC\n  ports: [{{number: {port}, name: {port_name}}}]\n  endpoints: [{}]\n---\n",
        eps.join(", ")
    )
}

/// `VS(http)` of spec §12.0.
pub fn vs(http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: vs, namespace: default}}\nspec:\n  hosts: [app.example.com]\n  gateways: [istio-system/gw]\n  http: {http}\n---\n"
    )
}

/// An echo upstream named `name`: what it saw, and its address.
pub async fn upstream(name: &'static str) -> (Arc<Echo>, SocketAddr) {
    let state = Arc::new(Echo::default());
    let addr = echo(name, state.clone()).await;
    (state, addr)
}

/// The configuration of a test gateway, built up: spec §12.0's Gateway, then services,
/// other resources and VirtualServices.
#[derive(Clone, Debug)]
pub struct Setup {
    yaml: String,
}

impl Setup {
    /// Spec §12.0's Gateway alone.
    pub fn new() -> Self {
        Setup {
            yaml: gateway_yaml().to_string(),
        }
    }

    /// A ServiceEntry `name.default.svc.cluster.local`, port 8080 named `port_name`.
    pub fn service(mut self, name: &str, port_name: &str, endpoints: &[(SocketAddr, &str)]) -> Self {
        self.yaml.push_str(&service(name, port_name, endpoints));
        self
    }

    /// `VS(http)` of spec §12.0.
    pub fn vs(mut self, http: &str) -> Self {
        self.yaml.push_str(&vs(http));
        self
    }

    /// Other resources (YAML documents ending with `---`).
    pub fn yaml(mut self, docs: &str) -> Self {
        self.yaml.push_str(docs);
        self
    }

    /// Start a gateway on it.
    pub async fn start(self) -> Running {
        start(&self.yaml).await
    }

    /// Start a gateway on it with changed options.
    pub async fn start_with(self, change: impl FnOnce(&mut Options)) -> Running {
        start_with(&self.yaml, change).await
    }
}

/// The YAML documents.
impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.yaml)
    }
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

/// A running gateway and its address.
pub struct Running {
    pub gateway: Gateway,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub dir: PathBuf,
}

/// Write `yaml` to a fresh directory and start a gateway on it (port 80 → ephemeral).
pub async fn start(yaml: &str) -> Running {
    start_with(yaml, |_| {}).await
}

/// Like `start`, with changed options.
pub async fn start_with(yaml: &str, change: impl FnOnce(&mut Options)) -> Running {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-gw-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("config.yaml"), yaml).expect("write");
    let options = Options {
        port_map: BTreeMap::from([(80, 0)]),
        admin: Some("127.0.0.1:0".parse().expect("addr")),
        drain: Duration::from_secs(5),
        ..Options::default()
    };
    let mut options = options;
    change(&mut options);
    let (table, _) = compile_files(&options.proxy, std::slice::from_ref(&dir)).expect("valid configuration");
    let gateway = Gateway::new(options, table);
    gateway.listen_all().await.expect("listen");
    let admin = gateway.listen_admin().await.expect("admin");
    let addr = *gateway
        .addresses()
        .values()
        .next()
        .expect("the configuration has a gateway port");
    Running {
        gateway,
        addr,
        admin,
        dir,
    }
}

/// An HTTP/1.1 client.
pub fn http1() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// A finished response: status, headers, body.
pub struct Got {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Got {
    /// The status, headers and whole body of `response`.
    pub async fn read(response: http::Response<hyper::body::Incoming>) -> Got {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Got {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send a request through the gateway with `Host: app.example.com` plus `headers`.
pub async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Got {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        b = b.header("host", "app.example.com");
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let response = client
        .request(b.body(Full::new(Bytes::from_static(b"hello"))).expect("request"))
        .await
        .expect("response");
    Got::read(response).await
}

pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Got {
    send(&http1(), addr, "GET", path, headers).await
}

/// Send one h2c (prior knowledge) request to `addr` with `:authority: app.example.com`.
pub async fn h2c_get(addr: SocketAddr, path: &str) -> Got {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    let request = Request::builder()
        .uri(format!("http://app.example.com{path}"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    Got::read(response).await
}
