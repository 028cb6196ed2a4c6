//! The operator's configuration, with Seldon's names, as explicit data.
//!
//! Nothing here reads the environment: the binary maps flags and Seldon's
//! environment variables (`ISTIO_ENABLED`, `ISTIO_GATEWAY`, ...) onto [`Settings`].

use crate::servers::{ExplainerImages, PredictorServers, StorageInitializer};
use std::fmt;
use std::str::FromStr;

/// How the generated DestinationRules set up TLS to the predictor (`ISTIO_TLS_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text.
    Disable,
    /// TLS to the upstream.
    Simple,
    /// Mutual TLS with certificates the user provides.
    Mutual,
    /// Mutual TLS with Istio's certificates. `STRICT` (what Seldon's docs suggest) means this.
    IstioMutual,
}

impl TlsMode {
    /// The Istio `ClientTLSSettings.mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "DISABLE",
            TlsMode::Simple => "SIMPLE",
            TlsMode::Mutual => "MUTUAL",
            TlsMode::IstioMutual => "ISTIO_MUTUAL",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration value is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `ISTIO_TLS_MODE` is not one of the known modes.
    #[error(
        "ISTIO_TLS_MODE {0:?} is not valid: use DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL or STRICT (= ISTIO_MUTUAL), or leave it empty"
    )]
    TlsMode(String),
    /// `ISTIO_GATEWAY` is not `[namespace/]name`.
    #[error("ISTIO_GATEWAY {value:?} is not valid: {reason}")]
    Gateway {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl FromStr for TlsMode {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "DISABLE" => Ok(TlsMode::Disable),
            "SIMPLE" => Ok(TlsMode::Simple),
            "MUTUAL" => Ok(TlsMode::Mutual),
            "ISTIO_MUTUAL" | "STRICT" => Ok(TlsMode::IstioMutual),
            other => Err(SettingsError::TlsMode(other.to_string())),
        }
    }
}

/// What the translation needs to know about the installation.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `ISTIO_ENABLED`: produce VirtualServices and DestinationRules.
    pub istio_enabled: bool,
    /// `ISTIO_GATEWAY`: the gateway of SDeps without `seldon.io/istio-gateway`.
    pub istio_gateway: String,
    /// `ISTIO_TLS_MODE`: TLS of the DestinationRules; `None` leaves TLS to the mesh.
    pub istio_tls_mode: Option<TlsMode>,
    /// `ENGINE_SERVER_PORT`: the orchestrator's http port, on its container and its Service.
    pub engine_http_port: i32,
    /// `ENGINE_SERVER_GRPC_PORT`: the orchestrator's grpc port, on its container and its Service.
    pub engine_grpc_port: i32,
    /// `EXECUTOR_CONTAINER_IMAGE_AND_VERSION`: the orchestrator's image.
    pub engine_image: String,
    /// The orchestrator's command (the image's entrypoint when empty).
    pub engine_command: Vec<String>,
    /// `EXECUTOR_PROMETHEUS_PATH`: where the orchestrator and components serve metrics.
    pub prometheus_path: String,
    /// `PREDICTIVE_UNIT_HTTP_SERVICE_PORT`: the first http port given to components.
    pub unit_http_port: i32,
    /// `PREDICTIVE_UNIT_GRPC_SERVICE_PORT`: the first grpc port given to components.
    pub unit_grpc_port: i32,
    /// `PREDICTIVE_UNIT_METRICS_SERVICE_PORT`: the first metrics port given to components.
    pub unit_metrics_port: i32,
    /// `PREDICTIVE_UNIT_METRICS_PORT_NAME`: the name of the components' metrics port.
    pub metrics_port_name: String,
    /// The cluster's DNS domain (Seldon hard-codes `cluster.local`).
    pub cluster_domain: String,
    /// Prepackaged servers and their images (`seldon-config` `predictor_servers`).
    pub predictor_servers: PredictorServers,
    /// The init container that downloads `modelUri` (`seldon-config` `storageInitializer`).
    pub storage_initializer: StorageInitializer,
    /// The explainers' images (`seldon-config` `explainer`).
    pub explainer: ExplainerImages,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            istio_enabled: true,
            istio_gateway: "istio-system/seldon-gateway".to_string(),
            istio_tls_mode: None,
            engine_http_port: 8000,
            engine_grpc_port: 5001,
            engine_image: concat!("ghcr.io/sluice-project/sluice:", env!("CARGO_PKG_VERSION")).to_string(),
            engine_command: vec!["sluice".to_string(), "engine".to_string()],
            prometheus_path: "/prometheus".to_string(),
            unit_http_port: 9000,
            unit_grpc_port: 9500,
            unit_metrics_port: 6000,
            metrics_port_name: "metrics".to_string(),
            cluster_domain: "cluster.local".to_string(),
            predictor_servers: PredictorServers::default(),
            storage_initializer: StorageInitializer::default(),
            explainer: ExplainerImages::default(),
        }
    }
}

impl Settings {
    /// Check what cannot be checked by types alone.
    pub fn check(&self) -> Result<(), SettingsError> {
        crate::annotations::parse_gateway(&self.istio_gateway)
            .map(|_| ())
            .map_err(|reason| SettingsError::Gateway {
                value: self.istio_gateway.clone(),
                reason,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes_parse_and_strict_means_istio_mutual() {
        for (input, mode) in [
            ("DISABLE", TlsMode::Disable),
            ("SIMPLE", TlsMode::Simple),
            ("MUTUAL", TlsMode::Mutual),
            ("ISTIO_MUTUAL", TlsMode::IstioMutual),
            ("STRICT", TlsMode::IstioMutual),
        ] {
            assert_eq!(input.parse::<TlsMode>(), Ok(mode), "{input}");
        }
        for bad in ["istio_mutual", "PERMISSIVE", " SIMPLE", "x"] {
            let err = bad.parse::<TlsMode>().expect_err(bad);
            assert!(err.to_string().contains("ISTIO_MUTUAL or STRICT"), "{err}");
        }
    }

    #[test]
    fn default_gateway_is_the_documented_one_and_valid() {
        let settings = Settings::default();
        assert_eq!(settings.istio_gateway, "istio-system/seldon-gateway");
        assert!(settings.istio_enabled);
        assert_eq!(settings.check(), Ok(()));
        let bad = Settings {
            istio_gateway: "a/b/c".into(),
            ..Settings::default()
        };
        assert!(matches!(bad.check(), Err(SettingsError::Gateway { .. })));
    }
}
