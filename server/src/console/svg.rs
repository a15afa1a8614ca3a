//! Small inline SVG charts for the console's pages: bars, lines over time, and days left.
//!
//! Charts are plain markup built from strings, like the pages around them, so they need no
//! script and no asset. Every label goes through [`esc`]: series and bar names come from
//! scenario ids, release names and dataset names, which operators and providers choose.

use super::page::esc;

/// Width of every chart, in SVG user units (the page scales it down on narrow screens).
const WIDTH: f64 = 720.0;
/// Room on the left for the axis labels.
const LEFT: f64 = 150.0;
/// Room on the right of the plotting area.
const RIGHT: f64 = 20.0;
/// Colours of the lines, in order; a chart with more series reuses them.
const PALETTE: [&str; 6] = [
    "#123a5e", "#2e7d32", "#b26a00", "#6a1b9a", "#00838f", "#5d4037",
];
/// The colour of what is late or spent beyond its limit.
const RED: &str = "#a40000";

/// A number as short text: integers without decimals, others with up to three.
fn num(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The opening tag of a chart `height` units tall, with its accessible title.
fn open(height: f64, title: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" style="max-width:100%;height:auto" font-size="12" font-family="system-ui,sans-serif"><title>{}</title>"#,
        esc(title)
    )
}

/// A vertical bar chart: one bar per `(label, value)`, labels under the bars (every n-th when
/// they would not fit).
pub(super) fn bars(title: &str, bars: &[(String, f64)]) -> String {
    let height = 220.0;
    let (top, bottom) = (20.0, 170.0);
    let max = bars.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { (bottom - top) / max } else { 0.0 };
    let left = 40.0;
    let slot = (WIDTH - left - RIGHT) / bars.len().max(1) as f64;
    // Labels are about 70 units wide: show one every `step` bars so they do not overlap.
    let step = ((70.0 / slot).ceil() as usize).max(1);
    let mut out = open(height, title);
    out.push_str(&format!(
        r##"<line x1="{left}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#888"/><text x="4" y="{}">{}</text><text x="4" y="{bottom}">0</text>"##,
        WIDTH - RIGHT,
        top + 4.0,
        num(max)
    ));
    for (i, (label, value)) in bars.iter().enumerate() {
        let h = value.max(0.0) * scale;
        let x = left + slot * i as f64;
        out.push_str(&format!(
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#123a5e"><title>{}: {}</title></rect>"##,
            x + slot * 0.15,
            bottom - h,
            slot * 0.7,
            esc(label),
            num(*value)
        ));
        if i % step == 0 {
            out.push_str(&format!(
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x + slot / 2.0,
                bottom + 16.0,
                esc(label)
            ));
        }
    }
    out.push_str("</svg>");
    out
}

/// One line of a [`lines`] chart: points `(x, y)` in order of x (x is a time in seconds), and
/// the limit drawn dashed when known.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Series {
    /// What the line is (shown in the legend).
    pub(super) name: String,
    /// `(seconds since the epoch, value)`, oldest first.
    pub(super) points: Vec<(i64, f64)>,
    /// The value the line must stay under (a budget's total).
    pub(super) limit: Option<f64>,
}

/// A step chart of `series` over time, with its limits dashed and a legend; `x_label` formats
/// an x value for the axis.
pub(super) fn lines(title: &str, series: &[Series], x_label: impl Fn(i64) -> String) -> String {
    let legend_rows = series.len() as f64;
    let (top, bottom) = (20.0, 200.0);
    let height = bottom + 30.0 + 16.0 * legend_rows;
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x_min, x_max) = xs.fold((i64::MAX, i64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1).chain(s.limit))
        .fold(0.0_f64, f64::max);
    let mut out = open(height, title);
    if x_min > x_max || y_max <= 0.0 {
        out.push_str(r#"<text x="10" y="40">-</text></svg>"#);
        return out;
    }
    let span = (x_max - x_min).max(1) as f64;
    let px = |x: i64| LEFT + (x - x_min) as f64 / span * (WIDTH - LEFT - RIGHT);
    let py = |y: f64| bottom - y / y_max * (bottom - top);
    out.push_str(&format!(
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#888"/><line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#888"/><text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{bottom}" text-anchor="end">0</text><text x="{LEFT}" y="{}">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>"##,
        WIDTH - RIGHT,
        LEFT - 4.0,
        top + 4.0,
        num(y_max),
        LEFT - 4.0,
        bottom + 16.0,
        esc(&x_label(x_min)),
        WIDTH - RIGHT,
        bottom + 16.0,
        esc(&x_label(x_max)),
    ));
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut path = String::new();
        let mut last: Option<f64> = None;
        for &(x, y) in &s.points {
            // A step: the value holds until the next debit changes it.
            match last {
                None => path.push_str(&format!("M{:.1},{:.1}", px(x), py(y))),
                Some(_) => path.push_str(&format!(" H{:.1} V{:.1}", px(x), py(y))),
            }
            last = Some(y);
        }
        if last.is_some() {
            path.push_str(&format!(" H{:.1}", WIDTH - RIGHT));
        }
        let over = matches!((last, s.limit), (Some(y), Some(limit)) if y > limit);
        out.push_str(&format!(
            r#"<path d="{path}" fill="none" stroke="{}" stroke-width="2"/>"#,
            if over { RED } else { colour }
        ));
        if let Some(limit) = s.limit {
            out.push_str(&format!(
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="{colour}" stroke-dasharray="4 3"/>"#,
                WIDTH - RIGHT,
                y = py(limit)
            ));
        }
        let row = bottom + 34.0 + 16.0 * i as f64;
        out.push_str(&format!(
            r#"<rect x="{LEFT}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{row}">{}{}</text>"#,
            row - 9.0,
            LEFT + 14.0,
            esc(&s.name),
            match (last, s.limit) {
                (Some(y), Some(limit)) => format!(" ({} / {})", num(y), num(limit)),
                (Some(y), None) => format!(" ({})", num(y)),
                _ => String::new(),
            }
        ));
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars of days left per `(label, days)`: negative days are overdue and drawn red
/// to the left of the zero line.
pub(super) fn days_left(title: &str, items: &[(String, i64)]) -> String {
    let row = 22.0;
    let height = 20.0 + row * items.len().max(1) as f64;
    let most = items
        .iter()
        .map(|(_, d)| d.unsigned_abs())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let zero = LEFT + (WIDTH - LEFT - RIGHT) * 0.25;
    let unit_left = (zero - LEFT) / most;
    // Room is kept right of the longest bar for its number.
    let unit_right = (WIDTH - RIGHT - 40.0 - zero) / most;
    let mut out = open(height, title);
    out.push_str(&format!(
        r##"<line x1="{zero}" y1="4" x2="{zero}" y2="{}" stroke="#888"/>"##,
        height - 4.0
    ));
    for (i, (label, days)) in items.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let (x, w, colour) = if *days < 0 {
            let w = days.unsigned_abs() as f64 * unit_left;
            (zero - w, w, RED)
        } else {
            (zero, (*days as f64 * unit_right).max(1.0), "#2e7d32")
        };
        out.push_str(&format!(
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="14" fill="{colour}"><title>{}: {days}</title></rect><text x="{:.1}" y="{:.1}" fill="{colour}">{days}</text>"#,
            LEFT - 6.0,
            y + 11.0,
            esc(label),
            esc(label),
            x + w + 4.0,
            y + 11.0,
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_in_every_chart() {
        let evil = "<script>x</script>".to_string();
        let charts = [
            bars("t", &[(evil.clone(), 3.0)]),
            lines(
                "t",
                &[Series {
                    name: evil.clone(),
                    points: vec![(0, 0.5), (10, 1.0)],
                    limit: Some(2.0),
                }],
                |x| x.to_string(),
            ),
            days_left("t", &[(evil, -2)]),
        ];
        for chart in charts {
            assert!(!chart.contains("<script>"), "{chart}");
            assert!(chart.contains("&lt;script&gt;"), "{chart}");
            assert!(chart.starts_with("<svg") && chart.ends_with("</svg>"));
        }
    }

    #[test]
    fn overdue_reviews_are_red_and_others_are_not() {
        let chart = days_left("d", &[("late".into(), -3), ("soon".into(), 4)]);
        let late = chart.find(">late<").expect("late row");
        let soon = chart.find(">soon<").expect("soon row");
        assert!(chart[late..soon].contains(RED), "{chart}");
        assert!(!chart[soon..].contains(RED), "{chart}");
    }

    #[test]
    fn a_line_over_its_limit_turns_red_and_bars_scale_to_the_largest() {
        let over = lines(
            "l",
            &[Series {
                name: "s".into(),
                points: vec![(0, 1.0), (5, 3.0)],
                limit: Some(2.0),
            }],
            |x| x.to_string(),
        );
        assert!(over.contains(&format!(r#"stroke="{RED}""#)), "{over}");
        let under = lines(
            "l",
            &[Series {
                name: "s".into(),
                points: vec![(0, 1.0)],
                limit: Some(2.0),
            }],
            |x| x.to_string(),
        );
        assert!(!under.contains(RED), "{under}");
        let chart = bars("b", &[("a".into(), 1.0), ("b".into(), 4.0)]);
        assert!(
            chart.contains(r#"height="150.0""#),
            "tallest bar fills: {chart}"
        );
        assert!(
            chart.contains(r#"height="37.5""#),
            "a quarter of it: {chart}"
        );
    }
}
