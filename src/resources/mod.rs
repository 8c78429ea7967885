//! One file per resource or data source type.

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
