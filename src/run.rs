//! `ditbench run` on the terminal: the plan from [`crate::plan`], the run
//! from `ditbench_harness::run::driver`, and what the terminal shows while
//! and after it runs (progress, one line per case, the summary).

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use ditbench_core::CaseSpec;
use ditbench_core::util::units::visible_controls;
use ditbench_harness::record::results::CaseResult;
use ditbench_harness::record::shard::Shard;
use ditbench_harness::run::driver::{
    self, Execution, Identity, Plan, Progress, Resumable, Summary, UsageError,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Cli, Command, RunArgs};
use crate::plan::plan;
use crate::{build_info, format, out, reference_order};

/// What a finished run reports to `main`.
pub struct RunOutcome {
    pub failed: usize,
    pub parity_failed: usize,
}

pub fn run(args: &RunArgs) -> Result<RunOutcome> {
    let identity = Identity {
        build: build_info(),
        command: std::env::args().collect(),
        reference_order: reference_order(),
    };
    let (execution, report) = match &args.resume {
        Some(file) => resume(file, args.shard, &identity)?,
        None => {
            let plan = plan(args)?;
            if args.plan {
                print_plan(&plan)?;
                return Ok(RunOutcome {
                    failed: 0,
                    parity_failed: 0,
                });
            }
            (driver::start(plan, &args.out, &identity)?, args.report)
        }
    };
    finish(execution, report, &identity)
}

/// Continue the run recorded in `path` with the command line it records
/// (whose `--report` it keeps).
fn resume(path: &Path, shard: Option<Shard>, identity: &Identity) -> Result<(Execution, bool)> {
    let resumable = Resumable::open(path, shard, &identity.build)?;
    let command = &resumable.results.command;
    let mut args = match Cli::try_parse_from(command) {
        Ok(Cli {
            command: Command::Run(args),
        }) if args.resume.is_none() => args,
        _ => {
            return Err(UsageError(format!(
                "--resume: {} does not record a `ditbench run` command line this ditbench understands: {}",
                path.display(),
                command.join(" ")
            ))
            .into());
        }
    };
    args.out = resumable.out_dir();
    let report = args.report;
    Ok((resumable.continue_with(plan(&args)?)?, report))
}

/// Run the cases with progress on the terminal, then print the summary and,
/// with `--report`, write the HTML report.
fn finish(execution: Execution, report: bool, identity: &Identity) -> Result<RunOutcome> {
    let width = format::terminal_width();
    let mut progress = Terminal::new(execution.cases().len() as u64, width);
    let summary = execution.execute(&mut progress)?;
    progress.done();
    // Every file first: a terminal that cannot be written loses no result.
    let report = match report {
        true => Some(summary.write_report(&identity.reference_order)?),
        false => None,
    };
    print_summary(&summary, width)?;
    if let Some(path) = report {
        out::line(format!("Report: {}", path.display()))?;
    }
    Ok(RunOutcome {
        failed: summary.failed,
        parity_failed: summary.parity_failed,
    })
}

/// The case table, the full-model table with its definition, and the counts.
fn print_summary(summary: &Summary, width: Option<usize>) -> Result<()> {
    // A resumed run's cases come from its file: their texts are shown, the
    // tables' own colours kept.
    let cases: Vec<CaseResult> = summary
        .run
        .results
        .cases
        .iter()
        .map(format::for_terminal)
        .collect();
    out::styled(&format!("{}\n", format::summary_text(&cases, width)))?;
    if let Some(mut full) = format::full_model_table(&cases) {
        if let Some(w) = width {
            full.set_width(w.try_into().unwrap_or(u16::MAX));
        }
        out::styled(&format!("{full}\n"))?;
        let scale = &summary.run.results.settings.scale;
        let definition = format!(
            "Extrapolated rows are labelled so: T(k) + (L - k) x (T(k) - T(j)) / (k - j) from k measured blocks and the deepest depth j < k that ran (j = 0: the workload without blocks; a VAE's first chunk); per unit = a video or image's {} steps x {} DiT forwards; an LLM prefill = a request's prompt at the prefill rate; an LLM request (decode rows) = that prefill plus its generated tokens' decode steps; a video stage = the text encoder's prompts (one with no guidance, two with) or one VAE decode (the report sums a pipeline's stages into one whole video).",
            scale.steps, scale.cfg_passes
        );
        out::line(format::wrap_words(&definition, width, 0))?;
    }
    let lines = [
        format!(
            "{} ok, {} skipped, {} failed;",
            summary.ok, summary.skipped, summary.failed
        ),
        format!(
            "parity: {} of {} checked cases agree.",
            summary.parity_checked - summary.parity_failed,
            summary.parity_checked
        ),
        format!("Results: {}", summary.run.path.display()),
    ];
    out::line(format::wrap(&lines, " ", width, 0))
}

/// `run --plan`: every planned case, and why the parent would skip one.
fn print_plan(plan: &Plan) -> Result<()> {
    let skipped: Vec<Option<String>> = plan
        .cases
        .iter()
        .map(|c| plan.run.skip_reason(c, &plan.run.estimate(c).1))
        .collect();
    let runs = skipped.iter().filter(|s| s.is_none()).count();
    let shard = match &plan.settings.shard {
        Some(r) => format!(
            " in shard {} (partition {}, {} of its {} units)",
            r.shard(),
            r.plan,
            r.units_of(r.index).count(),
            r.units.len()
        ),
        None => String::new(),
    };
    out::line(format!(
        "plan: {} case(s){shard}, {runs} to run, {} skipped; nothing was run or written",
        plan.cases.len(),
        plan.cases.len() - runs
    ))?;
    for (case, skip) in plan.cases.iter().zip(&skipped) {
        match skip {
            None => out::line(format!("  {}", case.label()))?,
            Some(why) => out::line(format!("  {}: skipped: {why}", case.label()))?,
        }
    }
    Ok(())
}

/// A progress bar on a terminal, plain lines otherwise; one line per case.
struct Terminal {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    width: Option<usize>,
}

impl Terminal {
    fn new(total: u64, width: Option<usize>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                // Fits 80 columns with a short case label; the ETA is
                // indicatif's, from the mean time per finished case.
                ProgressStyle::with_template(
                    "{spinner} [{bar:20}] {pos}/{len} {elapsed} ETA {eta} {wide_msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Terminal {
            bar,
            total,
            done: 0,
            width,
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Terminal {
    fn started(&mut self, case: &CaseSpec) {
        // Labels and errors may quote a resumed file or a checkpoint.
        let label = visible_controls(&case.label());
        match &self.bar {
            Some(bar) => bar.set_message(label),
            None => eprintln!("[{}/{}] {label} ...", self.done + 1, self.total),
        }
    }

    fn finished(&mut self, result: &CaseResult) {
        self.done += 1;
        let line = visible_controls(&format::case_line(result, self.width));
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }
}
