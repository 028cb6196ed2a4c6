//! Every generated name, in one place (spec §2).
//!
//! A name longer than 63 bytes becomes `seldon-<md5 hex of the name>`; nothing is
//! truncated or lower-cased. The URL prefix uses the raw `metadata.name`.

use md5::{Digest, Md5};
use sluice_api::SeldonDeployment;
use sluice_api::seldon::{PredictorSpec, SeldonPodSpec};

use crate::annotations::SVC_NAME;

/// Longest Kubernetes name that is kept as it is.
pub const MAX_NAME: usize = 63;
/// The service orchestrator's container name.
pub const ENGINE_CONTAINER: &str = "seldon-container-engine";

/// Lowercase hex MD5 of `s`.
pub fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `candidate`, or `seldon-<md5(candidate)>` when it is longer than 63 bytes.
pub fn hashed(candidate: String) -> String {
    if candidate.len() > MAX_NAME {
        format!("seldon-{}", md5_hex(&candidate))
    } else {
        candidate
    }
}

/// `name` cut to 63 bytes (at a character boundary) without one trailing `-`: how Seldon
/// shortens the model initializer's names and the explainer's VirtualService, instead of
/// hashing.
pub fn truncated(mut name: String) -> String {
    if name.len() > MAX_NAME {
        let mut end = MAX_NAME;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
        if name.ends_with('-') {
            name.pop();
        }
    }
    name
}

/// The explainer's Deployment and Service: `<sdep>-<predictor>-explainer`, hashed if long.
pub fn explainer(sdep: &SeldonDeployment, predictor: &PredictorSpec) -> String {
    hashed(format!("{}-{}-explainer", sdep_name(sdep), predictor.name))
}

/// `metadata.name`, or `""`.
pub fn sdep_name(sdep: &SeldonDeployment) -> &str {
    sdep.metadata.name.as_deref().unwrap_or("")
}

/// The namespace: `metadata.namespace`, or `default` when empty.
pub fn namespace(sdep: &SeldonDeployment) -> &str {
    match sdep.metadata.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => ns,
        _ => "default",
    }
}

/// seldonId: the VirtualService name and the `seldon-deployment-id` label (§2.2).
pub fn seldon_id(sdep: &SeldonDeployment) -> String {
    hashed(sdep_name(sdep).to_string())
}

/// The predictor key: predictor Service and DestinationRule name (§2.3).
/// `seldon.io/svc-name` on the predictor wins; validation has checked it.
pub fn predictor_key(sdep: &SeldonDeployment, predictor: &PredictorSpec) -> String {
    match predictor.annotations.get(SVC_NAME) {
        Some(name) => name.clone(),
        None => hashed(format!("{}-{}", sdep_name(sdep), predictor.name)),
    }
}

/// The Service of one graph container; ignores `seldon.io/svc-name` (§2.4).
pub fn container_service(sdep: &SeldonDeployment, predictor: &PredictorSpec, container: &str) -> String {
    hashed(format!("{}-{}-{}", sdep_name(sdep), predictor.name, container))
}

/// The Deployment of componentSpec `index` (§2.4, without `DEPLOYMENT_NAME_AS_PREFIX`).
pub fn deployment(
    sdep: &SeldonDeployment,
    predictor: &PredictorSpec,
    index: usize,
    spec: &SeldonPodSpec,
) -> String {
    let suffix = match spec.metadata.as_ref().and_then(|m| m.name.as_deref()) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => spec
            .spec
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join("-"),
    };
    hashed(format!("{}-{}-{index}-{suffix}", sdep_name(sdep), predictor.name))
}

/// The separate orchestrator Deployment (`seldon.io/engine-separate-pod`).
pub fn engine_deployment(sdep: &SeldonDeployment, predictor: &PredictorSpec) -> String {
    hashed(format!("{}-{}-svc-orch", sdep_name(sdep), predictor.name))
}

/// `name.namespace.svc.<cluster domain>` (§2.5).
pub fn fqdn(name: &str, namespace: &str, cluster_domain: &str) -> String {
    format!("{name}.{namespace}.svc.{cluster_domain}")
}

/// The REST route prefix: `/seldon/<namespace>/<raw metadata.name>/`.
pub fn url_prefix(sdep: &SeldonDeployment) -> String {
    format!("/seldon/{}/{}/", namespace(sdep), sdep_name(sdep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::sdep;

    // The worked examples of spec §2.6.
    #[test]
    fn short_names_are_kept() {
        let s = sdep("iris").predictor("default", None).build();
        let p = &s.spec.predictors[0];
        assert_eq!(seldon_id(&s), "iris");
        assert_eq!(predictor_key(&s, p), "iris-default");
        assert_eq!(
            fqdn(&predictor_key(&s, p), "models", "cluster.local"),
            "iris-default.models.svc.cluster.local"
        );
        assert_eq!(container_service(&s, p, "classifier"), "iris-default-classifier");
        assert_eq!(
            deployment(&s, p, 0, &p.component_specs[0]),
            "iris-default-0-classifier"
        );
    }

    #[test]
    fn names_over_63_bytes_are_hashed() {
        let s = sdep(&"a".repeat(60)).predictor("default", None).build();
        let p = &s.spec.predictors[0];
        assert_eq!(seldon_id(&s), "a".repeat(60));
        assert_eq!(predictor_key(&s, p), "seldon-07ce6a687a707f132fc3afa36b028b60");
        assert_eq!(
            container_service(&s, p, "classifier"),
            "seldon-8a09775c66a966d934e7ff78b83b17b5"
        );
        assert_eq!(
            deployment(&s, p, 0, &p.component_specs[0]),
            "seldon-db7176396729bd925f55cf85e69d8da1"
        );

        let long = sdep(&"b".repeat(64)).predictor("default", None).build();
        assert_eq!(seldon_id(&long), "seldon-0b649bcb5a82868817fec9a6e709d233");
        assert_eq!(url_prefix(&long), format!("/seldon/default/{}/", "b".repeat(64)));

        let s = sdep("my-very-long-seldon-deployment-name-for-testing-hash-behaviour")
            .predictor("default", None)
            .build();
        assert_eq!(
            predictor_key(&s, &s.spec.predictors[0]),
            "seldon-6fc42841b86d8eb320ffc0856c831095"
        );
    }

    #[test]
    fn svc_name_replaces_the_predictor_key_only() {
        let s = sdep("whatever")
            .predictor("main", Some(75))
            .predictor_annotation(SVC_NAME, "canary-example-1")
            .build();
        let p = &s.spec.predictors[0];
        assert_eq!(predictor_key(&s, p), "canary-example-1");
        assert_eq!(container_service(&s, p, "classifier"), "whatever-main-classifier");
    }
}
