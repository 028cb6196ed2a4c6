//! The Helm chart and `sluice install`: Helm (built from the Go module proxy by
//! `scripts/kube-test-env`) lints and renders the chart; for the same values it must give
//! exactly the objects `sluice install` prints; the chart's values are the install's keys;
//! the chart's CRD is the committed one; and the manifests pass a server-side dry run on a
//! real kube-apiserver.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;
use sluice_operator::install::{self, KEYS, Values};
use support::*;

fn helm() -> PathBuf {
    std::env::var_os("SLUICE_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("SLUICE_TEST_ENV")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/sluice-test-env")
                });
            cache.join("bin/helm")
        })
}

fn chart() -> PathBuf {
    workspace().join("charts/sluice-operator")
}

fn documents(text: &str) -> BTreeMap<String, Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("YAML");
    docs.into_iter()
        .filter(|d| !d.is_null())
        .map(|d| {
            let key = format!(
                "{}/{}/{}",
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["namespace"].as_str().unwrap_or(""),
                d["metadata"]["name"].as_str().unwrap_or("")
            );
            (key, d)
        })
        .collect()
}

#[test]
#[ignore = "needs Helm: scripts/test builds it and runs this"]
fn helm_lints_the_chart() {
    let out = Command::new(helm())
        .arg("lint")
        .arg(chart())
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs Helm: scripts/test builds it and runs this"]
fn helm_template_and_sluice_install_give_the_same_objects() {
    for sets in [
        vec![],
        vec![
            "istio.gateway=istio-system/mygateway",
            "istio.tlsMode=STRICT",
            "controllerId=a",
        ],
        vec![
            "singleNamespace=true",
            "crd.create=false",
            "replicaCount=2",
            "leaderElection.enabled=false",
        ],
        vec![
            "webhook.enabled=false",
            "istio.enabled=false",
            "executor.image=example/engine:1",
            "executor.port=8080",
        ],
        vec![
            "webhook.certSecret=sluice-webhook-tls",
            "usageMetrics.enabled=true",
        ],
    ] {
        let mut helm = Command::new(helm());
        helm.args(["template", "sluice"])
            .arg(chart())
            .args(["--namespace", "models"]);
        for s in &sets {
            helm.args(["--set", s]);
        }
        let out = helm.output().expect("helm runs");
        assert!(
            out.status.success(),
            "{sets:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let from_helm = documents(&String::from_utf8_lossy(&out.stdout));
        let values = Values::new(&sets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("values");
        let from_sluice = documents(&install::yaml(&values, "models").expect("yaml"));
        assert_eq!(
            from_helm.keys().collect::<Vec<_>>(),
            from_sluice.keys().collect::<Vec<_>>(),
            "{sets:?}: the same objects"
        );
        for (key, object) in &from_sluice {
            assert_eq!(&from_helm[key], object, "{sets:?}: {key} differs");
        }
    }
}

/// `a.b: x` for every leaf of a values.yaml.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[test]
fn the_chart_values_are_the_install_keys_and_its_crd_the_committed_one() {
    let text = std::fs::read_to_string(chart().join("values.yaml")).expect("values.yaml");
    let values: Value = serde_saphyr::from_str(&text).expect("YAML");
    let mut flat = BTreeMap::new();
    flatten("", &values, &mut flat);
    let keys: BTreeMap<String, String> = KEYS
        .iter()
        .map(|(k, v, _)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(flat, keys, "charts/sluice-operator/values.yaml and install::KEYS");
    let committed = std::fs::read_to_string(
        workspace().join("deploy/crds/seldondeployments.machinelearning.seldon.io.yaml"),
    )
    .expect("committed CRD");
    let copy =
        std::fs::read_to_string(chart().join("files/seldondeployments.machinelearning.seldon.io.yaml"))
            .expect("chart's CRD");
    assert_eq!(
        copy, committed,
        "the chart's CRD copy drifted from deploy/crds (copy it over)"
    );
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn the_manifests_pass_a_server_side_dry_run() {
    let client = client().await;
    namespace(&client, "seldon-system").await;
    // The CRD for real (a dry run of objects of a kind not yet served would fail).
    install_crds(&client, &[seldon_crd()]).await;
    for sets in [
        vec![],
        vec![
            "singleNamespace=true".to_string(),
            "webhook.certSecret=tls".to_string(),
        ],
    ] {
        let yaml = install::yaml(&Values::new(&sets).expect("values"), "seldon-system").expect("yaml");
        let mut kubectl = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&control_plane().kubeconfig)
            .args(["apply", "--server-side", "--dry-run=server", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        use std::io::Write;
        kubectl
            .stdin
            .take()
            .expect("stdin")
            .write_all(yaml.as_bytes())
            .expect("write");
        let out = kubectl.wait_with_output().expect("kubectl ends");
        assert!(
            out.status.success(),
            "{sets:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
