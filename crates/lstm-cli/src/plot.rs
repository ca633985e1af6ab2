//! Plots, SVG and PNG (plotters; text is drawn with the bundled DejaVu Sans font).

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Result};
use lstm::io::HistoryPoint;
use plotters::prelude::*;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// One line of a chart.
pub struct Line {
    /// Legend.
    pub label: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: RGBColor,
}

fn bounds(lines: &[Line]) -> (f64, f64, f64, f64) {
    let pts = lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    (x0, x1.max(x0 + 1e-9), y0 - pad, y1 + pad)
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    vline: Option<(f64, &str)>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("cannot draw the chart: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let (x0, x1, y0, y1) = bounds(lines);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    for l in lines {
        let color = l.color;
        chart
            .draw_series(LineSeries::new(
                l.points
                    .iter()
                    .copied()
                    .filter(|(x, y)| x.is_finite() && y.is_finite()),
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(l.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    if let Some((x, label)) = vline {
        chart
            .draw_series(LineSeries::new(
                vec![(x, y0), (x, y1)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(e)?
            .label(label.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.5)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// Draws one figure twice, to `stem.svg` and `stem.png`, each through a temporary file renamed
/// when complete; returns the two paths.
fn svg_and_png(
    stem: &Path,
    size: (u32, u32),
    svg: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<()>,
    png: impl FnOnce(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    register_font();
    let with = |ext: &str| PathBuf::from(format!("{}{ext}", stem.display()));
    let (svg_path, png_path) = (with(".svg"), with(".png"));
    let (tmp_svg, tmp_png) = (with(".tmp.svg"), with(".tmp.png"));
    svg(SVGBackend::new(&tmp_svg, size).into_drawing_area())?;
    png(BitMapBackend::new(&tmp_png, size).into_drawing_area())?;
    std::fs::rename(&tmp_svg, &svg_path)?;
    std::fs::rename(&tmp_png, &png_path)?;
    Ok(vec![svg_path, png_path])
}

/// Writes `stem.svg` and `stem.png`; returns their paths.
pub fn chart(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    vline: Option<(f64, &str)>,
) -> Result<Vec<PathBuf>> {
    svg_and_png(
        stem,
        (960, 540),
        |a| draw(a, title, x_label, y_label, lines, vline),
        |a| draw(a, title, x_label, y_label, lines, vline),
    )
}

/// Training and validation loss against the step.
pub fn loss_curves(stem: &Path, history: &[HistoryPoint], y_label: &str) -> Result<Vec<PathBuf>> {
    let train = Line {
        label: "train".into(),
        points: history
            .iter()
            .map(|h| (h.step as f64, h.train_loss as f64))
            .collect(),
        color: RGBColor(31, 119, 180),
    };
    let val = Line {
        label: "validation".into(),
        points: history
            .iter()
            .filter_map(|h| h.val_loss.map(|v| (h.step as f64, v as f64)))
            .collect(),
        color: RGBColor(255, 127, 14),
    };
    chart(stem, "Loss", "step", y_label, &[train, val], None)
}

/// One heatmap panel: `values: [T, U]` (steps × units), shown units × t.
pub struct Panel {
    /// Title.
    pub title: String,
    /// `[T, U]` row-major.
    pub values: Vec<f32>,
    /// `(lo, hi)` the colour scale: a gate is `(0, 1)`; a signed value `(−m, m)`.
    pub range: (f32, f32),
}

/// The colour of `v` on a scale `(lo, hi)`: white → dark blue for a one-sided range starting at
/// 0, blue → white → red for a signed one.
pub fn heat_color(v: f32, (lo, hi): (f32, f32)) -> RGBColor {
    let mix = |a: (f32, f32, f32), b: (f32, f32, f32), s: f32| {
        let s = s.clamp(0.0, 1.0);
        RGBColor(
            (a.0 + (b.0 - a.0) * s) as u8,
            (a.1 + (b.1 - a.1) * s) as u8,
            (a.2 + (b.2 - a.2) * s) as u8,
        )
    };
    let white = (255.0, 255.0, 255.0);
    if !v.is_finite() {
        return RGBColor(0, 0, 0);
    }
    if lo < 0.0 {
        let m = hi.max(-lo).max(1e-12);
        if v >= 0.0 {
            mix(white, (178.0, 24.0, 43.0), v / m)
        } else {
            mix(white, (33.0, 102.0, 172.0), -v / m)
        }
    } else {
        mix(white, (8.0, 48.0, 107.0), (v - lo) / (hi - lo).max(1e-12))
    }
}

fn draw_heatmaps<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    panels: &[Panel],
    steps: usize,
    units: usize,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("cannot draw the heatmap: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(e)?;
    let areas = root.split_evenly((panels.len(), 1));
    for (p, area) in panels.iter().zip(areas) {
        let mut chart = ChartBuilder::on(&area)
            .caption(
                format!(
                    "{} (colour scale {:.2} .. {:.2})",
                    p.title, p.range.0, p.range.1
                ),
                ("sans-serif", 15),
            )
            .margin(6)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..steps as f64, 0f64..units as f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_label)
            .y_desc("unit")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        chart
            .draw_series((0..steps).flat_map(|t| {
                (0..units).map(move |u| {
                    let v = p.values[t * units + u];
                    Rectangle::new(
                        [(t as f64, u as f64), (t as f64 + 1.0, u as f64 + 1.0)],
                        heat_color(v, p.range).filled(),
                    )
                })
            }))
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

/// Writes `stem.svg` and `stem.png`: the panels stacked, each `[T = steps, U = units]`.
pub fn heatmaps(
    stem: &Path,
    title: &str,
    x_label: &str,
    panels: &[Panel],
    steps: usize,
    units: usize,
) -> Result<Vec<PathBuf>> {
    let size = (1200, 40 + 200 * panels.len() as u32);
    svg_and_png(
        stem,
        size,
        |a| draw_heatmaps(a, title, x_label, panels, steps, units),
        |a| draw_heatmaps(a, title, x_label, panels, steps, units),
    )
}

/// One group of bars: a label and a height per series.
pub struct BarGroup {
    /// The label under the group.
    pub label: String,
    /// One value per series, in the order of the `series` names.
    pub values: Vec<f64>,
    /// One note per series, written above its bar (e.g. `2/3`).
    pub notes: Vec<String>,
}

fn draw_bars<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, RGBColor)],
    groups: &[BarGroup],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("cannot draw the chart: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let top = groups
        .iter()
        .flat_map(|g| g.values.iter().copied())
        .fold(1f64, f64::max)
        * 1.35; // headroom: the legend sits above the tallest bars
    let n = groups.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..top)
        .map_err(e)?;
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(1))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    let k = series.len().max(1) as f64;
    let w = 0.8 / k;
    for (s, (name, color)) in series.iter().enumerate() {
        let color = *color;
        chart
            .draw_series(groups.iter().enumerate().map(|(i, g)| {
                let x0 = i as f64 - 0.4 + s as f64 * w;
                Rectangle::new([(x0, 0.0), (x0 + w * 0.9, g.values[s])], color.filled())
            }))
            .map_err(e)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        chart
            .draw_series(groups.iter().enumerate().filter_map(|(i, g)| {
                let x0 = i as f64 - 0.4 + s as f64 * w;
                g.notes.get(s).map(|t| {
                    Text::new(
                        t.clone(),
                        (x0 + w * 0.2, g.values[s] + top * 0.035),
                        ("sans-serif", 13),
                    )
                })
            }))
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// Writes `stem.svg` and `stem.png`: a grouped bar chart, one bar per series in each group.
pub fn bars(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, RGBColor)],
    groups: &[BarGroup],
) -> Result<Vec<PathBuf>> {
    svg_and_png(
        stem,
        (960, 540),
        |a| draw_bars(a, title, x_label, y_label, series, groups),
        |a| draw_bars(a, title, x_label, y_label, series, groups),
    )
}
