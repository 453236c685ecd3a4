//! The library half of the `ditbench` package: the table of framework
//! backends ([`registry`]), shared by the command line, the criterion benches
//! and the tests, and with burn-wgpu a quiet Vulkan loader ([`vulkan`]).

pub mod registry;
#[cfg(feature = "burn-wgpu")]
pub mod vulkan;

pub use registry::compiled_backends;
