//! Parameters on the device, by reference name. Each is one flat leaf tensor
//! (a gradient leaf when training), resolved once into a [`Param`] handle
//! and reshaped where it is used.
//!
//! A matmul's weight is stored as Burn's `Linear` stores it, [in, out], the
//! transpose of PyTorch's [out, in], transposed once here
//! ([`MatmulLayout::InOut`]): NdArray copies a transposed view into a new
//! array in every matmul (the whole model, each decode step), and Flex's
//! matrix products run faster on it. Flex's one-row products (a decode
//! step) run faster on the [out, in] rows instead ([`MatmulLayout::OutIn`]).
//! Measured by `ditbench reference-check` (docs/methodology.md).

use std::collections::HashMap;

use anyhow::Result;
use burn::tensor::{DType, Device, Tensor, TensorCreationOptions, TensorData};
use ditbench_core::Dtype;
use ditbench_core::WeightSource;
use ditbench_core::compute::tensors::{HostData, load_checked_for};
use ditbench_core::model::params::ParamSpec;

/// How a matmul's weight is stored (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulLayout {
    /// [in, out], transposed once at load (`burn::nn::Linear`'s layout).
    InOut,
    /// [out, in] as PyTorch stores it, multiplied as a transposed view.
    OutIn,
}

pub struct Weights {
    tensors: HashMap<String, Param>,
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
        layout: MatmulLayout,
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
            let matmul = matmul_weight(spec).then_some(layout);
            let in_out = matmul == Some(MatmulLayout::InOut);
            let rows = spec.shape.first().copied().unwrap_or(1);
            let data = match host.data {
                HostData::Bf16(v) => TensorData::new(transposed(v, rows, in_out), [n]),
                HostData::F16(v) => TensorData::new(transposed(v, rows, in_out), [n]),
                HostData::F32(v) => TensorData::new(transposed(v, rows, in_out), [n]),
                HostData::U32(_) => anyhow::bail!("{}: token ids are not weights", spec.name),
            };
            let t = Tensor::<1>::from_data(data, options.clone());
            let leaf = if trainable { t.require_grad() } else { t };
            let shape = spec.shape.clone();
            tensors.insert(
                spec.name.clone(),
                Param {
                    leaf,
                    shape,
                    matmul,
                },
            );
            order.push(spec.name.clone());
        }
        Ok(Weights { tensors, order })
    }

    /// The flat leaf of a parameter (for gradients).
    pub fn leaf(&self, name: &str) -> &Tensor<1> {
        &self.tensors[name].leaf
    }

    pub fn names(&self) -> &[String] {
        &self.order
    }

    pub fn numel(&self) -> usize {
        self.tensors
            .values()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }
}

impl Weights {
    /// A handle on parameter `name`, resolved once (see [`Param`]).
    pub fn param(&self, name: &str) -> Result<Param> {
        self.tensors
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("missing parameter {name}"))
    }
}

/// Whether `spec` is a matmul's weight, stored [in, out]: a linear layer's
/// (rank 2, `.weight`, not the token embedding, whose rows are looked up)
/// and the patch embedding's Conv3d weight, a [dim, C*pt*ph*pw] matrix.
fn matmul_weight(spec: &ParamSpec) -> bool {
    let linear = spec.shape.len() == 2
        && spec.name.ends_with(".weight")
        && !spec.name.ends_with("embed_tokens.weight")
        // UMT5's token and relative-position embeddings: rows looked up.
        && !spec.name.ends_with("embedding.weight");
    linear || spec.name == "patch_embedding.weight"
}

/// `values`, a row-major [rows, len/rows] matrix, transposed when `transpose`.
pub(crate) fn transposed<T: Copy>(values: Vec<T>, rows: usize, transpose: bool) -> Vec<T> {
    if !transpose {
        return values;
    }
    let cols = values.len() / rows;
    (0..values.len())
        .map(|i| values[(i % rows) * cols + i / rows])
        .collect()
}

/// One parameter, resolved at prepare time: its flat leaf and its shape.
/// Each use reshapes the leaf afresh, so every step's autodiff graph
/// reaches the leaf (a reshape kept from an earlier graph would not).
#[derive(Clone)]
pub struct Param {
    leaf: Tensor<1>,
    shape: Vec<usize>,
    /// How a matmul's weight is stored; `None` for other parameters.
    matmul: Option<MatmulLayout>,
}

impl Param {
    /// The parameter in its own shape, of rank `D`.
    pub fn get<const D: usize>(&self) -> Tensor<D> {
        assert!(
            self.matmul.is_none(),
            "a matmul weight is read with `matmul_weight`"
        );
        let dims: [usize; D] = self.shape.as_slice().try_into().unwrap_or_else(|_| {
            panic!("a parameter of rank {} used as rank {D}", self.shape.len())
        });
        self.leaf.clone().reshape(dims)
    }

    /// A matmul's weight as the [in, out] matrix a product takes: a linear
    /// layer's [out, in], the patch embedding's [dim, C*pt*ph*pw],
    /// transposed (stored so, or as a view).
    pub fn matmul_weight(&self) -> Tensor<2> {
        let out = self.shape[0];
        let inp = self.shape.iter().product::<usize>() / out;
        match self.matmul.expect("a matmul weight") {
            MatmulLayout::InOut => self.leaf.clone().reshape([inp, out]),
            MatmulLayout::OutIn => self.leaf.clone().reshape([out, inp]).transpose(),
        }
    }
}
