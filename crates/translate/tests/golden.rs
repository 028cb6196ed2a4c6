//! Golden tests: every worked example of spec §3.5 (A–J, one directory each under
//! `tests/golden/`) and every file under `examples/`, rendered in full. Each generated
//! Istio object is also validated against Istio's published CRD schema, and each
//! Deployment and Service is re-read into k8s-openapi types with no unknown fields.
//!
//! Review a change with `cargo insta review`; the spec's YAML is the reference.

mod support;

use std::path::Path;

use base64::Engine as _;
use serde_json::Value;
use sluice_translate::{Settings, desired};
use support::SettingsFile;

fn settings_beside(input: &Path) -> Settings {
    let file = input.with_file_name("settings.yaml");
    match std::fs::read_to_string(&file) {
        Ok(text) => serde_saphyr::from_str::<SettingsFile>(&text)
            .expect("valid settings.yaml")
            .settings(),
        Err(_) => Settings::default(),
    }
}

/// The decoded `ENGINE_PREDICTOR` of each orchestrator container, for review.
fn engine_predictors(objects: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for object in objects.iter().filter(|o| o["kind"] == "Deployment") {
        for container in object
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for env in container["env"].as_array().into_iter().flatten() {
                if env["name"] == "ENGINE_PREDICTOR" {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(env["value"].as_str().expect("a string"))
                        .expect("base64");
                    out.push(serde_json::from_slice(&raw).expect("JSON predictor"));
                }
            }
        }
    }
    out
}

#[test]
fn spec_worked_examples() {
    insta::glob!("golden/*/input.yaml", |path| {
        let settings = settings_beside(path);
        let sdep = support::load(path, &settings);
        let desired = desired(&sdep, &settings).expect("valid SDep translates");
        let rendered = support::check_all(&desired);
        insta::assert_snapshot!("rendered", rendered);
        insta::assert_yaml_snapshot!("engine-predictor", engine_predictors(&support::objects(&desired)));
    });
}

/// Settings named in an example's header (`#   sluice render -f examples/x.yaml --istio-tls-mode M`),
/// so the documented command is the one tested.
fn settings_from_header(text: &str) -> Settings {
    let mut settings = Settings::default();
    let command = text
        .lines()
        .find(|l| l.contains("sluice render"))
        .expect("each example documents its render command");
    let mut words = command.split_whitespace();
    while let Some(word) = words.next() {
        match word {
            "--istio-tls-mode" => {
                settings.istio_tls_mode = Some(words.next().expect("a mode").parse().expect("valid mode"))
            }
            w if w.starts_with("--") => panic!("example flag {w} is not understood by this test"),
            _ => {}
        }
    }
    settings
}

#[test]
fn examples() {
    insta::glob!("../../../examples", "*.yaml", |path| {
        let text = std::fs::read_to_string(path).expect("readable example");
        let settings = settings_from_header(&text);
        let sdep = support::load(path, &settings);
        let desired = desired(&sdep, &settings).expect("valid SDep translates");
        insta::assert_snapshot!("rendered", support::check_all(&desired));
    });
}

/// The schema check is real: a VirtualService with a wrongly typed field fails it.
#[test]
#[should_panic(expected = "does not match Istio's schema")]
fn istio_schema_check_rejects_a_bad_object() {
    let vs = serde_json::json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "bad"},
        "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "x"}, "weight": "seventy"}]}]}
    });
    support::check_istio_schema(&vs);
}

/// The type check is real: an unknown Service field is found.
#[test]
#[should_panic(expected = "unknown fields")]
fn kubernetes_type_check_rejects_unknown_fields() {
    support::check_kubernetes_types(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIp: None}\n",
    );
}
