//! Inline SVG charts (plotters' SVG backend; text stays text, escaped).

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use super::Row;

const BAR: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);
const FASTEST: RGBColor = RGBColor(0x2e, 0x8b, 0x57);

/// Horizontal bars of each row's median time (shorter is faster), with the
/// 95% confidence interval of the median as whiskers; the fastest in green.
pub fn median_bars(title: &str, rows: &[Row]) -> Result<String> {
    let height = 60 + 28 * rows.len() as u32;
    let max = rows
        .iter()
        .map(|r| r.ci_high_s.max(r.median_s))
        .fold(0f64, f64::max)
        * 1.15;
    let (scale, unit) = if max >= 1.0 {
        (1.0, "s")
    } else if max >= 1e-3 {
        (1e3, "ms")
    } else {
        (1e6, "µs")
    };
    let labels: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} ({})", r.backend, r.device, r.host))
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
        let n = rows.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{title}: median time per iteration"),
                ("sans-serif", 15),
            )
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(230)
            .build_cartesian_2d(0f64..(max * scale).max(f64::MIN_POSITIVE), 0f64..n as f64)
            .map_err(|e| anyhow!("chart: {e}"))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc(format!("median ({unit}), whiskers: 95% CI"))
            .draw()
            .map_err(|e| anyhow!("chart: {e}"))?;
        for (k, r) in rows.iter().enumerate() {
            // First row at the top.
            let y = (n - 1 - k) as f64;
            let color = if r.fastest { FASTEST } else { BAR };
            chart
                .draw_series([Rectangle::new(
                    [(0.0, y + 0.2), (r.median_s * scale, y + 0.8)],
                    color.filled(),
                )])
                .map_err(|e| anyhow!("chart: {e}"))?;
            let (lo, hi) = (r.ci_low_s * scale, r.ci_high_s * scale);
            chart
                .draw_series([
                    PathElement::new([(lo, y + 0.5), (hi, y + 0.5)], BLACK),
                    PathElement::new([(lo, y + 0.35), (lo, y + 0.65)], BLACK),
                    PathElement::new([(hi, y + 0.35), (hi, y + 0.65)], BLACK),
                ])
                .map_err(|e| anyhow!("chart: {e}"))?;
            // The bar's label in the left margin, level with the bar.
            let (_, py) = chart.backend_coord(&(0.0, y + 0.5));
            let style = TextStyle::from(("sans-serif", 12).into_font()).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Left,
                    plotters::style::text_anchor::VPos::Center,
                ),
            );
            root.draw(&Text::new(labels[k].clone(), (8, py), style))
                .map_err(|e| anyhow!("chart: {e}"))?;
        }
        root.present().map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(svg)
}
