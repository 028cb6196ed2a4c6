//! Time to validate and translate one two-predictor (canary 75/25) SeldonDeployment:
//! what a controller spends per SDep per reconcile.
//!
//! `cargo bench -p sluice-translate`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sluice_translate::annotations::{ISTIO_RETRIES, ISTIO_RETRIES_TIMEOUT};
use sluice_translate::fixture::sdep;
use sluice_translate::{Settings, desired, validate};

fn translate(c: &mut Criterion) {
    let canary = sdep("example")
        .namespace("seldon")
        .annotation(ISTIO_RETRIES, "3")
        .annotation(ISTIO_RETRIES_TIMEOUT, "2")
        .predictor("main", Some(75))
        .predictor("canary", Some(25))
        .build();
    let settings = Settings::default();
    c.bench_function("validate/canary", |b| {
        b.iter(|| validate(black_box(&canary), &settings))
    });
    // `desired` validates first, so this is the whole per-SDep cost.
    c.bench_function("validate+desired/canary", |b| {
        b.iter(|| desired(black_box(&canary), &settings).expect("valid"))
    });
}

criterion_group!(benches, translate);
criterion_main!(benches);
