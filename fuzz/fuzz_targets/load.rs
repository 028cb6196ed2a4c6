//! The SeldonDeployment / Istio YAML loader and everything behind it: any text is read
//! into objects and diagnostics without a panic; each SeldonDeployment is validated, and
//! one without errors renders; its rendered objects load again without errors and compile
//! into a route table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_api::load::{Source, Typed, load};
use sluice_mesh::{Proxy, RouteTable};
use sluice_translate::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = load(&[Source {
        name: "fuzz.yaml".to_string(),
        text: text.to_string(),
    }]);
    let _ = loaded.files_without_objects();
    let settings = Settings::default();
    for resource in &loaded.resources {
        let Typed::SeldonDeployment(sdep) = &resource.typed else {
            continue;
        };
        let checked = sluice_translate::source::check(sdep, &settings, None);
        for d in &checked.diagnostics {
            let _ = resource.locate(d.clone()).to_string();
        }
        let Some(valid) = checked.valid() else {
            continue;
        };
        let desired = sluice_translate::desired(valid, &settings).expect("a valid SeldonDeployment renders");
        let objects = desired.objects().expect("rendered objects serialize");
        // JSON is YAML: what sluice renders, sluice reads back.
        let rendered: Vec<String> = objects.iter().map(ToString::to_string).collect();
        let again = load(&[Source {
            name: "rendered.yaml".to_string(),
            text: rendered.join("\n---\n"),
        }]);
        let errors: Vec<String> = again
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(errors.is_empty(), "rendered objects do not load: {errors:?}");
        let (config, _) = sluice_gateway::config::istio(&again);
        let _ = RouteTable::compile(&Proxy::default(), &config);
    }
    let (config, _) = sluice_gateway::config::istio(&loaded);
    let _ = RouteTable::compile(&Proxy::default(), &config);
});
