# Shared set-up of scripts/run-suite.sh and scripts/test.sh (sourced, not
# run): checks for Rust, then installs libtorch into .venv unless it is
# already there.

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found: install Rust 1.95 or newer from https://rustup.rs" >&2
    exit 1
fi
# Prints what it installs; on a terminal, with pip's progress bar.
"$root/scripts/setup-libtorch.sh"

# Where cargo puts the binaries: $CARGO_TARGET_DIR, or the workspace's target/.
cargo_target_dir() {
    cargo metadata --format-version 1 --no-deps \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

# The GPU features to build (scripts/gpu-features.sh: empty without an NVIDIA
# GPU, or with DITBENCH_NO_GPU=1); with Candle's CUDA among them, CUDA 13.0's
# compiler from PyPI and its environment (scripts/setup-cuda.sh).
gpu_features=""
if [ "${DITBENCH_NO_GPU:-0}" != 1 ]; then
    gpu_features="$("$root/scripts/gpu-features.sh")"
fi
case ",$gpu_features," in
    *,cuda,*)
        # shellcheck disable=SC1090
        source <("$root/scripts/setup-cuda.sh" --env)
        ;;
esac
# The cargo features of the build: libtorch, candle-transformers (the
# frameworks' own model code for reference-check), and the GPU ones.
# shellcheck disable=SC2034
build_features="tch,reference${gpu_features:+,$gpu_features}"
