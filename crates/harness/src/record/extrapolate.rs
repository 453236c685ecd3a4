//! The full-model figures of [`crate::record::scale`] computed from a run's cases:
//! a case's whole model measured, or extrapolated from its k blocks and its
//! rest case, then per video, image or request, and its cost.

use crate::record::results::{CaseResult, Status};
use crate::record::scale::{FullModel, Interval, PerUnit, ScaleSettings, UnitCost};
use crate::stats::{Stats, bootstrap_two_medians_ci};
use ditbench_core::model::case::Dtype;
use ditbench_core::model::case::Pass;
use ditbench_core::model::workload::{
    DEFAULT_PRESETS, Dimension, LlamaConfig, ModelConfig, find_preset, workload_label,
};

/// The preset's block count, where the preset is known.
fn preset_blocks(case: &CaseResult) -> Option<usize> {
    find_preset(&case.workload.preset)
        .ok()
        .map(|p| p.config.blocks())
}

/// The blocks of `other` when it is `case`'s workload with another block
/// count, on the same backend, device, dtype and pass, and ok.
fn blocks_of_same_model(other: &CaseResult, case: &CaseResult) -> Option<usize> {
    let layers = Dimension::Layers.name();
    let without_layers = |c: &CaseResult| {
        let mut o = c.workload.overrides.clone();
        o.remove(layers);
        o
    };
    (other.status == Status::Ok
        && other.stats.is_some()
        && other.workload.preset == case.workload.preset
        && without_layers(other) == without_layers(case)
        && other.backend == case.backend
        && other.device == case.device
        && other.dtype == case.dtype
        && other.pass == case.pass)
        .then(|| other.workload.config.blocks())
}

const RESAMPLES: usize = 2000;

/// The full model of `case` (an ok case), measured or extrapolated with the
/// rest case among `cases`; `None` for a rest case itself, or where the
/// blocks it lacks cannot be extrapolated (no rest case was run).
pub fn full_model(
    case: &CaseResult,
    cases: &[CaseResult],
    settings: &ScaleSettings,
) -> Option<FullModel> {
    let stats = case.stats.as_ref().filter(|_| case.status == Status::Ok)?;
    let model_blocks = preset_blocks(case)?;
    let measured_blocks = case.workload.config.blocks();
    if measured_blocks == 0 {
        return None;
    }
    let mut full = if measured_blocks >= model_blocks {
        measured(stats, model_blocks, measured_blocks)
    } else {
        extrapolated(case, cases, stats, model_blocks, measured_blocks)?
    };
    if case.pass == Pass::Forward {
        full.per_unit = Some(per_unit(case, full.forward, settings));
    }
    full.cost = full
        .per_unit
        .as_ref()
        .map(|unit| unit_cost(case, unit, settings));
    Some(full)
}

/// A whole model that ran with all its blocks: its own figures.
fn measured(stats: &Stats, model_blocks: usize, measured_blocks: usize) -> FullModel {
    FullModel {
        basis: "measured".into(),
        extrapolated: false,
        measured_blocks,
        model_blocks,
        rest_case: None,
        base_case: None,
        base_blocks: None,
        per_block: None,
        rest: None,
        forward: Interval {
            median_s: stats.median_s,
            ci95_s: stats.ci95_median_s,
        },
        per_unit: None,
        cost: None,
    }
}

/// A model measured with k of its L blocks, extrapolated from the deepest
/// other depth j < k that ran: T(k) + (L - k) x (T(k) - T(j)) / (k - j).
fn extrapolated(
    case: &CaseResult,
    cases: &[CaseResult],
    stats: &Stats,
    model_blocks: usize,
    measured_blocks: usize,
) -> Option<FullModel> {
    // The base is the deepest other depth j < k of the same model (the
    // rest case, j = 0, where no other was run): the slope between the
    // two deepest depths leaves out what only the first blocks cost (in
    // libtorch the first block of wan-small costs a quarter more than
    // each later one; docs/findings.md, "Real scale").
    let (base, j) = cases
        .iter()
        .filter_map(|c| blocks_of_same_model(c, case).map(|j| (c, j)))
        .filter(|&(_, j)| j < measured_blocks)
        .max_by_key(|&(_, j)| j)?;
    let rest = cases
        .iter()
        .find(|c| blocks_of_same_model(c, case) == Some(0));
    let (j, k, l) = (j as f64, measured_blocks as f64, model_blocks as f64);
    let block = |tj: f64, tk: f64| (tk - tj) / (k - j);
    let total = |tj: f64, tk: f64| tk + (l - k) * block(tj, tk);
    let (tj, tk) = (&base.samples_s, &case.samples_s);
    let base_stats = base.stats.as_ref()?;
    let interval = |f: &dyn Fn(f64, f64) -> f64, seed| Interval {
        median_s: f(base_stats.median_s, stats.median_s),
        ci95_s: bootstrap_two_medians_ci(tj, tk, f, RESAMPLES, seed),
    };
    Some(FullModel {
        basis: format!(
            "extrapolated from {measured_blocks} measured block{} of {model_blocks}",
            if measured_blocks == 1 { "" } else { "s" }
        ),
        extrapolated: true,
        measured_blocks,
        model_blocks,
        rest_case: rest.map(|r| r.id.clone()),
        base_case: Some(base.id.clone()),
        base_blocks: Some(j as usize),
        per_block: Some(interval(&block, 1)),
        rest: rest.and_then(|r| r.stats.as_ref()).map(|s| Interval {
            median_s: s.median_s,
            ci95_s: s.ci95_median_s,
        }),
        forward: interval(&total, 2),
        per_unit: None,
        cost: None,
    })
}

fn per_unit(case: &CaseResult, forward: Interval, settings: &ScaleSettings) -> PerUnit {
    match &case.workload.config {
        ModelConfig::Wan(c) => {
            let forwards = f64::from(settings.steps) * f64::from(settings.cfg_passes);
            let unit = if c.frames == 1 { "image" } else { "video" };
            let batch = if c.batch == 1 {
                String::new()
            } else {
                format!(" of a batch of {}", c.batch)
            };
            PerUnit {
                unit: unit.into(),
                forwards,
                basis: format!(
                    "one {unit}{batch}: {} denoising steps x {} DiT forwards (classifier-free guidance); the text encoder and VAE decode are not included",
                    settings.steps, settings.cfg_passes
                ),
                tokens: None,
                time: forward.scaled(forwards),
            }
        }
        ModelConfig::Llama(c) => {
            let prompt = prompt_tokens(c, settings);
            let forwards = prompt as f64 / c.seq_len as f64;
            PerUnit {
                unit: "prefill".into(),
                forwards,
                tokens: Some((c.batch as u64 * prompt) as f64),
                basis: format!(
                    "a request's prompt: {prompt} tokens per sequence at the measured prefill rate ({} x {} tokens per forward)",
                    c.batch, c.seq_len
                ),
                time: forward.scaled(forwards),
            }
        }
        // A video's other stages: what each adds to one video.
        ModelConfig::Umt5(c) => {
            let prompts = f64::from(settings.cfg_passes);
            PerUnit {
                unit: "video stage".into(),
                forwards: prompts,
                tokens: None,
                basis: format!(
                    "the text encoder's part of one video: {} prompt{} of {} tokens ({}), one forward each",
                    settings.cfg_passes,
                    if settings.cfg_passes == 1 { "" } else { "s" },
                    c.text_len,
                    if settings.cfg_passes == 1 {
                        "no guidance: the prompt alone"
                    } else {
                        "the prompt and the negative prompt of classifier-free guidance"
                    }
                ),
                time: forward.scaled(prompts),
            }
        }
        ModelConfig::WanVae(c) => PerUnit {
            unit: "video stage".into(),
            forwards: 1.0,
            tokens: None,
            basis: format!(
                "the VAE decoder's part of one video: one decode of its latent into {} frames at {}x{}",
                c.frames, c.height, c.width
            ),
            time: forward,
        },
    }
}

/// Prompt tokens of one request: `--llm-prompt`, or the prefill's
/// `seq_len` less what the generated tokens need within the context window.
pub fn prompt_tokens(c: &LlamaConfig, settings: &ScaleSettings) -> u64 {
    settings.llm_prompt_tokens.unwrap_or_else(|| {
        let room = (c.max_position_embeddings as u64).saturating_sub(settings.llm_generated_tokens);
        (c.seq_len as u64).min(room).max(1)
    })
}

/// A Llama model across its measured depths and context lengths: preset
/// and overrides but `layers` and `seq-len`, and where it ran.
#[derive(PartialEq)]
struct LlmIdentity<'a> {
    preset: &'a str,
    overrides: Vec<(&'a str, usize)>,
    backend: &'a str,
    device: &'a str,
    dtype: Dtype,
}

fn llm_identity(c: &CaseResult) -> Option<LlmIdentity<'_>> {
    let skip = [Dimension::Layers.name(), Dimension::SeqLen.name()];
    matches!(c.workload.config, ModelConfig::Llama(_)).then(|| LlmIdentity {
        preset: &c.workload.preset,
        overrides: c
            .workload
            .overrides
            .iter()
            .filter(|(name, _)| !skip.contains(&name.as_str()))
            .map(|(n, v)| (n.as_str(), *v))
            .collect(),
        backend: &c.backend,
        device: &c.device,
        dtype: c.dtype,
    })
}

/// Least-squares line through `points` (x, y): (intercept, slope); a
/// constant through one point.
fn fit_line(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return (mean_y, 0.0);
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    (mean_y - slope * mean_x, slope)
}

/// One request of a decode case's model: the prefill of its prompt (from
/// the forward case of the same model nearest the prompt's length) and its
/// generated tokens' decode steps (fitted over the decode cases' contexts).
/// `None` without a forward case.
fn request(case: &CaseResult, cases: &[CaseResult], settings: &ScaleSettings) -> Option<PerUnit> {
    let id = llm_identity(case)?;
    let full = |c: &CaseResult| c.full_model.as_ref().map(|f| f.forward);
    let seq_len = |c: &CaseResult| match &c.workload.config {
        ModelConfig::Llama(l) => l.seq_len,
        _ => 0,
    };
    let same = |c: &&CaseResult, pass| {
        c.pass == pass && llm_identity(c).as_ref() == Some(&id) && full(c).is_some()
    };
    let forwards: Vec<&CaseResult> = cases.iter().filter(|c| same(c, Pass::Forward)).collect();
    // The prompt: given, or that of the longest prefill measured.
    let longest = forwards.iter().max_by_key(|c| seq_len(c))?;
    let ModelConfig::Llama(config) = &longest.workload.config else {
        return None;
    };
    let prompt = prompt_tokens(config, settings);
    let prefill_case = forwards
        .iter()
        .min_by_key(|c| (seq_len(c) as i64 - prompt as i64).abs())?;
    let prefill_s = full(prefill_case)?.scaled(prompt as f64 / seq_len(prefill_case) as f64);

    let mut steps: Vec<(f64, Interval)> = cases
        .iter()
        .filter(|c| same(c, Pass::Decode))
        .filter_map(|c| Some((seq_len(c) as f64, full(c)?)))
        .collect();
    steps.sort_by(|a, b| a.0.total_cmp(&b.0));
    let generated = settings.llm_generated_tokens;
    let (decode, fit) = decode_steps(&steps, prompt, generated)?;
    let batch = case.workload.config.batch();
    let of_batch = if batch == 1 {
        String::new()
    } else {
        format!(", each sequence of a batch of {batch}")
    };
    Some(PerUnit {
        unit: "request".into(),
        forwards: prompt as f64 / seq_len(prefill_case) as f64,
        tokens: Some((batch as u64 * (prompt + generated)) as f64),
        basis: format!(
            "one request{of_batch}: a {prompt}-token prompt's prefill (the {}-token prefill scaled per token) and {generated} generated tokens' decode steps at contexts {} to {} ({fit})",
            seq_len(prefill_case),
            prompt + 1,
            prompt + generated
        ),
        time: Interval {
            median_s: prefill_s.median_s + decode.median_s,
            ci95_s: [
                prefill_s.ci95_s[0] + decode.ci95_s[0],
                prefill_s.ci95_s[1] + decode.ci95_s[1],
            ],
        },
    })
}

/// The decode steps of `generated` tokens after a `prompt`-token prompt,
/// from the steps measured at each context (context, time), fitted with a
/// line; and how the fit was made, in words.
fn decode_steps(
    steps: &[(f64, Interval)],
    prompt: u64,
    generated: u64,
) -> Option<(Interval, String)> {
    // Contexts prompt+1 .. prompt+generated: a line's sum is its value at the mean.
    let mean_context = prompt as f64 + (generated as f64 + 1.0) / 2.0;
    let at = |pick: fn(&Interval) -> f64| {
        let points: Vec<(f64, f64)> = steps.iter().map(|(x, i)| (*x, pick(i))).collect();
        let (a, b) = fit_line(&points);
        generated as f64 * (a + b * mean_context).max(0.0)
    };
    let decode = Interval {
        median_s: at(|i| i.median_s),
        ci95_s: [at(|i| i.ci95_s[0]), at(|i| i.ci95_s[1])],
    };
    let contexts: Vec<String> = steps.iter().map(|(x, _)| format!("{x}")).collect();
    let (first, last) = (steps.first()?.0, steps.last()?.0);
    let fit = match steps.len() {
        1 => format!("the step measured at a context of {first} tokens, for every context"),
        _ if (first..=last).contains(&(prompt as f64 + 1.0))
            && (first..=last).contains(&(prompt as f64 + generated as f64)) =>
        {
            format!(
                "interpolated linearly between the contexts measured ({})",
                contexts.join(", ")
            )
        }
        _ => format!(
            "extrapolated linearly from the contexts measured ({})",
            contexts.join(", ")
        ),
    };
    Some((decode, fit))
}

fn unit_cost(case: &CaseResult, unit: &PerUnit, settings: &ScaleSettings) -> UnitCost {
    let price = settings.price_per_hour_usd;
    let usd = price.map(|p| unit.time.median_s / 3600.0 * p);
    let tokens = unit.tokens;
    let watts = case.energy.as_ref().and_then(|e| e.average_watts);
    let mut assumptions = vec![match price {
        Some(p) => format!("the whole machine at ${p}/hour, busy only with this work"),
        None => "no --price-per-hour given".to_string(),
    }];
    assumptions.push(match watts {
        Some(w) => format!("energy at the measured average of {w:.1} W"),
        None => "energy not measured".to_string(),
    });
    UnitCost {
        price_per_hour_usd: price,
        usd_per_unit: usd,
        usd_per_million_tokens: usd.zip(tokens).map(|(u, t)| u / t * 1e6),
        kwh_per_unit: watts.map(|w| w * unit.time.median_s / 3.6e6),
        assumptions: assumptions.join("; "),
    }
}

/// The whole model a case stands for: its workload's label without the
/// `layers` override (`wan2.1-1.3b-480p[frames=17,layers=1]` stands for
/// `wan2.1-1.3b-480p[frames=17]`).
pub fn model_label(case: &CaseResult) -> String {
    workload_label(
        &case.workload.preset,
        &case.workload.overrides,
        &[Dimension::Layers],
    )
}

/// Whether a case's full model answers a question worth a table row: it was
/// extrapolated or priced, or it is a real model (not one of the test and
/// CPU-sized presets, whose "videos" are toys).
pub fn worth_showing(case: &CaseResult, full: &FullModel) -> bool {
    full.per_unit.is_some()
        && (full.extrapolated
            || full.cost.as_ref().is_some_and(|c| c.usd_per_unit.is_some())
            || !DEFAULT_PRESETS.contains(&case.workload.preset.as_str()))
}

/// Fill `full_model` of every case from the others; then a decode case's
/// request from the full models of its model's forward and decode cases.
pub fn attach(cases: &mut [CaseResult], settings: &ScaleSettings) {
    let figures: Vec<Option<FullModel>> = cases
        .iter()
        .map(|c| full_model(c, cases, settings))
        .collect();
    for (case, full) in cases.iter_mut().zip(figures) {
        case.full_model = full;
    }
    let requests: Vec<Option<PerUnit>> = cases
        .iter()
        .map(|c| {
            (c.pass == Pass::Decode && c.full_model.is_some())
                .then(|| request(c, cases, settings))
                .flatten()
        })
        .collect();
    for (case, unit) in cases.iter_mut().zip(requests) {
        let Some(unit) = unit else { continue };
        let cost = unit_cost(case, &unit, settings);
        if let Some(full) = case.full_model.as_mut() {
            full.cost = Some(cost);
            full.per_unit = Some(unit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::energy::EnergyFigures;
    use crate::run::runner::empty_result;
    use crate::stats::summarize;
    use ditbench_core::model::attention::{ScoreMemory, TILE_SCORE_BYTES};
    use ditbench_core::model::case::{AttentionPath, AttentionPlan, CaseSpec, DeviceName, Dtype};
    use ditbench_core::model::workload::{Dimension, expand_workloads};
    use std::collections::BTreeMap;

    /// An ok forward case of `preset` with `layers` blocks (all if `None`)
    /// whose samples are `seconds` and a little spread around it.
    fn case(preset: &str, layers: Option<usize>, seconds: f64) -> CaseResult {
        let sweeps = layers
            .map(|l| BTreeMap::from([(Dimension::Layers, vec![l])]))
            .unwrap_or_default();
        case_of(preset, sweeps, Pass::Forward, seconds)
    }

    fn case_of(
        preset: &str,
        sweeps: BTreeMap<Dimension, Vec<usize>>,
        pass: Pass,
        seconds: f64,
    ) -> CaseResult {
        let workload = expand_workloads(&[preset.to_string()], &sweeps)
            .unwrap()
            .remove(0);
        let spec = CaseSpec {
            workload,
            backend: "candle".into(),
            device: DeviceName::Cpu,
            dtype: Dtype::F32,
            pass,
            seed: 0,
            attention: AttentionPlan {
                path: AttentionPath::Composite,
                tile_score_bytes: TILE_SCORE_BYTES,
            },
        };
        let mut c = empty_result(&spec, ScoreMemory::Full, 0);
        c.status = Status::Ok;
        c.samples_s = (0..9)
            .map(|i| seconds * (1.0 + 0.01 * (i as f64 - 4.0)))
            .collect();
        c.stats = Some(summarize(&c.samples_s));
        c
    }

    #[test]
    fn a_whole_model_is_measured_and_a_video_is_steps_times_cfg_forwards() {
        let c = case("wan-small", None, 2.0);
        let f = full_model(&c, std::slice::from_ref(&c), &ScaleSettings::default()).unwrap();
        assert_eq!(f.basis, "measured");
        assert!(!f.extrapolated);
        assert_eq!(f.forward.median_s, 2.0);
        let unit = f.per_unit.unwrap();
        assert_eq!((unit.unit.as_str(), unit.forwards), ("video", 100.0));
        assert_eq!(unit.time.median_s, 200.0);
        assert!(unit.basis.contains("VAE decode are not included"));
        let cost = f.cost.unwrap();
        assert_eq!(cost.usd_per_unit, None);
        assert_eq!(cost.kwh_per_unit, None);
        assert!(cost.assumptions.contains("energy not measured"));
    }

    #[test]
    fn blocks_are_extrapolated_from_the_rest_case() {
        // rest 0.2 s, one block 0.8 s: six blocks = 0.2 + 6 x 0.8 = 5.0 s.
        let mut partial = case("wan-small", Some(1), 1.0);
        let rest = case("wan-small", Some(0), 0.2);
        partial.energy = Some(EnergyFigures {
            source: "fake".into(),
            joules: Some(90.0),
            joules_per_iteration: Some(10.0),
            average_watts: Some(36.0),
            unavailable: None,
        });
        let settings = ScaleSettings {
            price_per_hour_usd: Some(3.6),
            ..ScaleSettings::default()
        };
        let cases = [rest.clone(), partial.clone()];
        let f = full_model(&partial, &cases, &settings).unwrap();
        assert!(f.extrapolated);
        assert_eq!(f.basis, "extrapolated from 1 measured block of 6");
        assert_eq!(f.rest_case.as_deref(), Some(rest.id.as_str()));
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(f.per_block.unwrap().median_s, 0.8));
        assert!(close(f.forward.median_s, 5.0));
        let [lo, hi] = f.forward.ci95_s;
        assert!(lo < 5.0 && 5.0 < hi && hi - lo < 0.5, "{lo} {hi}");
        let unit = f.per_unit.unwrap();
        assert!(close(unit.time.median_s, 500.0));
        let cost = f.cost.unwrap();
        // 500 s at $3.60/hour; 36 W for 500 s.
        assert!(close(cost.usd_per_unit.unwrap(), 0.5));
        assert!(close(cost.kwh_per_unit.unwrap(), 36.0 * 500.0 / 3.6e6));
        assert_eq!(cost.usd_per_million_tokens, None);
        // The rest case has no full model; without it, nothing is extrapolated.
        assert_eq!(full_model(&rest, &cases, &settings), None);
        assert_eq!(full_model(&partial, &[partial.clone()], &settings), None);
        // Another backend's rest does not count.
        let mut other = rest.clone();
        other.backend = "tch".into();
        assert_eq!(
            full_model(&partial, &[other, partial.clone()], &settings),
            None
        );
    }

    #[test]
    fn the_slope_comes_from_the_deepest_depth_below_the_case() {
        // rest 0.2 s, the first block 1.0 s, every later one 0.8 s: from 2
        // blocks over 1, six blocks = 2.0 + 4 x 0.8 = 5.2 s (over the rest
        // it would be 0.2 + 6 x 0.9 = 5.6 s).
        let rest = case("wan-small", Some(0), 0.2);
        let one = case("wan-small", Some(1), 1.2);
        let two = case("wan-small", Some(2), 2.0);
        let cases = [rest.clone(), two.clone(), one.clone()];
        let settings = ScaleSettings::default();
        let f = full_model(&two, &cases, &settings).unwrap();
        assert_eq!(f.basis, "extrapolated from 2 measured blocks of 6");
        assert_eq!(f.base_case.as_deref(), Some(one.id.as_str()));
        assert_eq!(f.base_blocks, Some(1));
        assert_eq!(f.rest_case.as_deref(), Some(rest.id.as_str()));
        assert_eq!(f.rest.unwrap().median_s, 0.2);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(f.per_block.unwrap().median_s, 0.8));
        assert!(close(f.forward.median_s, 5.2));
        // The one-block case still extrapolates over the rest.
        let f = full_model(&one, &cases, &settings).unwrap();
        assert_eq!(f.base_blocks, Some(0));
        assert!(close(f.forward.median_s, 0.2 + 6.0 * 1.0));
        // Without the rest case, two blocks over one need no rest.
        let f = full_model(&two, &[one.clone(), two.clone()], &settings).unwrap();
        assert_eq!((f.rest_case, f.rest), (None, None));
        assert!(close(f.forward.median_s, 5.2));
        // A deeper case, or another workload, is no base.
        let mut wider = one.clone();
        wider.workload.overrides.insert("frames".into(), 9);
        let six = case("wan-small", Some(6), 5.0);
        assert_eq!(
            full_model(&two, &[wider, six, two.clone()], &settings),
            None
        );
    }

    #[test]
    fn an_llm_prefill_is_its_prompt_at_the_prefill_rate() {
        // llama-tiny: one forward is 48 tokens.
        let c = case("llama-tiny", None, 0.048);
        let settings = ScaleSettings {
            llm_prompt_tokens: Some(480),
            price_per_hour_usd: Some(36.0),
            ..ScaleSettings::default()
        };
        let f = full_model(&c, std::slice::from_ref(&c), &settings).unwrap();
        let unit = f.per_unit.unwrap();
        assert_eq!((unit.unit.as_str(), unit.forwards), ("prefill", 10.0));
        assert!((unit.time.median_s - 0.48).abs() < 1e-12);
        assert!(
            unit.basis.contains("480 tokens per sequence"),
            "{}",
            unit.basis
        );
        // 1 ms per token at $36/hour: $0.01 per 1,000 tokens, $10 per million.
        let usd = f.cost.unwrap().usd_per_million_tokens.unwrap();
        assert!((usd - 10.0).abs() < 1e-9, "{usd}");
    }

    /// An ok llama-tiny case of `pass` at a context of `seq_len` tokens.
    fn llama_case(pass: Pass, seq_len: usize, seconds: f64) -> CaseResult {
        let sweeps = BTreeMap::from([(Dimension::SeqLen, vec![seq_len])]);
        case_of("llama-tiny", sweeps, pass, seconds)
    }

    /// The per-unit figures attached to `case`.
    fn per_unit(case: &CaseResult) -> crate::record::scale::PerUnit {
        case.full_model.as_ref().unwrap().per_unit.clone().unwrap()
    }

    #[test]
    fn a_request_is_its_prefill_and_its_decode_steps_fitted_in_the_context() {
        // Prefill: 40 ms for 40 tokens, 1 ms a token. Decode steps: 10 ms
        // at a context of 24 tokens, 14 ms at 40: 4 ms + 0.25 ms a position.
        let prefill = llama_case(Pass::Forward, 40, 0.040);
        let short = llama_case(Pass::Decode, 24, 0.010);
        let long = llama_case(Pass::Decode, 40, 0.014);
        let settings = ScaleSettings {
            llm_prompt_tokens: Some(20),
            llm_generated_tokens: 8,
            price_per_hour_usd: Some(3.6),
            ..ScaleSettings::default()
        };
        let mut cases = vec![prefill, short, long];
        attach(&mut cases, &settings);
        let unit = per_unit(&cases[2]);
        assert_eq!(unit.unit, "request");
        // 20 prompt tokens: 20 ms; steps at contexts 21..28 (mean 24.5):
        // 8 x (4 + 0.25 x 24.5) ms = 81 ms.
        assert!(
            (unit.time.median_s - (0.020 + 0.081)).abs() < 1e-12,
            "{unit:?}"
        );
        assert!(unit.basis.contains("contexts 21 to 28"), "{}", unit.basis);
        assert!(
            unit.basis.contains("extrapolated linearly"),
            "{}",
            unit.basis
        );
        assert_eq!(unit.tokens, Some(28.0));
        let cost = cases[2].full_model.as_ref().unwrap().cost.clone().unwrap();
        assert!((cost.usd_per_unit.unwrap() - 0.101 / 1000.0).abs() < 1e-12);
        // The same request from either decode case; the prefill's own unit.
        let other = per_unit(&cases[1]);
        assert_eq!(other.time, unit.time);
        let prompt = per_unit(&cases[0]);
        assert_eq!(
            (prompt.unit.as_str(), prompt.tokens),
            ("prefill", Some(20.0))
        );
        // One decode context: the same step everywhere; no prefill, no request.
        let mut one = vec![
            llama_case(Pass::Forward, 40, 0.040),
            llama_case(Pass::Decode, 24, 0.010),
        ];
        attach(&mut one, &settings);
        let unit = per_unit(&one[1]);
        assert!((unit.time.median_s - (0.020 + 0.080)).abs() < 1e-12);
        assert!(unit.basis.contains("for every context"), "{}", unit.basis);
        let mut alone = vec![llama_case(Pass::Decode, 24, 0.010)];
        attach(&mut alone, &settings);
        assert_eq!(alone[0].full_model.as_ref().unwrap().per_unit, None);
    }

    #[test]
    fn the_model_a_case_stands_for_drops_only_its_layers() {
        assert_eq!(model_label(&case("wan-small", Some(1), 1.0)), "wan-small");
        assert_eq!(model_label(&case("wan-small", None, 1.0)), "wan-small");
        let mut c = case("wan-small", Some(1), 1.0);
        c.workload.overrides.insert("frames".into(), 9);
        assert_eq!(model_label(&c), "wan-small[frames=9]");
    }

    #[test]
    fn one_latent_frame_is_an_image() {
        let c = case("wan2.1-1.3b-image-1024", None, 1.0);
        let f = full_model(&c, std::slice::from_ref(&c), &ScaleSettings::default()).unwrap();
        assert_eq!(f.per_unit.unwrap().unit, "image");
    }
}
