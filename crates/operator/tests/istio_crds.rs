//! Istio enabled but its CRDs absent: the operator says so (status, events, logs), keeps
//! reconciling Deployments and Services, and applies the Istio objects once the CRDs
//! appear — no crash loop. A control plane of its own, where Istio starts uninstalled.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use sluice_api::SeldonDeployment;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn istio_crds_absent_then_installed() {
    let client = client().await;
    install_crds(&client, &[seldon_crd()]).await;
    let ns = unique("no-istio");
    namespace(&client, &ns).await;
    let operator = Operator::start(options(&ns)).await;
    let sdeps: Api<SeldonDeployment> = Api::namespaced(client.clone(), &ns);
    let text = example(std::path::Path::new("examples/single-model.yaml"));
    sdeps
        .create(&PostParams::default(), &sdep(&text, &ns))
        .await
        .expect("created");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually(WAIT, || async {
        (!deployments
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty())
        .then_some(())
    })
    .await
    .expect("Deployments are reconciled without Istio");
    mark_available(&client, &ns).await;
    let name = sdep(&text, &ns).metadata.name.clone().unwrap_or_default();
    let condition = eventually(WAIT, || async {
        let s = sdeps.get(&name).await.ok()?.status?;
        s.conditions
            .into_iter()
            .find(|c| c.kind == "istioVirtualServicesReady" && c.status == "False")
    })
    .await
    .expect("the status says why there is no VirtualService");
    assert!(
        condition
            .message
            .as_deref()
            .is_some_and(|m| m.contains("not installed")),
        "{condition:?}"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    eventually(WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("IstioNotInstalled"))
            .then_some(())
    })
    .await
    .expect("an IstioNotInstalled event");

    install_crds(&client, &istio_crds()).await;
    let vs = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "networking.istio.io",
        "v1",
        "VirtualService",
    ));
    let virtual_services: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &vs);
    eventually(WAIT, || async {
        (!virtual_services
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty())
        .then_some(())
    })
    .await
    .expect("the VirtualService once Istio's CRDs are there");
    eventually(WAIT, || async {
        (sdeps.get(&name).await.ok()?.status?.state.as_deref() == Some("Available")).then_some(())
    })
    .await
    .expect("Available");
    operator.stop().await;
}
