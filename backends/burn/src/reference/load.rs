//! Parameters into `burn::nn` modules, by reference name.

use std::collections::HashMap;

use anyhow::{Context, Result};
use burn::module::Param;
use burn::nn::{LayerNorm, Linear, RmsNorm, RotaryEncoding, RotaryEncodingConfig};
use burn::tensor::{DType, Device, Tensor};
use ditbench_core::compute::tensors::load_checked_for;
use ditbench_core::model::params::{ParamSpec, parameters};
use ditbench_core::model::tables::RopeTable;
use ditbench_core::model::workload::ModelConfig;
use ditbench_core::{Dtype, WeightSource};

use crate::ops::float_tensor;

pub(crate) struct Loader<'a> {
    specs: HashMap<String, ParamSpec>,
    source: &'a dyn WeightSource,
    pub dtype: DType,
    pub device: Device,
    trainable: bool,
    /// Every trainable parameter handed out, by reference name.
    loaded: std::cell::RefCell<Vec<(String, Leaf)>>,
}

/// A trainable parameter's tensor, whatever its rank.
#[derive(Clone)]
pub(crate) enum Leaf {
    R1(Tensor<1>),
    R2(Tensor<2>),
    R3(Tensor<3>),
    R5(Tensor<5>),
}

/// The ranks a parameter comes in.
pub(crate) trait IntoLeaf {
    fn leaf(self) -> Leaf;
}

macro_rules! into_leaf {
    ($($rank:literal => $variant:ident),*) => {$(
        impl IntoLeaf for Tensor<$rank> {
            fn leaf(self) -> Leaf {
                Leaf::$variant(self)
            }
        }
    )*};
}
into_leaf!(1 => R1, 2 => R2, 3 => R3, 5 => R5);

impl Leaf {
    /// The L2 norm of this parameter's gradient in `grads` (0 where it has none).
    pub fn grad_norm(&self, grads: &burn::tensor::Gradients) -> Result<f64> {
        let g = match self {
            Leaf::R1(t) => t.grad(grads).map(crate::host),
            Leaf::R2(t) => t.grad(grads).map(crate::host),
            Leaf::R3(t) => t.grad(grads).map(crate::host),
            Leaf::R5(t) => t.grad(grads).map(crate::host),
        };
        Ok(match g {
            Some(h) => ditbench_core::io::files::l2_norm(h?.as_f32()?),
            None => 0.0,
        })
    }
}

impl<'a> Loader<'a> {
    pub fn new(
        config: &ModelConfig,
        source: &'a dyn WeightSource,
        dtype: DType,
        device: &Device,
        trainable: bool,
    ) -> Self {
        Loader {
            specs: parameters(config)
                .into_iter()
                .map(|s| (s.name.clone(), s))
                .collect(),
            source,
            dtype,
            device: device.clone(),
            trainable,
            loaded: Default::default(),
        }
    }

    /// Host values and shape of parameter `name`.
    fn values(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let spec = self
            .specs
            .get(name)
            .with_context(|| format!("missing parameter {name}"))?;
        let host = load_checked_for(self.source, spec, Dtype::F32)?;
        Ok((host.as_f32()?.to_vec(), spec.shape.clone()))
    }

    /// `values` as a module parameter of rank `D` (trainable when training).
    fn param<const D: usize>(
        &self,
        name: &str,
        values: Vec<f32>,
        shape: [usize; D],
    ) -> Param<Tensor<D>>
    where
        Tensor<D>: IntoLeaf,
    {
        let t = float_tensor(values, shape, self.dtype, &self.device);
        let p = Param::from_tensor(t).set_require_grad(self.trainable);
        if self.trainable {
            self.loaded
                .borrow_mut()
                .push((name.to_string(), p.val().leaf()));
        }
        p
    }

    pub fn tensor<const D: usize>(&self, name: &str) -> Result<Param<Tensor<D>>>
    where
        Tensor<D>: IntoLeaf,
    {
        let (values, shape) = self.values(name)?;
        let dims: [usize; D] = shape
            .as_slice()
            .try_into()
            .with_context(|| format!("{name} is not of rank {D}"))?;
        Ok(self.param(name, values, dims))
    }

    /// A PyTorch [out, in] weight as Burn's [in, out], rows permuted first by
    /// `rows` (new row i is old row rows[i]) where given.
    pub fn linear(&self, prefix: &str, bias: bool, rows: Option<&[usize]>) -> Result<Linear> {
        let name = format!("{prefix}.weight");
        let (values, shape) = self.values(&name)?;
        let [out, inp]: [usize; 2] = shape
            .as_slice()
            .try_into()
            .context("a linear weight is 2-D")?;
        let mut t = vec![0f32; out * inp];
        for o in 0..out {
            let src = rows.map_or(o, |r| r[o]);
            for i in 0..inp {
                t[i * out + o] = values[src * inp + i];
            }
        }
        let bias = bias
            .then(|| self.tensor::<1>(&format!("{prefix}.bias")))
            .transpose()?;
        Ok(Linear {
            weight: self.param(&name, t, [inp, out]),
            bias,
        })
    }

    pub fn rms_norm(&self, name: &str, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm {
            gamma: self.tensor(name)?,
            epsilon: eps,
        })
    }

    /// LayerNorm with `prefix`'s weight and bias, or without (Wan's
    /// non-affine norms): then a frozen weight of ones.
    pub fn layer_norm(&self, prefix: Option<&str>, dim: usize, eps: f64) -> Result<LayerNorm> {
        let mut norm = burn::nn::LayerNormConfig::new(dim)
            .with_epsilon(eps)
            .with_bias(prefix.is_some())
            .init(&self.device);
        match prefix {
            Some(p) => {
                norm.gamma = self.tensor(&format!("{p}.weight"))?;
                norm.beta = Some(self.tensor(&format!("{p}.bias"))?);
            }
            None => {
                let ones = float_tensor(vec![1.0; dim], [dim], self.dtype, &self.device);
                norm.gamma = Param::from_tensor(ones).set_require_grad(false);
            }
        }
        Ok(norm)
    }

    /// A RotaryEncoding holding `table` (one row per position).
    pub fn rope(&self, table: &RopeTable) -> RotaryEncoding {
        let d = 2 * table.pairs;
        let mut rope = RotaryEncodingConfig::new(1, d).init(&self.device);
        // [positions, d, 2]: channels 2j and 2j+1 both hold pair j's (cos, sin).
        let mut freq = Vec::with_capacity(table.positions * d * 2);
        for p in 0..table.positions {
            for j in 0..table.pairs {
                let (c, s) = (
                    table.cos[p * table.pairs + j],
                    table.sin[p * table.pairs + j],
                );
                freq.extend_from_slice(&[c, s, c, s]);
            }
        }
        rope.freq_complex = float_tensor(freq, [table.positions, d, 2], self.dtype, &self.device);
        rope
    }

    /// Every trainable parameter handed out so far.
    pub fn loaded(&self) -> Vec<(String, Leaf)> {
        self.loaded.borrow().clone()
    }
}
