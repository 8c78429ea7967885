//! The certificate's model: one field per schema attribute and block, and what an issue
//! works from.

use super::*;

/// The resource's model: one field per schema attribute and block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub id: Attr<String>,
    pub ca: Attr<String>,
    pub namespace: Attr<String>,
    pub secret_name: Attr<String>,
    pub dns_names: Attr<Vec<String>>,
    pub common_name: Attr<String>,
    pub validity_days: Attr<i64>,
    pub renew_before_days: Attr<i64>,
    pub key_algorithm: Attr<String>,
    pub usages: Attr<Vec<String>>,
    pub secret_labels: Attr<BTreeMap<String, String>>,
    pub secret_annotations: Attr<BTreeMap<String, String>>,
    pub restrict_secret_access: Option<SecretAccess>,
    pub serial_number: Attr<String>,
    pub fingerprint_sha256: Attr<String>,
    pub not_before: Attr<String>,
    pub not_after: Attr<String>,
    pub ca_fingerprint_sha256: Attr<String>,
    pub ca_bundle_fingerprints: Attr<Vec<String>>,
    pub owner_id: Attr<String>,
}

/// The `restrict_secret_access` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretAccess {
    pub service_accounts: Attr<Vec<String>>,
}

/// What an issue works from: the plan with everything known and parsed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Issue {
    pub(super) ca: String,
    pub(super) namespace: String,
    pub(super) secret_name: String,
    pub(super) leaf: ca_store::LeafSpec,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) annotations: BTreeMap<String, String>,
    /// The service accounts that may read the Secret, when access is restricted.
    pub(super) readers: Option<Vec<String>>,
}

impl Issue {
    pub(super) fn of(m: &Certificate) -> Result<Issue, Diagnostic> {
        let incomplete =
            || Diagnostic::error("Incomplete configuration", "meshtls_certificate needs known values for every argument at apply time.");
        let dns_names = m.dns_names.known().ok_or_else(incomplete)?.clone();
        let usages = m.usages.known().ok_or_else(incomplete)?.iter().map(|u| Usage::parse(u)).collect::<Option<Vec<_>>>();
        Ok(Issue {
            ca: m.ca.known().ok_or_else(incomplete)?.clone(),
            namespace: m.namespace.known().ok_or_else(incomplete)?.clone(),
            secret_name: m.secret_name.known().ok_or_else(incomplete)?.clone(),
            leaf: ca_store::LeafSpec {
                common_name: m.common_name.known().or(dns_names.first()).ok_or_else(incomplete)?.clone(),
                validity_days: *m.validity_days.known().ok_or_else(incomplete)?,
                key_algorithm: m.key_algorithm.as_deref().and_then(KeyAlgorithm::parse).ok_or_else(incomplete)?,
                usages: usages.ok_or_else(incomplete)?,
                dns_names,
            },
            labels: m.secret_labels.known().cloned().unwrap_or_default(),
            annotations: m.secret_annotations.known().cloned().unwrap_or_default(),
            readers: m.readers(),
        })
    }
}

impl Certificate {
    /// The service accounts `restrict_secret_access` names, if the block is set.
    pub(super) fn readers(&self) -> Option<Vec<String>> {
        self.restrict_secret_access.as_ref().map(|r| r.service_accounts.known().cloned().unwrap_or_default())
    }

    pub(super) fn secret_ref(&self) -> Option<(&str, &str)> {
        Some((self.namespace.as_deref()?, self.secret_name.as_deref()?))
    }

    /// Records what the issued certificate and its CA say.
    pub(super) fn set_certificate(&mut self, leaf: &pki::CertificateInfo, ca: &pki::CertificateInfo) {
        self.serial_number = Attr::Known(leaf.serial_hex.clone());
        self.fingerprint_sha256 = Attr::Known(leaf.fingerprint_sha256.clone());
        self.not_before = Attr::Known(pki::rfc3339(leaf.not_before));
        self.not_after = Attr::Known(pki::rfc3339(leaf.not_after));
        self.ca_fingerprint_sha256 = Attr::Known(ca.fingerprint_sha256.clone());
    }

    /// Records the roots the Secret's `ca.crt` holds.
    pub(super) fn set_bundle(&mut self, ca_crt: &str) {
        self.ca_bundle_fingerprints = Attr::Known(pki::fingerprints(ca_crt));
    }
}
