//! Cooperative cancellation. The CLI turns SIGINT/SIGTERM into a flag; long-running loops
//! check it and stop cleanly (temporary files removed, locks released, nothing half-written
//! under a final name) by returning [`Error::Interrupted`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use crate::error::{Error, Result};

static FLAG: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// The shared flag, for registering signal handlers.
pub fn flag() -> Arc<AtomicBool> {
    FLAG.clone()
}

pub fn is_set() -> bool {
    FLAG.load(Ordering::Relaxed)
}

/// Ask running work to stop (what the signal handler does).
pub fn request() {
    FLAG.store(true, Ordering::SeqCst);
}

/// `Err(Interrupted)` once a stop was requested.
pub fn check() -> Result<()> {
    if is_set() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}
