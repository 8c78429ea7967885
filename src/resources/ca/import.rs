//! Import of a CA: its ID, and the state its Secret stands for.

use super::*;

/// An issuer by kind and name.
pub(super) type IssuerRef<'a> = (IssuerKind, &'a str);

/// `namespace/secret_name`, optionally followed by `:Issuer/name` or `:ClusterIssuer/name`.
pub(super) fn parse_import_id(id: &str) -> Option<(&str, &str, Option<IssuerRef<'_>>)> {
    let (secret, issuer) = id.split_once(':').map_or((id, None), |(s, i)| (s, Some(i)));
    let (namespace, secret_name) = secret.split_once('/').filter(|(ns, n)| is_dns1123_label(ns) && is_dns1123_subdomain(n))?;
    let issuer = match issuer {
        None => None,
        Some(i) => {
            let (kind, name) = i.split_once('/')?;
            Some((IssuerKind::parse(kind)?, Some(name).filter(|n| is_dns1123_subdomain(n))?))
        }
    };
    Some((namespace, secret_name, issuer))
}

/// The state of a CA read from its Secret for import, once the Secret is checked: a CA key
/// pair, or the certificate of an ACM Private CA (imported as adopted).
pub(super) fn imported(
    namespace: &str,
    secret_name: &str,
    observed: &tls_secret::ObservedSecret,
) -> Result<CertificateAuthority, Diagnostic> {
    let fail = |summary: &str, detail: String| Diagnostic::error(summary, detail);
    let unreadable = |file: &str, e: pki::PkiError| {
        fail(&format!("Cannot import: {file} is not a certificate"), format!("Secret {namespace}/{secret_name}: {e}"))
    };
    if let (Some(arn), Some(ca_crt)) = (observed.annotations.get(PCA_ANNOTATION), observed.ca_crt.as_deref()) {
        let info = pki::inspect(ca_crt).map_err(|e| unreadable("ca.crt", e))?;
        let mut state = key_pair_state(namespace, secret_name, ca_crt, &info, info.key_algorithm.unwrap_or(KeyAlgorithm::Rsa2048));
        state.pca_arn = Attr::Known(arn.clone());
        state.pca_status = Attr::Known(ACTIVE.into());
        state.acm_pca = Some(AcmPca { arn: Attr::Known(arn.clone()), create: None });
        return Ok(state);
    }
    let cert_pem = observed
        .tls_crt
        .as_deref()
        .ok_or_else(|| fail("Cannot import: not a TLS Secret", format!("Secret {namespace}/{secret_name} has no tls.crt.")))?;
    let info = pki::inspect(cert_pem).map_err(|e| unreadable("tls.crt", e))?;
    if !info.is_ca {
        return Err(fail(
            "Cannot import: not a CA certificate",
            format!("The certificate in Secret {namespace}/{secret_name} is not a CA (basicConstraints CA:FALSE)."),
        ));
    }
    let key_algorithm = tls_secret::importable_key(observed, &info, namespace, secret_name)?;
    let mut state = key_pair_state(namespace, secret_name, &pki::first_certificate(cert_pem), &info, key_algorithm);
    if observed.layout == Layout::Istio {
        state.layout = Attr::Known("istio".into());
    }
    Ok(state)
}

/// The state of a CA as import records it from its certificate (and the key's algorithm).
pub(super) fn key_pair_state(
    namespace: &str,
    secret_name: &str,
    certificate_pem: &str,
    info: &pki::CertificateInfo,
    key_algorithm: KeyAlgorithm,
) -> CertificateAuthority {
    CertificateAuthority {
        id: Attr::Known(format!("{namespace}/{secret_name}")),
        namespace: namespace.into(),
        secret_name: secret_name.into(),
        common_name: info.common_name.clone().into(),
        organization: info.organization.clone().into(),
        validity_days: Attr::Known((info.not_after - info.not_before).whole_days()),
        key_algorithm: key_algorithm.name().into(),
        certificate_pem: Attr::Known(certificate_pem.to_string()),
        fingerprint_sha256: Attr::Known(info.fingerprint_sha256.clone()),
        serial_number: Attr::Known(info.serial_hex.clone()),
        not_after: Attr::Known(pki::rfc3339(info.not_after)),
        days_remaining: Attr::Known(days_until(info.not_after, time::OffsetDateTime::now_utc())),
        trust_bundle_pem: Attr::Known(certificate_pem.to_string()),
        ..Default::default()
    }
}
