//! `meshtls_virtual_node_tls` as a list resource (`terraform query`): every virtual node of a
//! mesh, found in the App Mesh API and among the cluster's VirtualNode objects, with the TLS
//! mode each side holds and whether the sides agree, and the state an import of it records.
//! Listing reads only.

use std::collections::BTreeMap;

use tfplugin::{Found, Listing, TypedListResource};

use super::*;
use crate::backends::appmesh::api as appmesh_api;
use crate::backends::NodeView;
use crate::resources::identity::VirtualNodeIdentity;
use crate::resources::mesh_tls::SideStatus;

/// The list block's `config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeQuery {
    pub mesh_name: Attr<String>,
    pub namespace: Attr<String>,
}

pub struct VirtualNodeTlsList {
    clients: Arc<Clients>,
}

impl VirtualNodeTlsList {
    pub fn new(clients: Arc<Clients>) -> Self {
        VirtualNodeTlsList { clients }
    }
}

/// What one side holds for a node.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seen {
    /// The side is read and has no such node.
    Absent,
    /// The App Mesh API, without the provider's `aws` block.
    NotRead,
    View(Box<NodeView>),
    Unreadable(String),
}

impl Seen {
    fn of(view: Result<NodeView, SideError>) -> Seen {
        match view {
            Ok(v) => Seen::View(Box::new(v)),
            Err(SideError::NotFound { .. }) => Seen::Absent,
            Err(e) => Seen::Unreadable(e.to_string()),
        }
    }

    fn tls(&self) -> Option<&NodeTls> {
        match self {
            Seen::View(v) => Some(&v.tls),
            _ => None,
        }
    }

    /// The listener's TLS mode as people read it.
    fn mode(&self) -> String {
        match self {
            Seen::View(v) => v.tls.listener.as_ref().map_or_else(|| "no TLS".to_string(), |l| APP_MESH.spell(l.mode).to_string()),
            Seen::Absent => "absent".into(),
            Seen::NotRead => "not read".into(),
            Seen::Unreadable(_) => "unreadable".into(),
        }
    }
}

/// One node as the list reports it. The import state takes its TLS settings from the App
/// Mesh API when it has the node, else from the cluster, as import does; a cluster side that
/// differs shows as drift in `cluster_status`, as the next refresh would find it.
pub(super) fn found(
    mesh: &str,
    node: &str,
    object: Option<(&str, &str)>,
    cluster: &Seen,
    api: &Seen,
) -> Found<VirtualNodeTls, VirtualNodeIdentity> {
    let mut state = import_skeleton(&ImportId { mesh, node, cluster: object });
    let primary = api.tls().or(cluster.tls()).cloned().unwrap_or_default();
    (state.listener, state.client_policy) = tls_blocks(&primary);
    state.cluster_status = match (object, cluster) {
        (None, _) => SideStatus::NotManaged,
        (Some(_), Seen::View(v)) => SideStatus::of_drift(&v.tls.differences(&primary, &APP_MESH)),
        (Some(_), other) => SideStatus::Drifted(other.mode()),
    }
    .into();
    state.api_status = match api {
        Seen::NotRead => SideStatus::NotManaged,
        Seen::View(_) => SideStatus::InSync,
        other => SideStatus::Drifted(other.mode()),
    }
    .into();
    let agreement = match (cluster.tls(), api.tls()) {
        (Some(c), Some(a)) => match c.differences(a, &APP_MESH) {
            d if d.is_empty() => "; the sides agree".to_string(),
            d => format!("; the sides differ: {}", d.join("; ")),
        },
        _ => String::new(),
    };
    let where_ = object.map(|(ns, name)| format!(" ({ns}/{name})")).unwrap_or_default();
    Found {
        identity: VirtualNodeIdentity {
            mesh_name: Some(mesh.to_string()),
            virtual_node_name: node.to_string(),
            namespace: object.map(|(ns, _)| ns.to_string()),
            virtual_node: object.map(|(_, name)| name.to_string()),
        },
        display_name: format!("{node}{where_}: cluster {}, App Mesh {}{agreement}", cluster.mode(), api.mode()),
        resource: state,
    }
}

#[async_trait]
impl TypedListResource for VirtualNodeTlsList {
    type Config = NodeQuery;
    type Model = VirtualNodeTls;
    type Identity = VirtualNodeIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("Every virtual node of a mesh: in the App Mesh API and among the cluster's VirtualNode objects, with the TLS mode on each side and whether the two agree.")
                .attribute(Attribute::string("mesh_name").optional().description("The mesh. Defaults to the provider's `mesh_name`."))
                .attribute(Attribute::string("namespace").optional().description("Look for VirtualNode objects in this namespace only; in all namespaces when unset.")),
        )
    }

    async fn validate(&self, config: &NodeQuery) -> Diagnostics {
        let mut d = Diagnostics::new();
        crate::names::check_namespace(&mut d, config.namespace.as_deref(), "namespace");
        d
    }

    async fn list(&self, config: NodeQuery, limit: usize) -> Result<Listing<VirtualNodeTls, VirtualNodeIdentity>, Diagnostics> {
        let provider_mesh = self.clients.provider_mesh();
        let mesh = config.mesh_name.known().or(provider_mesh.known()).cloned().ok_or_else(|| {
            Diagnostics::from(
                Diagnostic::error("No mesh", "Set mesh_name in the list's config block or in the provider block.").at(at("mesh_name")),
            )
        })?;
        let mut warnings = Diagnostics::new();
        // The App Mesh API's nodes, each described.
        let mut api: BTreeMap<String, Seen> = BTreeMap::new();
        let aws = self.clients.aws_configured();
        if aws {
            let clients = self.clients.aws().await.map_err(aws_client_error)?;
            let names = appmesh_api::list_node_names(&clients.appmesh, &mesh).await.map_err(|e| {
                Diagnostics::from(Diagnostic::error("Failed to list the mesh's virtual nodes", e.to_string()).at(at("mesh_name")))
            })?;
            for name in names.into_iter().take(limit) {
                let side = ApiVirtualNode {
                    client: clients.appmesh.clone(),
                    cache: self.clients.read_cache.clone(),
                    mesh: mesh.clone(),
                    node: name.clone(),
                };
                api.insert(name, Seen::of(side.read(None).await));
            }
        }
        // The cluster's VirtualNode objects, by their App Mesh name.
        let client = self.clients.kube().await.map_err(client_error)?;
        let objects = match appmesh_k8s::list_nodes(&client, config.namespace.as_deref()).await {
            Ok(objects) => objects,
            Err(e) => {
                warnings.push(Diagnostic::warning("Could not list the cluster's VirtualNode objects", e.to_string()));
                Vec::new()
            }
        };
        let mut cluster: BTreeMap<String, (String, String, Seen)> = BTreeMap::new();
        for o in objects {
            cluster.insert(o.aws_name, (o.namespace, o.name, Seen::of(o.view)));
        }
        let mut names: Vec<&String> = api.keys().chain(cluster.keys()).collect();
        names.sort();
        names.dedup();
        let not_in_api = if aws { Seen::Absent } else { Seen::NotRead };
        let found = names
            .into_iter()
            .take(limit)
            .map(|name| {
                let (object, cluster_side) = match cluster.get(name) {
                    Some((ns, n, seen)) => (Some((ns.as_str(), n.as_str())), seen.clone()),
                    None => (None, Seen::Absent),
                };
                found(&mesh, name, object, &cluster_side, api.get(name).unwrap_or(&not_in_api))
            })
            .collect();
        Ok(Listing { found, warnings })
    }
}
