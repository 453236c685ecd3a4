//! The buyer's view: per machine and device, what one real clip, one image
//! and a million LLM tokens cost there (time, energy, money), how close it
//! runs to its peak, and which real models fit its memory.

use serde::Serialize;

use super::pipeline::PipelineVideo;
use super::{FullModelRow, GenerationSettings};
use ditbench_core::model::attention::{ScoreMemory, TILE_SCORE_BYTES};
use ditbench_core::model::case::{DeviceName, Dtype, Pass};
use ditbench_core::model::cost::estimate_memory;
use ditbench_core::model::pipeline::Stage;
use ditbench_core::model::workload::{SizeClass, presets};

/// Where a run's cases ran, with the memory that place has.
#[derive(Debug, Clone)]
pub struct PlaceMemory {
    pub host: String,
    pub device: String,
    /// The CPU model or the GPU's name.
    pub device_name: String,
    /// RAM for `cpu` and `software`, the GPU's memory for `cuda:N` (`None`: not
    /// recorded).
    pub bytes: Option<u64>,
    /// The worker's runtime before any model (the run's measured figure).
    pub runtime_bytes: u64,
    pub dtypes: Vec<Dtype>,
}

/// One unit of work on a place: the fastest backend's figure.
#[derive(Debug, Clone, Serialize)]
pub struct BuyerUnit {
    pub preset: String,
    pub backend: String,
    pub dtype: String,
    /// Seconds per unit (per 1M tokens for LLM rows), with its 95% interval.
    pub seconds: f64,
    pub ci_s: [f64; 2],
    pub usd: Option<f64>,
    /// Where the price came from: the run's `--price-per-hour` or the report's.
    pub price_source: Option<String>,
    pub kwh: Option<f64>,
    /// `measured`, `extrapolated from ...`; LLM rows add their unit's basis.
    pub basis: String,
    pub extrapolated: bool,
    pub mfu: Option<f64>,
}

/// Whether a real model fits a place's memory, by the cost model's estimate.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub preset: String,
    pub dtype: String,
    pub forward_gib: f64,
    pub train_gib: f64,
    pub forward: bool,
    pub train: bool,
    /// Whether the model has a training pass (the text encoder and the VAE
    /// decoder do not: `train` is false and `train_gib` not an answer).
    pub trainable: bool,
}

/// A machine and device, as a buyer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct BuyerPlace {
    pub host: String,
    pub device: String,
    pub device_name: String,
    pub memory_gib: Option<f64>,
    pub clips: Vec<BuyerUnit>,
    /// Whole videos of the pipelines whose every stage ran here (text
    /// encoder, DiT, VAE decode; the fastest backend of each), fastest first.
    pub videos: Vec<BuyerUnit>,
    pub images: Vec<BuyerUnit>,
    /// Per 1M LLM tokens.
    pub llm: Vec<BuyerUnit>,
    /// The best MFU among the place's full-model rows (GPUs: against the
    /// vendor's dense peak; CPUs have none).
    pub best_mfu: Option<f64>,
    pub fits: Vec<Fit>,
    /// The real presets that fit, forward and train, in words.
    pub fits_forward: Vec<String>,
    pub fits_train: Vec<String>,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The fastest row of each preset among `rows`, one unit per preset.
fn fastest_per_preset(
    rows: &[&FullModelRow],
    scale: impl Fn(&FullModelRow) -> Option<f64>,
    generation: &GenerationSettings,
) -> Vec<BuyerUnit> {
    let mut out: Vec<BuyerUnit> = Vec::new();
    for r in rows {
        let Some(by) = scale(r) else { continue };
        let seconds = r.per_unit_s * by;
        let (usd, price_source) = match (r.usd_per_unit, generation.price_per_hour_usd) {
            (Some(usd), _) => (Some(usd * by), Some("run --price-per-hour".to_string())),
            (None, Some(price)) => (
                Some(seconds * price / 3600.0),
                Some("report --price-per-hour".to_string()),
            ),
            (None, None) => (None, None),
        };
        let unit = BuyerUnit {
            preset: r.preset.clone(),
            backend: r.backend.clone(),
            dtype: r.dtype.clone(),
            seconds,
            ci_s: [r.per_unit_ci_s[0] * by, r.per_unit_ci_s[1] * by],
            usd,
            price_source,
            kwh: r.kwh_per_unit.map(|k| k * by),
            basis: match r.unit.as_str() {
                "request" => format!("{}; served tokens (prompt and generated)", r.basis),
                "prefill" => format!("{}; prompt tokens (no decode measured)", r.basis),
                _ => r.basis.clone(),
            },
            extrapolated: r.extrapolated,
            mfu: r.mfu,
        };
        match out.iter_mut().find(|u| u.preset == unit.preset) {
            Some(have) if have.seconds > unit.seconds => *have = unit,
            Some(_) => {}
            None => out.push(unit),
        }
    }
    out.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    out
}

/// Estimated memory of every real preset at each dtype the place ran:
/// forward with tiled attention (every backend offers it), training with a
/// fused attention kernel (no scores kept), the most frugal paths.
pub fn fits(place: &PlaceMemory) -> Vec<Fit> {
    let mut out = Vec::new();
    let Some(bytes) = place.bytes else {
        return out;
    };
    for dtype in &place.dtypes {
        for p in presets().into_iter().filter(|p| p.class == SizeClass::Real) {
            let e = |pass, scores| {
                estimate_memory(
                    &p.config,
                    pass,
                    dtype.bytes(),
                    scores,
                    TILE_SCORE_BYTES,
                    place.runtime_bytes,
                )
                .total_bytes
            };
            let forward = e(Pass::Forward, ScoreMemory::Tile);
            let trainable = Pass::Train.applies_to(&p.config);
            let train = e(Pass::Train, ScoreMemory::None);
            out.push(Fit {
                preset: p.name.to_string(),
                dtype: dtype.to_string(),
                forward_gib: forward as f64 / GIB,
                train_gib: train as f64 / GIB,
                forward: forward <= bytes,
                train: trainable && train <= bytes,
                trainable,
            });
        }
    }
    out
}

/// The pipelines whose every stage ran on `place`, as buyer units: the
/// sum of the stages (each its fastest backend), priced at the DiT row's
/// price where the run had one, else the report's.
fn whole_videos(
    videos: &[PipelineVideo],
    place: &PlaceMemory,
    here: &[&FullModelRow],
    generation: &GenerationSettings,
) -> Vec<BuyerUnit> {
    let mut out: Vec<BuyerUnit> = videos
        .iter()
        .filter(|v| v.host == place.host && v.device == place.device)
        .filter_map(|v| {
            let (seconds, ci_s) = (v.seconds?, v.ci_s?);
            let dit = v.stages.iter().find(|s| s.stage == Stage::Dit.name())?;
            let dit_row = here
                .iter()
                .find(|r| r.preset == dit.preset && r.dtype == v.dtype && r.usd_per_unit.is_some());
            let (usd, price_source) = match (dit_row, generation.price_per_hour_usd) {
                (Some(r), _) => (
                    r.usd_per_unit.map(|u| seconds * u / r.per_unit_s),
                    Some("run --price-per-hour".to_string()),
                ),
                (None, Some(price)) => (
                    Some(seconds * price / 3600.0),
                    Some("report --price-per-hour".to_string()),
                ),
                (None, None) => (None, None),
            };
            let stages: Vec<String> = v
                .stages
                .iter()
                .filter_map(|s| {
                    let m = s.measured.as_ref()?;
                    Some(format!(
                        "{} x{} ({}, {})",
                        s.stage, s.runs, m.backend, m.basis
                    ))
                })
                .collect();
            Some(BuyerUnit {
                preset: v.pipeline.clone(),
                backend: "fastest per stage".into(),
                dtype: v.dtype.clone(),
                seconds,
                ci_s,
                usd,
                price_source,
                kwh: None,
                basis: format!(
                    "one whole video, {} steps: {}; the {} sets the memory ({:.1} GiB estimated)",
                    v.steps,
                    stages.join(" + "),
                    v.memory_stage,
                    v.memory_gib
                ),
                extrapolated: v.extrapolated,
                mfu: None,
            })
        })
        .collect();
    out.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    out
}

/// Every pipeline whose largest stage fits `place`'s memory at a dtype it
/// ran, in words, with the stage that decides.
fn pipelines_that_fit(place: &PlaceMemory) -> Vec<String> {
    let Some(bytes) = place.bytes else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for dtype in &place.dtypes {
        for p in ditbench_core::model::pipeline::pipelines() {
            let Some((stage, need)) =
                super::pipeline::largest_stage(&p, *dtype, place.runtime_bytes)
            else {
                continue;
            };
            if need <= bytes {
                out.push(format!(
                    "{}{} (the {stage} sets {:.1} GiB)",
                    p.name,
                    if place.dtypes.len() > 1 {
                        format!(" {dtype}")
                    } else {
                        String::new()
                    },
                    need as f64 / GIB
                ));
            }
        }
    }
    out
}

/// One entry per place, the fastest (time per real clip, else image, else
/// per 1M LLM tokens) first; places with none of them last, by name.
pub(super) fn buyer_view(
    full_models: &[FullModelRow],
    places: &[PlaceMemory],
    generation: &GenerationSettings,
    videos: &[PipelineVideo],
) -> Vec<BuyerPlace> {
    let real = |r: &&FullModelRow| {
        ditbench_core::model::workload::find_preset(&r.preset)
            .is_ok_and(|p| p.class == SizeClass::Real)
    };
    // A software device is the CPU under a GPU API: nothing to buy.
    let mut out: Vec<BuyerPlace> = places
        .iter()
        .filter(|place| !DeviceName::is_software_name(&place.device))
        .map(|place| {
            let here: Vec<&FullModelRow> = full_models
                .iter()
                .filter(|r| r.host == place.host && r.device == place.device)
                .filter(real)
                .collect();
            let of_unit = |unit: &str| -> Vec<&FullModelRow> {
                here.iter().copied().filter(|r| r.unit == unit).collect()
            };
            let clips = fastest_per_preset(&of_unit("video"), |_| Some(1.0), generation);
            let images = fastest_per_preset(&of_unit("image"), |_| Some(1.0), generation);
            // Served tokens (requests) where decode was measured, else prefill.
            let requests = of_unit("request");
            let llm_rows = if requests.is_empty() {
                of_unit("prefill")
            } else {
                requests
            };
            let llm = fastest_per_preset(
                &llm_rows,
                |r| r.tokens.filter(|t| *t > 0.0).map(|t| 1e6 / t),
                generation,
            );
            let fits = fits(place);
            let whole = whole_videos(videos, place, &here, generation);
            let names = |ok: fn(&Fit) -> bool| -> Vec<String> {
                fits.iter()
                    .filter(|f| ok(f))
                    .map(|f| {
                        if place.dtypes.len() > 1 {
                            format!("{} ({})", f.preset, f.dtype)
                        } else {
                            f.preset.clone()
                        }
                    })
                    .collect()
            };
            BuyerPlace {
                host: place.host.clone(),
                device: place.device.clone(),
                device_name: place.device_name.clone(),
                memory_gib: place.bytes.map(|b| b as f64 / GIB),
                best_mfu: here.iter().filter_map(|r| r.mfu).reduce(f64::max),
                fits_forward: names(|f| f.forward)
                    .into_iter()
                    .chain(pipelines_that_fit(place))
                    .collect(),
                fits_train: names(|f| f.train),
                fits,
                clips,
                videos: whole,
                images,
                llm,
            }
        })
        .collect();
    let key = |p: &BuyerPlace| {
        p.videos
            .first()
            .map(|u| (0, u.seconds))
            .or_else(|| p.clips.first().map(|u| (0, u.seconds)))
            .or_else(|| p.images.first().map(|u| (1, u.seconds)))
            .or_else(|| p.llm.first().map(|u| (2, u.seconds)))
            .unwrap_or((3, 0.0))
    };
    out.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(a.host.cmp(&b.host))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(host: &str, gib: Option<u64>) -> PlaceMemory {
        PlaceMemory {
            host: host.into(),
            device: "cpu".into(),
            device_name: "a CPU".into(),
            bytes: gib.map(|g| g << 30),
            runtime_bytes: 300 << 20,
            dtypes: vec![Dtype::F32],
        }
    }

    fn row(host: &str, preset: &str, unit: &str, per_unit_s: f64, backend: &str) -> FullModelRow {
        FullModelRow {
            host: host.into(),
            backend: backend.into(),
            basis: "extrapolated from 1 measured block of 30".into(),
            extrapolated: true,
            per_unit_ci_s: [0.9 * per_unit_s, 1.1 * per_unit_s],
            tokens: (unit == "request").then_some(4096.0),
            ..FullModelRow::for_test(preset, unit, per_unit_s)
        }
    }

    #[test]
    fn what_fits_follows_the_estimate_and_the_memory() {
        let f = fits(&place("h", Some(24)));
        let get = |p: &str| f.iter().find(|x| x.preset == p).unwrap();
        assert!(get("wan2.1-1.3b-480p").forward);
        assert!(!get("wan2.1-1.3b-480p").train);
        assert!(!get("llama-2-70b").forward);
        assert!(get("llama-2-70b").forward_gib > 24.0 * 10.0);
        assert!(f.iter().all(|x| x.train_gib > x.forward_gib));
        assert!(fits(&place("h", None)).is_empty());
    }

    #[test]
    fn places_come_fastest_first_with_the_best_backend_per_preset() {
        let rows = vec![
            row("slow", "wan2.1-1.3b-480p", "video", 2000.0, "a"),
            row("fast", "wan2.1-1.3b-480p", "video", 900.0, "a"),
            row("fast", "wan2.1-1.3b-480p", "video", 100.0, "b"),
            row("fast", "llama-2-7b", "request", 40.96, "a"),
            // Test sizes say nothing to a buyer.
            row("fast", "wan-tiny", "video", 0.1, "a"),
        ];
        let g = GenerationSettings {
            price_per_hour_usd: Some(3.6),
            ..GenerationSettings::default()
        };
        let view = buyer_view(
            &rows,
            &[place("slow", Some(24)), place("fast", Some(24))],
            &g,
            &[],
        );
        assert_eq!(view[0].host, "fast");
        assert_eq!(view[0].clips.len(), 1);
        assert_eq!(view[0].clips[0].backend, "b");
        assert!((view[0].clips[0].usd.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(
            view[0].clips[0].price_source.as_deref(),
            Some("report --price-per-hour")
        );
        // 1M tokens at 40.96 s per 4,096 tokens.
        assert!((view[0].llm[0].seconds - 10_000.0).abs() < 1e-6);
        assert!(view[0].llm[0].basis.contains("served tokens"));
        assert_eq!(view[1].host, "slow");
        assert!(view[1].llm.is_empty());
        assert!(
            view[0]
                .fits_forward
                .contains(&"wan2.1-1.3b-480p".to_string())
        );
    }

    #[test]
    fn a_software_device_is_left_out_of_the_buyers_view() {
        let mut rows = vec![row("h", "wan2.1-1.3b-480p", "video", 900.0, "a")];
        rows.push(FullModelRow {
            device: "software".into(),
            ..row("h", "wan2.1-1.3b-480p", "video", 50.0, "burn-wgpu")
        });
        let software = PlaceMemory {
            device: "software".into(),
            ..place("h", Some(24))
        };
        let view = buyer_view(
            &rows,
            &[software, place("h", Some(24))],
            &GenerationSettings::default(),
            &[],
        );
        assert_eq!(view.len(), 1);
        assert_eq!(view[0].device, "cpu");
        assert_eq!(view[0].clips[0].backend, "a");
    }
}
