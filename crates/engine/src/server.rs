//! The orchestrator's REST server (spec §7.2–§7.6): Seldon's routes, headers, errors and
//! metrics, in front of the graph.

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
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rand::RngExt;
use sluice_api::seldon::PredictorSpec;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::components::{Component, Components, client};
use crate::graph::{self, Payload};
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
    /// Timeout of each component call (`seldon.io/rest-timeout`); `None` waits.
    pub rest_timeout: Option<Duration>,
    /// Metrics path (`--prometheus_path`).
    pub prometheus_path: String,
}

/// A running orchestrator's shared state.
#[derive(Debug)]
pub struct Engine {
    config: Config,
    metrics: Metrics,
    client: Client<HttpConnector, Full<Bytes>>,
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
        let metrics = Metrics::new(&config.deployment, &config.predictor.name, &version);
        Arc::new(Engine {
            config,
            metrics,
            client: client(),
        })
    }

    /// This orchestrator's Prometheus text.
    pub fn metrics_text(&self) -> String {
        self.metrics.encode()
    }

    /// Serve on `listener` until `stop` turns true, then drain.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let builder = auto::Builder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let engine = self.clone();
                    let service = service_fn(move |request| {
                        let engine = engine.clone();
                        async move { Ok::<_, Infallible>(engine.handle(request).await) }
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

    /// Answer one request.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let (service, allowed): (&str, &[HttpMethod]) = match path.as_str() {
            "/api/v1.0/predictions" | "/api/v0.1/predictions" => ("predictions", &[HttpMethod::POST]),
            "/api/v1.0/feedback" | "/api/v0.1/feedback" => ("feedback", &[HttpMethod::POST]),
            "/api/v1.0/status" | "/api/v1.0/health/status" => ("status", &[HttpMethod::GET]),
            "/live" => return plain(StatusCode::OK, ""),
            "/ready" => {
                return plain(
                    if self.ready().await {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    },
                    "",
                );
            }
            p if p == self.config.prometheus_path => {
                return text(StatusCode::OK, "text/plain; version=0.0.4", self.metrics_text());
            }
            _ => return plain(StatusCode::NOT_FOUND, "404 page not found\n"),
        };
        if method == HttpMethod::OPTIONS {
            let mut r = plain(StatusCode::OK, "");
            let methods = std::iter::once("OPTIONS")
                .chain(allowed.iter().map(HttpMethod::as_str))
                .collect::<Vec<_>>()
                .join(",");
            if let Ok(v) = HeaderValue::try_from(methods) {
                r.headers_mut().insert("access-control-allow-methods", v);
            }
            cors(r.headers_mut());
            return r;
        }
        if !allowed.contains(&method) {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "");
        }
        let (mut parts, body) = request.into_parts();
        let puid = match parts.headers.get("seldon-puid").and_then(|v| v.to_str().ok()) {
            Some(p) => p.to_string(),
            None => {
                let p = sluice_api::ids::uuid_v4(rand::rng().random());
                if let Ok(v) = HeaderValue::try_from(p.as_str()) {
                    parts.headers.insert("seldon-puid", v);
                }
                p
            }
        };
        let mut response = match service {
            "status" => plain(
                if self.ready().await {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                },
                "",
            ),
            _ => {
                let body = match body.collect().await {
                    Ok(b) => b.to_bytes().to_vec(),
                    Err(e) => return failure(&graph::Error::internal(format!("reading the request: {e}"))),
                };
                let content_type = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let nodes = Components {
                    by_node: &self.config.components,
                    client: &self.client,
                    headers: &parts.headers,
                    timeout: self.config.rest_timeout,
                    metrics: &self.metrics,
                };
                let input = Payload { body, content_type };
                let result = if service == "feedback" {
                    graph::feedback(&nodes, &self.config.predictor.graph, input).await
                } else {
                    graph::predict(&nodes, &self.config.predictor.graph, input)
                        .await
                        .map(|(out, _)| out)
                };
                match result {
                    Ok(out) => {
                        let mut r = Response::new(Full::new(Bytes::from(html_escape(&out.body))));
                        if let Ok(v) = HeaderValue::try_from(out.content_type.as_str()) {
                            r.headers_mut().insert(header::CONTENT_TYPE, v);
                        }
                        r
                    }
                    Err(e) => failure(&e),
                }
            }
        };
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::try_from(puid.as_str()) {
            headers.insert("seldon-puid", v);
        }
        headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        cors(headers);
        self.metrics.server(
            service,
            method.as_str(),
            response.status().as_u16(),
            started.elapsed(),
        );
        response
    }

    /// Every HTTP component accepts a TCP connection (the executor's readiness check).
    pub async fn ready(&self) -> bool {
        for component in self.config.components.values() {
            if let Component::Http { host, port, .. } = component {
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

    /// The address a component listens on, for tests and `sluice up`.
    pub fn component_address(&self, node: &str) -> Option<SocketAddr> {
        match self.config.components.get(node) {
            Some(Component::Http { host, port, .. }) => format!("{host}:{port}").parse().ok(),
            _ => None,
        }
    }
}

/// Resolves once shutdown has been requested (also if it was before the call).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn cors(headers: &mut HeaderMap) {
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static(CORS_HEADERS),
    );
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
    let mut r = Response::new(Full::new(Bytes::from(html_escape(&e.envelope()))));
    *r.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Go's `json.HTMLEscape`, which the executor applies to every body it returns.
pub fn html_escape(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
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
