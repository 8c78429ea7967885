//! Proxies of one scenario's own in front of kube-apiserver or moto, through the toxiproxy
//! server env-up.sh starts, so a scenario can cut or slow a connection without touching
//! what other scenarios use.

use serde_json::{json, Value};

use crate::env;

pub struct Proxy {
    api: String,
    name: String,
    /// host:port clients connect to instead of the upstream.
    pub listen: String,
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let agent = ureq::Agent::new_with_defaults();
    let result = match (method, body) {
        ("POST", Some(b)) => agent.post(url).send_json(b),
        ("DELETE", _) => agent.delete(url).call(),
        _ => agent.get(url).call(),
    };
    let mut response = result.unwrap_or_else(|e| panic!("toxiproxy {method} {url}: {e}"));
    response.body_mut().read_json().unwrap_or(Value::Null)
}

impl Proxy {
    /// A proxy listening on a free loopback port and forwarding to `upstream` (host:port).
    pub fn new(name: &str, upstream: &str) -> Proxy {
        let api = env("MESHTLS_TOXIPROXY");
        let created = call(
            "POST",
            &format!("{api}/proxies"),
            Some(json!({ "name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true })),
        );
        let listen = created["listen"].as_str().expect("toxiproxy answers with the listen address").to_string();
        Proxy { api, name: name.into(), listen }
    }

    /// Disabled, the proxy drops every open connection and refuses new ones.
    pub fn set_enabled(&self, enabled: bool) {
        call("POST", &format!("{}/proxies/{}", self.api, self.name), Some(json!({ "enabled": enabled })));
    }

    /// Adds a toxic to the answers (downstream), e.g. `latency` with `{"latency": 200}`.
    pub fn add_toxic(&self, kind: &str, attributes: Value) {
        call(
            "POST",
            &format!("{}/proxies/{}/toxics", self.api, self.name),
            Some(json!({ "name": kind, "type": kind, "stream": "downstream", "toxicity": 1.0, "attributes": attributes })),
        );
    }

    pub fn remove_toxic(&self, kind: &str) {
        call("DELETE", &format!("{}/proxies/{}/toxics/{kind}", self.api, self.name), None);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = ureq::Agent::new_with_defaults().delete(&format!("{}/proxies/{}", self.api, self.name)).call();
    }
}

/// host:port of an http(s) URL.
pub fn host_port(url: &str) -> String {
    url.split("://").nth(1).unwrap_or(url).trim_end_matches('/').split('/').next().unwrap_or_default().to_string()
}
