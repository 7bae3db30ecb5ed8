//! Terminal rendering of library progress: an indicatif bar on stderr when it is a terminal,
//! nothing otherwise; warnings always go to stderr, above the bar.
//!
//! With a total the bar shows a percentage, bytes done of the total, files done of their
//! total, the rate and an ETA; the name is the file being read now (several readers: the one
//! that started last), or the last one finished for commands that only report finished files;
//! it has a line of its own, so a narrow terminal never squeezes it out.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use lifeboat::observer::{Event, Observer, Warning, WarningKind};

/// How many warnings of each kind a command observed: its exit code depends on them.
#[derive(Debug, Default)]
pub struct Tally {
    damage: AtomicU64,
    incomplete: AtomicU64,
    advice: AtomicU64,
}

impl Tally {
    pub fn count(&self, w: &Warning) {
        let n = match w.kind {
            WarningKind::Damage => &self.damage,
            WarningKind::Incomplete => &self.incomplete,
            WarningKind::Advice => &self.advice,
        };
        n.fetch_add(1, Ordering::Relaxed);
    }

    /// Repository damage was worked around.
    pub fn damage(&self) -> u64 {
        self.damage.load(Ordering::Relaxed)
    }
}

/// An observer that logs warnings and events (no progress), counting the warnings: what the
/// repository reports to outside any one operation's bar.
pub struct Log {
    pub tally: Arc<Tally>,
}

impl Observer for Log {
    fn warn(&self, warning: Warning) {
        self.tally.count(&warning);
        super::log::warn(&warning.message);
    }

    fn event(&self, event: Event) {
        super::log::observed(&event);
    }

    fn describe(&self, error: &lifeboat::Error) -> String {
        super::errors::describe(error)
    }

    fn visible(&self) -> bool {
        false
    }
}

pub struct Bar {
    bar: ProgressBar,
    state: Arc<State>,
    tally: Arc<Tally>,
}

#[derive(Default)]
struct State {
    files_done: AtomicU64,
    /// 0: not known.
    files_total: AtomicU64,
    has_total: AtomicBool,
    shown: Mutex<Shown>,
}

/// Which file name the bar shows.
#[derive(Default, Debug)]
struct Shown {
    /// Whether this phase reports reads (`reading`): then only files being read are named.
    reads: bool,
    /// Files being read now, oldest first.
    in_flight: Vec<String>,
}

impl Shown {
    /// `name` is being read from now on: show it.
    fn reading(&mut self, name: &str) -> String {
        self.reads = true;
        self.in_flight.push(name.to_string());
        name.to_string()
    }

    /// `name` is finished: the name to show instead, if it changes.
    fn finished(&mut self, name: &str) -> Option<String> {
        if !self.reads {
            return Some(name.to_string());
        }
        let i = self.in_flight.iter().position(|n| n == name)?;
        self.in_flight.remove(i);
        // Another file still being read, or none.
        Some(self.in_flight.last().cloned().unwrap_or_default())
    }
}

impl State {
    fn files(&self, w: &mut dyn std::fmt::Write) {
        let done = self.files_done.load(Ordering::Relaxed);
        let total = self.files_total.load(Ordering::Relaxed);
        let _ = match (done, total) {
            (0, 0) => Ok(()),
            (d, 0) => write!(w, "{d} files"),
            (d, t) => write!(w, "{d}/{t} files"),
        };
    }
}

impl Bar {
    pub fn new(quiet: bool, tally: Arc<Tally>) -> Bar {
        let visible = !quiet && std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr_with_hz(8)
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        Bar {
            bar,
            state: Arc::new(State::default()),
            tally,
        }
    }

    /// Print something without tearing the bar.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    fn style(&self, with_total: bool) {
        let state = self.state.clone();
        let template = if with_total {
            "{prefix:>9} [{bar:25}] {percent:>3}% {binary_bytes}/{binary_total_bytes} {files} {binary_bytes_per_sec} eta {eta}\n{wide_msg}"
        } else {
            "{prefix:>9} {spinner} {binary_bytes} {files} {binary_bytes_per_sec} {elapsed}\n{wide_msg}"
        };
        self.bar.set_style(
            ProgressStyle::with_template(template)
                .expect("template")
                .progress_chars("=> ")
                .with_key(
                    "files",
                    move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                        state.files(w);
                    },
                ),
        );
    }
}

impl Observer for Bar {
    fn start(&self, phase: &str, total: Option<u64>) {
        self.bar.reset();
        let s = &self.state;
        s.files_done.store(0, Ordering::Relaxed);
        s.files_total.store(0, Ordering::Relaxed);
        *s.shown.lock().expect("shown") = Shown::default();
        s.has_total.store(total.is_some(), Ordering::Relaxed);
        match total {
            Some(t) => self.bar.set_length(t),
            None => self.bar.unset_length(),
        }
        self.style(total.is_some());
        self.bar.set_message("");
        self.bar.set_prefix(phase.to_string());
        self.bar.enable_steady_tick(Duration::from_millis(250));
    }

    fn totals(&self, bytes: u64, items: u64) {
        self.state.files_total.store(items, Ordering::Relaxed);
        // An estimate may fall short of what is already done.
        self.bar.set_length(bytes.max(self.bar.position()));
        if !self.state.has_total.swap(true, Ordering::Relaxed) {
            self.style(true);
        }
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
        if let Some(len) = self.bar.length() {
            let pos = self.bar.position();
            if pos > len {
                self.bar.set_length(pos);
            }
        }
    }

    fn reading(&self, name: &str) {
        if !self.bar.is_hidden() {
            let msg = self.state.shown.lock().expect("shown").reading(name);
            self.bar.set_message(msg);
        }
    }

    fn item(&self, name: &str) {
        self.state.files_done.fetch_add(1, Ordering::Relaxed);
        if !self.bar.is_hidden()
            && let Some(msg) = self.state.shown.lock().expect("shown").finished(name)
        {
            self.bar.set_message(msg);
        }
    }

    /// Warnings are shown in every mode (`--quiet` keeps errors and warnings; with `--json`
    /// they go to stderr, apart from the JSON on stdout).
    fn warn(&self, warning: Warning) {
        self.tally.count(&warning);
        self.bar.suspend(|| super::log::warn(&warning.message));
    }

    /// Events are logged in every mode, like warnings.
    fn event(&self, event: Event) {
        self.bar.suspend(|| super::log::observed(&event));
    }

    fn describe(&self, error: &lifeboat::Error) -> String {
        super::errors::describe(error)
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn visible(&self) -> bool {
        !self.bar.is_hidden()
    }
}

#[cfg(test)]
mod tests {
    use super::Shown;

    #[test]
    fn the_name_shown_is_a_file_being_read_now() {
        let mut s = Shown::default();
        assert_eq!(s.reading("/big"), "/big");
        assert_eq!(s.reading("/small"), "/small");
        // An unchanged file finished without reading does not replace the name.
        assert_eq!(s.finished("/unchanged"), None);
        // The small one is done; the big one is still being read.
        assert_eq!(s.finished("/small").as_deref(), Some("/big"));
        // Nothing is being read: no name.
        assert_eq!(s.finished("/big").as_deref(), Some(""));
        assert_eq!(s.finished("/unchanged-2"), None);
    }

    #[test]
    fn commands_that_only_report_finished_files_show_the_last_one() {
        let mut s = Shown::default();
        assert_eq!(s.finished("/a").as_deref(), Some("/a"));
        assert_eq!(s.finished("/b").as_deref(), Some("/b"));
    }
}
