//! Loading files as an edit of the last load (`load_edit`) makes the load a fresh read
//! makes, touches only the documents that changed, and declines what is not such an edit.

use sluice_api::load::{self, Cache, Loaded, Source};

fn vs(name: &str, prefix: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  hosts: [\"*\"]\n  gateways: [istio-system/gw]\n  http:\n  - match: [{{uri: {{prefix: {prefix}}}}}]\n    route: [{{destination: {{host: {name}.default.svc.cluster.local}}}}]\n{extra}"
    )
}

fn dr(name: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {name}, namespace: default, creationTimestamp: \"2026-01-01T00:00:00Z\"}}\nspec:\n  host: {name}.default.svc.cluster.local\n"
    )
}

fn sources(first: &str, second: &str) -> Vec<Source> {
    vec![
        Source {
            name: "first.yaml".into(),
            text: first.into(),
        },
        Source {
            name: "second.yaml".into(),
            text: second.into(),
        },
    ]
}

/// Everything a load says about each object: what it is, its value, where it is written
/// (its start and a field's line), and the load's problems.
fn described(loaded: &Loaded) -> Vec<String> {
    let path = sluice_api::document::FieldPath::root().key("spec").key("http");
    loaded
        .resources
        .iter()
        .map(|r| {
            format!(
                "{:?} {} {} {:?} {:?}",
                r.object,
                r.file,
                r.anchor.start(),
                r.anchor.position(&path),
                r.typed
            )
        })
        .chain(loaded.diagnostics.iter().map(ToString::to_string))
        .collect()
}

fn first_file(middle: &str) -> String {
    [vs("a", "/a", ""), dr("a"), middle.to_string(), vs("c", "/c", "")].concat()
}

#[test]
fn an_edit_of_some_documents_is_the_load_a_fresh_read_makes() {
    let second = [vs("ex", "/x", ""), vs("wy", "/y", "")].concat();
    let mut cache = Cache::default();
    let mut last = load::load_cached(&sources(&first_file(&vs("b", "/b", "")), &second), &mut cache);
    assert_eq!(last.resources.len(), 6, "{:?}", last.diagnostics);

    // Nothing changed: nothing replaced.
    let same = sources(&first_file(&vs("b", "/b", "")), &second);
    let replaced = load::load_edit(&same, &mut cache, &mut last).expect("an edit");
    assert!(replaced.is_empty());
    assert_eq!(described(&last), described(&load::load(&same)));

    // A document two lines longer in the first file, another edited in the second: both
    // replaced, the documents after the first move down, the creation times of objects
    // without one stay those of their place in the reading order.
    let headers = "    headers: {response: {set: {x-edited: \"1\"}}}\n    timeout: 2s\n";
    let edited = sources(
        &first_file(&vs("b", "/b", headers)),
        &[vs("ex", "/x", ""), vs("wy", "/why", "")].concat(),
    );
    let replaced = load::load_edit(&edited, &mut cache, &mut last).expect("an edit");
    let indexes: Vec<usize> = replaced.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [2, 5]);
    assert_eq!(described(&last), described(&load::load(&edited)));
    assert!(format!("{:?}", last.resources[2].typed).contains("x-edited"));
    assert!(format!("{:?}", replaced[0].was).contains("/b"));

    // The first document of a file edited, and its last one made longer (the two between
    // unchanged, not replaced, moved down a line); then a full read
    // with the same cache still finds every document.
    let edited = sources(
        &[
            vs("a", "/aa", "    timeout: 1s\n"),
            dr("a"),
            vs("b", "/b", headers),
            vs("c", "/c", headers),
        ]
        .concat(),
        &[vs("ex", "/x", ""), vs("wy", "/why", "")].concat(),
    );
    let replaced = load::load_edit(&edited, &mut cache, &mut last).expect("an edit");
    let indexes: Vec<usize> = replaced.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [0, 3]);
    assert_eq!(described(&last), described(&load::load(&edited)));
    let reread = load::load_cached(&edited, &mut cache);
    assert_eq!(described(&reread), described(&load::load(&edited)));
}

#[test]
fn an_object_read_again_as_it_was_is_not_replaced_and_stays_the_same_object() {
    let second = vs("ex", "/x", "");
    let mut cache = Cache::default();
    let first = first_file(&vs("b", "/b", ""));
    let mut last = load::load_cached(&sources(&first, &second), &mut cache);
    let before: Vec<_> = last.resources.iter().map(|r| r.typed.clone()).collect();

    // A comment inside the DestinationRule (one line more) and the VirtualService after it
    // laid out otherwise: read again, equal, not replaced; the later documents move down.
    let commented = first
        .replace("spec:\n  host: a.", "spec:\n  # the model's host\n  host: a.")
        .replace(
            "hosts: [\"*\"]\n  gateways: [istio-system/gw]\n  http:\n  - match: [{uri: {prefix: /b}}]",
            "hosts: [\"*\"]\n  gateways:\n  - istio-system/gw\n  http:\n  - match: [{uri: {prefix: /b}}]",
        );
    assert_ne!(commented, first);
    let edited = sources(&commented, &second);
    let replaced = load::load_edit(&edited, &mut cache, &mut last).expect("an edit");
    assert!(
        replaced.is_empty(),
        "{:?}",
        replaced.iter().map(|r| r.index).collect::<Vec<_>>()
    );
    assert_eq!(described(&last), described(&load::load(&edited)));
    for (now, was) in last.resources.iter().zip(&before) {
        assert!(now.typed.is_shared_with(was), "{:?}", now.object);
    }
    // What the cache keeps is the same object too: a full read hands it out.
    let reread = load::load_cached(&edited, &mut cache);
    for (now, was) in reread.resources.iter().zip(&before) {
        assert!(now.typed.is_shared_with(was), "{:?}", now.object);
    }
}

#[test]
fn what_is_not_an_edit_of_some_documents_is_declined_and_changes_nothing() {
    let second = vs("ex", "/x", "");
    let base = sources(&first_file(&vs("b", "/b", "")), &second);
    let declined: Vec<(&str, Vec<Source>)> = vec![
        (
            "a renamed object",
            sources(&first_file(&vs("renamed", "/b", "")), &second),
        ),
        (
            "a document added",
            sources(
                &[first_file(&vs("b", "/b", "")), vs("d", "/d", "")].concat(),
                &second,
            ),
        ),
        (
            "a document removed",
            sources(&[vs("a", "/a", ""), dr("a"), vs("c", "/c", "")].concat(), &second),
        ),
        (
            "a field sluice does not know (a problem)",
            sources(&first_file(&vs("b", "/b", "    unknown: 1\n")), &second),
        ),
        (
            "not valid YAML",
            sources(&first_file(&vs("b", "/b", "    timeout: [\n")), &second),
        ),
        (
            "a file less",
            sources(&first_file(&vs("b", "/b", "")), &second)[..1].to_vec(),
        ),
    ];
    for (what, edited) in declined {
        let mut cache = Cache::default();
        let mut last = load::load_cached(&base, &mut cache);
        assert!(
            load::load_edit(&edited, &mut cache, &mut last).is_none(),
            "{what} is declined"
        );
        assert_eq!(described(&last), described(&load::load(&base)), "{what}");
        // The cache is the last load's still: an edit of it is found.
        let edit = sources(&first_file(&vs("b", "/bee", "")), &second);
        assert!(load::load_edit(&edit, &mut cache, &mut last).is_some(), "{what}");
        assert_eq!(described(&last), described(&load::load(&edit)), "{what}");
    }

    // A load with problems is not edited (an edit could move the lines they are placed at).
    let mut cache = Cache::default();
    let broken = sources(&first_file(&vs("b", "/b", "    unknown: 1\n")), &second);
    let mut last = load::load_cached(&broken, &mut cache);
    assert!(!last.diagnostics.is_empty());
    assert!(load::load_edit(&base, &mut cache, &mut last).is_none());
}
