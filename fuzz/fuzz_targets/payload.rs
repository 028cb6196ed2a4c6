//! The Seldon and v2 payload codecs of the orchestrator: the mock classifier's parsing
//! of Seldon messages (ndarray, tensor, feedback), a router's answer, the chaining of one
//! node's answer into the next request (tensorflow, v2) and Python's JSON rendering —
//! any bytes give an answer or an error, never a panic, and every answer is JSON as
//! Python writes it (bare `NaN` and `Infinity` included, as Seldon's wrapper sends them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_engine::graph::{Payload, Protocol, parse_route};
use sluice_engine::mock::MockClassifier;

fuzz_target!(|data: &[u8]| {
    let mock = MockClassifier::new("classifier", "seldonio/mock_classifier:1.18.2", &[]).expect("mock");
    for answer in [mock.predict(data), mock.transform_input(data), mock.send_feedback(data)] {
        assert!(
            serde_json::from_str::<serde_json::Value>(&python_tokens_as_null(&answer.body)).is_ok(),
            "not JSON: {:?}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    let _ = parse_route(data);
    for protocol in [Protocol::Seldon, Protocol::Tensorflow, Protocol::V2] {
        let _ = protocol.chain(Payload {
            body: data.to_vec(),
            content_type: "application/json".to_string(),
        });
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let text = sluice_engine::pyjson::to_string(&value);
        assert!(!text.is_empty());
    }
});

/// `NaN`, `Infinity` and `-Infinity` outside strings replaced by `null`.
fn python_tokens_as_null(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text.as_ref();
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if let Some(token) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| rest.starts_with(t)) {
            out.push_str("null");
            rest = &rest[token.len()..];
            continue;
        }
        in_string = c == '"';
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}
