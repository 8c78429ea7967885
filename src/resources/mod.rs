//! One file per resource or data source type.

/// The provider's type, the last part of its address, as `moved` sources name it.
pub const PROVIDER: &str = "meshtls";

/// The `owner_id` attribute of every resource that creates objects (see `ownership`).
pub fn owner_id_attribute() -> tfplugin::schema::Attribute {
    tfplugin::schema::Attribute::string("owner_id").computed().use_state_for_unknown().description(
        "A random id made at create or import. It is written into the `meshtls.dev/owner` marker (annotation or tag) of every object this resource creates, so a resource of the same type and id in another Terraform state cannot change or delete them, nor this one theirs.",
    )
}

use std::sync::Arc;

use crate::clients::Clients;

/// Every managed resource type, sharing `clients`.
pub fn all(clients: &Arc<Clients>) -> Vec<Arc<dyn tfplugin::Resource>> {
    let singles: Vec<Arc<dyn tfplugin::Resource>> = vec![
        Arc::new(ca::CaResource::new(clients.clone())),
        Arc::new(certificate::CertificateResource::new(clients.clone())),
        Arc::new(virtual_node_tls::VirtualNodeTlsResource::new(clients.clone())),
        Arc::new(gateway::GatewayResource::new(clients.clone())),
        Arc::new(nlb_service::NlbServiceResource::new(clients.clone())),
        Arc::new(istio_mtls::IstioMtlsResource::new(clients.clone())),
        Arc::new(istio_gateway::IstioGatewayResource::new(clients.clone())),
    ];
    singles.into_iter().chain(maps::all(clients)).collect()
}

pub mod ca;
pub mod certificate;
pub mod certificate_info;
pub mod gateway;
pub mod identity;
pub mod istio_gateway;
pub mod istio_mtls;
pub mod istio_revision;
pub mod maps;
pub mod mesh_tls;
pub mod nlb_service;
pub mod virtual_node_tls;

/// The paths at which the schema's validators refuse `model`, a configuration of the
/// resource type `type_name`, as the server checks it before the resource's own validate.
#[cfg(test)]
pub(crate) fn schema_refusals<M: serde::Serialize>(type_name: &str, model: &M) -> Vec<String> {
    let resource = all(&Clients::new()).into_iter().find(|r| r.type_name() == type_name).expect("a resource of that type");
    let schema = resource.schema();
    let value = tfplugin::to_value(model, &schema.value_type()).expect("the model as a value");
    schema.block.validate_values(&value).iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect()
}

/// Every path at which `model` is refused, in the server's order: the schema's validators,
/// then the resource's own validate, whose verdict is `own`.
#[cfg(test)]
pub(crate) fn refusals<M: serde::Serialize>(type_name: &str, model: &M, own: &tfplugin::Diagnostics) -> Vec<String> {
    let mut paths = schema_refusals(type_name, model);
    paths.extend(own.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)));
    paths
}
