//! Parameters on the device, by reference name.

use std::collections::HashMap;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use ditbench_core::Dtype;
use ditbench_core::WeightSource;
use ditbench_core::compute::tensors::{HostData, load_checked_for};
use ditbench_core::model::params::ParamSpec;

#[derive(Clone)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    /// Trainable handles in inventory order; empty for inference.
    vars: Vec<(String, Var)>,
}

impl Weights {
    /// Load every parameter from `source`. With `trainable`, each becomes a
    /// `Var` so the autograd graph tracks it; otherwise plain tensors, so
    /// inference builds no graph (like `torch.no_grad()`).
    pub fn load(
        specs: &[ParamSpec],
        source: &dyn WeightSource,
        dtype: DType,
        device: &Device,
        trainable: bool,
    ) -> Result<Self> {
        let mut tensors = HashMap::with_capacity(specs.len());
        let mut vars = Vec::new();
        // A bf16 (f16) checkpoint for a bf16 (f16) run is uploaded as stored.
        let stored = match dtype {
            DType::BF16 => Dtype::Bf16,
            DType::F16 => Dtype::F16,
            _ => Dtype::F32,
        };
        for spec in specs {
            let host = load_checked_for(source, spec, stored)?;
            let shape = spec.shape.as_slice();
            let t = match &host.data {
                HostData::Bf16(v) => Tensor::from_slice(v, shape, device)?,
                HostData::F16(v) => Tensor::from_slice(v, shape, device)?,
                _ => Tensor::from_slice(host.as_f32()?, shape, device)?,
            }
            .to_dtype(dtype)?;
            let t = if trainable {
                let var = Var::from_tensor(&t)?;
                let t = var.as_tensor().clone();
                vars.push((spec.name.clone(), var));
                t
            } else {
                t
            };
            tensors.insert(spec.name.clone(), t);
        }
        Ok(Weights { tensors, vars })
    }

    pub fn get(&self, name: &str) -> candle_core::Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("missing parameter {name}")))
    }

    /// A handle on parameter `name` (sharing its storage and, when
    /// trainable, its `Var`), for resolving a model's layout once.
    pub fn handle(&self, name: &str) -> candle_core::Result<Tensor> {
        self.get(name).cloned()
    }

    /// Every parameter by reference name (a framework's own loader reads them).
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    pub fn numel(&self) -> usize {
        self.tensors.values().map(Tensor::elem_count).sum()
    }
}
