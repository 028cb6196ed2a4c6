//! Metadata shared by every generated object: namespace, labels, owner reference.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sluice_api::SeldonDeployment;

use crate::names;

/// `app.kubernetes.io/managed-by: seldon-core`, on every generated object Seldon labels.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "seldon-core");
/// The SDep's id label.
pub const SELDON_DEPLOYMENT_ID: &str = "seldon-deployment-id";
/// The label selecting the pods behind a predictor Service.
pub const SELDON_APP: &str = "seldon-app";

/// Metadata of an object generated for `sdep`. The owner reference is set only when the
/// SDep has a `uid` (it came from a cluster); `sluice render` output has none, like
/// `helm template`, and the operator sets it.
pub fn object(
    sdep: &SeldonDeployment,
    name: &str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(names::namespace(sdep).to_string()),
        labels: (!labels.is_empty()).then_some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        owner_references: owner(sdep).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// The controller reference to `sdep`, when it has a uid.
pub fn owner(sdep: &SeldonDeployment) -> Option<OwnerReference> {
    let uid = sdep.metadata.uid.clone()?;
    Some(OwnerReference {
        api_version: "machinelearning.seldon.io/v1".to_string(),
        kind: "SeldonDeployment".to_string(),
        name: names::sdep_name(sdep).to_string(),
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Build a label map from pairs.
pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
