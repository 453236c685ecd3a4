//! What a framework computes with: host tensors with the seeded weights and
//! inputs ([`tensors`]), building blocks run on their own ([`kernels`]), and the
//! trait every framework crate implements ([`backend`]).

pub mod backend;
pub mod kernels;
pub mod pass_inputs;
pub mod tensors;
