//! The CA's model: one field per schema attribute and block, and what it says about how
//! the CA is backed and what a create works from.

use super::*;

/// The resource's model: one field per schema attribute and block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateAuthority {
    pub id: Attr<String>,
    pub namespace: Attr<String>,
    pub secret_name: Attr<String>,
    pub common_name: Attr<String>,
    pub organization: Attr<String>,
    pub validity_days: Attr<i64>,
    pub warn_before_days: Attr<i64>,
    pub renew_before_days: Attr<i64>,
    pub key_algorithm: Attr<String>,
    pub path_length: Attr<i64>,
    pub layout: Attr<String>,
    pub certificate_pem: Attr<String>,
    pub fingerprint_sha256: Attr<String>,
    pub serial_number: Attr<String>,
    pub not_after: Attr<String>,
    pub days_remaining: Attr<i64>,
    pub trust_bundle_pem: Attr<String>,
    pub pca_arn: Attr<String>,
    pub pca_status: Attr<String>,
    pub owner_id: Attr<String>,
    pub cert_manager_issuer: Option<IssuerBlock>,
    pub acm_pca: Option<AcmPca>,
    pub key_pair: Option<KeyPair>,
    pub istio_plugin: Option<IstioPlugin>,
    pub parent: Option<Parent>,
    pub rotation: Option<Rotation>,
}

/// The `rotation` block: where a rotation of this root is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    pub phase: Attr<String>,
}

/// The `parent` block: the meshtls CA that signs this one, which makes it an intermediate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parent {
    pub ca_id: Attr<String>,
    pub certificate_pem: Attr<String>,
}

/// An intermediate's path length unless `path_length` says: it signs only leaves, as
/// Istio's per-cluster intermediates do.
pub(super) const DEFAULT_PATH_LENGTH: i64 = 0;
/// The most CA levels meshtls lets follow an intermediate.
pub(super) const MAX_PATH_LENGTH: i64 = 8;

/// The `istio_plugin` block: a copy of the CA key pair as Istio's plug-in CA, the Secret
/// `cacerts` in istiod's namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IstioPlugin {
    pub namespace: Attr<String>,
}

impl IstioPlugin {
    /// istiod's namespace; `istio-system` unless set.
    pub fn namespace(&self) -> Option<&str> {
        match &self.namespace {
            Attr::Null => Some(ISTIO_NAMESPACE),
            other => other.as_deref(),
        }
    }
}

/// The `key_pair` block: an existing CA certificate and its key. The key is write-only: it
/// is in the configuration at plan and apply, and null in every plan and state.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    pub certificate_pem: Attr<String>,
    pub private_key_pem_wo: Attr<String>,
    pub private_key_pem_wo_version: Attr<i64>,
}

/// The write-only key shows only whether it is set.
impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = match &self.private_key_pem_wo {
            Attr::Known(_) => "<redacted>",
            Attr::Unknown => "<unknown>",
            Attr::Null => "<null>",
        };
        f.debug_struct("KeyPair")
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem_wo", &key)
            .field("private_key_pem_wo_version", &self.private_key_pem_wo_version)
            .finish()
    }
}

impl std::fmt::Debug for GivenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GivenKey(..)")
    }
}

/// A private key from the configuration. Never printed: its Debug shows no part of it.
pub(super) struct GivenKey(pub(super) crate::pki::KeyPem);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerBlock {
    pub kind: Attr<String>,
    pub name: Attr<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmPca {
    pub arn: Attr<String>,
    pub create: Option<PcaCreate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcaCreate {
    pub permanent_deletion_days: Attr<i64>,
}

/// How the configuration (or state) wants the CA backed.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Backing {
    SelfSigned,
    Pca(PcaSource),
}

impl CertificateAuthority {
    pub(super) fn backing(&self) -> Backing {
        match &self.acm_pca {
            Some(AcmPca { arn: Attr::Known(arn), .. }) => Backing::Pca(PcaSource::Adopt(arn.clone())),
            Some(AcmPca { create: Some(_), .. }) => Backing::Pca(PcaSource::Create),
            _ => Backing::SelfSigned,
        }
    }

    /// Days ACM Private CA keeps a deleted CA restorable (validated to 7..=30).
    pub(super) fn deletion_days(&self) -> i32 {
        let days = self.acm_pca.as_ref().and_then(|p| p.create.as_ref()).and_then(|c| c.permanent_deletion_days.known().copied());
        i32::try_from(days.unwrap_or(DEFAULT_DELETION_DAYS).clamp(7, 30)).unwrap_or(7)
    }

    pub(super) fn issuer(&self) -> Option<(IssuerKind, &str)> {
        let issuer = self.cert_manager_issuer.as_ref()?;
        Some((IssuerKind::parse(issuer.kind.as_deref()?)?, issuer.name.as_deref()?))
    }

    /// How the Secret holds the CA; `tls` unless set. `None` while unknown or invalid.
    pub(super) fn layout(&self) -> Option<Layout> {
        match &self.layout {
            Attr::Null => Some(Layout::Tls),
            other => other.as_deref().and_then(Layout::parse),
        }
    }

    pub(super) fn secret_ref(&self) -> Option<(&str, &str)> {
        Some((self.namespace.as_deref()?, self.secret_name.as_deref()?))
    }

    /// The certificate of `key_pair`, when the CA is an existing one.
    pub(super) fn given_certificate(&self) -> Option<&str> {
        self.key_pair.as_ref()?.certificate_pem.as_deref()
    }

    /// The key of `key_pair`; only a configuration has it.
    pub(super) fn given_key(&self) -> Option<GivenKey> {
        self.key_pair.as_ref()?.private_key_pem_wo.known().map(|k| GivenKey(crate::pki::KeyPem::new(k.clone())))
    }

    /// Records what the CA's certificate says.
    pub(super) fn set_certificate(&mut self, certificate_pem: &str) -> Result<pki::CertificateInfo, pki::PkiError> {
        let info = pki::inspect(certificate_pem)?;
        self.certificate_pem = Attr::Known(certificate_pem.to_string());
        self.fingerprint_sha256 = Attr::Known(info.fingerprint_sha256.clone());
        self.serial_number = Attr::Known(info.serial_hex.clone());
        self.not_after = Attr::Known(pki::rfc3339(info.not_after));
        self.days_remaining = Attr::Known(days_until(info.not_after, time::OffsetDateTime::now_utc()));
        Ok(info)
    }

    /// Counts the days left again, as each refresh does.
    pub(super) fn count_days(&mut self, now: time::OffsetDateTime) {
        let not_after =
            self.not_after.as_deref().and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
        if let Some(not_after) = not_after {
            self.days_remaining = Attr::Known(days_until(not_after, now));
        }
    }

    /// A CA that exists but is not finished: what is still unknown becomes null, so the
    /// state can be saved (the CLI marks it tainted for replacement).
    pub(super) fn unfinished(mut self) -> Self {
        for attr in [
            &mut self.certificate_pem,
            &mut self.fingerprint_sha256,
            &mut self.serial_number,
            &mut self.not_after,
            &mut self.common_name,
            &mut self.organization,
        ] {
            if attr.is_unknown() {
                *attr = Attr::Null;
            }
        }
        if self.days_remaining.is_unknown() {
            self.days_remaining = Attr::Null;
        }
        self
    }
}

/// Whole days from `now` to `not_after`; negative once it has passed.
pub(super) fn days_until(not_after: time::OffsetDateTime, now: time::OffsetDateTime) -> i64 {
    let left = not_after - now;
    if left.is_negative() {
        -(-left).whole_days() - 1
    } else {
        left.whole_days()
    }
}

/// What a create or update works from: the plan with everything known and parsed.
pub(super) struct CaSpec {
    pub(super) namespace: String,
    pub(super) secret_name: String,
    pub(super) common_name: Option<String>,
    pub(super) organization: Option<String>,
    pub(super) validity_days: i64,
    pub(super) key_algorithm: KeyAlgorithm,
    pub(super) issuer: Option<(IssuerKind, String)>,
    pub(super) backing: Backing,
    /// Where the plug-in copy for istiod goes, if anywhere.
    pub(super) istio_namespace: Option<String>,
    /// The CA that signs this one (its id, and its certificate as planned), and the path
    /// length the intermediate gets.
    pub(super) parent: Option<(String, String, u8)>,
    pub(super) layout: Layout,
}

impl CaSpec {
    pub(super) fn of(m: &CertificateAuthority) -> Result<CaSpec, Diagnostic> {
        let incomplete =
            || Diagnostic::error("Incomplete configuration", "meshtls_ca needs known values for every argument at apply time.");
        let (namespace, secret_name) = m.secret_ref().ok_or_else(incomplete)?;
        Ok(CaSpec {
            namespace: namespace.to_string(),
            secret_name: secret_name.to_string(),
            common_name: m.common_name.known().cloned(),
            organization: m.organization.known().cloned(),
            validity_days: *m.validity_days.known().ok_or_else(incomplete)?,
            key_algorithm: m.key_algorithm.as_deref().and_then(KeyAlgorithm::parse).ok_or_else(incomplete)?,
            issuer: m.issuer().map(|(k, n)| (k, n.to_string())),
            backing: m.backing(),
            istio_namespace: match &m.istio_plugin {
                Some(p) => Some(p.namespace().ok_or_else(incomplete)?.to_string()),
                None => None,
            },
            layout: m.layout().ok_or_else(incomplete)?,
            parent: match &m.parent {
                Some(p) => {
                    let path_len = m.path_length.known().copied().unwrap_or(DEFAULT_PATH_LENGTH).clamp(0, MAX_PATH_LENGTH);
                    let (ca_id, pem) = (p.ca_id.known().ok_or_else(incomplete)?, p.certificate_pem.known().ok_or_else(incomplete)?);
                    Some((ca_id.clone(), pem.clone(), u8::try_from(path_len).unwrap_or(0)))
                }
                None => None,
            },
        })
    }

    pub(super) fn issuer_ref(&self) -> Option<(IssuerKind, &str)> {
        self.issuer.as_ref().map(|(k, n)| (*k, n.as_str()))
    }

    pub(super) fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.secret_name)
    }
}
