//! Records the compiler and source revision for the results' `tool` and
//! `environment` sections.

use std::process::Command;

include!("backends/tch/link.rs");

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DITBENCH_RUSTC={version}");

    let commit = output("git", &["describe", "--always", "--dirty", "--abbrev=12"])
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DITBENCH_GIT_COMMIT={commit}");
    // Rebuild the metadata when the checkout moves or its files change.
    for path in [".git/HEAD", ".git/index", ".git/refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let profile = std::env::var("PROFILE").unwrap_or_default();
    let opt = std::env::var("OPT_LEVEL").unwrap_or_default();
    println!("cargo:rustc-env=DITBENCH_PROFILE={profile} (opt-level {opt})");

    if std::env::var_os("CARGO_FEATURE_TCH").is_some() {
        emit_libtorch_link_args(std::env::var_os("CARGO_FEATURE_TCH_CUDA").is_some());
    }
}
