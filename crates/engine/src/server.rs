//! The orchestrator's REST server (spec §7.2–§7.6): the routes of the predictor's protocol
//! (seldon, tensorflow, v2), Seldon's headers, errors and metrics, in front of the graph.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method as HttpMethod, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sluice_api::seldon::PredictorSpec;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::components::{Address, Component, Components};
use crate::graph::{self, Method, Nodes, Payload, Protocol};
use crate::headers::{self, CE_ID, CE_PATH, CE_SOURCE, CE_SPECVERSION, CE_TYPE, SELDON_PUID};
use crate::metrics::Metrics;

/// What one orchestrator serves.
#[derive(Clone, Debug)]
pub struct Config {
    /// SDep name (`--sdep`).
    pub deployment: String,
    /// Namespace (`--namespace`).
    pub namespace: String,
    /// The predictor, its graph and node endpoints.
    pub predictor: PredictorSpec,
    /// How each node is reached, by node name.
    pub components: BTreeMap<String, Component>,
    /// Timeout of each REST component call (`seldon.io/rest-timeout`); `None` waits.
    pub rest_timeout: Option<Duration>,
    /// Deadline of each gRPC component call (`seldon.io/grpc-timeout`); `None` waits.
    pub grpc_timeout: Option<Duration>,
    /// Metrics path (`--prometheus_path`).
    pub prometheus_path: String,
    /// The protocol of the routes served and of the component calls (`--protocol`).
    pub protocol: Protocol,
    /// The CORS headers of every matched route's answer.
    pub cors: Cors,
    /// Metric families shared with the other engines of this process, and this engine's
    /// pod name; `None`: families of its own.
    pub shared_metrics: Option<(crate::metrics::Families, String)>,
    /// The largest request body read, in bytes ([`MAX_BODY`] by default): a larger one is
    /// answered `413` — before any of it is read when its `Content-Length` says so.
    pub max_body: u64,
    /// The largest gRPC message received or sent, in bytes (`seldon.io/grpc-max-message-size`,
    /// else the same as `max_body`): a larger one is answered `RESOURCE_EXHAUSTED`.
    pub max_grpc_message: u64,
}

/// The body of the orchestrator's answers: whole REST bodies, or a gRPC message and its
/// trailers.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The error type of [`Body`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The default largest request body: 32 MiB.
pub const MAX_BODY: u64 = 32 << 20;

/// `Access-Control-Allow-Origin` and `-Headers` of the executor's answers (spec §7.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cors {
    allowed_origins: HeaderValue,
    allowed_headers: HeaderValue,
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            allowed_origins: HeaderValue::from_static("*"),
            allowed_headers: HeaderValue::from_static(CORS_HEADERS),
        }
    }
}

impl Cors {
    /// The environment variables the orchestrator reads, as the executor does.
    pub const ENV: [&str; 2] = ["CORS_ALLOWED_ORIGINS", "CORS_ALLOWED_HEADERS"];

    /// From the executor's environment (`CORS_ALLOWED_ORIGINS`, `CORS_ALLOWED_HEADERS`);
    /// unset variables keep Seldon's defaults. A value that cannot be a header is an error
    /// naming the variable.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut cors = Cors::default();
        for (name, slot) in [
            (Self::ENV[0], &mut cors.allowed_origins),
            (Self::ENV[1], &mut cors.allowed_headers),
        ] {
            if let Some(value) = get(name) {
                *slot = HeaderValue::try_from(value.as_str())
                    .map_err(|_| format!("{name} {value:?} cannot be an HTTP header value"))?;
            }
        }
        Ok(cors)
    }

    fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, self.allowed_origins.clone());
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, self.allowed_headers.clone());
    }
}

/// What a request asks the orchestrator for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run the graph; `model` is the name in the URL, used for every node when present.
    Predict {
        /// `{model}` of the URL.
        model: Option<String>,
    },
    /// Walk feedback through the graph.
    Feedback,
    /// The readiness check, as a measured route.
    Ready,
    /// One node's status, asked of that node.
    NodeStatus(String),
    /// One node's metadata, asked of that node.
    NodeMetadata(String),
    /// Every node's metadata and the graph's inputs and outputs.
    GraphMetadata,
}

/// A matched route: its metrics `service` label, its methods (besides OPTIONS) and action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `predictions`, `feedback`, `status` or `metadata`.
    pub service: &'static str,
    /// `POST` or `GET`.
    pub method: HttpMethod,
    /// Whether the route also takes OPTIONS (Seldon's protocol does; tensorflow's and v2's
    /// routes do not): a preflight is answered and every answer names the methods
    /// (`Access-Control-Allow-Methods`, gorilla/mux's CORSMethodMiddleware).
    pub options: bool,
    /// What to do.
    pub action: Action,
}

/// The route of `path` for `protocol` (spec §7.2); `None` is a 404. `{model}` matches one
/// path segment, as in gorilla/mux.
pub fn route(protocol: Protocol, path: &str) -> Option<Route> {
    let options = protocol == Protocol::Seldon;
    let post = |service, action| {
        Some(Route {
            service,
            method: HttpMethod::POST,
            options,
            action,
        })
    };
    let get = |service, action| {
        Some(Route {
            service,
            method: HttpMethod::GET,
            options,
            action,
        })
    };
    let segment = |s: &str| (!s.is_empty() && !s.contains('/')).then(|| s.to_string());
    let predict = |model: Option<String>| post("predictions", Action::Predict { model });
    match protocol {
        Protocol::Seldon => match path {
            "/api/v1.0/predictions" | "/api/v0.1/predictions" => predict(None),
            "/api/v1.0/feedback" | "/api/v0.1/feedback" => post("feedback", Action::Feedback),
            "/api/v1.0/status" | "/api/v1.0/health/status" => get("status", Action::Ready),
            "/api/v1.0/metadata" => get("metadata", Action::GraphMetadata),
            _ => {
                let rest = path
                    .strip_prefix("/api/v1.0/")
                    .or_else(|| path.strip_prefix("/api/v0.1/"))?;
                if let Some(m) = rest.strip_prefix("status/").and_then(segment) {
                    get("status", Action::NodeStatus(m))
                } else if let Some(m) = rest.strip_prefix("metadata/").and_then(segment) {
                    get("metadata", Action::NodeMetadata(m))
                } else {
                    None
                }
            }
        },
        Protocol::Tensorflow => match path {
            "/api/v1.0/feedback" => post("feedback", Action::Feedback),
            "/v1/models/:predict" | "/v1/models:predict" => predict(None),
            _ => {
                let rest = path.strip_prefix("/v1/models/")?;
                if let Some(m) = rest
                    .strip_suffix("/:predict")
                    .or_else(|| rest.strip_suffix(":predict"))
                    .and_then(segment)
                {
                    predict(Some(m))
                } else if let Some(m) = rest.strip_suffix("/metadata").and_then(segment) {
                    get("metadata", Action::NodeMetadata(m))
                } else {
                    segment(rest).and_then(|m| get("status", Action::NodeStatus(m)))
                }
            }
        },
        Protocol::V2 => match path {
            "/v2/models/infer" => predict(None),
            "/v2/health/ready" => get("status", Action::Ready),
            _ => {
                let rest = path.strip_prefix("/v2/models/")?;
                if let Some(m) = rest.strip_suffix("/infer").and_then(segment) {
                    predict(Some(m))
                } else if let Some(m) = rest.strip_suffix("/ready").and_then(segment) {
                    get("status", Action::NodeStatus(m))
                } else {
                    segment(rest).and_then(|m| get("metadata", Action::NodeMetadata(m)))
                }
            }
        },
    }
}

/// A running orchestrator's shared state.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    metrics: Metrics,
    client: sluice_pool::Http1Pool,
    /// The REST components' addresses, made once.
    addresses: BTreeMap<String, Address>,
    channels: crate::grpc::client::Channels,
}

const CORS_HEADERS: &str =
    "Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, X-CSRF-Token";

impl Engine {
    /// An orchestrator for `config`.
    pub fn new(config: Config) -> Arc<Self> {
        let version = config
            .predictor
            .annotations
            .get("version")
            .cloned()
            .unwrap_or_default();
        let metrics = match &config.shared_metrics {
            Some((families, pod)) => Metrics::shared(
                families,
                pod,
                &config.deployment,
                &config.predictor.name,
                &version,
            ),
            None => Metrics::new(&config.deployment, &config.predictor.name, &version),
        };
        Arc::new(Engine {
            addresses: Address::of_all(&config.components),
            config,
            metrics,
            client: sluice_pool::Http1Pool::default(),
            channels: crate::grpc::client::Channels::default(),
        })
    }

    /// This orchestrator's Prometheus text.
    pub fn metrics_text(&self) -> String {
        self.metrics.encode()
    }

    /// Serve on `listener` until `stop` turns true, then drain.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: watch::Receiver<bool>) {
        self.serve_with(listener, stop, |engine, request, _peer| async move {
            engine.answer(request).await
        })
        .await;
    }

    /// Like [`serve`](Self::serve), with every request going through `handler` (given the
    /// engine, the request and the client's address): `sluice up` puts a sidecar's
    /// security policies in front of the engine this way.
    pub async fn serve_with<F, Fut>(
        self: Arc<Self>,
        listener: TcpListener,
        mut stop: watch::Receiver<bool>,
        handler: F,
    ) where
        F: Fn(Arc<Engine>, Request<Incoming>, std::net::SocketAddr) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
    {
        let builder = auto::Builder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let (engine, handler) = (self.clone(), handler.clone());
                    let service = service_fn(move |request: Request<Incoming>| {
                        let answer = handler(engine.clone(), request, peer);
                        async move { Ok::<_, Infallible>(answer.await) }
                    });
                    let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned());
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                }
                _ = stopped(&mut stop) => break,
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
    }

    /// Answer one request, REST or gRPC (by its content type), from a socket or handed over
    /// in process (`sluice up`'s gateway).
    pub async fn answer<B>(self: &Arc<Self>, request: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError> + std::fmt::Display + Send + 'static,
    {
        if crate::grpc::is_grpc(request.headers()) {
            return crate::grpc::answer(self, request).await;
        }
        boxed(self.handle(request).await)
    }

    /// The predictor's protocol.
    pub fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    /// The largest gRPC message, as tonic takes it.
    pub(crate) fn max_grpc_message(&self) -> usize {
        usize::try_from(self.config.max_grpc_message).unwrap_or(usize::MAX)
    }

    /// This orchestrator's metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Answer one REST request.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let started = Instant::now();
        let path = request.uri().path();
        let route = match path {
            "/live" => return plain(StatusCode::OK, ""),
            "/ready" => return self.readiness().await,
            p if p == self.config.prometheus_path => {
                return text(StatusCode::OK, "text/plain; version=0.0.4", self.metrics_text());
            }
            p => match route(self.config.protocol, p) {
                Some(route) => route,
                None => return plain(StatusCode::NOT_FOUND, "404 page not found\n"),
            },
        };
        let method = request.method().clone();
        let preflight = method == HttpMethod::OPTIONS && route.options;
        if method != route.method && !preflight {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "");
        }
        let (mut parts, body) = request.into_parts();
        let puid = headers::puid(&mut parts.headers);
        // The middleware runs for a preflight too (puid, CloudEvents, nosniff, CORS); the CORS
        // one then answers it, unmeasured.
        let mut response = if preflight {
            plain(StatusCode::OK, "")
        } else if route.action == Action::Ready {
            self.readiness().await
        } else {
            let body = match self.read_body(&parts.headers, body).await {
                Ok(body) => body,
                Err(e) => return failure(&e),
            };
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            match self
                .run(
                    &route.action,
                    &parts.headers,
                    Payload { body, content_type },
                    None,
                )
                .await
            {
                Ok(out) => {
                    let mut r = Response::new(Full::new(Bytes::from(html_escape(out.body))));
                    if !out.content_type.is_empty()
                        && let Ok(v) = HeaderValue::try_from(out.content_type.as_str())
                    {
                        r.headers_mut().insert(header::CONTENT_TYPE, v);
                    }
                    r
                }
                Err(e) => failure(&e),
            }
        };
        let headers = response.headers_mut();
        headers.insert(SELDON_PUID, puid.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if route.options {
            let methods = if route.method == HttpMethod::POST {
                "OPTIONS,POST"
            } else {
                "OPTIONS,GET"
            };
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(methods),
            );
        }
        self.config.cors.apply(headers);
        if parts.headers.contains_key(CE_SPECVERSION) {
            self.cloudevent(headers, &puid, parts.uri.path());
        }
        if preflight {
            return response;
        }
        self.metrics.server(
            route.service,
            method.as_str(),
            response.status().as_str(),
            started.elapsed(),
        );
        response
    }

    /// The request's body, at most `max_body` bytes: refused by its `Content-Length`
    /// before reading, or as soon as it passes the limit.
    async fn read_body<B>(&self, headers: &HeaderMap, body: B) -> Result<Vec<u8>, graph::Error>
    where
        B: hyper::body::Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let limit = self.config.max_body;
        crate::body::read(body, crate::body::content_length(headers), limit)
            .await
            .map_err(|e| match e {
                crate::body::ReadError::TooLarge => graph::Error {
                    status: 413,
                    info: format!(
                        "the request body is larger than {limit} bytes (the limit: seldon.io/rest-max-body-size, or --max-request-body)"
                    ),
                    body: None,
                    grpc_code: None,
                },
                crate::body::ReadError::Failed(e) => graph::Error::internal(format!("reading the request: {e}")),
            })
    }

    /// Carry out a graph action for a request with these headers and body.
    pub(crate) async fn run(
        &self,
        action: &Action,
        headers: &HeaderMap,
        input: Payload,
        deadline: Option<Instant>,
    ) -> Result<Payload, graph::Error> {
        let model = match action {
            Action::Predict { model } => model.as_deref(),
            Action::NodeStatus(m) | Action::NodeMetadata(m) => Some(m.as_str()),
            _ => None,
        };
        let nodes = Components {
            by_node: &self.config.components,
            client: &self.client,
            addresses: &self.addresses,
            headers,
            timeout: self.config.rest_timeout,
            metrics: &self.metrics,
            protocol: self.config.protocol,
            model,
            max_body: self.config.max_body,
            channels: &self.channels,
            grpc_timeout: self.config.grpc_timeout,
            max_grpc_message: self.max_grpc_message(),
            deadline,
        };
        let root = &self.config.predictor.graph;
        match action {
            Action::Predict { .. } => graph::predict(&nodes, root, input).await.map(|(out, _)| out),
            Action::Feedback => graph::feedback(&nodes, root, input).await,
            Action::NodeStatus(m) | Action::NodeMetadata(m) => {
                let node = root
                    .walk()
                    .into_iter()
                    .find(|n| n.name == *m)
                    .ok_or_else(|| graph::Error::internal(format!("Failed to find model {m}")))?;
                let call = if matches!(action, Action::NodeStatus(_)) {
                    Method::Status
                } else {
                    Method::Metadata
                };
                nodes.call(node, call, Payload::empty()).await
            }
            Action::GraphMetadata => {
                // Boxed, as a rare action: its state would otherwise be in every request's.
                let metadata = Box::pin(graph::metadata(&nodes, &self.config.predictor.name, root)).await?;
                Ok(Payload {
                    body: serde_json::to_vec(&metadata).map_err(|e| graph::Error::internal(e.to_string()))?,
                    content_type: "application/json".to_string(),
                })
            }
            Action::Ready => Ok(Payload::empty()),
        }
    }

    /// The CloudEvents headers the executor adds when the request carried `Ce-Specversion`.
    fn cloudevent(&self, headers: &mut HeaderMap, puid: &HeaderValue, path: &str) {
        let deployment = &self.config.deployment;
        headers.insert(CE_ID, puid.clone());
        headers.insert(CE_SPECVERSION, HeaderValue::from_static("0.3"));
        let values = [
            (CE_PATH, path.to_string()),
            (
                CE_TYPE,
                format!("seldon.{deployment}.{}.response", self.config.namespace),
            ),
            (CE_SOURCE, format!("seldon.{deployment}")),
        ];
        for (name, value) in values {
            if let Ok(v) = HeaderValue::try_from(value) {
                headers.insert(name, v);
            }
        }
    }

    async fn readiness(&self) -> Response<Full<Bytes>> {
        let status = if self.ready().await {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        plain(status, "")
    }

    /// Every HTTP component accepts a TCP connection (the executor's readiness check).
    pub async fn ready(&self) -> bool {
        for component in self.config.components.values() {
            if let Some((host, port)) = component.address() {
                let target = format!("{host}:{port}");
                let ok = matches!(
                    tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(&target))
                        .await,
                    Ok(Ok(_))
                );
                if !ok {
                    return false;
                }
            }
        }
        true
    }

    /// The kubelet's `httpGet` readiness probe of REST component `node`: `GET path`
    /// answered with a status from 200 to 399 within `timeout`; `Err` says what it got
    /// instead. `None` when `node` is not a component reached over REST.
    pub async fn probe_http(&self, node: &str, path: &str, timeout: Duration) -> Option<Result<(), String>> {
        let Some(Component::Http { host, port, .. }) = self.config.components.get(node) else {
            return None;
        };
        let Some(address) = self.addresses.get(node) else {
            return Some(Err(format!("{host}:{port} cannot be named in a Host header")));
        };
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let request = match Request::get(path.as_str())
            .header(header::HOST, address.host.clone())
            .header(header::USER_AGENT, "kube-probe/sluice")
            .body(sluice_pool::full(Bytes::new()))
        {
            Ok(request) => request,
            Err(e) => return Some(Err(format!("GET {path} cannot be sent: {e}"))),
        };
        Some(
            match tokio::time::timeout(timeout, self.client.request(&address.endpoint, request)).await {
                Err(_) => Err(format!("GET {path} was not answered within {timeout:?}")),
                Ok(Err(e)) => Err(format!("GET {path} failed: {e}")),
                Ok(Ok(response)) if (200..400).contains(&response.status().as_u16()) => Ok(()),
                Ok(Ok(response)) => Err(format!("GET {path} answered {}", response.status())),
            },
        )
    }

    /// The address a component listens on, for tests and `sluice up`.
    pub fn component_address(&self, node: &str) -> Option<SocketAddr> {
        let (host, port) = self.config.components.get(node)?.address()?;
        format!("{host}:{port}").parse().ok()
    }
}

/// Resolves once shutdown has been requested (also if it was before the call).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A whole REST answer as a [`Body`].
pub fn boxed(response: Response<Full<Bytes>>) -> Response<Body> {
    response.map(|body| body.map_err(|never| match never {}).boxed())
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An error as Seldon's JSON envelope (or the component's own body), as `application/json`
/// (Seldon sends these as `text/plain`, B15).
fn failure(e: &graph::Error) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(html_escape(e.envelope()))));
    *r.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Go's `json.HTMLEscape`, which the executor applies to every body it returns. A body
/// with nothing to escape (the usual case) is returned as it is, not copied; it is searched
/// with `memchr`'s vector code, not a byte at a time.
pub fn html_escape(body: Vec<u8>) -> Vec<u8> {
    // The second search stops where the first found something.
    let first = match memchr::memchr3(b'<', b'>', b'&', &body) {
        Some(a) => memchr::memchr(0xE2, &body[..a]).unwrap_or(a),
        None => match memchr::memchr(0xE2, &body) {
            Some(b) => b,
            None => return body,
        },
    };
    let mut out = Vec::with_capacity(body.len() + 16);
    out.extend_from_slice(&body[..first]);
    let mut i = first;
    while i < body.len() {
        match body[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
            0xE2 if body.get(i + 1) == Some(&0x80) && matches!(body.get(i + 2), Some(0xA8 | 0xA9)) => {
                out.extend_from_slice(if body[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::html_escape;

    #[test]
    fn html_escape_is_gos_and_leaves_a_clean_body_where_it_is() {
        let clean = br#"{"data":{"ndarray":[[0.1,0.9]]}}"#.to_vec();
        let at = clean.as_ptr();
        let same = html_escape(clean);
        assert_eq!(same.as_ptr(), at, "a body with nothing to escape is not copied");
        assert_eq!(
            html_escape("a<b>&c\u{2028}d\u{2029}e\u{20ac}".as_bytes().to_vec()),
            br"a\u003cb\u003e\u0026c\u2028d\u2029e"
                .iter()
                .chain("\u{20ac}".as_bytes())
                .copied()
                .collect::<Vec<u8>>()
        );
        // 0xE2 starts other characters too (here U+20AC): only U+2028/U+2029 are escaped.
        assert_eq!(html_escape("\u{20ac}".as_bytes().to_vec()), "\u{20ac}".as_bytes());
        // The first byte to look at is the earlier of the two searches', either way round.
        assert_eq!(html_escape("\u{2029}x<".as_bytes().to_vec()), br"\u2029x\u003c");
        assert_eq!(html_escape("&x\u{2028}".as_bytes().to_vec()), br"\u0026x\u2028");
    }
}
