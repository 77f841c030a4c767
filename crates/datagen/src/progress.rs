//! A progress line on stderr for the slow steps (drawing 100,000 rows, brotli at quality 11,
//! RSA key generation). On a terminal it is one line rewritten in place with `\r`; otherwise
//! (CI logs, pipes) it prints a start line and a finish line, so logs stay readable.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a terminal line is redrawn at most.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct Progress {
    label: &'static str,
    total: u64,
    done: u64,
    enabled: bool,
    terminal: bool,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// Starts a step of `total` units; prints nothing when `enabled` is false.
    pub(crate) fn start(label: &'static str, total: u64, enabled: bool) -> Self {
        let terminal = enabled && std::io::stderr().is_terminal();
        let mut progress = Self {
            label,
            total,
            done: 0,
            enabled,
            terminal,
            started: Instant::now(),
            last_draw: None,
        };
        if enabled && !terminal {
            eprintln!("{label} ...");
        }
        progress.draw(true);
        progress
    }

    /// Records `n` more units done.
    pub(crate) fn advance(&mut self, n: u64) {
        self.done = (self.done + n).min(self.total);
        self.draw(false);
    }

    /// Ends the step with a summary line.
    pub(crate) fn finish(mut self) {
        self.done = self.total;
        if !self.enabled {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64();
        if self.terminal {
            eprint!("\r\x1b[K");
        }
        eprintln!("{}: done in {secs:.1} s", self.label);
        self.enabled = false;
    }

    fn draw(&mut self, force: bool) {
        if !self.terminal {
            return;
        }
        let now = Instant::now();
        if !force && self.last_draw.is_some_and(|at| now - at < REDRAW_EVERY) {
            return;
        }
        self.last_draw = Some(now);
        let percent = self
            .done
            .saturating_mul(100)
            .checked_div(self.total)
            .unwrap_or(100);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r\x1b[K{}: {}/{} ({percent}%)",
            self.label, self.done, self.total
        );
        let _ = stderr.flush();
    }
}

impl Drop for Progress {
    /// A step abandoned by an error still ends its terminal line, so the error starts on a
    /// fresh one.
    fn drop(&mut self) {
        if self.enabled && self.terminal {
            eprintln!();
        }
    }
}
