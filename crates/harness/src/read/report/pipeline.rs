//! One whole video per place: the stages of each named pipeline
//! ([`ditbench_core::model::pipeline`]) from the full-model rows of their
//! presets, summed, with each stage's share, FLOPs and estimated peak memory,
//! and the stages that did not run named as such.

use serde::Serialize;

use super::FullModelRow;
use ditbench_core::model::attention::{ScoreMemory, TILE_SCORE_BYTES};
use ditbench_core::model::case::{Dtype, Pass};
use ditbench_core::model::cost::estimate_memory;
use ditbench_core::model::pipeline::{Stage, VideoPipeline, pipelines};
use ditbench_core::model::workload::find_preset;
use ditbench_core::util::units::{flops_text, format_seconds};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One stage of one video.
#[derive(Debug, Clone, Serialize)]
pub struct StageFigure {
    pub stage: String,
    pub preset: String,
    /// Passes of the stage per video (prompts, steps x guidance, decodes).
    pub runs: u32,
    /// The fastest backend's figures; `None` where the stage did not run here.
    pub measured: Option<StageTime>,
    /// Share of the video's seconds (where every stage ran).
    pub share: Option<f64>,
    /// FLOPs of the stage per video (the cost model's).
    pub flops: f64,
    /// Estimated peak memory of one pass of the stage's whole model at the
    /// dtype (forward, memory-bounded attention), the runtime included.
    pub estimated_gib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub backend: String,
    /// Seconds per video: one full-model forward x `runs`, with its interval.
    pub seconds: f64,
    pub ci_s: [f64; 2],
    /// `measured` or `extrapolated from k measured blocks of L`.
    pub basis: String,
    pub extrapolated: bool,
    /// The measured case's peak resident memory (of the blocks that ran).
    pub peak_rss_gib: Option<f64>,
}

/// One video of a pipeline on one place and dtype.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineVideo {
    pub pipeline: String,
    pub description: String,
    pub source: String,
    pub steps: u32,
    pub guidance: bool,
    pub host: String,
    pub device: String,
    pub dtype: String,
    pub stages: Vec<StageFigure>,
    /// Sum of the stages' seconds where every stage ran.
    pub seconds: Option<f64>,
    pub ci_s: Option<[f64; 2]>,
    /// Any stage extrapolated.
    pub extrapolated: bool,
    /// The stages that did not run here, by name.
    pub not_run: Vec<String>,
    /// The stage whose estimated peak is largest: it decides what memory a
    /// machine needs for the whole video.
    pub memory_stage: String,
    pub memory_gib: f64,
}

/// Every pipeline whose DiT has a full-model row, per run (results file),
/// place and dtype: a video's stages come from one run, so two machines
/// that share a host name are never summed into one video.
/// `runtime_of(host, device)` is the worker's runtime bytes there (0 where
/// unknown), which every stage's memory estimate includes.
pub(super) fn videos(
    full_models: &[FullModelRow],
    runtime_of: impl Fn(&str, &str) -> u64,
) -> Vec<PipelineVideo> {
    let mut out = Vec::new();
    for p in pipelines() {
        let mut where_ran: Vec<(usize, &str, &str, &str)> = full_models
            .iter()
            .filter(|r| r.preset == p.dit)
            .map(|r| (r.run, r.host.as_str(), r.device.as_str(), r.dtype.as_str()))
            .collect();
        where_ran.sort();
        where_ran.dedup();
        for (run, host, device, dtype) in where_ran {
            let runtime = runtime_of(host, device);
            let here: Vec<&FullModelRow> = full_models
                .iter()
                .filter(|r| {
                    r.run == run && r.host == host && r.device == device && r.dtype == dtype
                })
                .collect();
            if let Some(video) = video(&p, &here, [host, device, dtype], runtime) {
                out.push(video);
            }
        }
    }
    out
}

/// The fastest row of `preset` among `rows` (one forward of its whole model).
fn fastest<'a>(rows: &[&'a FullModelRow], preset: &str) -> Option<&'a FullModelRow> {
    rows.iter()
        .copied()
        .filter(|r| r.preset == preset)
        .min_by(|a, b| a.forward_s.total_cmp(&b.forward_s))
}

fn video(
    p: &VideoPipeline,
    rows: &[&FullModelRow],
    [host, device, dtype]: [&str; 3],
    runtime_bytes: u64,
) -> Option<PipelineVideo> {
    let peaks = stage_peaks(p, dtype.parse::<Dtype>().ok()?, runtime_bytes)?;
    let flops = p.flops().ok()?;
    let mut stages = Vec::new();
    for (i, stage) in Stage::ALL.into_iter().enumerate() {
        let preset = p.preset(stage);
        let runs = p.runs(stage);
        let measured = fastest(rows, preset).map(|r| StageTime {
            backend: r.backend.clone(),
            seconds: r.forward_s * f64::from(runs),
            ci_s: r.forward_ci_s.map(|s| s * f64::from(runs)),
            basis: r.basis.clone(),
            extrapolated: r.extrapolated,
            peak_rss_gib: r.peak_rss_mib.map(|m| m / 1024.0),
        });
        stages.push(StageFigure {
            stage: stage.name().into(),
            preset: preset.into(),
            runs,
            measured,
            share: None,
            flops: flops[i],
            estimated_gib: peaks[i] as f64 / GIB,
        });
    }
    let not_run: Vec<String> = stages
        .iter()
        .filter(|s| s.measured.is_none())
        .map(|s| s.stage.clone())
        .collect();
    let times: Option<Vec<&StageTime>> = stages.iter().map(|s| s.measured.as_ref()).collect();
    let (seconds, ci_s) = match &times {
        Some(t) => (
            Some(t.iter().map(|s| s.seconds).sum::<f64>()),
            Some([0, 1].map(|k| t.iter().map(|s| s.ci_s[k]).sum::<f64>())),
        ),
        None => (None, None),
    };
    if let Some(total) = seconds {
        for s in &mut stages {
            s.share = s.measured.as_ref().map(|m| m.seconds / total);
        }
    }
    let largest = stages
        .iter()
        .max_by(|a, b| a.estimated_gib.total_cmp(&b.estimated_gib))?;
    Some(PipelineVideo {
        pipeline: p.name.into(),
        description: p.description.into(),
        source: p.source.into(),
        steps: p.steps,
        guidance: p.guidance,
        host: host.into(),
        device: device.into(),
        dtype: dtype.into(),
        memory_stage: largest.stage.clone(),
        memory_gib: largest.estimated_gib,
        extrapolated: stages
            .iter()
            .any(|s| s.measured.as_ref().is_some_and(|m| m.extrapolated)),
        stages,
        seconds,
        ci_s,
        not_run,
    })
}

/// Each stage's estimated forward peak in bytes at `dtype`, in
/// [`Stage::ALL`] order: memory-bounded attention (the tiled path, which
/// every backend offers), `runtime_bytes` included.
fn stage_peaks(p: &VideoPipeline, dtype: Dtype, runtime_bytes: u64) -> Option<[u64; 3]> {
    let mut out = [0; 3];
    for (peak, stage) in out.iter_mut().zip(Stage::ALL) {
        let config = find_preset(p.preset(stage)).ok()?.config;
        *peak = estimate_memory(
            &config,
            Pass::Forward,
            dtype.bytes(),
            ScoreMemory::Tile,
            TILE_SCORE_BYTES,
            runtime_bytes,
        )
        .total_bytes;
    }
    Some(out)
}

/// The stage of `p` with the largest estimated forward peak at `dtype`
/// ([`stage_peaks`]), and its bytes.
pub(super) fn largest_stage(
    p: &VideoPipeline,
    dtype: Dtype,
    runtime_bytes: u64,
) -> Option<(&'static str, u64)> {
    let peaks = stage_peaks(p, dtype, runtime_bytes)?;
    Stage::ALL
        .into_iter()
        .zip(peaks)
        .max_by_key(|&(_, bytes)| bytes)
        .map(|(stage, bytes)| (stage.name(), bytes))
}

/// What the whole video adds to a claim's per-video DiT figure for `dit`,
/// in words: the other stages' FLOPs (the cost model's, for the first
/// pipeline whose DiT it is) and their seconds where a run measured them,
/// or that they did not run.
pub(super) fn claim_note(videos: &[PipelineVideo], dit: &str) -> String {
    let Some(p) = pipelines().into_iter().find(|p| p.dit == dit) else {
        return format!(
            "per video counts {dit}'s DiT forwards only: no named pipeline has it as its DiT, so no text encoder or VAE decode is counted"
        );
    };
    let Ok([encoder, dit_flops, vae]) = p.flops() else {
        return format!("per video counts {dit}'s DiT forwards only");
    };
    let flops = format!(
        "a whole video ({}, {} steps) adds the text encoder's {} and the VAE decode's {}, {:.1}% of its DiT forwards' {}",
        p.name,
        p.steps,
        flops_text(encoder),
        flops_text(vae),
        (encoder + vae) / dit_flops * 100.0,
        flops_text(dit_flops)
    );
    let of_dit: Vec<&PipelineVideo> = videos.iter().filter(|v| v.pipeline == p.name).collect();
    let Some(v) = of_dit
        .iter()
        .find(|v| v.not_run.is_empty())
        .or(of_dit.first())
    else {
        return format!(
            "{flops}; no run measured its other stages (`run --presets {}`)",
            p.name
        );
    };
    if !v.not_run.is_empty() {
        return format!(
            "{flops}; on {} {} the {} did not run",
            v.host,
            v.device,
            v.not_run.join(" and ")
        );
    }
    let other: Vec<String> = v
        .stages
        .iter()
        .filter(|s| s.stage != Stage::Dit.name())
        .filter_map(|s| {
            let m = s.measured.as_ref()?;
            Some(format!(
                "the {} {}{}",
                s.stage,
                format_seconds(m.seconds),
                if m.extrapolated {
                    " (extrapolated)"
                } else {
                    ""
                }
            ))
        })
        .collect();
    format!(
        "{flops}; measured on {} {} ({}): {}, see \"One whole video\"",
        v.host,
        v.device,
        v.dtype,
        other.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(preset: &str, backend: &str, forward_s: f64) -> FullModelRow {
        FullModelRow {
            preset: preset.into(),
            backend: backend.into(),
            forward_s,
            forward_ci_s: [forward_s * 0.9, forward_s * 1.1],
            ..FullModelRow::for_test(preset, "video", forward_s * 100.0)
        }
    }

    #[test]
    fn a_video_sums_its_stages_fastest_backends_times_their_runs() {
        let rows = vec![
            row("umt5-xxl", "tch", 2.0),
            row("umt5-xxl", "candle", 1.0),
            row("wan2.1-1.3b-480p", "tch", 10.0),
            row("wan2.1-vae-480p", "tch", 50.0),
        ];
        let v = videos(&rows, |_, _| 0);
        let v = v
            .iter()
            .find(|v| v.pipeline == "wan2.1-1.3b-480p-video")
            .unwrap();
        // 2 prompts x 1 s (candle, the faster), 100 x 10 s, 1 x 50 s.
        assert_eq!(v.seconds, Some(2.0 + 1000.0 + 50.0));
        assert_eq!(v.stages[0].measured.as_ref().unwrap().backend, "candle");
        assert!((v.stages[2].share.unwrap() - 50.0 / 1052.0).abs() < 1e-12);
        assert!(v.not_run.is_empty());
        let note = claim_note(&videos(&rows, |_, _| 0), "wan2.1-1.3b-480p");
        assert!(note.contains("the VAE decode 50.000 s"), "{note}");
        assert!(
            note.contains("adds the text encoder's 9.69 TFLOP"),
            "{note}"
        );
    }

    #[test]
    fn a_stage_that_did_not_run_is_named_and_no_total_is_made_up() {
        let rows = vec![row("wan2.1-1.3b-480p", "tch", 10.0)];
        let v = &videos(&rows, |_, _| 0)[0];
        assert_eq!(v.seconds, None);
        assert_eq!(v.not_run, ["text encoder", "VAE decode"]);
        assert!(claim_note(&videos(&rows, |_, _| 0), "wan2.1-1.3b-480p").contains("did not run"));
        assert!(claim_note(&[], "wan2.1-14b-720p").contains("no run measured"));
        assert!(claim_note(&[], "sora-3b-guess-720p").contains("no named pipeline"));
    }

    #[test]
    fn stages_of_another_results_file_are_not_summed_into_a_video() {
        let other_run = |preset: &str| FullModelRow {
            run: 1,
            ..row(preset, "tch", 1.0)
        };
        let rows = vec![
            row("wan2.1-1.3b-480p", "tch", 10.0),
            other_run("umt5-xxl"),
            other_run("wan2.1-vae-480p"),
        ];
        let v = &videos(&rows, |_, _| 0)[0];
        assert_eq!(v.not_run, ["text encoder", "VAE decode"]);
    }

    #[test]
    fn the_stage_with_the_largest_estimated_peak_sets_the_memory() {
        let rows = vec![row("wan2.1-14b-720p", "tch", 10.0)];
        let v = videos(&rows, |_, _| 0);
        let v = v
            .iter()
            .find(|v| v.pipeline == "wan2.1-14b-720p-video")
            .unwrap();
        let largest = v.stages.iter().map(|s| s.estimated_gib).fold(0.0, f64::max);
        assert_eq!(v.memory_gib, largest);
        assert!(v.stages.iter().any(|s| s.stage == v.memory_stage));
    }
}
