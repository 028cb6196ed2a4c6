//! The SeldonDeployment / Istio YAML loader and everything behind it: any text is read
//! into objects and diagnostics without a panic; read part by part (as the loader reads),
//! a text means what it means read whole, and a load from the cache is a fresh load; each
//! SeldonDeployment is validated, and one without errors renders; its rendered objects load
//! again without errors and compile into a route table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_api::document;
use sluice_api::load::{Cache, Loaded, Source, Typed, load, load_cached};
use sluice_mesh::{Proxy, RouteTable};
use sluice_translate::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sources = [Source {
        name: "fuzz.yaml".to_string(),
        text: text.to_string(),
    }];
    let loaded = load(&sources);
    same_read_in_parts(text);
    // From a cache that holds the first half of the text, a load is a fresh load.
    let mut half = text.len() / 2;
    while !text.is_char_boundary(half) {
        half -= 1;
    }
    let mut cache = Cache::default();
    let _ = load_cached(
        &[Source {
            name: "fuzz.yaml".to_string(),
            text: text[..half].to_string(),
        }],
        &mut cache,
    );
    assert_eq!(
        summary(&load_cached(&sources, &mut cache)),
        summary(&loaded),
        "a cached load differs"
    );
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

/// Read part by part, a text reads to the documents of the whole text, or is refused as the
/// whole is (a part the reader refuses makes the loader read the text whole).
fn same_read_in_parts(text: &str) {
    let Some(parts) = document::split(text) else {
        return;
    };
    let mut values = Vec::new();
    for (lines, part) in parts {
        let Ok(documents) = document::parse(part) else {
            return;
        };
        values.extend(
            documents
                .into_iter()
                .map(|d| (d.value.clone(), d.anchor().with_lines_before(lines).start())),
        );
    }
    match document::parse(text) {
        Ok(whole) => {
            let whole: Vec<_> = whole.into_iter().map(|d| (d.value.clone(), d.start())).collect();
            assert_eq!(whole, values, "the parts read otherwise than the whole");
        }
        Err(e) => panic!("every part reads, the whole does not: {e}"),
    }
}

/// What a load says: its problems as printed, and each object (creation time included) with
/// where it starts.
fn summary(loaded: &Loaded) -> (Vec<String>, Vec<String>) {
    (
        loaded.diagnostics.iter().map(ToString::to_string).collect(),
        loaded
            .resources
            .iter()
            .map(|r| format!("{:?} {:?}", r.typed, r.anchor.start()))
            .collect(),
    )
}
