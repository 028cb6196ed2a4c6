//! The `SeldonDeployment` custom resource, `machinelearning.seldon.io/v1`.
//!
//! Field names and JSON spellings follow Seldon Core 1's CRD, so the same YAML
//! applies unchanged. Values are kept raw (strings where Seldon takes strings):
//! checking them is `sluice-translate`'s `validate`, which reports every problem
//! with its field path instead of failing on the first.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::{CrossVersionObjectReference, MetricSpec};
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of SeldonDeployments.
pub const GROUP: &str = "machinelearning.seldon.io";
/// The versions Seldon Core 1 serves; all share one schema. `v1` is stored and written.
pub const VERSIONS: &[&str] = &["v1", "v1alpha2", "v1alpha3"];

/// Is `api_version` (`group/version`) one of the SeldonDeployment versions we accept?
pub fn is_api_version(api_version: &str) -> bool {
    api_version
        .split_once('/')
        .is_some_and(|(group, version)| group == GROUP && VERSIONS.contains(&version))
}

/// The desired state of a SeldonDeployment: its predictors and deployment-wide settings.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "machinelearning.seldon.io",
    version = "v1",
    kind = "SeldonDeployment",
    namespaced,
    status = "SeldonDeploymentStatus",
    shortname = "sdep",
    derive = "PartialEq",
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SeldonDeploymentSpec {
    /// Deprecated by Seldon: never used for names (`metadata.name` is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The predictors: each an inference graph with its containers and traffic share.
    #[serde(default)]
    pub predictors: Vec<PredictorSpec>,
    /// Deprecated by Seldon (OAuth for the removed API gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_key: Option<String>,
    /// Deprecated by Seldon (OAuth for the removed API gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_secret: Option<String>,
    /// Deployment-wide annotations (`seldon.io/istio-*`, ...); win over `metadata.annotations`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Wire protocol: `seldon` (default), `tensorflow`, `kfserving` or `v2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Transport between the orchestrator and components: `rest` (default) or `grpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Server type: `rpc` (default) or `kafka`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_type: Option<String>,
    /// Deployment-wide replica count, used where a predictor sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// One predictor: an inference graph, the pods that run it and its share of traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictorSpec {
    /// Predictor name; also the Istio subset name and the default `version` label.
    pub name: String,
    /// The root of the inference graph.
    pub graph: PredictiveUnit,
    /// The pods that run the graph's containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub component_specs: Vec<SeldonPodSpec>,
    /// Replicas of every componentSpec that sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Predictor annotations (`seldon.io/svc-name`, `seldon.io/no-engine`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Deprecated by Seldon: resources of the orchestrator (use `svcOrchSpec.resources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_resources: Option<ResourceRequirements>,
    /// Labels put on the predictor's pods; `version` selects the Istio subset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Settings of the service orchestrator container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svc_orch_spec: Option<SvcOrchSpec>,
    /// Percentage of traffic (or of mirrored traffic, for a shadow). Unset means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<i32>,
    /// An explainer served beside the predictor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explainer: Option<Explainer>,
    /// A shadow receives a mirror of the traffic; its answers are discarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<bool>,
    /// TLS between the orchestrator and components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl: Option<Ssl>,
}

impl PredictorSpec {
    /// Traffic as Seldon reads it: unset is 0.
    pub fn traffic(&self) -> i32 {
        self.traffic.unwrap_or(0)
    }

    /// Is this predictor a shadow?
    pub fn is_shadow(&self) -> bool {
        self.shadow.unwrap_or(false)
    }
}

/// A pod template for some of the graph's containers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeldonPodSpec {
    /// Metadata for the pods (labels, annotations) and the Deployment name (`name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    /// The pod spec; containers named like graph nodes implement them.
    #[serde(default)]
    pub spec: PodSpec,
    /// Horizontal pod autoscaler settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa_spec: Option<SeldonHpaSpec>,
    /// KEDA autoscaling settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keda_spec: Option<SeldonScaledObjectSpec>,
    /// Pod disruption budget settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb_spec: Option<SeldonPdbSpec>,
    /// Replicas of this pod spec; wins over the predictor's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// Horizontal pod autoscaler settings of a componentSpec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeldonHpaSpec {
    /// Lower bound on replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Upper bound on replicas.
    pub max_replicas: i32,
    /// Metrics in the `autoscaling/v2beta1` form (`resource.targetAverageUtilization`), as
    /// Seldon Core 1.18's CRD has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSpecV2beta1>,
    /// Metrics in the `autoscaling/v2` form (`resource.target.averageUtilization`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metricsv2: Vec<MetricSpec>,
}

/// An `autoscaling/v2beta1` HPA metric: the type and the source of that type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricSpecV2beta1 {
    /// `Resource`, `Pods`, `Object` or `External`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A resource of the pods (cpu, memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceMetricV2beta1>,
    /// A metric of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricV2beta1>,
    /// A metric of another object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectMetricV2beta1>,
    /// A metric from outside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalMetricV2beta1>,
}

/// `resource` of a v2beta1 metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceMetricV2beta1 {
    /// `cpu` or `memory`.
    pub name: String,
    /// Target percentage of the requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_average_utilization: Option<i32>,
    /// Target value per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_average_value: Option<Quantity>,
}

/// `pods` of a v2beta1 metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodsMetricV2beta1 {
    /// The metric's name.
    pub metric_name: String,
    /// Target value per pod.
    pub target_average_value: Quantity,
    /// Which series of the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// `object` of a v2beta1 metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMetricV2beta1 {
    /// The object described.
    pub target: CrossVersionObjectReference,
    /// The metric's name.
    pub metric_name: String,
    /// Target value.
    pub target_value: Quantity,
    /// Target value per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    /// Which series of the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// `external` of a v2beta1 metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalMetricV2beta1 {
    /// The metric's name.
    pub metric_name: String,
    /// Which series of the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_selector: Option<LabelSelector>,
    /// Target value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_value: Option<Quantity>,
    /// Target value per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_average_value: Option<Quantity>,
}

/// Pod disruption budget settings of a componentSpec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeldonPdbSpec {
    /// Pods that must stay available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    /// Pods that may be unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// KEDA ScaledObject settings of a componentSpec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeldonScaledObjectSpec {
    /// Seconds between trigger checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_interval: Option<i32>,
    /// Seconds to wait before scaling to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_period: Option<i32>,
    /// Replicas while idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_replica_count: Option<i32>,
    /// Lower bound on replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replica_count: Option<i32>,
    /// Upper bound on replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replica_count: Option<i32>,
    /// KEDA scale triggers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<ScaleTrigger>,
}

/// One KEDA scale trigger.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTrigger {
    /// Trigger type, e.g. `prometheus`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Trigger name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Trigger-specific settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The KEDA `TriggerAuthentication` holding the trigger's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<ScaledObjectAuthRef>,
}

/// A reference to a KEDA `TriggerAuthentication` (or `ClusterTriggerAuthentication`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaledObjectAuthRef {
    /// Its name.
    pub name: String,
    /// `TriggerAuthentication` (default) or `ClusterTriggerAuthentication`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Settings of the service orchestrator ("engine", the executor in Seldon).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SvcOrchSpec {
    /// Resources of the orchestrator container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra environment of the orchestrator container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Replicas of a separate orchestrator pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// TLS settings between the orchestrator and its components.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ssl {
    /// Secret holding the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_name: Option<String>,
}

/// A node of the inference graph.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictiveUnit {
    /// Node name; a container of the same name implements it.
    pub name: String,
    /// Child nodes, called as the node's type prescribes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "children_schema")]
    pub children: Vec<PredictiveUnit>,
    /// `MODEL`, `ROUTER`, `COMBINER`, `TRANSFORMER`, `OUTPUT_TRANSFORMER` or `UNKNOWN_TYPE`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A built-in (`SIMPLE_MODEL`, ...) or prepackaged server (`SKLEARN_SERVER`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    /// Methods the node implements when its type is `UNKNOWN_TYPE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Where the node listens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// Parameters passed to the component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// Model artefact location for prepackaged servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_uri: Option<String>,
    /// Service account of the model initializer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Secret with the model initializer's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_secret_ref_name: Option<String>,
    /// Image of the model initializer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_initializer_image: Option<String>,
    /// Request/response logging for this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<Logger>,
}

impl PredictiveUnit {
    /// This node and all its descendants, depth first (the order Seldon walks graphs).
    pub fn walk(&self) -> Vec<&PredictiveUnit> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.walk());
        }
        out
    }
}

/// Where a graph node listens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Endpoint {
    /// Host the orchestrator calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_host: Option<String>,
    /// Port the orchestrator calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port: Option<i32>,
    /// `REST` or `GRPC`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The node's http port.
    #[serde(rename = "httpPort", default, skip_serializing_if = "Option::is_none")]
    pub http_port: Option<i32>,
    /// The node's grpc port.
    #[serde(rename = "grpcPort", default, skip_serializing_if = "Option::is_none")]
    pub grpc_port: Option<i32>,
}

/// A parameter passed to a component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Parameter {
    /// Parameter name.
    pub name: String,
    /// Value, as a string.
    pub value: String,
    /// `INT`, `FLOAT`, `DOUBLE`, `STRING`, `BOOL` or `JSON`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Request logging of a node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Logger {
    /// Where to send the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `request`, `response` or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// An explainer served beside a predictor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Explainer {
    /// Explainer type, e.g. `AnchorTabular`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Explainer artefact location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_uri: Option<String>,
    /// Service account of the explainer pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// The explainer container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_spec: Option<Container>,
    /// Explainer configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Where the explainer listens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// Secret with the initializer's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_secret_ref_name: Option<String>,
    /// Image of the model initializer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_initializer_image: Option<String>,
    /// Replicas of the explainer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Initialisation parameters, as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_parameters: Option<String>,
}

/// Observed state, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeldonDeploymentStatus {
    /// `Creating`, `Available` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why the state is what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Per Deployment: replicas and available replicas.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployment_status: BTreeMap<String, DeploymentStatus>,
    /// Per Service: its endpoints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_status: BTreeMap<String, ServiceStatus>,
    /// Replicas of the default Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The in-cluster prediction URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Knative-style conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Status of one generated Deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// Deployment name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Status text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Available replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// The predictor this explainer Deployment belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explainer_for: Option<String>,
}

/// Status of one generated Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// Service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svc_name: Option<String>,
    /// `host:port` of the http port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_endpoint: Option<String>,
    /// `host:port` of the grpc port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_endpoint: Option<String>,
    /// The predictor this explainer Service belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explainer_for: Option<String>,
}

/// The prediction address.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    /// URL of the prediction endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A knative-style condition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// `Error`, `Warning` or `Info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

/// The embedded Kubernetes types (pod specs, containers, resources, metrics) carry
/// their full API documentation; without it the CRD is a tenth of the size and stays
/// well under the API server's and `kubectl apply`'s object size limits.
fn strip_embedded_descriptions(
    schema: &mut k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps,
) {
    const EMBEDDED: &[&str] = &[
        "/properties/spec/properties/predictors/items/properties/componentSpecs/items/properties/metadata",
        "/properties/spec/properties/predictors/items/properties/componentSpecs/items/properties/spec",
        "/properties/spec/properties/predictors/items/properties/componentSpecs/items/properties/hpaSpec/properties/metrics",
        "/properties/spec/properties/predictors/items/properties/componentSpecs/items/properties/hpaSpec/properties/metricsv2",
        "/properties/spec/properties/predictors/items/properties/componentSpecs/items/properties/pdbSpec",
        "/properties/spec/properties/predictors/items/properties/engineResources",
        "/properties/spec/properties/predictors/items/properties/svcOrchSpec/properties/resources",
        "/properties/spec/properties/predictors/items/properties/svcOrchSpec/properties/env",
        "/properties/spec/properties/predictors/items/properties/explainer/properties/containerSpec",
    ];
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if map.get("description").is_some_and(serde_json::Value::is_string) {
                    map.remove("description");
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&*schema) else {
        return;
    };
    for pointer in EMBEDDED {
        if let Some(subtree) = value.pointer_mut(pointer) {
            let kept = subtree.get("description").cloned();
            strip(subtree);
            if let (Some(kept), Some(map)) = (kept, subtree.as_object_mut()) {
                map.insert("description".to_string(), kept);
            }
        }
    }
    if let Ok(stripped) = serde_json::from_value(value) {
        *schema = stripped;
    }
}

/// The CRD as YAML: what `sluice crd` prints and `deploy/crds/` holds.
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(&crd())
}

/// The graph's `children` are recursive; a CRD schema cannot be. Like Seldon's CRD,
/// the schema describes them as objects whose fields the API server keeps
/// (`x-kubernetes-preserve-unknown-fields`); `sluice validate` checks every level.
fn children_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true
        }
    })
}

/// The SeldonDeployment CRD: `v1` (served and stored) plus `v1alpha2` and `v1alpha3`
/// (served), all with the same schema, as Seldon Core 1 installs it.
pub fn crd() -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    let mut crd = <SeldonDeployment as kube::CustomResourceExt>::crd();
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            strip_embedded_descriptions(schema);
        }
    }
    let stored = crd.spec.versions.first().cloned();
    if let Some(stored) = stored {
        for version in VERSIONS.iter().filter(|v| **v != stored.name) {
            let mut served = stored.clone();
            served.name = (*version).to_string();
            served.storage = false;
            crd.spec.versions.push(served);
        }
    }
    crd
}
