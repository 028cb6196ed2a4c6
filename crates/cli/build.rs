//! Optional code layout for the `sluice` binary.
//!
//! With `SLUICE_SYMBOL_ORDER` naming a file of symbols (one per line, as
//! `scripts/symbol-order` writes them for a built binary), the linker places those functions
//! first and together: the code the gateway runs stays in a few pages instead of being spread
//! over the whole binary, where the kernel maps 64 KiB around each page touched (bench/README.md,
//! "Code layout"). `scripts/build-ordered` builds this way; without the variable nothing changes.
//! The option is lld's and mold's (`--symbol-ordering-file`), the linker Rust uses by default
//! on x86_64 Linux.

fn main() {
    println!("cargo::rerun-if-env-changed=SLUICE_SYMBOL_ORDER");
    let Some(order) = std::env::var_os("SLUICE_SYMBOL_ORDER").filter(|v| !v.is_empty()) else {
        return;
    };
    let order = std::path::PathBuf::from(order);
    // The build script runs in crates/cli, the linker elsewhere: only an absolute path means
    // the same file to both.
    if !order.is_absolute() || !order.is_file() {
        println!(
            "cargo::error=SLUICE_SYMBOL_ORDER={}: not an absolute path to a file (scripts/symbol-order writes it)",
            order.display()
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
