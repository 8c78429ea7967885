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

/// What a listener accepts, in our own terms; each mesh spells it its own way (see
/// [`Vocabulary`]). Kept in private state in App Mesh's words, the first mesh's, and read in
/// either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TlsMode {
    /// Mutual TLS only.
    #[serde(rename = "STRICT")]
    Strict,
    /// Mutual TLS and plaintext, for migrations.
    #[serde(rename = "PERMISSIVE")]
    Permissive,
    /// Plaintext only.
    #[serde(rename = "DISABLED", alias = "DISABLE")]
    Off,
    /// Whatever an enclosing policy says (Istio's `UNSET`; App Mesh has no such mode).
    #[serde(rename = "UNSET")]
    Inherited,
}

impl TlsMode {
    /// Weaker modes accept more plaintext: Off < Permissive < Strict. None for an inherited
    /// mode, which is as strong as what it inherits.
    pub fn strength(self) -> Option<u8> {
        match self {
            TlsMode::Off => Some(0),
            TlsMode::Permissive => Some(1),
            TlsMode::Strict => Some(2),
            TlsMode::Inherited => None,
        }
    }
}

/// One mesh's words for the TLS modes.
#[derive(Debug)]
pub struct Vocabulary {
    pub mesh: &'static str,
    pub strict: &'static str,
    pub permissive: &'static str,
    pub off: &'static str,
    /// The word for [`TlsMode::Inherited`], in a mesh that has one.
    pub inherited: Option<&'static str>,
}

/// A word that is not one of the mesh's modes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{word:?} is not a TLS mode of {mesh}{hint}; use {allowed}.")]
pub struct ModeError {
    pub mesh: &'static str,
    pub word: String,
    /// Why it may have been written so (another mesh's spelling, say).
    pub hint: String,
    pub allowed: String,
}

impl Vocabulary {
    /// The modes a configuration may set, strongest first.
    pub const fn modes(&self) -> [&'static str; 3] {
        [self.strict, self.permissive, self.off]
    }

    pub fn spell(&self, mode: TlsMode) -> &'static str {
        match mode {
            TlsMode::Strict => self.strict,
            TlsMode::Permissive => self.permissive,
            TlsMode::Off => self.off,
            TlsMode::Inherited => self.inherited.unwrap_or("UNSET"),
        }
    }

    pub fn parse(&self, word: &str) -> Result<TlsMode, ModeError> {
        let known = [(self.strict, TlsMode::Strict), (self.permissive, TlsMode::Permissive), (self.off, TlsMode::Off)];
        let inherited = self.inherited.map(|w| (w, TlsMode::Inherited));
        if let Some((_, mode)) = known.into_iter().chain(inherited).find(|(w, _)| *w == word) {
            return Ok(mode);
        }
        // DISABLE and DISABLED: the meshes' words for off differ by a letter.
        let stem = |w: &str| w.to_ascii_uppercase().trim_end_matches('D').to_string();
        let hint = if stem(word) == stem(self.off) { format!(" ({} spells it {})", self.mesh, self.off) } else { String::new() };
        let [strict, permissive, off] = self.modes();
        Err(ModeError { mesh: self.mesh, word: word.to_string(), hint, allowed: format!("{strict}, {permissive} or {off}") })
    }
}

/// TLS on the node's listener (what it serves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerTls {
    pub mode: TlsMode,
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

    /// Human-readable differences from `want`, for plans and warnings, with the modes in
    /// `words`.
    pub fn differences(&self, want: &NodeTls, words: &Vocabulary) -> Vec<String> {
        let mut out = Vec::new();
        let spell = |l: &ListenerTls| words.spell(l.mode);
        match (&self.listener, &want.listener) {
            (None, Some(w)) => out.push(format!("listener TLS is missing (want mode {})", spell(w))),
            (Some(h), None) => out.push(format!("listener TLS is set (mode {}) but should not be", spell(h))),
            (Some(h), Some(w)) if h.mode != w.mode => out.push(format!("listener TLS mode is {} (want {})", spell(h), spell(w))),
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
    use crate::backends::appmesh::APP_MESH;

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
        v.insert("mode".into(), json!(APP_MESH.spell(l.mode)));
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

    /// None when it has no mode App Mesh knows: it reads as absent, which is drift.
    pub fn parse_listener_tls(v: &Json) -> Option<ListenerTls> {
        Some(ListenerTls {
            mode: APP_MESH.parse(&s(v, "/mode")?).ok()?,
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
                mode: TlsMode::Strict,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::appmesh::APP_MESH;
    use crate::backends::istio::ISTIO;

    #[test]
    fn each_mesh_spells_the_modes_its_own_way() {
        for mode in [TlsMode::Strict, TlsMode::Permissive, TlsMode::Off] {
            assert_eq!(APP_MESH.parse(APP_MESH.spell(mode)), Ok(mode));
            assert_eq!(ISTIO.parse(ISTIO.spell(mode)), Ok(mode));
        }
        assert_eq!((APP_MESH.spell(TlsMode::Off), ISTIO.spell(TlsMode::Off)), ("DISABLED", "DISABLE"));
        assert_eq!(ISTIO.parse("UNSET"), Ok(TlsMode::Inherited));
        let e = APP_MESH.parse("UNSET").unwrap_err();
        assert_eq!(e.to_string(), "\"UNSET\" is not a TLS mode of App Mesh; use STRICT, PERMISSIVE or DISABLED.");
        let e = ISTIO.parse("DISABLED").unwrap_err();
        assert_eq!(e.to_string(), "\"DISABLED\" is not a TLS mode of Istio (Istio spells it DISABLE); use STRICT, PERMISSIVE or DISABLE.");
        assert!(APP_MESH.parse("strict").is_err(), "modes are upper case");
        assert!(TlsMode::Off.strength() < TlsMode::Permissive.strength() && TlsMode::Permissive.strength() < TlsMode::Strict.strength());
    }

    #[test]
    fn private_state_keeps_app_mesh_words_and_reads_either() {
        let l = ListenerTls { mode: TlsMode::Off, certificate: None, trust: None, subject_alternative_names: vec![] };
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["mode"], "DISABLED");
        assert_eq!(serde_json::from_value::<ListenerTls>(json).unwrap(), l);
        let istio = serde_json::json!({ "mode": "DISABLE", "certificate": null, "trust": null, "subject_alternative_names": [] });
        assert_eq!(serde_json::from_value::<ListenerTls>(istio).unwrap().mode, TlsMode::Off);
    }
}
