//! What is measured: the Wan2.1 DiT, Llama, UMT5 text-encoder and Wan-VAE decoder configurations with presets and
//! overrides ([`workload`]), a case's dtype, pass, device and attention ([`case`]),
//! the parameter inventory ([`params`]) and analytic cost model ([`cost`]),
//! constant tables ([`tables`]), each model's parameters as typed structs
//! ([`layout`]), and which attention path a case runs with its memory ([`attention`]).
//! The two families of a video's other stages keep their configuration,
//! layout and counts in one module each ([`umt5`], [`wan_vae`]), below
//! [`workload`], and check their dimensions with [`limits`];
//! [`pipeline`] names the stages of one whole video.

pub mod attention;
pub mod case;
pub mod cost;
pub mod layout;
pub mod limits;
pub mod params;
pub mod pipeline;
pub mod tables;
pub mod umt5;
pub mod wan_vae;
pub mod workload;
