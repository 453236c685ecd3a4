//! The HTML page: one tera template (`harness/templates/report.html.tera`, compiled
//! into the binary) with autoescaping on, so every string from a results
//! file stays text. Charts are inline SVG made here, not from user input.
//! The one script (sortable tables) is allowed by its hash in the page's
//! Content-Security-Policy, so no other script could run even if injected.

use anyhow::{Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use tera::Tera;

use super::Report;
use ditbench_core::util::units::{
    dollars, flops_text, format_seconds, group_thousands, rate, si_count, times,
};

const TEMPLATE: &str = include_str!("templates/report.html.tera");
const SORT_SCRIPT: &str = include_str!("templates/sort-tables.js");

/// The CSP source that allows exactly `script`: `'sha256-<base64>'`.
pub fn script_hash_source(script: &str) -> String {
    let digest = Sha256::digest(script.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A figure for a filter: a number, or `None` for what JSON writes in place
/// of a non-finite one (null: a hostile or corrupt file's NaN or infinity,
/// a rate over a zero time), which the page shows as "n/a".
fn figure(v: &tera::Value, filter: &str) -> tera::Result<Option<f64>> {
    match v {
        tera::Value::Null => Ok(None),
        v => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| tera::Error::msg(format!("{filter}: not a number"))),
    }
}

/// Shown for a figure that is not a finite number.
const NOT_A_FIGURE: &str = "n/a";

/// Render the report as one self-contained HTML page (no external resources).
pub fn render_html(report: &Report) -> Result<String> {
    let mut tera = Tera::default();
    tera.add_raw_template("report.html", TEMPLATE)
        .context("report template")?;
    tera.autoescape_on(vec!["report.html"]);
    tera.register_filter("seconds", |v: &tera::Value, _: &_| {
        Ok(tera::Value::String(
            figure(v, "seconds")?.map_or(NOT_A_FIGURE.into(), format_seconds),
        ))
    });
    // `x | fixed(digits=2)`: always that many decimals (tera's round drops
    // trailing zeros, so 1.0x would print as 1x).
    tera.register_filter(
        "fixed",
        |v: &tera::Value, args: &std::collections::HashMap<String, tera::Value>| {
            let digits = args.get("digits").and_then(|d| d.as_u64()).unwrap_or(2) as usize;
            Ok(tera::Value::String(
                figure(v, "fixed")?.map_or(NOT_A_FIGURE.into(), |x| format!("{x:.digits$}")),
            ))
        },
    );
    // `share | percent(digits=1)`: a share as `12.3%` (the template does
    // no arithmetic, which a null from a non-finite figure would break).
    tera.register_filter(
        "percent",
        |v: &tera::Value, args: &std::collections::HashMap<String, tera::Value>| {
            let digits = args.get("digits").and_then(|d| d.as_u64()).unwrap_or(1) as usize;
            Ok(tera::Value::String(
                figure(v, "percent")?
                    .map_or(NOT_A_FIGURE.into(), |x| format!("{:.digits$}%", x * 100.0)),
            ))
        },
    );
    tera.register_filter("thousands", |v: &tera::Value, _: &_| {
        Ok(tera::Value::String(
            figure(v, "thousands")?.map_or(NOT_A_FIGURE.into(), group_thousands),
        ))
    });
    tera.register_filter("flop", |v: &tera::Value, _: &_| {
        Ok(tera::Value::String(
            figure(v, "flop")?.map_or(NOT_A_FIGURE.into(), flops_text),
        ))
    });
    // Dollars, rates (TFLOP/s) and counts (tokens/s) as the terminal and
    // the Markdown write them.
    for (name, text) in [
        ("dollars", dollars as fn(f64) -> String),
        ("rate", rate),
        ("si", si_count),
    ] {
        tera.register_filter(name, move |v: &tera::Value, _: &_| {
            Ok(tera::Value::String(
                figure(v, name)?.map_or(NOT_A_FIGURE.into(), text),
            ))
        });
    }
    tera.register_filter("times", |v: &tera::Value, _: &_| {
        Ok(tera::Value::String(
            figure(v, "times")?.map_or(NOT_A_FIGURE.into(), times),
        ))
    });
    let mut context = tera::Context::from_serialize(report).context("report data")?;
    context.insert("as_much_as", &super::AS_MUCH_AS);
    context.insert(
        "forwards_per_video",
        &(u64::from(report.generation.steps) * u64::from(report.generation.cfg_passes)),
    );
    context.insert("sort_script", SORT_SCRIPT);
    context.insert("sort_script_hash", &script_hash_source(SORT_SCRIPT));
    // Escaped for HTML, text from files may still hold control characters,
    // which `cat report.html` would send to a terminal: shown as escapes.
    tera.render("report.html", &context)
        .map(|html| ditbench_core::util::units::visible_controls(&html))
        .map_err(|e| anyhow::anyhow!("rendering the report: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_hash_matches_a_known_digest() {
        // printf 'alert(1)' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            script_hash_source("alert(1)"),
            "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"
        );
    }
}
