//! `sluice up` in process: SeldonDeployments from files, engines, the mock classifier, the
//! gateway on 127.0.0.1, and re-applying edited files.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sluice_local::{Local, Mappings, Options};
use sluice_translate::Settings;

const BODY: &str = r#"{"data":{"ndarray":[[1.0,2.0,5.0]]}}"#;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-up-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("sdep.yaml");
    std::fs::write(&file, text).expect("write");
    file
}

async fn up(files: Vec<PathBuf>, components: &[&str]) -> (Arc<Local>, SocketAddr, SocketAddr) {
    up_with(files, components, BTreeMap::new()).await
}

async fn up_with(
    files: Vec<PathBuf>,
    components: &[&str],
    mesh_port_map: BTreeMap<u16, u16>,
) -> (Arc<Local>, SocketAddr, SocketAddr) {
    let gateway = sluice_gateway::Options {
        port_map: BTreeMap::from([(80, 0)]),
        admin: Some("127.0.0.1:0".parse().expect("addr")),
        drain: Duration::from_secs(5),
        ..sluice_gateway::Options::default()
    };
    let options = Options {
        files,
        settings: Settings::default(),
        gateway,
        mappings: Mappings::parse(&components.iter().map(|c| c.to_string()).collect::<Vec<_>>())
            .expect("mappings"),
        ready_timeout: Duration::from_secs(10),
        mesh_port_map,
    };
    let (local, _) = Local::start(options).await.expect("sluice up starts");
    let addr = local.gateway().addresses()[&80];
    let admin = local
        .gateway()
        .listen_admin()
        .await
        .expect("admin")
        .expect("admin address");
    (local, addr, admin)
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    path: &str,
    host: Option<&str>,
) -> (u16, String) {
    let mut b = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json");
    if let Some(h) = host {
        b = b.header("host", h);
    }
    let r = client
        .request(
            b.body(Full::new(Bytes::from_static(BODY.as_bytes())))
                .expect("request"),
        )
        .await
        .expect("response");
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn served_by(admin: SocketAddr) -> BTreeMap<String, u64> {
    let r = client()
        .get(format!("http://{admin}/stats/prometheus").parse().expect("uri"))
        .await
        .expect("metrics");
    let text = String::from_utf8_lossy(&r.into_body().collect().await.expect("body").to_bytes()).into_owned();
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("seldon_api_executor_server_requests_seconds_count{"))
    {
        let predictor = line
            .split("predictor_name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string();
        let n: u64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0);
        *out.entry(predictor).or_insert(0) += n;
    }
    out
}

#[tokio::test]
async fn canary_share_lies_within_binomial_bounds() {
    let (local, addr, admin) = up(vec![examples().join("canary.yaml")], &[]).await;
    let c = client();
    let n = 400;
    for _ in 0..n {
        let (status, body) = post(&c, addr, "/seldon/seldon/example/api/v1.0/predictions", None).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("0.43782349911420193"), "{body}");
    }
    let counts = served_by(admin).await;
    let canary = counts.get("canary").copied().unwrap_or(0);
    assert_eq!(counts.get("main").copied().unwrap_or(0) + canary, n);
    // p = 0.25: mean 100, sd ≈ 8.7; ±5 sd. (Seldon's own example asserts 10–50 %.)
    assert!((57..=143).contains(&canary), "canary served {canary} of {n}");
    local.shutdown().await;
}

#[tokio::test]
async fn mesh_bound_canary_is_served_to_in_mesh_clients_only() {
    let (local, addr, admin) = up_with(
        vec![examples().join("mesh.yaml")],
        &[],
        BTreeMap::from([(8000, 0)]),
    )
    .await;
    let mesh = local
        .mesh()
        .expect("--mesh-port-map enables the in-mesh listener")
        .addresses()[&8000];
    let c = client();
    let path = "/seldon/my-ns/canary-example-1/api/v1.0/predictions";
    let n = 200;
    for _ in 0..n {
        let (status, body) = post(&c, mesh, path, Some("canary-example-1.my-ns:8000")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("0.43782349911420193"), "{body}");
    }
    let counts = served_by(admin).await;
    let canary = counts.get("canary").copied().unwrap_or(0);
    assert_eq!(counts.get("main").copied().unwrap_or(0) + canary, n);
    // p = 0.25: mean 50, sd ≈ 6.1; ±5 sd.
    assert!((19..=81).contains(&canary), "canary served {canary} of {n}");
    // The ready-to-paste request goes to the in-mesh listener, by the service's name.
    let summary = local.reload().await.expect("unchanged files re-apply");
    assert_eq!(summary.curls.len(), 1);
    assert!(
        summary.curls[0].contains(&format!("http://{mesh}{path}"))
            && summary.curls[0].contains("-H 'Host: canary-example-1.my-ns'"),
        "{}",
        summary.curls[0]
    );
    // The route is bound to the mesh only: the ingress gateway does not serve it.
    let (status, _) = post(&c, addr, path, Some("canary-example-1.my-ns")).await;
    assert_eq!(status, 404);
    local.shutdown().await;
}

#[tokio::test]
async fn shadow_answers_every_request_but_the_client_sees_the_default() {
    let (local, addr, admin) = up(vec![examples().join("shadow.yaml")], &[]).await;
    let c = client();
    let n = 60;
    for _ in 0..n {
        assert_eq!(
            post(&c, addr, "/seldon/seldon/shadowdep/api/v1.0/predictions", None)
                .await
                .0,
            200
        );
    }
    // Mirrors are fire-and-forget: give the last ones a moment to land.
    let mut counts = served_by(admin).await;
    for _ in 0..50 {
        if counts.get("shadow") == Some(&n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        counts = served_by(admin).await;
    }
    assert_eq!(
        (counts.get("default"), counts.get("shadow")),
        (Some(&n), Some(&n))
    );
    local.shutdown().await;
}

#[tokio::test]
async fn istio_host_restricts_routing() {
    let text = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replace(
            "  namespace: seldon\n",
            "  namespace: seldon\n  annotations:\n    seldon.io/istio-host: seldon.io\n",
        );
    let (local, addr, _) = up(vec![scratch("hosts", &text)], &[]).await;
    let c = client();
    assert_eq!(
        post(
            &c,
            addr,
            "/seldon/seldon/iris/api/v1.0/predictions",
            Some("other.example.com")
        )
        .await
        .0,
        404
    );
    assert_eq!(
        post(
            &c,
            addr,
            "/seldon/seldon/iris/api/v1.0/predictions",
            Some("seldon.io")
        )
        .await
        .0,
        200
    );
    local.shutdown().await;
}

#[tokio::test]
async fn editing_the_file_under_load_fails_no_request() {
    let single = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replace("name: iris", "name: example");
    let canary = std::fs::read_to_string(examples().join("canary.yaml")).expect("example");
    let file = scratch("edit", &single);
    let (local, addr, admin) = up(vec![file.clone()], &[]).await;
    local.watch(Duration::from_millis(50));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = done.clone();
    let load = tokio::spawn(async move {
        let c = client();
        let mut failed = Vec::new();
        // Until the edits are done (bounded: at most 20,000 requests).
        for _ in 0..20_000 {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let (status, body) = post(&c, addr, "/seldon/seldon/example/api/v1.0/predictions", None).await;
            if status != 200 {
                failed.push((status, body));
            }
        }
        failed
    });
    for text in [&canary, &single, &canary] {
        tokio::time::sleep(Duration::from_millis(250)).await;
        std::fs::write(&file, text).expect("write");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = load.await.expect("join");
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(
        served_by(admin).await.get("canary").is_some_and(|n| *n > 0),
        "the canary was added and took traffic"
    );
    local.shutdown().await;
}

#[tokio::test]
async fn components_without_a_mapping_are_named() {
    let text = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replace("seldonio/mock_classifier:1.18.2", "my-registry/my-model:2.0");
    let gateway = sluice_gateway::Options {
        port_map: BTreeMap::from([(80, 0)]),
        admin: None,
        ..sluice_gateway::Options::default()
    };
    let options = Options {
        files: vec![scratch("nomap", &text)],
        settings: Settings::default(),
        gateway,
        mappings: Mappings::default(),
        ready_timeout: Duration::from_secs(1),
        mesh_port_map: BTreeMap::new(),
    };
    let err = Local::start(options).await.expect_err("no mapping").to_string();
    assert!(
        err.contains("container \"classifier\" (image \"my-registry/my-model:2.0\") has no local mapping"),
        "{err}"
    );
    assert!(
        err.contains("--component classifier=http://127.0.0.1:PORT"),
        "{err}"
    );
}

#[test]
fn grpc_transport_is_refused_with_its_field_and_v2_over_rest_loads() {
    let text = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replacen(
            "spec:\n  predictors:",
            "spec:\n  protocol: v2\n  transport: grpc\n  predictors:",
            1,
        );
    let file = scratch("protocol", &text);
    let err = sluice_local::Plan::load(std::slice::from_ref(&file), &Settings::default())
        .expect_err("gRPC is not served locally")
        .to_string();
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{}:10:", file.display()))
                && l.contains("spec.transport \"grpc\": `sluice up` serves REST only")),
        "{err}"
    );
    assert!(!err.contains("spec.protocol"), "v2 is served: {err}");
    // The same deployment over REST runs.
    let file = scratch("protocol-ok", &text.replace("transport: grpc", "transport: rest"));
    let plan = sluice_local::Plan::load(&[file], &Settings::default()).expect("v2 over REST");
    assert_eq!(plan.deployments.len(), 1);
}
