//! End to end on a real Kubernetes cluster with Istio, for users who have one: install the
//! operator with `sluice install`, apply the canary example, call it through the Istio
//! ingress gateway and check the 75/25 split. Not run by `scripts/test` (no kubelet or
//! Istio here).
//!
//! ```sh
//! # a cluster with Istio and a Gateway istio-system/seldon-gateway (README, "On Kubernetes"),
//! # the sluice image pushed where the cluster pulls it from:
//! SLUICE_E2E_GATEWAY=http://$INGRESS_HOST:$INGRESS_PORT \
//! SLUICE_E2E_IMAGE=registry.example.com/sluice:dev \
//!   cargo test -p sluice-operator --test cluster_e2e -- --ignored
//! ```

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kubectl(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("kubectl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kubectl runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("kubectl ends");
    assert!(out.status.success(), "kubectl {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs a Kubernetes cluster with Istio (see the file's doc)"]
fn canary_through_a_real_istio_gateway() {
    let gateway = std::env::var("SLUICE_E2E_GATEWAY")
        .expect("SLUICE_E2E_GATEWAY=http://host:port of the ingress gateway");
    let image =
        std::env::var("SLUICE_E2E_IMAGE").expect("SLUICE_E2E_IMAGE=the sluice image the cluster pulls");
    let (registry, rest) = image.split_once('/').expect("registry/repository:tag");
    let (repository, tag) = rest.rsplit_once(':').expect("repository:tag");
    let sets = vec![
        format!("image.registry={registry}"),
        format!("image.repository={repository}"),
        format!("image.tag={tag}"),
    ];
    let values = sluice_operator::install::Values::new(&sets).expect("values");
    let manifests = sluice_operator::install::yaml(&values, "seldon-system").expect("manifests");
    let _ = Command::new("kubectl")
        .args(["create", "namespace", "seldon-system"])
        .status();
    kubectl(&["apply", "--server-side", "-f", "-"], Some(&manifests));
    kubectl(
        &[
            "-n",
            "seldon-system",
            "rollout",
            "status",
            "deployment/sluice-operator",
            "--timeout=180s",
        ],
        None,
    );
    let _ = Command::new("kubectl")
        .args(["create", "namespace", "seldon"])
        .status();
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/canary.yaml"))
        .expect("example");
    kubectl(&["apply", "-f", "-"], Some(&example));
    kubectl(
        &[
            "-n",
            "seldon",
            "wait",
            "sdep/example",
            "--for=jsonpath={.status.state}=Available",
            "--timeout=300s",
        ],
        None,
    );
    let url = format!("{gateway}/seldon/seldon/example/api/v1.0/predictions");
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        let out = Command::new("curl")
            .args([
                "-sf",
                "-X",
                "POST",
                &url,
                "-H",
                "Content-Type: application/json",
                "-d",
                r#"{"data":{"ndarray":[[1.0,2.0,5.0]]}}"#,
            ])
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("0.43782349911420193"),
            "{text}"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "too slow");
    }
    // Where they went: each orchestrator's own count of predictions, read through the API server.
    let mut served = std::collections::BTreeMap::new();
    let pods = kubectl(
        &[
            "-n",
            "seldon",
            "get",
            "pods",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        ],
        None,
    );
    for pod in pods.lines().filter(|p| p.starts_with("example-")) {
        let text = kubectl(
            &[
                "get",
                "--raw",
                &format!("/api/v1/namespaces/seldon/pods/{pod}:8000/proxy/prometheus"),
            ],
            None,
        );
        let count: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with("seldon_api_executor_server_requests_seconds_count{")
                    && l.contains("service=\"predictions\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        let predictor = if pod.contains("canary") { "canary" } else { "main" };
        *served.entry(predictor).or_insert(0.0) += count;
    }
    let canary = served.get("canary").copied().unwrap_or(0.0);
    let main = served.get("main").copied().unwrap_or(0.0);
    assert_eq!((main + canary) as usize, n, "{served:?}");
    // 25 % within five standard deviations (n = 200: sd ≈ 6.1).
    assert!((canary - 50.0).abs() < 31.0, "{served:?}");
}
