//! What a benchmark case is: its element type, pass, device and workload,
//! and the one key that names it in results, comparisons and parity groups.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::workload::{ModelConfig, Workload};

/// A fieldless enum with one lowercase name per variant: `ALL`, `name()`,
/// `Display`, and `FromStr` with an error that lists the known names.
macro_rules! named_enum {
    ($ty:ident, $what:literal, $plural:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $ty::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
                    format!(
                        concat!("unknown ", $what, " '{}'; known ", $plural, ": {}"),
                        s,
                        [$($name),+].join(", ")
                    )
                })
            }
        }
    };
}

/// Element type the model computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    Bf16,
    F16,
}

named_enum!(Dtype, "dtype", "dtypes", [F32 => "f32", Bf16 => "bf16", F16 => "f16"]);

impl Dtype {
    pub fn bytes(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::Bf16 | Dtype::F16 => 2,
        }
    }
}

/// What one timed iteration does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pass {
    /// One inference forward: a DiT denoising step, or an LLM prefill.
    Forward,
    /// Forward + loss + backward (gradients of every parameter); no optimizer step.
    Train,
    /// One LLM decode step: one new token per sequence over a KV cache of
    /// the context's earlier tokens (Llama only).
    Decode,
}

named_enum!(Pass, "pass", "passes", [Forward => "forward", Train => "train", Decode => "decode"]);

impl Pass {
    /// Whether a model has this pass: decode is an LLM's; the text encoder
    /// and the VAE decoder are inference stages (forward only).
    pub fn applies_to(self, config: &ModelConfig) -> bool {
        match self {
            Pass::Forward => true,
            Pass::Train => matches!(config, ModelConfig::Wan(_) | ModelConfig::Llama(_)),
            Pass::Decode => matches!(config, ModelConfig::Llama(_)),
        }
    }
}

/// A device as the command line and results name it: `cpu` or `cuda:N`.
/// Parsed once where it enters (command line, backend), written as its name.
/// The attention a run asks for (`--attention`): `auto` takes the
/// framework's best path that fits, the others name a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionChoice {
    Auto,
    Composite,
    Tiled,
    Fused,
}

named_enum!(AttentionChoice, "attention", "attention choices", [
    Auto => "auto", Composite => "composite", Tiled => "tiled", Fused => "fused"
]);

/// How a backend computes softmax(q kᵀ / √d) v.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttentionPath {
    /// matmul, softmax, matmul in the framework's ops: every score exists at once.
    Composite,
    /// The composite path over tiles of queries, written with the
    /// framework's ops: only one tile's scores exist at a time.
    Tiled,
    /// The framework's own attention operation (SDPA, flash or
    /// memory-efficient kernels, or what the framework falls back to).
    Fused,
}

named_enum!(AttentionPath, "attention path", "attention paths", [
    Composite => "composite", Tiled => "tiled", Fused => "fused"
]);

/// The attention a case runs: its path and, when tiled, the bytes of f32
/// scores one tile may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionPlan {
    pub path: AttentionPath,
    pub tile_score_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceName {
    Cpu,
    /// The N-th CUDA GPU.
    Cuda(usize),
    /// A software graphics device: a GPU API (Vulkan) implemented on the
    /// CPU, such as Mesa's lavapipe. It runs a GPU backend's code path on
    /// the host, so its times say nothing about any GPU.
    Software,
}

impl DeviceName {
    pub fn is_cpu(self) -> bool {
        self == DeviceName::Cpu
    }

    /// Whether the case's memory is the host's (the CPU, or a software
    /// device emulating a GPU on it).
    pub fn uses_host_memory(self) -> bool {
        matches!(self, DeviceName::Cpu | DeviceName::Software)
    }

    /// Whether a device name as results files record it is a software
    /// device (never counted as a GPU, left out of the buyer's view).
    pub fn is_software_name(name: &str) -> bool {
        name == "software"
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceName::Cpu => f.write_str("cpu"),
            DeviceName::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
            DeviceName::Software => f.write_str("software"),
        }
    }
}

impl FromStr for DeviceName {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "cpu" => return Ok(DeviceName::Cpu),
            "software" => return Ok(DeviceName::Software),
            _ => {}
        }
        match name.strip_prefix("cuda:").map(str::parse) {
            Some(Ok(ordinal)) => Ok(DeviceName::Cuda(ordinal)),
            _ => Err(format!(
                "unknown device '{name}'; devices are named cpu, cuda:N or software"
            )),
        }
    }
}

impl Serialize for DeviceName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// One benchmark case: workload × backend × device × dtype × pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSpec {
    pub workload: Workload,
    pub backend: String,
    pub device: DeviceName,
    pub dtype: Dtype,
    pub pass: Pass,
    /// Seed of the weights and inputs.
    pub seed: u64,
    /// The attention path, planned by the parent.
    pub attention: AttentionPlan,
}

impl CaseSpec {
    pub fn key(&self) -> CaseKey {
        CaseKey {
            workload: self.workload.label(),
            backend: self.backend.clone(),
            device: self.device.to_string(),
            dtype: self.dtype,
            pass: self.pass,
        }
    }

    /// The case's id in results (see [`CaseKey`]).
    pub fn label(&self) -> String {
        self.key().to_string()
    }
}

/// The identity of a case, as results record it (the device stays the name
/// it was recorded under, so files from other builds still match). Its
/// `Display` is the case id, `workload backend device dtype pass`, which
/// `compare`, the exports and `--resume` match cases by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseKey {
    pub workload: String,
    pub backend: String,
    pub device: String,
    pub dtype: Dtype,
    pub pass: Pass,
}

impl CaseKey {
    /// The group whose cases are checked against one parity reference:
    /// every backend on the same workload, device, dtype and pass. A
    /// software device computes on the CPU, so the CPU's reference is its.
    pub fn parity_group(&self) -> String {
        let device = if DeviceName::is_software_name(&self.device) {
            "cpu"
        } else {
            &self.device
        };
        format!("{} {device} {} {}", self.workload, self.dtype, self.pass)
    }

    /// The case across machines and devices, as the hardware comparison
    /// lines them up: workload, backend, dtype and pass.
    pub fn across_places(&self) -> String {
        format!(
            "{} · {} · {} · {}",
            self.workload, self.backend, self.dtype, self.pass
        )
    }
}

impl fmt::Display for CaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {}",
            self.workload, self.backend, self.device, self.dtype, self.pass
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_or_say_what_is_expected() {
        assert_eq!("cpu".parse::<DeviceName>().unwrap(), DeviceName::Cpu);
        assert_eq!("cuda:3".parse::<DeviceName>().unwrap(), DeviceName::Cuda(3));
        assert_eq!(DeviceName::Cuda(3).to_string(), "cuda:3");
        assert_eq!(
            "software".parse::<DeviceName>().unwrap(),
            DeviceName::Software
        );
        assert!(DeviceName::is_software_name(
            &DeviceName::Software.to_string()
        ));
        assert!(DeviceName::Software.uses_host_memory() && !DeviceName::Cuda(0).uses_host_memory());
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "software:0"] {
            let e = bad.parse::<DeviceName>().unwrap_err();
            assert!(e.contains(bad) && e.contains("cuda:N"), "{e}");
        }
        let json = serde_json::to_string(&DeviceName::Cuda(1)).unwrap();
        assert_eq!(json, "\"cuda:1\"");
        assert!(serde_json::from_str::<DeviceName>("\"tpu\"").is_err());
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for d in Dtype::ALL {
            assert_eq!(d.name().parse::<Dtype>().unwrap(), d);
        }
        for p in Pass::ALL {
            assert_eq!(p.to_string().parse::<Pass>().unwrap(), p);
        }
        assert_eq!(
            "f64".parse::<Dtype>().unwrap_err(),
            "unknown dtype 'f64'; known dtypes: f32, bf16, f16"
        );
        assert_eq!(
            "prefill".parse::<Pass>().unwrap_err(),
            "unknown pass 'prefill'; known passes: forward, train, decode"
        );
    }

    #[test]
    fn one_key_names_the_case_its_parity_group_and_its_place_free_identity() {
        let key = CaseKey {
            workload: "wan-tiny".into(),
            backend: "candle".into(),
            device: "cpu".into(),
            dtype: Dtype::F32,
            pass: Pass::Train,
        };
        assert_eq!(key.to_string(), "wan-tiny candle cpu f32 train");
        assert_eq!(key.parity_group(), "wan-tiny cpu f32 train");
        assert_eq!(key.across_places(), "wan-tiny · candle · f32 · train");
        let software = CaseKey {
            backend: "burn-wgpu".into(),
            device: "software".into(),
            ..key.clone()
        };
        assert_eq!(software.parity_group(), key.parity_group());
        let gpu = CaseKey {
            device: "cuda:0".into(),
            ..key
        };
        assert_eq!(gpu.parity_group(), "wan-tiny cuda:0 f32 train");
    }
}
