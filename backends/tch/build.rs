//! Records the tch and libtorch versions and links libtorch with an rpath.

include!("../locked_version.rs");
include!("link.rs");

/// libtorch's own version (`2.11.0+cu130`) from the `version.py` beside its
/// `lib` directory in a PyTorch install; "unknown" for a bare libtorch.
fn libtorch_version() -> String {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    let version_py = std::path::Path::new(&lib).join("../version.py");
    println!("cargo:rerun-if-changed={}", version_py.display());
    std::fs::read_to_string(&version_py)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let value = line.strip_prefix("__version__ = ")?;
                Some(value.trim().trim_matches(['\'', '"']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The libtorch release tch 0.24 is written against.
const EXPECTED: &str = "2.11.0";

fn main() {
    if std::env::var_os("CARGO_FEATURE_TCH").is_some() {
        emit_locked_version("tch", "DITBENCH_TCH_VERSION");
        let version = libtorch_version();
        // torch-sys checks only a bare libtorch's build-version file.
        if version != "unknown" && !version.starts_with(EXPECTED) {
            panic!(
                "tch 0.24 needs libtorch {EXPECTED}, found {version}; run scripts/setup-libtorch.sh"
            );
        }
        println!("cargo:rustc-env=DITBENCH_LIBTORCH_VERSION={version}");
        emit_libtorch_link_args(std::env::var_os("CARGO_FEATURE_TCH_CUDA").is_some());
    }
}
