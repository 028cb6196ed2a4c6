//! A SeldonDeployment's status as Seldon Core 1 writes it (spec §5.7), worked out from
//! what was observed — pure: the clock and the previous status are passed in.
//!
//! ```text
//!  Observed { deployments (with their status), Istio } + Desired ──> status()
//!      ──> SeldonDeploymentStatus { state, description, address, deploymentStatus,
//!                                   serviceStatus, replicas, conditions }
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use sluice_api::SeldonDeployment;
use sluice_api::seldon::{Address, Condition, DeploymentStatus, SeldonDeploymentStatus, ServiceStatus};
use sluice_translate::{Desired, names};

/// The Istio side of one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Istio {
    /// `ISTIO_ENABLED=false`: no Istio objects.
    Disabled,
    /// The VirtualService and DestinationRules are applied.
    Applied,
    /// Not applied yet: the predictors' Deployments are not all available (B1).
    WaitingForDeployments,
    /// Istio's CRDs are not installed in the cluster.
    CrdsMissing,
}

/// What one pass observed.
#[derive(Clone, Debug)]
pub struct Observed {
    /// Every desired Deployment as the API server has it now (`None`: not there).
    pub deployments: BTreeMap<String, Option<Deployment>>,
    /// The Istio objects' state.
    pub istio: Istio,
}

/// Is the Deployment ready in Seldon's sense: ready replicas, none unavailable?
pub fn ready(deployment: &Deployment) -> bool {
    let Some(status) = &deployment.status else {
        return false;
    };
    status.ready_replicas.unwrap_or(0) > 0 && status.unavailable_replicas.unwrap_or(0) == 0
}

/// Has the Deployment given up: both `Progressing` and `Available` false?
fn failed(deployment: &Deployment) -> bool {
    let conditions = deployment
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .cloned()
        .unwrap_or_default();
    let is_false = |kind: &str| conditions.iter().any(|c| c.type_ == kind && c.status == "False");
    is_false("Progressing") && is_false("Available")
}

/// The status after a pass that observed `observed`; `now` is RFC 3339 (conditions keep
/// their previous transition time when their status did not change).
pub fn status(
    sdep: &SeldonDeployment,
    desired: &Desired,
    observed: &Observed,
    now: &str,
) -> SeldonDeploymentStatus {
    let previous = sdep.status.clone().unwrap_or_default();
    let namespace = names::namespace(sdep);
    let mut out = SeldonDeploymentStatus::default();
    let mut first_not_ready: Option<&Deployment> = None;
    let mut all_ready = true;
    for d in &desired.deployments {
        let name = d.metadata.name.clone().unwrap_or_default();
        let seen = observed.deployments.get(&name).cloned().flatten();
        let (replicas, available) = seen
            .as_ref()
            .and_then(|d| d.status.as_ref())
            .map_or((None, None), |s| (s.replicas, s.available_replicas));
        out.deployment_status.insert(
            name,
            DeploymentStatus {
                replicas: replicas.or(Some(0)),
                available_replicas: available.or(Some(0)),
                ..DeploymentStatus::default()
            },
        );
        let is_ready = seen.as_ref().is_some_and(ready);
        if !is_ready {
            all_ready = false;
            if first_not_ready.is_none() {
                first_not_ready = observed
                    .deployments
                    .get(d.metadata.name.as_deref().unwrap_or(""))
                    .and_then(Option::as_ref);
            }
        }
    }
    for s in &desired.services {
        let name = s.metadata.name.clone().unwrap_or_default();
        let port = |port_name: &str| {
            s.spec
                .as_ref()
                .and_then(|spec| spec.ports.as_ref())
                .and_then(|ports| ports.iter().find(|p| p.name.as_deref() == Some(port_name)))
                .map(|p| format!("{name}.{namespace}:{}", p.port))
        };
        out.service_status.insert(
            name.clone(),
            ServiceStatus {
                svc_name: Some(name.clone()),
                http_endpoint: port("http"),
                grpc_endpoint: port("grpc"),
                ..ServiceStatus::default()
            },
        );
    }
    out.replicas = desired
        .deployments
        .first()
        .and_then(|d| observed.deployments.get(d.metadata.name.as_deref().unwrap_or("")))
        .and_then(|d| d.as_ref()?.status.as_ref()?.replicas);
    out.address = address(sdep, desired);
    let (state, description) = if all_ready {
        ("Available", None)
    } else if first_not_ready.is_some_and(failed) {
        (
            "Failed",
            Some("Deployment is no longer progressing and not available.".to_string()),
        )
    } else {
        ("Creating", None)
    };
    out.state = Some(state.to_string());
    out.description = description;
    out.conditions = conditions(desired, observed, all_ready, first_not_ready, &previous, now);
    out
}

/// The status of a pass that failed with `error` (Seldon's `updateStatusForError`).
pub fn failed_with(sdep: &SeldonDeployment, error: &str) -> SeldonDeploymentStatus {
    let mut out = sdep.status.clone().unwrap_or_default();
    out.state = Some("Failed".to_string());
    out.description = Some(error.to_string());
    out
}

/// The prediction URL of the first predictor that is not a shadow (Seldon uses
/// `predictors[0]` even when it is the shadow, B26).
pub fn address(sdep: &SeldonDeployment, desired: &Desired) -> Option<Address> {
    let predictor = sdep.spec.predictors.iter().find(|p| !p.is_shadow())?;
    let key = names::predictor_key(sdep, predictor);
    let service = desired
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(key.as_str()))?;
    let port = service
        .spec
        .as_ref()?
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.name.as_deref() == Some("http"))?
        .port;
    let path = match sdep.spec.protocol.as_deref() {
        Some("tensorflow") => format!("/v1/models/{}:predict", predictor.graph.name),
        Some("v2" | "kfserving") => format!("/v2/models/{}/infer", predictor.graph.name),
        _ => "/api/v1.0/predictions".to_string(),
    };
    Some(Address {
        url: Some(format!(
            "http://{key}.{}.svc.cluster.local:{port}{path}",
            names::namespace(sdep)
        )),
    })
}

fn condition(kind: &str, ok: bool, reason: &str, message: Option<String>) -> Condition {
    Condition {
        kind: kind.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: (!reason.is_empty()).then(|| reason.to_string()),
        message,
        last_transition_time: None,
        severity: None,
    }
}

/// Seldon's conditions, sorted by type (upper case before lower case).
fn conditions(
    desired: &Desired,
    observed: &Observed,
    all_ready: bool,
    first_not_ready: Option<&Deployment>,
    previous: &SeldonDeploymentStatus,
    now: &str,
) -> Vec<Condition> {
    let available = |d: Option<&Deployment>| {
        d.and_then(|d| {
            d.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Available")
                .cloned()
        })
    };
    let deployments = if all_ready {
        let newest = desired
            .deployments
            .iter()
            .filter_map(|d| {
                available(
                    observed
                        .deployments
                        .get(d.metadata.name.as_deref().unwrap_or(""))?
                        .as_ref(),
                )
            })
            .max_by_key(|c| c.last_transition_time.as_ref().map(|t| t.0));
        match newest {
            Some(c) => condition("DeploymentsReady", true, &c.reason.unwrap_or_default(), c.message),
            None => condition("DeploymentsReady", true, "", None),
        }
    } else {
        match available(first_not_ready) {
            Some(c) => condition(
                "DeploymentsReady",
                false,
                &c.reason.unwrap_or_default(),
                c.message,
            ),
            None => condition("DeploymentsReady", false, "Not all deployments ready", None),
        }
    };
    let services = condition("ServicesReady", true, "All services created", None);
    let istio = match observed.istio {
        Istio::Disabled => condition(
            "istioVirtualServicesReady",
            true,
            "No VirtualServices defined",
            None,
        ),
        Istio::Applied => condition(
            "istioVirtualServicesReady",
            true,
            "All VirtualServices created",
            None,
        ),
        Istio::WaitingForDeployments => condition(
            "istioVirtualServicesReady",
            false,
            "Not all VirtualServices created",
            Some("waiting for the predictors' Deployments to be available".to_string()),
        ),
        Istio::CrdsMissing => condition(
            "istioVirtualServicesReady",
            false,
            "Not all VirtualServices created",
            Some("Istio's CRDs (networking.istio.io/v1) are not installed; the operator retries".to_string()),
        ),
    };
    let mut out = vec![
        condition(
            "AmbassadorMappingsReady",
            true,
            "No Ambassador Mappaings defined",
            None,
        ),
        deployments,
        condition("HpasReady", true, "No HPAs defined", None),
        condition("KedaReady", true, "No KEDA resources defined", None),
        condition("PdbsReady", true, "No PDBs defined", None),
        services,
        istio,
    ];
    // Ready: every other condition true, else the first false one's reason and message.
    let ready = match out.iter().find(|c| c.status == "False") {
        None => condition("Ready", true, "", None),
        Some(c) => condition(
            "Ready",
            false,
            c.reason.as_deref().unwrap_or(""),
            c.message.clone(),
        ),
    };
    out.push(ready);
    out.sort_by(|a, b| a.kind.cmp(&b.kind));
    for c in &mut out {
        let before = previous.conditions.iter().find(|p| p.kind == c.kind);
        c.last_transition_time = match before {
            Some(p) if p.status == c.status => p.last_transition_time.clone(),
            _ => Some(now.to_string()),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DeploymentCondition;
    use k8s_openapi::api::apps::v1::DeploymentStatus as KubeStatus;
    use sluice_translate::Settings;
    use sluice_translate::fixture::sdep;

    use super::*;

    fn deployment(ready: bool, failed: bool) -> Deployment {
        let cond = |kind: &str, ok: bool| DeploymentCondition {
            type_: kind.to_string(),
            status: if ok { "True" } else { "False" }.to_string(),
            reason: Some(
                if ok {
                    "MinimumReplicasAvailable"
                } else {
                    "ProgressDeadlineExceeded"
                }
                .to_string(),
            ),
            message: Some("m".to_string()),
            ..DeploymentCondition::default()
        };
        Deployment {
            status: Some(KubeStatus {
                replicas: Some(1),
                ready_replicas: Some(i32::from(ready)),
                available_replicas: Some(i32::from(ready)),
                conditions: Some(vec![cond("Available", ready), cond("Progressing", !failed)]),
                ..KubeStatus::default()
            }),
            ..Deployment::default()
        }
    }

    fn canary() -> (SeldonDeployment, Desired) {
        let s = sdep("example")
            .namespace("seldon")
            .predictor("shadow", None)
            .shadow()
            .predictor("main", Some(75))
            .predictor("canary", Some(25))
            .build();
        let d = sluice_translate::desired(&s, &Settings::default()).expect("valid");
        (s, d)
    }

    fn observed(desired: &Desired, make: impl Fn(usize) -> Option<Deployment>, istio: Istio) -> Observed {
        Observed {
            deployments: desired
                .deployments
                .iter()
                .enumerate()
                .map(|(i, d)| (d.metadata.name.clone().unwrap_or_default(), make(i)))
                .collect(),
            istio,
        }
    }

    #[test]
    fn available_when_every_deployment_is_ready() {
        let (s, d) = canary();
        let st = status(
            &s,
            &d,
            &observed(&d, |_| Some(deployment(true, false)), Istio::Applied),
            "t1",
        );
        assert_eq!(st.state.as_deref(), Some("Available"));
        assert_eq!(st.description, None);
        let kinds: Vec<&str> = st.conditions.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "AmbassadorMappingsReady",
                "DeploymentsReady",
                "HpasReady",
                "KedaReady",
                "PdbsReady",
                "Ready",
                "ServicesReady",
                "istioVirtualServicesReady"
            ]
        );
        assert!(
            st.conditions.iter().all(|c| c.status == "True"),
            "{:#?}",
            st.conditions
        );
        // The address names the first predictor that is not the shadow (B26).
        let url = st.address.and_then(|a| a.url).expect("url");
        assert!(
            url.starts_with("http://example-main.seldon.svc.cluster.local:8000/api/v1.0/predictions"),
            "{url}"
        );
        assert_eq!(st.deployment_status.len(), d.deployments.len());
    }

    #[test]
    fn creating_then_failed_with_seldons_description() {
        let (s, d) = canary();
        let creating = status(
            &s,
            &d,
            &observed(&d, |_| None, Istio::WaitingForDeployments),
            "t1",
        );
        assert_eq!(creating.state.as_deref(), Some("Creating"));
        let ready = creating
            .conditions
            .iter()
            .find(|c| c.kind == "Ready")
            .expect("Ready");
        assert_eq!(ready.status, "False");
        let failed = status(
            &s,
            &d,
            &observed(
                &d,
                |i| Some(deployment(i != 0, true)),
                Istio::WaitingForDeployments,
            ),
            "t2",
        );
        assert_eq!(failed.state.as_deref(), Some("Failed"));
        assert_eq!(
            failed.description.as_deref(),
            Some("Deployment is no longer progressing and not available.")
        );
    }

    #[test]
    fn transition_times_move_only_when_a_condition_changes() {
        let (mut s, d) = canary();
        let first = status(
            &s,
            &d,
            &observed(&d, |_| None, Istio::WaitingForDeployments),
            "t1",
        );
        s.status = Some(first);
        let second = status(
            &s,
            &d,
            &observed(&d, |_| Some(deployment(true, false)), Istio::Applied),
            "t2",
        );
        let time = |kind: &str| {
            second
                .conditions
                .iter()
                .find(|c| c.kind == kind)
                .and_then(|c| c.last_transition_time.clone())
        };
        assert_eq!(time("HpasReady").as_deref(), Some("t1"));
        assert_eq!(time("DeploymentsReady").as_deref(), Some("t2"));
    }
}
