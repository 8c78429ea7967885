//! ACM Private CA fixtures (through boto3 against moto) for the private-CA scenarios.

use std::process::Command;

use crate::{env, repo_root};

fn fixture(args: &[&str]) -> String {
    let out = Command::new(env("MESHTLS_PYTHON"))
        .arg(repo_root().join("acceptance-tests/env/acmpca_fixture.py"))
        .args(args)
        .env("AWS_DEFAULT_REGION", env("AWS_REGION"))
        .output()
        .expect("acmpca fixture");
    assert!(out.status.success(), "acmpca_fixture {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An ACTIVE root CA made outside meshtls; returns its ARN.
pub fn create_root(common_name: &str) -> String {
    fixture(&["create-root", common_name])
}

pub fn disable(arn: &str) {
    fixture(&["disable", arn]);
}

pub fn status(arn: &str) -> String {
    fixture(&["status", arn])
}

/// The ARNs of the private CAs with this subject common name that are not deleted.
pub fn live(common_name: &str) -> Vec<String> {
    fixture(&["live", common_name]).lines().map(str::to_string).collect()
}

/// Makes moto answer the next `count` calls of an ACM Private CA action (`ImportCertificateAuthorityCertificate`)
/// with an error.
pub fn fail_next(action: &str, count: u32) {
    let url = format!("{}/_meshtls/faults", env("AWS_ENDPOINT_URL"));
    ureq::post(&url).send_json(serde_json::json!({ "target": format!("ACMPrivateCA.{action}"), "count": count })).expect("inject fault");
}

/// Like [`fail_next`], once `after` more calls of `action` have been answered.
pub fn fail_after(action: &str, after: u32, count: u32) {
    let url = format!("{}/_meshtls/faults", env("AWS_ENDPOINT_URL"));
    ureq::post(&url)
        .send_json(serde_json::json!({ "target": format!("ACMPrivateCA.{action}"), "count": count, "after": after }))
        .expect("inject fault");
}

/// Makes moto carry out the next `count` calls of an ACM Private CA action and then answer each
/// with an error, as when the answer is lost after the request took effect.
pub fn lose_next_answer(action: &str, count: u32) {
    let url = format!("{}/_meshtls/faults", env("AWS_ENDPOINT_URL"));
    ureq::post(&url)
        .send_json(serde_json::json!({ "target": format!("ACMPrivateCA.{action}"), "count": count, "landed": true }))
        .expect("inject fault");
}
