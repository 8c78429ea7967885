//! The gateway's model: one field per schema attribute and block.

use super::*;

/// The resource's model: one field per schema attribute and block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    pub id: Attr<String>,
    pub namespace: Attr<String>,
    pub name: Attr<String>,
    pub mesh_name: Attr<String>,
    pub aws_name: Attr<String>,
    pub port: Attr<i64>,
    pub tls_mode: Attr<String>,
    pub certificate_secret: Attr<String>,
    pub mount_path: Attr<String>,
    pub envoy_image: Attr<String>,
    pub replicas: Attr<i64>,
    pub cluster_status: Attr<String>,
    pub api_status: Attr<String>,
    pub owner_id: Attr<String>,
    pub client_policy: Option<ClientPolicy>,
    pub route: Option<Vec<Route>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPolicy {
    pub enforce: Attr<bool>,
    pub trust: Option<TrustConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub prefix: Attr<String>,
    pub virtual_service: Attr<String>,
}
