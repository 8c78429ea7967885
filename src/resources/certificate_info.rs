//! `meshtls_certificate_info` data source: describes a certificate given as PEM text or read
//! from a TLS Secret's `tls.crt`. The Secret form is how configurations get a
//! `meshtls_certificate`'s PEM, which that resource keeps out of state so that the objects
//! every virtual node refers to stay small (docs/guides/large-meshes.md).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::{at, Attr, Diagnostic, Diagnostics, Outcome, Type, TypedDataSource};

use crate::clients::{client_error, Clients};
use crate::names::parse_namespaced_id;
use crate::pki;
use crate::tls_secret;

pub const TYPE_NAME: &str = "meshtls_certificate_info";

pub struct CertificateInfoDataSource {
    clients: Arc<Clients>,
}

impl CertificateInfoDataSource {
    pub fn new(clients: Arc<Clients>) -> Self {
        CertificateInfoDataSource { clients }
    }
}

/// The data source's model: the PEM or the Secret in, what the certificate says out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateInfo {
    pub pem: Attr<String>,
    pub secret: Attr<String>,
    pub subject: Option<String>,
    pub common_name: Option<String>,
    pub dns_names: Option<Vec<String>>,
    pub issuer: Option<String>,
    pub serial_number: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub fingerprint_sha256: Option<String>,
    pub is_ca: Option<bool>,
    pub key_algorithm: Option<String>,
}

#[async_trait]
impl TypedDataSource for CertificateInfoDataSource {
    type Model = CertificateInfo;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("Describes a certificate, given as PEM text or read from a TLS Secret, and exposes what matters for mesh TLS: the PEM itself, names, issuer, expiry, fingerprint.")
                .attribute(Attribute::string("pem").optional().computed().description("A PEM-encoded certificate, or a bundle whose first certificate is read. With `secret`, computed: the first certificate of the Secret's `tls.crt`, without the chain."))
                .attribute(Attribute::string("secret").optional().description("A Secret in the `kubernetes.io/tls` layout, as `namespace/name`, such as a `meshtls_certificate`'s or a `meshtls_ca`'s `id`: its `tls.crt` is read. Needs `get` on that Secret only. Set either `pem` or `secret`."))
                .attribute(Attribute::string("subject").computed().description("Subject distinguished name."))
                .attribute(Attribute::string("common_name").computed().description("Subject common name, if any."))
                .attribute(Attribute::new("dns_names", Type::list(Type::String)).computed().description("DNS subject alternative names."))
                .attribute(Attribute::string("issuer").computed().description("Issuer distinguished name."))
                .attribute(Attribute::string("serial_number").computed().description("Serial number, colon-separated hex."))
                .attribute(Attribute::string("not_before").computed().description("Start of validity, RFC 3339."))
                .attribute(Attribute::string("not_after").computed().description("Expiry, RFC 3339."))
                .attribute(Attribute::string("fingerprint_sha256").computed().description("SHA-256 fingerprint of the certificate (DER), colon-separated hex."))
                .attribute(Attribute::bool("is_ca").computed().description("Whether basicConstraints marks it as a CA."))
                .attribute(Attribute::string("key_algorithm").computed().description("`ECDSA_P256`, `ECDSA_P384`, `RSA_2048`, `RSA_3072`, `RSA_4096`, or null for other keys.")),
        )
    }

    async fn validate(&self, config: &CertificateInfo) -> Diagnostics {
        validate(config)
    }

    async fn read(&self, config: CertificateInfo) -> Outcome<CertificateInfo> {
        let (text, attr) = match (config.pem.as_deref(), config.secret.as_deref()) {
            (Some(pem), None) => (pem.to_string(), "pem"),
            (None, Some(secret)) => (self.secret_certificate(secret).await?, "secret"),
            _ => return Err(validate(&config).into_iter().next().unwrap_or_else(|| Diagnostic::error("No certificate", EITHER)).into()),
        };
        let info = pki::inspect(&text).map_err(|e| {
            let hint = if attr == "pem" {
                "Pass the text of a certificate, e.g. file(\"tls.crt\"), or name its Secret in `secret`."
            } else {
                "The Secret's tls.crt must hold a PEM certificate."
            };
            Diagnostic::error("Not a PEM certificate", format!("{e}. {hint}")).at(at(attr))
        })?;
        Ok(CertificateInfo {
            pem: Attr::Known(if attr == "pem" { text.clone() } else { pki::first_certificate(&text) }),
            secret: config.secret.clone(),
            subject: Some(info.subject),
            common_name: info.common_name,
            dns_names: Some(info.dns_names),
            issuer: Some(info.issuer),
            serial_number: Some(info.serial_hex),
            not_before: Some(pki::rfc3339(info.not_before)),
            not_after: Some(pki::rfc3339(info.not_after)),
            fingerprint_sha256: Some(info.fingerprint_sha256),
            is_ca: Some(info.is_ca),
            key_algorithm: info.key_algorithm.map(|k| k.name().to_string()),
        }
        .into())
    }
}

const EITHER: &str = "Set `pem` to a certificate's text, or `secret` to the `namespace/name` of a TLS Secret.";

/// Exactly one source, and a Secret reference that can name one.
fn validate(config: &CertificateInfo) -> Diagnostics {
    let mut d = Diagnostics::new();
    // An unknown value is set: it is a source, checked once known.
    let set = |a: &Attr<String>| !matches!(a, Attr::Null);
    match (set(&config.pem), set(&config.secret)) {
        (true, true) => {
            d.push(Diagnostic::error("Two certificate sources", format!("`pem` and `secret` are both set. {EITHER}")).at(at("secret")))
        }
        (false, false) => d.push(Diagnostic::error("No certificate", EITHER).at(at("pem"))),
        _ => {}
    }
    if let Some(Err(e)) = config.secret.as_deref().map(parse_namespaced_id) {
        d.push(
            Diagnostic::error(
                "Invalid Secret reference",
                format!("{} Use `namespace/name`, e.g. meshtls_certificate.<name>.id.", e.detail),
            )
            .at(at("secret")),
        );
    }
    d
}

impl CertificateInfoDataSource {
    /// The Secret's `tls.crt`. A plain read: a Secret meshtls does not manage is read, never
    /// listed or kept.
    async fn secret_certificate(&self, secret: &str) -> Result<String, Diagnostics> {
        let (namespace, name) = parse_namespaced_id(secret).map_err(|d| Diagnostics::from(d.at(at("secret"))))?;
        let client = self.clients.kube().await.map_err(client_error)?;
        let observed = tls_secret::get(&client, &self.clients.read_cache, namespace, name)
            .await
            .map_err(|e| Diagnostic::error("Failed to read the Secret", format!("Secret {namespace}/{name}: {e}")).at(at("secret")))?
            .ok_or_else(|| {
                Diagnostic::error(
                    "Secret not found",
                    format!("No Secret {namespace}/{name} exists. Name an existing TLS Secret, or create it first."),
                )
                .at(at("secret"))
            })?;
        observed.tls_crt.ok_or_else(|| {
            Diagnostic::error(
                "Not a TLS Secret",
                format!("Secret {namespace}/{name} has no tls.crt: name a Secret of type kubernetes.io/tls."),
            )
            .at(at("secret"))
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_certificate_is_described_and_garbage_is_refused_at_pem() {
        let request =
            pki::CaRequest { common_name: "test root", organization: None, validity_days: 30, key_algorithm: pki::KeyAlgorithm::EcdsaP256 };
        let ca = pki::self_signed_ca(&request).expect("a CA");
        let config = CertificateInfo { pem: Attr::Known(ca.certificate_pem.clone()), ..Default::default() };
        let source = CertificateInfoDataSource::new(Clients::new());
        let read = source.read(config).await.expect("read");
        assert_eq!(read.state.is_ca, Some(true));
        assert_eq!(read.state.key_algorithm.as_deref(), Some("ECDSA_P256"));
        let bad = CertificateInfo { pem: "not a certificate".into(), ..Default::default() };
        let failure = source.read(bad).await.expect_err("refused");
        assert_eq!(failure.diagnostics.iter().next().and_then(|d| d.path.clone()), Some(at("pem")));
    }

    #[test]
    fn exactly_one_source_and_a_secret_that_names_one() {
        let path = |c: &CertificateInfo| validate(c).iter().map(|d| d.path.clone()).collect::<Vec<_>>();
        assert_eq!(path(&CertificateInfo::default()), vec![Some(at("pem"))], "no source");
        let both = CertificateInfo { pem: "x".into(), secret: "yelb/db-tls".into(), ..Default::default() };
        assert_eq!(path(&both), vec![Some(at("secret"))], "two sources");
        let bad = CertificateInfo { secret: "db-tls".into(), ..Default::default() };
        assert_eq!(path(&bad), vec![Some(at("secret"))], "not namespace/name");
        let pending = CertificateInfo { secret: Attr::Unknown, ..Default::default() };
        assert!(validate(&pending).is_empty(), "an unknown Secret is a source, checked once known");
        assert!(validate(&CertificateInfo { secret: "yelb/db-tls".into(), ..Default::default() }).is_empty());
    }

    #[test]
    fn the_first_certificate_of_a_chain_is_the_pem() {
        let request =
            pki::CaRequest { common_name: "test root", organization: None, validity_days: 30, key_algorithm: pki::KeyAlgorithm::EcdsaP256 };
        let a = pki::self_signed_ca(&request).expect("a CA").certificate_pem;
        let b = pki::self_signed_ca(&request).expect("another CA").certificate_pem;
        let first = pki::first_certificate(&format!("{a}{b}"));
        assert_eq!(pki::inspect(&first).expect("parses").fingerprint_sha256, pki::inspect(&a).expect("parses").fingerprint_sha256);
        assert!(!first.contains(b.lines().nth(1).expect("a body line")), "the chain is left out");
    }
}
