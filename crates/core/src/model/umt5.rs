//! Wan2.1's text encoder: the encoder of `umt5_xxl` in `wan/modules/t5.py`
//! (`T5Encoder` with `shared_pos=False`): its configuration, typed layout,
//! FLOPs and the relative-position buckets every backend gathers its
//! attention bias from (its inventory is in [`crate::model::params`]).

use serde::{Deserialize, Serialize};

use crate::model::limits::{ConfigError, bail, positive_within_ceilings, within_ceilings};

/// `T5Encoder` as `umt5_xxl(encoder_only=True)` builds it, plus the input
/// geometry of one pass. Field names follow the reference constructor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Umt5Config {
    /// `vocab`: rows of `token_embedding`.
    pub vocab_size: usize,
    pub dim: usize,
    /// Width of q, k and v (`dim_attn`).
    pub dim_attn: usize,
    /// Width of the gated-GELU feed-forward (`dim_ffn`).
    pub dim_ffn: usize,
    pub num_heads: usize,
    pub num_layers: usize,
    /// Relative-position buckets of each layer's own embedding (`num_buckets`).
    pub num_buckets: usize,
    /// `T5RelativeEmbedding.max_dist`: distances from it up share the last bucket.
    pub max_dist: usize,
    /// `T5LayerNorm` epsilon.
    pub eps: f64,
    /// Tokens per prompt (`T5EncoderModel(text_len)`: Wan pads every prompt to 512).
    pub text_len: usize,
    /// Prompts per pass.
    pub batch: usize,
}

impl Umt5Config {
    pub fn head_dim(&self) -> usize {
        self.dim_attn / self.num_heads
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("vocab", self.vocab_size),
            ("dim", self.dim),
            ("dim_attn", self.dim_attn),
            ("ffn", self.dim_ffn),
            ("heads", self.num_heads),
            ("num_buckets", self.num_buckets),
            ("text-len", self.text_len),
            ("batch", self.batch),
        ];
        positive_within_ceilings(&positive)?;
        within_ceilings(&[("layers", self.num_layers)])?;
        if !self.dim_attn.is_multiple_of(self.num_heads) {
            return bail(format!(
                "heads ({}) must divide the attention width ({}) evenly",
                self.num_heads, self.dim_attn
            ));
        }
        // Bidirectional buckets: half per direction, half of those exact.
        if self.num_buckets < 4 || !self.num_buckets.is_multiple_of(4) {
            return bail(format!(
                "num_buckets must be a multiple of 4 (two directions, exact and logarithmic), got {}",
                self.num_buckets
            ));
        }
        if self.max_dist <= self.num_buckets / 4 {
            return bail("max_dist must exceed the exact buckets (num_buckets / 4)");
        }
        if self.vocab_size > u32::MAX as usize {
            return bail("vocab must fit in 32-bit token ids");
        }
        Ok(())
    }
}

/// The bucket of relative position `rel` (key position - query position),
/// as `T5RelativeEmbedding._relative_position_bucket(bidirectional=True)`
/// computes it: the logarithm in f32, as PyTorch does on f32 tensors.
pub fn relative_position_bucket(rel: i64, num_buckets: usize, max_dist: usize) -> u32 {
    let half = (num_buckets / 2) as i64;
    let exact = half / 2;
    let direction = if rel > 0 { half } else { 0 };
    let distance = rel.abs();
    let bucket = if distance < exact {
        distance
    } else {
        let ratio = (distance as f32 / exact as f32).ln();
        // The reference divides by math.log(max_dist / max_exact), a Python
        // float, which PyTorch applies to the f32 tensor as an f32.
        let scale = ((max_dist as f64 / exact as f64).ln()) as f32;
        let large = exact + (ratio / scale * (half - exact) as f32) as i64;
        large.min(half - 1)
    };
    (direction + bucket) as u32
}

/// The bucket of every (query, key) pair of a `len`-token prompt, row-major
/// [len, len]: each layer's bias is its embedding gathered at these.
pub fn position_buckets(c: &Umt5Config) -> Vec<u32> {
    let len = c.text_len as i64;
    (0..len)
        .flat_map(|q| (0..len).map(move |k| (q, k)))
        .map(|(q, k)| relative_position_bucket(k - q, c.num_buckets, c.max_dist))
        .collect()
}

/// One `T5SelfAttention` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Umt5Block<T> {
    pub norm1: T,
    pub q: T,
    pub k: T,
    pub v: T,
    pub o: T,
    pub norm2: T,
    /// `ffn.gate.0`: the GELU branch of the gated feed-forward.
    pub gate: T,
    pub fc1: T,
    pub fc2: T,
    /// This layer's relative-position embedding [num_buckets, num_heads].
    pub pos_embedding: T,
}

/// Every parameter of the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Umt5Params<T> {
    pub token_embedding: T,
    pub blocks: Vec<Umt5Block<T>>,
    pub norm: T,
}

impl<T> Umt5Params<T> {
    /// Resolve every parameter once through `get` (name -> handle).
    pub fn resolve<E>(
        c: &Umt5Config,
        mut get: impl FnMut(&str) -> Result<T, E>,
    ) -> Result<Self, E> {
        let mut blocks = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let mut weight = |name: &str| get(&format!("blocks.{i}.{name}.weight"));
            blocks.push(Umt5Block {
                norm1: weight("norm1")?,
                q: weight("attn.q")?,
                k: weight("attn.k")?,
                v: weight("attn.v")?,
                o: weight("attn.o")?,
                norm2: weight("norm2")?,
                gate: weight("ffn.gate.0")?,
                fc1: weight("ffn.fc1")?,
                fc2: weight("ffn.fc2")?,
                pos_embedding: weight("pos_embedding.embedding")?,
            });
        }
        Ok(Umt5Params {
            token_embedding: get("token_embedding.weight")?,
            blocks,
            norm: get("norm.weight")?,
        })
    }
}

/// FLOPs of the encoder's forward over the batch: (linear, self-attention).
/// Projections and feed-forward as 2*m*n*k; attention as 4*L^2*dim_attn per
/// layer; the embedding lookup, norms and the bias gather are not counted.
pub fn umt5_flops(c: &Umt5Config) -> (f64, f64) {
    let tokens = (c.batch * c.text_len) as f64;
    let (d, a, f) = (c.dim as f64, c.dim_attn as f64, c.dim_ffn as f64);
    let layers = c.num_layers as f64;
    let per_token = 2.0 * (4.0 * d * a + 3.0 * d * f);
    let l = c.text_len as f64;
    (
        layers * tokens * per_token,
        layers * c.batch as f64 * 4.0 * l * l * a,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where PyTorch's bucket changes, for relative positions -1100..=1100
    /// (num_buckets 32, max_dist 128): (first position, bucket), computed
    /// with torch 2.11 running the reference's arithmetic.
    const TORCH_TRANSITIONS: [(i64, u32); 31] = [
        (-1100, 15),
        (-90, 14),
        (-63, 13),
        (-45, 12),
        (-31, 11),
        (-22, 10),
        (-15, 9),
        (-11, 8),
        (-7, 7),
        (-6, 6),
        (-5, 5),
        (-4, 4),
        (-3, 3),
        (-2, 2),
        (-1, 1),
        (0, 0),
        (1, 17),
        (2, 18),
        (3, 19),
        (4, 20),
        (5, 21),
        (6, 22),
        (7, 23),
        (8, 24),
        (12, 25),
        (16, 26),
        (23, 27),
        (32, 28),
        (46, 29),
        (64, 30),
        (91, 31),
    ];

    #[test]
    fn buckets_match_pytorch_at_every_position() {
        let mut expected = TORCH_TRANSITIONS.iter().peekable();
        let mut bucket = 0;
        for rel in -1100..=1100 {
            if let Some(&&(at, b)) = expected.peek()
                && at == rel
            {
                bucket = b;
                expected.next();
            }
            assert_eq!(relative_position_bucket(rel, 32, 128), bucket, "rel {rel}");
        }
        // Smaller tables (the test presets'), from the same torch run.
        for (rel, b) in [
            (-60, 7),
            (-19, 6),
            (-11, 5),
            (-7, 5),
            (-6, 4),
            (12, 14),
            (19, 14),
            (20, 15),
        ] {
            assert_eq!(relative_position_bucket(rel, 16, 32), b, "rel {rel}");
        }
    }

    #[test]
    fn the_table_is_keys_minus_queries() {
        let c = Umt5Config {
            vocab_size: 10,
            dim: 8,
            dim_attn: 8,
            dim_ffn: 8,
            num_heads: 2,
            num_layers: 1,
            num_buckets: 32,
            max_dist: 128,
            eps: 1e-6,
            text_len: 3,
            batch: 1,
        };
        // Row q, column k: bucket of k - q (positive: the second half).
        assert_eq!(position_buckets(&c), [0, 17, 18, 1, 0, 17, 2, 1, 0]);
    }
}
