//! The one output path of `pull` and `verify`: JSON lines, plain lines, or lines above a
//! progress bar, each optionally prefixed (a phone's UDID under `watch`). Writes to stdout drop
//! their errors on purpose: a reader that went away (`pull | head`) must not stop an import.

use std::io::Write;
use std::sync::Mutex;

use indicatif::ProgressBar;

/// How lines reach the person (or the script).
pub(super) enum Style {
    Json,
    Plain,
    Bar(ProgressBar),
}

pub(super) struct Printer {
    pub(super) style: Style,
    stdout: Mutex<std::io::Stdout>,
    /// Before each line (already escaped for the terminal); empty for most runs.
    prefix: String,
}

impl Printer {
    pub(super) fn new(style: Style, prefix: String) -> Printer {
        Printer {
            style,
            stdout: Mutex::new(std::io::stdout()),
            prefix,
        }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// One already-encoded JSON line on stdout.
    pub(super) fn write_json(&self, line: &str) {
        if let Ok(mut out) = self.stdout.lock() {
            let _ = writeln!(out, "{line}");
        }
    }

    pub(super) fn json_line(&self, value: &impl serde::Serialize) {
        if let Ok(line) = serde_json::to_string(value) {
            self.write_json(&line);
        }
    }

    /// A line for people: above a live progress bar, else on stdout.
    pub(super) fn line(&self, text: &str) {
        let prefix = &self.prefix;
        match &self.style {
            Style::Bar(bar) if !bar.is_finished() && !bar.is_hidden() => {
                bar.println(format!("{prefix}{text}"));
            }
            _ => {
                if let Ok(mut out) = self.stdout.lock() {
                    let _ = writeln!(out, "{prefix}{text}");
                }
            }
        }
    }

    /// A warning: a JSON event, or a line on stderr.
    pub(super) fn warning(&self, text: &str) {
        match &self.style {
            Style::Json => {
                self.json_line(&serde_json::json!({"event": "warning", "message": text}));
            }
            _ => eprintln!("{}warning: {text}", self.prefix),
        }
    }

    pub(super) fn add_progress(&self, n: u64) {
        if let Style::Bar(bar) = &self.style {
            bar.inc(n);
        }
    }

    pub(super) fn finish_progress(&self) {
        if let Style::Bar(bar) = &self.style {
            bar.finish_and_clear();
        }
    }
}
