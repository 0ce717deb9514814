//! The report's charts: inline SVG written through maud (every label escaped), sized by
//! a viewBox so they scale to the page from phone to desktop width.

use maud::{Markup, html};

/// A number with thousands separators and at most `decimals` decimals.
pub fn num(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if v < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '−');
    }
    out
}

/// `s` cut to a display width of `n` (a CJK character counts 2, others 1), with an
/// ellipsis when cut.
pub fn short(s: &str, n: usize) -> String {
    let width = |c: char| if c as u32 >= 0x2E80 { 2 } else { 1 };
    if s.chars().map(width).sum::<usize>() <= n {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        if used + width(c) > n.saturating_sub(1) {
            break;
        }
        used += width(c);
        out.push(c);
    }
    out.push('…');
    out
}

/// Horizontal bars: one row per (label, value), bars scaled to the largest value.
pub fn bars(rows: &[(String, f64)], decimals: usize, css_class: &str) -> Markup {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-12);
    let row_h = 22.0;
    let height = rows.len() as f64 * row_h + 4.0;
    html! {
        svg.chart.bars.(css_class) viewBox={"0 0 440 " (height)} role="img" preserveAspectRatio="xMinYMin meet" {
            @for (i, (label, value)) in rows.iter().enumerate() {
                @let y = i as f64 * row_h + 2.0;
                @let w = (value.max(0.0) / max) * 200.0;
                text x="0" y=(y + 15.0) class="label" { (short(label, 22)) title { (label) } }
                rect x="170" y=(y + 3.0) width=(format!("{w:.1}")) height="15" class="bar" {}
                text x=(format!("{:.1}", 176.0 + w)) y=(y + 15.0) class="value" { (num(*value, decimals)) }
            }
        }
    }
}

/// A timeline of steps: one row each, a bar from its start to its end, in seconds.
pub fn timeline(steps: &[(String, f64, f64)]) -> Markup {
    let total = steps
        .iter()
        .map(|s| s.1 + s.2)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let row_h = 11.0;
    let height = steps.len() as f64 * row_h + 24.0;
    let scale = 440.0 / total;
    html! {
        svg.chart.timeline viewBox={"0 0 640 " (height)} role="img" preserveAspectRatio="xMinYMin meet" {
            @for (i, (name, start, secs)) in steps.iter().enumerate() {
                @let y = i as f64 * row_h;
                text x="0" y=(y + 9.0) class="small" { (name) }
                rect x=(format!("{:.1}", 190.0 + start * scale)) y=(y + 2.0)
                    width=(format!("{:.2}", (secs * scale).max(0.8))) height="8" class="bar" {
                    title { (name) ": " (num(*start, 2)) " s → " (num(start + secs, 2)) " s (" (num(*secs, 2)) " s)" }
                }
            }
            @let y = steps.len() as f64 * row_h + 14.0;
            line x1="190" y1=(y - 8.0) x2="630" y2=(y - 8.0) class="axis" {}
            text x="190" y=(y + 6.0) class="small" { "0 s" }
            text x="630" y=(y + 6.0) class="small" text-anchor="end" { (num(total, 1)) " s" }
        }
    }
}

/// A waterfall: the base, then each effect up or down, then the result.
pub fn waterfall(base: f64, effects: &[(String, f64)], result: f64) -> Markup {
    let mut level = base;
    let mut lo = base.min(result).min(0.0);
    let mut hi = base.max(result).max(0.0);
    for (_, e) in effects {
        level += e;
        lo = lo.min(level);
        hi = hi.max(level);
    }
    let span = (hi - lo).max(1e-9);
    let y_of = |v: f64| 20.0 + (hi - v) / span * 160.0;
    let n = effects.len() + 2;
    let col = 600.0 / n as f64;
    let mut bars: Vec<(String, f64, f64, &str)> = vec![("基期 base".into(), 0.0, base, "bar")];
    let mut level = base;
    for (label, e) in effects {
        let class = if *e >= 0.0 { "up" } else { "down" };
        bars.push((label.clone(), level, level + e, class));
        level += e;
    }
    bars.push(("本期 current".into(), 0.0, result, "bar"));
    html! {
        svg.chart.waterfall viewBox="0 0 640 230" role="img" preserveAspectRatio="xMinYMin meet" {
            line x1="20" y1=(y_of(0.0)) x2="630" y2=(y_of(0.0)) class="axis" {}
            @for (i, (label, from, to, class)) in bars.iter().enumerate() {
                @let x = 30.0 + i as f64 * col;
                @let (top, bottom) = (y_of(from.max(*to)), y_of(from.min(*to)));
                rect x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{:.1}", col * 0.6))
                    height=(format!("{:.1}", (bottom - top).max(0.5))) class=(*class) {}
                text x=(format!("{:.1}", x + col * 0.3)) y=(format!("{:.1}", top - 4.0)) text-anchor="middle" class="small" {
                    @if i == 0 || i == bars.len() - 1 { (num(*to, 0)) } @else { @if to >= from { "+" } (num(to - from, 0)) }
                }
                text x=(format!("{:.1}", x + col * 0.3)) y="222" text-anchor="middle" class="small" { (label) }
            }
        }
    }
}

/// A heat map of values in [-clamp, clamp]: rows × columns, diverging colours.
pub fn heatmap(rows: &[String], cols: &[String], values: &[Vec<f64>], clamp: f64) -> Markup {
    let cell_w = (500.0 / cols.len().max(1) as f64).min(80.0);
    let cell_h = 24.0;
    let height = rows.len() as f64 * cell_h + 90.0;
    let colour = |v: f64| {
        let t = (v / clamp).clamp(-1.0, 1.0);
        let (r, g, b) = if t >= 0.0 {
            (255.0, 255.0 - 150.0 * t, 255.0 - 170.0 * t)
        } else {
            (255.0 + 170.0 * t, 255.0 + 110.0 * t, 255.0)
        };
        format!("rgb({:.0},{:.0},{:.0})", r, g, b)
    };
    html! {
        svg.chart.heatmap viewBox={"0 0 640 " (height)} role="img" preserveAspectRatio="xMinYMin meet" {
            @for (j, c) in cols.iter().enumerate() {
                @let x = 110.0 + j as f64 * cell_w + cell_w / 2.0;
                text x=(format!("{x:.1}")) y="80" class="small" transform=(format!("rotate(-35 {x:.1} 80)")) { (short(c, 18)) }
            }
            @for (i, r) in rows.iter().enumerate() {
                @let y = 86.0 + i as f64 * cell_h;
                text x="0" y=(y + 16.0) class="label" { (short(r, 14)) }
                @for (j, v) in values[i].iter().enumerate() {
                    @let x = 110.0 + j as f64 * cell_w;
                    rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{:.1}", cell_w - 1.0)) height=(cell_h - 1.0) fill=(colour(*v)) {
                        title { (r) " · " (cols[j]) ": z = " (num(*v, 2)) }
                    }
                    text x=(format!("{:.1}", x + cell_w / 2.0)) y=(y + 16.0) text-anchor="middle" class="small" { (num(*v, 1)) }
                }
            }
        }
    }
}

/// One row of a forest plot: label, estimate, interval, whether the data is enough.
pub struct Interval {
    pub label: String,
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub enough: bool,
}

/// A forest plot of intervals around 0.
pub fn forest(rows: &[Interval]) -> Markup {
    let lo = rows.iter().map(|r| r.low).fold(0.0_f64, f64::min);
    let hi = rows.iter().map(|r| r.high).fold(0.0_f64, f64::max);
    let span = (hi - lo).max(1e-9);
    let x_of = |v: f64| 300.0 + (v - lo) / span * 320.0;
    let row_h = 22.0;
    let height = rows.len() as f64 * row_h + 30.0;
    html! {
        svg.chart.forest viewBox={"0 0 640 " (height)} role="img" preserveAspectRatio="xMinYMin meet" {
            line x1=(format!("{:.1}", x_of(0.0))) y1="0" x2=(format!("{:.1}", x_of(0.0))) y2=(height - 20.0) class="axis" {}
            @for (i, r) in rows.iter().enumerate() {
                @let y = i as f64 * row_h + 12.0;
                @let class = if r.enough { "ci" } else { "ci thin" };
                text x="0" y=(y + 4.0) class="label" { (short(&r.label, 30)) @if !r.enough { " *" } }
                line x1=(format!("{:.1}", x_of(r.low))) y1=(y) x2=(format!("{:.1}", x_of(r.high))) y2=(y) class=(class) {}
                circle cx=(format!("{:.1}", x_of(r.estimate))) cy=(y) r="4" class=(class) {
                    title { (r.label) ": " (num(r.estimate * 100.0, 2)) " pp [" (num(r.low * 100.0, 2)) ", " (num(r.high * 100.0, 2)) "]" }
                }
            }
            text x=(format!("{:.1}", x_of(lo))) y=(height - 4.0) class="small" { (num(lo * 100.0, 1)) " pp" }
            text x=(format!("{:.1}", x_of(0.0))) y=(height - 4.0) text-anchor="middle" class="small" { "0" }
            text x=(format!("{:.1}", x_of(hi))) y=(height - 4.0) text-anchor="end" class="small" { (num(hi * 100.0, 1)) " pp" }
        }
    }
}

/// A sparkline of a series on an axis from zero; `flag` marks the last point.
pub fn sparkline(values: &[f64], flag: bool) -> Markup {
    // From zero, so a change of a few rows in thousands looks like one.
    let lo = values.iter().copied().fold(0.0_f64, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1e-9);
    let n = values.len().max(2) - 1;
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                2.0 + i as f64 * 116.0 / n as f64,
                22.0 - (v - lo) / span * 20.0
            )
        })
        .collect();
    let last = pts.last().cloned().unwrap_or_else(|| "2,12".into());
    let (lx, ly) = last.split_once(',').unwrap_or(("2", "12"));
    html! {
        svg.spark viewBox="0 0 120 24" role="img" {
            polyline points=(pts.join(" ")) class="line" {}
            circle cx=(lx) cy=(ly) r="2.5" class=(if flag { "flag" } else { "dot" }) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_separators_and_signs() {
        assert_eq!(num(1234567.0, 0), "1,234,567");
        assert_eq!(num(-1234.5, 1), "−1,234.5");
        assert_eq!(num(999.0, 0), "999");
        assert_eq!(num(-0.0001, 2), "0.00");
        assert_eq!(num(f64::NAN, 0), "—");
    }

    #[test]
    fn short_counts_cjk_as_two() {
        assert_eq!(short("abc", 3), "abc");
        assert_eq!(short("abcd", 3), "ab…");
        assert_eq!(short("香蕉苹果", 5), "香蕉…");
    }

    #[test]
    fn labels_are_escaped() {
        let svg = bars(&[("<script>".into(), 1.0)], 0, "x").into_string();
        assert!(
            svg.contains("&lt;script&gt;") && !svg.contains("<script>"),
            "{svg}"
        );
    }
}
