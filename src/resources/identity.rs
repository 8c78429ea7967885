//! Resource identities: what names each resource's remote object. The CLI keeps an identity
//! beside the state, and an `import` block may give one instead of an ID.

//! Only data types live here: each resource sets its own identity from its state
//! (`TypedResource::identity`).

use serde::{Deserialize, Serialize};
use tfplugin::{Attr, Identity, IdentityAttribute, IdentitySchema};

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

    /// The identity of the Secret these name; None while either is not known.
    pub fn of(namespace: &Attr<String>, secret_name: &Attr<String>) -> Option<Self> {
        both(namespace, secret_name).map(|(namespace, secret_name)| SecretIdentity { namespace, secret_name })
    }
}

impl Identity for SecretIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(SecretIdentity::schema())
    }
    fn import_id(&self) -> String {
        format!("{}/{}", self.namespace, self.secret_name)
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

    /// The identity of the object these name; None while either is not known.
    pub fn of(namespace: &Attr<String>, name: &Attr<String>) -> Option<Self> {
        both(namespace, name).map(|(namespace, name)| NamespacedIdentity { namespace, name })
    }
}

impl Identity for NamespacedIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(NamespacedIdentity::schema())
    }
    fn import_id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
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

impl Identity for VirtualNodeIdentity {
    fn schema() -> Option<IdentitySchema> {
        Some(VirtualNodeIdentity::schema())
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
        let identity = SecretIdentity::of(&"yelb".into(), &"ca-key-pair".into()).expect("known");
        assert_eq!(identity.import_id(), "yelb/ca-key-pair");
        assert_eq!(SecretIdentity::of(&Attr::Unknown, &"ca-key-pair".into()), None);
        let identity = NamespacedIdentity::of(&"yelb".into(), &"yelb-nlb".into()).expect("known");
        assert_eq!(identity.import_id(), "yelb/yelb-nlb");

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
