//! How the live view looks: colours (or none, under `NO_COLOR`), glyphs, and the indicatif
//! styles of the header and of a running step's row, whose clocks tick on their own.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use console::Style;
use indicatif::{ProgressState, ProgressStyle};

use crate::event::millis;

use super::phrase::{Tone, format_human};
use super::rto::RtoClock;

/// Braille spinner frames; the last is shown when a bar finishes (ours are cleared first).
const FRAMES: [&str; 11] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", " "];

/// Colours on or off, decided once: every styled string goes through here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paint {
    pub(crate) color: bool,
}

impl Paint {
    fn apply(self, style: Style, text: &str) -> String {
        style.force_styling(self.color).apply_to(text).to_string()
    }

    pub(crate) fn bold(self, text: &str) -> String {
        self.apply(Style::new().bold(), text)
    }

    pub(crate) fn dim(self, text: &str) -> String {
        self.apply(Style::new().dim(), text)
    }

    pub(crate) fn warn(self, text: &str) -> String {
        self.apply(Style::new().yellow(), text)
    }

    pub(crate) fn bad(self, text: &str) -> String {
        self.apply(Style::new().red().bold(), text)
    }

    /// The mode, loud: `[DRILL]` and `[ROUTINE]` in yellow, `[DRY RUN]` in cyan, `[INCIDENT]` in red; the
    /// brackets keep it loud without colour.
    pub(crate) fn mode(self, label: &str) -> String {
        let style = if label.starts_with("DRY RUN") {
            Style::new().cyan().bold()
        } else if label == "INCIDENT" {
            Style::new().red().bold()
        } else {
            Style::new().yellow().bold()
        };
        self.apply(style, &format!("[{label}]"))
    }

    /// A permanent line: a glyph for its tone, then the text (`✓ restore ok 41.2s`).
    pub(crate) fn line(self, tone: Tone, text: &str) -> String {
        match tone {
            Tone::Info => format!("{} {text}", self.dim("·")),
            Tone::Good => format!("{} {text}", self.apply(Style::new().green().bold(), "✓")),
            Tone::Bad => format!("{} {}", self.bad("✗"), self.apply(Style::new().red(), text)),
            Tone::Quiet => self.dim(&format!("- {text}")),
            Tone::Warn => format!("{} {}", self.warn("!"), self.warn(text)),
        }
    }

    /// An output line of a step (`  restore | text`), for `--verbose` and failure tails.
    pub(crate) fn output(self, step: &str, text: &str) -> String {
        format!("  {} {text}", self.dim(&format!("{step} |")))
    }

    fn frames(self) -> Vec<String> {
        FRAMES
            .iter()
            .map(|f| self.apply(Style::new().cyan(), f))
            .collect()
    }

    /// A running step, check or rollback: `⠋ restore  12.3s / 15m  last output line`.
    ///
    /// The label is padded to `width` (shared by every row, so the clocks line up). The clock
    /// turns to a warning once past `budget`, or at once when `over` (the engine said so).
    pub(crate) fn row(
        self,
        label: String,
        width: Arc<AtomicUsize>,
        budget: Option<u64>,
        over: bool,
    ) -> ProgressStyle {
        let frames = self.frames();
        let frames: Vec<&str> = frames.iter().map(String::as_str).collect();
        ProgressStyle::with_template("{spinner} {label}  {clock}  {wide_msg}")
            .expect("the row template is valid")
            .tick_strings(&frames)
            .with_key(
                "label",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let pad = width.load(Ordering::Relaxed);
                    let _ = write!(w, "{label:<pad$}");
                },
            )
            .with_key(
                "clock",
                move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let elapsed = millis(state.elapsed());
                    let _ = w.write_str(&self.clock(elapsed, budget, over));
                },
            )
    }

    /// `12.3s / 15m`; past the budget `16m 2s / 15m (over)` in the warning colour.
    pub(crate) fn clock(self, elapsed: u64, budget: Option<u64>, over: bool) -> String {
        match budget {
            None => format_human(elapsed),
            Some(budget) if over || elapsed > budget => self.warn(&format!(
                "{} / {} (over)",
                format_human(elapsed),
                format_human(budget)
            )),
            Some(budget) => format!(
                "{} {}",
                format_human(elapsed),
                self.dim(&format!("/ {}", format_human(budget)))
            ),
        }
    }

    /// The header: `postgres-restore@2.1.0 [DRILL] staging  RTO 1m 2s / 5m`, the RTO part
    /// computed at each draw from `rto`.
    pub(crate) fn header(self, title: &str, rto: RtoClock) -> ProgressStyle {
        let title = title.to_owned();
        ProgressStyle::with_template("{title}  {rto}")
            .expect("the header template is valid")
            .with_key(
                "title",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&title);
                },
            )
            .with_key(
                "rto",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&self.rto(&rto));
                },
            )
    }

    /// `RTO 1m 2s / 5m`: plain under 80% of the objective (where the engine warns), yellow
    /// from there, red past it; `(stopped)` once the clock's stop step is done. A dry run
    /// measures no recovery, so it shows no figure that could be read as one.
    pub(crate) fn rto(self, rto: &RtoClock) -> String {
        if rto.dry_run {
            return self.dim("RTO not measured in a dry run");
        }
        let Some(elapsed) = rto.elapsed_ms() else {
            return self.dim("RTO clock not started");
        };
        let mut text = format!("RTO {}", format_human(elapsed));
        if let Some(objective) = rto.objective_ms {
            let _ = write!(text, " / {}", format_human(objective));
        }
        if rto.stopped_ms.is_some() {
            text.push_str(" (stopped)");
        }
        match rto.objective_ms {
            Some(objective) if elapsed > objective => self.bad(&text),
            Some(objective) if elapsed.saturating_mul(5) >= objective.saturating_mul(4) => {
                self.warn(&text)
            }
            _ => self.bold(&text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Paint = Paint { color: false };

    #[test]
    fn clocks_say_elapsed_against_budget() {
        assert_eq!(PLAIN.clock(12_300, Some(900_000), false), "12.3s / 15m");
        assert_eq!(
            PLAIN.clock(962_000, Some(900_000), false),
            "16m 2s / 15m (over)"
        );
        assert_eq!(PLAIN.clock(1000, Some(900_000), true), "1s / 15m (over)");
        assert_eq!(PLAIN.clock(1000, None, false), "1s");
    }

    #[test]
    fn the_rto_clock_stops_and_warns_in_words_too() {
        let stopped = RtoClock {
            origin: None,
            objective_ms: Some(300_000),
            stopped_ms: Some(90_000),
            dry_run: false,
        };
        assert_eq!(PLAIN.rto(&stopped), "RTO 1m 30s / 5m (stopped)");
        let dry = RtoClock {
            dry_run: true,
            ..stopped
        };
        assert_eq!(PLAIN.rto(&dry), "RTO not measured in a dry run");
        assert_eq!(PLAIN.rto(&RtoClock::default()), "RTO clock not started");
        let colour = Paint { color: true };
        let late = RtoClock {
            stopped_ms: Some(250_000),
            ..stopped
        };
        assert!(colour.rto(&late).contains("\u{1b}[33m"), "yellow from 80%");
    }

    #[test]
    fn no_color_means_no_escape_codes() {
        for tone in [Tone::Info, Tone::Good, Tone::Bad, Tone::Quiet, Tone::Warn] {
            assert!(!PLAIN.line(tone, "x").contains('\u{1b}'));
        }
        assert_eq!(PLAIN.mode("DRILL"), "[DRILL]");
        assert!(
            Paint { color: true }
                .line(Tone::Bad, "x")
                .contains('\u{1b}')
        );
    }
}
