//! Figures others published for Wan text-to-video (`data/published-figures.json`,
//! compiled in and versioned), and ours beside them where a run measured
//! the same pipeline. Every figure here is published, not measured by
//! ditbench; the report says so next to each.

use serde::{Deserialize, Serialize};

use super::pipeline::PipelineVideo;
use ditbench_core::model::pipeline::Stage;

/// The table's schema version; a file of another version is refused.
pub const PUBLISHED_SCHEMA: u32 = 1;

const PUBLISHED_JSON: &str = include_str!("../../../data/published-figures.json");

/// One published figure, as its source states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedFigure {
    pub card: String,
    pub gpus: u32,
    pub model: String,
    /// The ditbench pipeline the figure stands beside.
    pub pipeline: String,
    pub resolution: String,
    pub frames: Option<u32>,
    /// Denoising steps the figure covers (1: a per-step figure); `None`
    /// where the source does not say.
    pub steps: Option<u32>,
    /// What the seconds cover, in the source's terms.
    pub what: String,
    pub seconds: f64,
    /// The source gives it as "about".
    pub approximate: bool,
    pub peak_memory_gb: Option<f64>,
    pub source_url: String,
    pub source_date: Option<String>,
    /// When a ditbench author read the source.
    pub read_on: String,
    pub notes: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedFile {
    schema: u32,
    #[allow(dead_code)]
    about: String,
    figures: Vec<PublishedFigure>,
}

/// Every published figure ditbench carries.
pub fn published_figures() -> Vec<PublishedFigure> {
    parse(PUBLISHED_JSON).expect("the compiled-in table is checked by its tests")
}

fn parse(text: &str) -> Result<Vec<PublishedFigure>, String> {
    let file: PublishedFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if file.schema != PUBLISHED_SCHEMA {
        return Err(format!(
            "published figures schema {} (this build reads {PUBLISHED_SCHEMA})",
            file.schema
        ));
    }
    Ok(file.figures)
}

/// Ours beside a published figure: the same pipeline's whole video, or its
/// DiT seconds per step where the figure is per step.
#[derive(Debug, Clone, Serialize)]
pub struct Beside {
    pub host: String,
    pub device: String,
    pub dtype: String,
    pub seconds: f64,
    /// `per step` or `whole video, N steps`.
    pub what: String,
    pub extrapolated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublishedRow {
    pub figure: PublishedFigure,
    /// Ours where a run measured every stage of the figure's pipeline.
    pub ours: Vec<Beside>,
}

/// Every published figure with ours beside it where the pipeline ran.
pub fn published_rows(videos: &[PipelineVideo]) -> Vec<PublishedRow> {
    published_figures()
        .into_iter()
        .map(|figure| {
            let per_step = figure.steps == Some(1);
            let ours = videos
                .iter()
                .filter(|v| v.pipeline == figure.pipeline)
                .filter_map(|v| {
                    let (seconds, what) = if per_step {
                        let dit = v.stages.iter().find(|s| s.stage == Stage::Dit.name())?;
                        let m = dit.measured.as_ref()?;
                        let forwards = dit.runs / v.steps;
                        (
                            m.seconds / f64::from(v.steps),
                            format!("per step ({forwards} DiT forwards)"),
                        )
                    } else {
                        (v.seconds?, format!("whole video, {} steps", v.steps))
                    };
                    Some(Beside {
                        host: v.host.clone(),
                        device: v.device.clone(),
                        dtype: v.dtype.clone(),
                        seconds,
                        what,
                        extrapolated: v.extrapolated,
                    })
                })
                .collect();
            PublishedRow { figure, ours }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ditbench_core::model::pipeline::find_pipeline;

    #[test]
    fn the_compiled_in_table_parses_and_every_figure_names_a_pipeline_and_its_source() {
        let figures = published_figures();
        assert!(!figures.is_empty());
        for f in &figures {
            assert!(find_pipeline(&f.pipeline).is_some(), "{}", f.pipeline);
            assert!(f.source_url.starts_with("https://"), "{}", f.source_url);
            assert!(f.seconds > 0.0 && f.gpus >= 1, "{f:?}");
            assert_eq!(f.read_on.len(), 10, "{}", f.read_on);
        }
    }

    #[test]
    fn another_schema_or_an_unknown_field_is_refused() {
        assert!(
            parse(r#"{"schema": 2, "about": "", "figures": []}"#)
                .unwrap_err()
                .contains("schema 2")
        );
        let unknown = PUBLISHED_JSON.replacen("\"card\"", "\"gpu\"", 1);
        assert!(parse(&unknown).is_err());
    }
}
