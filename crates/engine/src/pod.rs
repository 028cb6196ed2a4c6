//! The engine as it runs in a predictor pod (`sluice engine`): the predictor as the
//! operator passes it (`ENGINE_PREDICTOR`, base64 JSON) and each node's component at the
//! endpoint the operator gave it, with Seldon's defaults.

use std::collections::BTreeMap;

use base64::Engine as _;
use sluice_api::seldon::{PredictiveUnit, PredictorSpec};

use crate::components::Component;

/// The pod's configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// `ENGINE_PREDICTOR` is not set.
    #[error("ENGINE_PREDICTOR is not set: it holds the predictor as base64 JSON (the operator sets it)")]
    MissingPredictor,
    /// `ENGINE_PREDICTOR` is not base64.
    #[error("ENGINE_PREDICTOR is not base64: {0}")]
    NotBase64(#[source] base64::DecodeError),
    /// `ENGINE_PREDICTOR` is not a predictor.
    #[error("ENGINE_PREDICTOR is not a predictor as JSON: {0}")]
    NotPredictor(#[source] serde_json::Error),
    /// `--predictor` names another predictor.
    #[error("--predictor {given:?} does not match ENGINE_PREDICTOR's predictor {found:?}")]
    OtherPredictor {
        /// The flag.
        given: String,
        /// ENGINE_PREDICTOR's.
        found: String,
    },
    /// A node has no endpoint.
    #[error("node {node} of predictor {predictor} has no endpoint")]
    NoEndpoint {
        /// The node.
        node: String,
        /// The predictor.
        predictor: String,
    },
    /// An endpoint's port is not a port.
    #[error("node {node}: endpoint port {port} is not between 1 and 65535")]
    BadPort {
        /// The node.
        node: String,
        /// The port.
        port: i32,
    },
}

/// Decode `ENGINE_PREDICTOR` and check it is predictor `name`.
pub fn predictor(encoded: Option<&str>, name: &str) -> Result<PredictorSpec, PodError> {
    let encoded = encoded.ok_or(PodError::MissingPredictor)?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(PodError::NotBase64)?;
    let predictor: PredictorSpec = serde_json::from_slice(&json).map_err(PodError::NotPredictor)?;
    if predictor.name != name {
        return Err(PodError::OtherPredictor {
            given: name.to_string(),
            found: predictor.name,
        });
    }
    Ok(predictor)
}

/// Each node's component: built in, or its container at its endpoint (Seldon's defaults:
/// `localhost`, the http port, else the service port, else 9000; for `endpoint.type: GRPC`
/// the grpc port, else the service port, else 9500).
pub fn components(predictor: &PredictorSpec) -> Result<BTreeMap<String, Component>, PodError> {
    predictor
        .graph
        .walk()
        .into_iter()
        .map(|node| Ok((node.name.clone(), component(predictor, node)?)))
        .collect()
}

fn component(predictor: &PredictorSpec, node: &PredictiveUnit) -> Result<Component, PodError> {
    if sluice_translate::graph::is_builtin(node.implementation.as_deref().unwrap_or("")) {
        return Ok(Component::Builtin);
    }
    let endpoint = node.endpoint.as_ref().ok_or_else(|| PodError::NoEndpoint {
        node: node.name.clone(),
        predictor: predictor.name.clone(),
    })?;
    let host = endpoint
        .service_host
        .clone()
        .unwrap_or_else(|| "localhost".to_string());
    let grpc = endpoint.kind.as_deref() == Some("GRPC");
    let port = if grpc {
        endpoint.grpc_port.or(endpoint.service_port).unwrap_or(9500)
    } else {
        endpoint.http_port.or(endpoint.service_port).unwrap_or(9000)
    };
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| PodError::BadPort {
            node: node.name.clone(),
            port,
        })?;
    let image = sluice_translate::graph::container(predictor, &node.name)
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    Ok(if grpc {
        Component::Grpc { host, port, image }
    } else {
        Component::Http { host, port, image }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    #[test]
    fn decodes_the_predictor_and_defaults_endpoints() {
        let json = r#"{"name":"p","graph":{"name":"m","type":"MODEL","endpoint":{"service_port":9001}},"componentSpecs":[{"spec":{"containers":[{"name":"m","image":"img:1"}]}}]}"#;
        let predictor = predictor(Some(&encode(json)), "p").expect("valid");
        let components = components(&predictor).expect("endpoints");
        match &components["m"] {
            Component::Http { host, port, image } => {
                assert_eq!(
                    (host.as_str(), *port, image.as_str()),
                    ("localhost", 9001, "img:1")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(matches!(predictor(None, "p"), Err(PodError::MissingPredictor)));
        assert!(matches!(predictor(Some("%%%"), "p"), Err(PodError::NotBase64(_))));
        assert!(matches!(
            predictor(Some(&encode("[]")), "p"),
            Err(PodError::NotPredictor(_))
        ));
        let other = encode(r#"{"name":"q","graph":{"name":"m"}}"#);
        assert!(matches!(
            predictor(Some(&other), "p"),
            Err(PodError::OtherPredictor { .. })
        ));
    }
}
