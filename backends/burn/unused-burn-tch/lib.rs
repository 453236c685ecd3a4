//! Never compiled: see Cargo.toml.
compile_error!(
    "Burn's LibTorch backend (burn-tch) is replaced in ditbench's workspace; use the `tch` feature for libtorch"
);
