//! Exports of measured cases for the benchmark trackers users already run:
//! Bencher (Bencher Metric Format JSON) and github-action-benchmark
//! (`customSmallerIsBetter` JSON). CSV lives with the report
//! ([`crate::read::report::render_csv`]).

use serde_json::{Map, Value, json};

use crate::read::compare::case_key;
use crate::record::results::{CaseResult, RunResults, Status, Throughput};
use crate::stats::Stats;

/// Bencher Metric Format: `{ "<case>": { "<measure>": { "value", "lower_value", "upper_value" } } }`.
///
/// Measures: `latency` (Bencher's built-in, nanoseconds: the median with its
/// 95% CI), `throughput` (built-in, operations per second: tokens/s, bounds
/// from the CI), `peak-rss` (bytes) where measured, `contended` (1 when
/// others took more of the machine than the case allowed, else 0) where
/// interference was recorded. Cases are keyed by
/// `workload backend device dtype pass`, prefixed by the host when the runs
/// come from several machines.
pub fn bencher_metric_format(runs: &[RunResults]) -> Value {
    let prefix = host_prefix(runs);
    let mut out = Map::new();
    for (run, c, stats, throughput) in measured(runs) {
        let [lo, hi] = stats.ci95_median_s;
        let tokens = c.workload.cost.tokens as f64;
        let mut measures = Map::new();
        let latency_ns = json!({
            "value": stats.median_s * 1e9,
            "lower_value": lo * 1e9,
            "upper_value": hi * 1e9,
        });
        measures.insert("latency".into(), latency_ns);
        let mut rate = json!({"value": throughput.tokens_per_s});
        if lo > 0.0 {
            rate["lower_value"] = json!(tokens / hi);
            rate["upper_value"] = json!(tokens / lo);
        }
        measures.insert("throughput".into(), rate);
        if let Some(peak) = c.memory.as_ref().and_then(|m| m.peak_rss_bytes) {
            measures.insert("peak-rss".into(), json!({"value": peak as f64}));
        }
        if let Some(i) = &c.interference {
            measures.insert(
                "contended".into(),
                json!({"value": if i.contended { 1.0 } else { 0.0 }}),
            );
        }
        out.insert(
            format!("{}{}", prefix(&run.environment.host), case_key(c)),
            Value::Object(measures),
        );
    }
    Value::Object(out)
}

/// github-action-benchmark's `customSmallerIsBetter`: an array of
/// `{name, unit, value, range, extra}`. Per case, the median time in
/// milliseconds (range: half the 95% CI, `n/a` with one sample; extra: the
/// confidence verdict, `CONTENDED` first when so) and, where measured, the
/// peak RSS in MiB.
pub fn github_action_benchmark(runs: &[RunResults]) -> Value {
    let prefix = host_prefix(runs);
    let mut out = Vec::new();
    for (run, c, stats, throughput) in measured(runs) {
        let name = format!("{}{}", prefix(&run.environment.host), case_key(c));
        let [lo, hi] = stats.ci95_median_s;
        let confidence = match c.confidence_under(&run.settings.timing) {
            Some(k) if !k.is_good() => format!(
                "; {}confidence {}",
                if c.contended() { "CONTENDED; " } else { "" },
                k.summary()
            ),
            Some(_) => "; confidence good".into(),
            None => String::new(),
        };
        out.push(json!({
            "name": format!("{name} time"),
            "unit": "ms",
            "value": stats.median_s * 1e3,
            "range": if stats.relative_ci_half_width().is_some() {
                format!("± {:.6}", (hi - lo) / 2.0 * 1e3)
            } else {
                "n/a (one sample)".to_string()
            },
            "extra": format!(
                "{} samples; {:.1} tokens/s; {:.4} TFLOP/s; host {}{confidence}",
                stats.n, throughput.tokens_per_s, throughput.tflops, run.environment.host
            ),
        }));
        if let Some(peak) = c.memory.as_ref().and_then(|m| m.peak_rss_bytes) {
            out.push(json!({
                "name": format!("{name} peak RSS"),
                "unit": "MiB",
                "value": peak as f64 / (1u64 << 20) as f64,
            }));
        }
    }
    Value::Array(out)
}

/// Every measured case with its run, statistics and throughput.
fn measured(
    runs: &[RunResults],
) -> impl Iterator<Item = (&RunResults, &CaseResult, &Stats, &Throughput)> {
    runs.iter().flat_map(|run| {
        run.cases
            .iter()
            .filter_map(move |c| match (c.status, &c.stats, &c.throughput) {
                (Status::Ok, Some(stats), Some(throughput)) => Some((run, c, stats, throughput)),
                _ => None,
            })
    })
}

/// Names carry the host only when the runs come from several machines.
fn host_prefix(runs: &[RunResults]) -> impl Fn(&str) -> String {
    let first = runs.first().map(|r| r.environment.host.clone());
    let several = runs
        .iter()
        .any(|r| Some(&r.environment.host) != first.as_ref());
    move |host: &str| {
        if several {
            format!("{host} ")
        } else {
            String::new()
        }
    }
}
