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
use sluice_engine::graph::Protocol;
use sluice_engine::mock::MockClassifier;
use sluice_engine::server::{Action, Cors, route};
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
    start_with(Protocol::Seldon, predictor, components).await
}

async fn start_with(
    protocol: Protocol,
    predictor: PredictorSpec,
    components: BTreeMap<String, Component>,
) -> (SocketAddr, Arc<Engine>, watch::Sender<bool>) {
    start_cors(protocol, predictor, components, Cors::default()).await
}

async fn start_cors(
    protocol: Protocol,
    predictor: PredictorSpec,
    components: BTreeMap<String, Component>,
    cors: Cors,
) -> (SocketAddr, Arc<Engine>, watch::Sender<bool>) {
    serve(config(protocol, predictor, components, cors)).await
}

/// The engine of deployment `iris` in `seldon`, with the default limits.
fn config(
    protocol: Protocol,
    predictor: PredictorSpec,
    components: BTreeMap<String, Component>,
    cors: Cors,
) -> Config {
    Config {
        deployment: "iris".into(),
        namespace: "seldon".into(),
        predictor,
        components,
        rest_timeout: None,
        grpc_timeout: None,
        prometheus_path: "/prometheus".into(),
        protocol,
        cors,
        shared_metrics: None,
        max_body: sluice_engine::server::MAX_BODY,
        max_grpc_message: sluice_engine::server::MAX_BODY,
    }
}

async fn serve(config: Config) -> (SocketAddr, Arc<Engine>, watch::Sender<bool>) {
    let engine = Engine::new(config);
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

/// A REST component answering any path with its name, the path and what it got (and an
/// `outputs` key, which the v2 protocol renames before the next node).
async fn component(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut accepted = 0;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            accepted += 1;
            let service = service_fn(move |req: Request<Incoming>| async move {
                let path = req.uri().path().to_string();
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .map(|v| v.to_str().unwrap_or("").to_string())
                        .unwrap_or_default()
                };
                let (puid, host, custom, content_type) = (
                    header("seldon-puid"),
                    header("host"),
                    header("x-custom"),
                    header("content-type"),
                );
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let out = format!(
                    "{{\"name\":\"{name}\",\"path\":\"{path}\",\"puid\":\"{puid}\",\"host\":\"{host}\",\"custom\":\"{custom}\",\"content_type\":\"{content_type}\",\"connection\":{accepted},\"outputs\":[1],\"in\":{}}}",
                    if body.is_empty() {
                        "null".into()
                    } else {
                        String::from_utf8_lossy(&body)
                    }
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

/// A transformer `t` in front of a model `m`, both REST components on loopback.
async fn transformer_and_model() -> (PredictorSpec, BTreeMap<String, Component>) {
    let mut root = PredictiveUnit {
        name: "t".into(),
        kind: Some("TRANSFORMER".into()),
        ..PredictiveUnit::default()
    };
    root.children.push(model("m"));
    let mut components = BTreeMap::new();
    for name in ["t", "m"] {
        let port = component(name).await.port();
        let http = Component::Http {
            host: "127.0.0.1".into(),
            port,
            image: format!("{name}:1"),
        };
        components.insert(name.to_string(), http);
    }
    (graph(root), components)
}

#[tokio::test]
async fn rest_components_get_the_payload_and_the_puid() {
    let (predictor, components) = transformer_and_model().await;
    let (addr, engine, _stop) = start(predictor, components).await;
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
    // The client's headers go along; the host is the component's, the content type the payload's.
    let (status, headers2, body) = call(
        addr,
        "POST",
        "/api/v1.0/predictions",
        r#"{"x":1}"#,
        &[("x-custom", "kept"), ("host", "gateway.example")],
    )
    .await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let address = |node| {
        engine
            .component_address(node)
            .expect("a REST component")
            .to_string()
    };
    assert_eq!(
        (&v["host"], &v["in"]["host"]),
        (&address("m").into(), &address("t").into())
    );
    assert_eq!(
        (&v["custom"], &v["in"]["custom"]),
        (&"kept".into(), &"kept".into())
    );
    assert_eq!(v["content_type"], "application/json");
    // Each component's keep-alive connection carried both predictions.
    assert_eq!((&v["connection"], &v["in"]["connection"]), (&1.into(), &1.into()));
    // Without a puid, one is made: the same for the components and the response.
    let puid = headers2["seldon-puid"].to_str().expect("ASCII");
    assert_eq!(puid.len(), 36);
    assert_eq!((&v["puid"], &v["in"]["puid"]), (&puid.into(), &puid.into()));
    assert!(engine.ready().await);

    let metrics = call(addr, "GET", "/prometheus", "", &[]).await.2;
    assert!(metrics.contains("seldon_api_executor_server_requests_seconds_count{deployment_name=\"iris\",predictor_name=\"default\",predictor_version=\"\",service=\"predictions\",method=\"post\",code=\"200\"} 2"), "{metrics}");
    assert!(metrics.contains("seldon_api_executor_client_requests_seconds_count{deployment_name=\"iris\",predictor_name=\"default\",predictor_version=\"\",service=\"/transform-input\",model_name=\"t\",model_image=\"t\",model_version=\"1\",method=\"post\",code=\"200\"} 2"), "{metrics}");
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

#[test]
fn each_protocol_serves_its_own_routes() {
    use Protocol::*;
    let m = || "m".to_string();
    let predict = |model: Option<&str>| Action::Predict {
        model: model.map(str::to_string),
    };
    let cases = [
        (
            Seldon,
            "/api/v0.1/predictions",
            Some(("POST", "predictions", predict(None))),
        ),
        (
            Seldon,
            "/api/v1.0/feedback",
            Some(("POST", "feedback", Action::Feedback)),
        ),
        (
            Seldon,
            "/api/v1.0/health/status",
            Some(("GET", "status", Action::Ready)),
        ),
        (
            Seldon,
            "/api/v1.0/status/m",
            Some(("GET", "status", Action::NodeStatus(m()))),
        ),
        (
            Seldon,
            "/api/v0.1/metadata/m",
            Some(("GET", "metadata", Action::NodeMetadata(m()))),
        ),
        (
            Seldon,
            "/api/v1.0/metadata",
            Some(("GET", "metadata", Action::GraphMetadata)),
        ),
        (Seldon, "/api/v1.0/status/a/b", None),
        (Seldon, "/v2/models/m/infer", None),
        (
            Tensorflow,
            "/v1/models/m:predict",
            Some(("POST", "predictions", predict(Some("m")))),
        ),
        (
            Tensorflow,
            "/v1/models/m/:predict",
            Some(("POST", "predictions", predict(Some("m")))),
        ),
        (
            Tensorflow,
            "/v1/models:predict",
            Some(("POST", "predictions", predict(None))),
        ),
        (
            Tensorflow,
            "/v1/models/:predict",
            Some(("POST", "predictions", predict(None))),
        ),
        (
            Tensorflow,
            "/v1/models/m",
            Some(("GET", "status", Action::NodeStatus(m()))),
        ),
        (
            Tensorflow,
            "/v1/models/m/metadata",
            Some(("GET", "metadata", Action::NodeMetadata(m()))),
        ),
        (
            Tensorflow,
            "/api/v1.0/feedback",
            Some(("POST", "feedback", Action::Feedback)),
        ),
        (Tensorflow, "/api/v1.0/predictions", None),
        (
            V2,
            "/v2/models/m/infer",
            Some(("POST", "predictions", predict(Some("m")))),
        ),
        (
            V2,
            "/v2/models/infer",
            Some(("POST", "predictions", predict(None))),
        ),
        (
            V2,
            "/v2/models/m/ready",
            Some(("GET", "status", Action::NodeStatus(m()))),
        ),
        (
            V2,
            "/v2/models/m",
            Some(("GET", "metadata", Action::NodeMetadata(m()))),
        ),
        (V2, "/v2/health/ready", Some(("GET", "status", Action::Ready))),
        (V2, "/v2/models/m/x/infer", None),
        (V2, "/api/v1.0/predictions", None),
    ];
    for (protocol, path, expected) in cases {
        let got = route(protocol, path).map(|r| (r.method.to_string(), r.service, r.action));
        let expected = expected.map(|(method, service, action)| (method.to_string(), service, action));
        assert_eq!(got, expected, "{protocol:?} {path}");
    }
}

#[tokio::test]
async fn preflights_get_the_middleware_headers_and_the_routes_methods() {
    let env = BTreeMap::from([("CORS_ALLOWED_HEADERS", "X-Mine")]);
    let cors = Cors::from_env(|name| env.get(name).map(|v| v.to_string())).expect("valid");
    let (addr, engine, _stop) = start_cors(
        Protocol::Seldon,
        graph(model("classifier")),
        mock_components(),
        cors,
    )
    .await;
    let (status, headers, body) = call(
        addr,
        "OPTIONS",
        "/api/v1.0/metadata/classifier",
        "",
        &[("ce-specversion", "1.0"), ("seldon-puid", "p-2")],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(headers["access-control-allow-methods"], "OPTIONS,GET");
    assert_eq!(headers["access-control-allow-headers"], "X-Mine");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["seldon-puid"], "p-2");
    assert_eq!(headers["ce-id"], "p-2");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        !engine
            .metrics_text()
            .contains("seldon_api_executor_server_requests_seconds_count{"),
        "preflights are not measured"
    );
    // Every answer of a Seldon route names its methods, not only preflights.
    let (status, headers, _) = call(
        addr,
        "POST",
        "/api/v1.0/predictions",
        r#"{"data":{"ndarray":[[1]]}}"#,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-methods"], "OPTIONS,POST");
    assert!(
        engine
            .metrics_text()
            .contains("seldon_api_executor_server_requests_seconds_count{")
    );

    // Tensorflow's and v2's routes take no OPTIONS: 405, without the middleware headers.
    let (addr, _, _stop) = start_with(Protocol::V2, graph(model("classifier")), mock_components()).await;
    let (status, headers, _) = call(addr, "OPTIONS", "/v2/models/classifier/ready", "", &[]).await;
    assert_eq!(status, 405);
    assert!(!headers.contains_key("access-control-allow-origin"));
    let (_, headers, _) = call(addr, "GET", "/v2/health/ready", "", &[]).await;
    assert!(!headers.contains_key("access-control-allow-methods"));
    assert_eq!(headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn v2_calls_components_by_model_and_chains_outputs_into_inputs() {
    let (predictor, components) = transformer_and_model().await;
    let (addr, _, _stop) = start_with(Protocol::V2, predictor, components).await;
    let (status, _, body) = call(addr, "POST", "/v2/models/infer", r#"{"inputs":[0]}"#, &[]).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["path"], "/v2/models/m/infer");
    assert_eq!(v["in"]["path"], "/v2/models/t/infer");
    assert_eq!(
        v["in"]["inputs"],
        serde_json::json!([1]),
        "t's outputs became m's inputs"
    );
    assert!(v["in"].get("outputs").is_none(), "{body}");
    assert_eq!(v["in"]["in"], serde_json::json!({"inputs":[0]}));

    // A model in the URL names every node's call.
    let body = call(addr, "POST", "/v2/models/x/infer", "{}", &[]).await.2;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["path"].as_str(), v["in"]["path"].as_str()),
        (Some("/v2/models/x/infer"), Some("/v2/models/x/infer"))
    );

    // Model readiness and metadata are asked of the named node.
    let (status, _, body) = call(addr, "GET", "/v2/models/m/ready", "", &[]).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("\"name\":\"m\",\"path\":\"/v2/models/m/ready\""),
        "{body}"
    );
    let body = call(addr, "GET", "/v2/models/t", "", &[]).await.2;
    assert!(body.contains("\"path\":\"/v2/models/t\""), "{body}");
    let (status, _, body) = call(addr, "GET", "/v2/models/nope/ready", "", &[]).await;
    assert_eq!(status, 500);
    assert!(body.contains("Failed to find model nope"), "{body}");
    assert_eq!(call(addr, "GET", "/v2/health/ready", "", &[]).await.0, 200);
    assert_eq!(
        call(addr, "POST", "/api/v1.0/predictions", "{}", &[]).await.0,
        404
    );

    let metrics = call(addr, "GET", "/prometheus", "", &[]).await.2;
    assert!(metrics.contains("service=\"/v2/models/m/infer\",model_name=\"m\",model_image=\"m\",model_version=\"1\",method=\"post\",code=\"200\"} 1"), "{metrics}");
    assert!(metrics.contains("service=\"/v2/models/m/ready\",model_name=\"m\",model_image=\"m\",model_version=\"1\",method=\"get\""), "{metrics}");
}

#[tokio::test]
async fn tensorflow_calls_components_at_their_predict_paths() {
    let (predictor, components) = transformer_and_model().await;
    let (addr, _, _stop) = start_with(Protocol::Tensorflow, predictor, components).await;
    let (status, _, body) = call(addr, "POST", "/v1/models:predict", r#"{"instances":[0]}"#, &[]).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["path"].as_str(), v["in"]["path"].as_str()),
        (Some("/v1/models/m:predict"), Some("/v1/models/t:predict"))
    );
    let body = call(addr, "GET", "/v1/models/m/metadata", "", &[]).await.2;
    assert!(body.contains("\"path\":\"/v1/models/m/metadata\""), "{body}");
    let body = call(addr, "GET", "/v1/models/t", "", &[]).await.2;
    assert!(
        body.contains("\"name\":\"t\",\"path\":\"/v1/models/t\""),
        "model status: {body}"
    );
}

#[tokio::test]
async fn graph_metadata_of_the_mock_classifier_is_seldons() {
    let (addr, _, _stop) = start(graph(model("classifier")), mock_components()).await;
    let (status, headers, body) = call(addr, "GET", "/api/v1.0/metadata", "", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        body,
        r#"{"name":"default","models":{"classifier":{"name":"seldonio/mock_classifier","versions":["1.18.2"],"inputs":[],"outputs":[]}},"graphinputs":[],"graphoutputs":[]}"#
    );
    let (status, _, body) = call(addr, "GET", "/api/v1.0/status/classifier", "", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (status, _, body) = call(addr, "GET", "/api/v1.0/metadata/other", "", &[]).await;
    assert_eq!(status, 500);
    assert!(body.contains("Failed to find model other"), "{body}");
}

#[tokio::test]
async fn cloudevents_and_configured_cors_headers() {
    let env = BTreeMap::from([("CORS_ALLOWED_ORIGINS", "https://app.example")]);
    let cors = Cors::from_env(|name| env.get(name).map(|v| v.to_string())).expect("valid");
    let (addr, _, _stop) = start_cors(
        Protocol::Seldon,
        graph(model("classifier")),
        mock_components(),
        cors,
    )
    .await;
    let (status, headers, _) = call(
        addr,
        "POST",
        "/api/v1.0/predictions",
        r#"{"data":{"ndarray":[[1]]}}"#,
        &[("ce-specversion", "1.0"), ("seldon-puid", "p-1")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");
    assert_eq!(
        headers["access-control-allow-headers"],
        "Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, X-CSRF-Token"
    );
    assert_eq!(headers["ce-id"], "p-1");
    assert_eq!(headers["ce-specversion"], "0.3");
    assert_eq!(headers["ce-path"], "/api/v1.0/predictions");
    assert_eq!(headers["ce-type"], "seldon.iris.seldon.response");
    assert_eq!(headers["ce-source"], "seldon.iris");
    // Without the request header, no CloudEvents headers.
    let (_, headers, _) = call(
        addr,
        "POST",
        "/api/v1.0/predictions",
        r#"{"data":{"ndarray":[[1]]}}"#,
        &[],
    )
    .await;
    assert!(!headers.contains_key("ce-id"));
    // A value that cannot be a header is refused, naming the variable.
    let err = Cors::from_env(|name| (name == "CORS_ALLOWED_HEADERS").then(|| "a\nb".to_string()))
        .expect_err("newline");
    assert!(err.starts_with("CORS_ALLOWED_HEADERS "), "{err}");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_and_so_are_component_answers() {
    let (predictor, components) = transformer_and_model().await;
    let (addr, _engine, _stop) = serve(Config {
        max_body: 600,
        ..config(Protocol::Seldon, predictor, components, Cors::default())
    })
    .await;
    let small = r#"{"x":1}"#;
    assert_eq!(
        call(addr, "POST", "/api/v1.0/predictions", small, &[]).await.0,
        200
    );
    // Over the limit: 413 with Seldon's envelope, before the graph runs.
    let (status, _, body) = call(addr, "POST", "/api/v1.0/predictions", &" ".repeat(601), &[]).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("larger than 600 bytes") && body.contains("FAILURE"),
        "{body}"
    );
    // Under it, but the components' answers (which wrap the request twice) are not.
    let padded = format!(r#"{{"x":"{}"}}"#, "a".repeat(300));
    let (status, _, body) = call(addr, "POST", "/api/v1.0/predictions", &padded, &[]).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("the answer is larger than 600 bytes"), "{body}");
}
