//! lifeboat: encrypted, deduplicated snapshots of ML deployments on Docker hosts.
//!
//! The library holds the whole engine; `src/main.rs` and `src/cli/` are a thin shell over it.
//! Data flows one way: `source` produces entries, `snapshot` drives them through the `chunk`
//! pipeline into the `repo`, and `restore` turns a stored snapshot back into files. The library
//! never prints, prompts or exits: it reports progress through [`progress::Progress`] and
//! returns [`Error`]s.
#![forbid(unsafe_code)]

pub mod audit;
pub mod child;
pub mod chunk;
pub mod config;
pub mod crypto;
pub mod docker;
pub mod error;
pub mod escape;
pub mod host;
pub mod id;
pub mod interrupt;
pub mod models;
pub mod ops;
pub mod progress;
pub mod repo;
pub mod restore;
pub mod snapshot;
pub mod source;
pub mod util;

pub use error::{Error, Result};
pub use id::Id;
