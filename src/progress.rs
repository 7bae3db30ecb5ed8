//! Progress reporting from the library to whoever renders it (the CLI draws indicatif bars).
//! The library calls these hooks from worker threads; implementations must be cheap.

/// Receives progress of a long operation. All methods have empty defaults.
pub trait Progress: Send + Sync {
    /// A new phase starts; `total` bytes are expected when known.
    fn start(&self, _phase: &str, _total: Option<u64>) {}
    /// `bytes` more were processed.
    fn advance(&self, _bytes: u64) {}
    /// One more item (file) was finished.
    fn item(&self, _name: &str) {}
    /// A non-fatal problem worth telling the user about.
    fn warn(&self, _message: &str) {}
    /// The phase ended.
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {}
