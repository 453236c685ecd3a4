//! Command-line interface definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ditbench_core::util::units::parse_size;
use ditbench_core::{AttentionChoice, Dtype, Pass};
use ditbench_harness::read::compare::Thresholds;
use ditbench_harness::record::scale::DEFAULT_GENERATED_TOKENS;
use ditbench_harness::record::shard::Shard;
use ditbench_harness::run::driver::UsageError;

#[derive(Debug, Parser)]
#[command(
    name = "ditbench",
    version,
    about = "Benchmark video diffusion transformers (Wan2.1) and Llama baselines across frameworks and hardware",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run benchmark cases and write a results JSON file.
    #[command(after_help = "Examples:
  ditbench run --report                                  # the default suite and its HTML report
  ditbench run -p wan-small -b tch,candle --passes forward
  ditbench run -p wan2.1-1.3b-480p --frames 1,5,9 --layers 1 --extrapolate
  ditbench run --suite real-scale --price-per-hour 0.096
  ditbench run --cpus 2-3 --budget 30                    # pinned, longer per case
  ditbench run --resume results/ditbench-20261201-192528-vm.json
  ditbench run --shard 2/4 --shard-set nightly-42 -o shards/   # one of four jobs")]
    Run(Box<RunArgs>),
    /// List presets with parameters, tokens and FLOPs; with `run`'s overrides, what a custom size costs.
    #[command(after_help = "Examples:
  ditbench list
  ditbench list -p wan2.1-1.3b-480p --frames 1,17,81      # a clip's cost as frames grow
  ditbench list -p llama-2-7b --seq-len 512,4096 --json")]
    List(Box<ListArgs>),
    /// Write the seeded weights and inputs of a workload as safetensors files.
    #[command(after_help = "Examples:
  ditbench data -p wan-tiny -o /tmp/wan-tiny             # weights and inputs, reference names
  ditbench data -p llama-tiny --seq-len 16 --seed 7
  ditbench data -p wan-small --weights-dtype bf16 --shards 3  # a sharded checkpoint with its index")]
    Data(Box<DataArgs>),
    /// Render results files as one self-contained HTML page, Markdown or CSV.
    #[command(after_help = "Examples:
  ditbench report results/ -o report.html                # every results file in a directory
  ditbench report a.json b.json --baseline other-host    # machines side by side
  ditbench report results/ --format md >> \"$GITHUB_STEP_SUMMARY\"
  ditbench report --history results/nightly/ -o trend.html
  ditbench report results/ --steps 30 --price-per-hour 2.5 # claims, buyer's view")]
    Report(Box<ReportArgs>),
    /// Compare a candidate run with a baseline; exit 1 on a regression, 3 when inconclusive.
    #[command(
        after_help = "Exit: 0 pass, 1 regression, 2 unusable input, 3 inconclusive (rerun).

Examples:
  ditbench compare baseline.json tonight.json
  ditbench compare baseline-dir/ tonight-dir/ --format md
  ditbench compare a.json b.json --time-threshold 3 --format json
  ditbench compare baseline/ tonight/ --history nightly-history/"
    )]
    Compare(Box<CompareArgs>),
    /// Measure the regression gate on this machine: false alarms and detected slowdowns over repeated runs.
    #[command(
        after_help = "Every ordered pair of runs is an A/A pair; each factor scales the candidate's samples.
With history, each pair's history is every run but the candidate.

Examples:
  scripts/measure-gate.sh --runs 7                       # runs the suite 7 times, then this
  ditbench gate-study results/gate-runs/ > gate-study.md
  ditbench gate-study results/gate-runs/ --history-z 3 --format json"
    )]
    GateStudy(Box<GateStudyArgs>),
    /// Time each backend's model in turns with its framework's own model code, with parity.
    #[command(
        after_help = "Their code: candle-transformers' Llama (candle), burn::nn modules composed as a Burn user
would (burn-flex, burn-ndarray), Hugging Face transformers' LlamaForCausalLM (eager and SDPA)
and diffusers' WanTransformer3DModel in a Python process (tch; scripts/reference-check.sh --install).

Examples:
  ditbench reference-check                               # wan-small and llama-small, every pair
  ditbench reference-check -p llama-2-7b --layers 1 --passes forward,decode
  ditbench reference-check -b candle,burn-flex -p wan-tiny,llama-tiny --budget 1"
    )]
    ReferenceCheck(Box<ReferenceCheckArgs>),
    /// Export measured cases for benchmark trackers (Bencher, github-action-benchmark) or as CSV.
    #[command(after_help = "Examples:
  ditbench export results/ --format bmf -o bencher.json
  ditbench export results/ --format github-action-benchmark
  ditbench export results/ --format csv")]
    Export(Box<ExportArgs>),
    /// Print the environment as results record it (JSON).
    #[command(after_help = "Examples:
  ditbench env
  ditbench env --threads 2")]
    Env {
        /// Thread count to record (default: physical cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Run one case (started by `ditbench run`; not for direct use).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        request: PathBuf,
        #[arg(long)]
        response: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Presets or video pipelines to list, comma-separated (default: all).
    #[arg(long, short = 'p', value_delimiter = ',')]
    pub presets: Vec<String>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// One block of each real model at its real token count, extrapolated.
    RealScale,
}

/// Element type of exported weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightsDtype {
    F32,
    Bf16,
    F16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Bencher Metric Format JSON (latency ns, throughput tokens/s, peak-rss bytes, contended 0/1).
    Bmf,
    /// github-action-benchmark `customSmallerIsBetter` JSON (time ms, peak RSS MiB; confidence in `extra`).
    GithubActionBenchmark,
    /// Every measured case as CSV.
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Results files, or directories of them (their *.json files).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// File to write (never replaced); without it the export goes to stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    Table,
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a results file, or a directory of them (the latest run of each case counts).
    pub baseline: PathBuf,
    /// The candidate: a results file or a directory, as for the baseline.
    pub candidate: PathBuf,
    /// table: for the terminal; md: for CI job summaries; json: for tools.
    #[arg(long, value_enum, default_value = "table")]
    pub format: CompareFormat,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    /// Earlier runs of this machine (files or directories, e.g. the nightly
    /// history): each case's band widens to its own run-to-run spread.
    #[arg(long, value_name = "PATH")]
    pub history: Vec<PathBuf>,
}

/// What the gate counts as a change (`compare`, `gate-study`).
#[derive(Debug, Args)]
pub struct ThresholdArgs {
    /// Time regression threshold, percent of the baseline median: the band's
    /// half-width without history, and its least with it.
    #[arg(long, default_value_t = Thresholds::default().time_relative * 100.0, value_name = "PERCENT")]
    pub time_threshold: f64,
    /// Medians closer than this many milliseconds never differ: a guard at
    /// timer resolution (1 us), not a size threshold.
    #[arg(long, default_value_t = 0.001, value_name = "MS")]
    pub time_floor_ms: f64,
    /// Memory (peak RSS) regression threshold, percent of the baseline.
    #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
    pub memory_threshold: f64,
    /// Memory changes smaller than this many MiB never count.
    #[arg(long, default_value_t = 16.0, value_name = "MIB")]
    pub memory_floor_mib: f64,
    /// Significance level of the Mann-Whitney U test on the raw samples.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// With history, a case's band is this many run-to-run standard
    /// deviations of the ratio of two runs (at least --time-threshold).
    #[arg(long, default_value_t = Thresholds::default().history_z, value_name = "Z")]
    pub history_z: f64,
    /// Earlier runs of a case needed before its band comes from the history.
    #[arg(long, default_value_t = Thresholds::default().history_min_runs, value_name = "RUNS")]
    pub history_min_runs: usize,
    /// The latest runs of each case the history band looks back on.
    #[arg(long, default_value_t = Thresholds::default().history_lookback, value_name = "RUNS")]
    pub history_lookback: usize,
}

#[derive(Debug, Args)]
pub struct GateStudyArgs {
    /// Repeated runs of one suite on this machine: results files or
    /// directories of them (`scripts/measure-gate.sh` makes them).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Slowdowns injected into the candidate of every pair (1 is the A/A pair itself).
    #[arg(long, value_delimiter = ',', default_value = "1,1.03,1.05,1.1,1.2,2")]
    pub factors: Vec<f64>,
    /// md: the tables for the docs; json: every figure.
    #[arg(long, value_enum, default_value = "md")]
    pub format: StudyFormat,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StudyFormat {
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results files, or directories of them (their *.json files).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// File to write (never replaced); without it the report goes to stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// html: one page with charts; md: a summary for CI job summaries; csv: every case.
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,
    /// How the claims and the buyer's view count a video, an image and an LLM request;
    /// the price fills in for runs that recorded none.
    #[command(flatten)]
    pub generation: GenerationArgs,
    /// Hardware baseline: a machine's host name, or "HOST DEVICE" (e.g.
    /// "lab-01 cuda:0"); default: the first machine in the files.
    #[arg(long, value_name = "HOST")]
    pub baseline: Option<String>,
    /// The files are a series (e.g. a directory of nightly runs): draw each case's trend and mark
    /// the change points the regression gate finds; the other sections show each machine's latest run.
    #[arg(long)]
    pub history: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Presets to run, comma-separated (default: wan-tiny,wan-small,llama-tiny,llama-small); a video pipeline's name (wan2.1-1.3b-480p-video, mlperf-t2v, ...) runs its three stages. See `ditbench list`.
    #[arg(long, short = 'p', value_delimiter = ',')]
    pub presets: Vec<String>,
    /// A named set of cases: `real-scale` runs wan2.1-1.3b-480p, wan2.1-1.3b-image-1024,
    /// llama-2-7b and llama-2-70b with one block each at their real token counts, forward,
    /// extrapolated to the full models (as --layers 1 --extrapolate).
    #[arg(long, value_enum, conflicts_with_all = ["presets", "layers"])]
    pub suite: Option<Suite>,
    /// Backends, comma-separated (default: every compiled backend).
    #[arg(long, short = 'b', value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Devices, comma-separated: cpu, cuda:0, ..., software (default: every CPU
    /// and GPU found; a software Vulkan device such as lavapipe only when named).
    #[arg(long, short = 'd', value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Element types, comma-separated: f32, bf16, f16.
    #[arg(long, value_delimiter = ',', default_value = "f32")]
    pub dtypes: Vec<Dtype>,
    /// Passes, comma-separated: forward, train, decode (an LLM decode step over a KV cache
    /// of --seq-len tokens; Llama presets only) (default: all three; forward and decode for
    /// --suite real-scale).
    #[arg(long, value_delimiter = ',')]
    pub passes: Vec<Pass>,
    /// Attention path: auto (the framework's best path that fits: its fused
    /// kernel where it has one, else composite, tiled when the scores pass
    /// 64 MiB), composite, tiled or fused. Cases whose backend lacks the path are skipped.
    #[arg(long, default_value = "auto")]
    pub attention: AttentionChoice,
    /// Threads for every framework (default: physical cores, or the number of --cpus).
    /// More than the CPUs available (the machine's logical CPUs, or --cpus) needs --oversubscribe.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Allow --threads above the CPUs available, up to 8 per CPU (each framework then
    /// time-slices its threads).
    #[arg(long)]
    pub oversubscribe: bool,
    /// Pin every worker to these CPUs (sched_setaffinity), e.g. `2-3` or `0,2,4-7`:
    /// keeps cases off CPUs that other work uses. Interference is then read on these CPUs.
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Directory for the results file.
    #[arg(long, short = 'o', default_value = "results")]
    pub out: PathBuf,
    /// Seed of the generated weights and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run cases even when their estimated memory exceeds this machine's RAM.
    #[arg(long)]
    pub force: bool,
    /// Weights from a checkpoint with the reference names (WanModel's, LlamaForCausalLM's) instead of the seeded ones: a safetensors file, several shards (--weights A B), a directory of shards or a *.safetensors.index.json. Needs exactly one workload.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub weights: Vec<PathBuf>,
    /// Inputs from this safetensors file instead of the seeded ones, in ditbench's or the reference code's names (docs/guide.md "Bringing your own weights and inputs"). Needs exactly one workload.
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// Train on seeded targets where --inputs has none (Wan's `target`); without it such a run is refused.
    #[arg(long, requires = "inputs")]
    pub seeded_targets: bool,
    /// Check parity against the reference backend for workloads of at most this many parameters.
    #[arg(long, default_value_t = 200_000_000)]
    pub parity_max_params: u64,
    /// Do not check parity.
    #[arg(long)]
    pub no_parity: bool,
    /// Also write an HTML report of this run next to its results file (same name, .html).
    #[arg(long)]
    pub report: bool,
    /// Write each case's outputs (and for train its loss and gradient norms) as safetensors into DIR.
    #[arg(long, value_name = "DIR")]
    pub dump_outputs: Option<PathBuf>,
    /// Kill a case's worker after this many seconds, model build included, and record `timeout` (0: no limit).
    #[arg(
        long,
        default_value_t = 3600.0,
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub case_timeout: f64,
    /// Limit each worker's memory (heap and anonymous mappings), e.g. 8GiB; a case that needs more is recorded as `oom`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub mem_limit: Option<u64>,
    /// Check the arguments and print the cases this run would run (and why any would be skipped), then exit without running, generating or writing anything.
    #[arg(long)]
    pub plan: bool,
    /// Continue an interrupted run: run the cases FILE lacks, with the options it was started with, and add them to FILE
    /// (with --shard: checked to be that shard's file).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Run shard K of N: a deterministic part of the planned cases (the same on every machine given the
    /// same arguments), so N jobs together run every case once, each writing its own results file.
    /// A parity reference, the backends it checks, a model's depths and an LLM's prefills and decodes stay in one shard.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Name the launch a shard belongs to (e.g. a Slurm array job id, a workflow run id), so
    /// `report` and `compare` can tell one launch's shard files from another's.
    #[arg(long, value_name = "NAME", requires = "shard")]
    pub shard_set: Option<String>,

    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub scale: ScaleArgs,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Full model, per video, image and request")]
pub struct ScaleArgs {
    /// For workloads with --layers below their preset's block count, also run the same
    /// workload with no blocks, and extrapolate the full model from the two deepest depths
    /// j < k that ran: T(k) + (L - k) x (T(k) - T(j)) / (k - j).
    #[arg(long)]
    pub extrapolate: bool,
    #[command(flatten)]
    pub generation: GenerationArgs,
}

/// What one video, image and LLM request are made of, and the machine's
/// price: `run` records them, `report` counts the claims and the buyer's
/// view with them (the same flags and defaults in both).
#[derive(Debug, Args)]
pub struct GenerationArgs {
    /// Denoising steps of one video or image.
    #[arg(long, default_value_t = 50)]
    pub steps: u32,
    /// DiT forwards per denoising step (2 with classifier-free guidance).
    #[arg(long, default_value_t = 2)]
    pub cfg_passes: u32,
    /// Prompt tokens of one LLM request (default: the prefill's seq-len, less what the
    /// generated tokens need within the model's context window).
    #[arg(long, value_name = "TOKENS")]
    pub llm_prompt: Option<u64>,
    /// Tokens one LLM request generates: its decode steps.
    #[arg(long, value_name = "TOKENS", default_value_t = DEFAULT_GENERATED_TOKENS)]
    pub llm_tokens: u64,
    /// The machine's price in US dollars per hour: $ per video, image and 1M LLM tokens
    /// (for `report`: used for runs that recorded none).
    #[arg(long, value_name = "USD", allow_negative_numbers = true)]
    pub price_per_hour: Option<f64>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Timing")]
pub struct TimingArgs {
    /// Seconds of warm-up plus timing per case, at most (model build not included).
    #[arg(long, default_value_t = 8.0, allow_negative_numbers = true)]
    pub budget: f64,
    /// Timed iterations at least (unless the budget runs out).
    #[arg(long, default_value_t = 5)]
    pub min_iters: usize,
    /// Timed iterations at most.
    #[arg(long, default_value_t = 100_000)]
    pub max_iters: usize,
    /// Timed seconds at least before timing may stop on convergence.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub min_time: f64,
    /// Warm-up iterations at least.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Warm-up seconds at least (warm-up, like --warmup, stops at a quarter of the budget).
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub warmup_time: f64,
    /// Stop once the median's 95% CI is within ± this percentage of it.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub target_ci: f64,
}

/// Dimension overrides. A comma-separated list sweeps the dimension.
#[derive(Debug, Args)]
#[command(next_help_heading = "Overrides (a list sweeps, e.g. --frames 5,9,17)")]
pub struct OverrideArgs {
    /// Transformer blocks / decoder layers; a VAE preset's latent frames after the first.
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Model width (Wan dim / Llama hidden_size / UMT5 dim / VAE base width).
    #[arg(long, value_delimiter = ',')]
    pub dim: Vec<usize>,
    /// Attention heads.
    #[arg(long, value_delimiter = ',')]
    pub heads: Vec<usize>,
    /// Llama key/value heads (grouped-query attention).
    #[arg(long, value_delimiter = ',')]
    pub kv_heads: Vec<usize>,
    /// FFN / MLP hidden width.
    #[arg(long, value_delimiter = ',')]
    pub ffn: Vec<usize>,
    /// Wan video frames (4n+1).
    #[arg(long, value_delimiter = ',')]
    pub frames: Vec<usize>,
    /// Wan or VAE video height in pixels (Wan: multiple of 16; VAE: of 8).
    #[arg(long, value_delimiter = ',')]
    pub height: Vec<usize>,
    /// Wan or VAE video width in pixels (Wan: multiple of 16; VAE: of 8).
    #[arg(long, value_delimiter = ',')]
    pub width: Vec<usize>,
    /// Wan text tokens; UMT5 prompt tokens.
    #[arg(long, value_delimiter = ',')]
    pub text_len: Vec<usize>,
    /// Llama sequence length.
    #[arg(long, value_delimiter = ',')]
    pub seq_len: Vec<usize>,
    /// Llama or UMT5 vocabulary size.
    #[arg(long, value_delimiter = ',')]
    pub vocab: Vec<usize>,
    /// Samples per pass.
    #[arg(long, value_delimiter = ',')]
    pub batch: Vec<usize>,
}

#[derive(Debug, Args)]
pub struct ReferenceCheckArgs {
    /// Presets, comma-separated (default: wan-small,llama-small).
    #[arg(long, short = 'p', value_delimiter = ',')]
    pub presets: Vec<String>,
    /// Backends, comma-separated (default: every compiled CPU backend).
    #[arg(long, short = 'b', value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Passes, comma-separated: forward, train, decode (default: all three).
    #[arg(long, value_delimiter = ',')]
    pub passes: Vec<Pass>,
    /// Element type of both sides.
    #[arg(long, default_value = "f32")]
    pub dtype: Dtype,
    /// Threads for both sides, Python's included (default: physical cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seconds of timed rounds per pair, at most (unless --min-rounds needs more).
    #[arg(long, default_value_t = 10.0)]
    pub budget: f64,
    /// Timed rounds per pair at least (each round runs both sides once).
    #[arg(long, default_value_t = 10)]
    pub min_rounds: usize,
    /// Untimed rounds before timing.
    #[arg(long, default_value_t = 2)]
    pub warmup_rounds: usize,
    /// Python with torch, transformers and diffusers for libtorch's references
    /// (default: $VIRTUAL_ENV's, else ./.venv's, else python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Directory for the results (JSON and Markdown; never overwritten).
    #[arg(long, short = 'o', default_value = "results/reference-check")]
    pub out: PathBuf,
    /// Seed of the generated weights and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

#[derive(Debug, Args)]
pub struct DataArgs {
    /// Preset to export. See `ditbench list`.
    #[arg(long, short = 'p')]
    pub preset: String,
    /// Seed of the weights and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory for the two files.
    #[arg(long, short = 'o', default_value = "results/data")]
    pub out: PathBuf,
    /// Element type of the weights (rounded to nearest from the f32 values; inputs stay f32).
    #[arg(long, value_enum, default_value_t = WeightsDtype::F32)]
    pub weights_dtype: WeightsDtype,
    /// Split the weights into this many shards in a new directory, with a
    /// Hugging Face index (model.safetensors.index.json), as large checkpoints ship.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub shards: u16,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

/// `run --resume FILE` takes its options from FILE: any other option given
/// (but `--shard`, which is checked against the file) is refused.
pub fn check_resume(matches: &clap::ArgMatches) -> Result<(), UsageError> {
    use clap::parser::ValueSource;
    let Some(("run", run)) = matches.subcommand() else {
        return Ok(());
    };
    if run.value_source("resume") != Some(ValueSource::CommandLine) {
        return Ok(());
    }
    // The run command's own arguments (its ids also name the flattened groups).
    let command = <Cli as clap::CommandFactory>::command();
    let others: Vec<String> = command
        .find_subcommand("run")
        .into_iter()
        .flat_map(|c| c.get_arguments())
        .filter(|a| !["resume", "shard"].contains(&a.get_id().as_str()))
        .filter(|a| run.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .map(|a| match a.get_long() {
            Some(long) => format!("--{long}"),
            None => a.get_id().to_string(),
        })
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "--resume FILE runs with the options FILE records; it takes no other option but --shard (to check it), got {}",
        others.join(", ")
    )))
}
