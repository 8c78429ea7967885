//! One file per resource type.

pub mod ca;

#[cfg(test)]
mod docs_tests;
