//! Harness for the acceptance scenarios.
