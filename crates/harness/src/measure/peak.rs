//! Vendors' dense peak rates of known GPUs, for model FLOPs utilization
//! (MFU = achieved TFLOP/s / peak). Dense means without 2:4 structured
//! sparsity: where a datasheet quotes sparse figures only, they are halved.
//! CPUs have no entry: their peak depends on the core count, clocks and
//! vector units of the exact part and VM, so a CPU case's utilization is
//! reported against the framework's own measured GEMM rate instead.

use serde::{Deserialize, Serialize};

use ditbench_core::model::case::Dtype;

pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "efficiency.gemm",
        "the framework's own matmul rate on this device and dtype, measured in the case's worker after its timing: the model's largest matmul (Wan FFN up, Llama LM head or MLP) with rows capped so one iteration is about 2e11 FLOPs (1,024 rows at least, or all of them); tflops = 2*m*k*n / median",
    ),
    (
        "efficiency.of_gemm",
        "throughput.tflops / efficiency.gemm.tflops: how close the whole pass runs to the framework's matmul rate",
    ),
    (
        "efficiency.memory",
        "decode cases: the step against memory bandwidth. bytes_per_step = cost.decode_read_elements x the dtype's bytes (every weight a step reads, and the KV cache); achieved_gb_s = bytes_per_step / stats.median_s; calibrated = the framework's own read bandwidth: the sum of 2^27 elements (512 MiB in f32, beyond any cache), 2^27 x bytes / median, measured in the case's worker after its timing; of_calibrated = achieved / calibrated; of_vendor = achieved / the vendor's memory bandwidth of known GPUs",
    ),
    (
        "efficiency.mfu",
        "model FLOPs utilization: throughput.tflops / the vendor's dense peak for the device and dtype (f32 at the FP32 CUDA-core rate), from a table with sources; null for CPUs and unknown devices",
    ),
];

/// A framework's measured matmul rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GemmRate {
    /// The layer the shape models, e.g. `ffn.0`.
    pub site: String,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub samples: usize,
    pub median_s: f64,
    pub tflops: f64,
}

/// A framework's measured read bandwidth: the sum of a large tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandwidthRate {
    pub elements: usize,
    /// Bytes read per iteration.
    pub bytes_per_iteration: u64,
    pub samples: usize,
    pub median_s: f64,
    pub gb_s: f64,
}

/// A memory-bound pass (a decode step) against the memory bandwidth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRoofline {
    /// Bytes one step must read at least.
    pub bytes_per_step: f64,
    pub achieved_gb_s: f64,
    pub calibrated: Option<BandwidthRate>,
    pub of_calibrated: Option<f64>,
    /// The vendor's bandwidth of a known GPU, TB/s.
    pub vendor_tb_s: Option<f64>,
    pub of_vendor: Option<f64>,
}

impl MemoryRoofline {
    /// A step of `median_s` that reads `bytes_per_step`, on the device named
    /// `device_name`, with the framework's calibrated bandwidth if measured.
    pub fn new(
        bytes_per_step: f64,
        median_s: f64,
        calibrated: Option<BandwidthRate>,
        device_name: &str,
    ) -> Self {
        let achieved_gb_s = bytes_per_step / median_s / 1e9;
        let vendor_tb_s = gpu_peak(device_name).map(|p| p.memory_tb_s);
        MemoryRoofline {
            bytes_per_step,
            achieved_gb_s,
            of_calibrated: calibrated.as_ref().map(|c| achieved_gb_s / c.gb_s),
            calibrated,
            vendor_tb_s,
            of_vendor: vendor_tb_s.map(|t| achieved_gb_s / (t * 1e3)),
        }
    }
}

/// How a case's achieved rate compares with the GEMM rate and the peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Efficiency {
    pub gemm: Option<GemmRate>,
    pub of_gemm: Option<f64>,
    pub peak_tflops: Option<f64>,
    /// Where the peak comes from, or why there is none.
    pub peak_source: String,
    pub mfu: Option<f64>,
    /// Decode cases: the step against memory bandwidth.
    #[serde(default)]
    pub memory: Option<MemoryRoofline>,
}

impl Efficiency {
    /// The figures of a case that achieved `tflops` on the device named
    /// `device_name` (as the framework names it) in `dtype`.
    pub fn new(tflops: f64, gemm: Option<GemmRate>, device_name: &str, dtype: Dtype) -> Self {
        let peak = dense_peak_tflops(device_name, dtype);
        Efficiency {
            of_gemm: gemm.as_ref().map(|g| tflops / g.tflops),
            gemm,
            peak_tflops: peak.map(|(t, _)| t),
            peak_source: match peak {
                Some((_, p)) => format!("{}: {}", p.name, p.source),
                None => format!(
                    "no vendor peak for '{device_name}' (CPUs and unlisted devices): compare with the GEMM rate"
                ),
            },
            mfu: peak.map(|(t, _)| tflops / t),
            memory: None,
        }
    }
}

/// One GPU's dense peaks in TFLOP/s and its memory bandwidth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuPeak {
    /// As NVML or the driver names it (matched case-insensitively, first
    /// matching entry wins, so specific names come before general ones).
    pub matches: &'static [&'static str],
    pub name: &'static str,
    /// FP32 on CUDA cores (what f32 matmuls run on unless TF32 is enabled).
    pub fp32: f64,
    /// TF32 tensor cores.
    pub tf32: f64,
    pub bf16: f64,
    pub fp16: f64,
    /// Memory bandwidth, TB/s (what a memory-bound decode step is held to).
    pub memory_tb_s: f64,
    pub source: &'static str,
}

pub const GPU_PEAKS: &[GpuPeak] = &[
    GpuPeak {
        matches: &["gb200"],
        name: "NVIDIA GB200 (per GPU)",
        fp32: 80.0,
        tf32: 1250.0,
        bf16: 2500.0,
        fp16: 2500.0,
        memory_tb_s: 8.0,
        source: "NVIDIA GB200 NVL72 datasheet: 72-GPU totals / 72, sparse tensor figures halved",
    },
    GpuPeak {
        matches: &["b200"],
        name: "NVIDIA B200 (HGX)",
        fp32: 75.0,
        tf32: 1100.0,
        bf16: 2250.0,
        fp16: 2250.0,
        memory_tb_s: 8.0,
        source: "NVIDIA HGX B200 datasheet: 8-GPU totals / 8, sparse tensor figures halved",
    },
    GpuPeak {
        matches: &["h200 nvl"],
        name: "NVIDIA H200 NVL",
        fp32: 60.0,
        tf32: 417.5,
        bf16: 835.5,
        fp16: 835.5,
        memory_tb_s: 4.8,
        source: "NVIDIA H200 datasheet (NVL column), sparse tensor figures halved",
    },
    GpuPeak {
        matches: &["h200"],
        name: "NVIDIA H200 SXM",
        fp32: 67.0,
        tf32: 494.5,
        bf16: 989.5,
        fp16: 989.5,
        memory_tb_s: 4.8,
        source: "NVIDIA H200 datasheet (SXM column), sparse tensor figures halved",
    },
    GpuPeak {
        matches: &["h100 pcie"],
        name: "NVIDIA H100 PCIe",
        fp32: 51.0,
        tf32: 378.0,
        bf16: 756.0,
        fp16: 756.0,
        memory_tb_s: 2.0,
        source: "NVIDIA H100 datasheet (PCIe column), sparse tensor figures halved",
    },
    GpuPeak {
        matches: &["h100 nvl"],
        name: "NVIDIA H100 NVL",
        fp32: 60.0,
        tf32: 417.5,
        bf16: 835.5,
        fp16: 835.5,
        memory_tb_s: 3.9,
        source: "NVIDIA H100 datasheet (NVL column), sparse tensor figures halved",
    },
    GpuPeak {
        matches: &["h100"],
        name: "NVIDIA H100 SXM",
        fp32: 67.0,
        tf32: 494.5,
        bf16: 989.5,
        fp16: 989.5,
        memory_tb_s: 3.35,
        source: "NVIDIA H100 datasheet (SXM column), sparse tensor figures halved",
    },
    GpuPeak {
        matches: &["a100-sxm4-40gb", "a100-pcie-40gb"],
        name: "NVIDIA A100 40GB",
        fp32: 19.5,
        tf32: 156.0,
        bf16: 312.0,
        fp16: 312.0,
        memory_tb_s: 1.555,
        source: "NVIDIA A100 datasheet (dense figures; 40GB HBM2)",
    },
    GpuPeak {
        matches: &["a100"],
        name: "NVIDIA A100",
        fp32: 19.5,
        tf32: 156.0,
        bf16: 312.0,
        fp16: 312.0,
        memory_tb_s: 2.039,
        source: "NVIDIA A100 datasheet (dense figures; SXM and PCIe share them; bandwidth of the 80GB SXM)",
    },
    GpuPeak {
        matches: &["l40s"],
        name: "NVIDIA L40S",
        fp32: 91.6,
        tf32: 183.0,
        bf16: 362.0,
        fp16: 362.0,
        memory_tb_s: 0.864,
        source: "NVIDIA L40S datasheet, sparse tensor figures halved",
    },
    GpuPeak {
        matches: &[" l4", "l4 "],
        name: "NVIDIA L4",
        fp32: 30.3,
        tf32: 60.0,
        bf16: 121.0,
        fp16: 121.0,
        memory_tb_s: 0.3,
        source: "NVIDIA L4 datasheet, sparse tensor figures halved",
    },
    GpuPeak {
        matches: &["rtx 5090"],
        name: "NVIDIA GeForce RTX 5090",
        fp32: 104.8,
        tf32: 104.8,
        bf16: 209.5,
        fp16: 209.5,
        memory_tb_s: 1.792,
        source: "NVIDIA RTX Blackwell GPU architecture whitepaper (FP32 accumulate, dense)",
    },
    GpuPeak {
        matches: &["rtx 4090"],
        name: "NVIDIA GeForce RTX 4090",
        fp32: 82.6,
        tf32: 82.6,
        bf16: 165.2,
        fp16: 165.2,
        memory_tb_s: 1.008,
        source: "NVIDIA Ada GPU architecture whitepaper (FP32 accumulate, dense)",
    },
    GpuPeak {
        matches: &["mi300x"],
        name: "AMD Instinct MI300X",
        fp32: 163.4,
        tf32: 653.7,
        bf16: 1307.4,
        fp16: 1307.4,
        memory_tb_s: 5.3,
        source: "AMD Instinct MI300X datasheet (dense; FP32 is the vector rate)",
    },
];

/// The table entry of a device named `name` (NVML's name), if known.
pub fn gpu_peak(name: &str) -> Option<&'static GpuPeak> {
    // Padded so that `l4` matches `NVIDIA L4` but not `L40S`.
    let padded = format!(" {} ", name.to_lowercase());
    GPU_PEAKS
        .iter()
        .find(|p| p.matches.iter().any(|m| padded.contains(m)))
}

/// The dense peak of `dtype` on the GPU named `name`, in TFLOP/s: f32 at
/// the FP32 (CUDA-core) rate, since the frameworks here do not enable TF32
/// matmuls by default.
pub fn dense_peak_tflops(name: &str, dtype: Dtype) -> Option<(f64, &'static GpuPeak)> {
    let p = gpu_peak(name)?;
    let tflops = match dtype {
        Dtype::F32 => p.fp32,
        Dtype::Bf16 => p.bf16,
        Dtype::F16 => p.fp16,
    };
    Some((tflops, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_names_find_their_entry_and_specific_names_win() {
        let name = |n: &str| gpu_peak(n).map(|p| p.name);
        assert_eq!(name("NVIDIA H100 80GB HBM3"), Some("NVIDIA H100 SXM"));
        assert_eq!(name("NVIDIA H100 PCIe"), Some("NVIDIA H100 PCIe"));
        assert_eq!(name("NVIDIA H200"), Some("NVIDIA H200 SXM"));
        assert_eq!(name("NVIDIA H200 NVL"), Some("NVIDIA H200 NVL"));
        assert_eq!(name("NVIDIA GB200"), Some("NVIDIA GB200 (per GPU)"));
        assert_eq!(name("NVIDIA B200"), Some("NVIDIA B200 (HGX)"));
        assert_eq!(name("NVIDIA A100-SXM4-80GB"), Some("NVIDIA A100"));
        assert_eq!(name("NVIDIA A100-SXM4-40GB"), Some("NVIDIA A100 40GB"));
        assert_eq!(name("NVIDIA L40S"), Some("NVIDIA L40S"));
        assert_eq!(name("NVIDIA L4"), Some("NVIDIA L4"));
        assert_eq!(
            name("NVIDIA GeForce RTX 4090"),
            Some("NVIDIA GeForce RTX 4090")
        );
        assert_eq!(
            name("NVIDIA GeForce RTX 5090"),
            Some("NVIDIA GeForce RTX 5090")
        );
        assert_eq!(name("AMD Instinct MI300X"), Some("AMD Instinct MI300X"));
        assert_eq!(name("cpu (burn Flex)"), None);
        assert_eq!(name("Intel(R) Xeon(R) Platinum"), None);
    }

    #[test]
    fn efficiency_divides_by_the_gemm_rate_and_the_peak() {
        let gemm = GemmRate {
            site: "ffn.0".into(),
            m: 256,
            k: 1536,
            n: 8960,
            samples: 5,
            median_s: 0.1,
            tflops: 0.2,
        };
        let e = Efficiency::new(
            0.1,
            Some(gemm.clone()),
            "NVIDIA H100 80GB HBM3",
            Dtype::Bf16,
        );
        assert_eq!(e.of_gemm, Some(0.5));
        assert_eq!(e.mfu, Some(0.1 / 989.5));
        assert!(
            e.peak_source
                .starts_with("NVIDIA H100 SXM: NVIDIA H100 datasheet")
        );
        let cpu = Efficiency::new(0.1, Some(gemm), "cpu", Dtype::F32);
        assert_eq!((cpu.mfu, cpu.peak_tflops), (None, None));
        assert!(cpu.peak_source.contains("compare with the GEMM rate"));
    }

    #[test]
    fn a_decode_step_is_held_to_the_calibrated_and_the_vendor_bandwidth() {
        let calibrated = BandwidthRate {
            elements: 1 << 27,
            bytes_per_iteration: 1 << 30,
            samples: 5,
            median_s: 0.5,
            gb_s: (1u64 << 30) as f64 / 0.5 / 1e9,
        };
        // 140 GB in 50 ms: 2,800 GB/s, 84% of an H100 SXM's 3.35 TB/s.
        let m = MemoryRoofline::new(
            140e9,
            0.05,
            Some(calibrated.clone()),
            "NVIDIA H100 80GB HBM3",
        );
        assert!((m.achieved_gb_s - 2800.0).abs() < 1e-9);
        assert!((m.of_vendor.unwrap() - 2800.0 / 3350.0).abs() < 1e-12);
        assert!((m.of_calibrated.unwrap() - 2800.0 / calibrated.gb_s).abs() < 1e-12);
        let cpu = MemoryRoofline::new(1e9, 0.1, None, "cpu (2 threads)");
        assert_eq!(
            (cpu.vendor_tb_s, cpu.of_vendor, cpu.of_calibrated),
            (None, None, None)
        );
    }

    #[test]
    fn dtypes_take_their_column_and_tensor_rates_exceed_fp32() {
        let (bf16, _) = dense_peak_tflops("NVIDIA H100 80GB HBM3", Dtype::Bf16).unwrap();
        let (f32, _) = dense_peak_tflops("NVIDIA H100 80GB HBM3", Dtype::F32).unwrap();
        assert_eq!((bf16, f32), (989.5, 67.0));
        for p in GPU_PEAKS {
            assert!(p.bf16 >= p.tf32 && p.tf32 >= p.fp32 * 0.99, "{}", p.name);
            assert_eq!(p.bf16, p.fp16, "{}", p.name);
            assert!(!p.source.is_empty());
            assert!((0.1..10.0).contains(&p.memory_tb_s), "{}", p.name);
        }
    }
}
