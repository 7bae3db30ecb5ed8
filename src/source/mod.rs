//! Where entries come from: the filesystem today; Docker objects and the host-configuration
//! profile produce the same [`crate::snapshot::Entry`] values.

pub mod fs;
pub mod prescan;
