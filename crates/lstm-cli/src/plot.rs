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

/// Writes `stem.svg` and `stem.png`; returns their paths.
pub fn chart(
    stem: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    vline: Option<(f64, &str)>,
) -> Result<Vec<PathBuf>> {
    register_font();
    let with = |ext: &str| PathBuf::from(format!("{}{ext}", stem.display()));
    let (svg, png) = (with(".svg"), with(".png"));
    let (tmp_svg, tmp_png) = (with(".tmp.svg"), with(".tmp.png"));
    draw(
        SVGBackend::new(&tmp_svg, (960, 540)).into_drawing_area(),
        title,
        x_label,
        y_label,
        lines,
        vline,
    )?;
    draw(
        BitMapBackend::new(&tmp_png, (960, 540)).into_drawing_area(),
        title,
        x_label,
        y_label,
        lines,
        vline,
    )?;
    std::fs::rename(&tmp_svg, &svg)?;
    std::fs::rename(&tmp_png, &png)?;
    Ok(vec![svg, png])
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
