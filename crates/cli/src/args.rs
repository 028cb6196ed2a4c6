//! Typed command-line values: every flag is parsed into its type by clap, so a bad value
//! is refused with the flag's name and what would be valid, before any work starts.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};
use sluice_translate::servers::{ExplainerImages, PredictorServers, StorageInitializer};
use sluice_translate::{Settings, TlsMode};

/// Gateway (or service) port → local port: `80=8080,443=8443`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PortMap(pub(crate) BTreeMap<u16, u16>);

/// clap's parser for sizes: `1048576`, `512Ki`, `64Mi`, `1Gi`.
pub(crate) fn size(value: &str) -> Result<u64, String> {
    sluice_translate::annotations::parse_size(value)
}

/// clap's parser for [`PortMap`].
pub(crate) fn port_map(value: &str) -> Result<PortMap, String> {
    let mut out = BTreeMap::new();
    for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
        let (from, to) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not PORT=LOCAL_PORT (e.g. 80=8080)"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number (PORT=LOCAL_PORT, e.g. 80=8080)"))
        };
        out.insert(port(from)?, port(to)?);
    }
    Ok(PortMap(out))
}

/// The protocol an orchestrator serves and speaks to its components.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Protocol {
    /// Seldon's protocol (`/api/v1.0/predictions`).
    Seldon,
    /// TensorFlow Serving's REST API.
    Tensorflow,
    /// The Open Inference Protocol (`/v2/models/<model>/infer`); `kfserving` is its old name.
    #[value(alias = "kfserving")]
    V2,
}

impl From<Protocol> for sluice_engine::graph::Protocol {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Seldon => sluice_engine::graph::Protocol::Seldon,
            Protocol::Tensorflow => sluice_engine::graph::Protocol::Tensorflow,
            Protocol::V2 => sluice_engine::graph::Protocol::V2,
        }
    }
}

/// How the orchestrator calls components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Transport {
    /// REST.
    Rest,
    /// gRPC.
    Grpc,
}

/// Seldon's executor server types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ServerType {
    /// Request/response over HTTP.
    Rpc,
    /// Kafka topics.
    Kafka,
}

/// Output format of `render`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum RenderFormat {
    /// Multi-document YAML.
    Yaml,
    /// One JSON `List`.
    Json,
}

/// Output format of `validate`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ValidateFormat {
    /// Compiler-style lines.
    Text,
    /// A JSON array of problems.
    Json,
}

/// Input files.
#[derive(Debug, Args)]
pub(crate) struct Files {
    /// A YAML or JSON file, a directory of them, or `-` for stdin. Repeatable.
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE|DIR|-")]
    pub(crate) files: Vec<std::path::PathBuf>,
    /// Namespace for objects that set none (like `kubectl -n`); must match objects that set one.
    #[arg(short, long)]
    pub(crate) namespace: Option<String>,
}

/// The operator's configuration; each flag also reads Seldon's environment variable.
#[derive(Debug, Args)]
pub(crate) struct SettingsArgs {
    /// Generate Istio VirtualServices and DestinationRules.
    #[arg(long, env = "ISTIO_ENABLED", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    istio_enabled: bool,
    /// Gateway of SDeps without `seldon.io/istio-gateway`: `[namespace/]name` or `mesh`.
    #[arg(long, env = "ISTIO_GATEWAY", default_value = "istio-system/seldon-gateway")]
    istio_gateway: String,
    /// TLS mode of the DestinationRules: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL or STRICT (= ISTIO_MUTUAL).
    #[arg(long, env = "ISTIO_TLS_MODE", value_name = "MODE", value_parser = tls_mode)]
    istio_tls_mode: Option<TlsModeArg>,
    /// The orchestrator's http port (container and predictor Service).
    #[arg(long, env = "ENGINE_SERVER_PORT", default_value_t = 8000)]
    engine_http_port: u16,
    /// The orchestrator's grpc port (container and predictor Service).
    #[arg(long, env = "ENGINE_SERVER_GRPC_PORT", default_value_t = 5001)]
    engine_grpc_port: u16,
    /// The orchestrator's container image.
    #[arg(long, env = "EXECUTOR_CONTAINER_IMAGE_AND_VERSION")]
    engine_image: Option<String>,
    /// Path of the Prometheus metrics of the orchestrator and components.
    #[arg(long, env = "EXECUTOR_PROMETHEUS_PATH", default_value = "/prometheus")]
    prometheus_path: String,
    /// First http port given to graph containers.
    #[arg(long, env = "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", default_value_t = 9000)]
    unit_http_port: u16,
    /// First grpc port given to graph containers.
    #[arg(long, env = "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", default_value_t = 9500)]
    unit_grpc_port: u16,
    /// First metrics port given to graph containers.
    #[arg(long, env = "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", default_value_t = 6000)]
    unit_metrics_port: u16,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// Prepackaged servers and their images, replacing Seldon 1.18.2's defaults: Seldon's
    /// `predictor_servers` JSON, or a `seldon-config` ConfigMap holding it.
    #[arg(long, env = "PREDICTOR_SERVERS_FILE", value_name = "FILE")]
    predictor_servers: Option<std::path::PathBuf>,
    /// The model initializer's image (the init container that downloads `modelUri`).
    #[arg(long, env = "RELATED_IMAGE_STORAGE_INITIALIZER", value_name = "IMAGE")]
    storage_initializer_image: Option<String>,
    /// The explainer image for the seldon and tensorflow protocols (when `containerSpec` has none).
    #[arg(long, env = "RELATED_IMAGE_EXPLAINER", value_name = "IMAGE")]
    explainer_image: Option<String>,
    /// The explainer image for protocol v2 (MLServer with the alibi-explain runtime).
    #[arg(long, env = "RELATED_IMAGE_EXPLAINER_V2", value_name = "IMAGE")]
    explainer_image_v2: Option<String>,
    /// The Secret given to model initializers of nodes without `envSecretRefName`.
    #[arg(
        long,
        env = "PREDICTIVE_UNIT_DEFAULT_ENV_SECRET_REF_NAME",
        value_name = "SECRET",
        default_value = ""
    )]
    default_env_secret_ref_name: String,
}

/// Read `--predictor-servers`: the JSON table, or a ConfigMap with `data.predictor_servers`.
fn predictor_servers(path: &std::path::Path) -> anyhow::Result<PredictorServers> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--predictor-servers {}", path.display()))?;
    let value: serde_json::Value = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--predictor-servers {}: not JSON or YAML: {e}", path.display()))?;
    let value = match value
        .pointer("/data/predictor_servers")
        .and_then(serde_json::Value::as_str)
    {
        Some(embedded) if value["kind"] == "ConfigMap" => serde_json::from_str(embedded).map_err(|e| {
            anyhow::anyhow!(
                "--predictor-servers {}: data.predictor_servers is not JSON: {e}",
                path.display()
            )
        })?,
        _ => value,
    };
    PredictorServers::from_value(value)
        .map_err(|e| anyhow::anyhow!("--predictor-servers {}: {e}", path.display()))
}

/// `--istio-tls-mode`: a mode, or none (an empty `ISTIO_TLS_MODE` is unset, as in Seldon).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TlsModeArg(Option<TlsMode>);

fn tls_mode(value: &str) -> Result<TlsModeArg, String> {
    if value.is_empty() {
        return Ok(TlsModeArg(None));
    }
    value
        .parse::<TlsMode>()
        .map(|m| TlsModeArg(Some(m)))
        .map_err(|e| e.to_string())
}

impl SettingsArgs {
    /// The translation's settings, checked.
    pub(crate) fn settings(&self) -> anyhow::Result<Settings> {
        let defaults = Settings::default();
        let settings = Settings {
            istio_enabled: self.istio_enabled,
            istio_gateway: self.istio_gateway.clone(),
            istio_tls_mode: self.istio_tls_mode.and_then(|m| m.0),
            engine_http_port: self.engine_http_port.into(),
            engine_grpc_port: self.engine_grpc_port.into(),
            engine_image: self.engine_image.clone().unwrap_or(defaults.engine_image.clone()),
            prometheus_path: self.prometheus_path.clone(),
            unit_http_port: self.unit_http_port.into(),
            unit_grpc_port: self.unit_grpc_port.into(),
            unit_metrics_port: self.unit_metrics_port.into(),
            cluster_domain: self.cluster_domain.clone(),
            predictor_servers: match &self.predictor_servers {
                Some(path) => predictor_servers(path)?,
                None => defaults.predictor_servers.clone(),
            },
            storage_initializer: StorageInitializer {
                image: self
                    .storage_initializer_image
                    .clone()
                    .filter(|i| !i.is_empty())
                    .unwrap_or(defaults.storage_initializer.image.clone()),
                default_env_secret_ref_name: self.default_env_secret_ref_name.clone(),
                ..defaults.storage_initializer.clone()
            },
            explainer: ExplainerImages {
                image: self
                    .explainer_image
                    .clone()
                    .filter(|i| !i.is_empty())
                    .unwrap_or(defaults.explainer.image.clone()),
                image_v2: self
                    .explainer_image_v2
                    .clone()
                    .filter(|i| !i.is_empty())
                    .unwrap_or(defaults.explainer.image_v2.clone()),
            },
            ..defaults
        };
        settings.check()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_maps() {
        assert_eq!(
            port_map("80=8080,443=8443").expect("valid"),
            PortMap(BTreeMap::from([(80, 8080), (443, 8443)]))
        );
        assert_eq!(port_map("").expect("empty"), PortMap::default());
        assert!(port_map("80").expect_err("no =").contains("PORT=LOCAL_PORT"));
        assert!(port_map("80=x").expect_err("not a port").contains("not a port"));
    }
}
