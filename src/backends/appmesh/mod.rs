//! AWS App Mesh, the mesh users are leaving: a virtual node's TLS lives on two sides, the
//! cluster's VirtualNode object (`k8s`) and the App Mesh API (`api`), and so does the ingress
//! gateway's (`k8s_gateway`, `api_gateway`, behind [`gateway::GatewaySide`]).

pub mod api;
pub mod api_gateway;
pub mod crd;
pub mod gateway;
pub mod k8s;
pub mod k8s_gateway;

use super::model::Vocabulary;

/// App Mesh's TLS modes, as its API and the VirtualNode CRD spell them.
pub const APP_MESH: Vocabulary =
    Vocabulary { mesh: "App Mesh", strict: "STRICT", permissive: "PERMISSIVE", off: "DISABLED", inherited: None };
pub const TLS_MODES: [&str; 3] = APP_MESH.modes();
