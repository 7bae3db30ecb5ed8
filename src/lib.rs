//! lifeboat: encrypted, deduplicated snapshots of ML deployments on Docker hosts.
//!
//! The library holds the whole engine; `src/main.rs` and `src/cli/` are a thin shell over it.
//! Modules are layered, and imports flow downward only (`scripts/layers` checks it):
//!
//! ```text
//! cli ──> ops ──> files | docker | host | models | audit ──> snapshot ──> repo ──> chunk, crypto
//! ```
//!
//! - [`ops`]: operations that combine the rooms below: take a snapshot, apply a host profile,
//!   forget, prune, verify, find, stats, tag, run records and metrics.
//! - One room per thing backed up, each with its capture and its apply: [`files`] (walk, glob
//!   patterns, restore), [`docker`], [`host`], [`models`]; and [`audit`], which reads them.
//! - [`snapshot`]: the format: entries, tree stream, pipeline, the snapshot description with its
//!   deployment and host sections, internal tags, groups and selection, stored content as `Read`.
//! - [`repo`] (keys, packs, index, locks, backend), [`chunk`] and [`crypto`] below it.
//! - Shared leaves anyone may use: [`error`], [`id`], [`escape`], [`util`], [`child`],
//!   [`interrupt`], [`observer`] (with its older name [`progress`]), [`config`].
//!
//! The library never prints, prompts or exits: it reports progress through
//! [`observer::Observer`] and returns [`Error`]s.
#![forbid(unsafe_code)]

pub mod audit;
pub mod bufpool;
pub mod child;
pub mod chunk;
pub mod config;
pub mod crypto;
pub mod docker;
pub mod error;
pub mod escape;
pub mod files;
pub mod host;
pub mod id;
pub mod interrupt;
pub mod models;
pub mod observer;
pub mod ops;
pub mod progress;
pub mod repo;
pub mod snapshot;
pub mod util;

pub use error::{Error, Result};
pub use id::Id;
