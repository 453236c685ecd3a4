//! `ditbench`: the command-line front end. Arguments become validated
//! options ([`cli`], [`plan`]); the harness runs and reads; these modules
//! print ([`run`], [`commands`], [`compare`], [`data`], [`format`]).

mod backends;
mod cli;
mod commands;
mod compare;
mod data;
mod format;
mod gate_study;
mod out;
mod plan;
mod reference_check;
mod run;

use std::process::ExitCode;

use anyhow::Result;
use ditbench_harness::measure::env::BuildInfo;
use ditbench_harness::measure::memory::CountingAllocator;
use ditbench_harness::read::compare::Outcome;
/// Bad input from the user: exit code 2, nothing run or written.
pub use ditbench_harness::run::driver::UsageError;

use crate::cli::{Cli, Command};

// Counts heap bytes for the `peak_heap_bytes` figure.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

pub fn build_info() -> BuildInfo {
    BuildInfo {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("DITBENCH_GIT_COMMIT").to_string(),
        rustc: env!("DITBENCH_RUSTC").to_string(),
        cargo_features: ditbench::registry::cargo_features(),
        profile: env!("DITBENCH_PROFILE").to_string(),
    }
}

/// The backends a report shows speeds relative to: the parity reference
/// order of the registry.
pub fn reference_order() -> Vec<String> {
    ditbench::registry::reference_order()
        .into_iter()
        .map(String::from)
        .collect()
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            let outcome = run::run(&args)?;
            if outcome.failed > 0 || outcome.parity_failed > 0 {
                eprintln!(
                    "error: {} case(s) failed and {} failed the parity check; see the results file",
                    outcome.failed, outcome.parity_failed
                );
                return Ok(ExitCode::from(1));
            }
        }
        Command::List(args) => commands::list(&args)?,
        Command::Env { threads } => commands::env(threads)?,
        Command::Data(args) => data::export(&args)?,
        Command::Report(args) => commands::report(&args)?,
        Command::Export(args) => commands::export(&args)?,
        Command::GateStudy(args) => gate_study::gate_study(&args)?,
        Command::ReferenceCheck(args) => {
            if !reference_check::reference_check(&args)? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Compare(args) => match compare::compare(&args)? {
            Outcome::Pass => {}
            Outcome::Regression => return Ok(ExitCode::from(1)),
            Outcome::Inconclusive => return Ok(ExitCode::from(compare::INCONCLUSIVE_EXIT)),
        },
        Command::Worker { request, response } => commands::worker(&request, &response)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    #[cfg(feature = "burn-wgpu")]
    ditbench::vulkan::give_wayland_a_runtime_dir();
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = match cli::check_resume(&matches)
        .map_err(anyhow::Error::from)
        .and_then(|()| Cli::from_arg_matches(&matches).map_err(anyhow::Error::from))
    {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // Errors quote files: a tensor name, a shard's, a recorded label.
            let message = ditbench_core::util::units::visible_controls(&format!("{e:#}"));
            eprintln!("error: {message}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
