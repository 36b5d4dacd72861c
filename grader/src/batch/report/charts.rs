//! The report's pictures, drawn by plotters into SVG text. Every bar carries its number as text,
//! and the tables beside the charts hold the same numbers: colour never carries meaning alone.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONT: &str = "sans-serif";
const BAR: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);
const FAILED: RGBColor = RGBColor(0xb8, 0x3b, 0x3b);

/// A histogram of scores in ten bins of 10 % (the last one includes full marks).
pub fn histogram(caption: &str, bins: &[usize; 10], size: (u32, u32)) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw)?;
        let top = bins.iter().copied().max().unwrap_or(0).max(1) as u32;
        let small = size.0 < 400;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, (FONT, if small { 15 } else { 18 }))
            .margin(6)
            .x_label_area_size(if small { 30 } else { 36 })
            .y_label_area_size(if small { 30 } else { 44 })
            // Headroom for the count above the tallest bar.
            .build_cartesian_2d((0u32..9).into_segmented(), 0u32..top + top / 6 + 1)
            .map_err(draw)?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(10)
            .y_labels(5)
            .label_style((FONT, if small { 10 } else { 12 }))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < 10 => format!("{}", i * 10),
                _ => String::new(),
            })
            .y_label_formatter(&|v| format!("{v}"));
        if !small {
            mesh.x_desc("score, % of the maximum (bins of 10)")
                .y_desc("submissions");
        }
        mesh.draw().map_err(draw)?;
        // Bars drawn one by one, in order (plotters' Histogram keeps them in a HashMap): the
        // same results make the same page.
        let margin = if small { 2 } else { 4 };
        chart
            .draw_series(bins.iter().enumerate().map(|(i, &n)| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i as u32), 0),
                        (segment_end(i as u32, 10), n as u32),
                    ],
                    BAR.filled(),
                );
                bar.set_margin(0, 0, margin, margin);
                bar
            }))
            .map_err(draw)?;
        let label = TextStyle::from((FONT, if small { 10 } else { 13 }).into_font())
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(
                bins.iter()
                    .enumerate()
                    .filter(|(_, &n)| n > 0)
                    .map(|(i, &n)| {
                        Text::new(
                            n.to_string(),
                            (SegmentValue::CenterOf(i as u32), n as u32),
                            label.clone(),
                        )
                    }),
            )
            .map_err(draw)?;
        root.present().map_err(draw)?;
    }
    Ok(svg)
}

/// Horizontal bars of percentages, one per labelled item, each with its value written at its
/// end.
pub fn rates(caption: &str, items: &[(String, f64)], width: u32) -> Result<String> {
    let row = 22;
    let height = 60 + row * items.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw)?;
        let longest = items
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let n = items.len().max(1) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, (FONT, 18))
            .margin(6)
            .x_label_area_size(24)
            .y_label_area_size((longest as u32 * 7 + 12).min(width / 2))
            .build_cartesian_2d(0f64..115f64, (0u32..n - 1).into_segmented())
            .map_err(draw)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(6)
            .y_labels(items.len())
            .label_style((FONT, 12))
            .x_label_formatter(&|v| {
                if *v <= 100.0 {
                    format!("{v:.0} %")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| match v {
                // Top to bottom, as the table reads.
                SegmentValue::CenterOf(i) => (n - 1)
                    .checked_sub(*i)
                    .and_then(|at| items.get(at as usize))
                    .map_or(String::new(), |(l, _)| l.clone()),
                _ => String::new(),
            })
            .draw()
            .map_err(draw)?;
        chart
            .draw_series(items.iter().enumerate().map(|(i, (_, rate))| {
                let y = n - 1 - i as u32;
                let mut bar = Rectangle::new(
                    [(0.0, SegmentValue::Exact(y)), (*rate, segment_end(y, n))],
                    FAILED.filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                bar
            }))
            .map_err(draw)?;
        let label = TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(items.iter().enumerate().map(|(i, (_, rate))| {
                let y = n - 1 - i as u32;
                Text::new(
                    format!(" {rate:.0} %"),
                    (*rate, SegmentValue::CenterOf(y)),
                    label.clone(),
                )
            }))
            .map_err(draw)?;
        root.present().map_err(draw)?;
    }
    Ok(svg)
}

/// The far edge of segment `i` of `count`.
fn segment_end(i: u32, count: u32) -> SegmentValue<u32> {
    if i + 1 >= count {
        SegmentValue::Last
    } else {
        SegmentValue::Exact(i + 1)
    }
}

fn draw(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {error}")
}
