//! Building blocks shared by the Wan and Llama models, on Burn's tensor API.
//!
//! Burn's `LayerNorm` module always has an affine weight and Wan's norms
//! compute statistics in f32, so norms are written out here; they are
//! differentiable, as every op here is.

use burn::tensor::activation::softmax;
use burn::tensor::module::attention as burn_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType, Device, Tensor, TensorCreationOptions, TensorData};
use ditbench_core::model::attention::AttentionRecord;
use ditbench_core::model::tables::RopeTable;
use ditbench_core::{AttentionPath, AttentionPlan};

/// `x @ w + b` for x [B, S, in] and w [in, out] (Burn's `Linear` layout,
/// the transpose of PyTorch's).
pub fn linear(x: Tensor<3>, w: Tensor<2>, b: Option<Tensor<1>>) -> Tensor<3> {
    let [batch, seq, inp] = x.dims();
    let out = w.dims()[1];
    let y = x.reshape([batch * seq, inp]).matmul(w);
    let y = match b {
        Some(b) => y + b.unsqueeze_dim::<2>(0),
        None => y,
    };
    y.reshape([batch, seq, out])
}

/// Statistics in f32 for half-precision inputs, as the references do.
fn upcast<const D: usize>(x: Tensor<D>) -> (Tensor<D>, DType) {
    let dtype = x.dtype();
    match dtype {
        DType::F16 | DType::BF16 => (x.cast(DType::F32), dtype),
        _ => (x, dtype),
    }
}

fn restore<const D: usize>(x: Tensor<D>, dtype: DType) -> Tensor<D> {
    if x.dtype() == dtype { x } else { x.cast(dtype) }
}

/// A [n] vector as [1, 1, n] for broadcasting over [B, S, n].
fn row(v: Tensor<1>) -> Tensor<3> {
    v.unsqueeze_dim::<2>(0).unsqueeze_dim::<3>(0)
}

/// LayerNorm over the last dimension; without `weight`/`bias` it is Wan's
/// non-affine `WanLayerNorm`.
pub fn layer_norm(
    x: Tensor<3>,
    weight: Option<Tensor<1>>,
    bias: Option<Tensor<1>>,
    eps: f64,
) -> Tensor<3> {
    let (x, dtype) = upcast(x);
    let centered = x.clone() - x.mean_dim(2);
    let var = centered.clone().square().mean_dim(2);
    let mut y = restore(centered / (var + eps).sqrt(), dtype);
    if let Some(w) = weight {
        y = y * row(w);
    }
    if let Some(b) = bias {
        y = y + row(b);
    }
    y
}

/// RMSNorm over the last dimension with a weight.
pub fn rms_norm(x: Tensor<3>, weight: Tensor<1>, eps: f64) -> Tensor<3> {
    let (x, dtype) = upcast(x);
    let ms = x.clone().square().mean_dim(2);
    restore(x / (ms + eps).sqrt(), dtype) * row(weight)
}

/// RoPE on x [B, H, S, D] with cos/sin [S, D/2]. `interleaved`: pairs are
/// adjacent channels (Wan); otherwise halves (Llama's `rotate_half`).
pub fn rope(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>, interleaved: bool) -> Tensor<4> {
    let [b, h, s, d] = x.dims();
    let half = d / 2;
    if interleaved {
        let x = x.reshape([b, h, s, half, 2]);
        let x0 = x.clone().narrow(4, 0, 1);
        let x1 = x.narrow(4, 1, 1);
        let cos = cos.clone().reshape([1, 1, s, half, 1]);
        let sin = sin.clone().reshape([1, 1, s, half, 1]);
        let out0 = x0.clone() * cos.clone() - x1.clone() * sin.clone();
        let out1 = x0 * sin + x1 * cos;
        Tensor::cat(vec![out0, out1], 4).reshape([b, h, s, d])
    } else {
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.narrow(3, half, half);
        let cos = cos.clone().reshape([1, 1, s, half]);
        let sin = sin.clone().reshape([1, 1, s, half]);
        let out1 = x1.clone() * cos.clone() - x2.clone() * sin.clone();
        let out2 = x2 * cos + x1 * sin;
        Tensor::cat(vec![out1, out2], 3)
    }
}

/// A model's attention: the case's plan (Burn's `module::attention`, or
/// matmul, softmax, matmul in Burn's ops, whole or over query tiles) and
/// the record of what ran.
pub struct Attention {
    pub record: AttentionRecord,
}

impl Attention {
    pub fn new(plan: AttentionPlan) -> Self {
        Attention {
            record: AttentionRecord::new(plan),
        }
    }

    /// Softmax attention over q [B, H, Sq, D], k and v [B, H, Sk, D],
    /// scaled by 1/sqrt(D), by the plan's path.
    pub fn run(&self, q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, causal: bool) -> Tensor<4> {
        let [b, h, s_q, _] = q.dims();
        let tiles = self.record.call(b * h, s_q, k.dims()[2]);
        match (self.record.plan.path, tiles) {
            (AttentionPath::Fused, _) => {
                let options = AttentionModuleOptions {
                    scale: None,
                    softcap: None,
                    is_causal: causal,
                };
                burn_attention(q, k, v, None, None, options)
            }
            (_, None) => composite(q, k, v, causal, 0),
            (_, Some(rows)) => {
                let tiles = (0..s_q)
                    .step_by(rows)
                    .map(|start| {
                        let n = rows.min(s_q - start);
                        let tile = q.clone().narrow(2, start, n);
                        composite(tile, k.clone(), v.clone(), causal, start)
                    })
                    .collect();
                Tensor::cat(tiles, 2)
            }
        }
    }
}

impl Attention {
    /// T5's attention: softmax(q kᵀ · `scale` + `bias`) v with the softmax
    /// in f32 (the reference casts the scores), bias [1, H, Sq, Sk]; Burn's
    /// attention op takes the bias where the plan asks for it.
    pub fn biased(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        bias: Tensor<4>,
        scale: f64,
    ) -> Tensor<4> {
        let [b, h, s_q, _] = q.dims();
        let s_k = k.dims()[2];
        let one = |q: Tensor<4>, bias: Tensor<4>| {
            let dtype = q.dtype();
            let scores = q.matmul(k.clone().swap_dims(2, 3)).mul_scalar(scale) + bias;
            let (scores, _) = upcast(scores);
            restore(softmax(scores, 3), dtype).matmul(v.clone())
        };
        match (self.record.plan.path, self.record.call(b * h, s_q, s_k)) {
            (AttentionPath::Fused, _) => {
                let options = AttentionModuleOptions {
                    scale: Some(scale),
                    softcap: None,
                    is_causal: false,
                };
                let bias = bias.expand([b, h, s_q, s_k]);
                burn_attention(q, k, v, None, Some(bias), options)
            }
            (_, None) => one(q, bias),
            (_, Some(rows)) => {
                let tiles = (0..s_q)
                    .step_by(rows)
                    .map(|start| {
                        let n = rows.min(s_q - start);
                        one(
                            q.clone().narrow(2, start, n),
                            bias.clone().narrow(2, start, n),
                        )
                    })
                    .collect();
                Tensor::cat(tiles, 2)
            }
        }
    }
}

/// matmul, softmax, matmul over queries whose first row is query `first`
/// of the sequence (for the causal mask of a tile).
fn composite(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, causal: bool, first: usize) -> Tensor<4> {
    let [_, _, rows, d] = q.dims();
    let keys = k.dims()[2];
    let scores = q
        .mul_scalar(1.0 / (d as f64).sqrt())
        .matmul(k.swap_dims(2, 3));
    let scores = if causal {
        // True above the diagonal shifted by `first`: the future keys.
        let future = Tensor::<2, Bool>::tril_mask([rows, keys], first as i64, &scores.device());
        scores.mask_fill(future.unsqueeze::<4>(), f32::NEG_INFINITY)
    } else {
        scores
    };
    softmax(scores, 3).matmul(v)
}

/// [B, S, H*D] -> [B, H, S, D].
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, s, hd] = x.dims();
    x.reshape([b, s, heads, hd / heads]).swap_dims(1, 2)
}

/// [B, H, S, D] -> [B, S, H*D].
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, s, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, s, h * d])
}

/// GELU with the tanh approximation (PyTorch's `approximate='tanh'`).
pub fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::gelu_approximate(x)
}

pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::silu(x)
}

/// Host values as a `dtype` tensor of `shape` on `device`.
pub fn float_tensor<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    dtype: DType,
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(
        TensorData::new(values, shape),
        TensorCreationOptions::new(device.clone()).with_dtype(dtype),
    )
}

/// A RoPE table's cos and sin [positions, pairs] on the device.
pub struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl Rope {
    pub fn new(table: RopeTable, dtype: DType, device: &Device) -> Self {
        let shape = [table.positions, table.pairs];
        Rope {
            cos: float_tensor(table.cos, shape, dtype, device),
            sin: float_tensor(table.sin, shape, dtype, device),
        }
    }

    /// [`rope`] with this table.
    pub fn apply(&self, x: Tensor<4>, interleaved: bool) -> Tensor<4> {
        rope(x, &self.cos, &self.sin, interleaved)
    }

    /// The table's rows for `len` positions from `start`.
    pub fn positions(&self, start: usize, len: usize) -> Rope {
        Rope {
            cos: self.cos.clone().narrow(0, start, len),
            sin: self.sin.clone().narrow(0, start, len),
        }
    }
}
