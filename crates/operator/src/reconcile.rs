//! One reconcile of a SeldonDeployment: `translate::desired` (pure), then apply it with
//! server-side apply, in Seldon's order and with its bugs fixed (spec §5):
//!
//! ```text
//!  gates (controller id, namespace scope) ──> desired ──(invalid)──> status Failed + event
//!        │
//!        v
//!  Services, Deployments (SSA, field manager `sluice`, owner reference)
//!        │ all Deployments available?                       (B1: zero-downtime rollout)
//!        v yes
//!  DestinationRules, then the VirtualService (SSA)  ── Istio CRDs absent: say so, retry
//!        │
//!        v
//!  delete what this SDep owns and no longer wants (B8, B9) ──> status (§5.7), events
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_api::SeldonDeployment;
use sluice_api::seldon::SeldonDeploymentStatus;
use sluice_translate::{Desired, names};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::status::{self, Istio, Observed};

/// The field manager of every object sluice applies.
pub const FIELD_MANAGER: &str = "sluice";
/// The SDep label naming the operator that owns it (Seldon's `CONTROLLER_ID`).
pub const CONTROLLER_ID_LABEL: &str = "seldon.io/controller-id";

/// What a reconcile failed on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{action}: {source}")]
    Api {
        /// What was being done (`apply Deployment iris-default-0-classifier`).
        action: String,
        /// The API's answer.
        #[source]
        source: kube::Error,
    },
    /// An object of a desired name exists and is not this SeldonDeployment's.
    #[error(
        "{kind} {name:?} exists and is not owned by this SeldonDeployment; sluice does not take it over (delete or rename it)"
    )]
    Foreign {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
}

fn api_error(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Api { action, source }
}

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The operator's configuration.
    pub config: Config,
    /// Where events go.
    pub recorder: Recorder,
    /// Reconcile metrics.
    pub metrics: Arc<Metrics>,
    /// Consecutive failed reconciles per SeldonDeployment (`namespace/name`), for back-off.
    pub failures: std::sync::Mutex<BTreeMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The Istio kinds, as dynamic API resources.
fn istio_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("networking.istio.io", "v1", kind))
}

/// Are Istio's VirtualService and DestinationRule CRDs served?
pub async fn istio_installed(client: &Client) -> bool {
    match client.list_api_group_resources("networking.istio.io/v1").await {
        Ok(list) => ["virtualservices", "destinationrules"]
            .iter()
            .all(|r| list.resources.iter().any(|a| a.name == *r)),
        Err(_) => false,
    }
}

/// Should this operator reconcile `sdep` (spec §5.1)?
pub fn is_ours(sdep: &SeldonDeployment, config: &Config, namespace_controller: Option<&str>) -> bool {
    let label = sdep
        .labels()
        .get(CONTROLLER_ID_LABEL)
        .map(String::as_str)
        .unwrap_or("");
    if label != config.controller_id {
        return false;
    }
    // A cluster-wide operator leaves namespaces that name their own controller.
    !(config.namespace.is_none() && namespace_controller.is_some_and(|c| !c.is_empty()))
}

/// Reconcile one SeldonDeployment.
pub async fn reconcile(sdep: Arc<SeldonDeployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&sdep, &ctx).await;
    ctx.metrics.reconciled(started.elapsed(), result.is_ok());
    if result.is_ok() {
        ctx.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key(&sdep));
    }
    if let Err(e) = &result {
        tracing::warn!(sdep = %sdep.name_any(), namespace = %names::namespace(&sdep), error = %e, "reconcile failed");
        let failed = status::failed_with(&sdep, &e.to_string());
        let _ = write_status(&ctx, &sdep, failed).await;
        publish(&ctx, &sdep, EventType::Warning, "InternalError", e.to_string()).await;
    }
    result
}

async fn reconcile_inner(sdep: &SeldonDeployment, ctx: &Context) -> Result<Action, Error> {
    if sdep.meta().deletion_timestamp.is_some() {
        // Children go with the owner references.
        return Ok(Action::await_change());
    }
    let namespace = names::namespace(sdep).to_string();
    let namespace_controller = if ctx.config.namespace.is_none() {
        Api::<Namespace>::all(ctx.client.clone())
            .get_opt(&namespace)
            .await
            .map_err(api_error(format!("get namespace {namespace}")))?
            .and_then(|ns| ns.labels().get(CONTROLLER_ID_LABEL).cloned())
    } else {
        None
    };
    if !is_ours(sdep, &ctx.config, namespace_controller.as_deref()) {
        return Ok(Action::await_change());
    }
    let desired = match sluice_translate::desired(sdep, &ctx.config.settings) {
        Ok(d) => d,
        Err(invalid) => {
            let message = invalid.to_string();
            write_status(ctx, sdep, status::failed_with(sdep, &message)).await?;
            publish(ctx, sdep, EventType::Warning, "InvalidSeldonDeployment", message).await;
            return Ok(Action::await_change());
        }
    };
    let mut changes = Vec::new();
    for service in &desired.services {
        apply(ctx, &namespace, service, &mut changes).await?;
    }
    for deployment in &desired.deployments {
        apply(ctx, &namespace, deployment, &mut changes).await?;
    }
    let deployments = observe(ctx, &namespace, &desired).await?;
    let all_ready = deployments
        .values()
        .all(|d| d.as_ref().is_some_and(status::ready));
    let istio = if !ctx.config.settings.istio_enabled {
        Istio::Disabled
    } else if !istio_installed(&ctx.client).await {
        Istio::CrdsMissing
    } else if all_ready {
        // Make before break: the subsets exist before the routes use them.
        for dr in &desired.destination_rules {
            apply_istio(ctx, &namespace, "DestinationRule", dr, &mut changes).await?;
        }
        for vs in &desired.virtual_services {
            apply_istio(ctx, &namespace, "VirtualService", vs, &mut changes).await?;
        }
        Istio::Applied
    } else {
        Istio::WaitingForDeployments
    };
    // What is no longer wanted goes once the new routing is live (or Istio is off).
    if all_ready && istio != Istio::WaitingForDeployments {
        clean_up(ctx, sdep, &namespace, &desired, &istio, &mut changes).await?;
    }
    for (reason, note) in changes {
        publish(ctx, sdep, EventType::Normal, &reason, note).await;
    }
    let observed = Observed {
        deployments,
        istio: istio.clone(),
    };
    let now = jiff_now();
    let next = status::status(sdep, &desired, &observed, &now);
    let previous_state = sdep.status.as_ref().and_then(|s| s.state.clone());
    if write_status(ctx, sdep, next.clone()).await? && previous_state != next.state {
        let state = next.state.clone().unwrap_or_default();
        publish(
            ctx,
            sdep,
            EventType::Normal,
            "StateChanged",
            format!("SeldonDeployment is {state}"),
        )
        .await;
    }
    if istio == Istio::CrdsMissing {
        tracing::warn!(sdep = %sdep.name_any(), retry = ?ctx.config.istio_retry, "Istio is enabled but its CRDs are not installed");
        publish(
            ctx,
            sdep,
            EventType::Warning,
            "IstioNotInstalled",
            "ISTIO_ENABLED is true but Istio's CRDs (networking.istio.io/v1) are not installed; Deployments and Services are reconciled, the Istio objects wait".to_string(),
        )
        .await;
        return Ok(Action::requeue(ctx.config.istio_retry));
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn jiff_now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Server-side apply `object` (a typed Kubernetes object) and note a creation or a change.
async fn apply<K>(
    ctx: &Context,
    namespace: &str,
    object: &K,
    changes: &mut Vec<(String, String)>,
) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let kind = K::kind(&()).to_string();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let found = api
        .get_opt(&name)
        .await
        .map_err(api_error(format!("get {kind} {name}")))?;
    refuse_foreign(&kind, &name, found.as_ref().map(|o| o.meta()), object.meta())?;
    let before = found.and_then(|o| o.meta().resource_version.clone());
    let after = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
        .map_err(api_error(format!("apply {kind} {name}")))?;
    note(
        &kind,
        &name,
        before,
        after.meta().resource_version.clone(),
        changes,
    );
    Ok(())
}

/// An existing object that the desired one's owner does not control is not taken over
/// (Seldon overwrites its spec silently).
fn refuse_foreign(
    kind: &str,
    name: &str,
    found: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    desired: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<(), Error> {
    let owner = desired
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    match (found, owner) {
        (Some(found), Some(owner)) if !owned_by(found, &owner.uid) => Err(Error::Foreign {
            kind: kind.to_string(),
            name: name.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Server-side apply an Istio object (`kind`) of the desired set.
async fn apply_istio<T: Serialize + std::fmt::Debug>(
    ctx: &Context,
    namespace: &str,
    kind: &str,
    object: &sluice_api::istio::Object<T>,
    changes: &mut Vec<(String, String)>,
) -> Result<(), Error> {
    let name = object.metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, &istio_resource(kind));
    let found = api
        .get_opt(&name)
        .await
        .map_err(api_error(format!("get {kind} {name}")))?;
    refuse_foreign(kind, &name, found.as_ref().map(|o| &o.metadata), &object.metadata)?;
    let before = found.and_then(|o| o.metadata.resource_version);
    let after = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
        .map_err(api_error(format!("apply {kind} {name}")))?;
    note(kind, &name, before, after.metadata.resource_version, changes);
    Ok(())
}

/// Seldon's event reasons: `CreateVirtualService`, `UpdateDeployment`, ...
fn note(
    kind: &str,
    name: &str,
    before: Option<String>,
    after: Option<String>,
    changes: &mut Vec<(String, String)>,
) {
    match before {
        None => changes.push((format!("Create{kind}"), format!("Created {kind} {name:?}"))),
        Some(b) if Some(&b) != after.as_ref() => {
            changes.push((format!("Update{kind}"), format!("Updated {kind} {name:?}")))
        }
        Some(_) => {}
    }
}

/// The desired Deployments as the API server has them now.
async fn observe(
    ctx: &Context,
    namespace: &str,
    desired: &Desired,
) -> Result<BTreeMap<String, Option<Deployment>>, Error> {
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    let mut out = BTreeMap::new();
    for d in &desired.deployments {
        let name = d.metadata.name.clone().unwrap_or_default();
        let found = api
            .get_opt(&name)
            .await
            .map_err(api_error(format!("get Deployment {name}")))?;
        out.insert(name, found);
    }
    Ok(out)
}

/// Does `object` have `sdep` as its controller?
fn owned_by(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.controller == Some(true))
}

/// Delete what `sdep` owns and no longer wants: a removed predictor's Deployment, Service
/// and DestinationRule, and the Istio objects when Istio is off (B8, B9).
async fn clean_up(
    ctx: &Context,
    sdep: &SeldonDeployment,
    namespace: &str,
    desired: &Desired,
    istio: &Istio,
    changes: &mut Vec<(String, String)>,
) -> Result<(), Error> {
    let Some(uid) = sdep.meta().uid.clone() else {
        return Ok(());
    };
    let wanted = |names: Vec<Option<String>>| -> BTreeSet<String> { names.into_iter().flatten().collect() };
    let deployments = wanted(
        desired
            .deployments
            .iter()
            .map(|d| d.metadata.name.clone())
            .collect(),
    );
    let services = wanted(desired.services.iter().map(|s| s.metadata.name.clone()).collect());
    let rules = wanted(
        desired
            .destination_rules
            .iter()
            .map(|d| d.metadata.name.clone())
            .collect(),
    );
    let routes = wanted(
        desired
            .virtual_services
            .iter()
            .map(|v| v.metadata.name.clone())
            .collect(),
    );
    let selector = format!(
        "{}={}",
        sluice_translate::meta::SELDON_DEPLOYMENT_ID,
        names::seldon_id(sdep)
    );
    let lp = ListParams::default().labels(&selector);
    // Background: the object goes now, its dependents (ReplicaSets) with the garbage collector.
    let dp = DeleteParams::background();

    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    for d in api.list(&lp).await.map_err(api_error("list Deployments"))?.items {
        let name = d.name_any();
        if owned_by(d.meta(), &uid) && !deployments.contains(&name) {
            api.delete(&name, &dp)
                .await
                .map_err(api_error(format!("delete Deployment {name}")))?;
            changes.push(("DeleteDeployment".into(), format!("Deleted Deployment {name:?}")));
        }
    }
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), namespace);
    for s in api
        .list(&ListParams::default())
        .await
        .map_err(api_error("list Services"))?
        .items
    {
        let name = s.name_any();
        if owned_by(s.meta(), &uid) && !services.contains(&name) {
            api.delete(&name, &dp)
                .await
                .map_err(api_error(format!("delete Service {name}")))?;
            changes.push(("DeleteService".into(), format!("Deleted Service {name:?}")));
        }
    }
    if *istio == Istio::CrdsMissing {
        return Ok(());
    }
    // Routes first, then the subsets they used.
    for (kind, keep) in [("VirtualService", &routes), ("DestinationRule", &rules)] {
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), namespace, &istio_resource(kind));
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            // Istio off and its CRDs never installed: nothing to clean.
            Err(kube::Error::Api(status)) if status.is_not_found() => continue,
            Err(e) => return Err(api_error(format!("list {kind}s"))(e)),
        };
        for o in list.items {
            let name = o.name_any();
            if owned_by(&o.metadata, &uid) && !keep.contains(&name) {
                api.delete(&name, &dp)
                    .await
                    .map_err(api_error(format!("delete {kind} {name}")))?;
                changes.push((format!("Delete{kind}"), format!("Deleted {kind} {name:?}")));
            }
        }
    }
    Ok(())
}

/// The status without its condition times, for "did anything change".
fn comparable(status: &SeldonDeploymentStatus) -> SeldonDeploymentStatus {
    let mut s = status.clone();
    for c in &mut s.conditions {
        c.last_transition_time = None;
    }
    s
}

/// Write `next` if it differs from the stored status (times aside); whether it wrote.
async fn write_status(
    ctx: &Context,
    sdep: &SeldonDeployment,
    next: SeldonDeploymentStatus,
) -> Result<bool, Error> {
    let current = sdep.status.clone().unwrap_or_default();
    if comparable(&current) == comparable(&next) {
        return Ok(false);
    }
    let api: Api<SeldonDeployment> = Api::namespaced(ctx.client.clone(), names::namespace(sdep));
    let patch = serde_json::json!({"status": next});
    api.patch_status(&sdep.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_error(format!("write the status of {}", sdep.name_any())))?;
    Ok(true)
}

/// A Kubernetes Event about `sdep` (errors are logged: events are best effort).
async fn publish(ctx: &Context, sdep: &SeldonDeployment, kind: EventType, reason: &str, note: String) {
    let event = Event {
        type_: kind,
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &sdep.object_ref(&())).await {
        tracing::debug!(error = %e, "event not recorded");
    }
}

fn key(sdep: &SeldonDeployment) -> String {
    format!("{}/{}", names::namespace(sdep), sdep.name_any())
}

/// The wait after `failures` consecutive failures: 1 s doubling, at most 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

/// What to do after a failed reconcile: try again, backing off while it keeps failing.
pub fn error_policy(sdep: Arc<SeldonDeployment>, _error: &Error, ctx: Arc<Context>) -> Action {
    let mut failures = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
    let n = failures.entry(key(&sdep)).or_insert(0);
    *n += 1;
    Action::requeue(backoff(*n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(controller: &str, namespace: Option<&str>) -> Config {
        let (mut c, _) = crate::config::from_env(|_| None).expect("defaults");
        c.controller_id = controller.to_string();
        c.namespace = namespace.map(str::to_string);
        c
    }

    #[test]
    fn the_controller_id_and_namespace_scope_decide_ownership() {
        let mut sdep = sluice_translate::fixture::sdep("s").predictor("p", None).build();
        assert!(is_ours(&sdep, &config("", None), None));
        assert!(
            !is_ours(&sdep, &config("a", None), None),
            "labelled for another operator"
        );
        sdep.metadata.labels = Some(BTreeMap::from([(
            CONTROLLER_ID_LABEL.to_string(),
            "a".to_string(),
        )]));
        assert!(is_ours(&sdep, &config("a", None), None));
        assert!(!is_ours(&sdep, &config("", None), None));
        // A cluster-wide operator leaves a namespace that names its own controller.
        assert!(!is_ours(&sdep, &config("a", None), Some("a")));
        assert!(is_ours(&sdep, &config("a", Some("ns")), Some("a")));
    }

    #[test]
    fn failures_back_off_exponentially_to_five_minutes() {
        let waits: Vec<u64> = [1, 2, 3, 9, 10, 50]
            .iter()
            .map(|n| backoff(*n).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 256, 300, 300]);
    }

    #[test]
    fn events_name_creations_and_changes_only() {
        let mut changes = Vec::new();
        note("VirtualService", "v", None, Some("1".into()), &mut changes);
        note(
            "VirtualService",
            "v",
            Some("1".into()),
            Some("2".into()),
            &mut changes,
        );
        note(
            "VirtualService",
            "v",
            Some("2".into()),
            Some("2".into()),
            &mut changes,
        );
        assert_eq!(
            changes,
            [
                (
                    "CreateVirtualService".to_string(),
                    "Created VirtualService \"v\"".to_string()
                ),
                (
                    "UpdateVirtualService".to_string(),
                    "Updated VirtualService \"v\"".to_string()
                )
            ]
        );
    }
}
