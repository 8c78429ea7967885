//! The virtual node TLS model: one field per schema attribute and block, and the mesh TLS
//! settings it stands for.

use super::*;

/// The resource's model: one field per schema attribute and block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualNodeTls {
    pub id: Attr<String>,
    pub mesh_name: Attr<String>,
    pub virtual_node_name: Attr<String>,
    pub certificate_secret: Attr<String>,
    pub mount_path: Attr<String>,
    pub restart_on_rotation: Attr<bool>,
    pub certificate_fingerprint: Attr<String>,
    pub cluster_status: Attr<String>,
    pub api_status: Attr<String>,
    pub kubernetes: Option<KubernetesTarget>,
    pub listener: Option<Listener>,
    pub client_policy: Option<ClientPolicy>,
}

/// The `kubernetes` block: the cluster side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesTarget {
    pub namespace: Attr<String>,
    pub virtual_node: Attr<String>,
    pub deployment: Attr<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub port: Attr<i64>,
    pub mode: Attr<String>,
    pub certificate: Option<CertificateConfig>,
    pub validation: Option<Validation>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    pub subject_alternative_names: Attr<Vec<String>>,
    pub trust: Option<TrustConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPolicy {
    pub enforce: Attr<bool>,
    pub ports: Attr<Vec<i64>>,
    pub subject_alternative_names: Attr<Vec<String>>,
    pub trust: Option<TrustConfig>,
    pub certificate: Option<CertificateConfig>,
}

/// `mesh/node`, or just `node` for a cluster-only resource with no mesh name.
pub(super) fn node_id(mesh: Option<&str>, node: &str) -> String {
    match mesh {
        Some(m) => format!("{m}/{node}"),
        None => node.to_string(),
    }
}

pub(super) fn known_list<T: Clone>(list: &Attr<Vec<T>>) -> Vec<T> {
    list.known().cloned().unwrap_or_default()
}

pub(super) fn list_or_null<T>(items: Vec<T>) -> Attr<Vec<T>> {
    if items.is_empty() {
        Attr::Null
    } else {
        Attr::Known(items)
    }
}

impl VirtualNodeTls {
    pub(super) fn listener_port(&self) -> Option<i64> {
        self.listener.as_ref().and_then(|l| l.port.known().copied())
    }

    pub(super) fn deployment(&self) -> Option<&str> {
        self.kubernetes.as_ref().and_then(|k| k.deployment.as_deref())
    }

    /// The TLS settings the configuration (or state) asks for.
    pub(super) fn desired_tls(&self) -> NodeTls {
        NodeTls {
            listener: self.listener.as_ref().and_then(|l| {
                Some(ListenerTls {
                    mode: l.mode.known()?.clone(),
                    certificate: l.certificate.as_ref().and_then(CertificateConfig::source),
                    trust: l.validation.as_ref().and_then(|v| v.trust.as_ref()).and_then(TrustConfig::source),
                    subject_alternative_names: l.validation.as_ref().map(|v| known_list(&v.subject_alternative_names)).unwrap_or_default(),
                })
            }),
            client_policy: self.client_policy.as_ref().map(|c| ClientPolicyTls {
                enforce: c.enforce.known().copied().unwrap_or(true),
                ports: known_list(&c.ports),
                certificate: c.certificate.as_ref().and_then(CertificateConfig::source),
                trust: c.trust.as_ref().and_then(TrustConfig::source),
                subject_alternative_names: known_list(&c.subject_alternative_names),
            }),
        }
    }

    /// Pod-template annotations this resource wants on the Deployment.
    pub(super) fn wanted_annotations(&self) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        if let (Some(secret), Some(path)) = (self.certificate_secret.known(), self.mount_path.known()) {
            out.insert(SECRET_MOUNTS_ANNOTATION.to_string(), Some(format!("{secret}:{path}")));
            if self.restart_on_rotation.known().copied().unwrap_or(true) {
                out.insert(FINGERPRINT_ANNOTATION.to_string(), self.certificate_fingerprint.known().cloned());
            }
        }
        out
    }
}

/// The listener and client-policy blocks that say `tls` (for import).
pub(super) fn tls_blocks(tls: &NodeTls) -> (Option<Listener>, Option<ClientPolicy>) {
    let listener = tls.listener.as_ref().map(|l| Listener {
        port: Attr::Null,
        mode: Attr::Known(l.mode.clone()),
        certificate: l.certificate.as_ref().map(CertificateConfig::of),
        validation: l.trust.as_ref().map(|t| Validation {
            subject_alternative_names: list_or_null(l.subject_alternative_names.clone()),
            trust: Some(TrustConfig::of(t)),
        }),
    });
    let client_policy = tls.client_policy.as_ref().map(|c| ClientPolicy {
        enforce: Attr::Known(c.enforce),
        ports: list_or_null(c.ports.clone()),
        subject_alternative_names: list_or_null(c.subject_alternative_names.clone()),
        trust: c.trust.as_ref().map(TrustConfig::of),
        certificate: c.certificate.as_ref().map(CertificateConfig::of),
    });
    (listener, client_policy)
}
