//! Building blocks shared by the Wan and Llama models, on libtorch's own
//! operators: `linear` (addmm), `layer_norm`, `rms_norm`, `conv3d` and
//! `scaled_dot_product_attention`, which carry their own backward kernels.

use std::cell::RefCell;
use std::collections::BTreeMap;

use ditbench_core::model::attention::AttentionRecord;
use ditbench_core::model::tables::RopeTable;
use ditbench_core::{AttentionPath, AttentionPlan};
use tch::{Device, Kind, Tensor};

use crate::weights::upload;

pub type Result<T> = std::result::Result<T, tch::TchError>;

/// `x @ w^T + b` (aten::linear, PyTorch's layout).
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    x.f_linear(w, b)
}

/// Half-precision activations are normalized in f32 and rounded back, as the
/// references do (`WanLayerNorm`, `WanRMSNorm`, `LlamaRMSNorm`).
fn in_f32(x: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let kind = x.f_kind()?;
    if kind == Kind::Float {
        return f(x);
    }
    f(&x.f_to_kind(Kind::Float)?)?.f_to_kind(kind)
}

/// LayerNorm over the last dimension (no affine parameters when `weight` is
/// `None`, like Wan's `elementwise_affine=False`).
pub fn layer_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let n = *x.size().last().expect("non-scalar input");
    let y = in_f32(x, |x| x.f_layer_norm([n], None::<&Tensor>, None, eps, true))?;
    let y = match weight {
        Some(w) => y.f_mul(w)?,
        None => y,
    };
    match bias {
        Some(b) => y.f_add(b),
        None => Ok(y),
    }
}

/// RMSNorm over the last dimension, times `weight`.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let n = *x.size().last().expect("non-scalar input");
    in_f32(x, |x| x.f_rms_norm([n], None::<&Tensor>, eps))?.f_mul(weight)
}

/// RoPE on x [B, H, S, D] with cos/sin [S, D/2]. `interleaved`: rotation
/// pairs are adjacent channels (Wan's complex multiply); otherwise the two
/// halves (Llama's `rotate_half`).
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, interleaved: bool) -> Result<Tensor> {
    let size = x.size();
    let d = size[3];
    let (x0, x1) = if interleaved {
        let pairs = x.f_view([size[0], size[1], size[2], d / 2, 2])?;
        (pairs.f_select(-1, 0)?, pairs.f_select(-1, 1)?)
    } else {
        (x.f_narrow(-1, 0, d / 2)?, x.f_narrow(-1, d / 2, d / 2)?)
    };
    let y0 = x0.f_mul(cos)?.f_sub(&x1.f_mul(sin)?)?;
    let y1 = x0.f_mul(sin)?.f_add(&x1.f_mul(cos)?)?;
    if interleaved {
        Tensor::f_stack(&[y0, y1], -1)?.f_view(size.as_slice())
    } else {
        Tensor::f_cat(&[y0, y1], -1)
    }
}

/// The attention path of a model, as the case's plan asks, and what ran:
/// for SDPA, the kernel each site dispatched to at its first call (libtorch
/// picks by shape, dtype, device and layout); for the rest, the record.
pub struct AttentionPaths {
    record: AttentionRecord,
    sdpa: RefCell<BTreeMap<&'static str, &'static str>>,
}

impl AttentionPaths {
    pub fn new(plan: AttentionPlan) -> Self {
        AttentionPaths {
            record: AttentionRecord::new(plan),
            sdpa: RefCell::default(),
        }
    }

    /// Forget the calls so far (an untimed prefill), so the record
    /// describes the timed steps.
    pub fn forget(&self) {
        self.record.forget();
        self.sdpa.borrow_mut().clear();
    }

    /// Which path ran, in words.
    pub fn describe(&self) -> String {
        self.record.describe(COMPOSITE, || {
            let sites: Vec<String> = self
                .sdpa
                .borrow()
                .iter()
                .map(|(site, k)| format!("{site}: {k}"))
                .collect();
            format!(
                "torch.nn.functional.scaled_dot_product_attention ({})",
                sites.join("; ")
            )
        })
    }
}

const COMPOSITE: &str = "composite: matmul QK^T, aten softmax, matmul AV";

/// Softmax attention over q [B, H, Sq, D], k, v [B, KV, Sk, D] by the
/// plan's path; `causal` masks future keys, and fewer kv heads than query
/// heads are shared in groups. `site` names the call in the recorded path.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    causal: bool,
    paths: &AttentionPaths,
    site: &'static str,
) -> Result<Tensor> {
    let size = q.size();
    let s_q = size[2];
    let batch_heads = (size[0] * size[1]) as usize;
    let tiles = paths
        .record
        .call(batch_heads, s_q as usize, k.size()[2] as usize);
    match (paths.record.plan.path, tiles) {
        (AttentionPath::Fused, _) => sdpa(q, k, v, causal, paths, site),
        (_, None) => composite(q, k, v, causal, 0),
        (_, Some(rows)) => {
            let rows = rows as i64;
            let tiles = (0..s_q)
                .step_by(rows as usize)
                .map(|start| {
                    let n = rows.min(s_q - start);
                    composite(&q.f_narrow(2, start, n)?, k, v, causal, start)
                })
                .collect::<Result<Vec<_>>>()?;
            Tensor::f_cat(&tiles, 2)
        }
    }
}

/// `torch.nn.functional.scaled_dot_product_attention`, asking libtorch at
/// each site's first call which kernel it dispatches to.
fn sdpa(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    causal: bool,
    paths: &AttentionPaths,
    site: &'static str,
) -> Result<Tensor> {
    let gqa = q.size()[1] != k.size()[1];
    if !paths.sdpa.borrow().contains_key(site) {
        let choice =
            Tensor::f_internal_fused_sdp_choice(q, k, v, None::<&Tensor>, 0.0, causal, None, gqa)?;
        paths.sdpa.borrow_mut().insert(site, kernel_name(choice));
    }
    Tensor::f_scaled_dot_product_attention(q, k, v, None::<&Tensor>, 0.0, causal, None, gqa)
}

/// matmul, softmax, matmul over queries whose first row is query `first`
/// of the sequence (for the causal mask of a tile).
fn composite(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, first: i64) -> Result<Tensor> {
    let (heads, kv_heads) = (q.size()[1], k.size()[1]);
    let (k, v) = if heads == kv_heads {
        (k.shallow_clone(), v.shallow_clone())
    } else {
        let rep = heads / kv_heads;
        (
            k.f_repeat_interleave_self_int(rep, 1, None)?,
            v.f_repeat_interleave_self_int(rep, 1, None)?,
        )
    };
    let scale = 1.0 / (q.size()[3] as f64).sqrt();
    let mut scores = q.f_mul_scalar(scale)?.f_matmul(&k.f_transpose(-2, -1)?)?;
    if causal {
        let (rows, keys) = (q.size()[2], k.size()[2]);
        let future = Tensor::f_ones([rows, keys], (Kind::Bool, q.device()))?.f_triu(first + 1)?;
        scores = scores.f_masked_fill(&future, f64::NEG_INFINITY)?;
    }
    scores.f_softmax(-1, scores.kind())?.f_matmul(&v)
}

/// T5's attention: softmax(q kᵀ · `scale` + `bias`) v, the scores' softmax
/// in f32 (as the reference casts them), over q, k, v [B, H, S, D] and an
/// additive bias [1, H, Sq, Sk], by the plan's path (SDPA takes the bias as
/// its float mask and the scale as given).
pub fn biased_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    scale: f64,
    paths: &AttentionPaths,
    site: &'static str,
) -> Result<Tensor> {
    let size = q.size();
    let s_q = size[2];
    let tiles = paths.record.call(
        (size[0] * size[1]) as usize,
        s_q as usize,
        k.size()[2] as usize,
    );
    let composite = |q: &Tensor, bias: &Tensor| -> Result<Tensor> {
        let scores = q
            .f_matmul(&k.f_transpose(-2, -1)?)?
            .f_mul_scalar(scale)?
            .f_add(bias)?;
        scores
            .f_softmax(-1, Kind::Float)?
            .f_to_kind(q.kind())?
            .f_matmul(v)
    };
    match (paths.record.plan.path, tiles) {
        (AttentionPath::Fused, _) => {
            if !paths.sdpa.borrow().contains_key(site) {
                let choice = Tensor::f_internal_fused_sdp_choice(
                    q,
                    k,
                    v,
                    Some(bias),
                    0.0,
                    false,
                    Some(scale),
                    false,
                )?;
                paths.sdpa.borrow_mut().insert(site, kernel_name(choice));
            }
            Tensor::f_scaled_dot_product_attention(
                q,
                k,
                v,
                Some(bias),
                0.0,
                false,
                Some(scale),
                false,
            )
        }
        (_, None) => composite(q, bias),
        (_, Some(rows)) => {
            let rows = rows as i64;
            let tiles = (0..s_q)
                .step_by(rows as usize)
                .map(|start| {
                    let n = rows.min(s_q - start);
                    composite(&q.f_narrow(2, start, n)?, &bias.f_narrow(2, start, n)?)
                })
                .collect::<Result<Vec<_>>>()?;
            Tensor::f_cat(&tiles, 2)
        }
    }
}

/// Names of ATen's `sdp::SDPBackend` values, in its order.
fn kernel_name(choice: i64) -> &'static str {
    match choice {
        0 => "math (unfused reference composition)",
        1 => "flash attention",
        2 => "memory-efficient attention",
        3 => "cuDNN attention",
        4 => "overrideable (device plug-in)",
        _ => "unknown kernel",
    }
}

/// [B, S, H*D] -> [B, H, S, D].
pub fn split_heads(x: &Tensor, heads: i64) -> Result<Tensor> {
    let size = x.size();
    x.f_view([size[0], size[1], heads, size[2] / heads])?
        .f_transpose(1, 2)
}

/// [B, H, S, D] -> [B, S, H*D].
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let size = x.size();
    x.f_transpose(1, 2)?
        .f_contiguous()?
        .f_view([size[0], size[2], size[1] * size[3]])
}

/// A RoPE table's cos and sin [positions, pairs] on the device.
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    pub fn new(table: RopeTable, kind: Kind, device: Device) -> anyhow::Result<Self> {
        let shape = [table.positions, table.pairs];
        Ok(Rope {
            cos: upload(&table.cos, &shape, kind, device)?,
            sin: upload(&table.sin, &shape, kind, device)?,
        })
    }

    /// [`rope`] with this table.
    pub fn apply(&self, x: &Tensor, interleaved: bool) -> Result<Tensor> {
        rope(x, &self.cos, &self.sin, interleaved)
    }

    /// The table's rows for `len` positions from `start` (views).
    pub fn positions(&self, start: i64, len: i64) -> Result<Rope> {
        Ok(Rope {
            cos: self.cos.f_narrow(0, start, len)?,
            sin: self.sin.f_narrow(0, start, len)?,
        })
    }
}
