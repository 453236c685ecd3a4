//! One whole video: the stages a Wan text-to-video generation runs (the
//! text encoder over the prompt and the negative prompt, the DiT over every
//! denoising step and guidance pass, the VAE decode), as named
//! configurations whose stages are presets.

use crate::model::cost::cost;
use crate::model::workload::{ConfigError, find_preset};

/// A named text-to-video configuration: its stages' presets and sampling.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoPipeline {
    pub name: &'static str,
    pub description: &'static str,
    /// The text encoder's preset (run once per prompt).
    pub text_encoder: &'static str,
    /// The DiT's preset (run steps x guidance passes times).
    pub dit: &'static str,
    /// DiTs of that preset's architecture the model holds (Wan2.2 A14B: a
    /// high-noise and a low-noise expert, one per step): the parameters
    /// count each, the compute one per forward.
    pub dit_experts: u32,
    /// The VAE decoder's preset (run once).
    pub vae: &'static str,
    /// Denoising steps.
    pub steps: u32,
    /// Classifier-free guidance: two DiT forwards per step (with the
    /// prompt and the negative prompt), and two prompts encoded.
    pub guidance: bool,
    /// Where the configuration's numbers come from.
    pub source: &'static str,
}

/// The stages of a video, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    TextEncoder,
    Dit,
    Vae,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::TextEncoder, Stage::Dit, Stage::Vae];

    pub fn name(self) -> &'static str {
        match self {
            Stage::TextEncoder => "text encoder",
            Stage::Dit => "DiT",
            Stage::Vae => "VAE decode",
        }
    }
}

impl VideoPipeline {
    /// The preset of `stage`.
    pub fn preset(&self, stage: Stage) -> &'static str {
        match stage {
            Stage::TextEncoder => self.text_encoder,
            Stage::Dit => self.dit,
            Stage::Vae => self.vae,
        }
    }

    /// Passes of `stage` one video runs: prompts encoded, DiT forwards, decodes.
    pub fn runs(&self, stage: Stage) -> u32 {
        let passes = if self.guidance { 2 } else { 1 };
        match stage {
            Stage::TextEncoder => passes,
            Stage::Dit => self.steps * passes,
            Stage::Vae => 1,
        }
    }

    /// FLOPs of one video, by stage (the cost model's forward FLOPs times
    /// the stage's runs).
    pub fn flops(&self) -> Result<[f64; 3], ConfigError> {
        let mut out = [0.0; 3];
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            let preset = find_preset(self.preset(stage))?;
            out[i] = cost(&preset.config).forward_flops * f64::from(self.runs(stage));
        }
        Ok(out)
    }

    /// Parameters of the three stages' models together (every expert).
    pub fn parameters(&self) -> Result<u64, ConfigError> {
        Stage::ALL.into_iter().try_fold(0, |sum, stage| {
            let copies = if stage == Stage::Dit {
                self.dit_experts
            } else {
                1
            };
            Ok(sum + u64::from(copies) * cost(&find_preset(self.preset(stage))?.config).parameters)
        })
    }
}

const WAN21_T2V: &str = "Wan2.1 generate.py t2v defaults (sample_steps 50, sample_guide_scale 5.0)";

/// Every named pipeline, in the order `ditbench list` shows them.
pub fn pipelines() -> Vec<VideoPipeline> {
    vec![
        VideoPipeline {
            name: "wan2.1-1.3b-480p-video",
            description: "one Wan2.1 T2V-1.3B clip: 81 frames at 480x832",
            text_encoder: "umt5-xxl",
            dit: "wan2.1-1.3b-480p",
            dit_experts: 1,
            vae: "wan2.1-vae-480p",
            steps: 50,
            guidance: true,
            source: WAN21_T2V,
        },
        VideoPipeline {
            name: "wan2.1-14b-720p-video",
            description: "one Wan2.1 T2V-14B clip: 81 frames at 720x1280",
            text_encoder: "umt5-xxl",
            dit: "wan2.1-14b-720p",
            dit_experts: 1,
            vae: "wan2.1-vae-720p",
            steps: 50,
            guidance: true,
            source: WAN21_T2V,
        },
        VideoPipeline {
            name: "wan2.2-t2v-a14b-720p-video",
            description: "one Wan2.2 T2V-A14B clip: 81 frames at 720x1280, 40 steps, one 14B expert per step",
            text_encoder: "umt5-xxl",
            dit: "wan2.2-t2v-a14b-720p",
            dit_experts: 2,
            vae: "wan2.1-vae-720p",
            steps: 40,
            guidance: true,
            source: "Wan2.2 wan/configs/wan_t2v_A14B.py (sample_steps 40, boundary 0.875, guide scales 3.0/4.0; Wan2.1's VAE)",
        },
        VideoPipeline {
            name: "wan2.2-t2v-a14b-480p-video",
            description: "one Wan2.2 T2V-A14B clip: 81 frames at 480x832, 40 steps, one 14B expert per step",
            text_encoder: "umt5-xxl",
            dit: "wan2.2-t2v-a14b-480p",
            dit_experts: 2,
            vae: "wan2.1-vae-480p",
            steps: 40,
            guidance: true,
            source: "Wan2.2 wan/configs/wan_t2v_A14B.py (sample_steps 40, boundary 0.875, guide scales 3.0/4.0; Wan2.1's VAE)",
        },
        VideoPipeline {
            name: "mlperf-t2v",
            description: "MLPerf Inference v6.0 text-to-video: Wan2.2 T2V-A14B, 81 frames at 720x1280, 20 steps with classifier-free guidance",
            text_encoder: "umt5-xxl",
            dit: "wan2.2-t2v-a14b-720p",
            dit_experts: 2,
            vae: "wan2.1-vae-720p",
            steps: 20,
            guidance: true,
            source: "mlcommons/inference text_to_video/wan2.2-t2v-14b/inference_config.yaml (720x1280, 81 frames, sample_steps 20, guidance 4.0/3.0, boundary 0.875)",
        },
    ]
}

pub fn find_pipeline(name: &str) -> Option<VideoPipeline> {
    pipelines().into_iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::workload::{ModelConfig, presets};

    #[test]
    fn every_stage_is_a_preset_of_its_family_and_no_name_is_taken_twice() {
        for p in pipelines() {
            let family = |stage| find_preset(p.preset(stage)).unwrap().config;
            assert!(
                matches!(family(Stage::TextEncoder), ModelConfig::Umt5(_)),
                "{}",
                p.name
            );
            assert!(
                matches!(family(Stage::Dit), ModelConfig::Wan(_)),
                "{}",
                p.name
            );
            assert!(
                matches!(family(Stage::Vae), ModelConfig::WanVae(_)),
                "{}",
                p.name
            );
            assert!(presets().iter().all(|q| q.name != p.name), "{}", p.name);
        }
    }

    #[test]
    fn a_video_runs_two_prompts_steps_times_two_forwards_and_one_decode() {
        let p = find_pipeline("mlperf-t2v").unwrap();
        assert_eq!(
            [Stage::TextEncoder, Stage::Dit, Stage::Vae].map(|s| p.runs(s)),
            [2, 40, 1]
        );
        let flops = p.flops().unwrap();
        let dit = cost(&find_preset("wan2.2-t2v-a14b-720p").unwrap().config).forward_flops;
        assert_eq!(flops[1], 40.0 * dit);
        // The DiT dominates a 14B clip; the VAE decode is about one step's forward.
        assert!(flops[1] > 10.0 * (flops[0] + flops[2]));
    }
}
