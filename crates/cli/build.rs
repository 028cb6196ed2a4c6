//! Optional code layout for the `sluice` binary.
//!
//! With `SLUICE_SYMBOL_ORDER` naming a file of symbols (one per line, as
//! `scripts/symbol-order` writes them for a built binary), the linker places those functions
//! first and together: the code the gateway runs stays in a few pages instead of being spread
//! over the whole binary, where the kernel maps 64 KiB around each page touched (bench/README.md,
//! "Code layout"). `scripts/build-ordered` builds this way; without the variable nothing changes.
//! The option (`--symbol-ordering-file`) is lld's, the linker Rust uses by default on x86_64
//! Linux; for other targets the binary is linked without the layout, with a warning.

fn main() {
    println!("cargo::rerun-if-env-changed=SLUICE_SYMBOL_ORDER");
    let Some(order) = std::env::var_os("SLUICE_SYMBOL_ORDER").filter(|v| !v.is_empty()) else {
        return;
    };
    let order = std::path::PathBuf::from(order);
    // The build script runs in crates/cli, the linker elsewhere: only an absolute path means
    // the same file to both; and `-Wl,` would split a path at a comma.
    if !order.is_absolute() || !order.is_file() || order.to_string_lossy().contains(',') {
        println!(
            "cargo::error=SLUICE_SYMBOL_ORDER={}: not an absolute path to a file, without commas (scripts/symbol-order writes it)",
            order.display()
        );
        return;
    }
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    let (arch, os, env) = (
        target("CARGO_CFG_TARGET_ARCH"),
        target("CARGO_CFG_TARGET_OS"),
        target("CARGO_CFG_TARGET_ENV"),
    );
    if (arch.as_str(), os.as_str(), env.as_str()) != ("x86_64", "linux", "gnu") {
        println!(
            "cargo::warning=SLUICE_SYMBOL_ORDER is set, but lld (--symbol-ordering-file) is Rust's default linker only on x86_64 Linux (gnu), not {arch}-{os}-{env}: linking without the code layout"
        );
        return;
    }
    println!("cargo::rerun-if-changed={}", order.display());
    println!(
        "cargo::rustc-link-arg-bin=sluice=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    // Names the binary does not have (a list made for another build) are not an error.
    println!("cargo::rustc-link-arg-bin=sluice=-Wl,--no-warn-symbol-ordering");
}
