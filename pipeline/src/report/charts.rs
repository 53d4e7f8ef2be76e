//! PNG charts drawn with plotters. The font (DejaVu Sans, its licence beside it in
//! `assets/`) is compiled in, so a server with no fonts installed draws labels too.

use std::path::Path;
use std::sync::Once;

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (900, 600);
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(127, 127, 127),
];

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType font; a failure would only cost the labels.
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            tracing::warn!(message = "The chart font did not load; charts will have no text.");
        }
    });
}

/// One named line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// (x, y) points in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// Lines on shared axes, e.g. precision–recall curves.
pub fn line_chart(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    (x_range, y_range): (std::ops::Range<f64>, std::ops::Range<f64>),
    series: &[Series],
) -> anyhow::Result<()> {
    register_font();
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw_lines(&root, title, (x_label, y_label), (x_range, y_range), series)
        .map_err(|error| anyhow::anyhow!("failed to draw {}: {error}", path.display()))?;
    root.present()
        .with_context(|| format!("failed to write {}", path.display()))
}

fn draw_lines(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    (x_range, y_range): (std::ops::Range<f64>, std::ops::Range<f64>),
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let x_span = x_range.end - x_range.start;
    let y_span = y_range.end - y_range.start;
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range, y_range)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| tick_label(*x, x_span))
        .y_label_formatter(&|y| tick_label(*y, y_span))
        .label_style(("sans-serif", 15))
        .draw()?;
    for (index, line) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(line.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

/// A tick's text: whole numbers on a wide axis (steps: "2500", not "2500.0"), otherwise at
/// most three decimals without trailing zeros ("0.1", not "0.100").
fn tick_label(value: f64, span: f64) -> String {
    let text = if span >= 20.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if text == "-0" { "0".to_string() } else { text }
}

/// The distribution of each group's values as the share of the group per bin, so
/// groups of very different sizes (benign logs, attack logs) compare on one chart.
pub fn density_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    groups: &[(&str, &[f64])],
    bins: usize,
) -> anyhow::Result<()> {
    let values = groups.iter().flat_map(|(_, values)| values.iter().copied());
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let (low, high) = if low < high { (low, high) } else { (0.0, 1.0) };
    let width = (high - low) / bins.max(1) as f64;
    let mut top: f64 = 0.0;
    let series: Vec<Series> = groups
        .iter()
        .map(|(name, values)| {
            let mut counts = vec![0usize; bins.max(1)];
            for &value in values.iter().filter(|v| v.is_finite()) {
                let bin = (((value - low) / width) as usize).min(counts.len() - 1);
                counts[bin] += 1;
            }
            let total = values.len().max(1) as f64;
            let mut points = Vec::with_capacity(counts.len() * 2);
            for (bin, &count) in counts.iter().enumerate() {
                let share = count as f64 / total;
                top = top.max(share);
                let left = low + bin as f64 * width;
                points.push((left, share));
                points.push((left + width, share));
            }
            Series {
                name: format!("{name} ({} logs)", values.len()),
                points,
            }
        })
        .collect();
    line_chart(
        path,
        title,
        (x_label, "share of the group"),
        (low..high, 0.0..(top * 1.1).max(1e-6)),
        &series,
    )
}

/// Grouped horizontal bars: one row per category (top to bottom in the order given), one
/// bar per group in each row, e.g. the share of each browser in real and generated logs
/// side by side. Long category names are cut to fit.
pub fn bar_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    categories: &[String],
    groups: &[(&str, &[f64])],
) -> anyhow::Result<()> {
    register_font();
    let height = (120 + 28 * categories.len().max(1) * groups.len().max(1)).clamp(300, 1400) as u32;
    let root = BitMapBackend::new(path, (SIZE.0, height)).into_drawing_area();
    draw_bars(&root, title, x_label, categories, groups)
        .map_err(|error| anyhow::anyhow!("failed to draw {}: {error}", path.display()))?;
    root.present()
        .with_context(|| format!("failed to write {}", path.display()))
}

fn draw_bars(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    x_label: &str,
    categories: &[String],
    groups: &[(&str, &[f64])],
) -> Result<(), Box<dyn std::error::Error>> {
    const LABEL_CHARS: usize = 36;
    root.fill(&WHITE)?;
    let rows = categories.len().max(1) as f64;
    let top = groups
        .iter()
        .flat_map(|(_, values)| values.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-6);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(300)
        .build_cartesian_2d(0.0..top * 1.1, rows..0.0)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .light_line_style(TRANSPARENT)
        .x_desc(x_label)
        .label_style(("sans-serif", 14))
        .draw()?;
    let band = 0.8 / groups.len().max(1) as f64;
    for (index, (name, values)) in groups.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        chart
            .draw_series(values.iter().enumerate().map(|(row, &value)| {
                let y = row as f64 + 0.1 + index as f64 * band;
                Rectangle::new([(0.0, y), (value, y + band)], colour.filled())
            }))?
            .label(name.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    let style = TextStyle::from(("sans-serif", 13)).pos(Pos::new(HPos::Right, VPos::Center));
    for (row, category) in categories.iter().enumerate() {
        let label: String = match category.chars().count() > LABEL_CHARS {
            true => category
                .chars()
                .take(LABEL_CHARS - 1)
                .chain(['…'])
                .collect(),
            false => category.clone(),
        };
        let (x, y) = chart.backend_coord(&(0.0, row as f64 + 0.5));
        root.draw(&Text::new(label, (x - 8, y), style.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tick_label;

    #[test]
    fn tick_labels_drop_needless_decimals() {
        assert_eq!(tick_label(2500.0, 2500.0), "2500");
        assert_eq!(tick_label(0.1, 1.0), "0.1");
        assert_eq!(tick_label(1.0, 1.0), "1");
        assert_eq!(tick_label(0.25, 1.0), "0.25");
        assert_eq!(tick_label(-0.0001, 1.0), "0");
        assert_eq!(tick_label(1.85, 1.8), "1.85");
    }
}
