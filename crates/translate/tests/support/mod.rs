//! Shared by the integration tests: load cases, render objects, validate against Istio's CRDs.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;
use sluice_api::SeldonDeployment;
use sluice_api::{document, load};
use sluice_translate::{Desired, Settings, TlsMode, source};

/// Settings overrides a golden case may carry in `settings.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    istio_enabled: Option<bool>,
    istio_gateway: Option<String>,
    istio_tls_mode: Option<String>,
}

impl SettingsFile {
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        if let Some(enabled) = self.istio_enabled {
            s.istio_enabled = enabled;
        }
        if let Some(gateway) = &self.istio_gateway {
            s.istio_gateway = gateway.clone();
        }
        if let Some(mode) = &self.istio_tls_mode {
            s.istio_tls_mode = Some(mode.parse::<TlsMode>().expect("valid tls mode in settings.yaml"));
        }
        s
    }
}

/// Read the single SeldonDeployment of `path`, failing on any diagnostic.
pub fn load(path: &Path, settings: &Settings) -> SeldonDeployment {
    let text = std::fs::read_to_string(path).expect("readable case");
    let loaded = load::load(&[load::Source {
        name: path.display().to_string(),
        text,
    }]);
    assert!(
        loaded.diagnostics.is_empty(),
        "{}: {:#?}",
        path.display(),
        loaded.diagnostics
    );
    assert_eq!(
        loaded.resources.len(),
        1,
        "{}: one document per case",
        path.display()
    );
    let load::Typed::SeldonDeployment(sdep) = &loaded.resources[0].typed else {
        panic!("{}: not a SeldonDeployment", path.display());
    };
    let checked = source::check(sdep, settings, None);
    assert!(
        checked.diagnostics.is_empty(),
        "{}: {:#?}",
        path.display(),
        checked.diagnostics
    );
    checked.sdep
}

/// Objects as JSON values, in apply order, tagged by kind.
pub fn objects(desired: &Desired) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    out.extend(
        desired
            .services
            .iter()
            .map(|o| serde_json::to_value(o).expect("json")),
    );
    out.extend(
        desired
            .deployments
            .iter()
            .map(|o| serde_json::to_value(o).expect("json")),
    );
    out.extend(
        desired
            .destination_rules
            .iter()
            .map(|o| serde_json::to_value(o).expect("json")),
    );
    out.extend(
        desired
            .virtual_services
            .iter()
            .map(|o| serde_json::to_value(o).expect("json")),
    );
    out
}

/// Multi-document YAML of `objects`.
pub fn yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| format!("---\n{}", serde_saphyr::to_string(o).expect("yaml")))
        .collect()
}

/// `spec.versions[name=version].schema.openAPIV3Schema.properties.spec` of each Istio CRD, by kind.
fn istio_spec_schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/istio-crds/crd-all.gen.yaml");
        let text = std::fs::read_to_string(path).expect("Istio CRDs fixture");
        let crds: Vec<Value> = serde_saphyr::from_multiple(&text).expect("CRD YAML");
        let mut out = BTreeMap::new();
        for crd in crds {
            let group = crd
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let kind = crd
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for version in crd
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = version["name"].as_str().unwrap_or_default();
                if let Some(spec) = version.pointer("/schema/openAPIV3Schema/properties/spec") {
                    out.insert(format!("{group}/{name}/{kind}"), spec.clone());
                }
            }
        }
        out
    })
}

/// Validate an Istio object's `spec` against Istio's published schema for its apiVersion and kind.
pub fn check_istio_schema(object: &Value) {
    let key = format!(
        "{}/{}",
        object["apiVersion"].as_str().unwrap_or_default(),
        object["kind"].as_str().unwrap_or_default()
    );
    let schema = istio_spec_schemas()
        .get(&key)
        .unwrap_or_else(|| panic!("no Istio schema for {key}"));
    let validator = jsonschema::validator_for(schema).expect("Istio schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&object["spec"])
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{key} {} does not match Istio's schema: {errors:#?}",
        object["metadata"]["name"]
    );
}

/// Parse rendered YAML back and check Deployments and Services against k8s-openapi's
/// types: every field must be known, and the value must survive the round trip.
pub fn check_kubernetes_types(rendered: &str) {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;
    for doc in document::parse(rendered).expect("rendered YAML parses") {
        let ignored = match doc.kind() {
            "Deployment" => doc.typed::<Deployment>().expect("a Deployment").ignored,
            "Service" => doc.typed::<Service>().expect("a Service").ignored,
            _ => continue,
        };
        assert!(
            ignored.is_empty(),
            "{} {}: unknown fields {ignored:?}",
            doc.kind(),
            doc.name()
        );
    }
}

/// Every check on one translated case.
pub fn check_all(desired: &Desired) -> String {
    let objects = objects(desired);
    for object in &objects {
        if object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.contains("istio.io"))
        {
            check_istio_schema(object);
        }
    }
    let rendered = yaml(&objects);
    check_kubernetes_types(&rendered);
    rendered
}
