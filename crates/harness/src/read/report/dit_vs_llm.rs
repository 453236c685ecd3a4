//! What a video costs next to an LLM: measured DiT cases against measured
//! Llama cases, and the real-scale presets from the cost model alone.

use super::{GenerationSettings, Row};
use ditbench_core::model::case::Pass;
use ditbench_core::model::cost::cost;
use ditbench_core::model::workload::{Dimension, find_preset, size_class};
use serde::Serialize;

/// One DiT case against one LLM baseline measured on the same machine,
/// backend, device and dtype.
#[derive(Debug, Clone, Serialize)]
pub struct DitVsLlm {
    pub host: String,
    pub backend: String,
    pub device: String,
    pub dtype: String,
    pub dit: String,
    pub llm: String,
    pub dit_ms_per_token: f64,
    pub llm_ms_per_token: f64,
    pub dit_tflops: f64,
    pub llm_tflops: f64,
    pub dit_growth_kib_per_token: Option<f64>,
    pub llm_growth_kib_per_token: Option<f64>,
    pub tokens_per_forward_flops: f64,
    pub tokens_per_forward_time: f64,
    pub tokens_per_video_flops: f64,
    pub tokens_per_video_time: f64,
}

/// A real-scale DiT preset against a real-scale Llama, from the cost model.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleEquivalent {
    pub dit: String,
    pub dit_description: String,
    pub llm: String,
    pub dit_forward_pflop: f64,
    pub llm_gflop_per_token: f64,
    pub tokens_per_forward: f64,
    pub tokens_per_video: f64,
}

/// Whether a row ran fewer blocks than its preset (a part of a model, or
/// an extrapolation's rest): its time is not the model's, so it pairs with
/// nothing here (the full-model section shows what it extrapolates to).
fn partial(r: &Row) -> bool {
    let blocks = find_preset(&r.preset).map(|p| p.config.blocks());
    match (r.overrides.get(Dimension::Layers.name()), blocks) {
        (Some(&layers), Ok(blocks)) => layers < blocks,
        _ => false,
    }
}

/// Every whole-model DiT forward case against the whole-model LLM forward
/// cases of its size class (test with test, CPU size with CPU size, real
/// with real) measured with the same machine, backend, device and dtype.
pub(super) fn dit_vs_llm(rows: &[Row], generation: GenerationSettings) -> Vec<DitVsLlm> {
    fn forward<'a>(rows: &'a [Row], family: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        rows.iter()
            .filter(move |r| r.family == family && r.pass == Pass::Forward.name() && !partial(r))
    }
    let video = f64::from(generation.steps * generation.cfg_passes);
    let mut out = Vec::new();
    for d in forward(rows, "wan") {
        let same_place: Vec<&Row> = forward(rows, "llama")
            .filter(|l| {
                l.host == d.host
                    && size_class(&l.preset) == size_class(&d.preset)
                    && l.backend == d.backend
                    && l.device == d.device
                    && l.dtype == d.dtype
            })
            .collect();
        // The baselines are the LLM presets as published; variants from a
        // sweep stand in only where no plain preset was measured.
        let plain: Vec<&Row> = same_place
            .iter()
            .copied()
            .filter(|l| l.overrides.is_empty())
            .collect();
        let baselines = if plain.is_empty() { same_place } else { plain };
        for l in baselines {
            let (df, lf) = (d.forward_flops, l.forward_flops);
            let llm_flops_per_token = lf / l.tokens as f64;
            let llm_s_per_token = l.median_s / l.tokens as f64;
            let per_kib = |mib: Option<f64>, tokens: u64| mib.map(|m| m * 1024.0 / tokens as f64);
            out.push(DitVsLlm {
                host: d.host.clone(),
                backend: d.backend.clone(),
                device: d.device.clone(),
                dtype: d.dtype.clone(),
                dit: d.workload.clone(),
                llm: l.workload.clone(),
                dit_ms_per_token: d.median_s * 1e3 / d.tokens as f64,
                llm_ms_per_token: llm_s_per_token * 1e3,
                dit_tflops: d.tflops,
                llm_tflops: l.tflops,
                dit_growth_kib_per_token: per_kib(d.rss_growth_mib, d.tokens),
                llm_growth_kib_per_token: per_kib(l.rss_growth_mib, l.tokens),
                tokens_per_forward_flops: df / llm_flops_per_token,
                tokens_per_forward_time: d.median_s / llm_s_per_token,
                tokens_per_video_flops: video * df / llm_flops_per_token,
                tokens_per_video_time: video * d.median_s / llm_s_per_token,
            });
        }
    }
    out
}

/// Real-scale DiT presets against real-scale Llamas, from the cost model
/// alone: shown whether or not they were run.
pub(super) fn scale_equivalents(generation: GenerationSettings) -> Vec<ScaleEquivalent> {
    let video = f64::from(generation.steps * generation.cfg_passes);
    let dits = ["wan2.1-1.3b-480p", "wan2.1-14b-720p", "sora-3b-guess-720p"];
    let llms = ["llama-2-7b", "llama-3-8b", "llama-2-70b", "llama-3-70b"];
    let mut out = Vec::new();
    for dit in dits {
        let Ok(d) = find_preset(dit) else { continue };
        let dc = cost(&d.config);
        for llm in llms {
            let Ok(l) = find_preset(llm) else { continue };
            let lc = cost(&l.config);
            let per_token = lc.forward_flops / lc.tokens as f64;
            out.push(ScaleEquivalent {
                dit: dit.to_string(),
                dit_description: d.description.to_string(),
                llm: llm.to_string(),
                dit_forward_pflop: dc.forward_flops / 1e15,
                llm_gflop_per_token: per_token / 1e9,
                tokens_per_forward: dc.forward_flops / per_token,
                tokens_per_video: video * dc.forward_flops / per_token,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dits_pair_only_with_llms_of_their_size_class() {
        let row = |preset: &str, family: &str| Row {
            host: "h".into(),
            workload: preset.into(),
            preset: preset.into(),
            family: family.into(),
            backend: "b".into(),
            device: "cpu".into(),
            dtype: "f32".into(),
            pass: "forward".into(),
            median_s: 1.0,
            tokens: 100,
            forward_flops: 1e9,
            ..Row::default()
        };
        let rows = vec![
            row("wan-tiny", "wan"),
            row("wan-small", "wan"),
            row("llama-tiny", "llama"),
            row("llama-small", "llama"),
        ];
        let pairs: Vec<(String, String)> = dit_vs_llm(&rows, GenerationSettings::default())
            .into_iter()
            .map(|d| (d.dit, d.llm))
            .collect();
        assert_eq!(
            pairs,
            [
                ("wan-tiny".to_string(), "llama-tiny".to_string()),
                ("wan-small".to_string(), "llama-small".to_string())
            ]
        );
    }

    #[test]
    fn real_scale_equivalents_follow_the_stated_formula() {
        let g = GenerationSettings {
            steps: 50,
            cfg_passes: 2,
            ..GenerationSettings::default()
        };
        let rows = scale_equivalents(g);
        assert_eq!(rows.len(), 12);
        for r in &rows {
            let per_token = r.llm_gflop_per_token * 1e9;
            let expected = r.dit_forward_pflop * 1e15 / per_token;
            assert!((r.tokens_per_forward - expected).abs() / expected < 1e-9);
            assert!(
                (r.tokens_per_video - 100.0 * r.tokens_per_forward).abs()
                    < 1e-6 * r.tokens_per_video
            );
        }
        let sora_70b = rows
            .iter()
            .find(|r| r.dit == "sora-3b-guess-720p" && r.llm == "llama-2-70b")
            .unwrap();
        assert!(sora_70b.tokens_per_video > 1e5, "{sora_70b:?}");
    }
}
