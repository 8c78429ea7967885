//! One file per resource type.

pub mod ca;
