//! What a worker asks of the machine: the thread pools a case computes with
//! ([`threads`]) and the NVIDIA GPUs present ([`gpus`]).

pub mod gpus;
pub mod threads;
