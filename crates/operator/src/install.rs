//! The manifests that install the operator: what `sluice install` prints and what the
//! Helm chart `charts/sluice-operator` renders — the same objects for the same values (a
//! test renders both and compares them, and compares [`KEYS`] with the chart's
//! `values.yaml`, so the two cannot drift).
//!
//! Values keep Seldon Core 1's chart names where Seldon has one (`istio.enabled`,
//! `istio.gateway`, `istio.tlsMode`, `controllerId`, `singleNamespace`, `crd.create`,
//! `executor.*`, `usageMetrics.enabled` — accepted, and sluice never phones home).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Every value, its default, and what it does. The chart's `values.yaml` has exactly these.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "image.registry",
        "ghcr.io",
        "registry of the sluice image (operator and orchestrator)",
    ),
    (
        "image.repository",
        "sluice-project/sluice",
        "repository of the sluice image",
    ),
    ("image.tag", env!("CARGO_PKG_VERSION"), "tag of the sluice image"),
    ("image.pullPolicy", "IfNotPresent", "pull policy of the operator"),
    (
        "replicaCount",
        "1",
        "operator replicas (one leads, others wait; the webhook runs on all)",
    ),
    (
        "istio.enabled",
        "true",
        "generate Istio VirtualServices and DestinationRules",
    ),
    (
        "istio.gateway",
        "istio-system/seldon-gateway",
        "the default Gateway of SeldonDeployments",
    ),
    (
        "istio.tlsMode",
        "",
        "DestinationRule TLS mode: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL or STRICT",
    ),
    (
        "executor.image",
        "",
        "the orchestrator image (default: the sluice image)",
    ),
    (
        "executor.port",
        "8000",
        "the orchestrator's http port (predictor Services too)",
    ),
    (
        "executor.grpcPort",
        "5001",
        "the orchestrator's grpc port (predictor Services too)",
    ),
    (
        "executor.prometheus.path",
        "/prometheus",
        "the orchestrator's metrics path",
    ),
    (
        "predictiveUnit.httpPort",
        "9000",
        "first http port of model containers",
    ),
    (
        "predictiveUnit.grpcPort",
        "9500",
        "first grpc port of model containers",
    ),
    (
        "controllerId",
        "",
        "reconcile only SeldonDeployments labelled seldon.io/controller-id with this value",
    ),
    (
        "singleNamespace",
        "false",
        "watch only the release namespace (namespaced RBAC)",
    ),
    ("crd.create", "true", "install the SeldonDeployment CRD"),
    (
        "webhook.enabled",
        "true",
        "validate SeldonDeployments at admission",
    ),
    ("webhook.port", "4443", "the webhook's container port"),
    (
        "webhook.failurePolicy",
        "Fail",
        "Fail or Ignore when the webhook is unreachable",
    ),
    (
        "webhook.certSecret",
        "",
        "a kubernetes.io/tls Secret (e.g. cert-manager's) to serve with; empty: self-signed at start-up",
    ),
    ("metrics.port", "8080", "the /metrics, /healthz and /readyz port"),
    (
        "leaderElection.enabled",
        "true",
        "elect a leader among replicas with a Lease",
    ),
    ("resources.requests.cpu", "100m", "operator CPU request"),
    ("resources.requests.memory", "64Mi", "operator memory request"),
    ("resources.limits.memory", "256Mi", "operator memory limit"),
    (
        "usageMetrics.enabled",
        "false",
        "accepted for compatibility with Seldon's chart; sluice never phones home",
    ),
];

/// A bad `--set`.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Not `key=value`.
    #[error("--set {0:?} is not key=value")]
    NotKeyValue(String),
    /// Not a value of the chart.
    #[error("--set {key}: not a value of the chart; use one of: {}", KEYS.iter().map(|(k, _, _)| *k).collect::<Vec<_>>().join(", "))]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// A value of the wrong type.
    #[error("--set {key}={value:?}: {why}")]
    BadValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What would be valid.
        why: String,
    },
}

/// The chart's values, defaults overridden by `--set`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Values(BTreeMap<String, String>);

impl Values {
    /// The defaults with `sets` (`key=value`) applied.
    pub fn new(sets: &[String]) -> Result<Self, InstallError> {
        let mut values: BTreeMap<String, String> = KEYS
            .iter()
            .map(|(k, v, _)| (k.to_string(), v.to_string()))
            .collect();
        for set in sets {
            let (key, value) = set
                .split_once('=')
                .ok_or_else(|| InstallError::NotKeyValue(set.clone()))?;
            if !values.contains_key(key) {
                return Err(InstallError::UnknownKey { key: key.to_string() });
            }
            values.insert(key.to_string(), value.to_string());
        }
        let values = Values(values);
        for key in [
            "istio.enabled",
            "singleNamespace",
            "crd.create",
            "webhook.enabled",
            "leaderElection.enabled",
            "usageMetrics.enabled",
        ] {
            values.flag(key)?;
        }
        for key in [
            "replicaCount",
            "executor.port",
            "executor.grpcPort",
            "predictiveUnit.httpPort",
            "predictiveUnit.grpcPort",
            "webhook.port",
            "metrics.port",
        ] {
            values.number(key)?;
        }
        if !["Fail", "Ignore"].contains(&values.get("webhook.failurePolicy")) {
            return Err(InstallError::BadValue {
                key: "webhook.failurePolicy".into(),
                value: values.get("webhook.failurePolicy").to_string(),
                why: "use Fail or Ignore".into(),
            });
        }
        Ok(values)
    }

    fn get(&self, key: &str) -> &str {
        self.0.get(key).map(String::as_str).unwrap_or("")
    }

    fn flag(&self, key: &str) -> Result<bool, InstallError> {
        match self.get(key) {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(InstallError::BadValue {
                key: key.into(),
                value: other.into(),
                why: "use true or false".into(),
            }),
        }
    }

    fn number(&self, key: &str) -> Result<u16, InstallError> {
        self.get(key).parse::<u16>().map_err(|_| InstallError::BadValue {
            key: key.into(),
            value: self.get(key).into(),
            why: "a whole number (ports: 1-65535)".into(),
        })
    }

    fn is(&self, key: &str) -> bool {
        self.flag(key).unwrap_or(false)
    }

    fn port(&self, key: &str) -> u16 {
        self.number(key).unwrap_or(0)
    }

    /// The sluice image, `registry/repository:tag`.
    pub fn image(&self) -> String {
        format!(
            "{}/{}:{}",
            self.get("image.registry"),
            self.get("image.repository"),
            self.get("image.tag")
        )
    }
}

/// Names of the installed objects.
pub const NAME: &str = "sluice-operator";
/// The webhook's Service.
pub const WEBHOOK_SERVICE: &str = "sluice-operator-webhook";
/// The webhook's name in its configuration.
pub const WEBHOOK_NAME: &str = "validate.seldondeployments.machinelearning.seldon.io";

fn labels() -> Value {
    json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "sluice"})
}

fn rules(values: &Values) -> Value {
    let mut rules = vec![
        json!({"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments"], "verbs": ["get", "list", "watch"]}),
        json!({"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments/status"], "verbs": ["patch"]}),
        json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]}),
        json!({"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]}),
        json!({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}),
    ];
    if values.is("istio.enabled") {
        rules.push(json!({"apiGroups": ["networking.istio.io"], "resources": ["virtualservices", "destinationrules"], "verbs": ["get", "list", "create", "patch", "delete"]}));
    }
    Value::Array(rules)
}

/// The operator's container environment: Seldon's variables from the values.
fn env(values: &Values) -> Value {
    let mut env = vec![
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        json!({"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
        json!({"name": "ISTIO_ENABLED", "value": values.get("istio.enabled")}),
        json!({"name": "ISTIO_GATEWAY", "value": values.get("istio.gateway")}),
        json!({"name": "ISTIO_TLS_MODE", "value": values.get("istio.tlsMode")}),
        json!({"name": "ENGINE_SERVER_PORT", "value": values.get("executor.port")}),
        json!({"name": "ENGINE_SERVER_GRPC_PORT", "value": values.get("executor.grpcPort")}),
        json!({"name": "EXECUTOR_PROMETHEUS_PATH", "value": values.get("executor.prometheus.path")}),
        json!({"name": "EXECUTOR_CONTAINER_IMAGE_AND_VERSION", "value": match values.get("executor.image") { "" => values.image(), image => image.to_string() }}),
        json!({"name": "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "value": values.get("predictiveUnit.httpPort")}),
        json!({"name": "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "value": values.get("predictiveUnit.grpcPort")}),
        json!({"name": "CONTROLLER_ID", "value": values.get("controllerId")}),
    ];
    if values.is("singleNamespace") {
        env.push(json!({"name": "WATCH_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}));
    }
    Value::Array(env)
}

fn args(values: &Values) -> Value {
    let mut args = vec![
        "operator".to_string(),
        format!("--metrics-addr=0.0.0.0:{}", values.port("metrics.port")),
    ];
    if values.is("webhook.enabled") {
        args.push(format!("--webhook-addr=0.0.0.0:{}", values.port("webhook.port")));
        args.push(format!("--webhook-configuration={NAME}"));
        args.push(format!("--webhook-service={WEBHOOK_SERVICE}"));
        if !values.get("webhook.certSecret").is_empty() {
            args.push("--webhook-cert-dir=/certs".to_string());
        }
    }
    if values.is("leaderElection.enabled") {
        args.push(format!("--leader-election-lease={NAME}"));
    }
    json!(args)
}

/// Every object to install in `namespace`, in apply order.
pub fn manifests(values: &Values, namespace: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if values.is("crd.create") {
        out.push(serde_json::to_value(sluice_api::seldon::crd()).unwrap_or_default());
    }
    out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": namespace, "labels": labels()}}));
    let subject = json!([{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]);
    if values.is("singleNamespace") {
        out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": NAME, "namespace": namespace, "labels": labels()}, "rules": rules(values)}));
        out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": NAME, "namespace": namespace, "labels": labels()}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME}, "subjects": subject}));
    } else {
        let mut cluster_rules = rules(values);
        // The namespace label that hands a namespace to another operator (spec §5.1).
        if let Value::Array(r) = &mut cluster_rules {
            r.push(json!({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}));
        }
        out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": NAME, "labels": labels()}, "rules": cluster_rules}));
        out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": NAME, "labels": labels()}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME}, "subjects": subject}));
    }
    if values.is("webhook.enabled") && values.get("webhook.certSecret").is_empty() {
        out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": format!("{NAME}-webhook"), "labels": labels()}, "rules": [{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"], "resourceNames": [NAME], "verbs": ["get", "patch"]}]}));
        out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": format!("{NAME}-webhook"), "labels": labels()}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{NAME}-webhook")}, "subjects": subject}));
    }
    // The leader election's Lease lives in the operator's own namespace.
    let lease_rules = json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]);
    out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": format!("{NAME}-leases"), "namespace": namespace, "labels": labels()}, "rules": lease_rules}));
    out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": format!("{NAME}-leases"), "namespace": namespace, "labels": labels()}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": format!("{NAME}-leases")}, "subjects": subject}));
    let metrics = values.port("metrics.port");
    let mut ports = vec![json!({"name": "metrics", "containerPort": metrics, "protocol": "TCP"})];
    let mut service_ports =
        vec![json!({"name": "metrics", "port": metrics, "targetPort": "metrics", "protocol": "TCP"})];
    if values.is("webhook.enabled") {
        ports.push(
            json!({"name": "webhook", "containerPort": values.port("webhook.port"), "protocol": "TCP"}),
        );
        service_ports
            .push(json!({"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}));
    }
    out.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": WEBHOOK_SERVICE, "namespace": namespace, "labels": labels()}, "spec": {"selector": labels(), "ports": service_ports}}));
    let mut container = json!({
        "name": "operator",
        "image": values.image(),
        "imagePullPolicy": values.get("image.pullPolicy"),
        "args": args(values),
        "env": env(values),
        "ports": ports,
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "metrics"}, "periodSeconds": 5},
        "resources": {
            "requests": {"cpu": values.get("resources.requests.cpu"), "memory": values.get("resources.requests.memory")},
            "limits": {"memory": values.get("resources.limits.memory")}
        },
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "runAsUser": 65532, "capabilities": {"drop": ["ALL"]}},
    });
    let mut pod = json!({"serviceAccountName": NAME, "containers": []});
    if !values.get("webhook.certSecret").is_empty() {
        container["volumeMounts"] = json!([{"name": "certs", "mountPath": "/certs", "readOnly": true}]);
        pod["volumes"] =
            json!([{"name": "certs", "secret": {"secretName": values.get("webhook.certSecret")}}]);
    }
    pod["containers"] = json!([container]);
    out.push(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": namespace, "labels": labels()},
        "spec": {
            "replicas": values.port("replicaCount"),
            "selector": {"matchLabels": labels()},
            "template": {"metadata": {"labels": labels()}, "spec": pod}
        }
    }));
    if values.is("webhook.enabled") {
        let mut webhook = json!({
            "name": WEBHOOK_NAME,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": values.get("webhook.failurePolicy"),
            "clientConfig": {"service": {"name": WEBHOOK_SERVICE, "namespace": namespace, "path": crate::webhook::PATH, "port": 443}},
            "rules": [{"apiGroups": ["machinelearning.seldon.io"], "apiVersions": ["v1", "v1alpha2", "v1alpha3"], "operations": ["CREATE", "UPDATE"], "resources": ["seldondeployments"], "scope": "Namespaced"}],
        });
        if values.is("singleNamespace") {
            webhook["namespaceSelector"] = json!({"matchLabels": {"kubernetes.io/metadata.name": namespace}});
        }
        let mut config = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": NAME, "labels": labels()}, "webhooks": [webhook]});
        if !values.get("webhook.certSecret").is_empty() {
            // cert-manager's CA injector fills caBundle from the Certificate of that Secret.
            config["metadata"]["annotations"] = json!({"cert-manager.io/inject-ca-from": format!("{namespace}/{}", values.get("webhook.certSecret"))});
        }
        out.push(config);
    }
    out
}

/// The manifests as multi-document YAML.
pub fn yaml(values: &Values, namespace: &str) -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for object in manifests(values, namespace) {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&object)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_the_cluster_wide_install() {
        let objects = manifests(&Values::new(&[]).expect("defaults"), "seldon-system");
        let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "CustomResourceDefinition",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding",
                "Service",
                "Deployment",
                "ValidatingWebhookConfiguration"
            ]
        );
    }

    #[test]
    fn sets_are_checked() {
        assert!(matches!(
            Values::new(&["nope=1".into()]),
            Err(InstallError::UnknownKey { .. })
        ));
        assert!(matches!(
            Values::new(&["istio.enabled=yes".into()]),
            Err(InstallError::BadValue { .. })
        ));
        assert!(matches!(
            Values::new(&["istio.enabled".into()]),
            Err(InstallError::NotKeyValue(_))
        ));
        let v = Values::new(&["singleNamespace=true".into(), "crd.create=false".into()]).expect("valid");
        let objects = manifests(&v, "models");
        assert!(
            objects
                .iter()
                .all(|o| o["kind"] != "ClusterRole" || o["metadata"]["name"] == "sluice-operator-webhook")
        );
        assert!(objects.iter().all(|o| o["kind"] != "CustomResourceDefinition"));
    }

    #[test]
    fn every_object_is_a_kubernetes_object() {
        use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::api::core::v1::{Service, ServiceAccount};
        use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
        fn strict<T: serde::de::DeserializeOwned>(o: &Value) {
            let mut unknown = Vec::new();
            let _: T =
                serde_ignored::deserialize(o.clone(), |p| unknown.push(p.to_string())).expect("deserializes");
            assert!(unknown.is_empty(), "unknown fields {unknown:?} in {o}");
        }
        for o in manifests(
            &Values::new(&["webhook.certSecret=tls".into()]).expect("valid"),
            "ns",
        ) {
            match o["kind"].as_str() {
                Some("Deployment") => strict::<Deployment>(&o),
                Some("Service") => strict::<Service>(&o),
                Some("ServiceAccount") => strict::<ServiceAccount>(&o),
                Some("ClusterRole") => strict::<ClusterRole>(&o),
                Some("ClusterRoleBinding") => strict::<ClusterRoleBinding>(&o),
                Some("Role") => strict::<Role>(&o),
                Some("RoleBinding") => strict::<RoleBinding>(&o),
                Some("ValidatingWebhookConfiguration") => strict::<ValidatingWebhookConfiguration>(&o),
                _ => {}
            }
        }
    }
}
