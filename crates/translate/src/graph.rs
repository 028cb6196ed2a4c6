//! Facts about a predictor's inference graph that several outputs need.

use k8s_openapi::api::core::v1::Container;
use sluice_api::document::FieldPath;
use sluice_api::seldon::{PredictiveUnit, PredictorSpec};

/// The orchestrator's built-in implementations; they need no container.
pub const BUILTIN: &[&str] = &[
    "SIMPLE_MODEL",
    "SIMPLE_ROUTER",
    "RANDOM_ABTEST",
    "AVERAGE_COMBINER",
];

/// Is `implementation` run inside the orchestrator?
pub fn is_builtin(implementation: &str) -> bool {
    BUILTIN.contains(&implementation)
}

/// Is `implementation` a prepackaged model server (not built in, not unknown)?
pub fn is_prepackaged(implementation: &str) -> bool {
    !is_builtin(implementation) && implementation != "UNKNOWN_IMPLEMENTATION"
}

/// Every node with its field path, depth first from `path` (the root's path).
pub fn walk_with_paths(root: &PredictiveUnit, path: FieldPath) -> Vec<(&PredictiveUnit, FieldPath)> {
    let mut out = Vec::new();
    fn visit<'a>(node: &'a PredictiveUnit, path: FieldPath, out: &mut Vec<(&'a PredictiveUnit, FieldPath)>) {
        for (k, child) in node.children.iter().enumerate() {
            let child_path = path.key("children").index(k);
            out.push((child, child_path.clone()));
            visit(child, child_path, out);
        }
    }
    out.push((root, path.clone()));
    visit(root, path, &mut out);
    out
}

/// Does the orchestrator call `node` over gRPC: `spec.transport: grpc`, or the node's
/// `endpoint.type: GRPC` (validation keeps the two from disagreeing).
pub fn over_grpc(transport: Option<&str>, node: &PredictiveUnit) -> bool {
    transport == Some("grpc")
        || node
            .endpoint
            .as_ref()
            .and_then(|e| e.kind.as_deref())
            .is_some_and(|k| k == "GRPC")
}

/// The container implementing the node `name`, in any componentSpec of the predictor.
pub fn container<'a>(predictor: &'a PredictorSpec, name: &str) -> Option<&'a Container> {
    predictor
        .component_specs
        .iter()
        .flat_map(|spec| spec.spec.containers.iter())
        .find(|c| c.name == name)
}

/// The node implemented by `container`, if any.
pub fn node<'a>(predictor: &'a PredictorSpec, container: &str) -> Option<&'a PredictiveUnit> {
    predictor.graph.walk().into_iter().find(|n| n.name == container)
}

/// The node's type after Seldon's defaulting: as written, else MODEL for a node with no
/// methods and no implementation and for prepackaged servers.
pub fn unit_type(node: &PredictiveUnit) -> Option<&str> {
    match node.kind.as_deref() {
        Some(kind) => Some(kind),
        None if node.methods.is_empty() && node.implementation.is_none() => Some("MODEL"),
        None if node.implementation.as_deref().is_some_and(is_prepackaged) => Some("MODEL"),
        None => None,
    }
}

/// Write Seldon's defaulted type into every node of the graph, as the orchestrator reads it.
pub fn default_types(node: &mut PredictiveUnit) {
    if node.kind.is_none() {
        node.kind = unit_type(node).map(str::to_string);
    }
    node.children.iter_mut().for_each(default_types);
}

/// The type label Seldon puts on a component's Service (`seldon.io/model`, ...), if any.
pub fn type_label(node: &PredictiveUnit) -> Option<&'static str> {
    let kind = unit_type(node)?;
    match kind {
        "MODEL" => Some("seldon.io/model"),
        "ROUTER" => Some("seldon.io/router"),
        "COMBINER" => Some("seldon.io/combiner"),
        "TRANSFORMER" => Some("seldon.io/transformer"),
        "OUTPUT_TRANSFORMER" => Some("seldon.io/output-transformer"),
        _ => None,
    }
}
