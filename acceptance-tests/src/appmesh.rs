//! App Mesh API fixtures (through boto3 against moto) for scenarios that need both sides.

use std::process::Command;

use crate::{env, repo_root};

fn fixture(args: &[&str]) -> String {
    let out = Command::new(env("MESHTLS_PYTHON"))
        .arg(repo_root().join("acceptance-tests/env/appmesh_fixture.py"))
        .args(args)
        .env("AWS_DEFAULT_REGION", env("AWS_REGION"))
        .output()
        .expect("appmesh fixture");
    assert!(out.status.success(), "appmesh_fixture {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn create_node(mesh: &str, node: &str, hostname: &str) {
    fixture(&["create", mesh, node, hostname]);
}

/// The node's spec as JSON, keys sorted, for comparing before and after.
pub fn node_spec(mesh: &str, node: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(&["spec", mesh, node])).expect("spec JSON")
}

pub fn disable_tls(mesh: &str, node: &str) {
    fixture(&["disable-tls", mesh, node]);
}

/// A virtual gateway made outside meshtls (and its mesh, if missing).
pub fn create_gateway(mesh: &str, gateway: &str) {
    fixture(&["create-gateway", mesh, gateway]);
}

/// A virtual gateway's spec as JSON.
pub fn gateway_spec(mesh: &str, gateway: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(&["gateway-spec", mesh, gateway])).expect("spec JSON")
}

/// Sets a virtual gateway's listener TLS to DISABLED out of band.
pub fn disable_gateway_tls(mesh: &str, gateway: &str) {
    fixture(&["gateway-disable-tls", mesh, gateway]);
}

/// Makes moto answer the next `count` App Mesh updates of `mesh` with `status` (409
/// ConflictException or 429 TooManyRequestsException).
pub fn inject_errors(mesh: &str, status: u16, count: u32) {
    let url = format!("{}/_meshtls/faults", env("AWS_ENDPOINT_URL"));
    ureq::post(&url).send_json(serde_json::json!({ "mesh": mesh, "status": status, "count": count })).expect("inject App Mesh errors");
}

/// Makes moto answer the next `count` App Mesh reads (GET) of `mesh` with `status` (403
/// ForbiddenException, which the SDK does not retry).
pub fn inject_read_errors(mesh: &str, status: u16, count: u32) {
    let url = format!("{}/_meshtls/faults", env("AWS_ENDPOINT_URL"));
    ureq::post(&url)
        .send_json(serde_json::json!({ "mesh": mesh, "status": status, "count": count, "reads": true }))
        .expect("inject App Mesh read errors");
}

/// How many injected errors moto has sent for `mesh`.
pub fn injected_errors_sent(mesh: &str) -> u64 {
    let url = format!("{}/_meshtls/faults", env("AWS_ENDPOINT_URL"));
    let doc: serde_json::Value = ureq::get(&url).call().expect("fault counters").body_mut().read_json().expect("fault counters JSON");
    doc["sent"][mesh].as_u64().unwrap_or(0)
}

/// Who signed the calls moto has answered: `{"access_keys": {service: {access key id: calls}}}`.
pub fn access_keys() -> serde_json::Value {
    let url = format!("{}/_meshtls/requests", env("AWS_ENDPOINT_URL"));
    ureq::get(&url).call().expect("request counters").body_mut().read_json().expect("request counters JSON")
}
