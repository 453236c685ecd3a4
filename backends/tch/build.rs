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
        let cuda = std::env::var_os("CARGO_FEATURE_TCH_CUDA").is_some();
        emit_libtorch_link_args(cuda);
        if cuda {
            compile_cuda_memory_shim();
        }
    }
}

/// Compile cpp/cuda_memory.cpp (libtorch's caching-allocator statistics)
/// against libtorch's headers and the CUDA headers beside them (the torch
/// wheel's `nvidia/cu13/include`, or `$CUDA_ROOT/include`), linked to c10_cuda.
fn compile_cuda_memory_shim() {
    use std::path::PathBuf;
    println!("cargo:rerun-if-changed=cpp/cuda_memory.cpp");
    println!("cargo:rerun-if-env-changed=CUDA_ROOT");
    let lib = PathBuf::from(std::env::var("DEP_TCH_LIBTORCH_LIB").expect("checked above"));
    let torch_include = lib.join("../include");
    let wheel_cuda = lib.join("../../nvidia/cu13/include");
    let cuda_include = std::env::var_os("CUDA_ROOT")
        .map(|root| PathBuf::from(root).join("include"))
        .filter(|dir| dir.join("cuda_runtime_api.h").exists())
        .unwrap_or(wheel_cuda);
    if !cuda_include.join("cuda_runtime_api.h").exists() {
        panic!(
            "tch-cuda needs the CUDA headers: none in {} (set CUDA_ROOT, or run scripts/setup-cuda.sh)",
            cuda_include.display()
        );
    }
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("cpp/cuda_memory.cpp")
        .include(&torch_include)
        .include(&cuda_include)
        .warnings(false)
        .compile("ditbench_torch_cuda_memory");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=c10_cuda");
}
