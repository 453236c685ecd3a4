//! Inline SVG charts (plotters' SVG backend; text stays text, escaped).

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use serde::Serialize;

use super::{ChangePoint, HistoryPoint, Row, ScalingPoint, ScalingSeries};
use crate::read::compare::Verdict;
use ditbench_core::util::units::seconds_unit;

const BAR: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);
const FASTEST: RGBColor = RGBColor(0x2e, 0x8b, 0x57);
const GREY: RGBColor = RGBColor(0x8a, 0x93, 0xa3);
const RED: RGBColor = RGBColor(0xb4, 0x23, 0x18);
const LABEL: (&str, u32) = ("sans-serif", 13);
const AXIS_DESC: (&str, u32) = ("sans-serif", 13);

/// How a chart is drawn: its width (it scales down with the page, never
/// up), the room for bar labels and the legend's indent.
#[derive(Debug, Clone, Copy)]
struct Size {
    width: u32,
    bar_labels: u32,
    legend_x: i32,
    caption: u32,
    /// Ticks on a linear x axis at most (a phone fits fewer).
    x_labels: usize,
}

/// The largest value an axis is drawn for: beyond it (1e308 seconds from
/// a hostile file) the tick arithmetic overflows.
const MAX_PLOTTED: f64 = 1e15;

/// For screens wider than a phone.
const WIDE: Size = Size {
    width: 900,
    bar_labels: 230,
    legend_x: 80,
    caption: 16,
    x_labels: 10,
};
/// For phones (390 px and so): drawn at about their width, so labels keep
/// their size instead of shrinking with a wide drawing.
const NARROW: Size = Size {
    width: 370,
    bar_labels: 150,
    legend_x: 8,
    caption: 13,
    x_labels: 4,
};

/// One chart drawn twice, for wide screens and for phones; the page shows
/// the one that fits (CSS).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Chart {
    pub wide: String,
    pub narrow: String,
}

impl Chart {
    fn draw(draw: impl Fn(Size) -> Result<String>) -> Result<Chart> {
        Ok(Chart {
            wide: draw(WIDE)?,
            narrow: draw(NARROW)?,
        })
    }

    /// In place of a chart whose values no axis can hold (a hostile or
    /// corrupt file: 1e308 seconds, NaN): a line of text, drawn at once.
    fn out_of_range(values: impl IntoIterator<Item = f64>) -> Option<Chart> {
        let bad = values
            .into_iter()
            .any(|v| !v.is_finite() || v.abs() > MAX_PLOTTED);
        bad.then(|| {
            let svg = |width: u32| {
                format!(
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"40\" viewBox=\"0 0 {width} 40\"><text x=\"8\" y=\"24\" font-family=\"sans-serif\" font-size=\"13\">values out of range: not drawn (see the table)</text></svg>"
                )
            };
            Chart {
                wide: svg(WIDE.width),
                narrow: svg(NARROW.width),
            }
        })
    }
}

/// Three significant digits: `0.000234` -> `0.000234`, `1234.4` -> `1234`.
pub fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.decimals$}")
}

/// Ticks for a log axis: 1, 2 and 5 times each power of ten within `range`
/// (1, 10, 100... alone when that already gives five or more).
pub fn ticks_1_2_5(range: &std::ops::Range<f64>) -> Vec<f64> {
    let (lo, hi) = (
        range.start.log10().floor() as i32,
        range.end.log10().ceil() as i32,
    );
    let within = |v: &f64| range.contains(v);
    let decades: Vec<f64> = (lo..=hi).map(|e| 10f64.powi(e)).filter(within).collect();
    if decades.len() >= 5 {
        return decades;
    }
    (lo..=hi)
        .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
        .filter(within)
        .collect()
}

/// An axis label for seconds, in the unit that suits it: `250 µs`, `1.5 ms`.
pub fn seconds_label(s: f64) -> String {
    let (scale, unit) = seconds_unit(s);
    format!("{} {unit}", significant(s * scale))
}

/// A chart's frame: caption, margins and label areas, the same for every
/// chart so the page reads as one.
fn frame<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    size: Size,
    y_label_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", size.caption))
        .margin(8)
        .margin_right(28)
        .x_label_area_size(36)
        .y_label_area_size(y_label_area);
    builder
}

/// One bar of a horizontal bar chart.
struct Bar {
    label: String,
    value: f64,
    /// The confidence interval drawn as a whisker, if any.
    whisker: Option<(f64, f64)>,
    color: RGBColor,
}

/// Horizontal bars, first at the top, labelled in the left margin, with an
/// optional vertical reference line.
fn horizontal_bars(
    size: Size,
    caption: &str,
    x_desc: &str,
    bars: &[Bar],
    reference: Option<f64>,
) -> Result<String> {
    let height = 70 + 28 * bars.len() as u32;
    let max = bars
        .iter()
        .map(|b| b.whisker.map_or(b.value, |w| w.1.max(b.value)))
        .chain(reference)
        .fold(0f64, f64::max)
        * 1.15;
    let n = bars.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
        let mut chart = frame(&root, caption, size, size.bar_labels)
            .build_cartesian_2d(0f64..max.max(f64::MIN_POSITIVE), 0f64..n as f64)
            .map_err(|e| anyhow!("chart: {e}"))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_labels(size.x_labels)
            .label_style(LABEL)
            .axis_desc_style(AXIS_DESC)
            .x_desc(x_desc)
            .draw()
            .map_err(|e| anyhow!("chart: {e}"))?;
        for (k, bar) in bars.iter().enumerate() {
            let y = (n - 1 - k) as f64;
            chart
                .draw_series([Rectangle::new(
                    [(0.0, y + 0.2), (bar.value, y + 0.8)],
                    bar.color.filled(),
                )])
                .map_err(|e| anyhow!("chart: {e}"))?;
            if let Some((lo, hi)) = bar.whisker {
                chart
                    .draw_series([
                        PathElement::new([(lo, y + 0.5), (hi, y + 0.5)], BLACK),
                        PathElement::new([(lo, y + 0.35), (lo, y + 0.65)], BLACK),
                        PathElement::new([(hi, y + 0.35), (hi, y + 0.65)], BLACK),
                    ])
                    .map_err(|e| anyhow!("chart: {e}"))?;
            }
            let (_, py) = chart.backend_coord(&(0.0, y + 0.5));
            root.draw(&Text::new(bar.label.clone(), (8, py), left_middle()))
                .map_err(|e| anyhow!("chart: {e}"))?;
        }
        if let Some(x) = reference {
            chart
                .draw_series([PathElement::new([(x, 0.0), (x, n as f64)], BLACK)])
                .map_err(|e| anyhow!("chart: {e}"))?;
        }
        root.present().map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(svg)
}

/// Horizontal bars of each row's median time (shorter is faster), with the
/// 95% confidence interval of the median as whiskers; the fastest in green.
pub fn median_bars(title: &str, rows: &[Row]) -> Result<Chart> {
    if let Some(c) = Chart::out_of_range(
        rows.iter()
            .flat_map(|r| [r.median_s, r.ci_low_s, r.ci_high_s]),
    ) {
        return Ok(c);
    }
    let longest = rows
        .iter()
        .map(|r| r.ci_high_s.max(r.median_s))
        .fold(0f64, f64::max);
    let (scale, unit) = seconds_unit(longest);
    let bars: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            label: format!("{} {} ({})", r.backend, r.device, r.host),
            value: r.median_s * scale,
            whisker: Some((r.ci_low_s * scale, r.ci_high_s * scale)),
            color: if r.fastest { FASTEST } else { BAR },
        })
        .collect();
    Chart::draw(|size| {
        horizontal_bars(
            size,
            &format!("{title}: median time per iteration"),
            &format!("median ({unit}), whiskers: 95% CI"),
            &bars,
            None,
        )
    })
}

/// One bar per machine and device: its speed relative to the baseline (the
/// geometric mean over the cases both measured, and how many), with a line at 1.
pub fn speed_bars(speeds: &[(String, f64, usize)], baseline: &str) -> Result<Chart> {
    if let Some(c) = Chart::out_of_range(speeds.iter().map(|s| s.1)) {
        return Ok(c);
    }
    let bars: Vec<Bar> = speeds
        .iter()
        .map(|(place, speed, shared)| Bar {
            label: format!("{place} ({speed:.2}x, {shared} cases)"),
            value: *speed,
            whisker: None,
            color: if place == baseline { GREY } else { BAR },
        })
        .collect();
    Chart::draw(|size| {
        horizontal_bars(
            size,
            &format!("Speed relative to {baseline} (geometric mean over shared cases)"),
            "speed vs baseline (x, longer is faster)",
            &bars,
            Some(1.0),
        )
    })
}

/// Colours of chart series, distinguishable in print and for common colour
/// blindness (Okabe–Ito).
const SERIES: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0x00, 0x00, 0x00),
];

/// Log-log lines of `value` against tokens, one per series, with faint
/// guides proportional to tokens and tokens² through the first point.
pub fn log_log_lines(
    title: &str,
    y_desc: &str,
    series: &[ScalingSeries],
    value: &dyn Fn(&ScalingPoint) -> Option<f64>,
    y_label: &dyn Fn(f64) -> String,
) -> Result<Chart> {
    let values = series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .flat_map(|p| [Some(p.tokens as f64), value(p)])
        })
        .flatten();
    if let Some(c) = Chart::out_of_range(values) {
        return Ok(c);
    }
    Chart::draw(|size| log_log_drawing(size, title, y_desc, series, value, y_label))
}

fn log_log_drawing(
    size: Size,
    title: &str,
    y_desc: &str,
    series: &[ScalingSeries],
    value: &dyn Fn(&ScalingPoint) -> Option<f64>,
    y_label: &dyn Fn(f64) -> String,
) -> Result<String> {
    let points: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter_map(|p| value(p).filter(|v| *v > 0.0).map(|v| (p.tokens as f64, v)))
                .collect()
        })
        .collect();
    let all = || points.iter().flatten();
    let (x_min, x_max) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (y_min, y_max) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if x_min > x_max {
        return Ok(String::new());
    }
    let x_range = (x_min / 1.3)..(x_max * 1.3);
    let y_range = (y_min / 2.0)..(y_max * 2.0);
    let height = 360 + 18 * series.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
        let (plot, legend) = root.split_vertically(340);
        let mut chart = frame(&plot, title, size, 70)
            .build_cartesian_2d(
                x_range
                    .clone()
                    .log_scale()
                    .with_key_points(ticks_1_2_5(&x_range)),
                y_range
                    .clone()
                    .log_scale()
                    .with_key_points(ticks_1_2_5(&y_range)),
            )
            .map_err(|e| anyhow!("chart: {e}"))?;
        chart
            .configure_mesh()
            .label_style(LABEL)
            .axis_desc_style(AXIS_DESC)
            .light_line_style(WHITE)
            .x_desc("tokens per pass (log)")
            .y_desc(format!("{y_desc} (log)"))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| y_label(*y))
            .draw()
            .map_err(|e| anyhow!("chart: {e}"))?;
        if let Some(&first) = points.iter().flatten().next() {
            draw_slope_guides(&mut chart, first, &x_range, &y_range)?;
        }
        for (k, line) in points.iter().enumerate() {
            let color = SERIES[k % SERIES.len()];
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow!("chart: {e}"))?;
            chart
                .draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| anyhow!("chart: {e}"))?;
        }
        draw_series_legend(&legend, series, size)?;
        root.present().map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(svg)
}

/// Grey lines through the first point, growing as tokens and as tokens²,
/// so a series' slope reads against them.
fn draw_slope_guides<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    (x0, y0): (f64, f64),
    x_range: &std::ops::Range<f64>,
    y_range: &std::ops::Range<f64>,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let guide = GREY.mix(0.6);
    for (power, name) in [(1.0, "∝ tokens"), (2.0, "∝ tokens²")] {
        let line: Vec<(f64, f64)> = (0..=40)
            .map(|i| {
                let x = x_range.start * (x_range.end / x_range.start).powf(f64::from(i) / 40.0);
                (x, y0 * (x / x0).powf(power))
            })
            .filter(|&(_, y)| y_range.contains(&y))
            .collect();
        let Some(&end) = line.last() else {
            continue;
        };
        chart
            .draw_series([PathElement::new(line, guide.stroke_width(1))])
            .map_err(|e| anyhow!("chart: {e}"))?;
        chart
            .draw_series([Text::new(
                name,
                end,
                TextStyle::from(("sans-serif", 11).into_font())
                    .color(&GREY)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Right,
                        plotters::style::text_anchor::VPos::Bottom,
                    )),
            )])
            .map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(())
}

/// The legend below the plot, one line a series, so it never hides data.
fn draw_series_legend(
    legend: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    series: &[ScalingSeries],
    size: Size,
) -> Result<()> {
    for (k, s) in series.iter().enumerate() {
        let color = SERIES[k % SERIES.len()];
        let y = 8 + 18 * k as i32;
        legend
            .draw(&Rectangle::new(
                [(size.legend_x, y), (size.legend_x + 20, y + 10)],
                color.filled(),
            ))
            .map_err(|e| anyhow!("chart: {e}"))?;
        legend
            .draw(&Text::new(
                format!("{} ({})", s.label, s.host),
                (size.legend_x + 28, y),
                ("sans-serif", 13).into_font(),
            ))
            .map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(())
}

/// A case's median per run (oldest left) with its 95% CI as whiskers; the
/// gate's run-to-run band (low, high seconds) shaded; change points as a
/// vertical line, red for a regression, green for an improvement.
pub fn trend(
    title: &str,
    points: &[HistoryPoint],
    changes: &[ChangePoint],
    band: Option<(f64, f64)>,
) -> Result<Chart> {
    if let Some(c) = Chart::out_of_range(
        points
            .iter()
            .flat_map(|p| [p.median_s, p.ci_low_s, p.ci_high_s])
            .chain(band.into_iter().flat_map(|(lo, hi)| [lo, hi])),
    ) {
        return Ok(c);
    }
    Chart::draw(|size| trend_drawing(size, title, points, changes, band))
}

fn trend_drawing(
    size: Size,
    title: &str,
    points: &[HistoryPoint],
    changes: &[ChangePoint],
    band: Option<(f64, f64)>,
) -> Result<String> {
    let longest = points
        .iter()
        .map(|p| p.ci_high_s.max(p.median_s))
        .chain(band.map(|(_, hi)| hi))
        .fold(0f64, f64::max);
    let (scale, unit) = seconds_unit(longest);
    let n = points.len();
    let dates: Vec<String> = points
        .iter()
        .map(|p| p.started_at.chars().take(10).collect())
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("chart: {e}"))?;
        let mut chart = frame(&root, title, size, 70)
            .build_cartesian_2d(
                -0.5f64..(n as f64 - 0.5),
                0f64..(longest * scale * 1.15).max(f64::MIN_POSITIVE),
            )
            .map_err(|e| anyhow!("chart: {e}"))?;
        chart
            .configure_mesh()
            .label_style(LABEL)
            .axis_desc_style(AXIS_DESC)
            .light_line_style(WHITE)
            .x_labels(n.min(size.x_labels.min(8)))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < dates.len() {
                    dates[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .y_desc(format!("median ({unit})"))
            .draw()
            .map_err(|e| anyhow!("chart: {e}"))?;
        if let Some((lo, hi)) = band {
            chart
                .draw_series([Rectangle::new(
                    [(-0.5, lo * scale), (n as f64 - 0.5, hi * scale)],
                    BAR.mix(0.12).filled(),
                )])
                .map_err(|e| anyhow!("chart: {e}"))?;
        }
        draw_change_points(&mut chart, changes, longest * scale * 1.15)?;
        let line: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (i as f64, p.median_s * scale))
            .collect();
        chart
            .draw_series(LineSeries::new(line.clone(), BAR.stroke_width(2)))
            .map_err(|e| anyhow!("chart: {e}"))?;
        draw_ci_whiskers(&mut chart, points, scale)?;
        chart
            .draw_series(line.iter().map(|&p| Circle::new(p, 3, BAR.filled())))
            .map_err(|e| anyhow!("chart: {e}"))?;
        root.present().map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(svg)
}

/// A vertical line at each change point: red for a regression, green for
/// an improvement.
fn draw_change_points<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    changes: &[ChangePoint],
    top: f64,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for c in changes {
        let color = if c.verdict == Verdict::Regression {
            RED
        } else {
            FASTEST
        };
        let x = c.at as f64 - 0.5;
        chart
            .draw_series([PathElement::new(
                [(x, 0.0), (x, top)],
                color.stroke_width(2),
            )])
            .map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(())
}

/// Each run's 95% CI as a whisker, in the chart's unit (`scale` per second).
fn draw_ci_whiskers<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    points: &[HistoryPoint],
    scale: f64,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, p) in points.iter().enumerate() {
        let x = i as f64;
        let (lo, hi) = (p.ci_low_s * scale, p.ci_high_s * scale);
        chart
            .draw_series([
                PathElement::new([(x, lo), (x, hi)], BLACK),
                PathElement::new([(x - 0.08, lo), (x + 0.08, lo)], BLACK),
                PathElement::new([(x - 0.08, hi), (x + 0.08, hi)], BLACK),
            ])
            .map_err(|e| anyhow!("chart: {e}"))?;
    }
    Ok(())
}

fn left_middle() -> TextStyle<'static> {
    TextStyle::from(("sans-serif", 13).into_font()).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_values_are_not_drawn_and_never_hang() {
        let row = Row {
            backend: "b".into(),
            median_s: 1.7e308,
            ci_low_s: 1.6e308,
            ci_high_s: f64::INFINITY,
            ..Row::default()
        };
        let c = median_bars("t", &[row]).unwrap();
        assert!(c.wide.contains("values out of range"), "{}", c.wide);
        assert!(c.narrow.contains("values out of range"));
        let nan = speed_bars(&[("p".into(), f64::NAN, 1)], "p").unwrap();
        assert!(nan.wide.contains("values out of range"));
        let fine = median_bars(
            "t",
            &[Row {
                backend: "b".into(),
                median_s: 0.5,
                ci_low_s: 0.4,
                ci_high_s: 0.6,
                ..Row::default()
            }],
        )
        .unwrap();
        assert!(!fine.wide.contains("out of range"));
    }

    #[test]
    fn axis_labels_keep_three_significant_digits() {
        assert_eq!(significant(0.000234), "0.000234");
        assert_eq!(significant(1234.4), "1234");
        assert_eq!(significant(12.345), "12.3");
        assert_eq!(seconds_label(0.00025), "250 µs");
        assert_eq!(seconds_label(0.0015), "1.50 ms");
        assert_eq!(seconds_label(2.0), "2.00 s");
        assert_eq!(
            ticks_1_2_5(&(15.0..600.0)),
            vec![20.0, 50.0, 100.0, 200.0, 500.0]
        );
        assert_eq!(
            ticks_1_2_5(&(0.5..2e6)),
            vec![1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]
        );
    }
}
