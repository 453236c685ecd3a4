//! Constant tables every backend needs: RoPE angles and Wan's sinusoidal
//! timestep embedding. Computed here in f64, as the references do, so that
//! all backends start from identical values.

use crate::model::workload::{LlamaConfig, WanConfig};

/// Rotation angles per position and pair, shape [positions, pairs], row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RopeTable {
    pub positions: usize,
    pub pairs: usize,
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

impl RopeTable {
    fn from_angles(positions: usize, pairs: usize, angles: impl Iterator<Item = f64>) -> Self {
        let (cos, sin) = angles.map(|a| (a.cos() as f32, a.sin() as f32)).unzip();
        RopeTable {
            positions,
            pairs,
            cos,
            sin,
        }
    }
}

/// Inverse frequencies `theta^(-2j/dim)` for j in 0..dim/2.
fn inv_freqs(dim: usize, theta: f64) -> Vec<f64> {
    (0..dim / 2)
        .map(|j| 1.0 / theta.powf((2 * j) as f64 / dim as f64))
        .collect()
}

/// Wan's 3-D RoPE for the token grid in (frame, height, width) order.
///
/// The head dimension's rotation pairs are split into frame, height and
/// width groups ([`WanConfig::rope_pairs`]); each group rotates by its axis
/// position. Pairs are adjacent channels (2j, 2j+1), as `view_as_complex`
/// does in the reference.
pub fn wan_rope(c: &WanConfig) -> RopeTable {
    let [f, h, w] = c.grid();
    let [pf, ph, pw] = c.rope_pairs();
    let freqs = [
        inv_freqs(2 * pf, 10_000.0),
        inv_freqs(2 * ph, 10_000.0),
        inv_freqs(2 * pw, 10_000.0),
    ];
    let pairs = pf + ph + pw;
    let angles = (0..f).flat_map(move |fi| {
        let freqs = freqs.clone();
        (0..h).flat_map(move |hi| {
            let freqs = freqs.clone();
            (0..w).flat_map(move |wi| {
                let pos = [fi as f64, hi as f64, wi as f64];
                freqs
                    .clone()
                    .into_iter()
                    .zip(pos)
                    .flat_map(|(axis_freqs, p)| axis_freqs.into_iter().map(move |fr| p * fr))
            })
        })
    });
    RopeTable::from_angles(f * h * w, pairs, angles)
}

/// Llama's inverse frequencies as Hugging Face computes them, in f32:
/// `1 / theta^(2j/dim)` with the exponent, the power and the quotient each
/// rounded to f32.
fn llama_inv_freqs(dim: usize, theta: f64) -> Vec<f32> {
    (0..dim / 2)
        .map(|j| {
            let exponent = (2 * j) as f32 / dim as f32;
            1.0 / (f64::from(theta as f32).powf(f64::from(exponent)) as f32)
        })
        .collect()
}

/// Llama-3 frequency scaling, as HF's `_compute_llama3_parameters` computes
/// it on f32 tensors (its Python scalars rounded to f32 where they meet them).
fn llama3_scale(freqs: Vec<f32>, s: &crate::model::workload::Llama3RopeScaling) -> Vec<f32> {
    let old = s.original_max_position_embeddings as f64;
    let low_wavelen = (old / s.low_freq_factor) as f32;
    let high_wavelen = (old / s.high_freq_factor) as f32;
    let factor = s.factor as f32;
    let (low, span) = (
        s.low_freq_factor as f32,
        (s.high_freq_factor - s.low_freq_factor) as f32,
    );
    freqs
        .into_iter()
        .map(|f| {
            let wavelen = (2.0 * std::f64::consts::PI) as f32 / f;
            let scaled = if wavelen > low_wavelen { f / factor } else { f };
            if wavelen < high_wavelen || wavelen > low_wavelen {
                scaled
            } else {
                let smooth = (old as f32 / wavelen - low) / span;
                (1.0 - smooth) * scaled / factor + smooth * scaled
            }
        })
        .collect()
}

/// Llama RoPE for positions 0..seq_len. Pairs are (j, j + head_dim/2), HF's
/// `rotate_half` convention. Computed as Hugging Face does, in f32: each
/// angle `position * inv_freq` is rounded to f32 before its cosine and sine
/// (an f64 table differs from Hugging Face's by up to 2.3e-4 at position
/// 4,095, which moves Llama-2-7B's logits by 3.6e-5 relative).
pub fn llama_rope(c: &LlamaConfig) -> RopeTable {
    let mut freqs = llama_inv_freqs(c.head_dim(), c.rope_theta);
    if let Some(s) = &c.rope_scaling {
        freqs = llama3_scale(freqs, s);
    }
    let pairs = freqs.len();
    let angles = (0..c.seq_len).flat_map(move |p| {
        let freqs = freqs.clone();
        freqs.into_iter().map(move |f| f64::from(p as f32 * f))
    });
    RopeTable::from_angles(c.seq_len, pairs, angles)
}

/// Wan's `sinusoidal_embedding_1d`: [cos(t·ω), sin(t·ω)] with
/// ω_j = 10000^(-j/half), one row of `dim` values per timestep.
pub fn sinusoidal_embedding(dim: usize, timesteps: &[f32]) -> Vec<f32> {
    let half = dim / 2;
    let mut out = Vec::with_capacity(timesteps.len() * dim);
    for &t in timesteps {
        let angles: Vec<f64> = (0..half)
            .map(|j| t as f64 * 10_000f64.powf(-(j as f64) / half as f64))
            .collect();
        out.extend(angles.iter().map(|a| a.cos() as f32));
        out.extend(angles.iter().map(|a| a.sin() as f32));
    }
    out
}

/// Causal attention mask [seq, seq]: 0 where key <= query, -inf above.
pub fn causal_mask(seq: usize) -> Vec<f32> {
    (0..seq)
        .flat_map(|q| (0..seq).map(move |k| if k <= q { 0.0 } else { f32::NEG_INFINITY }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::workload::{ModelConfig, find_preset};

    fn wan_tiny() -> WanConfig {
        match find_preset("wan-tiny").unwrap().config {
            ModelConfig::Wan(c) => c,
            _ => unreachable!(),
        }
    }

    #[test]
    fn wan_rope_rotates_each_group_by_its_axis() {
        let c = wan_tiny(); // head_dim 32: 16 pairs split 6/5/5; grid 3x4x4
        let t = wan_rope(&c);
        assert_eq!((t.positions, t.pairs), (48, 16));
        // Token (f=2, h=1, w=3) is row 2*16 + 1*4 + 3 = 39.
        let row = 39;
        let angle = |j: usize| t.sin[row * 16 + j].atan2(t.cos[row * 16 + j]) as f64;
        // First pair of each group has frequency 1: angle = position.
        assert!((angle(0) - 2.0).abs() < 1e-6);
        assert!((angle(6) - 1.0).abs() < 1e-6);
        assert!((angle(11) - 3.0).abs() < 1e-6);
        // Second frame pair: 2 * 10000^(-2/12).
        assert!((angle(1) - 2.0 * 10_000f64.powf(-2.0 / 12.0)).abs() < 1e-6);
        // Token 0 is unrotated.
        assert!(t.cos[..16].iter().all(|&c| c == 1.0));
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let ModelConfig::Llama(c) = find_preset("llama-3.2-1b").unwrap().config else {
            panic!()
        };
        let s = c.rope_scaling.clone().unwrap();
        let raw = llama_inv_freqs(c.head_dim(), c.rope_theta);
        let scaled = llama3_scale(raw.clone(), &s);
        assert_eq!(scaled[0], raw[0]);
        let last = raw.len() - 1;
        assert_eq!(scaled[last], raw[last] / 32.0);
    }

    /// Hugging Face's `LlamaRotaryEmbedding.inv_freq` (transformers 5.25,
    /// float32, bit for bit): Llama-2-7B's (head_dim 128, theta 10000) and
    /// Llama-3.2-1B's with llama3 scaling.
    #[test]
    fn llama_inverse_frequencies_are_hugging_faces_f32_values() {
        let f = llama_inv_freqs(128, 10_000.0);
        let bits = |v: &[f32], js: &[usize]| js.iter().map(|&j| v[j].to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&f, &[0, 1, 10, 63]),
            [0x3f80_0000, 0x3f5d_afd7, 0x3e72_d423, 0x38f2_2ce2]
        );
        let ModelConfig::Llama(l3) = find_preset("llama-3.2-1b").unwrap().config else {
            panic!()
        };
        let scaled = llama3_scale(
            llama_inv_freqs(l3.head_dim(), l3.rope_theta),
            l3.rope_scaling.as_ref().unwrap(),
        );
        assert_eq!(
            bits(&scaled, &[0, 20, 24, 31]),
            [0x3f80_0000, 0x370f_c8f8, 0x35df_10c4, 0x33ca_41b0]
        );
        // The angle at position 4,095 is the f32 product, so its cosine is
        // that of an f32 number (Hugging Face's `inv_freq @ position_ids`).
        let c = LlamaConfig {
            seq_len: 4096,
            ..match find_preset("llama-2-7b").unwrap().config {
                ModelConfig::Llama(c) => c,
                _ => unreachable!(),
            }
        };
        let t = llama_rope(&c);
        let j = 40;
        let angle = 4095f32 * f[j];
        assert_eq!(t.cos[4095 * 64 + j], f64::from(angle).cos() as f32);
    }

    #[test]
    fn sinusoidal_embedding_is_cos_then_sin() {
        let e = sinusoidal_embedding(4, &[0.0, 1.0]);
        assert_eq!(&e[..4], &[1.0, 1.0, 0.0, 0.0]);
        assert!((e[4] - 1f64.cos() as f32).abs() < 1e-7);
        assert!((e[5] - (0.01f64).cos() as f32).abs() < 1e-7);
        assert!((e[6] - 1f64.sin() as f32).abs() < 1e-7);
    }

    #[test]
    fn causal_mask_hides_the_future() {
        let m = causal_mask(3);
        assert_eq!(m[0..3], [0.0, f32::NEG_INFINITY, f32::NEG_INFINITY]);
        assert_eq!(m[6..9], [0.0, 0.0, 0.0]);
    }
}
