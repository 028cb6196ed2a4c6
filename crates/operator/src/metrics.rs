//! The operator's own metrics and health: `/metrics` (reconciles, failures, durations,
//! leadership), `/healthz` (the process answers) and `/readyz` (it has synced its caches
//! and, with leader election, knows whether it leads).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// The operator's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<Vec<(&'static str, &'static str)>, Counter>,
    duration: Histogram,
    leader: Gauge,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sluice_operator");
        let reconciles = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        let leader = Gauge::default();
        registry.register(
            "reconciles",
            "SeldonDeployment reconciles, by result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time per reconcile",
            duration.clone(),
        );
        registry.register("leader", "1 while this replica leads", leader.clone());
        Metrics {
            registry,
            reconciles,
            duration,
            leader,
            ready: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// One reconcile ended.
    pub fn reconciled(&self, took: Duration, ok: bool) {
        let result = if ok { "success" } else { "error" };
        self.reconciles.get_or_create(&vec![("result", result)]).inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// This replica leads (or not).
    pub fn set_leader(&self, leads: bool) {
        self.leader.set(i64::from(leads));
    }

    /// Ready to serve (`/readyz`).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Prometheus text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

fn answer(metrics: &Metrics, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, kind, body) = match request.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" if metrics.ready.load(Ordering::Acquire) => {
            (StatusCode::OK, "text/plain", "ok\n".to_string())
        }
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "try /metrics, /healthz or /readyz\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, kind)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` until `stop` resolves.
pub async fn serve(
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let metrics = metrics.clone();
                    let service = service_fn(move |request| {
                        let metrics = metrics.clone();
                        async move { Ok::<_, Infallible>(answer(&metrics, &request)) }
                    });
                    tokio::spawn(async move {
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                () = &mut stop => return,
            }
        }
    });
    Ok(local)
}
