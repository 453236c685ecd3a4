// Shared by the build scripts of ditbench-tch and of the ditbench binary
// (`include!`d): link libtorch so binaries find it at run time on their own.

/// Emit the linker arguments for binaries and tests of the calling package:
/// an rpath to libtorch's directory (from torch-sys's `DEP_TCH_LIBTORCH_LIB`),
/// and with `keep_cuda`, `libtorch_cuda` kept with `--no-as-needed`: nothing
/// references its symbols directly (it registers CUDA kernels when loaded),
/// so the default `--as-needed` drops it and CUDA looks unavailable. Without
/// `keep_cuda` it is dropped on purpose: loading it and the CUDA libraries
/// costs every worker about 230 MiB of RSS, for nothing on a CPU.
fn emit_libtorch_link_args(keep_cuda: bool) {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not report libtorch's directory (DEP_TCH_LIBTORCH_LIB)");
    };
    // Kept as given (through the .venv/libtorch link) unless relative.
    let lib = std::path::Path::new(&lib);
    let lib = if lib.is_relative() {
        lib.canonicalize().unwrap_or_else(|_| lib.to_path_buf())
    } else {
        lib.to_path_buf()
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if keep_cuda {
        if !lib.join("libtorch_cuda.so").exists() {
            panic!(
                "CUDA libtorch requested, but {} has no libtorch_cuda.so (a CPU-only libtorch)",
                lib.display()
            );
        }
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
