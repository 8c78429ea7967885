//! The map types: many services' certificates or mutual TLS under one resource instance, for
//! meshes large enough that `for_each` references cost the CLI N² work (see
//! docs/guides/large-meshes.md). Each entry is one object of the wrapped type, planned,
//! applied and read by it, so ownership, drift and diagnostics are the same as for its own
//! instances; only where the state lives differs.

use std::sync::Arc;

use tfplugin::map_resource::MapOf;

use crate::clients::Clients;
use crate::resources::{certificate, istio_mtls, virtual_node_tls};

/// Each map type: its name, the type of its entries, and the attribute holding them.
pub const MAPS: [(&str, &str, &str); 3] = [
    ("meshtls_certificate_map", certificate::TYPE_NAME, "certificates"),
    ("meshtls_virtual_node_tls_map", virtual_node_tls::TYPE_NAME, "virtual_nodes"),
    ("meshtls_istio_mtls_map", istio_mtls::TYPE_NAME, "services"),
];

pub fn all(clients: &Arc<Clients>) -> Vec<Arc<dyn tfplugin::Resource>> {
    let [certificates, virtual_nodes, services] = MAPS;
    vec![
        Arc::new(MapOf::new(
            Arc::new(certificate::CertificateResource::new(clients.clone())),
            certificates.0,
            certificates.2,
            "Service certificates signed by a `meshtls_ca`, one per key of `certificates`, each as a `meshtls_certificate` would make it. For hundreds of services: one reference to this resource gives a configuration every certificate, where a reference into a `for_each` resource costs the CLI all of its instances each time.",
        )),
        Arc::new(MapOf::new(
            Arc::new(virtual_node_tls::VirtualNodeTlsResource::new(clients.clone())),
            virtual_nodes.0,
            virtual_nodes.2,
            "TLS for many App Mesh virtual nodes, one per key of `virtual_nodes`, each as a `meshtls_virtual_node_tls` would set it. Fed from a `meshtls_certificate_map` with one `for` expression, a large mesh costs the CLI work that grows with the number of services, not with its square.",
        )),
        Arc::new(MapOf::new(
            Arc::new(istio_mtls::IstioMtlsResource::new(clients.clone())),
            services.0,
            services.2,
            "Mutual TLS on Istio for many workloads, one per key of `services`, each as a `meshtls_istio_mtls` would set it: a PeerAuthentication and optionally a DestinationRule per entry, with each entry's `status` and `effective_modes` showing its drift in `plan`.",
        )),
    ]
}
