//! Terminal rendering of library progress: an indicatif bar on stderr when it is a terminal,
//! nothing otherwise; warnings always go to stderr, above the bar.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lifeboat::progress::Progress;

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(quiet: bool) -> Bar {
        let visible = !quiet && std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr_with_hz(8)
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        Bar { bar }
    }

    /// Print something without tearing the bar.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }
}

impl Progress for Bar {
    fn start(&self, phase: &str, total: Option<u64>) {
        self.bar.reset();
        match total {
            Some(t) => {
                self.bar.set_length(t);
                self.bar.set_style(
                    ProgressStyle::with_template("{prefix:>9} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta} {wide_msg}")
                        .expect("template")
                        .progress_chars("=> "),
                );
            }
            None => {
                self.bar.unset_length();
                self.bar.set_style(
                    ProgressStyle::with_template("{prefix:>9} {spinner} {binary_bytes} {binary_bytes_per_sec} {elapsed} {wide_msg}").expect("template"),
                );
            }
        }
        self.bar.set_prefix(phase.to_string());
        self.bar.enable_steady_tick(Duration::from_millis(250));
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn item(&self, name: &str) {
        if !self.bar.is_hidden() {
            self.bar.set_message(name.to_string());
        }
    }

    /// Warnings are shown in every mode (`--quiet` keeps errors and warnings; with `--json`
    /// they go to stderr, apart from the JSON on stdout).
    fn warn(&self, message: &str) {
        self.bar.suspend(|| super::log::warn(message));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
