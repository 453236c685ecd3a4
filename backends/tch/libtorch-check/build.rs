//! Fails the build with the setup step to run when libtorch is missing.
//!
//! torch-sys alone would fail deep inside a C++ compile (missing headers
//! under `.venv/libtorch`). This crate has no dependencies and no `links`,
//! so cargo runs this script early, alongside torch-sys's, and stops there.

use std::path::Path;

fn main() {
    for var in ["LIBTORCH", "LIBTORCH_USE_PYTORCH", "LIBTORCH_LIB"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // The user's own PyTorch or library directory: torch-sys checks those.
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some()
        || std::env::var_os("LIBTORCH_LIB").is_some()
    {
        return;
    }
    let Some(root) = std::env::var_os("LIBTORCH") else {
        fail("LIBTORCH is not set (.cargo/config.toml sets it to .venv/libtorch)");
    };
    let root = Path::new(&root);
    println!("cargo:rerun-if-changed={}", root.join("lib").display());
    for needed in ["lib/libtorch_cpu.so", "include/torch"] {
        if !root.join(needed).exists() {
            fail(&format!("{} does not exist", root.join(needed).display()));
        }
    }
}

fn fail(why: &str) -> ! {
    eprintln!(
        "\nerror: the `tch` feature needs libtorch 2.11.0, and it is not installed: {why}.\n\
         Install it into the project's .venv with:\n\n    scripts/setup-libtorch.sh\n\n\
         or build without `--features tch` (Candle and Burn only).\n"
    );
    std::process::exit(1);
}
