//! Parameters on the device, by reference name. Each is one flat leaf tensor
//! (a gradient leaf when training), reshaped where it is used.

use std::collections::HashMap;

use anyhow::Result;
use burn::tensor::{DType, Device, Tensor, TensorCreationOptions, TensorData};
use ditbench_harness::WeightSource;
use ditbench_harness::params::ParamSpec;
use ditbench_harness::tensors::load_checked;

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
        for spec in specs {
            let host = load_checked(source, spec)?;
            let values = host.as_f32()?.to_vec();
            let n = values.len();
            let t = Tensor::<1>::from_data(TensorData::new(values, [n]), options.clone());
            let t = if trainable { t.require_grad() } else { t };
            tensors.insert(spec.name.clone(), (t, spec.shape.clone()));
            order.push(spec.name.clone());
        }
        Ok(Weights { tensors, order })
    }

    fn get<const D: usize>(&self, name: &str) -> Tensor<D> {
        let (t, shape) = self
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} is in the inventory"));
        let dims: [usize; D] = shape
            .as_slice()
            .try_into()
            .unwrap_or_else(|_| panic!("{name} has rank {}, used as rank {D}", shape.len()));
        t.clone().reshape(dims)
    }

    pub fn get1(&self, name: &str) -> Tensor<1> {
        self.get(name)
    }

    pub fn get2(&self, name: &str) -> Tensor<2> {
        self.get(name)
    }

    pub fn get3(&self, name: &str) -> Tensor<3> {
        self.get(name)
    }

    pub fn get4(&self, name: &str) -> Tensor<4> {
        self.get(name)
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
    /// A parameter viewed with another shape of the same size (the Conv3d
    /// patch weight as a [dim, C*pt*ph*pw] matrix).
    pub fn get2_as(&self, name: &str, shape: [usize; 2]) -> Tensor<2> {
        self.tensors[name].0.clone().reshape(shape)
    }

    /// A typed handle on parameter `name` with its rank, resolved once.
    pub fn param<const D: usize>(&self, name: &str) -> Param<D> {
        let dims = self.get::<D>(name).dims();
        Param {
            leaf: self.tensors[name].0.clone(),
            dims,
        }
    }

    /// [`Weights::param`] viewed with another shape of the same size.
    pub fn param_as<const D: usize>(&self, name: &str, dims: [usize; D]) -> Param<D> {
        Param {
            leaf: self.tensors[name].0.clone(),
            dims,
        }
    }
}

/// One parameter, resolved at prepare time: its flat leaf and the shape it
/// is used in. Each use reshapes the leaf afresh, so every step's autodiff
/// graph reaches the leaf (a reshape kept from an earlier graph would not).
#[derive(Clone)]
pub struct Param<const D: usize> {
    leaf: Tensor<1>,
    dims: [usize; D],
}

impl<const D: usize> Param<D> {
    pub fn get(&self) -> Tensor<D> {
        self.leaf.clone().reshape(self.dims)
    }
}
