//! Files: weights, inputs and outputs as safetensors ([`files`]), a user's
//! inputs in the reference names ([`input_file`]), and checkpoints, sharded or
//! not ([`checkpoint`]).

pub mod checkpoint;
pub mod files;
pub mod input_file;
