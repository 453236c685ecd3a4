//! The public claims the report tests, each with ditbench's figures and a
//! verdict in words. The figures come from the cost model (whether or not a
//! preset ran) and, where a machine ran both sides, from its measured or
//! extrapolated full-model times. Every rule that turns figures into a
//! verdict is a plain function here, tested below; the templates only show.

use serde::{Deserialize, Serialize};

use super::{FullModelRow, GenerationSettings, Row};
use ditbench_core::model::cost::cost;
use ditbench_core::model::workload::{ModelConfig, find_preset};
use ditbench_core::util::units::{group_thousands, times};

/// Two costs are "about as much" when neither is more than this multiple
/// of the other; beyond it one is "more" (or "far larger").
pub const AS_MUCH_AS: f64 = 2.0;

/// How one cost stands to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Within [`AS_MUCH_AS`] either way.
    AboutAsMuch,
    More,
    Less,
}

/// `ratio` = this cost ÷ the other, judged at the two significant digits
/// the report prints (so a ratio shown as 0.50x is about as much).
pub fn relation(ratio: f64) -> Relation {
    let ratio = two_significant(ratio);
    if ratio > AS_MUCH_AS {
        Relation::More
    } else if ratio < 1.0 / AS_MUCH_AS {
        Relation::Less
    } else {
        Relation::AboutAsMuch
    }
}

fn two_significant(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powf(x.log10().floor() - 1.0);
    (x / scale).round() * scale
}

/// One unit of comparison: a DiT's cost against an LLM's in that unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitComparison {
    /// `token`, `denoising step`, `video` or `image`.
    pub unit: String,
    /// What each side's unit is, in words.
    pub dit_basis: String,
    pub llm_basis: String,
    pub dit_flops: f64,
    pub llm_flops: f64,
    /// DiT ÷ LLM.
    pub ratio: f64,
    pub relation: Relation,
}

/// One DiT's time against one LLM's on a machine that ran both (measured
/// or extrapolated full models).
#[derive(Debug, Clone, Serialize)]
pub struct ClaimMeasurement {
    pub host: String,
    pub backend: String,
    pub device: String,
    pub dtype: String,
    /// One video or image.
    pub dit_unit_s: f64,
    /// One LLM request as its row counts it (prefill, or prefill and decode).
    pub llm_unit_s: f64,
    pub llm_unit_basis: String,
    /// DiT seconds per token ÷ LLM seconds per token.
    pub per_token_ratio: f64,
    /// One video or image ÷ one LLM request.
    pub per_unit_ratio: f64,
    pub extrapolated: bool,
}

/// A DiT preset against an LLM preset.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimPair {
    pub dit: String,
    pub dit_description: String,
    /// The preset stands for a guess, not a published model.
    pub hypothetical: bool,
    pub llm: String,
    pub units: Vec<UnitComparison>,
    pub measured: Vec<ClaimMeasurement>,
    /// The pair's verdict in words.
    pub verdict: String,
}

/// A frame count of the video-vs-text claim (cost model).
#[derive(Debug, Clone, Serialize)]
pub struct FramePoint {
    pub frames: usize,
    pub tokens: u64,
    pub flops_per_token: f64,
    pub attention_share: f64,
    /// GFLOP per token ÷ the LLM's per-token GFLOP.
    pub vs_llm: f64,
}

/// One measured sweep over frames: time per token at its ends.
#[derive(Debug, Clone, Serialize)]
pub struct FrameSweepMeasurement {
    pub host: String,
    pub backend: String,
    pub device: String,
    pub dtype: String,
    pub workload: String,
    pub frames: (usize, usize),
    /// Seconds per token at the fewest and the most frames.
    pub s_per_token: (f64, f64),
    /// Most frames ÷ fewest, per token.
    pub growth: f64,
    /// The cost model's per-token FLOPs growth over the same frames.
    pub flops_growth: f64,
}

/// A claim, its figures and ditbench's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    pub id: String,
    pub wording: String,
    /// Where the claim's sizes come from, and what stands in for them.
    pub stand_ins: String,
    pub assumptions: Vec<String>,
    /// The claim's verdict in words, first sentence the answer.
    pub verdict: String,
    /// The figures the verdict rests on, by the claim's shape.
    #[serde(flatten)]
    pub evidence: Evidence,
}

/// The figures of a claim: DiT presets against an LLM preset unit by unit
/// (C1, C2), or the cost of a video token as frames grow (C3).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Evidence {
    Pairs {
        pairs: Vec<ClaimPair>,
    },
    Frames {
        frames: Vec<FramePoint>,
        frames_dit: String,
        frames_llm: String,
        sweeps: Vec<FrameSweepMeasurement>,
    },
}

impl Claim {
    /// Its answer in one sentence: its first pair's verdict (the claim's own
    /// sizes), or its whole verdict when it has no pairs.
    pub fn answer(&self) -> &str {
        match &self.evidence {
            Evidence::Pairs { pairs } if !pairs.is_empty() => &pairs[0].verdict,
            _ => &self.verdict,
        }
    }

    /// The DiT-against-LLM pairs; none for a frames claim.
    pub fn pairs(&self) -> &[ClaimPair] {
        match &self.evidence {
            Evidence::Pairs { pairs } => pairs,
            Evidence::Frames { .. } => &[],
        }
    }
}

/// The claims' editorial text (wording, stand-ins, assumptions), kept
/// beside this file in `text/claims.json`; `{name}` marks a figure filled in.
#[derive(Debug, Deserialize)]
struct ClaimTexts {
    #[serde(rename = "C1")]
    c1: ClaimText,
    #[serde(rename = "C2")]
    c2: ClaimText,
    #[serde(rename = "C3")]
    c3: ClaimText,
    unit_assumptions: Vec<String>,
    default_prompt: String,
    prompt_tokens: String,
}

#[derive(Debug, Deserialize)]
struct ClaimText {
    wording: String,
    stand_ins: String,
    #[serde(default)]
    assumptions: Vec<String>,
}

fn texts() -> &'static ClaimTexts {
    static TEXTS: std::sync::OnceLock<ClaimTexts> = std::sync::OnceLock::new();
    TEXTS.get_or_init(|| {
        serde_json::from_str(include_str!("text/claims.json")).expect("text/claims.json is valid")
    })
}

/// `text` with each `{name}` replaced by its value.
fn fill(text: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(text.to_string(), |t, (name, value)| {
        t.replace(&format!("{{{name}}}"), value)
    })
}

/// An LLM request as the cost model counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestTokens {
    pub prompt: u64,
    pub generated: u64,
}

impl RequestTokens {
    /// `--llm-prompt` (default: the preset's prefill length less the
    /// generated tokens' room, as `run` counts it) and `--llm-tokens`.
    pub fn for_preset(config: &ModelConfig, generation: &GenerationSettings) -> RequestTokens {
        let prompt = match config {
            ModelConfig::Llama(c) => crate::record::extrapolate::prompt_tokens(c, generation),
            _ => generation.llm_prompt_tokens.unwrap_or(1),
        };
        RequestTokens {
            prompt,
            generated: generation.llm_generated_tokens,
        }
    }

    pub fn total(self) -> u64 {
        self.prompt + self.generated
    }
}

/// FLOPs of one request: one forward over its prompt and generated tokens,
/// which is what a KV-cached generation computes (each generated token
/// attends to the tokens before it, as in a causal prefill).
pub fn request_flops(config: &ModelConfig, tokens: RequestTokens) -> Option<f64> {
    let ModelConfig::Llama(c) = config else {
        return None;
    };
    let mut whole = c.clone();
    whole.seq_len = usize::try_from(tokens.total()).ok()?;
    whole.batch = 1;
    Some(cost(&ModelConfig::Llama(whole)).forward_flops)
}

/// A DiT's forward FLOPs over one sample.
fn dit_forward_flops(config: &ModelConfig) -> (f64, u64) {
    let mut one = config.clone();
    if let ModelConfig::Wan(c) = &mut one {
        c.batch = 1;
    }
    let c = cost(&one);
    (c.forward_flops, c.tokens_per_sample)
}

/// The DiT against the LLM per token, per denoising step and per video or
/// image, by the cost model.
pub fn unit_comparisons(
    dit: &ModelConfig,
    llm: &ModelConfig,
    dit_unit: &str,
    generation: &GenerationSettings,
) -> Option<Vec<UnitComparison>> {
    let (forward, dit_tokens) = dit_forward_flops(dit);
    let tokens = RequestTokens::for_preset(llm, generation);
    let request = request_flops(llm, tokens)?;
    let per_llm_token = request / tokens.total() as f64;
    let request_words = format!(
        "one request: {} prompt + {} generated tokens",
        group_thousands(tokens.prompt as f64),
        group_thousands(tokens.generated as f64)
    );
    let step = forward * f64::from(generation.cfg_passes);
    let whole = step * f64::from(generation.steps);
    let compare = |unit: &str, dit_basis: String, dit_flops: f64, llm_basis: String, llm_flops| {
        let ratio = dit_flops / llm_flops;
        UnitComparison {
            unit: unit.to_string(),
            dit_basis,
            llm_basis,
            dit_flops,
            llm_flops,
            ratio,
            relation: relation(ratio),
        }
    };
    Some(vec![
        compare(
            "token",
            format!(
                "one forward ÷ its {} tokens",
                group_thousands(dit_tokens as f64)
            ),
            forward / dit_tokens as f64,
            format!("{request_words}, per token"),
            per_llm_token,
        ),
        compare(
            "denoising step",
            format!("{} forward(s)", generation.cfg_passes),
            step,
            request_words.clone(),
            request,
        ),
        compare(
            dit_unit,
            format!(
                "{} steps × {} forward(s)",
                generation.steps, generation.cfg_passes
            ),
            whole,
            request_words,
            request,
        ),
    ])
}

/// "per token", "per denoising step", ...
fn per(unit: &str) -> String {
    format!("per {unit}")
}

/// The verdict on "the DiT costs about as much as the LLM": in which units
/// it holds, and by how much it misses in the others.
pub fn as_much_as_verdict(dit: &str, llm: &str, units: &[UnitComparison]) -> String {
    let holds: Vec<&UnitComparison> = units
        .iter()
        .filter(|u| u.relation == Relation::AboutAsMuch)
        .collect();
    let missed: Vec<String> = units
        .iter()
        .filter(|u| u.relation != Relation::AboutAsMuch)
        .map(|u| {
            let whose = if u.unit == "token" {
                format!("a {llm} token")
            } else {
                format!("one {llm} request")
            };
            format!("{} it costs {} {whose}", per(&u.unit), times(u.ratio))
        })
        .collect();
    let head = if holds.is_empty() {
        format!("Does not hold in any unit for {dit} against {llm}")
    } else {
        format!(
            "Holds {} for {dit} against {llm} ({})",
            holds
                .iter()
                .map(|u| per(&u.unit))
                .collect::<Vec<_>>()
                .join(" and "),
            holds
                .iter()
                .map(|u| times(u.ratio))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    if missed.is_empty() {
        format!("{head}.")
    } else {
        format!("{head}; {}.", missed.join(", "))
    }
}

/// Each full-model DiT row (`unit` video or image) of `dit` against the
/// same place's LLM request (or else prefill) row of `llm`.
fn measurements(rows: &[FullModelRow], dit: &str, llm: &str) -> Vec<ClaimMeasurement> {
    let Ok(dit_preset) = find_preset(dit) else {
        return Vec::new();
    };
    let (_, dit_tokens) = dit_forward_flops(&dit_preset.config);
    let mut out = Vec::new();
    for d in rows
        .iter()
        .filter(|r| r.preset == dit && (r.unit == "video" || r.unit == "image"))
    {
        let same = |r: &&FullModelRow| {
            r.preset == llm
                && r.host == d.host
                && r.backend == d.backend
                && r.device == d.device
                && r.dtype == d.dtype
                && r.tokens.is_some()
        };
        let Some(l) = rows
            .iter()
            .filter(same)
            .find(|r| r.unit == "request")
            .or_else(|| rows.iter().filter(same).find(|r| r.unit == "prefill"))
        else {
            continue;
        };
        let llm_tokens = l.tokens.unwrap_or(1.0);
        out.push(ClaimMeasurement {
            host: d.host.clone(),
            backend: d.backend.clone(),
            device: d.device.clone(),
            dtype: d.dtype.clone(),
            dit_unit_s: d.per_unit_s,
            llm_unit_s: l.per_unit_s,
            llm_unit_basis: l.unit_basis.clone(),
            per_token_ratio: (d.forward_s / dit_tokens as f64) / (l.per_unit_s / llm_tokens),
            per_unit_ratio: d.per_unit_s / l.per_unit_s,
            extrapolated: d.extrapolated || l.extrapolated,
        });
    }
    out
}

/// What the machines measured, per host: the range over backends of one
/// video or image against one request, and per token.
pub fn measured_clause(unit: &str, measured: &[ClaimMeasurement]) -> Option<String> {
    let mut hosts: Vec<&str> = Vec::new();
    for m in measured {
        if !hosts.contains(&m.host.as_str()) {
            hosts.push(&m.host);
        }
    }
    let parts: Vec<String> = hosts
        .iter()
        .map(|host| {
            let here: Vec<&ClaimMeasurement> =
                measured.iter().filter(|m| m.host == *host).collect();
            let range = |f: fn(&ClaimMeasurement) -> f64| {
                let lo = here.iter().map(|m| f(m)).fold(f64::INFINITY, f64::min);
                let hi = here.iter().map(|m| f(m)).fold(f64::NEG_INFINITY, f64::max);
                if times(lo) == times(hi) {
                    times(lo)
                } else {
                    format!("{} to {}", times(lo), times(hi))
                }
            };
            let so = |f: fn(&ClaimMeasurement) -> f64| {
                let all: Vec<Relation> = here.iter().map(|m| relation(f(m))).collect();
                if all.iter().all(|r| *r == Relation::AboutAsMuch) {
                    " (about as much)"
                } else {
                    ""
                }
            };
            format!(
                "on {host}{} with {} backend(s): per {unit} {}{} one request, per token {}{}",
                if here.iter().any(|m| m.extrapolated) {
                    " (extrapolated)"
                } else {
                    ""
                },
                here.len(),
                range(|m| m.per_unit_ratio),
                so(|m| m.per_unit_ratio),
                range(|m| m.per_token_ratio),
                so(|m| m.per_token_ratio),
            )
        })
        .collect();
    if parts.is_empty() {
        None
    } else {
        Some(format!("By measured time, {}.", parts.join("; ")))
    }
}

fn pair(
    dit: &str,
    llm: &str,
    full_models: &[FullModelRow],
    generation: &GenerationSettings,
) -> Option<ClaimPair> {
    let d = find_preset(dit).ok()?;
    let l = find_preset(llm).ok()?;
    let unit = match &d.config {
        ModelConfig::Wan(c) if c.frames == 1 => "image",
        _ => "video",
    };
    let units = unit_comparisons(&d.config, &l.config, unit, generation)?;
    let hypothetical = d.description.starts_with("HYPOTHETICAL");
    let label = if hypothetical {
        format!("{dit} (hypothetical)")
    } else {
        dit.to_string()
    };
    let measured = measurements(full_models, dit, llm);
    let mut verdict = as_much_as_verdict(&label, llm, &units);
    if let Some(m) = measured_clause(unit, &measured) {
        verdict.push(' ');
        verdict.push_str(&m);
    }
    Some(ClaimPair {
        verdict,
        dit: dit.to_string(),
        dit_description: d.description.to_string(),
        hypothetical,
        llm: llm.to_string(),
        units,
        measured,
    })
}

fn assumptions(generation: &GenerationSettings) -> Vec<String> {
    let texts = texts();
    let prompt = match generation.llm_prompt_tokens {
        None => texts.default_prompt.clone(),
        Some(p) => fill(
            &texts.prompt_tokens,
            &[("prompt", group_thousands(p as f64))],
        ),
    };
    let values = [
        ("steps", generation.steps.to_string()),
        ("cfg_passes", generation.cfg_passes.to_string()),
        ("prompt", prompt),
        ("generated", generation.llm_generated_tokens.to_string()),
        ("as_much_as", AS_MUCH_AS.to_string()),
    ];
    texts
        .unit_assumptions
        .iter()
        .map(|a| fill(a, &values))
        .collect()
}

/// The per-pair verdicts joined: the claim's answer.
fn claim_verdict(pairs: &[ClaimPair]) -> String {
    pairs
        .iter()
        .map(|p| p.verdict.clone())
        .collect::<Vec<_>>()
        .join(" ")
}

/// C3: per-token FLOPs and attention share of `dit` as frames grow.
pub fn frame_points(dit: &ModelConfig, llm: &ModelConfig, frames: &[usize]) -> Vec<FramePoint> {
    let llm_cost = cost(llm);
    let llm_per_token = llm_cost.forward_flops / llm_cost.tokens as f64;
    frames
        .iter()
        .filter_map(|&f| {
            let ModelConfig::Wan(c) = dit else {
                return None;
            };
            let mut c = c.clone();
            c.frames = f;
            c.batch = 1;
            let k = cost(&ModelConfig::Wan(c));
            let per_token = k.forward_flops / k.tokens as f64;
            Some(FramePoint {
                frames: f,
                tokens: k.tokens,
                flops_per_token: per_token,
                attention_share: (k.self_attention_flops + k.cross_attention_flops)
                    / k.forward_flops,
                vs_llm: per_token / llm_per_token,
            })
        })
        .collect()
}

/// C3's verdict: whether a video token costs far more than a text token,
/// and from how many frames on.
pub fn frames_verdict(dit: &str, llm: &str, points: &[FramePoint]) -> String {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return "No frame counts to judge.".into();
    };
    let growth = last.flops_per_token / first.flops_per_token;
    let from = points.iter().find(|p| relation(p.vs_llm) == Relation::More);
    let share = |p: &FramePoint| format!("{:.0}%", p.attention_share * 100.0);
    let tail = format!(
        "a token of {dit} costs {} at {} and {} at {} frames ({} as much; attention is {} then {} of the FLOPs), against {} for a {llm} token",
        gflop(first.flops_per_token),
        if first.frames == 1 {
            "1 frame".to_string()
        } else {
            format!("{} frames", first.frames)
        },
        gflop(last.flops_per_token),
        last.frames,
        times(growth),
        share(first),
        share(last),
        gflop(first.flops_per_token / first.vs_llm),
    );
    match from {
        Some(p) if p.frames == first.frames => {
            format!("Holds at every frame count: {tail}.")
        }
        Some(p) => format!(
            "Holds from {} frames on ({} a {llm} token there), not for shorter clips: {tail}.",
            p.frames,
            times(p.vs_llm)
        ),
        None if relation(last.vs_llm) == Relation::Less => {
            format!("Does not hold: a video token stays cheaper than a text token; {tail}.")
        }
        None => format!(
            "Does not hold: a video token costs about as much as a text token (within {AS_MUCH_AS}x) up to {} frames; {tail}.",
            last.frames
        ),
    }
}

/// FLOPs in GFLOP with two significant digits at least: `3.0 GFLOP`, `37 GFLOP`.
fn gflop(flops: f64) -> String {
    let g = flops / 1e9;
    if g >= 10.0 {
        format!("{g:.0} GFLOP")
    } else {
        format!("{g:.1} GFLOP")
    }
}

/// Measured sweeps over frames: rows of one DiT workload (same preset and
/// overrides but `frames`) on one place, two or more frame counts.
pub fn frame_sweeps(rows: &[Row]) -> Vec<FrameSweepMeasurement> {
    type Key<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, &'a str, String);
    let mut groups: Vec<(Key, Vec<&Row>)> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.family == "wan" && r.pass == "forward")
    {
        let Some(_) = r.overrides.get("frames") else {
            continue;
        };
        let others: Vec<String> = r
            .overrides
            .iter()
            .filter(|(k, _)| k.as_str() != "frames")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let key: Key = (
            &r.host,
            &r.backend,
            &r.device,
            &r.dtype,
            &r.pass,
            &r.preset,
            others.join(","),
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let mut out = Vec::new();
    for (key, mut members) in groups {
        members.sort_by_key(|r| r.overrides["frames"]);
        let (Some(lo), Some(hi)) = (members.first(), members.last()) else {
            continue;
        };
        let (f0, f1) = (lo.overrides["frames"], hi.overrides["frames"]);
        if f0 == f1 {
            continue;
        }
        let per = |r: &Row| r.median_s / r.tokens as f64;
        let flops = |r: &Row| r.forward_flops / r.tokens as f64;
        out.push(FrameSweepMeasurement {
            host: key.0.to_string(),
            backend: key.1.to_string(),
            device: key.2.to_string(),
            dtype: key.3.to_string(),
            workload: key.5.to_string(),
            frames: (f0, f1),
            s_per_token: (per(lo), per(hi)),
            growth: per(hi) / per(lo),
            flops_growth: flops(hi) / flops(lo),
        });
    }
    out
}

/// The claims, in the order the report states them.
pub(super) fn claims(
    full_models: &[FullModelRow],
    rows: &[Row],
    generation: &GenerationSettings,
    videos: &[super::PipelineVideo],
) -> Vec<Claim> {
    let texts = texts();
    let pairs_claim = |id: &str, text: &ClaimText, pairs: &[(&str, &str)]| {
        let pairs: Vec<ClaimPair> = pairs
            .iter()
            .filter_map(|(d, l)| pair(d, l, full_models, generation))
            .collect();
        // A video's other stages: added where a pipeline ran, else named
        // as not counted (images have no pipeline: one frame, no VAE clip).
        let mut assumptions = assumptions(generation);
        if id == "C1" {
            assumptions.extend(
                pairs
                    .iter()
                    .map(|p| super::pipeline::claim_note(videos, &p.dit)),
            );
        }
        Claim {
            id: id.into(),
            wording: text.wording.clone(),
            stand_ins: text.stand_ins.clone(),
            assumptions,
            verdict: claim_verdict(&pairs),
            evidence: Evidence::Pairs { pairs },
        }
    };
    let mut out = vec![
        pairs_claim("C1", &texts.c1, &C1_PAIRS),
        pairs_claim("C2", &texts.c2, &C2_PAIRS),
    ];
    out.extend(frames_claim(&texts.c3, rows));
    out
}

/// C1's (DiT, LLM) preset pairs: a video against an LLM request.
const C1_PAIRS: [(&str, &str); 3] = [
    ("sora-3b-guess-720p", "llama-2-70b"),
    ("wan2.1-1.3b-480p", "llama-2-70b"),
    ("wan2.1-14b-720p", "llama-2-70b"),
];

/// C2's pairs: an image against an LLM request.
const C2_PAIRS: [(&str, &str); 2] = [
    ("wan2.1-1.3b-image-1024", "llama-2-70b"),
    ("wan2.1-1.3b-image-512", "llama-2-70b"),
];

/// The LLM presets whose requests (`--llm-prompt`, `--llm-tokens`) the
/// claims price: each request must fit their context windows.
pub fn requested_llms() -> Vec<&'static str> {
    let mut llms: Vec<&str> = C1_PAIRS.iter().chain(&C2_PAIRS).map(|p| p.1).collect();
    llms.dedup();
    llms
}

/// C3: a Wan2.1-1.3B token's cost from 1 to 81 frames against a text
/// token's, with the measured frame sweeps.
fn frames_claim(text: &ClaimText, rows: &[Row]) -> Option<Claim> {
    let (dit, llm) = ("wan2.1-1.3b-480p", "llama-3.2-1b");
    let (d, l) = (find_preset(dit).ok()?, find_preset(llm).ok()?);
    let points = frame_points(&d.config, &l.config, &[1, 5, 9, 17, 33, 49, 65, 81]);
    let sweeps = frame_sweeps(rows);
    let mut verdict = frames_verdict(dit, llm, &points);
    if let Some(s) = sweeps.first() {
        verdict.push_str(&format!(
            " Measured on {} ({} {}, {}): time per token grew {} from {} to {} frames, where the cost model predicts {}.",
            s.host,
            s.backend,
            s.device,
            s.workload,
            times(s.growth),
            s.frames.0,
            s.frames.1,
            times(s.flops_growth)
        ));
    }
    let values = [
        ("llm", llm.to_string()),
        ("as_much_as", AS_MUCH_AS.to_string()),
    ];
    Some(Claim {
        id: "C3".into(),
        wording: text.wording.clone(),
        stand_ins: fill(&text.stand_ins, &values),
        assumptions: text.assumptions.clone(),
        verdict,
        evidence: Evidence::Frames {
            frames: points,
            frames_dit: dit.into(),
            frames_llm: llm.into(),
            sweeps,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation() -> GenerationSettings {
        GenerationSettings::default()
    }

    fn unit(name: &str, ratio: f64) -> UnitComparison {
        UnitComparison {
            unit: name.into(),
            dit_basis: String::new(),
            llm_basis: String::new(),
            dit_flops: ratio,
            llm_flops: 1.0,
            ratio,
            relation: relation(ratio),
        }
    }

    #[test]
    fn relations_use_the_stated_margin() {
        assert_eq!(relation(1.0), Relation::AboutAsMuch);
        assert_eq!(relation(2.0), Relation::AboutAsMuch);
        assert_eq!(relation(0.5), Relation::AboutAsMuch);
        // At the two digits shown: 2.01 reads 2.0, 0.4995 reads 0.50.
        assert_eq!(relation(2.01), Relation::AboutAsMuch);
        assert_eq!(relation(0.4995), Relation::AboutAsMuch);
        assert_eq!(relation(2.06), Relation::More);
        assert_eq!(relation(0.49), Relation::Less);
    }

    #[test]
    fn a_verdict_names_where_it_holds_and_by_how_much_it_misses() {
        let v = as_much_as_verdict(
            "d",
            "l",
            &[
                unit("token", 0.3),
                unit("denoising step", 1.5),
                unit("video", 75.0),
            ],
        );
        assert_eq!(
            v,
            "Holds per denoising step for d against l (1.50x); per token it costs 0.30x a l token, per video it costs 75x one l request."
        );
        let none = as_much_as_verdict("d", "l", &[unit("token", 5.0), unit("video", 500.0)]);
        assert!(none.starts_with("Does not hold in any unit"), "{none}");
        assert!(none.contains("per video it costs 500x"), "{none}");
    }

    #[test]
    fn request_flops_count_prompt_and_generated_tokens_once() {
        let l = find_preset("llama-2-70b").unwrap().config;
        let g = generation();
        let t = RequestTokens::for_preset(&l, &g);
        // 4,096-token context: the prompt leaves room for 256 generated tokens.
        assert_eq!(
            t,
            RequestTokens {
                prompt: 3840,
                generated: 256
            }
        );
        let flops = request_flops(&l, t).unwrap();
        assert_eq!(flops, cost(&l).forward_flops);
        // 2 FLOPs per parameter and token, plus attention: above 2 x 69B.
        assert!(flops / 4096.0 > 2.0 * 69e9, "{flops}");
        let asked = RequestTokens::for_preset(
            &l,
            &GenerationSettings {
                llm_prompt_tokens: Some(100),
                ..g
            },
        );
        assert_eq!(asked.total(), 356);
    }

    #[test]
    fn units_follow_steps_and_cfg_passes() {
        let d = find_preset("wan2.1-1.3b-480p").unwrap().config;
        let l = find_preset("llama-2-70b").unwrap().config;
        let g = generation();
        let u = unit_comparisons(&d, &l, "video", &g).unwrap();
        assert_eq!(u.len(), 3);
        let forward = cost(&d).forward_flops;
        assert!((u[1].dit_flops - 2.0 * forward).abs() < 1.0);
        assert!((u[2].dit_flops - 100.0 * forward).abs() < 1e3);
        assert_eq!(u[1].llm_flops, u[2].llm_flops);
        assert!((u[0].dit_flops * 32_760.0 - forward).abs() / forward < 1e-12);
    }

    #[test]
    fn the_3b_guess_is_cheaper_per_token_than_70b_but_far_dearer_per_video() {
        let c = claims(&[], &[], &generation(), &[]);
        assert_eq!(
            c.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["C1", "C2", "C3"]
        );
        let sora = &c[0].pairs()[0];
        assert!(sora.hypothetical);
        assert!(sora.verdict.contains("(hypothetical)"), "{}", sora.verdict);
        assert_eq!(sora.units[0].relation, Relation::Less);
        assert_eq!(sora.units[2].relation, Relation::More);
        assert!(c[0].verdict.starts_with(&sora.verdict));
        for claim in &c {
            assert!(!claim.verdict.is_empty());
        }
    }

    #[test]
    fn every_claim_text_is_filled_in_from_its_figures() {
        let generation = GenerationSettings {
            llm_prompt_tokens: Some(1_000),
            ..generation()
        };
        let c = claims(&[], &[], &generation, &[]);
        for claim in &c {
            let texts = [&claim.wording, &claim.stand_ins]
                .into_iter()
                .chain(&claim.assumptions);
            for text in texts {
                assert!(!text.is_empty() && !text.contains('{'), "{text}");
            }
        }
        assert!(c[0].assumptions[0].contains(&format!("{} denoising steps", generation.steps)));
        assert!(c[0].assumptions[1].contains("1,000 prompt tokens"));
        assert!(c[2].stand_ins.contains("against llama-3.2-1b"));
        assert!(matches!(c[2].evidence, Evidence::Frames { .. }));
    }

    #[test]
    fn video_tokens_grow_dearer_with_frames_and_the_verdict_says_from_where() {
        let d = find_preset("wan2.1-1.3b-480p").unwrap().config;
        let l = find_preset("llama-3.2-1b").unwrap().config;
        let p = frame_points(&d, &l, &[1, 21, 81]);
        assert_eq!(p[2].tokens, 32_760);
        assert!(p[0].flops_per_token < p[1].flops_per_token);
        assert!(p[1].flops_per_token < p[2].flops_per_token);
        assert!(p[0].attention_share < p[2].attention_share);
        let v = frames_verdict("d", "l", &p);
        let made = |vs: [f64; 3]| {
            let mut q = p.clone();
            for (point, vs) in q.iter_mut().zip(vs) {
                point.vs_llm = vs;
            }
            frames_verdict("d", "l", &q)
        };
        assert!(
            v.starts_with("Holds") || v.starts_with("Does not hold"),
            "{v}"
        );
        assert!(made([1.0, 3.0, 9.0]).starts_with("Holds from 21 frames on"));
        assert!(made([3.0, 4.0, 9.0]).starts_with("Holds at every frame count"));
        assert!(
            made([1.0, 1.2, 1.9]).starts_with("Does not hold: a video token costs about as much")
        );
        assert!(made([0.1, 0.2, 0.3]).starts_with("Does not hold: a video token stays cheaper"));
    }

    #[test]
    fn frame_sweeps_group_one_place_and_compare_their_ends() {
        let row = |frames: usize, backend: &str, median_s: f64, tokens: u64| Row {
            host: "h".into(),
            preset: "wan-small".into(),
            family: "wan".into(),
            pass: "forward".into(),
            backend: backend.into(),
            device: "cpu".into(),
            dtype: "f32".into(),
            overrides: [("frames".to_string(), frames)].into(),
            median_s,
            tokens,
            forward_flops: tokens as f64 * 1e9 * (1.0 + tokens as f64 / 1000.0),
            ..Row::default()
        };
        let rows = vec![
            row(17, "a", 4.0, 320),
            row(1, "a", 1.0, 64),
            row(5, "a", 2.0, 128),
            row(1, "b", 1.0, 64),
        ];
        let s = frame_sweeps(&rows);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].frames, (1, 17));
        assert!((s[0].growth - (4.0 / 320.0) / (1.0 / 64.0)).abs() < 1e-12);
        assert!((s[0].flops_growth - 1.32 / 1.064).abs() < 1e-9);
    }

    fn full(preset: &str, unit: &str, per_unit_s: f64, tokens: Option<f64>) -> FullModelRow {
        FullModelRow {
            extrapolated: unit == "video",
            tokens,
            ..FullModelRow::for_test(preset, unit, per_unit_s)
        }
    }

    #[test]
    fn measurements_pair_a_video_with_the_request_of_the_same_place() {
        let rows = vec![
            full("wan2.1-1.3b-480p", "video", 1000.0, None),
            full("llama-2-70b", "prefill", 5.0, Some(3840.0)),
            full("llama-2-70b", "request", 10.0, Some(4096.0)),
        ];
        let m = measurements(&rows, "wan2.1-1.3b-480p", "llama-2-70b");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].llm_unit_s, 10.0);
        assert_eq!(m[0].per_unit_ratio, 100.0);
        assert!(m[0].extrapolated);
        let per_token = (10.0 / 32_760.0) / (10.0 / 4096.0);
        assert!((m[0].per_token_ratio - per_token).abs() < 1e-12);
        let elsewhere = vec![
            full("wan2.1-1.3b-480p", "video", 1000.0, None),
            FullModelRow {
                host: "other".into(),
                ..full("llama-2-70b", "request", 10.0, Some(4096.0))
            },
        ];
        assert!(measurements(&elsewhere, "wan2.1-1.3b-480p", "llama-2-70b").is_empty());
        assert_eq!(
            measured_clause("video", &m).unwrap(),
            "By measured time, on h (extrapolated) with 1 backend(s): per video 100x one request, per token 0.13x."
        );
        assert_eq!(measured_clause("video", &[]), None);
    }
}
