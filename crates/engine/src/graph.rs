//! Graph execution as Seldon's executor does it (spec §8): MODEL, ROUTER, COMBINER,
//! TRANSFORMER, OUTPUT_TRANSFORMER and `methods`, the routing map, feedback routing, the
//! per-protocol component paths and chaining (seldon, tensorflow, v2), and graph metadata
//! (§7.4). Pure over the [`Nodes`] trait, which makes the component calls.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use futures_util::future::join_all;
use serde_json::Value;
use sluice_api::seldon::PredictiveUnit;

/// A component call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `/predict`.
    Predict,
    /// `/transform-input`.
    TransformInput,
    /// `/transform-output`.
    TransformOutput,
    /// `/route`.
    Route,
    /// `/aggregate`.
    Aggregate,
    /// `/send-feedback`.
    SendFeedback,
    /// `GET /health/status`.
    Status,
    /// `GET /metadata`.
    Metadata,
}

impl Method {
    /// The Seldon-protocol path of the call.
    pub fn path(self) -> &'static str {
        match self {
            Method::Predict => "/predict",
            Method::TransformInput => "/transform-input",
            Method::TransformOutput => "/transform-output",
            Method::Route => "/route",
            Method::Aggregate => "/aggregate",
            Method::SendFeedback => "/send-feedback",
            Method::Status => "/health/status",
            Method::Metadata => "/metadata",
        }
    }

    /// Whether the call is a `GET` without a body (status and metadata) rather than a `POST`.
    pub fn is_get(self) -> bool {
        matches!(self, Method::Status | Method::Metadata)
    }
}

/// The API the predictor's components speak (`spec.protocol`, spec §7.2 and §7.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// Seldon's own (`/predict`, `/route`, ...): the default.
    #[default]
    Seldon,
    /// TensorFlow Serving's REST API (`/v1/models/<m>:predict`).
    Tensorflow,
    /// The Open Inference Protocol, `v2` or `kfserving` (`/v2/models/<m>/infer`).
    V2,
}

impl Protocol {
    /// The protocol named by `spec.protocol`; `None` for a name Seldon does not know.
    pub fn from_spec(value: Option<&str>) -> Option<Protocol> {
        match value.unwrap_or("") {
            "" | "seldon" => Some(Protocol::Seldon),
            "tensorflow" => Some(Protocol::Tensorflow),
            "v2" | "kfserving" => Some(Protocol::V2),
            _ => None,
        }
    }

    /// The path of `method` on the component serving `model` (spec §7.4): static for the
    /// seldon protocol, which does not name the model.
    pub fn path(self, method: Method, model: &str) -> Cow<'static, str> {
        match self {
            Protocol::Seldon => Cow::Borrowed(method.path()),
            Protocol::Tensorflow => {
                let suffix = match method {
                    Method::Predict | Method::TransformInput | Method::TransformOutput => ":predict",
                    Method::Route => ":route",
                    Method::Aggregate => ":aggregate",
                    Method::SendFeedback => ":feedback",
                    Method::Status => "",
                    Method::Metadata => "/metadata",
                };
                Cow::Owned(format!("/v1/models/{model}{suffix}"))
            }
            Protocol::V2 => {
                let suffix = match method {
                    Method::Predict | Method::TransformInput | Method::TransformOutput => "/infer",
                    Method::Route => "/route",
                    Method::Aggregate => "/aggregate",
                    Method::SendFeedback => "/feedback",
                    Method::Status => "/ready",
                    Method::Metadata => "",
                };
                Cow::Owned(format!("/v2/models/{model}{suffix}"))
            }
        }
    }

    /// The executor's `Chain`, applied to a payload before a predict or transform call:
    /// a previous node's answer becomes the next node's request. Seldon messages pass as
    /// they are; tensorflow renames `predictions` to `instances`, v2 `outputs` to `inputs`.
    /// Payloads without that key pass unchanged.
    pub fn chain(self, payload: Payload) -> Result<Payload, Error> {
        let (from, to) = match self {
            Protocol::Seldon => return Ok(payload),
            Protocol::Tensorflow => ("predictions", "instances"),
            Protocol::V2 => ("outputs", "inputs"),
        };
        let mut value: Value = serde_json::from_slice(&payload.body)
            .map_err(|e| Error::internal(format!("the payload is not JSON: {e}")))?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| Error::internal("the payload is not a JSON object"))?;
        let Some(moved) = object.remove(from) else {
            return Ok(payload);
        };
        object.insert(to.to_string(), moved);
        let body = serde_json::to_vec(&value).map_err(|e| Error::internal(e.to_string()))?;
        Ok(Payload {
            body,
            content_type: payload.content_type,
        })
    }
}

/// A message between nodes: bytes as they are (the executor never reshapes them) and
/// their content type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// Body bytes.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: String,
}

/// A failed step: the HTTP status to answer and the error text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{info}")]
pub struct Error {
    /// HTTP status of the answer.
    pub status: u16,
    /// The component's body (when it answered) or Seldon's error text.
    pub info: String,
    /// The component's own body, passed through as the response when present.
    pub body: Option<Vec<u8>>,
    /// The gRPC status code a component answered with (its number), passed through to a
    /// gRPC caller unchanged; `None` for errors of HTTP components and of the orchestrator.
    pub grpc_code: Option<i32>,
}

impl Error {
    /// An error of the orchestrator itself (500, Seldon's FAILURE envelope).
    pub fn internal(info: impl Into<String>) -> Self {
        Error {
            status: 500,
            info: info.into(),
            body: None,
            grpc_code: None,
        }
    }

    /// Seldon's FAILURE envelope for this error.
    pub fn envelope(&self) -> Vec<u8> {
        match &self.body {
            Some(b) => b.clone(),
            None => serde_json::to_vec(
                &serde_json::json!({"status": {"code": 500, "info": self.info, "status": "FAILURE"}}),
            )
            .unwrap_or_default(),
        }
    }
}

/// Makes the component calls of a graph.
pub trait Nodes: Sync {
    /// Call `method` on the component implementing `node`.
    fn call(
        &self,
        node: &PredictiveUnit,
        method: Method,
        payload: Payload,
    ) -> impl Future<Output = Result<Payload, Error>> + Send;

    /// A uniform draw in [0, 1) for RANDOM_ABTEST.
    fn random(&self) -> f64;

    /// The protocol the components speak: their paths, chaining and feedback.
    fn protocol(&self) -> Protocol;
}

/// The routing decisions of one request: node name → -1 (all children), -2 (none) or k.
pub type Routing = BTreeMap<String, i64>;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Run the graph on `input`; returns the output and the routing map.
pub async fn predict<N: Nodes>(
    nodes: &N,
    root: &PredictiveUnit,
    input: Payload,
) -> Result<(Payload, Routing), Error> {
    let routing = Mutex::new(Routing::new());
    let out = predict_node(nodes, root, input, &routing).await?;
    Ok((out, routing.into_inner().unwrap_or_else(|p| p.into_inner())))
}

fn kind(node: &PredictiveUnit) -> &str {
    node.kind.as_deref().unwrap_or("")
}

fn has_method(node: &PredictiveUnit, method: &str) -> bool {
    node.methods.iter().any(|m| m == method)
}

fn record(routing: &Mutex<Routing>, node: &PredictiveUnit, route: i64) {
    routing
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(node.name.clone(), route);
}

fn predict_node<'a, N: Nodes>(
    nodes: &'a N,
    node: &'a PredictiveUnit,
    input: Payload,
    routing: &'a Mutex<Routing>,
) -> BoxFuture<'a, Result<Payload, Error>> {
    Box::pin(async move {
        // 1. Input stage: transform-input wins over predict.
        let transform_input = kind(node) == "TRANSFORMER" || has_method(node, "TRANSFORM_INPUT");
        let mut msg = if transform_input {
            record(routing, node, -1);
            let input = nodes.protocol().chain(input)?;
            nodes.call(node, Method::TransformInput, input).await?
        } else if kind(node) == "MODEL" {
            record(routing, node, -1);
            let input = nodes.protocol().chain(input)?;
            nodes.call(node, Method::Predict, input).await?
        } else {
            input
        };

        // 2. Children stage.
        if !node.children.is_empty() {
            let route = route(nodes, node, &msg).await?;
            match route {
                -1 => {
                    let outputs = join_all(
                        node.children
                            .iter()
                            .map(|c| predict_node(nodes, c, msg.clone(), routing)),
                    )
                    .await;
                    record(routing, node, -1);
                    let mut results = Vec::with_capacity(outputs.len());
                    for o in outputs {
                        results.push(o?);
                    }
                    msg = aggregate_or_first(nodes, node, results).await?;
                }
                -2 => record(routing, node, -2),
                k => {
                    let child = usize::try_from(k)
                        .ok()
                        .and_then(|k| node.children.get(k))
                        .ok_or_else(|| {
                            // Seldon panics here (B19); sluice answers with an error.
                            Error::internal(format!(
                                "router {} chose route {k}, but it has {} children",
                                node.name,
                                node.children.len()
                            ))
                        })?;
                    let out = predict_node(nodes, child, msg, routing).await?;
                    record(routing, node, k);
                    msg = aggregate_or_first(nodes, node, vec![out]).await?;
                }
            }
        }

        // 3. Output stage.
        if kind(node) == "OUTPUT_TRANSFORMER" || has_method(node, "TRANSFORM_OUTPUT") {
            let input = nodes.protocol().chain(msg)?;
            msg = nodes.call(node, Method::TransformOutput, input).await?;
        }
        Ok(msg)
    })
}

/// The route of a node with children: the router's answer, RANDOM_ABTEST's draw, or -1.
async fn route<N: Nodes>(nodes: &N, node: &PredictiveUnit, msg: &Payload) -> Result<i64, Error> {
    if kind(node) == "ROUTER" || has_method(node, "ROUTE") {
        let answer = nodes
            .call(node, Method::Route, msg.clone())
            .await
            .map_err(|e| Error {
                status: e.status,
                info: format!(
                    "Internal service call from executor failed calling {} status code {}",
                    Method::Route.path(),
                    e.status
                ),
                body: None,
                grpc_code: e.grpc_code,
            })?;
        return parse_route(&answer.body);
    }
    if node.implementation.as_deref() == Some("RANDOM_ABTEST") {
        let ratio_a = match node.parameters.as_slice() {
            [p] if p.name == "ratioA" => p
                .value
                .parse::<f32>()
                .map(f64::from)
                .map_err(|e| Error::internal(format!("ratioA {:?}: {e}", p.value)))?,
            _ => 0.5,
        };
        return Ok(if nodes.random() < ratio_a { 0 } else { 1 });
    }
    Ok(-1)
}

/// Seldon's router answer (§8.3): a SeldonMessage whose first row's first value is the
/// route, or a bare JSON array of ints.
pub fn parse_route(body: &[u8]) -> Result<i64, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::internal(format!("router answer is not JSON: {e}")))?;
    let first = if let Some(rows) = value.pointer("/data/ndarray").and_then(Value::as_array) {
        rows.first()
            .map(|row| row.as_array().and_then(|r| r.first()).unwrap_or(row).clone())
    } else if let Some(values) = value.pointer("/data/tensor/values").and_then(Value::as_array) {
        values.first().cloned()
    } else if let Some(values) = value.pointer("/data/tftensor/intVal").and_then(Value::as_array) {
        values.first().cloned()
    } else if let Some(items) = value.as_array() {
        items.first().cloned()
    } else if value.is_object() {
        return Ok(-1);
    } else {
        return Err(Error::internal(
            "router answer is neither a SeldonMessage nor a list of routes",
        ));
    };
    let first = first.ok_or_else(|| Error::internal("router answered an empty list of routes"))?;
    first
        .as_f64()
        .map(|f| f.trunc() as i64)
        .ok_or_else(|| Error::internal(format!("router route {first} is not a number")))
}

/// A COMBINER (or `AGGREGATE` method) aggregates its children's outputs; any other node
/// returns the first child's output.
async fn aggregate_or_first<N: Nodes>(
    nodes: &N,
    node: &PredictiveUnit,
    mut outputs: Vec<Payload>,
) -> Result<Payload, Error> {
    if kind(node) == "COMBINER" || has_method(node, "AGGREGATE") {
        let mut parts = Vec::with_capacity(outputs.len());
        for o in &outputs {
            let v: Value =
                serde_json::from_slice(&o.body).map_err(|_| Error::internal("Data is not JSON"))?;
            parts.push(v);
        }
        let content_type = outputs
            .first()
            .map(|o| o.content_type.clone())
            .unwrap_or_default();
        let body = serde_json::to_vec(&parts).map_err(|e| Error::internal(e.to_string()))?;
        return nodes
            .call(node, Method::Aggregate, Payload { body, content_type })
            .await;
    }
    if outputs.is_empty() {
        return Err(Error::internal(format!("node {} produced no output", node.name)));
    }
    Ok(outputs.swap_remove(0))
}

/// Send feedback through the graph (§8.6), following `response.meta.routing`.
pub async fn feedback<N: Nodes>(nodes: &N, root: &PredictiveUnit, input: Payload) -> Result<Payload, Error> {
    let routing: Routing = serde_json::from_slice::<Value>(&input.body)
        .ok()
        .and_then(|v| {
            v.pointer("/response/meta/routing")
                .and_then(Value::as_object)
                .cloned()
        })
        .map(|m| {
            m.into_iter()
                .filter_map(|(k, v)| v.as_i64().map(|r| (k, r)))
                .collect()
        })
        .unwrap_or_default();
    feedback_node(nodes, root, &input, &routing).await
}

fn feedback_node<'a, N: Nodes>(
    nodes: &'a N,
    node: &'a PredictiveUnit,
    input: &'a Payload,
    routing: &'a Routing,
) -> BoxFuture<'a, Result<Payload, Error>> {
    Box::pin(async move {
        if !node.children.is_empty() {
            match routing.get(&node.name).copied().unwrap_or(-1) {
                -1 => {
                    for r in join_all(
                        node.children
                            .iter()
                            .map(|c| feedback_node(nodes, c, input, routing)),
                    )
                    .await
                    {
                        r?;
                    }
                }
                k => {
                    let child = usize::try_from(k)
                        .ok()
                        .and_then(|k| node.children.get(k))
                        .ok_or_else(|| {
                            Error::internal(format!("feedback routing {k} for {} is not a child", node.name))
                        })?;
                    feedback_node(nodes, child, input, routing).await?;
                }
            }
        }
        let sends = matches!(kind(node), "MODEL" | "ROUTER") || has_method(node, "SEND_FEEDBACK");
        // Only Seldon's protocol has a feedback call; the executor echoes the request for
        // the others.
        if sends && nodes.protocol() == Protocol::Seldon {
            return nodes.call(node, Method::SendFeedback, input.clone()).await;
        }
        Ok(input.clone())
    })
}

/// One node's metadata as the executor re-encodes it (spec §7.4): empty strings, lists and
/// maps left out, but `inputs` and `outputs` kept whenever the component sent them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ModelMetadata {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    platform: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    versions: Vec<Value>,
    #[serde(skip_serializing_if = "Value::is_null")]
    inputs: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    outputs: Value,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    custom: serde_json::Map<String, Value>,
}

impl ModelMetadata {
    fn parse(node: &str, body: &[u8]) -> Result<Self, Error> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::internal(format!("metadata of {node} is not JSON: {e}")))?;
        let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(ModelMetadata {
            name: text("name"),
            platform: text("platform"),
            versions: value
                .get("versions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            inputs: value.get("inputs").cloned().unwrap_or(Value::Null),
            outputs: value.get("outputs").cloned().unwrap_or(Value::Null),
            custom: value
                .get("custom")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// `GET /api/v1.0/metadata`: every node's metadata and the graph's inputs and outputs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct GraphMetadata {
    name: String,
    models: BTreeMap<String, ModelMetadata>,
    graphinputs: Value,
    graphoutputs: Value,
}

/// Ask every node for its metadata, depth first and one at a time, as the executor does.
pub async fn metadata<N: Nodes>(
    nodes: &N,
    predictor: &str,
    root: &PredictiveUnit,
) -> Result<GraphMetadata, Error> {
    let mut models = BTreeMap::new();
    for node in root.walk() {
        let answer = nodes.call(node, Method::Metadata, Payload::empty()).await?;
        models.insert(node.name.clone(), ModelMetadata::parse(&node.name, &answer.body)?);
    }
    let (graphinputs, graphoutputs) = edges(root, &models);
    Ok(GraphMetadata {
        name: predictor.to_string(),
        models,
        graphinputs,
        graphoutputs,
    })
}

/// The graph's inputs and outputs from its edge nodes (spec §7.4).
fn edges(node: &PredictiveUnit, models: &BTreeMap<String, ModelMetadata>) -> (Value, Value) {
    let own = models.get(&node.name).cloned().unwrap_or_default();
    let Some(first) = node.children.first() else {
        return (own.inputs, own.outputs);
    };
    let (child_inputs, child_outputs) = edges(first, models);
    match kind(node) {
        "MODEL" | "TRANSFORMER" => (own.inputs, child_outputs),
        "OUTPUT_TRANSFORMER" | "COMBINER" => (child_inputs, own.outputs),
        _ => (child_inputs, child_outputs),
    }
}

impl Payload {
    /// No body (the GET calls).
    pub fn empty() -> Self {
        Payload {
            body: Vec::new(),
            content_type: String::new(),
        }
    }
}

#[cfg(test)]
mod tests;
