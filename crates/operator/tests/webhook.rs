//! The admission webhook called by a real kube-apiserver: a ValidatingWebhookConfiguration
//! points at it (HTTPS, a certificate made at start-up, its CA in `caBundle`); a bad
//! SeldonDeployment is refused at create with every problem listed, a good one admitted.

mod support;

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, PostParams};
use sluice_api::SeldonDeployment;
use sluice_operator::run::{Certificates, Webhook};
use support::*;

#[tokio::test]
#[ignore = "needs a kube-apiserver: scripts/test builds one and runs this"]
async fn the_api_server_refuses_a_bad_seldon_deployment_with_every_problem() {
    let client = client().await;
    install_crds(&client, &[seldon_crd()]).await;
    let ns = unique("webhook");
    namespace(&client, &ns).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let configuration = format!("sluice-test-{ns}");
    // The configuration first: the operator puts its CA into it at start-up.
    let config: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
        "metadata": {"name": configuration},
        "webhooks": [{
            "name": "validate.seldondeployments.machinelearning.seldon.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
            "clientConfig": {"url": format!("https://127.0.0.1:{port}{}", sluice_operator::webhook::PATH)},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "rules": [{"apiGroups": ["machinelearning.seldon.io"], "apiVersions": ["v1", "v1alpha2", "v1alpha3"],
                       "operations": ["CREATE", "UPDATE"], "resources": ["seldondeployments"], "scope": "Namespaced"}],
        }]
    }))
    .expect("configuration");
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configs
        .create(&PostParams::default(), &config)
        .await
        .expect("configuration created");
    let mut options = options(&ns);
    options.webhook = Some(Webhook {
        addr: format!("127.0.0.1:{port}").parse().expect("addr"),
        certificates: Certificates::SelfSigned(vec!["127.0.0.1".to_string()]),
        configuration: configuration.clone(),
    });
    let operator = Operator::start(options).await;

    let sdeps: Api<SeldonDeployment> = Api::namespaced(client.clone(), &ns);
    let bad = "apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: abtest}
spec:
  annotations: {seldon.io/istio-retries: three}
  predictors:
  - {name: p1, traffic: 50, graph: {name: m, type: MODEL, implementation: SIMPLE_MODEL}}
  - {name: p1, traffic: 40, graph: {name: m, type: MODEL, implementation: SIMPLE_MODEL}}
";
    // The API server may take a moment to see the patched caBundle.
    let refused = eventually(Duration::from_secs(20), || async {
        match sdeps.create(&PostParams::default(), &sdep(bad, &ns)).await {
            Err(kube::Error::Api(status)) if status.message.contains("denied the request") => {
                Some(status.message)
            }
            _ => None,
        }
    })
    .await
    .expect("the webhook refuses the SeldonDeployment");
    for problem in [
        "spec.annotations[\"seldon.io/istio-retries\"]: invalid value \"three\"",
        "spec.predictors[1].name: invalid value \"p1\": duplicate predictor name",
        "it sums to 90",
    ] {
        assert!(refused.contains(problem), "{problem:?} missing from: {refused}");
    }
    let good = bad
        .replace("  annotations: {seldon.io/istio-retries: three}\n", "")
        .replace("{name: p1, traffic: 40", "{name: p2, traffic: 50");
    sdeps
        .create(&PostParams::default(), &sdep(&good, &ns))
        .await
        .expect("a good SeldonDeployment is admitted");
    operator.stop().await;
    let _ = configs.delete(&configuration, &Default::default()).await;
}
