//! The admin listener: `/stats/prometheus`, `/healthz/ready`, `/config_dump`.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use sluice_mesh::route::RouteAction;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::Shared;
use crate::{Body, full};

pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let shared = shared.clone();
                let service = service_fn(move |request| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(respond(&shared, &request)) }
                });
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = crate::server::stopped(&mut stop) => break,
        }
    }
}

fn respond(shared: &Shared, request: &Request<Incoming>) -> Response<Body> {
    let (status, content_type, body) = match request.uri().path() {
        "/stats/prometheus" => {
            let text = shared.metrics.encode();
            (
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            )
        }
        "/healthz/ready" => readiness(shared),
        "/config_dump" => (StatusCode::OK, "application/json", config_dump(shared)),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /stats/prometheus, /healthz/ready or /config_dump\n".to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full("")))
}

/// `LIVE` once every port listens and every endpoint is ready; else 503 with the reasons.
fn readiness(shared: &Shared) -> (StatusCode, &'static str, String) {
    if !shared.ready.load(std::sync::atomic::Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready: the listeners are not open yet\n".to_string(),
        );
    }
    let down = shared.balancer.down.reasons();
    if down.is_empty() {
        return (StatusCode::OK, "text/plain", "LIVE\n".to_string());
    }
    let mut body = String::from("not ready:\n");
    for why in down {
        body.push_str(&format!("  {why}\n"));
    }
    (StatusCode::SERVICE_UNAVAILABLE, "text/plain", body)
}

/// The compiled table, route by route, and the diagnostics of the last load.
pub(crate) fn config_dump(shared: &Shared) -> String {
    let table = shared.table.load_full();
    let listeners: Vec<serde_json::Value> = table
        .ports()
        .filter_map(|port| table.listener(port).map(|l| (port, l)))
        .map(|(port, listener)| {
            let hosts: Vec<serde_json::Value> = listener
                .virtual_hosts
                .iter()
                .map(|vh| {
                    let routes: Vec<serde_json::Value> = vh
                        .routes
                        .iter()
                        .map(|r| {
                            let action = match &r.action {
                                RouteAction::Forward(f) => json!({"forward": f.destinations.iter().map(|d| json!({"destination": d.label, "weight": d.weight, "cluster": d.cluster.as_ref().map(|c| c.name.clone()).unwrap_or_else(|m| format!("missing: {}", m.describe()))})).collect::<Vec<_>>(), "timeout_ms": f.timeout.map(|t| t.as_millis() as u64), "retry_attempts": f.retry.attempts, "mirrors": f.mirrors.iter().map(|(c, p)| json!({"cluster": c.name, "percentage": p})).collect::<Vec<_>>()}),
                                RouteAction::Redirect(rd) => json!({"redirect": rd.code.as_u16()}),
                                RouteAction::Direct { status, .. } => json!({"direct_response": status.as_u16()}),
                            };
                            json!({"origin": r.origin.to_string(), "match": format!("{:?}", r.matcher), "action": action})
                        })
                        .collect();
                    json!({"domain": vh.domain, "https_redirect": vh.require_tls, "routes": routes})
                })
                .collect();
            json!({"port": port, "servers": listener.servers, "virtual_hosts": hosts})
        })
        .collect();
    let diagnostics: Vec<String> = shared
        .diagnostics
        .load()
        .iter()
        .map(ToString::to_string)
        .collect();
    let dump = json!({"listeners": listeners, "diagnostics": diagnostics});
    serde_json::to_string_pretty(&dump).unwrap_or_default()
}
