//! Our model and a framework's own model code timed in turns
//! (`ditbench reference-check`): ours, theirs, theirs, ours, ... in one
//! process, or with the framework's code in a Python process that answers
//! one line per request.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ditbench_core::io::files::read_outputs;
use ditbench_core::{PassOutput, PreparedCase};

/// One side of a pair.
pub trait Side {
    /// Seconds of one iteration, the device synchronized before and after.
    fn timed_step(&mut self) -> Result<f64>;
    /// Run the pass once more and return what it computed.
    fn output(&mut self) -> Result<PassOutput>;
    /// Which attention implementation ran.
    fn attention_impl(&self) -> String;
}

/// A model built in this process.
pub struct InProcess(pub Box<dyn PreparedCase>);

impl Side for InProcess {
    fn timed_step(&mut self) -> Result<f64> {
        self.0.synchronize()?;
        let start = Instant::now();
        self.0.step()?;
        self.0.synchronize()?;
        Ok(start.elapsed().as_secs_f64())
    }

    fn output(&mut self) -> Result<PassOutput> {
        self.0.output()
    }

    fn attention_impl(&self) -> String {
        self.0.attention_impl()
    }
}

/// A model built by a Python process. It says `ready <attention>` once
/// built; then `step` answers the seconds it measured around one iteration
/// (its device synchronized), so the pipe's round trip is not counted, and
/// `output PATH` writes the pass's outputs as ditbench's outputs file and
/// answers `ok`. Any other answer is an error line.
pub struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    attention: String,
}

impl Python {
    /// Start `command` and wait until its model is built.
    pub fn start(mut command: Command) -> Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {:?}", command.get_program()))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut python = Python {
            child,
            stdin,
            stdout,
            attention: String::new(),
        };
        let ready = python.answer()?;
        match ready.strip_prefix("ready ") {
            Some(attention) => python.attention = attention.to_string(),
            None => bail!("the Python reference said {ready:?} instead of `ready`"),
        }
        Ok(python)
    }

    fn answer(&mut self) -> Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let line = line.trim_end().to_string();
        if line.is_empty() {
            let status = self.child.wait()?;
            bail!("the Python reference ended ({status}); its error is above");
        }
        if let Some(error) = line.strip_prefix("error ") {
            bail!("the Python reference failed: {error}");
        }
        Ok(line)
    }

    fn ask(&mut self, request: &str) -> Result<String> {
        writeln!(self.stdin, "{request}")?;
        self.stdin.flush()?;
        self.answer()
    }
}

impl Side for Python {
    fn timed_step(&mut self) -> Result<f64> {
        let answer = self.ask("step")?;
        answer
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .with_context(|| format!("the Python reference answered {answer:?} to `step`"))
    }

    fn output(&mut self) -> Result<PassOutput> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("outputs.safetensors");
        let path_text = path.to_str().context("temporary path is not UTF-8")?;
        let answer = self.ask(&format!("output {path_text}"))?;
        if answer != "ok" {
            bail!("the Python reference answered {answer:?} to `output`");
        }
        read_outputs(Path::new(&path))
    }

    fn attention_impl(&self) -> String {
        self.attention.clone()
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        // Closing its stdin ends the loop; a process stuck in a step is killed.
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a pair is timed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairTiming {
    /// Untimed rounds first (each side once per round).
    pub warmup_rounds: usize,
    /// Seconds of timed rounds, at most (unless `min_rounds` needs more).
    pub budget: Duration,
    pub min_rounds: usize,
    pub max_rounds: usize,
    /// A pause before each timed step, so that the other side's idle
    /// threads are asleep: OpenMP's (libtorch's, PyTorch's) spin for
    /// milliseconds after a parallel region, on the same cores.
    pub settle: Duration,
}

/// [`PairTiming::settle`] as `reference-check` sets it.
pub const SETTLE: Duration = Duration::from_millis(10);

/// Seconds of each timed iteration of each side, in the order they ran.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSamples {
    pub ours: Vec<f64>,
    pub theirs: Vec<f64>,
}

/// Time the two sides in turns. Every round runs each once: ours first in
/// even rounds, theirs first in odd ones, so neither always runs right
/// after the other (a cache or a thread pool warmed by one helps the next).
/// Rounds go on until `budget` has passed and `min_rounds` ran, or
/// `max_rounds` ran.
pub fn interleave(
    ours: &mut dyn Side,
    theirs: &mut dyn Side,
    t: &PairTiming,
) -> Result<PairSamples> {
    for _ in 0..t.warmup_rounds {
        ours.timed_step()?;
        theirs.timed_step()?;
    }
    let mut samples = PairSamples {
        ours: Vec::new(),
        theirs: Vec::new(),
    };
    let start = Instant::now();
    let timed = |side: &mut dyn Side| -> Result<f64> {
        std::thread::sleep(t.settle);
        side.timed_step()
    };
    for round in 0..t.max_rounds {
        if round >= t.min_rounds && start.elapsed() >= t.budget {
            break;
        }
        if round % 2 == 0 {
            samples.ours.push(timed(ours)?);
            samples.theirs.push(timed(theirs)?);
        } else {
            samples.theirs.push(timed(theirs)?);
            samples.ours.push(timed(ours)?);
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A side that records when it ran and takes a fixed time.
    struct Fake {
        name: &'static str,
        log: std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>,
        seconds: f64,
    }

    impl Side for Fake {
        fn timed_step(&mut self) -> Result<f64> {
            self.log.borrow_mut().push(self.name);
            Ok(self.seconds)
        }
        fn output(&mut self) -> Result<PassOutput> {
            bail!("no output")
        }
        fn attention_impl(&self) -> String {
            String::new()
        }
    }

    #[test]
    fn the_sides_take_turns_leading_and_warm_up_untimed() {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut a = Fake {
            name: "ours",
            log: log.clone(),
            seconds: 1.0,
        };
        let mut b = Fake {
            name: "theirs",
            log: log.clone(),
            seconds: 2.0,
        };
        let timing = PairTiming {
            warmup_rounds: 1,
            budget: Duration::ZERO,
            min_rounds: 3,
            max_rounds: 10,
            settle: Duration::ZERO,
        };
        let samples = interleave(&mut a, &mut b, &timing).unwrap();
        assert_eq!(samples.ours, vec![1.0; 3]);
        assert_eq!(samples.theirs, vec![2.0; 3]);
        let order = log.borrow().clone();
        assert_eq!(
            order,
            [
                "ours", "theirs", "ours", "theirs", "theirs", "ours", "ours", "theirs"
            ]
        );
    }
}
