//! The one channel from the library to whoever shows its work (the CLI renders it as text,
//! progress bars or JSON, and derives its exit code from what it observed): progress of long
//! operations, non-fatal problems as typed [`Warning`]s, and events of a job (a step started or
//! finished, a hook runs, damage found). The library calls these hooks from worker threads;
//! implementations must be cheap.

use std::fmt;
use std::time::Duration;

/// What kind of non-fatal problem a [`Warning`] is: what it means for the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningKind {
    /// Something an operation set out to read or write was not, completely (a file that
    /// vanished or could not be read during a snapshot): the result is partial.
    Incomplete,
    /// Damage in the repository that the operation worked around (a damaged index or snapshot
    /// file skipped): the data needs checking.
    Damage,
    /// Worth knowing, but nothing was lost (a bind mount outside the snapshot, a symlink given
    /// as a path, a hook after the job failed).
    Advice,
}

/// A non-fatal problem: its kind and the message to show (which names the object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    pub message: String,
}

impl Warning {
    pub fn incomplete(message: impl Into<String>) -> Warning {
        Warning {
            kind: WarningKind::Incomplete,
            message: message.into(),
        }
    }

    pub fn damage(message: impl Into<String>) -> Warning {
        Warning {
            kind: WarningKind::Damage,
            message: message.into(),
        }
    }

    pub fn advice(message: impl Into<String>) -> Warning {
        Warning {
            kind: WarningKind::Advice,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Something that happened in an operation, worth a line in the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A step of a job starts (`hooks`, `snapshot`, `forget`, `prune`, `verify`).
    StepStarted { step: &'static str },
    /// A step of a job ended; `detail` says what it did or why it failed.
    StepFinished {
        step: &'static str,
        ok: bool,
        duration: Duration,
        detail: String,
    },
    /// Hook number `number` (1-based) starts; `name` is its position and program, never its
    /// arguments (a command line may carry a credential).
    HookStarted { number: usize, name: String },
    /// Something the user may want to know that is no problem (a container of the selection
    /// that is not running, ...).
    Notice(String),
    /// Damage that a verification found (one per problem).
    Damage(String),
}

/// Receives progress and events of an operation. All methods have empty defaults.
pub trait Observer: Send + Sync {
    /// A new phase starts; `total` bytes are expected when known.
    fn start(&self, _phase: &str, _total: Option<u64>) {}
    /// The phase's expected totals became known or were revised: `bytes` (what `advance` will
    /// add up to) and `items` (how many `item` calls). A snapshot announces an estimate (the
    /// parent's totals, or a pre-scan's) and the exact figures once its walk is done.
    fn totals(&self, _bytes: u64, _items: u64) {}
    /// `bytes` more were processed.
    fn advance(&self, _bytes: u64) {}
    /// The bytes of this item are being read from now on, until its `item` call: the name to
    /// show. Items that need no reading (unchanged files) get only `item`.
    fn reading(&self, _name: &str) {}
    /// One more item (file) was finished.
    fn item(&self, _name: &str) {}
    /// A non-fatal problem worth telling the user about.
    fn warn(&self, _warning: Warning) {}
    /// Something happened (see [`Event`]).
    fn event(&self, _event: Event) {}
    /// How a library error reads for this receiver (the CLI adds its advice), where the library
    /// keeps the text (a failed step of a job in its run record).
    fn describe(&self, error: &crate::Error) -> String {
        error.to_string()
    }
    /// The phase ended.
    fn finish(&self) {}
    /// Whether anything is shown: a receiver that shows nothing says no, and work done only
    /// for progress (a snapshot's pre-scan of its totals) is skipped.
    fn visible(&self) -> bool {
        true
    }
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {
    fn visible(&self) -> bool {
        false
    }
}

/// Passes everything on to another observer except warnings, which it keeps: for an operation
/// that reports its warnings in its own report (an update's report lists what its snapshot
/// warned about) instead of showing them as they come.
pub struct Collecting<'a> {
    inner: &'a dyn Observer,
    warnings: std::sync::Mutex<Vec<Warning>>,
}

impl<'a> Collecting<'a> {
    pub fn new(inner: &'a dyn Observer) -> Collecting<'a> {
        Collecting {
            inner,
            warnings: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The warnings kept, in the order they came.
    pub fn into_warnings(self) -> Vec<Warning> {
        self.warnings
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Observer for Collecting<'_> {
    fn start(&self, phase: &str, total: Option<u64>) {
        self.inner.start(phase, total);
    }
    fn totals(&self, bytes: u64, items: u64) {
        self.inner.totals(bytes, items);
    }
    fn advance(&self, bytes: u64) {
        self.inner.advance(bytes);
    }
    fn reading(&self, name: &str) {
        self.inner.reading(name);
    }
    fn item(&self, name: &str) {
        self.inner.item(name);
    }
    fn warn(&self, warning: Warning) {
        self.warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(warning);
    }
    fn event(&self, event: Event) {
        self.inner.event(event);
    }
    fn describe(&self, error: &crate::Error) -> String {
        self.inner.describe(error)
    }
    fn finish(&self) {
        self.inner.finish();
    }
    fn visible(&self) -> bool {
        self.inner.visible()
    }
}

/// Passes everything on to `inner`, showing every phase under the name `phase` (a copy that
/// is an export, a restore's dry run that is a check).
pub struct Renamed<'a> {
    pub inner: &'a dyn Observer,
    pub phase: &'static str,
}

impl Observer for Renamed<'_> {
    fn start(&self, _phase: &str, total: Option<u64>) {
        self.inner.start(self.phase, total);
    }
    fn totals(&self, bytes: u64, items: u64) {
        self.inner.totals(bytes, items);
    }
    fn advance(&self, bytes: u64) {
        self.inner.advance(bytes);
    }
    fn reading(&self, name: &str) {
        self.inner.reading(name);
    }
    fn item(&self, name: &str) {
        self.inner.item(name);
    }
    fn warn(&self, warning: Warning) {
        self.inner.warn(warning);
    }
    fn event(&self, event: Event) {
        self.inner.event(event);
    }
    fn describe(&self, error: &crate::Error) -> String {
        self.inner.describe(error)
    }
    fn finish(&self) {
        self.inner.finish();
    }
    fn visible(&self) -> bool {
        self.inner.visible()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collecting_keeps_warnings_and_passes_the_rest_on() {
        struct Count(std::sync::atomic::AtomicU64);
        impl Observer for Count {
            fn advance(&self, bytes: u64) {
                self.0
                    .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
            }
            fn warn(&self, _: Warning) {
                panic!("a collected warning reached the inner observer");
            }
        }
        let inner = Count(std::sync::atomic::AtomicU64::new(0));
        let c = Collecting::new(&inner);
        c.advance(7);
        c.warn(Warning::advice("one"));
        c.warn(Warning::damage("two"));
        let kept = c.into_warnings();
        assert_eq!(inner.0.load(std::sync::atomic::Ordering::Relaxed), 7);
        assert_eq!(
            kept.iter().map(|w| w.message.as_str()).collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert_eq!(kept[1].kind, WarningKind::Damage);
    }
}
