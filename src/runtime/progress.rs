//! The training progress bar: drawn on stderr only when stderr is a
//! terminal, so logs, pipes and CI output stay clean; the training driver
//! calls it the same way in both cases.

use std::borrow::Cow;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar over `total` steps, or nothing when stderr is not a
/// terminal.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(total_steps: u64, label: &str) -> Progress {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(total_steps)
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
        )
        .expect("internal: progress template is valid")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        Progress { bar }
    }

    /// Whether a bar is drawn (stderr is a terminal).
    pub fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Text after the bar (the latest loss, say).
    pub fn set_message(&self, msg: impl Into<Cow<'static, str>>) {
        self.bar.set_message(msg);
    }

    /// Prints a line to stderr without tearing the bar (above it when one is
    /// drawn).
    pub fn println(&self, line: &str) {
        if self.is_visible() {
            self.bar.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// Leaves the finished bar on screen.
    pub fn finish(&self) {
        self.bar.finish();
    }
}
