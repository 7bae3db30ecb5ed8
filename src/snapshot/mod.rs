//! Snapshots: the entry model every source produces, the snapshot description, the tree
//! stream that stores entries, and the pipeline that drives content into the repository.

pub mod deployment;
pub mod entry;
pub mod group;
pub mod host;
pub mod manifest;
pub mod pipeline;
pub mod select;
pub mod tags;
pub mod tree;

pub use entry::{Content, Entry, Kind};
pub use manifest::{Snapshot, Summary};
