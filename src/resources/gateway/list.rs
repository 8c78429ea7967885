//! `meshtls_gateway` as a list resource (`terraform query`): every virtual gateway on the
//! cluster, with its listener's TLS mode there and in the App Mesh API and whether the two
//! agree, and the state an import of it records. A virtual gateway only the App Mesh API has
//! is reported as a warning: meshtls manages a gateway from its cluster objects. Listing
//! reads only.

use std::collections::BTreeMap;

use tfplugin::{Found, Listing, TypedListResource};

use super::*;
use crate::backends::appmesh::api_gateway as appmesh_api_gateway;
use crate::resources::identity::NamespacedIdentity;

/// The list block's `config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayQuery {
    pub mesh_name: Attr<String>,
    pub namespace: Attr<String>,
}

pub struct GatewayList {
    clients: Arc<Clients>,
}

impl GatewayList {
    pub fn new(clients: Arc<Clients>) -> Self {
        GatewayList { clients }
    }
}

/// The App Mesh API's view of a gateway's listener: its TLS, none, or the gateway is absent.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ApiSeen {
    NotRead,
    Absent,
    Tls(Option<ListenerTls>),
}

fn mode(tls: Option<&ListenerTls>) -> String {
    tls.map_or_else(|| "no TLS".to_string(), |t| APP_MESH.spell(t.mode).to_string())
}

/// One gateway as the list reports it.
pub(super) fn found(spec: &GatewaySpec, managed: bool, mesh: Option<String>, api: &ApiSeen) -> Found<Gateway, NamespacedIdentity> {
    let aws = *api != ApiSeen::NotRead;
    let mut state = imported(spec, mesh, aws);
    let cluster_mode = APP_MESH.spell(spec.listener.mode);
    let (api_mode, agreement) = match api {
        ApiSeen::NotRead => ("not read".to_string(), String::new()),
        ApiSeen::Absent => {
            state.api_status = Attr::Known(format!("drifted: virtual gateway {} not found", spec.aws_name));
            ("absent".to_string(), String::new())
        }
        ApiSeen::Tls(tls) => {
            // The API keeps the listener's mode and certificate; validation is compared on neither side.
            let same = tls.as_ref().map(|t| (&t.mode, &t.certificate)) == Some((&spec.listener.mode, &spec.listener.certificate))
                || (tls.is_none() && spec.listener.mode == TlsMode::Off);
            if !same {
                state.api_status = Attr::Known(format!("drifted: listener TLS is {} in the App Mesh API", mode(tls.as_ref())));
            }
            (mode(tls.as_ref()), if same { "; the sides agree".to_string() } else { "; the sides differ".to_string() })
        }
    };
    let managed = if managed { " (managed by meshtls)" } else { "" };
    Found {
        identity: NamespacedIdentity { namespace: spec.namespace.clone(), name: spec.name.clone() },
        display_name: format!(
            "{}/{} ({}): cluster {cluster_mode}, App Mesh {api_mode}{agreement}{managed}",
            spec.namespace, spec.name, spec.aws_name
        ),
        resource: state,
    }
}

#[async_trait]
impl TypedListResource for GatewayList {
    type Config = GatewayQuery;
    type Model = Gateway;
    type Identity = NamespacedIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("Every virtual gateway on the cluster, with its listener's TLS mode there and in the App Mesh API, and whether the two agree.")
                .attribute(Attribute::string("mesh_name").optional().description("The mesh. Defaults to the provider's `mesh_name`."))
                .attribute(Attribute::string("namespace").optional().description("Look for VirtualGateway objects in this namespace only; in all namespaces when unset.")),
        )
    }

    async fn validate(&self, config: &GatewayQuery) -> Diagnostics {
        let mut d = Diagnostics::new();
        check_namespace(&mut d, config.namespace.as_deref(), "namespace");
        d
    }

    async fn list(&self, config: GatewayQuery, limit: usize) -> Result<Listing<Gateway, NamespacedIdentity>, Diagnostics> {
        let provider_mesh = self.clients.provider_mesh();
        let mesh = config.mesh_name.known().or(provider_mesh.known()).cloned();
        let aws = self.clients.aws_configured();
        let mut warnings = Diagnostics::new();
        let api: Option<BTreeMap<String, Option<ListenerTls>>> = match (aws, &mesh) {
            (true, Some(mesh)) => {
                let clients = self.clients.aws().await.map_err(aws_client_error)?;
                Some(appmesh_api_gateway::list_listener_tls(&clients.appmesh, mesh).await.map_err(|e| {
                    Diagnostics::from(Diagnostic::error("Failed to list the mesh's virtual gateways", e.to_string()).at(at("mesh_name")))
                })?)
            }
            (true, None) => {
                return Err(Diagnostic::error("No mesh", "Set mesh_name in the list's config block or in the provider block.")
                    .at(at("mesh_name"))
                    .into())
            }
            (false, _) => None,
        };
        let client = self.clients.kube().await.map_err(client_error)?;
        let mut gateways = appmesh_k8s_gateway::list_cluster(&client, config.namespace.as_deref())
            .await
            .map_err(|e| Diagnostics::from(Diagnostic::error("Failed to list the cluster's virtual gateways", e.to_string())))?;
        gateways.sort_by(|(a, _), (b, _)| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let found = gateways
            .iter()
            .take(limit)
            .map(|(spec, managed)| {
                let seen = match &api {
                    None => ApiSeen::NotRead,
                    Some(api) => api.get(&spec.aws_name).map_or(ApiSeen::Absent, |tls| ApiSeen::Tls(tls.clone())),
                };
                found(spec, *managed, mesh.clone(), &seen)
            })
            .collect();
        if let Some(api) = &api {
            for name in api.keys().filter(|n| !gateways.iter().any(|(g, _)| &g.aws_name == *n)) {
                warnings.push(Diagnostic::warning(
                    "Virtual gateway without cluster objects",
                    format!("Virtual gateway {name} is in the App Mesh API but has no VirtualGateway object on the cluster; meshtls_gateway manages a gateway from its cluster objects."),
                ));
            }
        }
        Ok(Listing { found, warnings })
    }
}
