//! The annotations sluice reads, and the typed Istio options parsed from them.
//!
//! SDep-level annotations are looked up as Seldon does: `spec.annotations` wins over
//! `metadata.annotations` when it has the key, even with an empty value (spec §1.2).

use std::time::Duration;

use sluice_api::Diagnostic;
use sluice_api::SeldonDeployment;
use sluice_api::document::FieldPath;
use sluice_api::istio::RetryOn;

use crate::dns;

/// The Istio gateway(s) of the VirtualService: `[namespace/]name`, or `mesh`.
pub const ISTIO_GATEWAY: &str = "seldon.io/istio-gateway";
/// The VirtualService hosts, comma-separated.
pub const ISTIO_HOST: &str = "seldon.io/istio-host";
/// Retry attempts.
pub const ISTIO_RETRIES: &str = "seldon.io/istio-retries";
/// Per-try timeout: whole seconds as in Seldon, or a duration (`500ms`).
pub const ISTIO_RETRIES_TIMEOUT: &str = "seldon.io/istio-retries-timeout";
/// Conditions to retry on (sluice; Seldon hard-codes them).
pub const ISTIO_RETRY_ON: &str = "seldon.io/istio-retry-on";
/// Route timeout (sluice; Seldon sets none).
pub const ISTIO_TIMEOUT: &str = "seldon.io/istio-timeout";
/// Predictor annotation: the name of the predictor Service and DestinationRule.
pub const SVC_NAME: &str = "seldon.io/svc-name";
/// Predictor annotation: route straight to the single graph container.
pub const NO_ENGINE: &str = "seldon.io/no-engine";
/// Make the predictor Service headless.
pub const HEADLESS_SVC: &str = "seldon.io/headless-svc";
/// Run the orchestrator in its own Deployment.
pub const ENGINE_SEPARATE_POD: &str = "seldon.io/engine-separate-pod";

/// The largest request body the orchestrator reads, in bytes or with a `Ki`/`Mi`/`Gi`
/// suffix (sluice; Seldon's executor reads any size). Beside Seldon's
/// `seldon.io/grpc-max-message-size`, which limits gRPC messages the same way.
pub const REST_MAX_BODY_SIZE: &str = "seldon.io/rest-max-body-size";

/// The largest gRPC message, in bytes (Seldon's annotation).
pub const GRPC_MAX_MESSAGE_SIZE: &str = "seldon.io/grpc-max-message-size";

/// What Seldon retries on when `seldon.io/istio-retries` is set.
pub const SELDON_RETRY_ON: &str = "gateway-error,connect-failure,refused-stream";

/// Annotations of Seldon Core 1 that only matter inside a pod or to other ingresses;
/// sluice accepts them without effect on the Istio translation.
const OTHER_SELDON_ANNOTATIONS: &[&str] = &[
    "seldon.io/rest-timeout",
    "seldon.io/grpc-timeout",
    GRPC_MAX_MESSAGE_SIZE,
    "seldon.io/grpc-read-timeout",
    "seldon.io/rest-read-timeout",
    "seldon.io/rest-connection-timeout",
    "seldon.io/executor-logger-queue-size",
    "seldon.io/executor-logger-write-timeout-ms",
    // Read by the TRITON_SERVER injection from spec.annotations (`prepack`).
    crate::prepack::NO_STORAGE_INITIALIZER,
];

/// SDep-level annotations: read from `spec.annotations` / `metadata.annotations`.
pub const SDEP_LEVEL: &[&str] = &[
    ISTIO_GATEWAY,
    ISTIO_HOST,
    ISTIO_RETRIES,
    ISTIO_RETRIES_TIMEOUT,
    ISTIO_RETRY_ON,
    ISTIO_TIMEOUT,
    HEADLESS_SVC,
    ENGINE_SEPARATE_POD,
    REST_MAX_BODY_SIZE,
];

/// Predictor-level annotations: read from `spec.predictors[*].annotations`.
pub const PREDICTOR_LEVEL: &[&str] = &[SVC_NAME, NO_ENGINE];

/// A boolean annotation: `true` in any case. Validation reports values other than true/false.
pub fn flag(map: &std::collections::BTreeMap<String, String>, key: &str) -> bool {
    map.get(key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Is `key` an annotation sluice knows? Unknown `seldon.io/` keys are reported as warnings.
pub fn is_known(key: &str) -> bool {
    !key.starts_with("seldon.io/")
        || key.starts_with("seldon.io/engine-")
        || SDEP_LEVEL.contains(&key)
        || PREDICTOR_LEVEL.contains(&key)
        || OTHER_SELDON_ANNOTATIONS.contains(&key)
}

/// Why an annotation [`is_known`] refuses has no effect.
pub fn unknown_message(key: &str) -> &'static str {
    if key.starts_with("seldon.io/ambassador-") {
        "an Ambassador annotation: Seldon Core 1 reads it only with its Ambassador ingress; with Istio (and in sluice) it has no effect"
    } else {
        "not an annotation Seldon Core 1 or sluice knows; it has no effect"
    }
}

/// An SDep-level annotation value and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found<'a> {
    /// The value.
    pub value: &'a str,
    /// `spec.annotations[...]` or `metadata.annotations[...]`.
    pub path: FieldPath,
}

/// Look an SDep-level annotation up: `spec.annotations` first, then `metadata.annotations`.
pub fn lookup<'a>(sdep: &'a SeldonDeployment, key: &str) -> Option<Found<'a>> {
    if let Some(value) = sdep.spec.annotations.get(key) {
        return Some(Found {
            value,
            path: FieldPath::parse("spec.annotations").key(key),
        });
    }
    sdep.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(|value| Found {
            value,
            path: FieldPath::parse("metadata.annotations").key(key),
        })
}

/// `seldon.io/rest-max-body-size` of `sdep`, when set to a valid size (validation
/// reports the others).
pub fn max_body_size(sdep: &SeldonDeployment) -> Option<u64> {
    lookup(sdep, REST_MAX_BODY_SIZE).and_then(|found| parse_size(found.value).ok())
}

/// A `seldon.io/grpc-max-message-size` value: the largest gRPC message the orchestrator
/// takes or sends, when it is a positive 32-bit integer (Seldon's rule).
pub fn parse_grpc_max_message_size(value: &str) -> Option<u64> {
    value
        .parse::<i32>()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// `1048576`, `512Ki`, `64Mi`, `1Gi`: a positive number of bytes.
pub fn parse_size(value: &str) -> Result<u64, String> {
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => value.split_at(at),
        None => (value, ""),
    };
    let scale: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit {unit:?}: write bytes, or a number with Ki, Mi or Gi (e.g. \"64Mi\")"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| "a positive size in bytes, or with Ki, Mi or Gi (e.g. \"64Mi\")".to_string())
}

/// Retry policy of the generated routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retries {
    /// Attempts; 0 turns Istio's default retries off.
    pub attempts: i32,
    /// Per-try timeout.
    pub per_try_timeout: Duration,
    /// Istio `retryOn`.
    pub retry_on: String,
}

/// The Istio options of one SDep, parsed from its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IstioOptions {
    /// `spec.gateways`; `None` means the `ISTIO_GATEWAY` setting.
    pub gateways: Option<Vec<String>>,
    /// `spec.hosts`.
    pub hosts: Vec<String>,
    /// Route retries; `None` leaves Istio's defaults.
    pub retries: Option<Retries>,
    /// Route timeout; `None` means no timeout (Istio's default).
    pub timeout: Option<Duration>,
}

/// Parse the Istio annotations; every problem is reported, and what parsed is kept.
pub fn istio_options(sdep: &SeldonDeployment) -> (IstioOptions, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut bad = |found: &Found<'_>, message: String| {
        problems.push(Diagnostic::error(found.path.clone(), message).with_value(found.value));
    };

    let gateways = lookup(sdep, ISTIO_GATEWAY).map(|found| {
        let list = split_list(found.value);
        for gateway in &list {
            if let Err(why) = parse_gateway(gateway) {
                bad(&found, format!("gateway {gateway:?}: {why}"));
            }
        }
        list
    });
    let mesh = gateways.as_ref().is_some_and(|g| g.iter().any(|g| g == "mesh"));

    let hosts = match lookup(sdep, ISTIO_HOST) {
        None => vec!["*".to_string()],
        Some(found) => {
            let list = split_list(found.value);
            for host in &list {
                if let Err(why) = dns::check_host(host) {
                    bad(
                        &found,
                        format!(
                            "host {host:?} is not valid: {why}; use '*', '*.example.com' or a DNS name, comma-separated"
                        ),
                    );
                } else if mesh && host == "*" {
                    bad(&found, "Istio rejects the wildcard host '*' on a VirtualService bound to the mesh gateway; name the service host".to_string());
                }
            }
            list
        }
    };
    if mesh
        && lookup(sdep, ISTIO_HOST).is_none()
        && let Some(found) = lookup(sdep, ISTIO_GATEWAY)
    {
        bad(
            &found,
            format!(
                "the mesh gateway needs {ISTIO_HOST}: Istio rejects the default wildcard host '*' for mesh routing"
            ),
        );
    }

    let timeout = lookup(sdep, ISTIO_TIMEOUT).and_then(|found| match parse_duration(found.value) {
        Ok(d) => Some(d),
        Err(why) => {
            bad(&found, why);
            None
        }
    });

    // An empty value is unset, as in Seldon.
    let retries_set = lookup(sdep, ISTIO_RETRIES).filter(|f| !f.value.is_empty());
    let attempts = retries_set
        .clone()
        .and_then(|found| match found.value.parse::<i32>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                bad(
                    &found,
                    "retry attempts must be a whole number, 0 or more (0 turns Istio's default retries off)"
                        .to_string(),
                );
                None
            }
        });
    let per_try = lookup(sdep, ISTIO_RETRIES_TIMEOUT);
    let retry_on = lookup(sdep, ISTIO_RETRY_ON);
    if retries_set.is_none() {
        // Not read without attempts (as in Seldon), but not silently either.
        for (key, found) in [(ISTIO_RETRIES_TIMEOUT, &per_try), (ISTIO_RETRY_ON, &retry_on)] {
            if let Some(found) = found {
                warnings.push(Diagnostic::warning(
                    found.path.clone(),
                    format!("{key} has no effect without {ISTIO_RETRIES}; set the number of attempts too"),
                ));
            }
        }
    }
    let per_try_timeout = match per_try.filter(|_| retries_set.is_some()) {
        None => Some(Duration::from_secs(1)),
        Some(found) => parse_duration(found.value).map_err(|why| bad(&found, why)).ok(),
    };
    let retry_on = match retry_on.filter(|_| retries_set.is_some()) {
        None => Some(SELDON_RETRY_ON.to_string()),
        // Spaces after commas are forgiven here, and dropped from the VirtualService
        // (Istio itself rejects them).
        Some(found) => RetryOn::parse(&found.value.replace(' ', ""))
            .map(|_| found.value.replace(' ', ""))
            .map_err(|why| bad(&found, why.to_string()))
            .ok(),
    };
    let retries = match (attempts, per_try_timeout, retry_on) {
        (Some(attempts), Some(per_try_timeout), Some(retry_on)) => Some(Retries {
            attempts,
            per_try_timeout,
            retry_on,
        }),
        _ => None,
    };

    problems.extend(warnings);
    (
        IstioOptions {
            gateways,
            hosts,
            retries,
            timeout,
        },
        problems,
    )
}

/// Split a comma-separated list, trimming each entry (empty entries are kept, to be reported).
fn split_list(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_string()).collect()
}

/// Check a gateway reference: `mesh`, `name` or `namespace/name`.
pub fn parse_gateway(value: &str) -> Result<(Option<&str>, &str), String> {
    if value == "mesh" {
        return Ok((None, value));
    }
    let (namespace, name) = match value.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, value),
    };
    if let Some(ns) = namespace {
        dns::check_label(ns)
            .map_err(|why| format!("namespace {ns:?}: {why}; write [namespace/]name or mesh"))?;
    }
    dns::check_object_name(name)
        .map_err(|why| format!("name {name:?}: {why}; write [namespace/]name or mesh"))?;
    Ok((namespace, name))
}

/// Parse a duration: whole seconds (`2`, as Seldon takes them) or Go/Istio style
/// (`500ms`, `1.5s`, `1m30s`). Istio requires at least 1ms.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "{value:?} is not a duration: write whole seconds (\"2\") or a duration such as \"500ms\", \"1.5s\", \"1m\""
        )
    };
    let duration = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| invalid())?
    } else {
        sluice_api::duration::parse(value).ok_or_else(invalid)?
    };
    if duration < Duration::from_millis(1) {
        return Err(format!("{value:?} is shorter than Istio's minimum of 1ms"));
    }
    Ok(duration)
}

/// Render a duration as protobuf JSON does: `2s`, `0.500s`.
pub fn render_duration(d: Duration) -> String {
    sluice_api::duration::render(d)
}

#[cfg(test)]
mod tests;
