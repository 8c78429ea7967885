//! `meshtls_certificate_info` data source: parses any PEM certificate, for users who check
//! certificates they did not issue.

use async_trait::async_trait;
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::{AttributePath, DataSource, Diagnostic, Diagnostics, StateResult, Type, Value};

use crate::pki;

pub const TYPE_NAME: &str = "meshtls_certificate_info";

pub struct CertificateInfoDataSource;

#[async_trait]
impl DataSource for CertificateInfoDataSource {
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

    async fn read(&self, config: &Value) -> StateResult {
        let Some(text) = config.get("pem").as_str() else {
            return StateResult::failed(
                Diagnostic::error("No certificate", "`pem` must be known when the data source is read.")
                    .at(AttributePath::attrs(&["pem"]))
                    .into(),
            );
        };
        let info = match pki::inspect(text) {
            Ok(i) => i,
            Err(e) => {
                let mut d = Diagnostics::new();
                d.error_at(
                    AttributePath::attrs(&["pem"]),
                    "Not a PEM certificate",
                    format!("{e}. Pass the text of a certificate, e.g. meshtls_certificate.<name>.certificate_pem or file(\"tls.crt\")."),
                );
                return StateResult::failed(d);
            }
        };
        let state = Value::object([
            ("pem", Value::from(text)),
            ("subject", info.subject.clone().into()),
            ("common_name", Value::opt_string(info.common_name.clone())),
            ("dns_names", Value::List(info.dns_names.iter().map(|n| Value::from(n.as_str())).collect())),
            ("issuer", info.issuer.clone().into()),
            ("serial_number", info.serial_hex.clone().into()),
            ("not_before", pki::rfc3339(info.not_before).into()),
            ("not_after", pki::rfc3339(info.not_after).into()),
            ("fingerprint_sha256", info.fingerprint_sha256.clone().into()),
            ("is_ca", info.is_ca.into()),
            ("key_algorithm", Value::opt_string(info.key_algorithm.map(|k| k.name()))),
        ]);
        StateResult::ok(state, Vec::new())
    }
}
