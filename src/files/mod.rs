//! Files: the filesystem walk that feeds a snapshot (with its pre-scan for progress totals) and
//! the glob patterns that select paths. Docker volume data and the host profile's files go
//! through the same walk.

pub mod pattern;
pub mod prescan;
pub mod walk;
