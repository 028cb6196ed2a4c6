//! The `seldon-config` tables of prepackaged model servers and the storage initializer:
//! which image runs `implementation: SKLEARN_SERVER` for a protocol, and what downloads
//! a node's `modelUri` (spec `seldon-prepackaged.md` §1.2–§1.3, §3.3).
//!
//! The built-in defaults are Seldon Core 1.18.2's Helm values. A `predictor_servers` JSON
//! in Seldon's own format (`{"IMPL": {"protocols": {"seldon": {"image": …,
//! "defaultImageVersion": …}}}}`) replaces them, as editing the ConfigMap does.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The image of one server for one protocol.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerImage {
    /// Image name without tag.
    pub image: String,
    /// Tag appended with `:` (none when empty).
    #[serde(default)]
    pub default_image_version: String,
}

/// One prepackaged server: its image per protocol (`seldon`, `v2`/`kfserving`, `tensorflow`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ServerConfig {
    /// Images by protocol.
    #[serde(default)]
    pub protocols: BTreeMap<String, ServerImage>,
}

/// `predictor_servers`: the prepackaged servers by implementation name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PredictorServers(pub BTreeMap<String, ServerConfig>);

/// Seldon Core 1.18.2's Helm defaults: (implementation, protocol, image, version).
const SELDON_DEFAULTS: &[(&str, &str, &str, &str)] = &[
    (
        "HUGGINGFACE_SERVER",
        "v2",
        "seldonio/mlserver",
        "1.3.5-huggingface",
    ),
    ("MLFLOW_SERVER", "seldon", "seldonio/mlflowserver", "1.18.2"),
    ("MLFLOW_SERVER", "v2", "seldonio/mlserver", "1.3.5-mlflow"),
    ("SKLEARN_SERVER", "seldon", "seldonio/sklearnserver", "1.18.2"),
    ("SKLEARN_SERVER", "v2", "seldonio/mlserver", "1.3.5-sklearn"),
    ("TEMPO_SERVER", "v2", "seldonio/mlserver", "1.3.5-slim"),
    (
        "TENSORFLOW_SERVER",
        "seldon",
        "seldonio/tfserving-proxy",
        "1.18.2",
    ),
    ("TENSORFLOW_SERVER", "tensorflow", "tensorflow/serving", "2.1.0"),
    ("TRITON_SERVER", "v2", "nvcr.io/nvidia/tritonserver", "21.08-py3"),
    ("XGBOOST_SERVER", "seldon", "seldonio/xgboostserver", "1.18.2"),
    ("XGBOOST_SERVER", "v2", "seldonio/mlserver", "1.3.5-xgboost"),
];

impl Default for PredictorServers {
    fn default() -> Self {
        let mut servers: BTreeMap<String, ServerConfig> = BTreeMap::new();
        for (implementation, protocol, image, version) in SELDON_DEFAULTS {
            servers
                .entry(implementation.to_string())
                .or_default()
                .protocols
                .insert(
                    protocol.to_string(),
                    ServerImage {
                        image: image.to_string(),
                        default_image_version: version.to_string(),
                    },
                );
        }
        PredictorServers(servers)
    }
}

impl PredictorServers {
    /// Read Seldon's `predictor_servers` JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(Self::from_value)
    }

    /// Read a `predictor_servers` table already parsed (from JSON or YAML).
    pub fn from_value(value: serde_json::Value) -> Result<Self, String> {
        serde_json::from_value(value).map_err(|e| {
            format!(
                "not a predictor_servers table ({e}); write {{\"SKLEARN_SERVER\": {{\"protocols\": {{\"seldon\": {{\"image\": \"seldonio/sklearnserver\", \"defaultImageVersion\": \"1.18.2\"}}}}}}}}"
            )
        })
    }

    /// Is `implementation` configured (Seldon's webhook rule 14)?
    pub fn contains(&self, implementation: &str) -> bool {
        self.0.contains_key(implementation)
    }

    /// The configured implementation names.
    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }

    /// `image:version` for `implementation` speaking `protocol` (empty means `seldon`);
    /// `v2` and `kfserving` stand in for each other. `None` when nothing is configured.
    pub fn image(&self, implementation: &str, protocol: &str) -> Option<String> {
        let protocols = &self.0.get(implementation)?.protocols;
        let protocol = if protocol.is_empty() { "seldon" } else { protocol };
        let entry = protocols.get(protocol).or_else(|| match protocol {
            "v2" => protocols.get("kfserving"),
            "kfserving" => protocols.get("v2"),
            _ => None,
        })?;
        if entry.image.is_empty() {
            return None;
        }
        Some(if entry.default_image_version.is_empty() {
            entry.image.clone()
        } else {
            format!("{}:{}", entry.image, entry.default_image_version)
        })
    }
}

/// The init container that copies `modelUri` into the pod (`storageInitializer` of
/// `seldon-config`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageInitializer {
    /// Its image, unless a node sets `storageInitializerImage`.
    pub image: String,
    /// `resources.requests.cpu`.
    pub cpu_request: String,
    /// `resources.limits.cpu`.
    pub cpu_limit: String,
    /// `resources.requests.memory`.
    pub memory_request: String,
    /// `resources.limits.memory`.
    pub memory_limit: String,
    /// The Secret given to every initializer whose node sets no `envSecretRefName`
    /// (`PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME`); none when empty.
    pub default_env_secret_ref_name: String,
}

impl Default for StorageInitializer {
    fn default() -> Self {
        StorageInitializer {
            image: "seldonio/rclone-storage-initializer:1.18.2".to_string(),
            cpu_request: "100m".to_string(),
            cpu_limit: "1".to_string(),
            memory_request: "100Mi".to_string(),
            memory_limit: "1Gi".to_string(),
            default_env_secret_ref_name: String::new(),
        }
    }
}

/// The explainer images (`explainer` of `seldon-config`), used when `containerSpec` has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplainerImages {
    /// Seldon's alibi explainer server, for the seldon and tensorflow protocols.
    pub image: String,
    /// MLServer with the alibi-explain runtime, for v2.
    pub image_v2: String,
}

impl Default for ExplainerImages {
    fn default() -> Self {
        ExplainerImages {
            image: "seldonio/alibiexplainer:1.18.2".to_string(),
            image_v2: "seldonio/mlserver:1.3.5-alibi-explain".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_follow_seldons_table_and_protocol_fallbacks() {
        let servers = PredictorServers::default();
        assert_eq!(
            servers.image("SKLEARN_SERVER", "").as_deref(),
            Some("seldonio/sklearnserver:1.18.2")
        );
        assert_eq!(
            servers.image("SKLEARN_SERVER", "kfserving").as_deref(),
            Some("seldonio/mlserver:1.3.5-sklearn")
        );
        assert_eq!(
            servers.image("TENSORFLOW_SERVER", "tensorflow").as_deref(),
            Some("tensorflow/serving:2.1.0")
        );
        assert_eq!(servers.image("HUGGINGFACE_SERVER", "seldon"), None);
        assert_eq!(servers.image("TRITON_SERVER", "tensorflow"), None);
        assert_eq!(servers.image("MY_SERVER", "seldon"), None);
        assert_eq!(servers.names().len(), 7);
    }

    #[test]
    fn a_users_table_replaces_the_defaults() {
        let servers = PredictorServers::parse(
            r#"{"MY_SERVER": {"protocols": {"kfserving": {"image": "me/server", "defaultImageVersion": ""}}}}"#,
        )
        .expect("Seldon's format");
        assert_eq!(servers.image("MY_SERVER", "v2").as_deref(), Some("me/server"));
        assert!(!servers.contains("SKLEARN_SERVER"));
        // Seldon's documented old format has no `protocols`: the entry exists, no image.
        let old = PredictorServers::parse(r#"{"MY_SERVER": {"rest": {"image": "x"}}}"#).expect("parses");
        assert!(old.contains("MY_SERVER") && old.image("MY_SERVER", "seldon").is_none());
        let err = PredictorServers::parse("[1, 2]").expect_err("not a map");
        assert!(err.contains("SKLEARN_SERVER"), "{err}");
        let err = PredictorServers::parse("{").expect_err("not JSON");
        assert!(err.starts_with("not JSON"), "{err}");
    }
}
