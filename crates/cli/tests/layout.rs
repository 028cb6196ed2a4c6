//! The code layout's function list (crates/cli/layout.txt) still names the code the `sluice`
//! binary has: `scripts/symbol-order` resolves it against the binary this test suite built.
//! A list that names nothing any more — functions renamed, the v0 symbol names of
//! `.cargo/config.toml` gone — would leave `scripts/build-ordered` laying out nothing, and the
//! gateway's code pages spread over the whole binary again (bench/README.md, "Code layout").

#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::Command;

#[test]
fn the_layout_list_names_functions_the_binary_has() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(workspace.join("scripts/symbol-order"))
        .arg(env!("CARGO_BIN_EXE_sluice"))
        .output()
        .expect("scripts/symbol-order runs (it needs bash, nm and c++filt from binutils)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "scripts/symbol-order failed: {stderr}");
    // "symbol-order: FOUND of the LISTED listed functions are in BINARY"
    let report = stderr
        .lines()
        .find(|line| line.contains("listed functions are in"))
        .unwrap_or_default();
    let counts: Vec<usize> = report
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let [found, listed] = counts[..] else {
        panic!("unexpected report from scripts/symbol-order: {stderr}");
    };
    let symbols = String::from_utf8_lossy(&output.stdout).lines().count();
    assert!(listed > 1000, "crates/cli/layout.txt lists {listed} functions");
    // This is a debug build, which keeps nearly every function an optimized build runs (99 %
    // of the list when it was made); with legacy symbol names 15 % match.
    // Regenerate the list (bench/code-layout.sh) when this fails.
    assert!(
        found * 10 >= listed * 8,
        "only {found} of the {listed} functions in crates/cli/layout.txt are in the binary: regenerate it with bench/code-layout.sh ({stderr})"
    );
    assert!(symbols >= found, "{symbols} symbols for {found} functions");
}
