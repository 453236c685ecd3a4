//! Parameters on the device, by reference name.

use std::collections::HashMap;

use anyhow::{Context, Result};
use ditbench_core::Dtype;
use ditbench_core::WeightSource;
use ditbench_core::compute::tensors::{HostData, load_checked_for};
use ditbench_core::model::params::ParamSpec;
use tch::{Device, Kind, Tensor};

pub struct Weights {
    tensors: HashMap<String, Tensor>,
    /// Trainable leaves in inventory order; empty for inference.
    trainable: Vec<(String, Tensor)>,
}

/// Upload f32 host data as a `kind` tensor of `shape` on `device`.
pub fn upload(values: &[f32], shape: &[usize], kind: Kind, device: Device) -> Result<Tensor> {
    let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Ok(Tensor::f_from_slice(values)?
        .f_view(shape.as_slice())?
        .f_to_kind(kind)?
        .f_to(device)?)
}

impl Weights {
    /// Load every parameter from `source`. With `trainable`, each is a leaf
    /// that requires grad; otherwise plain tensors, so inference records no
    /// autograd graph (like `torch.no_grad()`).
    pub fn load(
        specs: &[ParamSpec],
        source: &dyn WeightSource,
        kind: Kind,
        device: Device,
        trainable: bool,
    ) -> Result<Self> {
        let mut tensors = HashMap::with_capacity(specs.len());
        let mut leaves = Vec::new();
        // A bf16 (f16) checkpoint for a bf16 (f16) run is uploaded as stored.
        let stored = match kind {
            Kind::BFloat16 => Dtype::Bf16,
            Kind::Half => Dtype::F16,
            _ => Dtype::F32,
        };
        for spec in specs {
            let host = load_checked_for(source, spec, stored)?;
            // From the raw bytes with the kind named: tch 0.24's `Element`
            // for half::bf16 says Kind::Half, so from_slice would read
            // bf16 bits as f16.
            let as_stored = |bytes: Vec<u8>, stored: Kind| -> Result<Tensor> {
                let shape: Vec<i64> = spec.shape.iter().map(|&d| d as i64).collect();
                Ok(Tensor::f_from_data_size(&bytes, &shape, stored)?
                    .f_to_kind(kind)?
                    .f_to(device)?)
            };
            let t = match &host.data {
                HostData::Bf16(v) => as_stored(
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    Kind::BFloat16,
                ),
                HostData::F16(v) => {
                    as_stored(v.iter().flat_map(|x| x.to_le_bytes()).collect(), Kind::Half)
                }
                _ => upload(host.as_f32()?, &spec.shape, kind, device),
            }
            .with_context(|| format!("cannot upload {}", spec.name))?;
            let t = if trainable {
                let t = t.f_detach()?.f_set_requires_grad(true)?;
                leaves.push((spec.name.clone(), t.shallow_clone()));
                t
            } else {
                t
            };
            tensors.insert(spec.name.clone(), t);
        }
        Ok(Weights {
            tensors,
            trainable: leaves,
        })
    }

    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .with_context(|| format!("missing parameter {name}"))
    }

    /// A handle on parameter `name` (sharing its storage and autograd
    /// leaf), for resolving a model's layout once.
    pub fn handle(&self, name: &str) -> Result<Tensor> {
        Ok(self.get(name)?.shallow_clone())
    }

    pub fn trainable(&self) -> &[(String, Tensor)] {
        &self.trainable
    }
}
