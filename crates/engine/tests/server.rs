//! The orchestrator on a real socket: the mock classifier in process, a REST component
//! on 127.0.0.1:0, Seldon's headers, errors and metrics.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use sluice_api::seldon::{PredictiveUnit, PredictorSpec};
use sluice_engine::mock::MockClassifier;
use sluice_engine::{Component, Config, Engine};
use tokio::net::TcpListener;
use tokio::sync::watch;

const IMAGE: &str = "seldonio/mock_classifier:1.18.2";

fn graph(root: PredictiveUnit) -> PredictorSpec {
    PredictorSpec {
        name: "default".into(),
        graph: root,
        ..PredictorSpec::default()
    }
}

fn model(name: &str) -> PredictiveUnit {
    PredictiveUnit {
        name: name.into(),
        kind: Some("MODEL".into()),
        ..PredictiveUnit::default()
    }
}

async fn start(
    predictor: PredictorSpec,
    components: BTreeMap<String, Component>,
) -> (SocketAddr, Arc<Engine>, watch::Sender<bool>) {
    let engine = Engine::new(Config {
        deployment: "iris".into(),
        namespace: "seldon".into(),
        predictor,
        components,
        rest_timeout: None,
        prometheus_path: "/prometheus".into(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = watch::channel(false);
    tokio::spawn(engine.clone().serve(listener, rx));
    (addr, engine, stop)
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let response = client
        .request(b.body(Full::new(Bytes::from(body.to_string()))).expect("request"))
        .await
        .expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn mock_components() -> BTreeMap<String, Component> {
    BTreeMap::from([(
        "classifier".into(),
        Component::Mock(MockClassifier::new("classifier", IMAGE, &[]).expect("mock")),
    )])
}

#[tokio::test]
async fn predictions_through_the_mock_classifier_are_byte_identical() {
    let (addr, _, _stop) = start(graph(model("classifier")), mock_components()).await;
    let (status, headers, body) = call(
        addr,
        "POST",
        "/api/v1.0/predictions",
        r#"{"data":{"ndarray":[[1.0,2.0,5.0]]}}"#,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        "{\"data\":{\"names\":[\"proba\"],\"ndarray\":[[0.43782349911420193]]},\"meta\":{\"requestPath\":{\"classifier\":\"seldonio/mock_classifier:1.18.2\"}}}\n"
    );
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["seldon-puid"].len(), 36);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let (_, headers, _) = call(
        addr,
        "POST",
        "/api/v0.1/predictions",
        r#"{"data":{"ndarray":[[1]]}}"#,
        &[("seldon-puid", "my-puid")],
    )
    .await;
    assert_eq!(headers["seldon-puid"], "my-puid");
}

#[tokio::test]
async fn errors_are_seldon_json_with_a_json_content_type() {
    let (addr, _, _stop) = start(graph(model("classifier")), mock_components()).await;
    let (status, headers, body) = call(
        addr,
        "POST",
        "/api/v1.0/predictions",
        r#"{"data":{"ndarray":[[-1000]]}}"#,
        &[],
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        headers["content-type"], "application/json",
        "Seldon sends text/plain here (B15)"
    );
    assert!(body.contains("math range error"), "{body}");

    // An unreachable component: 500 with the FAILURE envelope.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let components = BTreeMap::from([(
        "classifier".into(),
        Component::Http {
            host: "127.0.0.1".into(),
            port: dead.port(),
            image: IMAGE.into(),
        },
    )]);
    let (addr, engine, _stop) = start(graph(model("classifier")), components).await;
    let (status, headers, body) = call(
        addr,
        "POST",
        "/api/v1.0/predictions",
        r#"{"data":{"ndarray":[[1]]}}"#,
        &[],
    )
    .await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap_or("")),
        (500, "application/json")
    );
    assert!(
        body.starts_with("{\"status\":{\"code\":500,\"info\":\"Post \\\"http://127.0.0.1:"),
        "{body}"
    );
    assert!(body.ends_with("\"status\":\"FAILURE\"}}"), "{body}");
    assert!(!engine.ready().await);
    assert_eq!(call(addr, "GET", "/ready", "", &[]).await.0, 503);
}

/// A REST component answering `/predict` with its name and what it got.
async fn component(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service_fn(move |req: Request<Incoming>| async move {
                let path = req.uri().path().to_string();
                let puid = req
                    .headers()
                    .get("seldon-puid")
                    .map(|v| v.to_str().unwrap_or("").to_string())
                    .unwrap_or_default();
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let out = format!(
                    "{{\"name\":\"{name}\",\"path\":\"{path}\",\"puid\":\"{puid}\",\"in\":{}}}",
                    String::from_utf8_lossy(&body)
                );
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(out)))
                        .expect("response"),
                )
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

#[tokio::test]
async fn rest_components_get_the_payload_and_the_puid() {
    let t = component("t").await;
    let m = component("m").await;
    let mut root = PredictiveUnit {
        name: "t".into(),
        kind: Some("TRANSFORMER".into()),
        ..PredictiveUnit::default()
    };
    root.children.push(model("m"));
    let components = BTreeMap::from([
        (
            "t".into(),
            Component::Http {
                host: "127.0.0.1".into(),
                port: t.port(),
                image: "t:1".into(),
            },
        ),
        (
            "m".into(),
            Component::Http {
                host: "127.0.0.1".into(),
                port: m.port(),
                image: "m:1".into(),
            },
        ),
    ]);
    let (addr, engine, _stop) = start(graph(root), components).await;
    let (status, headers, body) = call(
        addr,
        "POST",
        "/api/v1.0/predictions",
        r#"{"x":"<1>"}"#,
        &[("seldon-puid", "p1")],
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["name"], "m");
    assert_eq!(v["path"], "/predict");
    assert_eq!(v["in"]["path"], "/transform-input");
    assert_eq!(v["in"]["puid"], "p1");
    assert!(body.contains("\\u003c1\\u003e"), "Go's HTML escaping: {body}");
    assert_eq!(headers["seldon-puid"], "p1");
    assert!(engine.ready().await);

    let metrics = call(addr, "GET", "/prometheus", "", &[]).await.2;
    assert!(metrics.contains("seldon_api_executor_server_requests_seconds_count{deployment_name=\"iris\",predictor_name=\"default\",predictor_version=\"\",service=\"predictions\",method=\"post\",code=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("seldon_api_executor_client_requests_seconds_count{deployment_name=\"iris\",predictor_name=\"default\",predictor_version=\"\",service=\"/transform-input\",model_name=\"t\",model_image=\"t\",model_version=\"1\",method=\"post\",code=\"200\"} 1"), "{metrics}");
}

#[tokio::test]
async fn routes_methods_and_health() {
    let (addr, _, _stop) = start(graph(model("classifier")), mock_components()).await;
    assert_eq!(call(addr, "GET", "/live", "", &[]).await.0, 200);
    assert_eq!(call(addr, "GET", "/ready", "", &[]).await.0, 200);
    assert_eq!(call(addr, "GET", "/api/v1.0/predictions", "", &[]).await.0, 405);
    let (status, _, body) = call(addr, "GET", "/nothing", "", &[]).await;
    assert_eq!((status, body.as_str()), (404, "404 page not found\n"));
    let (status, headers, _) = call(addr, "OPTIONS", "/api/v1.0/predictions", "", &[]).await;
    assert_eq!(
        (
            status,
            headers["access-control-allow-methods"].to_str().unwrap_or("")
        ),
        (200, "OPTIONS,POST")
    );
}
