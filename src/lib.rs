//! The library half of the `ditbench` package: the table of framework
//! backends ([`registry`]), shared by the command line, the criterion benches
//! and the tests.

pub mod registry;

pub use registry::compiled_backends;
