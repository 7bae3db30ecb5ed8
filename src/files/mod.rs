//! Files, the first thing backed up: the filesystem walk that feeds a snapshot (with its
//! pre-scan for progress totals), the one glob matcher that selects paths, the confined
//! restore that writes a snapshot's files back, and `dump`, which hands them out as bytes or a
//! tar archive. Docker volume data and the host profile's files go through the same walk and
//! the same restore.

pub mod dump;
pub mod pattern;
pub mod prescan;
pub mod restore;
pub mod walk;
