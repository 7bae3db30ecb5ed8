//! Progress reporting from the library, under its older name: [`Progress`] is the
//! [`Observer`](crate::observer::Observer) trait, which carries progress, warnings and events.

pub use crate::observer::{Observer as Progress, Silent};
