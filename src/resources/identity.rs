//! Resource identities: what names each resource's remote object. The CLI keeps an identity
//! beside the state, and an `import` block may give one instead of an ID.

use serde::{Deserialize, Serialize};
use tfplugin::{Attr, Identity, IdentityAttribute, IdentitySchema};

use super::ca::CertificateAuthority;
use super::certificate::Certificate;
use super::gateway::Gateway;
use super::istio_gateway::IstioGateway;
use super::istio_mtls::IstioMtls;
use super::nlb_service::NlbService;
use super::virtual_node_tls::VirtualNodeTls;

fn both(a: &Attr<String>, b: &Attr<String>) -> Option<(String, String)> {
    Some((a.known()?.clone(), b.known()?.clone()))
}

/// A resource named by the Secret it keeps: `meshtls_ca`, `meshtls_certificate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretIdentity {
    pub namespace: String,
    pub secret_name: String,
}

impl SecretIdentity {
    pub fn schema() -> IdentitySchema {
        IdentitySchema::new(vec![
            IdentityAttribute::required("namespace", "Namespace of the Secret."),
            IdentityAttribute::required("secret_name", "Name of the Secret."),
        ])
    }

    fn of(namespace: &Attr<String>, secret_name: &Attr<String>) -> Option<Self> {
        both(namespace, secret_name).map(|(namespace, secret_name)| SecretIdentity { namespace, secret_name })
    }

    fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.secret_name)
    }
}

impl Identity<CertificateAuthority> for SecretIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(SecretIdentity::schema())
    }
    fn of(state: &CertificateAuthority) -> Option<Self> {
        SecretIdentity::of(&state.namespace, &state.secret_name)
    }
    fn import_id(&self) -> String {
        self.id()
    }
}

impl Identity<Certificate> for SecretIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(SecretIdentity::schema())
    }
    fn of(state: &Certificate) -> Option<Self> {
        SecretIdentity::of(&state.namespace, &state.secret_name)
    }
    fn import_id(&self) -> String {
        self.id()
    }
}

/// A resource named by the cluster object it keeps: `meshtls_gateway` (its VirtualGateway and
/// Deployment), `meshtls_nlb_service` (its Service), `meshtls_istio_mtls` (its
/// PeerAuthentication and DestinationRule), `meshtls_istio_gateway` (its Gateway and HTTPRoute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespacedIdentity {
    pub namespace: String,
    pub name: String,
}

impl NamespacedIdentity {
    pub fn schema() -> IdentitySchema {
        IdentitySchema::new(vec![
            IdentityAttribute::required("namespace", "Namespace of the object."),
            IdentityAttribute::required("name", "Name of the object."),
        ])
    }

    fn of(namespace: &Attr<String>, name: &Attr<String>) -> Option<Self> {
        both(namespace, name).map(|(namespace, name)| NamespacedIdentity { namespace, name })
    }

    fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl Identity<Gateway> for NamespacedIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(NamespacedIdentity::schema())
    }
    fn of(state: &Gateway) -> Option<Self> {
        NamespacedIdentity::of(&state.namespace, &state.name)
    }
    fn import_id(&self) -> String {
        self.id()
    }
}

impl Identity<IstioGateway> for NamespacedIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(NamespacedIdentity::schema())
    }
    fn of(state: &IstioGateway) -> Option<Self> {
        NamespacedIdentity::of(&state.namespace, &state.name)
    }
    fn import_id(&self) -> String {
        self.id()
    }
}

/// Version 1 for `meshtls_istio_mtls`: the same attributes as 0. OpenTofu keeps the source's
/// identity on a `moved` block from `meshtls_virtual_node_tls` and asks the provider to upgrade
/// it, which only a newer version makes it do (see `IstioMtlsResource::upgrade_identity`).
pub const ISTIO_MTLS_IDENTITY_VERSION: i64 = 1;

impl Identity<IstioMtls> for NamespacedIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(IdentitySchema { version: ISTIO_MTLS_IDENTITY_VERSION, ..NamespacedIdentity::schema() })
    }
    fn of(state: &IstioMtls) -> Option<Self> {
        NamespacedIdentity::of(&state.namespace, &state.name)
    }
    fn import_id(&self) -> String {
        self.id()
    }
}

impl Identity<NlbService> for NamespacedIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(NamespacedIdentity::schema())
    }
    fn of(state: &NlbService) -> Option<Self> {
        NamespacedIdentity::of(&state.namespace, &state.name)
    }
    fn import_id(&self) -> String {
        self.id()
    }
}

/// `meshtls_virtual_node_tls`: the virtual node in a mesh, and the cluster's VirtualNode
/// object when the resource manages the cluster side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualNodeIdentity {
    pub mesh_name: Option<String>,
    pub virtual_node_name: String,
    pub namespace: Option<String>,
    pub virtual_node: Option<String>,
}

impl VirtualNodeIdentity {
    pub fn schema() -> IdentitySchema {
        IdentitySchema::new(vec![
            IdentityAttribute::required("mesh_name", "App Mesh mesh."),
            IdentityAttribute::required("virtual_node_name", "The virtual node's App Mesh name."),
            IdentityAttribute::optional("namespace", "Namespace of the VirtualNode object, when the cluster side is managed."),
            IdentityAttribute::optional("virtual_node", "Name of the VirtualNode object, when the cluster side is managed."),
        ])
    }
}

impl Identity<VirtualNodeTls> for VirtualNodeIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(VirtualNodeIdentity::schema())
    }

    fn of(state: &VirtualNodeTls) -> Option<Self> {
        let cluster = state.kubernetes.as_ref();
        Some(VirtualNodeIdentity {
            mesh_name: state.mesh_name.known().cloned(),
            virtual_node_name: state.virtual_node_name.known()?.clone(),
            namespace: cluster.and_then(|k| k.namespace.known().cloned()),
            virtual_node: cluster.and_then(|k| k.virtual_node.known().cloned()),
        })
    }

    /// The ID import takes: `mesh/virtual_node`, or `mesh/virtual_node/namespace/name`.
    fn import_id(&self) -> String {
        let mesh = self.mesh_name.as_deref().unwrap_or_default();
        match (&self.namespace, &self.virtual_node) {
            (Some(ns), Some(name)) => format!("{mesh}/{}/{ns}/{name}", self.virtual_node_name),
            _ => format!("{mesh}/{}", self.virtual_node_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin::bridge::check_model;

    #[test]
    fn identities_match_their_schemas() {
        check_model::<SecretIdentity>(&SecretIdentity::schema().value_type()).unwrap();
        check_model::<NamespacedIdentity>(&NamespacedIdentity::schema().value_type()).unwrap();
        check_model::<VirtualNodeIdentity>(&VirtualNodeIdentity::schema().value_type()).unwrap();
    }

    #[test]
    fn an_identity_stands_for_the_import_id() {
        let ca = CertificateAuthority { namespace: "yelb".into(), secret_name: "ca-key-pair".into(), ..Default::default() };
        let identity = <SecretIdentity as Identity<CertificateAuthority>>::of(&ca).expect("known");
        assert_eq!(Identity::<CertificateAuthority>::import_id(&identity), "yelb/ca-key-pair");
        let unknown = CertificateAuthority { namespace: Attr::Unknown, ..ca };
        assert_eq!(<SecretIdentity as Identity<CertificateAuthority>>::of(&unknown), None);

        let nlb = NlbService { namespace: "yelb".into(), name: "yelb-nlb".into(), ..Default::default() };
        let identity = <NamespacedIdentity as Identity<NlbService>>::of(&nlb).expect("known");
        assert_eq!(Identity::<NlbService>::import_id(&identity), "yelb/yelb-nlb");

        let node = VirtualNodeIdentity {
            mesh_name: Some("yelb".into()),
            virtual_node_name: "yelb-db_yelb".into(),
            namespace: Some("yelb".into()),
            virtual_node: Some("yelb-db".into()),
        };
        assert_eq!(node.import_id(), "yelb/yelb-db_yelb/yelb/yelb-db");
        assert_eq!(VirtualNodeIdentity { namespace: None, virtual_node: None, ..node }.import_id(), "yelb/yelb-db_yelb");
    }
}
