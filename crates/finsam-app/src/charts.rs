//! Charts as inline SVG, rendered in Rust: no JavaScript, no fonts or files from elsewhere.
//! Every chart has a title (shown, and as the SVG's `<title>` for screen readers); the page
//! puts a table with the same numbers beside it.

use finsam_domain::Amount;
use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive;

const WIDTH: f64 = 640.0;
const LABEL: f64 = 230.0;
const ROW: f64 = 16.0;

/// Pixels are the only place a float appears: money stays exact everywhere else.
fn px(a: Amount) -> f64 {
    a.decimal().to_f64().unwrap_or(0.0)
}

/// Whole kronor with Swedish grouping, for axis labels.
fn kr(a: Amount) -> String {
    let whole = Amount::from_decimal(a.decimal().round());
    let text = whole.human_number();
    text.trim_end_matches(",00").to_string()
}

/// Horizontal bars, two per row (e.g. budget and utfall), with a legend.
pub fn paired_bars(id: &str, title: &str, legend: (&str, &str), rows: &[(String, Amount, Amount)]) -> Markup {
    let max = rows.iter().flat_map(|(_, a, b)| [px(*a), px(*b)]).fold(0.0f64, f64::max).max(1.0);
    let scale = (WIDTH - LABEL - 90.0) / max;
    let height = 28.0 + rows.len() as f64 * (2.0 * ROW + 10.0);
    let title_id = format!("{id}-title");
    html! {
        svg class="chart" role="img" aria-labelledby=(title_id) viewBox={"0 0 " (WIDTH) " " (height)} width=(WIDTH) height=(height) xmlns="http://www.w3.org/2000/svg" {
            title id=(title_id) { (title) }
            rect x=(LABEL) y="4" width="10" height="10" class="a" {}
            text x=(LABEL + 14.0) y="13" { (legend.0) }
            rect x=(LABEL + 120.0) y="4" width="10" height="10" class="b" {}
            text x=(LABEL + 134.0) y="13" { (legend.1) }
            @for (i, (label, a, b)) in rows.iter().enumerate() {
                @let y = 24.0 + i as f64 * (2.0 * ROW + 10.0);
                text x=(LABEL - 6.0) y=(y + ROW + 4.0) text-anchor="end" { (shorten(label, 34)) }
                rect x=(LABEL) y=(y) width=(px(*a).max(0.0) * scale) height=(ROW - 2.0) class="a" {}
                text x=(LABEL + px(*a).max(0.0) * scale + 4.0) y=(y + ROW - 4.0) class="v" { (kr(*a)) }
                rect x=(LABEL) y=(y + ROW) width=(px(*b).max(0.0) * scale) height=(ROW - 2.0) class="b" {}
                text x=(LABEL + px(*b).max(0.0) * scale + 4.0) y=(y + 2.0 * ROW - 4.0) class="v" { (kr(*b)) }
            }
        }
    }
}

/// A line through the points (e.g. the bank at each month's end), with the lowest and highest
/// values marked on the axis.
pub fn line(id: &str, title: &str, points: &[(String, Amount)]) -> Markup {
    let (height, left, bottom) = (220.0, 90.0, 190.0);
    let values: Vec<f64> = points.iter().map(|(_, a)| px(*a)).collect();
    let hi = values.iter().copied().fold(f64::MIN, f64::max).max(0.0);
    let lo = values.iter().copied().fold(f64::MAX, f64::min).min(0.0);
    let span = (hi - lo).max(1.0);
    let step = (WIDTH - left - 20.0) / (points.len().max(2) - 1) as f64;
    let y = |v: f64| bottom - (v - lo) / span * (bottom - 20.0);
    let path: Vec<String> =
        values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", left + i as f64 * step, y(*v))).collect();
    let title_id = format!("{id}-title");
    let (lo_a, hi_a) = (
        points.iter().map(|(_, a)| *a).min().unwrap_or_default().min(Amount::ZERO),
        points.iter().map(|(_, a)| *a).max().unwrap_or_default().max(Amount::ZERO),
    );
    html! {
        svg class="chart" role="img" aria-labelledby=(title_id) viewBox={"0 0 " (WIDTH) " " (height)} width=(WIDTH) height=(height) xmlns="http://www.w3.org/2000/svg" {
            title id=(title_id) { (title) }
            line x1=(left) y1=(y(0.0)) x2=(WIDTH - 20.0) y2=(y(0.0)) class="axis" {}
            text x=(left - 6.0) y=(y(hi) + 4.0) text-anchor="end" { (kr(hi_a)) }
            text x=(left - 6.0) y=(y(lo) + 4.0) text-anchor="end" { (kr(lo_a)) }
            polyline points=(path.join(" ")) class="line" {}
            @for (i, (label, _)) in points.iter().enumerate() {
                text x=(left + i as f64 * step) y=(bottom + 18.0) text-anchor="middle" { (label) }
            }
        }
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max - 1).collect::<String>())
    }
}
