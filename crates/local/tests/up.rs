//! `sluice up` as a library: what it refuses to start, and why. The scenarios through the
//! real binary are in `crates/cli/tests/up.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sluice_local::{Local, Mappings, Options, Progress};
use sluice_translate::Settings;

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
        ..Options::default()
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
fn kafka_is_refused_with_its_field_and_v2_over_grpc_loads() {
    let text = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replacen(
            "spec:\n  predictors:\n  - name: default\n",
            "spec:\n  serverType: kafka\n  predictors:\n  - name: default\n    svcOrchSpec:\n      env:\n      - {name: KAFKA_BROKER, value: b:9092}\n      - {name: KAFKA_INPUT_TOPIC, value: in}\n      - {name: KAFKA_OUTPUT_TOPIC, value: out}\n",
            1,
        );
    let file = scratch("kafka", &text);
    let err = sluice_local::Plan::load(std::slice::from_ref(&file), &Settings::default())
        .expect_err("Kafka is not served locally")
        .to_string();
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{}:9:", file.display()))
                && l.contains("serverType kafka: `sluice up` serves REST and gRPC only")),
        "{err}"
    );
    // gRPC, in Seldon's protocol or v2, is served.
    let text = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replacen(
            "spec:\n  predictors:",
            "spec:\n  protocol: v2\n  transport: grpc\n  predictors:",
            1,
        );
    let file = scratch("v2-grpc", &text);
    let plan = sluice_local::Plan::load(&[file], &Settings::default()).expect("v2 over gRPC");
    assert_eq!(plan.deployments.len(), 1);
}

#[test]
fn orchestrator_env_is_applied_checked_or_reported() {
    let text = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replacen(
            "spec:\n  predictors:\n  - name: default\n",
            "spec:\n  annotations:\n    seldon.io/engine-cors-allowed-origins: https://app.example\n    seldon.io/engine-separate-pod: \"false\"\n  predictors:\n  - name: default\n    svcOrchSpec:\n      env:\n      - {name: SELDON_ENABLE_ROUTING_INJECTION, value: \"true\"}\n      - {name: CORS_ALLOWED_HEADERS, valueFrom: {configMapKeyRef: {name: cors, key: headers}}}\n",
            1,
        );
    let file = scratch("engine-env", &text);
    let plan = sluice_local::Plan::load(std::slice::from_ref(&file), &Settings::default()).expect("loads");
    let at = |line: u32| format!("{}:{line}:", file.display());
    assert!(
        plan.warnings
            .iter()
            .map(ToString::to_string)
            .any(|w| w.starts_with(&at(16))
                && w.contains("does not read SELDON_ENABLE_ROUTING_INJECTION; it has no effect here")),
        "{:?}",
        plan.warnings
    );
    assert!(
        plan.warnings
            .iter()
            .map(ToString::to_string)
            .any(|w| w.starts_with(&at(17))
                && w.contains("CORS_ALLOWED_HEADERS takes its value from a Secret or ConfigMap (valueFrom)")),
        "{:?}",
        plan.warnings
    );
    assert_eq!(
        plan.warnings.len(),
        2,
        "the CORS annotation is read, separate-pod is placement: {:?}",
        plan.warnings
    );

    let bad = text.replace("https://app.example", "\"a\\nb\"");
    let file = scratch("engine-env-bad", &bad);
    let err = sluice_local::Plan::load(std::slice::from_ref(&file), &Settings::default())
        .expect_err("not a header value")
        .to_string();
    assert!(
        err.contains(&format!("{}:10:", file.display()))
            && err.contains("CORS_ALLOWED_ORIGINS \"a\\nb\" cannot be an HTTP header value"),
        "{err}"
    );
}

/// Engines served in process by the gateway: exactly the live ones, across a reload that
/// retires a predictor and one whose launch fails half way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_exactly_the_live_engines_in_process() {
    let canary = std::fs::read_to_string(examples().join("canary.yaml")).expect("example");
    let single = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replace("name: iris", "name: example");
    let file = scratch("in-process", &canary);
    let options = Options {
        files: vec![file.clone()],
        gateway: sluice_gateway::Options {
            port_map: BTreeMap::from([(80, 0)]),
            admin: None,
            ..sluice_gateway::Options::default()
        },
        ready_timeout: Duration::from_secs(5),
        retire_after: Duration::from_millis(50),
        ..Options::default()
    };
    let (local, _) = Local::start(options).await.expect("starts");
    let services = local.gateway().in_process_services();
    let live = services.addresses();
    assert_eq!(live.len(), 2, "main and canary: {live:?}");

    // A launch that fails on its second predictor (no mapping) leaves nothing behind.
    // The whole deployment relaunches: main's new engine starts, then the canary fails.
    let at = canary
        .rfind("seldonio/mock_classifier:1.18.2")
        .expect("canary image");
    let broken = format!(
        "{}my/unmapped:1{}",
        &canary[..at],
        &canary[at + "seldonio/mock_classifier:1.18.2".len()..]
    );
    std::fs::write(&file, &broken).expect("write");
    let err = local.reload().await.expect_err("the canary has no mapping");
    assert!(err.to_string().contains("has no local mapping"), "{err}");
    assert_eq!(
        services.addresses(),
        live,
        "the old engines still serve, and only they"
    );

    // Removing the canary retires its engine after the grace period.
    std::fs::write(&file, &single).expect("write");
    local.reload().await.expect("reloads");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = services.addresses();
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(!live.contains(&now[0]), "a new engine for the changed deployment");
    local.shutdown().await;
    assert!(services.addresses().is_empty(), "{:?}", services.addresses());
}

/// Start-up reports each deployment starting, waiting for a slow component, then ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reports_starting_waiting_and_ready() {
    // A component that starts listening only after 2.5 s.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        loop {
            let _ = listener.accept().await;
        }
    });
    let text = std::fs::read_to_string(examples().join("single-model.yaml"))
        .expect("example")
        .replace("seldonio/mock_classifier:1.18.2", "my/model:1");
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let options = Options {
        files: vec![scratch("progress", &text)],
        gateway: sluice_gateway::Options {
            port_map: BTreeMap::from([(80, 0)]),
            admin: None,
            ..sluice_gateway::Options::default()
        },
        mappings: Mappings::parse(&[format!("classifier=http://127.0.0.1:{port}")]).expect("mapping"),
        ready_timeout: Duration::from_secs(20),
        progress: sluice_local::Reporter::new(move |p| sink.lock().expect("lock").push(p.clone())),
        ..Options::default()
    };
    let (local, _) = Local::start(options)
        .await
        .expect("starts once the component listens");
    let events = events.lock().expect("lock").clone();
    assert!(
        matches!(events.first(), Some(Progress::Starting { deployment, predictors: 1 }) if deployment == "seldon/iris"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Progress::Waiting { predictor, .. } if predictor == "default")),
        "{events:?}"
    );
    match events.last() {
        Some(Progress::Ready {
            deployment,
            took,
            engines: 1,
            processes: 0,
        }) => {
            assert_eq!(deployment, "seldon/iris");
            // The component listens 2.5 s after the test began; the deployment's clock starts
            // a little later (loading the files), more so on a loaded machine.
            assert!(*took >= Duration::from_millis(1000), "{took:?}");
        }
        other => panic!("last event {other:?} of {events:?}"),
    }
    assert!(
        events
            .last()
            .is_some_and(|e| e.to_string().starts_with("seldon/iris: engines ready in "))
    );
    local.shutdown().await;
    late.abort();
}
