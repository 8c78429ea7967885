//! The Istio mutual-TLS model: one field per schema attribute and block, and the mesh TLS
//! settings it stands for.

use super::*;

/// The resource's model: one field per schema attribute and block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IstioMtls {
    pub id: Attr<String>,
    pub namespace: Attr<String>,
    pub name: Attr<String>,
    pub deployment: Attr<String>,
    pub selector: Attr<BTreeMap<String, String>>,
    pub mode: Attr<String>,
    pub enforce: Attr<bool>,
    pub istio_revision: Attr<String>,
    pub status: Attr<String>,
    pub owner_id: Attr<String>,
    pub effective_modes: Attr<BTreeMap<String, String>>,
    pub destination_rule: Option<DestinationRuleConfig>,
}

/// The `destination_rule` block: callers of `host` use Istio's mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationRuleConfig {
    pub host: Attr<String>,
    pub subject_alternative_names: Attr<Vec<String>>,
}

impl IstioMtls {
    /// The TLS settings the configuration (or state) asks for, in mesh-neutral terms.
    /// The configured mode; None while unknown, or when it is not Istio's (which validation
    /// refuses).
    pub(super) fn tls_mode(&self) -> Option<TlsMode> {
        istio::ISTIO.parse(self.mode.known()?).ok()
    }

    pub(super) fn desired_tls(&self) -> NodeTls {
        NodeTls {
            listener: self.tls_mode().map(|mode| ListenerTls {
                mode,
                certificate: None,
                trust: None,
                subject_alternative_names: Vec::new(),
            }),
            client_policy: self.destination_rule.as_ref().map(|d| ClientPolicyTls {
                enforce: true,
                ports: Vec::new(),
                certificate: None,
                trust: None,
                subject_alternative_names: d.subject_alternative_names.known().cloned().unwrap_or_default(),
            }),
        }
    }

    pub(super) fn host(&self) -> Option<String> {
        self.destination_rule.as_ref().and_then(|d| d.host.known().cloned())
    }
}
