//! `meshtls_certificate_info` data source: parses any PEM certificate, for users who check
//! certificates they did not issue.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::{at, Attr, Diagnostic, Outcome, Type, TypedDataSource};

use crate::pki;

pub const TYPE_NAME: &str = "meshtls_certificate_info";

pub struct CertificateInfoDataSource;

/// The data source's model: the PEM in, what it says out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateInfo {
    pub pem: Attr<String>,
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
            Block::new("Parses a PEM certificate (the first one of a bundle) and exposes what matters for mesh TLS: names, issuer, expiry, fingerprint.")
                .attribute(Attribute::string("pem").required().description("A PEM-encoded certificate, or a bundle whose first certificate is read."))
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

    async fn read(&self, config: CertificateInfo) -> Outcome<CertificateInfo> {
        let Some(text) = config.pem.as_deref() else {
            return Err(Diagnostic::error("No certificate", "`pem` must be known when the data source is read.").at(at("pem")).into());
        };
        let info = pki::inspect(text).map_err(|e| {
            Diagnostic::error(
                "Not a PEM certificate",
                format!("{e}. Pass the text of a certificate, e.g. meshtls_certificate.<name>.certificate_pem or file(\"tls.crt\")."),
            )
            .at(at("pem"))
        })?;
        Ok(CertificateInfo {
            pem: config.pem.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_certificate_is_described_and_garbage_is_refused_at_pem() {
        let request =
            pki::CaRequest { common_name: "test root", organization: None, validity_days: 30, key_algorithm: pki::KeyAlgorithm::EcdsaP256 };
        let ca = pki::self_signed_ca(&request).expect("a CA");
        let config = CertificateInfo { pem: Attr::Known(ca.certificate_pem.clone()), ..Default::default() };
        let read = CertificateInfoDataSource.read(config).await.expect("read");
        assert_eq!(read.state.is_ca, Some(true));
        assert_eq!(read.state.key_algorithm.as_deref(), Some("ECDSA_P256"));
        let bad = CertificateInfo { pem: "not a certificate".into(), ..Default::default() };
        let failure = CertificateInfoDataSource.read(bad).await.expect_err("refused");
        assert_eq!(failure.diagnostics.iter().next().and_then(|d| d.path.clone()), Some(at("pem")));
    }
}
