//! The committed CRD must be what the types generate.

use std::path::Path;

const COMMITTED: &str = "../../deploy/crds/seldondeployments.machinelearning.seldon.io.yaml";

#[test]
fn committed_crd_matches_the_types() {
    let generated = sluice_api::seldon::crd_yaml().expect("CRD serializes");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == committed,
        "{} is out of date with the SeldonDeployment types; regenerate it with\n  cargo run -p sluice -- crd > deploy/crds/seldondeployments.machinelearning.seldon.io.yaml",
        path.display()
    );
}

#[test]
fn crd_serves_every_seldon_version_and_stores_v1() {
    let crd = sluice_api::seldon::crd();
    let versions: Vec<(&str, bool, bool)> = crd
        .spec
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v.served, v.storage))
        .collect();
    assert_eq!(
        versions,
        [
            ("v1", true, true),
            ("v1alpha2", true, false),
            ("v1alpha3", true, false)
        ]
    );
    assert_eq!(crd.spec.names.short_names, Some(vec!["sdep".to_string()]));
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("json");
    let graph = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"]["predictors"]["items"]["properties"]
        ["graph"];
    assert_eq!(
        graph["properties"]["children"]["items"]["x-kubernetes-preserve-unknown-fields"], true,
        "{graph:#}"
    );
    assert!(
        graph["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|f| f == "name")),
        "{graph:#}"
    );
}
