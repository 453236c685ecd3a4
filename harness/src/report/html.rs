//! The HTML page: one tera template (`templates/report.html.tera`, compiled
//! into the binary) with autoescaping on, so every string from a results
//! file stays text. Charts are inline SVG made here, not from user input.

use anyhow::{Context, Result};
use tera::Tera;

use super::{Report, format_seconds};

const TEMPLATE: &str = include_str!("../../../templates/report.html.tera");

/// Render the report as one self-contained HTML page (no external resources).
pub fn render_html(report: &Report) -> Result<String> {
    let mut tera = Tera::default();
    tera.add_raw_template("report.html", TEMPLATE)
        .context("report template")?;
    tera.autoescape_on(vec!["report.html"]);
    tera.register_filter("seconds", |v: &tera::Value, _: &_| {
        let s = v
            .as_f64()
            .ok_or_else(|| tera::Error::msg("seconds: not a number"))?;
        Ok(tera::Value::String(format_seconds(s)))
    });
    let context = tera::Context::from_serialize(report).context("report data")?;
    tera.render("report.html", &context)
        .map_err(|e| anyhow::anyhow!("rendering the report: {e:?}"))
}
