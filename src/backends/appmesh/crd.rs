//! The App Mesh controller's kinds meshtls reads and writes (appmesh.k8s.aws/v1beta2), as
//! serde types. meshtls owns a gateway's objects whole, but the controller adds fields of its
//! own (a VirtualGateway's `meshRef`, say): each spec keeps the fields meshtls does not write
//! in `other`, so a read-modify-replace leaves them as they were. A VirtualNode is the
//! application's, and keeps them at every level.

use std::collections::BTreeMap;

use kube::api::{ApiResource, GroupVersionKind, ObjectMeta, TypeMeta};
use kube::core::{NotUsed, Object};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub const GROUP: &str = "appmesh.k8s.aws";
pub const VERSION: &str = "v1beta2";

pub type VirtualGateway = Object<VirtualGatewaySpec, NotUsed>;
pub type GatewayRoute = Object<GatewayRouteSpec, NotUsed>;

pub fn api_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, kind))
}

/// A new object of `kind`, with `spec`.
pub fn object<P: Clone>(kind: &str, metadata: ObjectMeta, spec: P) -> Object<P, NotUsed> {
    Object { types: Some(TypeMeta { api_version: format!("{GROUP}/{VERSION}"), kind: kind.into() }), metadata, spec, status: None }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualGatewaySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_name: Option<String>,
    #[serde(default)]
    pub namespace_selector: LabelSelector,
    #[serde(default)]
    pub pod_selector: LabelSelector,
    #[serde(default)]
    pub listeners: Vec<GatewayListener>,
    /// The client policy; meshtls removes it when the gateway has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_defaults: Option<BackendDefaults>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayListener {
    pub port_mapping: PortMapping,
    /// In the controller's TLS layout, shared with virtual nodes (see `model::crd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub port: i64,
    pub protocol: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendDefaults {
    pub client_policy: ClientPolicy,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Json>,
}

/// A VirtualNode is the application's: meshtls writes its listener's TLS and the client
/// policy's TLS only, so every level it walks through keeps the rest in `other`, and a
/// level the removal of TLS leaves empty goes away.
pub type VirtualNode = Object<VirtualNodeSpec, Json>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualNodeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<NodeListener>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_defaults: Option<NodeBackendDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_discovery: Option<ServiceDiscovery>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeListener {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_mapping: Option<NodePortMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Json>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePortMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeBackendDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_policy: Option<NodeClientPolicy>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClientPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Json>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDiscovery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsDiscovery>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsDiscovery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

impl VirtualNodeSpec {
    pub fn listener_ports(&self) -> Vec<Option<i64>> {
        self.listeners.iter().map(|l| l.port_mapping.as_ref().and_then(|p| p.port)).collect()
    }

    pub fn client_policy_tls(&self) -> Option<&Json> {
        self.backend_defaults.as_ref()?.client_policy.as_ref()?.tls.as_ref()
    }

    /// Sets or removes `backendDefaults.clientPolicy.tls`, dropping the levels a removal
    /// leaves empty.
    pub fn set_client_policy_tls(&mut self, tls: Option<Json>) {
        let defaults = match (&mut self.backend_defaults, tls.is_some()) {
            (Some(d), _) => d,
            (None, false) => return,
            (None, true) => self.backend_defaults.insert(NodeBackendDefaults::default()),
        };
        match (&mut defaults.client_policy, tls) {
            (Some(p), tls) => p.tls = tls,
            (None, None) => {}
            (None, Some(tls)) => defaults.client_policy = Some(NodeClientPolicy { tls: Some(tls), other: BTreeMap::new() }),
        }
        if defaults.client_policy.as_ref().is_some_and(|p| p.tls.is_none() && p.other.is_empty()) {
            defaults.client_policy = None;
        }
        if defaults.client_policy.is_none() && defaults.other.is_empty() {
            self.backend_defaults = None;
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRouteSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_name: Option<String>,
    /// None for a route of another protocol (gRPC, HTTP/2), which meshtls does not write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_route: Option<HttpRoute>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    #[serde(rename = "match")]
    pub route_match: PrefixMatch,
    pub action: RouteAction,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrefixMatch {
    #[serde(default)]
    pub prefix: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteAction {
    pub target: RouteTarget,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTarget {
    pub virtual_service: VirtualServiceTarget,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceTarget {
    pub virtual_service_ref: NameRef,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NameRef {
    pub name: String,
}

impl HttpRoute {
    /// Requests whose path starts with `prefix` go to the VirtualService `virtual_service`.
    pub fn to_service(prefix: &str, virtual_service: &str) -> HttpRoute {
        HttpRoute {
            route_match: PrefixMatch { prefix: prefix.into() },
            action: RouteAction {
                target: RouteTarget {
                    virtual_service: VirtualServiceTarget { virtual_service_ref: NameRef { name: virtual_service.into() } },
                },
            },
        }
    }

    pub fn virtual_service(&self) -> &str {
        &self.action.target.virtual_service.virtual_service_ref.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_meshtls_does_not_write_survive_a_round_trip() {
        let written = json!({
            "awsName": "gw_yelb",
            "meshRef": { "name": "yelb", "uid": "1" },
            "namespaceSelector": { "matchLabels": { "gateway": "gw" } },
            "podSelector": { "matchLabels": { "app": "gw" } },
            "listeners": [{ "portMapping": { "port": 8443, "protocol": "http" } }]
        });
        let spec: VirtualGatewaySpec = serde_json::from_value(written.clone()).expect("a VirtualGateway spec");
        assert_eq!(spec.other.get("meshRef"), Some(&json!({ "name": "yelb", "uid": "1" })));
        assert_eq!(serde_json::to_value(&spec).expect("serializes"), written);
    }

    #[test]
    fn a_route_reads_in_the_controller_layout() {
        let route = json!({
            "awsName": "ui_yelb",
            "httpRoute": { "match": { "prefix": "/" }, "action": { "target": { "virtualService": { "virtualServiceRef": { "name": "yelb-ui" } } } } }
        });
        let spec: GatewayRouteSpec = serde_json::from_value(route.clone()).expect("a GatewayRoute spec");
        assert_eq!(spec.http_route, Some(HttpRoute::to_service("/", "yelb-ui")));
        assert_eq!(serde_json::to_value(&spec).expect("serializes"), route);
        let grpc: GatewayRouteSpec = serde_json::from_value(json!({ "grpcRoute": {} })).expect("another protocol");
        assert_eq!(grpc.http_route, None);
    }
}
