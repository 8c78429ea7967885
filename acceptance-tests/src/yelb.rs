//! The examples' Yelb in a namespace of a scenario's own: the fixture that creates the
//! application (examples/yelb/fixture/apply.sh), and the examples' text renamed to match.

use std::path::Path;
use std::process::Command;

use crate::{env, repo_root};

/// The examples' Yelb text, in namespace (and mesh) `ns`, as the fixture's apply.sh renames it.
pub fn renamed(text: &str, ns: &str) -> String {
    text.replace("_yelb\"", &format!("_{ns}\"")).replace(".yelb.svc", &format!(".{ns}.svc")).replace("= \"yelb\"", &format!("= \"{ns}\""))
}

/// Renames the example file at `path` in place.
pub fn rewrite(path: &Path, ns: &str) {
    let text = std::fs::read_to_string(path).expect("example");
    std::fs::write(path, renamed(&text, ns)).expect("write example");
}

/// Creates Yelb in `ns`: its Deployments and Services, and its App Mesh objects.
pub fn fixture(ns: &str) {
    let status = Command::new(repo_root().join("examples/yelb/fixture/apply.sh"))
        .arg(ns)
        .env("AWS_DEFAULT_REGION", env("AWS_REGION"))
        .status()
        .expect("fixture");
    assert!(status.success(), "the Yelb fixture must apply");
}
