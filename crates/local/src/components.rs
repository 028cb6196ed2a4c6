//! Where the graph's containers run locally.
//!
//! Built-in implementations and `seldonio/mock_classifier` run inside sluice. Any other
//! container needs a mapping, given as `--component NAME=URL`, where NAME is a container
//! name or an image (with or without its tag) and URL the address of a process that serves
//! Seldon's component API (`/predict`, ...), e.g. one started with `seldon-core-microservice`.

use std::collections::BTreeMap;

use sluice_api::seldon::{PredictiveUnit, PredictorSpec};
use sluice_engine::Component;
use sluice_engine::mock::MockClassifier;

/// The image sluice runs in process.
pub const MOCK_IMAGE: &str = "seldonio/mock_classifier";

/// A component reached at `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Host or IP.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// `--component` mappings by container name or image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mappings(BTreeMap<String, Mapping>);

impl Mappings {
    /// Parse `NAME=http://host:port` values.
    pub fn parse(values: &[String]) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for v in values {
            let (name, url) = v.split_once('=').ok_or_else(|| {
                format!("--component {v:?}: write NAME=http://HOST:PORT (NAME: a container name or an image)")
            })?;
            let rest = url
                .strip_prefix("http://")
                .ok_or_else(|| format!("--component {v:?}: the URL must start with http://"))?;
            let authority = rest.trim_end_matches('/');
            let (host, port) = authority.rsplit_once(':').ok_or_else(|| {
                format!("--component {v:?}: the URL needs a port, e.g. http://127.0.0.1:9000")
            })?;
            let port: u16 = port
                .parse()
                .map_err(|_| format!("--component {v:?}: {port:?} is not a port"))?;
            out.insert(
                name.to_string(),
                Mapping {
                    host: host.to_string(),
                    port,
                },
            );
        }
        Ok(Mappings(out))
    }

    fn find(&self, container: &str, image: &str) -> Option<&Mapping> {
        let untagged = image.rsplit_once(':').map_or(image, |(name, _)| name);
        self.0
            .get(container)
            .or_else(|| self.0.get(image))
            .or_else(|| self.0.get(untagged))
    }
}

/// How each node of `predictor`'s graph is reached, or which one has no local mapping.
pub fn resolve(
    predictor: &PredictorSpec,
    mappings: &Mappings,
) -> Result<BTreeMap<String, Component>, String> {
    let mut out = BTreeMap::new();
    for node in predictor.graph.walk() {
        out.insert(node.name.clone(), component(predictor, node, mappings)?);
    }
    Ok(out)
}

fn component(
    predictor: &PredictorSpec,
    node: &PredictiveUnit,
    mappings: &Mappings,
) -> Result<Component, String> {
    let implementation = node.implementation.as_deref().unwrap_or("UNKNOWN_IMPLEMENTATION");
    let container = predictor
        .component_specs
        .iter()
        .flat_map(|s| s.spec.containers.iter())
        .find(|c| c.name == node.name);
    if container.is_none() && sluice_translate::graph::is_builtin(implementation) {
        return Ok(Component::Builtin);
    }
    let image = container.and_then(|c| c.image.clone()).unwrap_or_default();
    if let Some(m) = mappings.find(&node.name, &image) {
        return Ok(Component::Http {
            host: m.host.clone(),
            port: m.port,
            image,
        });
    }
    if image == MOCK_IMAGE || image.starts_with(&format!("{MOCK_IMAGE}:")) {
        return MockClassifier::new(&node.name, &image, &node.parameters)
            .map(Component::Mock)
            .map_err(|e| format!("predictor {} node {}: {e}", predictor.name, node.name));
    }
    Err(format!(
        "predictor {}: container {:?} (image {:?}) has no local mapping; run it and pass --component {}=http://127.0.0.1:PORT",
        predictor.name, node.name, image, node.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_parse_and_match_by_container_or_image() {
        let m = Mappings::parse(&[
            "classifier=http://127.0.0.1:9000".into(),
            "my/model=http://localhost:9001/".into(),
        ])
        .expect("valid");
        assert_eq!(
            m.find("classifier", "x:1"),
            Some(&Mapping {
                host: "127.0.0.1".into(),
                port: 9000
            })
        );
        assert_eq!(m.find("other", "my/model:2.0").map(|m| m.port), Some(9001));
        assert!(m.find("other", "other:1").is_none());
        for bad in ["x", "x=localhost:9000", "x=http://localhost", "x=http://h:port"] {
            assert!(Mappings::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
