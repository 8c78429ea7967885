//! Keys and certificates: generation with rcgen, inspection with x509-parser. Mesh-agnostic.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SerialNumber};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The longest lifetime meshtls issues, in days: a hundred years bounds every date it computes.
pub const MAX_VALIDITY_DAYS: i64 = 36_500;
/// The most characters X.509 allows in a common name or organization (RFC 5280, ub-common-name).
pub const X509_NAME_MAX: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("key or certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("not a PEM certificate: {0}")]
    Pem(String),
    #[error("not a valid X.509 certificate: {0}")]
    X509(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeyAlgorithm {
    pub const NAMES: [&'static str; 5] = ["ECDSA_P256", "ECDSA_P384", "RSA_2048", "RSA_3072", "RSA_4096"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "ECDSA_P256" => Self::EcdsaP256,
            "ECDSA_P384" => Self::EcdsaP384,
            "RSA_2048" => Self::Rsa2048,
            "RSA_3072" => Self::Rsa3072,
            "RSA_4096" => Self::Rsa4096,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ECDSA_P256",
            Self::EcdsaP384 => "ECDSA_P384",
            Self::Rsa2048 => "RSA_2048",
            Self::Rsa3072 => "RSA_3072",
            Self::Rsa4096 => "RSA_4096",
        }
    }

    /// Generates a key. RSA generation takes up to seconds: call from a blocking context.
    pub fn generate(self) -> Result<KeyPair, PkiError> {
        use rcgen::RsaKeySize;
        Ok(match self {
            Self::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
            Self::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?,
            Self::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)?,
            Self::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072)?,
            Self::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096)?,
        })
    }
}

/// A private key, PEM-encoded: wiped from memory when dropped (and so is every clone), and
/// never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPem(zeroize::Zeroizing<String>);

impl KeyPem {
    pub fn new(pem: String) -> KeyPem {
        KeyPem(zeroize::Zeroizing::new(pem))
    }

    /// The PEM text, for the one call that needs it; never to be logged or kept.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPem(<redacted>)")
    }
}

/// A generated certificate with its key. The key is only ever written to a Secret.
pub struct Issued {
    pub certificate_pem: String,
    pub private_key_pem: KeyPem,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("certificate_pem", &self.certificate_pem).field("private_key_pem", &"<redacted>").finish()
    }
}

pub struct CaRequest<'a> {
    pub common_name: &'a str,
    pub organization: Option<&'a str>,
    pub validity_days: i64,
    pub key_algorithm: KeyAlgorithm,
}

/// A self-signed root: CA:TRUE, keyCertSign and cRLSign, a random 128-bit serial.
pub fn self_signed_ca(req: &CaRequest<'_>) -> Result<Issued, PkiError> {
    let key = req.key_algorithm.generate()?;
    let params = ca_params(req, BasicConstraints::Unconstrained)?;
    let cert = params.self_signed(&key)?;
    Ok(Issued { certificate_pem: cert.pem(), private_key_pem: KeyPem::new(key.serialize_pem()) })
}

/// A root renewed: a new self-signed certificate for `req`, with the key the root already has,
/// so everything it signed keeps verifying against it.
pub fn renew_self_signed_ca(key_pem: &KeyPem, req: &CaRequest<'_>) -> Result<String, PkiError> {
    let key = KeyPair::from_pem(key_pem.expose())?;
    Ok(ca_params(req, BasicConstraints::Unconstrained)?.self_signed(&key)?.pem())
}

/// An intermediate renewed: `parent` signs a new certificate for `req` and the key the
/// intermediate already has.
pub fn renew_intermediate(parent: &CaMaterial, key_pem: &KeyPem, req: &CaRequest<'_>, path_len: u8) -> Result<String, PkiError> {
    let parent_key = KeyPair::from_pem(parent.private_key_pem.expose())?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&first_certificate(&parent.certificate_pem), parent_key)?;
    let key = KeyPair::from_pem(key_pem.expose())?;
    let mut params = ca_params(req, BasicConstraints::Constrained(path_len))?;
    params.use_authority_key_identifier_extension = true;
    Ok(params.signed_by(&key, &issuer)?.pem())
}

/// An intermediate CA signed by `parent`, which may sign CAs at most `path_len` levels
/// below it (0: only leaves), with a new key. The certificate PEM is the intermediate alone.
/// The provider makes the key itself (`ca_store::Ca::sign_intermediate`); tests use this.
#[cfg(test)]
pub fn issue_intermediate(parent: &CaMaterial, req: &CaRequest<'_>, path_len: u8) -> Result<Issued, PkiError> {
    let key = KeyPem::new(req.key_algorithm.generate()?.serialize_pem());
    let certificate_pem = renew_intermediate(parent, &key, req, path_len)?;
    Ok(Issued { certificate_pem, private_key_pem: key })
}

fn ca_params(req: &CaRequest<'_>, constraints: BasicConstraints) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, req.common_name);
    if let Some(org) = req.organization {
        params.distinguished_name.push(DnType::OrganizationName, org);
    }
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(random_serial()?);
    let now = OffsetDateTime::now_utc().replace_millisecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
    params.not_before = now;
    params.not_after = now + time::Duration::days(req.validity_days);
    Ok(params)
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| PkiError::Generate(rcgen::Error::RingUnspecified))?;
    // A positive integer, never starting with a zero byte.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// What a leaf certificate is for. A mesh does mutual TLS, so both by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    ServerAuth,
    ClientAuth,
}

impl Usage {
    pub const NAMES: [&'static str; 2] = ["server_auth", "client_auth"];

    pub fn name(self) -> &'static str {
        match self {
            Self::ServerAuth => "server_auth",
            Self::ClientAuth => "client_auth",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "server_auth" => Some(Self::ServerAuth),
            "client_auth" => Some(Self::ClientAuth),
            _ => None,
        }
    }
}

pub struct LeafRequest<'a> {
    pub common_name: &'a str,
    pub dns_names: &'a [String],
    pub validity_days: i64,
    pub key_algorithm: KeyAlgorithm,
    pub usages: &'a [Usage],
}

/// The CA's certificate and key, as read from its Secret. The key is redacted from Debug.
#[derive(Clone)]
pub struct CaMaterial {
    pub certificate_pem: String,
    pub private_key_pem: KeyPem,
}

impl std::fmt::Debug for CaMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaMaterial").field("certificate_pem", &self.certificate_pem).field("private_key_pem", &"<redacted>").finish()
    }
}

/// Issues an end-entity certificate signed by `ca`. The returned certificate PEM is the leaf
/// alone; callers append the CA for a chain.
pub fn issue_leaf(ca: &CaMaterial, req: &LeafRequest<'_>) -> Result<Issued, PkiError> {
    let ca_key = KeyPair::from_pem(ca.private_key_pem.expose())?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&first_certificate(&ca.certificate_pem), ca_key)?;
    let key = req.key_algorithm.generate()?;
    let mut params = CertificateParams::new(req.dns_names.to_vec())?;
    params.distinguished_name.push(DnType::CommonName, req.common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = req
        .usages
        .iter()
        .map(|u| match u {
            Usage::ServerAuth => rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            Usage::ClientAuth => rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        })
        .collect();
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    let now = OffsetDateTime::now_utc().replace_millisecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
    params.not_before = now;
    params.not_after = now + time::Duration::days(req.validity_days);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued { certificate_pem: cert.pem(), private_key_pem: KeyPem::new(key.serialize_pem()) })
}

/// A fresh key and a certificate signing request for it, for a CA that signs remotely.
pub fn csr_for(key_algorithm: KeyAlgorithm, common_name: &str, dns_names: &[String]) -> Result<(String, KeyPem), PkiError> {
    let key = key_algorithm.generate()?;
    let mut params = CertificateParams::new(dns_names.to_vec())?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    let csr = params.serialize_request(&key)?;
    Ok((csr.pem()?, KeyPem::new(key.serialize_pem())))
}

/// A certificate signing request for a CA named as `req` says, for its key `key_pem`, for a
/// parent that signs remotely (ACM Private CA, whose template makes it a CA).
pub fn ca_csr_with(key_pem: &KeyPem, req: &CaRequest<'_>) -> Result<String, PkiError> {
    let key = KeyPair::from_pem(key_pem.expose())?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, req.common_name);
    if let Some(org) = req.organization {
        params.distinguished_name.push(DnType::OrganizationName, org);
    }
    Ok(params.serialize_request(&key)?.pem()?)
}

/// `bundle` with every certificate of `renewed`'s subject and key replaced by `renewed` (and
/// `renewed` added when none was there): a trust bundle after a root's renewal.
pub fn replace_in_bundle(bundle: &str, renewed: &str) -> String {
    let Ok(new) = inspect(renewed) else { return bundle.to_string() };
    let same = |pem: &str| inspect(pem).is_ok_and(|i| i.public_key == new.public_key && i.subject == new.subject);
    let mut out: Vec<String> = Vec::new();
    for pem in certificates(bundle) {
        let pem = if same(&pem) { first_certificate(renewed) } else { pem };
        if !out.contains(&pem) {
            out.push(pem);
        }
    }
    if !out.iter().any(|p| same(p)) {
        out.push(first_certificate(renewed));
    }
    out.concat()
}

/// True when the first certificate of `leaf_pem` was issued by the first certificate of
/// `ca_pem`: the issuer name matches and the signature verifies with the CA's key.
pub fn signed_by(leaf_pem: &str, ca_pem: &str) -> Result<bool, PkiError> {
    let leaf_der = first_der(leaf_pem)?;
    let ca_der = first_der(ca_pem)?;
    let (_, leaf) = X509Certificate::from_der(&leaf_der).map_err(|e| PkiError::X509(e.to_string()))?;
    let (_, ca) = X509Certificate::from_der(&ca_der).map_err(|e| PkiError::X509(e.to_string()))?;
    Ok(leaf.issuer() == ca.subject() && leaf.verify_signature(Some(ca.public_key())).is_ok())
}

fn first_der(pem_text: &str) -> Result<Vec<u8>, PkiError> {
    pem::parse_many(pem_text.as_bytes())
        .map_err(|e| PkiError::Pem(e.to_string()))?
        .into_iter()
        .find(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .ok_or_else(|| PkiError::Pem("no CERTIFICATE block".into()))
}

/// What meshtls records about a certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateInfo {
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub dns_names: Vec<String>,
    pub issuer: String,
    pub subject: String,
    pub serial_hex: String,
    pub fingerprint_sha256: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub is_ca: bool,
    /// A CA's basicConstraints path length: how many CAs may follow it; `None` is no limit.
    pub path_len: Option<u32>,
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Extended key usages meshtls knows, in the order of `Usage::NAMES`.
    pub usages: Vec<Usage>,
    /// The subject public key, to match a private key against.
    pub public_key: Vec<u8>,
}

/// Parses the first certificate of a PEM bundle.
pub fn inspect(pem_text: &str) -> Result<CertificateInfo, PkiError> {
    inspect_der(&first_der(pem_text)?)
}

pub fn inspect_der(der: &[u8]) -> Result<CertificateInfo, PkiError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| PkiError::X509(e.to_string()))?;
    let subject = cert.subject();
    let common_name = subject.iter_common_name().next().and_then(|a| a.as_str().ok()).map(str::to_string);
    let organization = subject.iter_organization().next().and_then(|a| a.as_str().ok()).map(str::to_string);
    let dns_names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let constraints = cert.basic_constraints().ok().flatten().map(|bc| bc.value.clone());
    let is_ca = constraints.as_ref().is_some_and(|bc| bc.ca);
    let path_len = constraints.and_then(|bc| bc.path_len_constraint);
    let eku = cert.extended_key_usage().ok().flatten().map(|e| (e.value.server_auth, e.value.client_auth));
    let usages = match eku {
        Some((server, client)) => {
            [(server, Usage::ServerAuth), (client, Usage::ClientAuth)].into_iter().filter(|(on, _)| *on).map(|(_, u)| u).collect()
        }
        None => Vec::new(),
    };
    let spki = cert.public_key();
    let key_algorithm = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::EC(point)) => match point.key_size() {
            256 => Some(KeyAlgorithm::EcdsaP256),
            384 => Some(KeyAlgorithm::EcdsaP384),
            _ => None,
        },
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => match rsa.key_size() {
            2048 => Some(KeyAlgorithm::Rsa2048),
            3072 => Some(KeyAlgorithm::Rsa3072),
            4096 => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        },
        _ => None,
    };
    Ok(CertificateInfo {
        common_name,
        organization,
        dns_names,
        issuer: cert.issuer().to_string(),
        subject: subject.to_string(),
        serial_hex: hex_colon(cert.raw_serial()),
        fingerprint_sha256: hex_colon(&Sha256::digest(der)),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        is_ca,
        path_len,
        key_algorithm,
        usages,
        public_key: spki.subject_public_key.data.to_vec(),
    })
}

/// True when `key_pem` is the private key of the certificate described by `info`.
pub fn key_matches(key_pem: &str, info: &CertificateInfo) -> bool {
    public_key_of(key_pem).is_some_and(|public| public == info.public_key)
}

/// The raw public key of a PEM private key, as a certificate's `public_key` holds it; `None`
/// when it is not a key meshtls can read.
pub fn public_key_of(key_pem: &str) -> Option<Vec<u8>> {
    KeyPair::from_pem(key_pem).ok().map(|k| k.public_key_raw().to_vec())
}

fn hex_colon(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// `N days left`, or how long ago it expired, as a person reads an expiry.
pub fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> String {
    match (not_after - now).whole_days() {
        d if not_after <= now => format!("expired {} days ago", -d),
        1 => "1 day left".to_string(),
        d => format!("{d} days left"),
    }
}

/// The first certificate of a PEM bundle: a `tls.crt`'s leaf, without its chain.
pub fn first_certificate(pem_text: &str) -> String {
    pem::parse_many(pem_text.as_bytes())
        .ok()
        .and_then(|blocks| blocks.into_iter().find(|b| b.tag() == "CERTIFICATE"))
        .map(|b| pem::encode(&b).replace("\r\n", "\n"))
        .unwrap_or_else(|| pem_text.to_string())
}

/// Every certificate of a PEM bundle, each as its own PEM, in order.
pub fn certificates(pem_text: &str) -> Vec<String> {
    pem::parse_many(pem_text.as_bytes())
        .map(|blocks| blocks.iter().filter(|b| b.tag() == "CERTIFICATE").map(|b| pem::encode(b).replace("\r\n", "\n")).collect())
        .unwrap_or_default()
}

/// The SHA-256 fingerprints of every certificate of a PEM bundle, in order; unreadable
/// certificates are left out.
pub fn fingerprints(pem_text: &str) -> Vec<String> {
    certificates(pem_text).iter().filter_map(|c| inspect(c).ok()).map(|i| i.fingerprint_sha256).collect()
}

/// RFC 3339, the form timestamps take in state.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_ca_is_a_ca_and_matches_its_key() {
        let issued = self_signed_ca(&CaRequest {
            common_name: "Test CA",
            organization: Some("Acme"),
            validity_days: 30,
            key_algorithm: KeyAlgorithm::EcdsaP256,
        })
        .unwrap();
        let info = inspect(&issued.certificate_pem).unwrap();
        assert!(info.is_ca);
        assert_eq!(info.common_name.as_deref(), Some("Test CA"));
        assert_eq!(info.organization.as_deref(), Some("Acme"));
        assert_eq!(info.key_algorithm, Some(KeyAlgorithm::EcdsaP256));
        assert_eq!((info.not_after - info.not_before).whole_days(), 30);
        assert!(key_matches(issued.private_key_pem.expose(), &info));
        let other = self_signed_ca(&CaRequest {
            common_name: "Other",
            organization: None,
            validity_days: 1,
            key_algorithm: KeyAlgorithm::EcdsaP384,
        })
        .unwrap();
        assert!(!key_matches(other.private_key_pem.expose(), &info));
        assert_eq!(inspect(&other.certificate_pem).unwrap().key_algorithm, Some(KeyAlgorithm::EcdsaP384));
    }

    #[test]
    fn leaves_chain_to_their_ca_only() {
        let ca =
            self_signed_ca(&CaRequest { common_name: "CA", organization: None, validity_days: 10, key_algorithm: KeyAlgorithm::EcdsaP256 })
                .unwrap();
        let other =
            self_signed_ca(&CaRequest { common_name: "CA", organization: None, validity_days: 10, key_algorithm: KeyAlgorithm::EcdsaP256 })
                .unwrap();
        let material = CaMaterial { certificate_pem: ca.certificate_pem.clone(), private_key_pem: ca.private_key_pem };
        let names = vec!["yelb-db.yelb.svc.cluster.local".to_string(), "*.yelb.svc.cluster.local".to_string()];
        let leaf = issue_leaf(
            &material,
            &LeafRequest {
                common_name: "yelb-db",
                dns_names: &names,
                validity_days: 5,
                key_algorithm: KeyAlgorithm::EcdsaP384,
                usages: &[Usage::ServerAuth, Usage::ClientAuth],
            },
        )
        .unwrap();
        let info = inspect(&leaf.certificate_pem).unwrap();
        assert_eq!(info.dns_names, names);
        assert!(!info.is_ca);
        assert_eq!(info.usages, vec![Usage::ServerAuth, Usage::ClientAuth]);
        assert!(key_matches(leaf.private_key_pem.expose(), &info));
        assert_eq!((info.not_after - info.not_before).whole_days(), 5);
        assert!(signed_by(&leaf.certificate_pem, &ca.certificate_pem).unwrap());
        // Same subject name, different key: the signature check tells them apart.
        assert!(!signed_by(&leaf.certificate_pem, &other.certificate_pem).unwrap());
    }

    #[test]
    fn an_intermediate_is_a_ca_with_its_path_length_signed_by_its_parent() {
        let req = |cn| CaRequest { common_name: cn, organization: None, validity_days: 10, key_algorithm: KeyAlgorithm::EcdsaP256 };
        let root = self_signed_ca(&req("Root")).unwrap();
        let parent = CaMaterial { certificate_pem: root.certificate_pem.clone(), private_key_pem: root.private_key_pem.clone() };
        let intermediate = issue_intermediate(&parent, &req("Cluster A"), 0).unwrap();
        let info = inspect(&intermediate.certificate_pem).unwrap();
        assert!(info.is_ca);
        assert_eq!(info.path_len, Some(0));
        assert_eq!(inspect(&root.certificate_pem).unwrap().path_len, None);
        assert!(signed_by(&intermediate.certificate_pem, &root.certificate_pem).unwrap());
        assert!(key_matches(intermediate.private_key_pem.expose(), &info));
        // A leaf signed by the intermediate, whose material is a chain: it signs with the first.
        let chain = format!("{}{}", intermediate.certificate_pem, root.certificate_pem);
        let signer = CaMaterial { certificate_pem: chain.clone(), private_key_pem: intermediate.private_key_pem.clone() };
        let leaf = issue_leaf(
            &signer,
            &LeafRequest { common_name: "svc", dns_names: &[], validity_days: 1, key_algorithm: KeyAlgorithm::EcdsaP256, usages: &[] },
        )
        .unwrap();
        assert!(signed_by(&leaf.certificate_pem, &intermediate.certificate_pem).unwrap());
        assert!(!signed_by(&leaf.certificate_pem, &root.certificate_pem).unwrap());
        assert_eq!(certificates(&chain).len(), 2);
        assert_eq!(fingerprints(&chain), vec![info.fingerprint_sha256, inspect(&root.certificate_pem).unwrap().fingerprint_sha256]);
    }

    #[test]
    fn a_renewed_ca_keeps_its_key_so_what_it_signed_still_verifies() {
        let req = |days| CaRequest { common_name: "Root", organization: None, validity_days: days, key_algorithm: KeyAlgorithm::EcdsaP256 };
        let root = self_signed_ca(&req(10)).unwrap();
        let material = CaMaterial { certificate_pem: root.certificate_pem.clone(), private_key_pem: root.private_key_pem.clone() };
        let leaf = issue_leaf(
            &material,
            &LeafRequest { common_name: "svc", dns_names: &[], validity_days: 1, key_algorithm: KeyAlgorithm::EcdsaP256, usages: &[] },
        )
        .unwrap();
        let renewed = renew_self_signed_ca(&root.private_key_pem, &req(100)).unwrap();
        let (old, new) = (inspect(&root.certificate_pem).unwrap(), inspect(&renewed).unwrap());
        assert_ne!(old.fingerprint_sha256, new.fingerprint_sha256);
        assert_eq!((old.public_key, old.subject), (new.public_key, new.subject));
        assert_eq!((new.not_after - new.not_before).whole_days(), 100);
        assert!(signed_by(&leaf.certificate_pem, &renewed).unwrap(), "the leaf verifies against the renewed root");
        // An intermediate renewed under it keeps its key too.
        let intermediate = issue_intermediate(&material, &req(5), 0).unwrap();
        let renewed_intermediate = renew_intermediate(&material, &intermediate.private_key_pem, &req(8), 0).unwrap();
        assert_eq!(inspect(&renewed_intermediate).unwrap().public_key, inspect(&intermediate.certificate_pem).unwrap().public_key);
        assert!(signed_by(&renewed_intermediate, &renewed).unwrap());
    }

    #[test]
    fn rsa_keys_are_recognised() {
        let issued = self_signed_ca(&CaRequest {
            common_name: "RSA CA",
            organization: None,
            validity_days: 1,
            key_algorithm: KeyAlgorithm::Rsa2048,
        })
        .unwrap();
        let info = inspect(&issued.certificate_pem).unwrap();
        assert_eq!(info.key_algorithm, Some(KeyAlgorithm::Rsa2048));
        assert!(key_matches(issued.private_key_pem.expose(), &info));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(inspect("not pem").is_err());
        assert!(inspect("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
        assert!(!key_matches(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            &CertificateInfo {
                common_name: None,
                organization: None,
                dns_names: vec![],
                issuer: String::new(),
                subject: String::new(),
                serial_hex: String::new(),
                fingerprint_sha256: String::new(),
                not_before: OffsetDateTime::UNIX_EPOCH,
                not_after: OffsetDateTime::UNIX_EPOCH,
                is_ca: false,
                path_len: None,
                key_algorithm: None,
                usages: vec![],
                public_key: vec![],
            }
        ));
    }
}
