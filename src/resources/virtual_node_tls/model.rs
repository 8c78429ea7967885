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

impl Listener {
    /// The configured mode; None while unknown, or when it is not App Mesh's (which the
    /// schema refuses).
    pub(super) fn tls_mode(&self) -> Option<TlsMode> {
        APP_MESH.parse(self.mode.known()?).ok()
    }
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
                    mode: l.tls_mode()?,
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

    /// The parts of the node's TLS this resource manages: those it has a block for.
    pub(super) fn managed(&self) -> Managed {
        Managed { listener: self.listener.is_some(), client_policy: self.client_policy.is_some() }
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
        mode: Attr::Known(APP_MESH.spell(l.mode).to_string()),
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

/// What each side's node held before meshtls first wrote it, or when it was imported, by side
/// name: kept in private state, so that destroy, or a block taken out of the configuration,
/// puts back what was there instead of removing TLS meshtls did not add.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Before {
    /// Kept from create or import on. A state written before meshtls kept records has none:
    /// what its nodes hold then is meshtls's own writing, never to be put back.
    #[serde(default)]
    pub(super) recorded: bool,
    #[serde(default)]
    pub(super) sides: BTreeMap<String, NodeTls>,
    /// The `secret:path` entry this resource added to the Deployment's secretMounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) mount: Option<String>,
    /// The application's entry at the same path that it displaced, put back on removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) displaced: Option<String>,
}

impl Before {
    /// A record started at create or import.
    pub(super) fn started() -> Before {
        Before { recorded: true, ..Default::default() }
    }

    pub(super) fn decode(private: &[u8]) -> Before {
        serde_json::from_slice(private).unwrap_or_default()
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        if *self == Before::default() {
            Vec::new()
        } else {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

/// What a side is written with: the managed parts from `want`; parts managed before but no
/// longer, from what was there before meshtls (`before`); the rest as they are (`current`).
pub(super) fn to_write(want: &NodeTls, current: &NodeTls, before: &NodeTls, managed: Managed, released: Managed) -> NodeTls {
    want.over(&before.over(current, released), managed)
}

/// The parts `prior` managed that `now` does not.
pub(super) fn released(prior: Managed, now: Managed) -> Managed {
    Managed { listener: prior.listener && !now.listener, client_policy: prior.client_policy && !now.client_policy }
}
