//! Parameters on the device, by reference name. Each is one flat leaf tensor
//! (a gradient leaf when training), resolved once into a [`Param`] handle
//! and reshaped where it is used.

use std::collections::HashMap;

use anyhow::Result;
use burn::tensor::{DType, Device, Tensor, TensorCreationOptions, TensorData};
use ditbench_core::Dtype;
use ditbench_core::WeightSource;
use ditbench_core::compute::tensors::{HostData, load_checked_for};
use ditbench_core::model::params::ParamSpec;

pub struct Weights {
    tensors: HashMap<String, (Tensor<1>, Vec<usize>)>,
    /// Names in inventory order.
    order: Vec<String>,
}

impl Weights {
    pub fn load(
        specs: &[ParamSpec],
        source: &dyn WeightSource,
        dtype: DType,
        device: &Device,
        trainable: bool,
    ) -> Result<Self> {
        let mut tensors = HashMap::with_capacity(specs.len());
        let mut order = Vec::with_capacity(specs.len());
        let options = TensorCreationOptions::new(device.clone()).with_dtype(dtype);
        // A bf16 (f16) checkpoint for a bf16 (f16) run is uploaded as stored.
        let stored = match dtype {
            DType::BF16 => Dtype::Bf16,
            DType::F16 => Dtype::F16,
            _ => Dtype::F32,
        };
        for spec in specs {
            let host = load_checked_for(source, spec, stored)?;
            let n = spec.numel();
            let data = match host.data {
                HostData::Bf16(v) => TensorData::new(v, [n]),
                HostData::F16(v) => TensorData::new(v, [n]),
                HostData::F32(v) => TensorData::new(v, [n]),
                HostData::U32(_) => anyhow::bail!("{}: token ids are not weights", spec.name),
            };
            let t = Tensor::<1>::from_data(data, options.clone());
            let t = if trainable { t.require_grad() } else { t };
            tensors.insert(spec.name.clone(), (t, spec.shape.clone()));
            order.push(spec.name.clone());
        }
        Ok(Weights { tensors, order })
    }

    /// The flat leaf of a parameter (for gradients).
    pub fn leaf(&self, name: &str) -> &Tensor<1> {
        &self.tensors[name].0
    }

    pub fn names(&self) -> &[String] {
        &self.order
    }

    pub fn numel(&self) -> usize {
        self.tensors
            .values()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

impl Weights {
    /// A handle on parameter `name`, resolved once (see [`Param`]).
    pub fn param(&self, name: &str) -> Result<Param> {
        let (leaf, shape) = self
            .tensors
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("missing parameter {name}"))?;
        Ok(Param {
            leaf: leaf.clone(),
            shape: shape.clone(),
        })
    }
}

/// One parameter, resolved at prepare time: its flat leaf and its shape.
/// Each use reshapes the leaf afresh, so every step's autodiff graph
/// reaches the leaf (a reshape kept from an earlier graph would not).
#[derive(Clone)]
pub struct Param {
    leaf: Tensor<1>,
    shape: Vec<usize>,
}

impl Param {
    /// The parameter in its own shape, of rank `D`.
    pub fn get<const D: usize>(&self) -> Tensor<D> {
        let dims: [usize; D] = self.shape.as_slice().try_into().unwrap_or_else(|_| {
            panic!("a parameter of rank {} used as rank {D}", self.shape.len())
        });
        self.leaf.clone().reshape(dims)
    }

    /// The parameter viewed with another shape of the same size (the
    /// Conv3d patch weight as a [dim, C*pt*ph*pw] matrix).
    pub fn get_as<const D: usize>(&self, dims: [usize; D]) -> Tensor<D> {
        self.leaf.clone().reshape(dims)
    }
}
