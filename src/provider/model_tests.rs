//! Every typed model matches its schema: one field per attribute, of a type that holds the
//! attribute's values, and no field the schema lacks. A misspelt field fails here, not as a
//! silent null at run time.

use tfplugin::bridge::{check_model, BridgeError};
use tfplugin::{Provider, Type};

use super::MeshTls;
use crate::resources::{ca, certificate, certificate_info, gateway, istio_gateway, istio_mtls, maps, nlb_service, virtual_node_tls};

type Check = fn(&Type) -> Result<(), BridgeError>;

/// Each resource and data source type, with its model's check.
const MODELS: &[(&str, Check)] = &[
    (ca::TYPE_NAME, check_model::<ca::CertificateAuthority>),
    (certificate::TYPE_NAME, check_model::<certificate::Certificate>),
    (certificate_info::TYPE_NAME, check_model::<certificate_info::CertificateInfo>),
    (gateway::TYPE_NAME, check_model::<gateway::Gateway>),
    (istio_gateway::TYPE_NAME, check_model::<istio_gateway::IstioGateway>),
    (istio_mtls::TYPE_NAME, check_model::<istio_mtls::IstioMtls>),
    (nlb_service::TYPE_NAME, check_model::<nlb_service::NlbService>),
    (virtual_node_tls::TYPE_NAME, check_model::<virtual_node_tls::VirtualNodeTls>),
];

#[test]
fn every_model_matches_its_schema() {
    let provider = MeshTls::new();
    let mut schemas: Vec<(&str, Type)> = provider.resources().iter().map(|r| (r.type_name(), r.schema().value_type())).collect();
    schemas.extend(provider.data_sources().iter().map(|d| (d.type_name(), d.schema().value_type())));
    for (name, ty) in &schemas {
        // A map type's entries are its wrapped type's objects, checked by that type's model.
        let (name, ty) = match maps::MAPS.iter().find(|(map, _, _)| map == name) {
            Some((_, entry, attribute)) => match ty {
                Type::Object(attrs) => match attrs.get(*attribute) {
                    Some(Type::Map(entry_type)) => (entry, entry_type.as_ref().clone()),
                    other => panic!("{name}.{attribute} is {other:?}, not a map"),
                },
                other => panic!("{name} is {other:?}"),
            },
            None => (name, ty.clone()),
        };
        match MODELS.iter().find(|(n, _)| n == name) {
            Some((_, check)) => {
                if let Err(e) = check(&ty) {
                    panic!("{name}: {e}");
                }
            }
            None => panic!("{name} has no model check"),
        }
    }
    for (name, _) in MODELS {
        assert!(schemas.iter().any(|(n, _)| n == name), "{name} is not served by the provider");
    }
}
