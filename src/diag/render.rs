//! Renders diagnostics for a terminal or a test snapshot, with ariadne.
//!
//! The shape, for every diagnostic:
//!
//! ```text
//! error[E0001]: expected a train setting, found `epoch`
//!    ╭─[ examples/digits.dl:16:3 ]
//!    │
//! 16 │   epoch 20
//!    │   ──┬──
//!    │     ╰──── not a train setting
//!    │
//!    │ help: did you mean `epochs`?
//! ───╯
//! ```
//!
//! Spans are byte offsets (ariadne is told so), so a non-ASCII character
//! earlier on the line does not shift the caret. A diagnostic with no label
//! (a missing data file, say) renders as its header line alone, plus help
//! and notes.

use std::ops::Range;

use ariadne::{Color, Config, IndexType, Label, Report, ReportKind, Source};

use super::Diagnostic;

/// Renders `diags` against the source text `src` of file `path`, without
/// colour: for tests, logs and pipes.
pub fn render(diags: &[Diagnostic], path: &str, src: &str) -> String {
    diags
        .iter()
        .map(|d| render_one(d, path, src, false))
        .collect()
}

/// Like [`render`], with ANSI colours for a terminal.
pub fn render_color(diags: &[Diagnostic], path: &str, src: &str) -> String {
    diags
        .iter()
        .map(|d| render_one(d, path, src, true))
        .collect()
}

fn render_one(d: &Diagnostic, path: &str, src: &str, color: bool) -> String {
    let header = if color {
        format!(
            "\x1b[1;31merror[{}]\x1b[0m\x1b[1m: {}\x1b[0m\n",
            d.code, d.message
        )
    } else {
        format!("error[{}]: {}\n", d.code, d.message)
    };
    let Some(primary) = d.primary_span().or(d.labels.first().map(|l| l.span)) else {
        let mut out = header;
        if let Some(help) = &d.help {
            out += &format!("  help: {help}\n");
        }
        for note in &d.notes {
            out += &format!("  note: {note}\n");
        }
        return out;
    };

    let range = |s: super::Span| -> Range<usize> {
        // Clamp to the source and to char boundaries: a span from a stale
        // or foreign source must not make rendering panic.
        let fix = |mut i: usize| {
            i = i.min(src.len());
            while !src.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let (a, b) = (fix(s.start), fix(s.end));
        a..b.max(a)
    };
    let config = Config::default()
        .with_color(color)
        .with_index_type(IndexType::Byte);
    let mut report = Report::build(ReportKind::Error, (path, range(primary)))
        .with_config(config)
        .with_message(&d.message);
    // ariadne starts a new source group whenever a label's line goes
    // backwards in label order, so order the labels by position.
    let mut labels: Vec<_> = d.labels.iter().collect();
    labels.sort_by_key(|l| (l.span.start, l.span.end));
    for (order, label) in labels.into_iter().enumerate() {
        let mut l = Label::new((path, range(label.span)))
            .with_message(&label.message)
            .with_order(order as i32);
        if color {
            l = l.with_color(if label.primary {
                Color::Red
            } else {
                Color::Blue
            });
        }
        report = report.with_label(l);
    }
    if let Some(help) = &d.help {
        report = report.with_help(help);
    }
    for note in &d.notes {
        report = report.with_note(note);
    }
    let mut buf = Vec::new();
    report
        .finish()
        .write((path, Source::from(src)), &mut buf)
        .expect("internal: writing a report to memory cannot fail");
    let body = String::from_utf8_lossy(&buf);
    // ariadne's header is `Error: msg`; ours carries the code rustc-style.
    let body = body.split_once('\n').map_or("", |(_, rest)| rest);
    let body = body
        .lines()
        .map(|line| lowercase_prefix(line) + "\n")
        .collect::<String>()
        // In colour, the word is wrapped in escape codes.
        .replace("Help\x1b[0m:", "help\x1b[0m:")
        .replace("Note\x1b[0m:", "note\x1b[0m:");
    header + &body
}

/// ariadne writes `Help:` and `Note:`; dlc's messages are lowercase.
fn lowercase_prefix(line: &str) -> String {
    for (from, to) in [("│ Help", "│ help"), ("│ Note", "│ note")] {
        if let Some(i) = line.find(from) {
            // Only in the margin: nothing but spaces before the bar.
            if line[..i].chars().all(|c| c == ' ') {
                return format!("{}{}{}", &line[..i], to, &line[i + from.len()..]);
            }
        }
    }
    line.to_string()
}
