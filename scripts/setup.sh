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
