//! The Open Inference Protocol (v2) against a real MLServer: `sluice up
//! examples/v2-mlserver.yaml` starts two MLServer processes (`run:` components) and chains
//! them, the first model's `outputs` becoming the second's `inputs` — over REST, and
//! over gRPC (`inference.GRPCInferenceService`) both to MLServer and from the caller.
//!
//! PyPI `mlserver` is installed by `scripts/test` into `.venv-mlserver`, which runs these
//! with `--ignored`. `SLUICE_MLSERVER` names the `mlserver` program (default
//! `.venv-mlserver/bin/mlserver`).

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{Up, client, example, scrape, send, workspace};

fn mlserver() -> PathBuf {
    let program = std::env::var_os("SLUICE_MLSERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv-mlserver/bin/mlserver"));
    assert!(
        program.is_file(),
        "{} is missing: run scripts/test, which installs MLServer, or set SLUICE_MLSERVER",
        program.display()
    );
    program
}

#[tokio::test]
#[ignore = "needs MLServer (scripts/test installs it)"]
async fn a_v2_graph_of_mlserver_models_answers_through_the_gateway() {
    let run = format!(
        "run:env MLSERVER_PARALLEL_WORKERS=0 MLSERVER_MODEL_IMPLEMENTATION=model.Double {} start examples/mlserver",
        mlserver().display()
    );
    let first = format!("first={run}");
    let second = format!("second={run}");
    let up = Up::start(
        &[&example("v2-mlserver.yaml")],
        &["--component", &first, "--component", &second],
    );
    let c = client();
    let base = "/seldon/seldon/doubler/v2/models";
    let request = r#"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}"#;
    let (status, body) = send(&c, "POST", up.gateway, &format!("{base}/infer"), None, request).await;
    assert_eq!(status, 200, "{body}\n{}", up.stderr());
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(answer["model_name"], "second", "{body}");
    assert_eq!(
        answer["outputs"][0]["data"],
        serde_json::json!([4.0, 8.0]),
        "doubled twice: {body}"
    );

    // Model readiness and metadata are asked of the named model's server.
    let (status, _) = send(&c, "GET", up.gateway, &format!("{base}/first/ready"), None, "").await;
    assert_eq!(status, 200);
    let (status, body) = send(&c, "GET", up.gateway, &format!("{base}/second"), None, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""name":"second""#), "{body}");
    let (status, body) = send(&c, "GET", up.gateway, &format!("{base}/third/ready"), None, "").await;
    assert_eq!(status, 500);
    assert!(body.contains("Failed to find model third"), "{body}");

    // The ready-to-paste curl of the start-up table works as printed.
    let curl = up
        .lines
        .iter()
        .find(|l| l.starts_with("curl "))
        .expect("a curl line");
    let out = Command::new("sh")
        .args(["-c", &format!("{curl} -s --max-time 30")])
        .output()
        .expect("curl runs");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains(r#""data":[4.0,8.0,20.0]"#), "{curl}\n{printed}");

    let metrics = scrape(up.admin).await;
    assert!(
        metrics.contains("service=\"/v2/models/second/infer\",model_name=\"second\""),
        "{metrics}"
    );
    let status = up.stop();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
#[ignore = "needs MLServer (scripts/test installs it)"]
async fn the_v2_graph_over_grpc_both_to_mlserver_and_from_the_caller() {
    // The example with spec.transport: grpc: the orchestrator calls MLServer's
    // inference.GRPCInferenceService on the gRPC port sluice gave it (MLSERVER_GRPC_PORT).
    let text = std::fs::read_to_string(example("v2-mlserver.yaml"))
        .expect("example")
        .replace("  protocol: v2\n", "  protocol: v2\n  transport: grpc\n");
    let file = support::scratch("v2-grpc.yaml", &text);
    let run = format!(
        "run:env MLSERVER_PARALLEL_WORKERS=0 MLSERVER_MODEL_IMPLEMENTATION=model.Double {} start {}",
        mlserver().display(),
        example("mlserver").display()
    );
    let (first, second) = (format!("first={run}"), format!("second={run}"));
    let up = Up::start(&[&file], &["--component", &first, "--component", &second]);

    // REST in, gRPC to both MLServers.
    let c = client();
    let base = "/seldon/seldon/doubler/v2/models";
    let request = r#"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}"#;
    let (status, body) = send(&c, "POST", up.gateway, &format!("{base}/infer"), None, request).await;
    assert_eq!(status, 200, "{body}\n{}", up.stderr());
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        answer["outputs"][0]["data"],
        serde_json::json!([4.0, 8.0]),
        "{body}"
    );
    assert_eq!(answer["outputs"][0]["datatype"], "FP32", "{body}");
    // Readiness and metadata become ModelReady and ModelMetadata.
    let (status, _) = send(&c, "GET", up.gateway, &format!("{base}/first/ready"), None, "").await;
    assert_eq!(status, 200);
    let (status, body) = send(&c, "GET", up.gateway, &format!("{base}/second"), None, "").await;
    assert_eq!(
        (status, body.contains(r#""name":"second""#)),
        (200, true),
        "{body}"
    );

    // gRPC in too: ModelInfer through the gateway's gRPC route, from `sluice predict`.
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["predict", "doubler", "-n", "seldon", "--grpc", "--protocol", "v2"])
        .args(["--gateway", &up.gateway.to_string(), "--data", "[[1.5,2.5]]"])
        .output()
        .expect("sluice predict");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        answer["outputs"][0]["data"],
        serde_json::json!([6.0, 10.0]),
        "{stdout}"
    );
    assert_eq!(answer["model_name"], "second", "{stdout}");

    let metrics = scrape(up.admin).await;
    for (rpc, node, n) in [
        ("ModelInfer", "first", 2),
        ("ModelInfer", "second", 2),
        ("ModelReady", "first", 1),
        ("ModelMetadata", "second", 1),
    ] {
        let series = format!(
            "service=\"/inference.GRPCInferenceService/{rpc}\",model_name=\"{node}\",model_image=\"example/doubler\",model_version=\"1.0\",method=\"unary\",code=\"OK\"}} {n}"
        );
        assert!(
            metrics.lines().any(|l| l.ends_with(&series)),
            "{series} in\n{metrics}"
        );
    }
    assert!(
        metrics
            .contains(r#"service="/inference.GRPCInferenceService/ModelInfer",method="unary",code="OK"} 1"#),
        "the server side measures the gRPC call:\n{metrics}"
    );
    assert!(up.stop().success());
}
