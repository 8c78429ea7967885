//! Polling with a deadline: the only way scenarios wait for anything.

use std::time::{Duration, Instant};

/// Calls `check` until it returns `Some`, or panics naming `what` when `timeout` passes.
pub fn until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
