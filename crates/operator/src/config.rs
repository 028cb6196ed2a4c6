//! The operator's configuration, read once at start-up from Seldon Core 1's operator
//! environment (spec §1.1) into typed values; every bad value is reported at once, and
//! every variable sluice does not act on is reported rather than ignored.
//!
//! The environment is passed in as a lookup function: nothing here reads `std::env`, so
//! tests set no process environment.

use sluice_translate::{Settings, TlsMode};

/// How the operator runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The translation's settings (Istio, ports, the orchestrator image).
    pub settings: Settings,
    /// `CONTROLLER_ID`: reconcile only SeldonDeployments labelled `seldon.io/controller-id`
    /// with this value (empty: those without the label).
    pub controller_id: String,
    /// `WATCH_NAMESPACE` (or `--namespace`): watch one namespace; `None`: all.
    pub namespace: Option<String>,
    /// `POD_NAMESPACE`: where the operator runs (its Lease, its webhook Service).
    pub operator_namespace: String,
    /// `POD_NAME`: this replica's identity for leader election and events.
    pub pod_name: String,
    /// How many SeldonDeployments are reconciled at once.
    pub concurrency: u16,
    /// How soon to look again for Istio's CRDs when they are missing.
    pub istio_retry: std::time::Duration,
}

/// The variables sluice reads, with Seldon's names.
pub mod env {
    /// Generate Istio objects (`true`/`false`).
    pub const ISTIO_ENABLED: &str = "ISTIO_ENABLED";
    /// The default gateway.
    pub const ISTIO_GATEWAY: &str = "ISTIO_GATEWAY";
    /// DestinationRule TLS mode.
    pub const ISTIO_TLS_MODE: &str = "ISTIO_TLS_MODE";
    /// Predictor Service http port.
    pub const ENGINE_SERVER_PORT: &str = "ENGINE_SERVER_PORT";
    /// Predictor Service grpc port.
    pub const ENGINE_SERVER_GRPC_PORT: &str = "ENGINE_SERVER_GRPC_PORT";
    /// The orchestrator image.
    pub const EXECUTOR_IMAGE: &str = "EXECUTOR_CONTAINER_IMAGE_AND_VERSION";
    /// The orchestrator image (OpenShift's name; wins when set).
    pub const RELATED_IMAGE_EXECUTOR: &str = "RELATED_IMAGE_EXECUTOR";
    /// The metrics path.
    pub const EXECUTOR_PROMETHEUS_PATH: &str = "EXECUTOR_PROMETHEUS_PATH";
    /// First http port of model containers.
    pub const UNIT_HTTP_PORT: &str = "PREDICTIVE_UNIT_HTTP_SERVICE_PORT";
    /// First grpc port of model containers.
    pub const UNIT_GRPC_PORT: &str = "PREDICTIVE_UNIT_GRPC_SERVICE_PORT";
    /// First metrics port of model containers.
    pub const UNIT_METRICS_PORT: &str = "PREDICTIVE_UNIT_METRICS_SERVICE_PORT";
    /// The metrics port's name.
    pub const UNIT_METRICS_PORT_NAME: &str = "PREDICTIVE_UNIT_METRICS_PORT_NAME";
    /// Which SDeps this operator reconciles.
    pub const CONTROLLER_ID: &str = "CONTROLLER_ID";
    /// One namespace to watch.
    pub const WATCH_NAMESPACE: &str = "WATCH_NAMESPACE";
    /// The operator's namespace.
    pub const POD_NAMESPACE: &str = "POD_NAMESPACE";
    /// The operator's pod.
    pub const POD_NAME: &str = "POD_NAME";
}

/// Seldon operator variables sluice accepts but does not act on: set to anything but
/// their default (the value given here), they are reported as warnings.
const NOT_APPLIED: &[(&str, &str, &str)] = &[
    (
        "AMBASSADOR_ENABLED",
        "false",
        "sluice does not generate Ambassador mappings",
    ),
    (
        "KEDA_ENABLED",
        "false",
        "sluice does not generate KEDA ScaledObjects yet",
    ),
    (
        "DEPLOYMENT_NAME_AS_PREFIX",
        "false",
        "Deployment names always follow Seldon's default",
    ),
    (
        "EXECUTOR_SERVER_PORT",
        "8000",
        "the orchestrator listens on ENGINE_SERVER_PORT (COMPATIBILITY.md 12)",
    ),
    (
        "EXECUTOR_SERVER_GRPC_PORT",
        "5001",
        "the orchestrator listens on ENGINE_SERVER_GRPC_PORT (COMPATIBILITY.md 12)",
    ),
    (
        "EXECUTOR_FULL_HEALTH_CHECKS",
        "false",
        "the orchestrator's readiness always checks its components",
    ),
    (
        "EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT",
        "http://default-broker",
        "request logging is not implemented",
    ),
    ("USAGE_METRICS_ENABLED", "false", "sluice never phones home"),
];

/// What the environment says, or every problem in it.
pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<(Config, Vec<String>), Vec<String>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let defaults = Settings::default();
    // As Seldon: a variable set but empty is the empty string (os.LookupEnv).
    let get = |name: &str| lookup(name);
    let mut port = |name: &str, default: i32| -> i32 {
        match get(name) {
            None => default,
            Some(v) => match v.trim().parse::<u16>() {
                Ok(p) if p > 0 => i32::from(p),
                _ => {
                    errors.push(format!("{name}={v:?} is not a port number (1-65535)"));
                    default
                }
            },
        }
    };
    let engine_http_port = port(env::ENGINE_SERVER_PORT, defaults.engine_http_port);
    let engine_grpc_port = port(env::ENGINE_SERVER_GRPC_PORT, defaults.engine_grpc_port);
    let unit_http_port = port(env::UNIT_HTTP_PORT, defaults.unit_http_port);
    let unit_grpc_port = port(env::UNIT_GRPC_PORT, defaults.unit_grpc_port);
    let unit_metrics_port = port(env::UNIT_METRICS_PORT, defaults.unit_metrics_port);
    let istio_enabled = match get(env::ISTIO_ENABLED).as_deref() {
        None => defaults.istio_enabled,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            errors.push(format!(
                "{}={other:?}: write true or false (Seldon compares the exact string \"true\")",
                env::ISTIO_ENABLED
            ));
            defaults.istio_enabled
        }
    };
    let istio_tls_mode = match get(env::ISTIO_TLS_MODE).as_deref() {
        None | Some("") => None,
        Some(v) => match v.parse::<TlsMode>() {
            Ok(m) => Some(m),
            Err(e) => {
                errors.push(format!("{}={v:?}: {e}", env::ISTIO_TLS_MODE));
                None
            }
        },
    };
    let engine_image = get(env::RELATED_IMAGE_EXECUTOR)
        .filter(|v| !v.is_empty())
        .or_else(|| get(env::EXECUTOR_IMAGE).filter(|v| !v.is_empty()))
        .unwrap_or(defaults.engine_image.clone());
    let settings = Settings {
        istio_enabled,
        istio_gateway: get(env::ISTIO_GATEWAY).unwrap_or(defaults.istio_gateway.clone()),
        istio_tls_mode,
        engine_http_port,
        engine_grpc_port,
        engine_image,
        prometheus_path: get(env::EXECUTOR_PROMETHEUS_PATH).unwrap_or(defaults.prometheus_path.clone()),
        unit_http_port,
        unit_grpc_port,
        unit_metrics_port,
        metrics_port_name: get(env::UNIT_METRICS_PORT_NAME).unwrap_or(defaults.metrics_port_name.clone()),
        ..defaults
    };
    if let Err(e) = settings.check() {
        errors.push(format!("{}: {e}", env::ISTIO_GATEWAY));
    }
    for (name, default, why) in NOT_APPLIED {
        if let Some(v) = get(name).filter(|v| !v.is_empty() && v != default) {
            warnings.push(format!("{name}={v:?} has no effect: {why}"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let config = Config {
        settings,
        controller_id: get(env::CONTROLLER_ID).unwrap_or_default(),
        namespace: get(env::WATCH_NAMESPACE).filter(|n| !n.is_empty()),
        operator_namespace: get(env::POD_NAMESPACE)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "seldon-system".to_string()),
        pod_name: get(env::POD_NAME)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("sluice-operator-{}", std::process::id())),
        concurrency: 4,
        istio_retry: std::time::Duration::from_secs(30),
    };
    Ok((config, warnings))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<(Config, Vec<String>), Vec<String>> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_env(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_without_environment() {
        let (config, warnings) = read(&[]).expect("valid");
        assert!(warnings.is_empty());
        assert_eq!(config.settings, Settings::default());
        assert_eq!(config.controller_id, "");
        assert_eq!(config.namespace, None);
        assert_eq!(config.operator_namespace, "seldon-system");
    }

    #[test]
    fn seldon_variables_are_read() {
        let (config, _) = read(&[
            ("ISTIO_ENABLED", "false"),
            ("ISTIO_GATEWAY", "istio-system/mygateway"),
            ("ISTIO_TLS_MODE", "STRICT"),
            ("ENGINE_SERVER_PORT", "8080"),
            ("EXECUTOR_CONTAINER_IMAGE_AND_VERSION", "example/sluice:1"),
            ("CONTROLLER_ID", "a"),
            ("WATCH_NAMESPACE", "models"),
        ])
        .expect("valid");
        assert!(!config.settings.istio_enabled);
        assert_eq!(config.settings.istio_gateway, "istio-system/mygateway");
        assert_eq!(config.settings.istio_tls_mode, Some(TlsMode::IstioMutual));
        assert_eq!(config.settings.engine_http_port, 8080);
        assert_eq!(config.settings.engine_image, "example/sluice:1");
        assert_eq!(
            (config.controller_id.as_str(), config.namespace.as_deref()),
            ("a", Some("models"))
        );
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let errors = read(&[
            ("ISTIO_ENABLED", "yes"),
            ("ISTIO_TLS_MODE", "PERMISSIVE"),
            ("ENGINE_SERVER_PORT", "80a"),
            ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "70000"),
            ("ISTIO_GATEWAY", "a/b/c"),
        ])
        .expect_err("invalid");
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("ENGINE_SERVER_PORT=\"80a\"")));
    }

    #[test]
    fn variables_without_effect_are_warnings() {
        let (_, warnings) =
            read(&[("KEDA_ENABLED", "true"), ("AMBASSADOR_ENABLED", "false")]).expect("valid");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("KEDA_ENABLED=\"true\" has no effect"));
    }
}
