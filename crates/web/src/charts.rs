//! Plots as inline SVG, rendered on the server: no chart library, nothing fetched.

use std::fmt::Write as _;

/// Escapes text for SVG/HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An SVG plot this module drew (every text in it escaped), so a page may insert it as markup.
#[derive(Debug, Clone)]
pub struct Svg(String);

impl Svg {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One bar: its label (shown on hover), its value and its CSS class (`ok`, `warn`, `bad`).
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub class: &'static str,
}

/// A bar chart, oldest bar first, scaled to the largest value, with the largest value and the
/// unit written at the top left. Empty input gives an empty chart with a note.
pub fn bars(title: &str, unit: &str, bars: &[Bar]) -> Svg {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\"><title>{}</title>",
        escape(title),
        escape(title)
    );
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    if bars.is_empty() || max <= 0.0 {
        let _ = write!(
            svg,
            "<text x=\"8\" y=\"20\" class=\"note\">nothing to plot yet</text></svg>"
        );
        return Svg(svg);
    }
    let slot = W / bars.len() as f64;
    // Thin bars even when there are few: one wide block reads as a level, not a count.
    let width = (slot * 0.8).clamp(1.0, 24.0);
    for (i, b) in bars.iter().enumerate() {
        let h = (b.value.max(0.0) / max * (H - 24.0)).max(1.0);
        let _ = write!(
            svg,
            "<rect class=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {} {}</title></rect>",
            b.class,
            i as f64 * slot + (slot - width) / 2.0,
            H - h,
            width,
            h,
            escape(&b.label),
            b.value,
            escape(unit)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"14\" class=\"note\">max {} {}</text></svg>",
        max,
        escape(unit)
    );
    Svg(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg = bars(
            "t<",
            "ms",
            &[
                Bar {
                    label: "a<b".into(),
                    value: 10.0,
                    class: "ok",
                },
                Bar {
                    label: "c".into(),
                    value: 5.0,
                    class: "bad",
                },
            ],
        )
        .as_str()
        .to_string();
        assert!(svg.contains("a&lt;b: 10 ms"));
        assert!(svg.contains("aria-label=\"t&lt;\""));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(bars("t", "ms", &[])
            .as_str()
            .contains("nothing to plot yet"));
    }
}
