//! Building blocks shared by the Wan and Llama models.
//!
//! Candle's fused CPU/GPU kernels for softmax, RMSNorm, LayerNorm and RoPE
//! record no backward op: gradients silently stop at them. Inference uses
//! them (the framework's fastest path); training uses differentiable
//! compositions of primitive ops computing the same function.

use candle_core::{D, DType, Device, Result, Tensor};
use candle_nn::{ops, rotary_emb};
use ditbench_core::model::attention::AttentionRecord;
use ditbench_core::model::tables::RopeTable;
use ditbench_core::{AttentionPath, AttentionPlan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward only: fused kernels, no autograd graph (plain tensors).
    Inference,
    /// Forward for backprop: differentiable ops on `Var`s.
    Training,
}

impl Mode {
    pub fn attention_impl(self) -> &'static str {
        match self {
            Mode::Inference => {
                "composite: matmul QK^T, candle_nn::ops::softmax_last_dim (fused kernel), matmul AV"
            }
            Mode::Training => {
                "composite: matmul QK^T, candle_nn::ops::softmax (differentiable: max/exp/sum/div), matmul AV"
            }
        }
    }
}

/// `x @ w^T + b` for x [..., in], w [out, in] (PyTorch layout).
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let inp = dims[dims.len() - 1];
    let out = w.dim(0)?;
    let y = x.reshape((rows, inp))?.matmul(&w.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut shape = dims;
    *shape.last_mut().expect("non-scalar input") = out;
    y.reshape(shape)
}

/// Statistics in f32 for half-precision inputs, as the references do.
fn upcast(x: &Tensor) -> Result<Tensor> {
    match x.dtype() {
        DType::F16 | DType::BF16 => x.to_dtype(DType::F32),
        _ => Ok(x.clone()),
    }
}

/// LayerNorm over the last dimension, without affine parameters when
/// `weight` is `None` (Wan's `WanLayerNorm(elementwise_affine=False)`).
pub fn layer_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
    mode: Mode,
) -> Result<Tensor> {
    match mode {
        Mode::Inference => {
            let n = x.dim(D::Minus1)?;
            let ones;
            let zeros;
            let w = match weight {
                Some(w) => w,
                None => {
                    ones = Tensor::ones(n, x.dtype(), x.device())?;
                    &ones
                }
            };
            let b = match bias {
                Some(b) => b,
                None => {
                    zeros = Tensor::zeros(n, x.dtype(), x.device())?;
                    &zeros
                }
            };
            ops::layer_norm(&x.contiguous()?, w, b, eps as f32)
        }
        Mode::Training => {
            let dtype = x.dtype();
            let x = upcast(x)?;
            let centered = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
            let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
            let mut y = centered
                .broadcast_div(&(var + eps)?.sqrt()?)?
                .to_dtype(dtype)?;
            if let Some(w) = weight {
                y = y.broadcast_mul(w)?;
            }
            if let Some(b) = bias {
                y = y.broadcast_add(b)?;
            }
            Ok(y)
        }
    }
}

/// RMSNorm over the last dimension with a weight.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64, mode: Mode) -> Result<Tensor> {
    match mode {
        Mode::Inference => ops::rms_norm(&x.contiguous()?, weight, eps as f32),
        Mode::Training => {
            let dtype = x.dtype();
            let x = upcast(x)?;
            let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
            x.broadcast_div(&(ms + eps)?.sqrt()?)?
                .to_dtype(dtype)?
                .broadcast_mul(weight)
        }
    }
}

/// RoPE on x [B, H, S, D] with cos/sin [S, D/2]. `interleaved`: pairs are
/// adjacent channels (Wan); otherwise halves (Llama's `rotate_half`).
pub fn rope(
    x: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    interleaved: bool,
    mode: Mode,
) -> Result<Tensor> {
    let x = x.contiguous()?;
    match (mode, interleaved) {
        (Mode::Inference, true) => rotary_emb::rope_i(&x, cos, sin),
        (Mode::Inference, false) => rotary_emb::rope(&x, cos, sin),
        (Mode::Training, true) => rotary_emb::rope_i_slow(&x, cos, sin),
        (Mode::Training, false) => rotary_emb::rope_slow(&x, cos, sin),
    }
}

/// Softmax attention over q [B, H, Sq, D], k, v [B, H, Sk, D], with an
/// optional additive mask [Sq, Sk]. Returns [B, H, Sq, D].
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    mode: Mode,
) -> Result<Tensor> {
    let scale = 1.0 / (q.dim(D::Minus1)? as f64).sqrt();
    let scores = (q * scale)?.contiguous()?.matmul(&k.contiguous()?.t()?)?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let probs = match mode {
        Mode::Inference => ops::softmax_last_dim(&scores)?,
        Mode::Training => ops::softmax(&scores, D::Minus1)?,
    };
    probs.matmul(&v.contiguous()?)
}

/// [B, S, H*D] -> [B, H, S, D].
pub fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, s, hd) = x.dims3()?;
    x.reshape((b, s, heads, hd / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// [B, H, S, D] -> [B, S, H*D].
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, s, d) = x.dims4()?;
    x.transpose(1, 2)?.contiguous()?.reshape((b, s, h * d))
}

/// Exact attention in query tiles: the same function as [`attention`], but
/// only one tile of `rows` queries' scores exists at a time, so forward
/// memory grows with S_q x rows instead of S_q x S_k. Each tile is the
/// composite path (matmul, softmax, matmul) on its queries and, with a
/// mask, its mask rows; tiles are concatenated along the query axis.
/// Training keeps every tile's probabilities for the backward pass, as the
/// composite path does: tiling bounds inference memory only.
pub fn attention_tiled(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    mode: Mode,
    rows: usize,
) -> Result<Tensor> {
    let s_q = q.dim(2)?;
    if rows >= s_q {
        return attention(q, k, v, mask, mode);
    }
    let tiles = (0..s_q)
        .step_by(rows.max(1))
        .map(|start| {
            let n = rows.min(s_q - start);
            let q_tile = q.narrow(2, start, n)?;
            let mask_tile = mask.map(|m| m.narrow(0, start, n)).transpose()?;
            attention(&q_tile, k, v, mask_tile.as_ref(), mode)
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&tiles, 2)
}

/// The attention path of a model, as the case's plan asks: composite, or
/// composite over query tiles of at most the plan's bytes of scores (Candle
/// has no fused attention on the CPU), with the record of what ran.
#[derive(Debug)]
pub struct AttentionPaths {
    record: AttentionRecord,
}

impl AttentionPaths {
    pub fn new(plan: AttentionPlan) -> Result<Self> {
        if plan.path == AttentionPath::Fused {
            candle_core::bail!("candle has no fused attention on this device");
        }
        Ok(AttentionPaths {
            record: AttentionRecord::new(plan),
        })
    }

    pub fn attention(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, h, s_q, _) = q.dims4()?;
        match self.record.call(b * h, s_q, k.dim(2)?) {
            Some(rows) => attention_tiled(q, k, v, mask, mode, rows),
            None => attention(q, k, v, mask, mode),
        }
    }

    /// T5's attention: softmax(q kᵀ · `scale` + `bias`) v with the softmax
    /// in f32 (the reference casts the scores), bias [1, H, Sq, Sk]; in
    /// query tiles where the plan asks.
    pub fn biased(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        bias: &Tensor,
        scale: f64,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, h, s_q, _) = q.dims4()?;
        let one = |q: &Tensor, bias: &Tensor| -> Result<Tensor> {
            let scores = (q.contiguous()?.matmul(&k.contiguous()?.t()?)? * scale)?
                .broadcast_add(bias)?
                .to_dtype(DType::F32)?;
            let probs = match mode {
                Mode::Inference => ops::softmax_last_dim(&scores)?,
                Mode::Training => ops::softmax(&scores, D::Minus1)?,
            };
            probs.to_dtype(q.dtype())?.matmul(&v.contiguous()?)
        };
        match self.record.call(b * h, s_q, k.dim(2)?) {
            None => one(q, bias),
            Some(rows) => {
                let tiles = (0..s_q)
                    .step_by(rows.max(1))
                    .map(|start| {
                        let n = rows.min(s_q - start);
                        one(&q.narrow(2, start, n)?, &bias.narrow(2, start, n)?)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Tensor::cat(&tiles, 2)
            }
        }
    }

    /// Forget the calls so far (an untimed prefill), so the record
    /// describes the timed steps.
    pub fn forget(&self) {
        self.record.forget();
    }

    /// Which path ran, in words.
    pub fn describe(&self, mode: Mode) -> String {
        self.record
            .describe(mode.attention_impl(), || unreachable!("no fused path"))
    }
}

/// A RoPE table's cos and sin [positions, pairs] on the device.
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    pub fn new(table: RopeTable, dtype: DType, device: &Device) -> Result<Self> {
        let shape = (table.positions, table.pairs);
        Ok(Rope {
            cos: Tensor::from_vec(table.cos, shape, device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(table.sin, shape, device)?.to_dtype(dtype)?,
        })
    }

    /// [`rope`] with this table.
    pub fn apply(&self, x: &Tensor, interleaved: bool, mode: Mode) -> Result<Tensor> {
        rope(x, &self.cos, &self.sin, interleaved, mode)
    }

    /// The table's rows for `len` positions from `start`.
    pub fn positions(&self, start: usize, len: usize) -> Result<Rope> {
        let rows = |t: &Tensor| t.narrow(0, start, len)?.contiguous();
        Ok(Rope {
            cos: rows(&self.cos)?,
            sin: rows(&self.sin)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::max_abs_diff;
    use candle_core::{Device, Var};

    fn rand(shape: &[usize], seed: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37 + seed).sin()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn fused_and_differentiable_paths_compute_the_same_function() {
        let x = rand(&[2, 3, 16], 0.1);
        let w = rand(&[16], 0.7);
        let b = rand(&[16], 0.3);
        for (m1, m2) in [(Mode::Inference, Mode::Training)] {
            let ln = |m| layer_norm(&x, Some(&w), Some(&b), 1e-6, m).unwrap();
            assert!(max_abs_diff(&ln(m1), &ln(m2)) < 1e-5);
            let ln0 = |m| layer_norm(&x, None, None, 1e-6, m).unwrap();
            assert!(max_abs_diff(&ln0(m1), &ln0(m2)) < 1e-5);
            let rms = |m| rms_norm(&x, &w, 1e-6, m).unwrap();
            assert!(max_abs_diff(&rms(m1), &rms(m2)) < 1e-5);
            let q = rand(&[1, 2, 3, 8], 0.2);
            let k = rand(&[1, 2, 3, 8], 0.4);
            let v = rand(&[1, 2, 3, 8], 0.9);
            let cos = rand(&[3, 4], 0.5);
            let sin = rand(&[3, 4], 0.6);
            for inter in [true, false] {
                let r = |m| rope(&q, &cos, &sin, inter, m).unwrap();
                assert!(max_abs_diff(&r(m1), &r(m2)) < 1e-6);
            }
            let mask = Tensor::from_vec(
                ditbench_core::model::tables::causal_mask(3),
                (3, 3),
                &Device::Cpu,
            )
            .unwrap();
            let a = |m| attention(&q, &k, &v, Some(&mask), m).unwrap();
            assert!(max_abs_diff(&a(m1), &a(m2)) < 1e-6);
        }
    }

    #[test]
    fn layer_norm_matches_definition() {
        let x = Tensor::new(&[[1f32, 2., 3., 4.]], &Device::Cpu).unwrap();
        let y = layer_norm(&x, None, None, 0.0, Mode::Training).unwrap();
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let sd = 1.25f32.sqrt();
        let want = [-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd];
        for (a, b) in v.iter().zip(want) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn causal_attention_ignores_future_keys() {
        let q = rand(&[1, 1, 3, 4], 0.2);
        let k = rand(&[1, 1, 3, 4], 0.4);
        let v = rand(&[1, 1, 3, 4], 0.9);
        let mask = Tensor::from_vec(
            ditbench_core::model::tables::causal_mask(3),
            (3, 3),
            &Device::Cpu,
        )
        .unwrap();
        let full = attention(&q, &k, &v, Some(&mask), Mode::Inference).unwrap();
        // The first query sees only the first value.
        let first = full.narrow(2, 0, 1).unwrap();
        assert!(max_abs_diff(&first, &v.narrow(2, 0, 1).unwrap()) < 1e-6);
    }

    #[test]
    fn training_ops_propagate_gradients() {
        let x = Var::from_tensor(&rand(&[2, 16], 0.1)).unwrap();
        let w = Var::from_tensor(&rand(&[16], 0.2)).unwrap();
        let y = rms_norm(x.as_tensor(), w.as_tensor(), 1e-6, Mode::Training).unwrap();
        let y = layer_norm(&y, Some(w.as_tensor()), None, 1e-6, Mode::Training).unwrap();
        let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        for var in [&x, &w] {
            let g = grads.get(var.as_tensor()).expect("gradient");
            let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
            assert!(norm > 0.0);
        }
    }
}
