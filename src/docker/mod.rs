//! Docker deployments: capture containers, networks, volumes and images through the Engine API
//! and restore them exactly (DOCKER-FIDELITY.md). Only this module talks to the engine; the
//! rest of lifeboat sees the typed records of [`crate::snapshot::deployment`] and ordinary
//! snapshot entries.

pub mod apply;
pub mod aside;
pub mod capture;
pub mod compare;
pub mod engine;
pub mod report;
pub mod spec;
pub mod tarsink;
pub mod tarsrc;

pub use crate::error::DockerError;
pub use engine::Engine;
