//! What a user pays for, as results record it: the full model from k
//! measured blocks, then one video, one image or one LLM request, in
//! seconds, dollars and kilowatt-hours. The figures are computed from the
//! cases in [`crate::record::extrapolate`].
//!
//! Wan's DiT blocks are identical, as are Llama's decoder layers, so a pass
//! of a model with n blocks costs T(n) = rest + n · block, where `rest` is
//! everything outside the blocks (patch, time and text embeddings, head;
//! token embedding, final norm, LM head). A run measures T(k) of the case
//! and T(j) of the same workload with fewer blocks, its base: the deepest
//! other depth run, or else the workload with no blocks (its `rest case`,
//! planned by `--extrapolate`). So block = (T(k) − T(j)) / (k − j) and the
//! full model with L blocks is T(k) + (L − k) · block (with j = 0: T(0) +
//! L · block). Both medians come from their own timed samples; the interval
//! is a bootstrap over both sample sets.

use serde::{Deserialize, Serialize};

pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "full_model",
        "the preset's whole model, from this case: measured when it ran every block; otherwise extrapolated from k measured blocks as T(k) + (L - k) x (T(k) - T(j)) / (k - j), with T(j) the median of the base case (the same workload with the most blocks below k that ran: j = 0, the rest case without blocks, unless the run had other depths) and L the preset's block count; per_block = (T(k) - T(j)) / (k - j); rest = the rest case's T(0), where it ran; intervals are 95% bootstrap intervals over both cases' samples",
    ),
    (
        "full_model.forward",
        "seconds of one pass of the full model: one denoising-step forward (Wan), one prefill over --seq-len tokens (Llama), or one training step",
    ),
    (
        "full_model.per_unit",
        "forward cases: a video or image = --steps x --cfg-passes forwards of the DiT (text encoder and VAE decode not included); an LLM prefill = a request's --llm-prompt tokens at the measured prefill rate. Decode cases: an LLM request = its prefill (from the forward case of the same model nearest the prompt's length, scaled per token) plus --llm-tokens decode steps at contexts prompt+1 .. prompt+generated, each the full model's decode step fitted linearly in the context over the decode cases measured (one context: the same step time for every context); the interval adds the parts' interval ends",
    ),
    (
        "full_model.cost",
        "per_unit seconds x --price-per-hour / 3600; kWh per unit = the measured average power x per_unit seconds (only where energy was measured)",
    ),
];

/// Tokens an LLM request generates unless `--llm-tokens` says otherwise.
pub const DEFAULT_GENERATED_TOKENS: u64 = 256;

/// What one video, image or request is made of, and the machine's price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScaleSettings {
    /// Denoising steps of one video or image.
    pub steps: u32,
    /// DiT forwards per denoising step (2 with classifier-free guidance).
    pub cfg_passes: u32,
    /// Prompt tokens of one LLM request; `None`: the measured prefill's
    /// tokens, less what the generated tokens need within the model's
    /// context window. (`llm_tokens` in files before decode was measured.)
    #[serde(alias = "llm_tokens")]
    pub llm_prompt_tokens: Option<u64>,
    /// Tokens one LLM request generates: its decode steps (0 in files
    /// before decode was measured).
    #[serde(default)]
    pub llm_generated_tokens: u64,
    /// The machine's price, US dollars per hour.
    pub price_per_hour_usd: Option<f64>,
}

impl Default for ScaleSettings {
    fn default() -> Self {
        ScaleSettings {
            steps: 50,
            cfg_passes: 2,
            llm_prompt_tokens: None,
            llm_generated_tokens: DEFAULT_GENERATED_TOKENS,
            price_per_hour_usd: None,
        }
    }
}

/// A median and its 95% interval, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub median_s: f64,
    pub ci95_s: [f64; 2],
}

impl Interval {
    pub fn scaled(self, by: f64) -> Interval {
        Interval {
            median_s: self.median_s * by,
            ci95_s: [self.ci95_s[0] * by, self.ci95_s[1] * by],
        }
    }
}

/// One video, image or request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerUnit {
    /// `video`, `image`, `prefill` (an LLM request's prompt) or `request`.
    pub unit: String,
    /// Full-model forwards per unit (a request: its prefill's).
    pub forwards: f64,
    /// LLM units: the tokens of every sequence (a prefill's prompt; a
    /// request's prompt and generated tokens).
    #[serde(default)]
    pub tokens: Option<f64>,
    /// What the unit is, in words.
    pub basis: String,
    pub time: Interval,
}

/// What a unit costs on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitCost {
    pub price_per_hour_usd: Option<f64>,
    pub usd_per_unit: Option<f64>,
    /// LLM requests only.
    pub usd_per_million_tokens: Option<f64>,
    /// Where energy was measured.
    pub kwh_per_unit: Option<f64>,
    pub assumptions: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullModel {
    /// `measured` or `extrapolated from k measured blocks`.
    pub basis: String,
    pub extrapolated: bool,
    pub measured_blocks: usize,
    pub model_blocks: usize,
    /// The rest case (the workload without blocks), where it ran.
    pub rest_case: Option<String>,
    /// The case whose T(j) the extrapolation used, and its j.
    #[serde(default)]
    pub base_case: Option<String>,
    #[serde(default)]
    pub base_blocks: Option<usize>,
    pub per_block: Option<Interval>,
    pub rest: Option<Interval>,
    pub forward: Interval,
    /// Forward passes only.
    pub per_unit: Option<PerUnit>,
    pub cost: Option<UnitCost>,
}
