//! Records the Burn version this crate was built against.

include!("../locked_version.rs");

fn main() {
    emit_locked_version("burn", "DITBENCH_BURN_VERSION");
}
