//! `sluice up` end to end: the real binary on the examples, requests through its gateway
//! on loopback, counts from its metrics scrape, edits to its files, SIGTERM to stop it.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{ANSWER, BODY, Up, client, example, exchange, predict, scrape, scratch, served_by};

#[tokio::test]
async fn canary_share_lies_within_binomial_bounds_and_sigterm_stops_cleanly() {
    let up = Up::start(&[&example("canary.yaml")], &[]);
    let table = up.lines.join("\n");
    assert!(
        table.contains("seldon/example  main       75%") && table.contains("canary     25%"),
        "{table}"
    );
    let c = client();
    let n = 400;
    for _ in 0..n {
        let (status, body) = predict(
            &c,
            up.gateway,
            "/seldon/seldon/example/api/v1.0/predictions",
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // Byte for byte what the mock classifier image answers, through gateway and engine.
        assert_eq!(
            body,
            "{\"data\":{\"names\":[\"proba\"],\"ndarray\":[[0.43782349911420193]]},\"meta\":{\"requestPath\":{\"classifier\":\"seldonio/mock_classifier:1.18.2\"}}}\n"
        );
    }
    let counts = served_by(up.admin).await;
    let canary = counts.get("canary").copied().unwrap_or(0);
    assert_eq!(counts.get("main").copied().unwrap_or(0) + canary, n, "{counts:?}");
    // p = 0.25: mean 100, sd ≈ 8.7; ±5 sd. (Seldon's own example asserts 10–50 %.)
    assert!((57..=143).contains(&canary), "canary served {canary} of {n}");
    let status = up.stop();
    assert!(status.success(), "SIGTERM drains and exits 0: {status:?}");
}

#[tokio::test]
async fn shadow_answers_every_request_but_the_client_sees_the_default() {
    let up = Up::start(&[&example("shadow.yaml")], &[]);
    let c = client();
    let n = 60;
    for _ in 0..n {
        let (status, body) = predict(
            &c,
            up.gateway,
            "/seldon/seldon/shadowdep/api/v1.0/predictions",
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(ANSWER), "the default's answer: {body}");
    }
    // Mirrors are fire-and-forget: give the last ones a moment to land.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut counts = served_by(up.admin).await;
    while counts.get("shadow") != Some(&n) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        counts = served_by(up.admin).await;
    }
    assert_eq!(
        (counts.get("default"), counts.get("shadow")),
        (Some(&n), Some(&n))
    );
}

#[tokio::test]
async fn istio_host_restricts_routing_and_engine_annotations_apply() {
    let text = std::fs::read_to_string(example("single-model.yaml"))
        .expect("example")
        .replace(
            "  namespace: seldon\n",
            "  namespace: seldon\n  annotations:\n    seldon.io/istio-host: seldon.io\n",
        )
        .replacen(
            "spec:\n",
            "spec:\n  annotations:\n    seldon.io/engine-cors-allowed-origins: https://app.example\n",
            1,
        );
    let file = scratch("hosts", &text);
    let up = Up::start(&[&file], &["--access-log"]);
    let c = client();
    let path = "/seldon/seldon/iris/api/v1.0/predictions";
    assert_eq!(
        predict(&c, up.gateway, path, Some("other.example.com")).await.0,
        404
    );
    let (status, headers, body) = exchange(&c, "POST", up.gateway, path, Some("seldon.io"), BODY).await;
    assert_eq!((status, body.contains(ANSWER)), (200, true), "{body}");
    // The orchestrator got `seldon.io/engine-cors-allowed-origins` as CORS_ALLOWED_ORIGINS.
    assert_eq!(headers["access-control-allow-origin"], "https://app.example");

    // --access-log: a JSON line per request, with Istio's field names.
    let log: Vec<serde_json::Value> = (0..2)
        .map(|_| up.next_line(Duration::from_secs(5)).expect("an access log line"))
        .map(|l| serde_json::from_str(&l).expect("JSON"))
        .collect();
    assert_eq!(
        (
            log[0]["response_code"].as_u64(),
            log[0]["response_flags"].as_str()
        ),
        (Some(404), Some("NR"))
    );
    assert_eq!(log[0]["authority"], "other.example.com");
    let ok = &log[1];
    assert_eq!(
        (ok["method"].as_str(), ok["path"].as_str()),
        (Some("POST"), Some(path))
    );
    assert_eq!(ok["authority"], "seldon.io");
    assert_eq!(ok["response_code"], 200);
    assert_eq!(ok["upstream_cluster"], "iris-default.seldon.svc.cluster.local");
    assert_eq!(ok["bytes_received"], BODY.len());
    assert_eq!(ok["protocol"], "HTTP/1.1");
    assert!(ok["duration"].is_u64(), "{ok}");
    assert!(
        ok["route_name"].as_str().is_some_and(|r| r.contains("iris")),
        "{ok}"
    );
    assert_eq!(ok["bytes_sent"].as_u64(), Some(body.len() as u64));
}

#[tokio::test]
async fn the_predictors_sidecar_sees_the_clients_host_on_the_in_process_hand_over() {
    // A policy on the predictor's pod (its namespace, no selector) allowing one host: the
    // gateway hands the request over in process with the client's `Host`, as a sidecar
    // behind Istio's gateway sees it, not the orchestrator's address.
    let text = format!(
        "{}---\n{}",
        std::fs::read_to_string(example("single-model.yaml")).expect("example"),
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: one-host\n  namespace: seldon\nspec:\n  action: ALLOW\n  rules:\n  - to:\n    - operation:\n        hosts: [\"models.example\"]\n"
    );
    let file = scratch("sidecar-host", &text);
    let up = Up::start(&[&file], &[]);
    let c = client();
    let path = "/seldon/seldon/iris/api/v1.0/predictions";
    let (status, body) = predict(&c, up.gateway, path, Some("models.example")).await;
    assert_eq!((status, body.contains(ANSWER)), (200, true), "{body}");
    let (status, body) = predict(&c, up.gateway, path, Some("other.example")).await;
    assert_eq!((status, body.as_str()), (403, "RBAC: access denied"));
}

#[tokio::test]
async fn mesh_bound_canary_is_served_to_in_mesh_clients_only() {
    let up = Up::start(&[&example("mesh.yaml")], &["--mesh-port-map", "8000=0"]);
    let mesh = up.mesh[&8000];
    let c = client();
    let path = "/seldon/my-ns/canary-example-1/api/v1.0/predictions";
    let n = 200;
    for _ in 0..n {
        let (status, body) = predict(&c, mesh, path, Some("canary-example-1.my-ns:8000")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(ANSWER), "{body}");
    }
    let counts = served_by(up.admin).await;
    let canary = counts.get("canary").copied().unwrap_or(0);
    assert_eq!(counts.get("main").copied().unwrap_or(0) + canary, n, "{counts:?}");
    // p = 0.25: mean 50, sd ≈ 6.1; ±5 sd.
    assert!((19..=81).contains(&canary), "canary served {canary} of {n}");
    // The ready-to-paste request goes to the in-mesh listener, by the service's name.
    let curl = up
        .lines
        .iter()
        .find(|l| l.starts_with("curl "))
        .expect("a curl line");
    assert!(
        curl.contains(&format!("http://{mesh}{path}")) && curl.contains("-H 'Host: canary-example-1.my-ns'"),
        "{curl}"
    );
    // The route is bound to the mesh only: the ingress gateway does not serve it.
    assert_eq!(
        predict(&c, up.gateway, path, Some("canary-example-1.my-ns"))
            .await
            .0,
        404
    );

    // One scrape sees everything: the in-mesh listener's Istio metrics are there too, and
    // every family is written once (the engines' and the listeners' merged).
    let text = scrape(up.admin).await;
    let in_mesh: u64 = text
        .lines()
        .filter(|l| {
            l.starts_with("istio_requests_total{")
                && l.contains("destination_service=\"canary-example-1")
                && l.contains("response_code=\"200\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(in_mesh, n, "{text}");
    let mut metadata = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("# TYPE ") || l.starts_with("# HELP "))
    {
        let family = line.splitn(4, ' ').take(3).collect::<Vec<_>>().join(" ");
        assert!(
            metadata.insert(family),
            "{line}: a second one for its family:\n{text}"
        );
    }
}

#[tokio::test]
async fn editing_the_file_under_load_fails_no_request() {
    let single = std::fs::read_to_string(example("single-model.yaml"))
        .expect("example")
        .replace("name: iris", "name: example");
    let canary = std::fs::read_to_string(example("canary.yaml")).expect("example");
    let file = scratch("edit", &single);
    let up = Up::start(&[&file], &[]);
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let gateway = up.gateway;
    let load = tokio::spawn(async move {
        let c = client();
        let (mut sent, mut failed) = (0u32, Vec::new());
        // Until the edits are done; bounded in count and time.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::SeqCst) && sent < 200_000 && Instant::now() < deadline {
            let (status, body) =
                predict(&c, gateway, "/seldon/seldon/example/api/v1.0/predictions", None).await;
            sent += 1;
            if status != 200 {
                failed.push((status, body));
            }
        }
        (sent, failed)
    });
    // sluice up polls its files every second: each state stays a little longer than that.
    for text in [&canary, &single, &canary] {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        std::fs::write(&file, text).expect("write");
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    done.store(true, Ordering::SeqCst);
    let (sent, failed) = load.await.expect("join");
    assert!(sent > 100, "the stream ran: {sent} requests");
    assert!(failed.is_empty(), "{} of {sent} failed: {failed:?}", failed.len());
    assert!(
        served_by(up.admin).await.get("canary").is_some_and(|n| *n > 0),
        "the canary was added and took traffic:\n{}",
        up.stderr()
    );
}

#[test]
fn sigterm_while_starting_leaves_no_component_process_behind() {
    // A component that never listens keeps its predictor starting; its command line is
    // unique to this run, so its processes can be found.
    let marker = format!("{}.{}", 600 + std::process::id() % 1000, std::process::id() % 997);
    let file = scratch(
        "starting",
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: slow, namespace: seldon}\nspec:\n  predictors:\n  - name: default\n    graph: {name: model, type: MODEL}\n    componentSpecs:\n    - spec:\n        containers:\n        - {name: model, image: my/model:1}\n",
    );
    let mut sluice = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("up")
        .arg(&file)
        .args([
            "--port-map",
            "80=0",
            "--admin",
            "127.0.0.1:0",
            "--ready-timeout",
            "120",
        ])
        .arg("--component")
        .arg(format!("model=run:sleep {marker}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sluice up starts");
    let running = || {
        std::process::Command::new("pgrep")
            .args(["-f", &format!("^sleep {marker}$")])
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false)
    };
    let started = Instant::now();
    while !running() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the component never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = sluice.id().to_string();
    let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    let exited = Instant::now();
    let status = loop {
        if let Some(status) = sluice.try_wait().expect("wait") {
            break status;
        }
        assert!(
            exited.elapsed() < Duration::from_secs(20),
            "sluice did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "nothing was up: {status}");
    assert!(!running(), "the component process was left behind");
}

/// `sluice predict` (the binary under test) against a gateway: exit success and stdout.
fn sluice_predict(gateway: std::net::SocketAddr, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("predict")
        .args(args)
        .args(["--gateway", &gateway.to_string(), "--timeout", "30"])
        .output()
        .expect("sluice predict runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn over_grpc_the_shadow_gets_every_call_and_the_message_limit_holds() {
    // seldon.io/grpc-max-message-size on the SeldonDeployment bounds what its engines take.
    let text = std::fs::read_to_string(example("shadow.yaml"))
        .expect("example")
        .replacen(
            "spec:\n",
            "spec:\n  annotations:\n    seldon.io/grpc-max-message-size: \"200\"\n",
            1,
        );
    let file = scratch("shadow-grpc", &text);
    let up = Up::start(&[&file], &[]);
    let n = 40;
    let (ok, stdout, stderr) = sluice_predict(
        up.gateway,
        &[
            "shadowdep",
            "-n",
            "seldon",
            "--grpc",
            "--requests",
            &n.to_string(),
            "--concurrency",
            "4",
        ],
    );
    assert!(
        ok && stdout.contains(&format!("succeeded: {n}, failed: 0")),
        "{stdout}{stderr}"
    );
    // The gRPC route mirrors as the REST one does: fire-and-forget copies to the shadow.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut counts = served_by(up.admin).await;
    while counts.get("shadow") != Some(&(n as u64)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        counts = served_by(up.admin).await;
    }
    assert_eq!(
        (counts.get("default"), counts.get("shadow")),
        (Some(&(n as u64)), Some(&(n as u64))),
        "{counts:?}"
    );
    // A message over the annotation's 200 bytes is refused before it is decoded.
    let rows = format!("[[{}]]", vec!["1.0"; 100].join(","));
    let (ok, _, stderr) = sluice_predict(
        up.gateway,
        &["shadowdep", "-n", "seldon", "--grpc", "--data", &rows],
    );
    assert!(!ok, "refused");
    assert!(
        stderr.contains("gRPC status RESOURCE_EXHAUSTED") && stderr.contains("larger than 200 bytes"),
        "{stderr}"
    );
    // REST keeps its own limit.
    let (ok, stdout, stderr) = sluice_predict(up.gateway, &["shadowdep", "-n", "seldon", "--data", &rows]);
    assert!(ok, "{stdout}{stderr}");
}

/// The single-model example with `explainer` (YAML lines under the predictor) added.
fn with_explainer(explainer: &str) -> String {
    std::fs::read_to_string(example("single-model.yaml"))
        .expect("example")
        .replace(
            "  - name: default\n",
            &format!("  - name: default\n    explainer:\n{explainer}"),
        )
}

const EXPLAIN: &str = "/seldon/seldon/iris-explainer/default/api/v1.0/explain";

#[tokio::test]
async fn an_explainer_sluice_cannot_run_is_a_warning_and_its_route_is_absent() {
    // With no alibi (no such interpreter), and with no saved explainer to load: each is named
    // with what to do, and the predictor serves regardless.
    let model = std::env::temp_dir().join(format!("sluice-up-explainer-{}", std::process::id()));
    std::fs::create_dir_all(&model).expect("dir");
    let cases = [
        (
            format!(
                "      type: AnchorTabular\n      modelUri: file://{}\n",
                model.display()
            ),
            "pip install 'alibi==0.9.*'",
        ),
        (
            "      type: AnchorTabular\n".to_string(),
            "this one has no modelUri",
        ),
    ];
    for (explainer, why) in cases {
        let file = scratch("explainer-absent", &with_explainer(&explainer));
        let up = Up::start(&[&file], &["--python", "/nonexistent/python3"]);
        let needles = [
            "/seldon/seldon/iris-explainer/default/ is not served locally",
            why,
            "spec.predictors[0].explainer",
        ];
        let stderr = up.stderr_with(&needles);
        assert!(needles.iter().all(|n| stderr.contains(n)), "{stderr}");
        let c = client();
        let (status, body) = predict(&c, up.gateway, "/seldon/seldon/iris/api/v1.0/predictions", None).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = predict(&c, up.gateway, EXPLAIN, None).await;
        assert_eq!(status, 404, "no route for an explainer not served: {body}");
    }
}

/// An HTTP/1.1 server on loopback answering every request with its method and path as JSON.
async fn echo_path_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then as much of the body as Content-Length says.
                let head_end = loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while seen.len() < head_end + length {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let request_line = String::from_utf8_lossy(&seen[..head_end]);
                let mut parts = request_line.split(' ');
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let body = serde_json::json!({ "method": method, "path": path }).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_explainer_mapped_with_component_gets_seldons_explain_path() {
    let explainer = echo_path_server().await;
    let file = scratch(
        "explainer-mapped",
        &with_explainer("      type: AnchorTabular\n      modelUri: gs://bucket/explainer\n"),
    );
    let mapping = format!("iris-default-explainer=http://{explainer}");
    let up = Up::start(&[&file], &["--component", &mapping]);
    // The start-up summary prints the call to paste.
    let summary = up.lines.join("\n");
    assert!(summary.contains(EXPLAIN), "{summary}");
    let (status, body) = predict(&client(), up.gateway, EXPLAIN, None).await;
    assert_eq!(status, 200, "{body}\n{}", up.stderr());
    let seen: serde_json::Value = serde_json::from_str(&body).expect("json");
    // Istio's rewrite of the explainer's prefix to `/`, as the VirtualService says.
    assert_eq!(seen["path"], "/api/v1.0/explain", "{seen}");
    assert_eq!(seen["method"], "POST", "{seen}");
}
