//! A real kube-apiserver + etcd for one test binary (`scripts/kube-test-env start`, which
//! `scripts/test` has built and cached), clients for it, the operator run in process, and
//! what tests need to stand in for the controllers a test cluster lacks (a Deployment is
//! marked available by patching its status, as envtest users do).
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use sluice_operator::run::Options;

/// The control plane of this test binary: it stops with the binary (the script watches
/// our pid).
pub struct ControlPlane {
    _child: Child,
    pub kubeconfig: PathBuf,
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// This binary's control plane, started on first use.
pub fn control_plane() -> &'static ControlPlane {
    static PLANE: OnceLock<ControlPlane> = OnceLock::new();
    PLANE.get_or_init(|| {
        let mut child = Command::new(workspace().join("scripts/kube-test-env"))
            .arg("start")
            .env("SLUICE_TEST_PARENT", std::process::id().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("scripts/kube-test-env starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let kubeconfig = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(path) = line.strip_prefix("KUBECONFIG=") {
                        break PathBuf::from(path);
                    }
                }
                _ => panic!(
                    "scripts/kube-test-env did not start a control plane (run scripts/test, which builds it)"
                ),
            }
        };
        ControlPlane {
            _child: child,
            kubeconfig,
        }
    })
}

/// A client of this binary's control plane (one per test: clients belong to a runtime).
pub async fn client() -> Client {
    let plane = control_plane();
    let kubeconfig = Kubeconfig::read_from(&plane.kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("client config");
    Client::try_from(config).expect("client")
}

/// Create namespace `name`.
pub async fn namespace(client: &Client, name: &str) {
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
}

/// Apply CRDs (server-side) and wait until they are established.
pub async fn install_crds(client: &Client, crds: &[serde_json::Value]) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        let name = crd["metadata"]["name"].as_str().expect("name");
        api.patch(
            name,
            &PatchParams::apply("sluice-tests").force(),
            &Patch::Apply(crd),
        )
        .await
        .expect("CRD applied");
    }
    for crd in crds {
        let name = crd["metadata"]["name"].as_str().expect("name");
        eventually(Duration::from_secs(30), || async {
            let c = api.get(name).await.ok()?;
            c.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("CRD {name} not established"));
    }
}

/// The SeldonDeployment CRD.
pub fn seldon_crd() -> serde_json::Value {
    serde_json::to_value(sluice_api::seldon::crd()).expect("crd")
}

/// Istio's VirtualService and DestinationRule CRDs, from the schemas the translation is
/// validated against.
pub fn istio_crds() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(
        workspace().join("crates/translate/tests/fixtures/istio-crds/crd-all.gen.yaml"),
    )
    .expect("Istio CRDs");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    docs.into_iter()
        .filter(|d| {
            matches!(
                d["metadata"]["name"].as_str(),
                Some("virtualservices.networking.istio.io" | "destinationrules.networking.istio.io")
            )
        })
        .collect()
}

/// Retry `check` until it gives a value or `limit` passes.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The operator's options for a test: watching `namespace` only.
pub fn options(namespace: &str) -> Options {
    let (mut config, _) = sluice_operator::config::from_env(|_| None).expect("defaults");
    config.namespace = Some(namespace.to_string());
    config.operator_namespace = namespace.to_string();
    config.istio_retry = Duration::from_millis(500);
    Options {
        config,
        metrics_addr: "127.0.0.1:0".parse().expect("addr"),
        webhook: None,
        lease: None,
        lease_timing: (Duration::from_secs(3), Duration::from_millis(500)),
    }
}

/// A running operator; stopped (and awaited) by `stop`, or on drop.
pub struct Operator {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub metrics: std::net::SocketAddr,
}

impl Operator {
    /// Run the operator in this process with `options`.
    pub async fn start(options: Options) -> Operator {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "sluice_operator=info".into()),
            ))
            .with_test_writer()
            .try_init();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tell, told) = tokio::sync::oneshot::channel();
        let client = client().await;
        let task = tokio::spawn(async move {
            let result = sluice_operator::run(
                options,
                Some(client),
                async move {
                    let _ = stopped.await;
                },
                move |running| {
                    let _ = tell.send(running.metrics);
                },
            )
            .await;
            result.expect("the operator ran");
        });
        let metrics = told.await.expect("the operator started");
        Operator {
            stop: Some(stop),
            task: Some(task),
            metrics,
        }
    }

    /// Stop it and wait until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Mark every Deployment of `namespace` available, as a kubelet and the Deployment
/// controller would (the test cluster has neither).
pub async fn mark_available(client: &Client, namespace: &str) -> usize {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let list = api.list(&ListParams::default()).await.expect("list");
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let mut n = 0;
    for d in list.items {
        let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let generation = d.metadata.generation.unwrap_or(1);
        let status = serde_json::json!({"status": {
            "observedGeneration": generation,
            "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "marked by the test", "lastUpdateTime": now, "lastTransitionTime": now}
            ]
        }});
        let name = d.metadata.name.clone().unwrap_or_default();
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("status patched");
        n += 1;
    }
    n
}

/// Is `want` contained in `have` (every field of `want` present with the same value;
/// the API server adds defaults)?
pub fn contains(have: &serde_json::Value, want: &serde_json::Value) -> bool {
    match (have, want) {
        (serde_json::Value::Object(h), serde_json::Value::Object(w)) => {
            w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| contains(hv, v)))
        }
        (serde_json::Value::Array(h), serde_json::Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        (h, w) => h == w,
    }
}

/// A unique namespace name for a test.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::SeqCst))
}

/// A SeldonDeployment from YAML text, in `namespace`.
pub fn sdep(yaml: &str, namespace: &str) -> sluice_api::SeldonDeployment {
    let mut s: sluice_api::SeldonDeployment = serde_saphyr::from_str(yaml).expect("SeldonDeployment YAML");
    s.metadata.namespace = Some(namespace.to_string());
    s
}

pub fn example(path: &Path) -> String {
    std::fs::read_to_string(workspace().join(path)).expect("example")
}
