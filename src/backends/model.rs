//! Mesh TLS settings in our own terms, converted to and from each side's wire form.

use serde::{Deserialize, Serialize};

/// Where a proxy finds a certificate and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CertificateSource {
    File { certificate_chain: String, private_key: String },
    Sds { secret_name: String },
    Acm { certificate_arn: String },
}

/// What a proxy trusts when it validates a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrustSource {
    File { certificate_chain: String },
    Sds { secret_name: String },
    Acm { certificate_authority_arns: Vec<String> },
}

/// TLS on the node's listener (what it serves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerTls {
    pub mode: String,
    pub certificate: Option<CertificateSource>,
    pub trust: Option<TrustSource>,
    pub subject_alternative_names: Vec<String>,
}

/// TLS the node requires of its backends (`backendDefaults.clientPolicy.tls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPolicyTls {
    pub enforce: bool,
    pub ports: Vec<i64>,
    pub certificate: Option<CertificateSource>,
    pub trust: Option<TrustSource>,
    pub subject_alternative_names: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTls {
    pub listener: Option<ListenerTls>,
    pub client_policy: Option<ClientPolicyTls>,
}

/// Which parts of a node's TLS a resource manages: those its configuration has a block for.
/// The others are the application's (set by Helm, say), and meshtls neither changes nor
/// reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    pub listener: bool,
    pub client_policy: bool,
}

impl NodeTls {
    /// `self`'s parts where `managed` says so, `rest`'s elsewhere.
    pub fn over(&self, rest: &NodeTls, managed: Managed) -> NodeTls {
        NodeTls {
            listener: if managed.listener { self.listener.clone() } else { rest.listener.clone() },
            client_policy: if managed.client_policy { self.client_policy.clone() } else { rest.client_policy.clone() },
        }
    }

    /// Only the managed parts; the others read as absent.
    pub fn only(&self, managed: Managed) -> NodeTls {
        self.over(&NodeTls::default(), managed)
    }

    /// Human-readable differences from `want`, for plans and warnings.
    pub fn differences(&self, want: &NodeTls) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.listener, &want.listener) {
            (None, Some(w)) => out.push(format!("listener TLS is missing (want mode {})", w.mode)),
            (Some(h), None) => out.push(format!("listener TLS is set (mode {}) but should not be", h.mode)),
            (Some(h), Some(w)) if h.mode != w.mode => out.push(format!("listener TLS mode is {} (want {})", h.mode, w.mode)),
            (Some(h), Some(w)) if h != w => out.push("listener TLS certificate or validation differs".into()),
            _ => {}
        }
        match (&self.client_policy, &want.client_policy) {
            (None, Some(_)) => out.push("client policy TLS is missing".into()),
            (Some(_), None) => out.push("client policy TLS is set but should not be".into()),
            (Some(h), Some(w)) if h != w => out.push("client policy TLS differs".into()),
            _ => {}
        }
        out
    }
}

/// The same settings as App Mesh's JSON (the VirtualNode custom resource's field names).
pub mod crd {
    use serde_json::{json, Map, Value as Json};

    use super::*;

    fn certificate(c: &CertificateSource) -> Json {
        match c {
            CertificateSource::File { certificate_chain, private_key } => {
                json!({ "file": { "certificateChain": certificate_chain, "privateKey": private_key } })
            }
            CertificateSource::Sds { secret_name } => json!({ "sds": { "secretName": secret_name } }),
            CertificateSource::Acm { certificate_arn } => json!({ "acm": { "certificateARN": certificate_arn } }),
        }
    }

    fn trust(t: &TrustSource) -> Json {
        match t {
            TrustSource::File { certificate_chain } => json!({ "file": { "certificateChain": certificate_chain } }),
            TrustSource::Sds { secret_name } => json!({ "sds": { "secretName": secret_name } }),
            TrustSource::Acm { certificate_authority_arns } => json!({ "acm": { "certificateAuthorityARNs": certificate_authority_arns } }),
        }
    }

    fn validation(t: &Option<TrustSource>, sans: &[String]) -> Option<Json> {
        let t = t.as_ref()?;
        let mut v = Map::new();
        v.insert("trust".into(), trust(t));
        if !sans.is_empty() {
            v.insert("subjectAlternativeNames".into(), json!({ "match": { "exact": sans } }));
        }
        Some(Json::Object(v))
    }

    pub fn listener_tls(l: &ListenerTls) -> Json {
        let mut v = Map::new();
        v.insert("mode".into(), json!(l.mode));
        if let Some(c) = &l.certificate {
            v.insert("certificate".into(), certificate(c));
        }
        if let Some(val) = validation(&l.trust, &l.subject_alternative_names) {
            v.insert("validation".into(), val);
        }
        Json::Object(v)
    }

    pub fn client_policy_tls(c: &ClientPolicyTls) -> Json {
        let mut v = Map::new();
        v.insert("enforce".into(), json!(c.enforce));
        if !c.ports.is_empty() {
            v.insert("ports".into(), json!(c.ports));
        }
        if let Some(cert) = &c.certificate {
            v.insert("certificate".into(), certificate(cert));
        }
        v.insert("validation".into(), validation(&c.trust, &c.subject_alternative_names).unwrap_or_else(|| json!({ "trust": {} })));
        Json::Object(v)
    }

    fn s(v: &Json, ptr: &str) -> Option<String> {
        v.pointer(ptr).and_then(Json::as_str).map(str::to_string)
    }

    fn parse_certificate(v: &Json) -> Option<CertificateSource> {
        if let Some(f) = v.get("file") {
            return Some(CertificateSource::File { certificate_chain: s(f, "/certificateChain")?, private_key: s(f, "/privateKey")? });
        }
        if let Some(secret_name) = s(v, "/sds/secretName") {
            return Some(CertificateSource::Sds { secret_name });
        }
        s(v, "/acm/certificateARN").map(|certificate_arn| CertificateSource::Acm { certificate_arn })
    }

    fn parse_trust(v: &Json) -> Option<TrustSource> {
        if let Some(certificate_chain) = s(v, "/file/certificateChain") {
            return Some(TrustSource::File { certificate_chain });
        }
        if let Some(secret_name) = s(v, "/sds/secretName") {
            return Some(TrustSource::Sds { secret_name });
        }
        let arns = v.pointer("/acm/certificateAuthorityARNs")?.as_array()?;
        Some(TrustSource::Acm { certificate_authority_arns: arns.iter().filter_map(|a| a.as_str().map(str::to_string)).collect() })
    }

    fn sans(v: &Json) -> Vec<String> {
        v.pointer("/validation/subjectAlternativeNames/match/exact")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    pub fn parse_listener_tls(v: &Json) -> Option<ListenerTls> {
        Some(ListenerTls {
            mode: s(v, "/mode")?,
            certificate: v.get("certificate").and_then(parse_certificate),
            trust: v.pointer("/validation/trust").and_then(parse_trust),
            subject_alternative_names: sans(v),
        })
    }

    pub fn parse_client_policy_tls(v: &Json) -> Option<ClientPolicyTls> {
        if !v.is_object() {
            return None;
        }
        Some(ClientPolicyTls {
            enforce: v.get("enforce").and_then(Json::as_bool).unwrap_or(true),
            ports: v.get("ports").and_then(Json::as_array).map(|a| a.iter().filter_map(Json::as_i64).collect()).unwrap_or_default(),
            certificate: v.get("certificate").and_then(parse_certificate),
            trust: v.pointer("/validation/trust").and_then(parse_trust),
            subject_alternative_names: sans(v),
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn crd_json_round_trips() {
            let l = ListenerTls {
                mode: "STRICT".into(),
                certificate: Some(CertificateSource::File {
                    certificate_chain: "/etc/keys/yelb/tls.crt".into(),
                    private_key: "/etc/keys/yelb/tls.key".into(),
                }),
                trust: Some(TrustSource::File { certificate_chain: "/etc/keys/yelb/ca.crt".into() }),
                subject_alternative_names: vec!["yelb-ui.yelb.svc.cluster.local".into()],
            };
            assert_eq!(parse_listener_tls(&listener_tls(&l)), Some(l));
            let c = ClientPolicyTls {
                enforce: true,
                ports: vec![8080],
                certificate: None,
                trust: Some(TrustSource::Acm {
                    certificate_authority_arns: vec!["arn:aws:acm-pca:us-west-2:1:certificate-authority/x".into()],
                }),
                subject_alternative_names: vec![],
            };
            assert_eq!(parse_client_policy_tls(&client_policy_tls(&c)), Some(c));
        }
    }
}
