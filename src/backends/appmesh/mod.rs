//! AWS App Mesh, the mesh users are leaving: a virtual node's TLS lives on two sides, the
//! cluster's VirtualNode object (`k8s`) and the App Mesh API (`api`), and so does the ingress
//! gateway's (`k8s_gateway`, `api_gateway`, behind [`gateway::GatewaySide`]).

pub mod api;
pub mod api_gateway;
pub mod crd;
pub mod gateway;
pub mod k8s;
pub mod k8s_gateway;

/// App Mesh's TLS modes, as its API and the VirtualNode CRD spell them.
pub const TLS_MODES: [&str; 3] = ["STRICT", "PERMISSIVE", "DISABLED"];
