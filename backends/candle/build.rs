//! Records the candle-core version this crate was built against.

include!("../locked_version.rs");

fn main() {
    emit_locked_version("candle-core", "DITBENCH_CANDLE_VERSION");
    emit_locked_version(
        "candle-transformers",
        "DITBENCH_CANDLE_TRANSFORMERS_VERSION",
    );
}
