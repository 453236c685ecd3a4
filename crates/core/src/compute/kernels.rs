//! Building blocks of the Wan DiT run on their own: one DiT block, attention
//! and the largest matmuls. The criterion benches in `benches/` time them per
//! backend, so kernel-level changes show up without a whole-model run, and
//! the parity tests hold every backend's blocks to the same numbers.
//!
//! A kernel reads named operands (a block's parameters and activations, or
//! attention's q, k, v) from a [`crate::WeightSource`], like a
//! model reads its parameters. Its training pass differentiates
//! [`TRAIN_LOSS`] with respect to every operand.

use std::collections::BTreeSet;
use std::fmt;

use crate::compute::tensors::{HostTensor, WeightSource, load_checked};
use crate::model::case::{DeviceName, Dtype, Pass};
use crate::model::cost::wan_block_forward_flops;
use crate::model::params::{Init, ParamSpec, wan_parameters};
use crate::model::workload::{ModelConfig, WanConfig};

/// What a kernel's training pass differentiates.
pub const TRAIN_LOSS: &str = "mean of the squared output elements, in f32";

/// Prefix of the parameters of the block a [`Kernel::WanBlock`] runs.
pub const BLOCK_PREFIX: &str = "blocks.0.";

/// One building block with its shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Kernel {
    /// Wan2.1's `WanAttentionBlock` (modulated self-attention with RoPE,
    /// cross-attention over the embedded text, GELU FFN) over one clip's
    /// tokens. Operands: the `blocks.0.*` parameters, `x` [B, L, dim], the
    /// time projection `e0` [B, 6, dim] and the embedded text `context`
    /// [B, text_len, dim]. Output [B, L, dim].
    WanBlock(WanConfig),
    /// softmax(q kᵀ / √d) v without a mask, as in Wan's self-attention.
    /// Operands `q`, `k`, `v` [batch, heads, tokens, head_dim]; output the same shape.
    Attention {
        batch: usize,
        heads: usize,
        tokens: usize,
        head_dim: usize,
    },
    /// A bias-free linear layer, `x wᵀ`: `x` [m, k], `weight` [n, k]
    /// (PyTorch's layout); output [m, n]. `site` names the layer it models.
    Matmul {
        site: &'static str,
        m: usize,
        k: usize,
        n: usize,
    },
    /// The sum of every element: reads each once and writes one number, so
    /// it runs at the memory's read bandwidth (what a decode step's weight
    /// reads need); the bandwidth calibration times it. Operand `x`
    /// [elements]; output [1].
    Sum { elements: usize },
}

impl Kernel {
    /// Short name of the kind: `wan-block`, `attention` or `matmul`.
    pub fn kind(&self) -> &'static str {
        match self {
            Kernel::WanBlock(_) => "wan-block",
            Kernel::Attention { .. } => "attention",
            Kernel::Matmul { .. } => "matmul",
            Kernel::Sum { .. } => "sum",
        }
    }

    /// The shapes, e.g. `tokens=320 dim=384`, `b1 h6 s320 d64`, `ffn.0 320x384x1536`.
    pub fn shape_label(&self) -> String {
        match self {
            Kernel::WanBlock(c) => format!(
                "b{} tokens={} dim={} ffn={} heads={} text={}",
                c.batch,
                c.tokens_per_sample(),
                c.dim,
                c.ffn_dim,
                c.num_heads,
                c.text_len
            ),
            Kernel::Attention {
                batch,
                heads,
                tokens,
                head_dim,
            } => format!("b{batch} h{heads} s{tokens} d{head_dim}"),
            Kernel::Matmul { site, m, k, n } => format!("{site} m{m} k{k} n{n}"),
            Kernel::Sum { elements } => format!("n{elements}"),
        }
    }

    /// The operands, in the order gradients are reported.
    pub fn operands(&self) -> Vec<ParamSpec> {
        match self {
            Kernel::WanBlock(c) => {
                let mut specs: Vec<ParamSpec> = wan_parameters(&single_layer(c))
                    .into_iter()
                    .filter(|p| p.name.starts_with(BLOCK_PREFIX))
                    .collect();
                let (b, d) = (c.batch, c.dim);
                specs.push(ParamSpec::new("x", &[b, c.tokens_per_sample(), d], unit()));
                // The time projection's output: small, like SiLU-projected embeddings.
                specs.push(ParamSpec::new("e0", &[b, 6, d], Init::Std(0.1)));
                specs.push(ParamSpec::new("context", &[b, c.text_len, d], unit()));
                specs
            }
            Kernel::Attention {
                batch,
                heads,
                tokens,
                head_dim,
            } => ["q", "k", "v"]
                .map(|name| ParamSpec::new(name, &[*batch, *heads, *tokens, *head_dim], unit()))
                .into(),
            Kernel::Matmul { m, k, n, .. } => vec![
                ParamSpec::new("x", &[*m, *k], unit()),
                ParamSpec::new(
                    "weight",
                    &[*n, *k],
                    Init::Xavier {
                        fan_in: *k,
                        fan_out: *n,
                    },
                ),
            ],
            Kernel::Sum { elements } => vec![ParamSpec::new("x", &[*elements], unit())],
        }
    }

    pub fn output_shape(&self) -> Vec<usize> {
        match self {
            Kernel::WanBlock(c) => vec![c.batch, c.tokens_per_sample(), c.dim],
            Kernel::Attention {
                batch,
                heads,
                tokens,
                head_dim,
            } => vec![*batch, *heads, *tokens, *head_dim],
            Kernel::Matmul { m, n, .. } => vec![*m, *n],
            Kernel::Sum { .. } => vec![1],
        }
    }

    /// FLOPs of one forward, counted as the cost model counts them (matmuls
    /// as 2·m·n·k, attention as 4·S²·d per head, elementwise work excluded).
    pub fn forward_flops(&self) -> f64 {
        match self {
            Kernel::WanBlock(c) => wan_block_forward_flops(c),
            Kernel::Attention {
                batch,
                heads,
                tokens,
                head_dim,
            } => 4.0 * (*batch * *heads * *head_dim) as f64 * (*tokens as f64).powi(2),
            Kernel::Matmul { m, k, n, .. } => 2.0 * (*m as f64) * (*k as f64) * (*n as f64),
            Kernel::Sum { elements } => *elements as f64,
        }
    }

    /// FLOPs of one pass: training counts 3 × forward, as the cost model does.
    pub fn flops(&self, pass: Pass) -> f64 {
        match pass {
            Pass::Forward | Pass::Decode => self.forward_flops(),
            Pass::Train => 3.0 * self.forward_flops(),
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.shape_label())
    }
}

fn unit() -> Init {
    Init::Std(1.0)
}

fn single_layer(c: &WanConfig) -> WanConfig {
    WanConfig {
        num_layers: 1,
        ..c.clone()
    }
}

/// One kernel to build: which, where, in what precision, which pass.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelSpec {
    pub kernel: Kernel,
    pub device: DeviceName,
    pub dtype: Dtype,
    pub pass: Pass,
}

impl KernelSpec {
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {}",
            self.kernel, self.device, self.dtype, self.pass
        )
    }
}

/// The building blocks of a Wan workload: its DiT block; attention over one
/// latent frame's tokens, half the clip's frames and the whole clip; and its
/// three largest matmul shapes (FFN up, FFN down, an attention projection),
/// each over every token of the batch.
pub fn wan_kernels(c: &WanConfig) -> Vec<Kernel> {
    let [frames, height, width] = c.grid();
    let per_frame = height * width;
    let token_counts: BTreeSet<usize> = [1, frames.div_ceil(2), frames]
        .into_iter()
        .map(|f| f * per_frame)
        .collect();
    let rows = c.batch * c.tokens_per_sample();
    let mut kernels = vec![Kernel::WanBlock(single_layer(c))];
    kernels.extend(token_counts.into_iter().map(|tokens| Kernel::Attention {
        batch: c.batch,
        heads: c.num_heads,
        tokens,
        head_dim: c.head_dim(),
    }));
    kernels.extend([
        Kernel::Matmul {
            site: "ffn.0",
            m: rows,
            k: c.dim,
            n: c.ffn_dim,
        },
        Kernel::Matmul {
            site: "ffn.2",
            m: rows,
            k: c.ffn_dim,
            n: c.dim,
        },
        Kernel::Matmul {
            site: "self_attn.q",
            m: rows,
            k: c.dim,
            n: c.dim,
        },
    ]);
    kernels
}

/// FLOPs a calibration matmul may take per iteration: its rows are capped
/// to stay within it, but kept at [`CALIBRATION_MIN_ROWS`] at least. About a
/// second on a 2-core CPU, milliseconds on a GPU.
const CALIBRATION_FLOPS: f64 = 2e11;

/// Rows a calibration matmul keeps at least: with fewer (381 rows of
/// Llama-2-7B's LM head), libtorch's GEMM on this project's VM ran at 0.16
/// TFLOP/s against 0.19 over a whole 4,096-token prefill.
const CALIBRATION_MIN_ROWS: usize = 1024;

/// The model's largest matmul (by weight size: Wan's FFN up-projection,
/// Llama's LM head or MLP), as the GEMM-rate calibration runs it: its rows
/// (batch x tokens) capped so one iteration stays short.
pub fn calibration_matmul(config: &ModelConfig) -> Kernel {
    let (site, rows, k, n) = match config {
        ModelConfig::Wan(c) => ("ffn.0", c.batch * c.tokens_per_sample(), c.dim, c.ffn_dim),
        ModelConfig::Llama(c) => {
            let rows = c.batch * c.seq_len;
            if c.vocab_size >= c.intermediate_size {
                ("lm_head", rows, c.hidden_size, c.vocab_size)
            } else {
                ("mlp.gate_proj", rows, c.hidden_size, c.intermediate_size)
            }
        }
        ModelConfig::Umt5(c) => ("ffn.fc1", c.batch * c.text_len, c.dim, c.dim_ffn),
        // The widest residual conv of the last stage as a matmul over its
        // im2col rows: one later chunk's pixels at full resolution.
        ModelConfig::WanVae(c) => {
            let rows = c.batch * c.temporal_stride() * c.height * c.width;
            ("residual.2", rows, 27 * c.dim, c.dim)
        }
    };
    let cap = (CALIBRATION_FLOPS / (2.0 * k as f64 * n as f64)) as usize;
    Kernel::Matmul {
        site,
        m: rows.min(cap.max(CALIBRATION_MIN_ROWS)).max(1),
        k,
        n,
    }
}

/// Elements the bandwidth calibration sums: 2^27 (512 MiB in f32, 256 MiB
/// in 16-bit types), far beyond any CPU cache or GPU L2, so each iteration
/// streams them from memory.
pub const CALIBRATION_SUM_ELEMENTS: usize = 1 << 27;

/// The forward output of an attention or matmul kernel computed on the host
/// in f64 from the definition, for checking backends. `None` for the Wan
/// block, which is checked across backends instead.
pub fn host_reference(
    kernel: &Kernel,
    operands: &dyn WeightSource,
) -> anyhow::Result<Option<HostTensor>> {
    let specs = kernel.operands();
    let load = |name: &str| -> anyhow::Result<Vec<f64>> {
        let spec = specs
            .iter()
            .find(|s| s.name == name)
            .expect("operand of this kernel");
        Ok(load_checked(operands, spec)?
            .as_f32()?
            .iter()
            .map(|&v| f64::from(v))
            .collect())
    };
    let values = match *kernel {
        Kernel::WanBlock(_) => return Ok(None),
        Kernel::Sum { .. } => vec![load("x")?.into_iter().sum()],
        Kernel::Matmul { m, k, n, .. } => {
            let (x, w) = (load("x")?, load("weight")?);
            let mut out = vec![0.0; m * n];
            for i in 0..m {
                for j in 0..n {
                    out[i * n + j] = (0..k).map(|p| x[i * k + p] * w[j * k + p]).sum();
                }
            }
            out
        }
        Kernel::Attention {
            batch,
            heads,
            tokens,
            head_dim,
        } => {
            let (q, k, v) = (load("q")?, load("k")?, load("v")?);
            let scale = 1.0 / (head_dim as f64).sqrt();
            let mut out = vec![0.0; batch * heads * tokens * head_dim];
            for bh in 0..batch * heads {
                let at = |t: usize| (bh * tokens + t) * head_dim;
                for i in 0..tokens {
                    let scores: Vec<f64> = (0..tokens)
                        .map(|j| {
                            (0..head_dim)
                                .map(|d| q[at(i) + d] * k[at(j) + d])
                                .sum::<f64>()
                                * scale
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for (j, w) in weights.iter().enumerate() {
                        for d in 0..head_dim {
                            out[at(i) + d] += w / total * v[at(j) + d];
                        }
                    }
                }
            }
            out
        }
    };
    Ok(Some(HostTensor::f32(
        kernel.output_shape(),
        values.into_iter().map(|v| v as f32).collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::tensors::SeededWeights;
    use crate::model::cost::cost;
    use crate::model::workload::{ModelConfig, find_preset};

    fn wan(preset: &str) -> WanConfig {
        match find_preset(preset).unwrap().config {
            ModelConfig::Wan(c) => c,
            _ => unreachable!(),
        }
    }

    #[test]
    fn wan_small_kernels_cover_block_attention_and_matmuls() {
        let c = wan("wan-small");
        let labels: Vec<String> = wan_kernels(&c).iter().map(ToString::to_string).collect();
        assert_eq!(
            labels,
            [
                "wan-block b1 tokens=320 dim=384 ffn=1536 heads=6 text=64",
                "attention b1 h6 s64 d64",
                "attention b1 h6 s192 d64",
                "attention b1 h6 s320 d64",
                "matmul ffn.0 m320 k384 n1536",
                "matmul ffn.2 m320 k1536 n384",
                "matmul self_attn.q m320 k384 n384",
            ]
        );
    }

    #[test]
    fn one_frame_clips_have_one_attention_size() {
        let mut c = wan("wan-small");
        c.frames = 1;
        let attention = wan_kernels(&c)
            .into_iter()
            .filter(|k| k.kind() == "attention")
            .count();
        assert_eq!(attention, 1);
    }

    #[test]
    fn block_flops_are_the_models_per_layer_share() {
        let c = wan("wan2.1-1.3b-480p");
        let model = cost(&ModelConfig::Wan(c.clone()));
        let block = Kernel::WanBlock(c.clone()).forward_flops();
        // The blocks are all but the embeddings and the head.
        let blocks = block * c.num_layers as f64;
        assert!(blocks < model.forward_flops && blocks > 0.99 * model.forward_flops);
        let self_attention = Kernel::Attention {
            batch: 1,
            heads: c.num_heads,
            tokens: c.tokens_per_sample(),
            head_dim: c.head_dim(),
        }
        .forward_flops();
        let per_layer = model.self_attention_flops / c.num_layers as f64;
        assert!((self_attention / per_layer - 1.0).abs() < 1e-12);
        let k = Kernel::Matmul {
            site: "t",
            m: 2,
            k: 3,
            n: 5,
        };
        assert_eq!(k.flops(Pass::Forward), 60.0);
        assert_eq!(k.flops(Pass::Train), 180.0);
    }

    #[test]
    fn block_operands_are_one_layer_plus_its_activations() {
        let c = wan("wan-tiny");
        let ops = Kernel::WanBlock(c.clone()).operands();
        let names: Vec<&str> = ops.iter().map(|s| s.name.as_str()).collect();
        assert!(names.iter().all(|n| !n.starts_with("blocks.1.")));
        assert!(names.contains(&"blocks.0.ffn.2.weight"));
        assert_eq!(&names[names.len() - 3..], ["x", "e0", "context"]);
        let x = &ops[ops.len() - 3];
        assert_eq!(x.shape, [c.batch, c.tokens_per_sample(), c.dim]);
        assert_eq!(Kernel::WanBlock(c.clone()).output_shape(), x.shape);
    }

    #[test]
    fn host_reference_matches_hand_computed_values() {
        // A weight source that serves fixed values by name.
        struct Fixed;
        impl WeightSource for Fixed {
            fn load(&self, spec: &ParamSpec) -> anyhow::Result<HostTensor> {
                let v = match spec.name.as_str() {
                    "x" => vec![1.0, 2.0, 3.0, 4.0],
                    "weight" => vec![1.0, 0.0, 1.0, 1.0],
                    "q" => vec![0.0, 0.0],
                    "k" => vec![1.0, -1.0],
                    "v" => vec![2.0, 4.0],
                    other => panic!("{other}"),
                };
                Ok(HostTensor::f32(spec.shape.clone(), v))
            }
            fn describe(&self) -> String {
                "fixed".into()
            }
        }
        let mm = Kernel::Matmul {
            site: "t",
            m: 2,
            k: 2,
            n: 2,
        };
        let out = host_reference(&mm, &Fixed).unwrap().unwrap();
        // [[1,2],[3,4]] x [[1,0],[1,1]]^T = [[1,3],[3,7]]
        assert_eq!(out.as_f32().unwrap(), [1.0, 3.0, 3.0, 7.0]);
        let attn = Kernel::Attention {
            batch: 1,
            heads: 1,
            tokens: 2,
            head_dim: 1,
        };
        // q = 0: uniform weights, each output is the mean of v.
        let out = host_reference(&attn, &Fixed).unwrap().unwrap();
        assert_eq!(out.as_f32().unwrap(), [3.0, 3.0]);
        let block = Kernel::WanBlock(wan("wan-tiny"));
        assert!(
            host_reference(&block, &SeededWeights { seed: 0 })
                .unwrap()
                .is_none()
        );
    }
}
