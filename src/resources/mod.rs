//! One file per resource or data source type.

/// The provider's type, the last part of its address, as `moved` sources name it.
pub const PROVIDER: &str = "meshtls";

pub mod ca;
pub mod certificate;
pub mod certificate_info;
pub mod gateway;
pub mod identity;
pub mod istio_gateway;
pub mod istio_mtls;
pub mod mesh_tls;
pub mod nlb_service;
pub mod virtual_node_tls;

#[cfg(test)]
mod docs_tests;
#[cfg(test)]
mod model_tests;
