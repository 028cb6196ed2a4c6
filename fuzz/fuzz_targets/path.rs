//! The request-path normaliser: never panics, and normalising is idempotent — a
//! normalised path normalises to itself (else a route could match one spelling and the
//! upstream see another).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_mesh::path::normalize;

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(once) = normalize(target) else {
        return;
    };
    let written = once.path_and_query();
    let again = normalize(&written).expect("a normalised path normalises");
    assert_eq!(once, again, "normalising {target:?} twice differs");
});
