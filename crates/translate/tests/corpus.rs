//! Seldon Core 1–style documents (`tests/corpus/`, see its README): every `good/` file
//! validates without errors and renders objects that pass Istio's and Kubernetes' schemas;
//! every `bad/` file fails with each `# expect: PATH: WORDS` line of its header.

mod support;

use std::path::{Path, PathBuf};

use sluice_api::load;
use sluice_translate::{Diagnostic, Settings, desired, validate};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no documents in {}", dir.display());
    out
}

/// Every problem of the file: the loader's and validation's.
fn problems(path: &Path) -> (Vec<Diagnostic>, Option<sluice_api::SeldonDeployment>) {
    let text = std::fs::read_to_string(path).expect("readable");
    let loaded = load::load(&[load::Source {
        name: path.display().to_string(),
        text,
    }]);
    let mut found = loaded.diagnostics.clone();
    let sdep = loaded.resources.iter().find_map(|r| match &r.typed {
        load::Typed::SeldonDeployment(s) => Some((**s).clone()),
        _ => None,
    });
    if let Some(sdep) = &sdep {
        found.extend(validate(sdep, &Settings::default()));
    }
    (found, sdep)
}

#[test]
fn seldon_style_documents_validate_and_render() {
    for path in files("good") {
        let (found, sdep) = problems(&path);
        let errors: Vec<_> = found.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        let sdep = sdep.unwrap_or_else(|| panic!("{}: no SeldonDeployment", path.display()));
        let rendered = desired(&sdep, &Settings::default()).expect("valid SDep translates");
        support::check_all(&rendered);
    }
}

#[test]
fn bad_documents_fail_with_their_messages() {
    for path in files("bad") {
        let text = std::fs::read_to_string(&path).expect("readable");
        let expected: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|l| l.split_once(": ").expect("# expect: PATH: WORDS"))
            .collect();
        assert!(!expected.is_empty(), "{}: no # expect: line", path.display());
        let (found, _) = problems(&path);
        for (at, words) in expected {
            assert!(
                found
                    .iter()
                    .any(|d| d.is_error() && d.path.to_string() == at && d.message.contains(words)),
                "{}: no error at {at} containing {words:?} in {found:#?}",
                path.display()
            );
        }
    }
}
