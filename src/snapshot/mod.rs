//! The snapshot format: the entry model every source produces, the snapshot description with
//! its deployment and host sections, groups and internal tags, the tree stream that stores
//! entries, the pipeline that drives content into the repository, and stored content read back.
//! It sits below the things backed up (files, docker, host, models) and the operations: it
//! imports only `repo`, `chunk`, `crypto` and the shared leaves.

pub mod archive;
pub mod content;
pub mod deployment;
pub mod diff;
pub mod entry;
pub mod group;
pub mod host;
pub mod hostcache;
pub mod manifest;
pub mod pipeline;
pub mod select;
pub mod tags;
pub mod tree;

pub use entry::{Content, Entry, Kind};
pub use manifest::{Snapshot, Summary};
