//! What is measured: the Wan2.1 DiT and Llama configurations with presets and
//! overrides ([`workload`]), a case's dtype, pass, device and attention ([`case`]),
//! the parameter inventory ([`params`]) and analytic cost model ([`cost`]),
//! constant tables ([`tables`]), each model's parameters as typed structs
//! ([`layout`]), and which attention path a case runs with its memory ([`attention`]).

pub mod attention;
pub mod case;
pub mod cost;
pub mod layout;
pub mod params;
pub mod tables;
pub mod workload;
