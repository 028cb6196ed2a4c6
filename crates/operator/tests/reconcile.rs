//! The operator against a real kube-apiserver + etcd (no kubelet: Deployments are marked
//! available by the test): what it creates, when, what it changes and deletes, its status
//! and events, ownership, and leader election. `scripts/test` builds the control plane and
//! runs these with `--ignored`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use kube::{Client, ResourceExt};
use serde_json::json;
use sluice_api::SeldonDeployment;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

fn istio(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("networking.istio.io", "v1", kind))
}

async fn setup(prefix: &str) -> (Client, String) {
    let client = client().await;
    let mut crds = vec![seldon_crd()];
    crds.extend(istio_crds());
    install_crds(&client, &crds).await;
    let ns = unique(prefix);
    namespace(&client, &ns).await;
    (client, ns)
}

const CANARY: &str = "apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: example}
spec:
  predictors:
  - name: main
    traffic: 75
    graph: {name: classifier, type: MODEL}
    componentSpecs:
    - spec:
        containers: [{name: classifier, image: 'seldonio/mock_classifier:1.18.2'}]
  - name: canary
    traffic: 25
    graph: {name: classifier, type: MODEL}
    componentSpecs:
    - spec:
        containers: [{name: classifier, image: 'seldonio/mock_classifier:1.18.2'}]
";

const SINGLE: &str = "apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: single}
spec:
  predictors:
  - name: main
    graph: {name: classifier, type: MODEL}
    componentSpecs:
    - spec:
        containers: [{name: classifier, image: 'seldonio/mock_classifier:1.18.2'}]
";

async fn create(client: &Client, ns: &str, yaml: &str) -> SeldonDeployment {
    let api: Api<SeldonDeployment> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &sdep(yaml, ns))
        .await
        .expect("SeldonDeployment created")
}

async fn names<K>(api: &Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut n: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect();
    n.sort();
    n
}

/// Change a SeldonDeployment as `kubectl edit` does: read, change, replace; read again
/// when the operator's status update got in between (409 Conflict).
async fn edit(api: &Api<SeldonDeployment>, name: &str, change: impl Fn(&mut SeldonDeployment)) {
    for _ in 0..10 {
        let mut s = api.get(name).await.expect("sdep");
        change(&mut s);
        match api.replace(name, &PostParams::default(), &s).await {
            Ok(_) => return,
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(e) => panic!("replace {name}: {e}"),
        }
    }
    panic!("replace {name}: still conflicting after 10 attempts");
}

async fn virtual_service(client: &Client, ns: &str) -> Option<DynamicObject> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &istio("VirtualService"));
    api.list(&ListParams::default())
        .await
        .ok()?
        .items
        .into_iter()
        .next()
}

fn weights(vs: &DynamicObject) -> BTreeMap<String, i64> {
    vs.data["spec"]["http"][0]["route"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["destination"]["subset"].as_str().unwrap_or("").to_string(),
                r["weight"].as_i64().unwrap_or(100),
            )
        })
        .collect()
}

async fn state(client: &Client, ns: &str, name: &str) -> Option<String> {
    let api: Api<SeldonDeployment> = Api::namespaced(client.clone(), ns);
    api.get(name).await.ok()?.status?.state
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn create_gives_renders_objects_istio_only_after_deployments_and_seldons_status() {
    let (client, ns) = setup("create").await;
    let operator = Operator::start(options(&ns)).await;
    let created = create(&client, &ns, CANARY).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    eventually(WAIT, || async {
        (names(&deployments).await.len() == 2).then_some(())
    })
    .await
    .expect("two Deployments");
    // The exact shapes of `sluice render`, with the owner reference.
    let desired = sluice_translate::desired(&created, &sluice_translate::Settings::default()).expect("valid");
    for d in &desired.deployments {
        let live = deployments
            .get(d.metadata.name.as_deref().unwrap_or(""))
            .await
            .expect("Deployment");
        let (live, want) = (
            serde_json::to_value(&live).expect("json"),
            serde_json::to_value(d).expect("json"),
        );
        assert!(
            contains(&live["spec"], &want["spec"]),
            "spec of {}",
            d.metadata.name.as_deref().unwrap_or("")
        );
        assert_eq!(
            live["metadata"]["ownerReferences"][0]["uid"],
            json!(created.uid())
        );
        assert_eq!(live["metadata"]["ownerReferences"][0]["controller"], true);
    }
    eventually(WAIT, || async {
        (names(&services).await.len() == desired.services.len()).then_some(())
    })
    .await
    .expect("the Services");

    // Istio objects only once the predictors are available (B1).
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        virtual_service(&client, &ns).await.is_none(),
        "no VirtualService before the Deployments are available"
    );
    assert_eq!(state(&client, &ns, "example").await.as_deref(), Some("Creating"));

    assert_eq!(mark_available(&client, &ns).await, 2);
    let vs = eventually(WAIT, || virtual_service(&client, &ns))
        .await
        .expect("VirtualService");
    let want = serde_json::to_value(&desired.virtual_services[0]).expect("json");
    assert!(contains(&vs.data["spec"], &want["spec"]), "{:#}", vs.data);
    let rules: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &istio("DestinationRule"));
    assert_eq!(names(&rules).await, ["example-canary", "example-main"]);

    let available = eventually(WAIT, || async {
        let api: Api<SeldonDeployment> = Api::namespaced(client.clone(), &ns);
        let s = api.get("example").await.ok()?.status?;
        (s.state.as_deref() == Some("Available")).then_some(s)
    })
    .await
    .expect("Available");
    assert_eq!(
        available.address.and_then(|a| a.url).as_deref(),
        Some(format!("http://example-main.{ns}.svc.cluster.local:8000/api/v1.0/predictions").as_str())
    );
    assert_eq!(available.deployment_status.len(), 2);
    let ready = available
        .conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .expect("Ready");
    assert_eq!(ready.status, "True");

    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let reasons = eventually(WAIT, || async {
        let r: Vec<String> = events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|e| e.reason)
            .collect();
        r.iter().any(|x| x == "CreateVirtualService").then_some(r)
    })
    .await
    .expect("events");
    assert!(reasons.iter().any(|r| r == "CreateDeployment"), "{reasons:?}");
    operator.stop().await;
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn a_traffic_change_updates_only_the_virtual_service() {
    let (client, ns) = setup("traffic").await;
    let operator = Operator::start(options(&ns)).await;
    create(&client, &ns, CANARY).await;
    eventually(WAIT, || async {
        (mark_available(&client, &ns).await == 2).then_some(())
    })
    .await
    .expect("Deployments");
    let vs = eventually(WAIT, || virtual_service(&client, &ns))
        .await
        .expect("VirtualService");
    assert_eq!(
        weights(&vs),
        BTreeMap::from([("canary".into(), 25), ("main".into(), 75)])
    );
    let versions = |client: Client, ns: String| async move {
        let mut out = BTreeMap::new();
        let d: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        for o in d.list(&ListParams::default()).await.expect("list").items {
            out.insert(format!("Deployment/{}", o.name_any()), o.resource_version());
        }
        let s: Api<Service> = Api::namespaced(client.clone(), &ns);
        for o in s.list(&ListParams::default()).await.expect("list").items {
            out.insert(format!("Service/{}", o.name_any()), o.resource_version());
        }
        let r: Api<DynamicObject> = Api::namespaced_with(client, &ns, &istio("DestinationRule"));
        for o in r.list(&ListParams::default()).await.expect("list").items {
            out.insert(format!("DestinationRule/{}", o.name_any()), o.resource_version());
        }
        out
    };
    let before = versions(client.clone(), ns.clone()).await;
    let api: Api<SeldonDeployment> = Api::namespaced(client.clone(), &ns);
    edit(&api, "example", |s| {
        s.spec.predictors[0].traffic = Some(50);
        s.spec.predictors[1].traffic = Some(50);
    })
    .await;
    let vs = eventually(WAIT, || async {
        let vs = virtual_service(&client, &ns).await?;
        (weights(&vs) == BTreeMap::from([("canary".into(), 50), ("main".into(), 50)])).then_some(vs)
    })
    .await
    .expect("the VirtualService takes the new weights");
    assert!(!vs.resource_version().unwrap_or_default().is_empty());
    // Give the operator time to do anything else it would do, then compare.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        versions(client.clone(), ns.clone()).await,
        before,
        "nothing but the VirtualService changed"
    );
    operator.stop().await;
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn a_canary_takes_traffic_only_once_ready_and_a_removed_predictor_leaves_nothing() {
    let (client, ns) = setup("canary").await;
    let operator = Operator::start(options(&ns)).await;
    create(
        &client,
        &ns,
        &CANARY
            .replace("traffic: 75", "traffic: 100")
            .replace("name: example", "name: grow"),
    )
    .await;
    // Start with the main predictor only.
    let api: Api<SeldonDeployment> = Api::namespaced(client.clone(), &ns);
    let canary = api.get("grow").await.expect("sdep").spec.predictors[1].clone();
    edit(&api, "grow", |s| {
        s.spec.predictors.truncate(1);
    })
    .await;
    eventually(WAIT, || async {
        (mark_available(&client, &ns).await >= 1).then_some(())
    })
    .await
    .expect("Deployment");
    eventually(WAIT, || async {
        let vs = virtual_service(&client, &ns).await?;
        (weights(&vs).len() == 1).then_some(())
    })
    .await
    .expect("routes to main");

    // Add the canary: its Deployment appears, but the route waits for it.
    let mut canary = canary;
    canary.traffic = Some(25);
    edit(&api, "grow", |s| {
        s.spec.predictors[0].traffic = Some(75);
        s.spec.predictors.push(canary.clone());
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually(WAIT, || async {
        (names(&deployments).await.len() == 2).then_some(())
    })
    .await
    .expect("canary Deployment");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let vs = virtual_service(&client, &ns).await.expect("VirtualService");
    assert_eq!(
        weights(&vs).len(),
        1,
        "no traffic to a canary that is not ready: {:?}",
        weights(&vs)
    );
    mark_available(&client, &ns).await;
    eventually(WAIT, || async {
        let vs = virtual_service(&client, &ns).await?;
        (weights(&vs) == BTreeMap::from([("canary".into(), 25), ("main".into(), 75)])).then_some(())
    })
    .await
    .expect("the canary takes its share once ready");

    // Remove it again: its Deployment, Services and DestinationRule go (B8, B9).
    edit(&api, "grow", |s| {
        s.spec.predictors.pop();
        s.spec.predictors[0].traffic = None;
    })
    .await;
    let rules: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &istio("DestinationRule"));
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    eventually(WAIT, || async {
        let gone = names(&deployments).await.len() == 1
            && names(&rules).await == ["grow-main"]
            && names(&services).await.iter().all(|n| !n.contains("canary"));
        gone.then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the canary's objects remain"));
    operator.stop().await;
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn istio_switched_off_deletes_the_istio_objects() {
    let (client, ns) = setup("istio-off").await;
    let operator = Operator::start(options(&ns)).await;
    create(&client, &ns, SINGLE).await;
    eventually(WAIT, || async {
        (mark_available(&client, &ns).await == 1).then_some(())
    })
    .await
    .expect("Deployment");
    eventually(WAIT, || virtual_service(&client, &ns))
        .await
        .expect("VirtualService");
    operator.stop().await;
    let mut off = options(&ns);
    off.config.settings.istio_enabled = false;
    let operator = Operator::start(off).await;
    // A change triggers a reconcile (the operator also requeues, but later).
    let api: Api<SeldonDeployment> = Api::namespaced(client.clone(), &ns);
    api.patch(
        "single",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"touch": "1"}}})),
    )
    .await
    .expect("touched");
    let rules: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &istio("DestinationRule"));
    eventually(WAIT, || async {
        (virtual_service(&client, &ns).await.is_none() && names(&rules).await.is_empty()).then_some(())
    })
    .await
    .expect("the VirtualService and DestinationRule are deleted");
    operator.stop().await;
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn a_foreign_object_is_not_taken_over_and_another_controllers_sdep_is_ignored() {
    let (client, ns) = setup("foreign").await;
    // A VirtualService of the name the SDep would use, owned by nobody.
    let vs = json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "single", "namespace": ns},
        "spec": {"hosts": ["x"], "http": [{"route": [{"destination": {"host": "x"}}]}]}});
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &istio("VirtualService"));
    api.create(
        &PostParams::default(),
        &serde_json::from_value(vs).expect("object"),
    )
    .await
    .expect("foreign VS");
    let operator = Operator::start(options(&ns)).await;
    create(&client, &ns, SINGLE).await;
    eventually(WAIT, || async {
        (mark_available(&client, &ns).await == 1).then_some(())
    })
    .await
    .expect("Deployment");
    let failed = eventually(WAIT, || async {
        let sdeps: Api<SeldonDeployment> = Api::namespaced(client.clone(), &ns);
        let s = sdeps.get("single").await.ok()?.status?;
        (s.state.as_deref() == Some("Failed")).then_some(s)
    })
    .await
    .expect("Failed");
    assert!(
        failed
            .description
            .as_deref()
            .is_some_and(|d| d.contains("VirtualService \"single\" exists and is not owned")),
        "{failed:?}"
    );
    let untouched = api.get("single").await.expect("VS");
    assert_eq!(untouched.data["spec"]["hosts"], json!(["x"]), "not taken over");

    // A SeldonDeployment labelled for another controller is left alone.
    create(
        &client,
        &ns,
        &SINGLE.replace(
            "metadata: {name: single}",
            "metadata: {name: other, labels: {seldon.io/controller-id: elsewhere}}",
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    assert!(names(&deployments).await.iter().all(|n| !n.starts_with("other")));
    assert_eq!(state(&client, &ns, "other").await, None, "no status written");
    operator.stop().await;
}

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn one_replica_leads_and_another_takes_over_when_it_stops() {
    let (client, ns) = setup("leader").await;
    let leased = |pod: &str| {
        let mut o = options(&ns);
        o.lease = Some("sluice-operator".into());
        o.config.pod_name = pod.into();
        o
    };
    let first = Operator::start(leased("first")).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = || async { leases.get("sluice-operator").await.ok()?.spec?.holder_identity };
    eventually(WAIT, || async {
        (holder().await.as_deref() == Some("first")).then_some(())
    })
    .await
    .expect("the first replica leads");
    let second = Operator::start(leased("second")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(holder().await.as_deref(), Some("first"), "one leader at a time");
    first.stop().await;
    eventually(WAIT, || async {
        (holder().await.as_deref() == Some("second")).then_some(())
    })
    .await
    .expect("the second replica takes over");
    // And it reconciles.
    create(&client, &ns, SINGLE).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually(WAIT, || async {
        (names(&deployments).await.len() == 1).then_some(())
    })
    .await
    .expect("the new leader reconciles");
    second.stop().await;
    let _ = leases.delete("sluice-operator", &DeleteParams::default()).await;
}
