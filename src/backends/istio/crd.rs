//! The Istio kinds meshtls writes (`security.istio.io/v1` PeerAuthentication,
//! `networking.istio.io/v1` DestinationRule), as serde types. Each keeps the fields meshtls
//! does not write in `other`, so that drift can name what someone added to meshtls's own
//! object (a port-level DISABLE, load balancing) before apply removes it.

use std::collections::BTreeMap;

use kube::api::{ApiResource, GroupVersionKind, ObjectMeta, TypeMeta};
use kube::core::{NotUsed, Object};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub type PeerAuthentication = Object<PeerAuthenticationSpec, NotUsed>;
pub type DestinationRule = Object<DestinationRuleSpec, NotUsed>;

/// An Istio kind by group, version and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
}

pub const PEER_AUTHENTICATION: Kind = Kind { group: "security.istio.io", version: "v1", kind: "PeerAuthentication" };
pub const DESTINATION_RULE: Kind = Kind { group: "networking.istio.io", version: "v1", kind: "DestinationRule" };

impl Kind {
    pub fn api_resource(self) -> ApiResource {
        ApiResource::from_gvk(&GroupVersionKind::gvk(self.group, self.version, self.kind))
    }

    /// A new object of this kind, with `spec`.
    pub fn object<P: Clone>(self, metadata: ObjectMeta, spec: P) -> Object<P, NotUsed> {
        Object {
            types: Some(TypeMeta { api_version: format!("{}/{}", self.group, self.version), kind: self.kind.into() }),
            metadata,
            spec,
            status: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthenticationSpec {
    /// None: the policy covers the whole namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<Mtls>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mtls {
    /// `STRICT`, `PERMISSIVE`, `DISABLE` or `UNSET`; absent means UNSET (inherit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    #[serde(default)]
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}
