//! Progress reporting from the library to whoever renders it (the CLI draws indicatif bars).
//! The library calls these hooks from worker threads; implementations must be cheap.

/// Receives progress of a long operation. All methods have empty defaults.
pub trait Progress: Send + Sync {
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
    fn warn(&self, _message: &str) {}
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

impl Progress for Silent {
    fn visible(&self) -> bool {
        false
    }
}
