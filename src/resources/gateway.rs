//! `meshtls_gateway`: the TLS-terminating ingress gateway of the mesh (a VirtualGateway, its
//! GatewayRoutes and its Envoy Deployment), kept true on the cluster and the App Mesh API.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tfplugin::Validator;
use tfplugin::{at, Attr, AttributePath, Diagnostic, Diagnostics, Failure, Outcome, Saved, TypedPlan, TypedPlanRequest, TypedResource};

use crate::backends::appmesh::api_gateway::ApiGateway;
use crate::backends::appmesh::gateway::{self as gw, GatewayError, GatewayRoute, GatewaySide, GatewaySpec};
use crate::backends::appmesh::k8s_gateway::{self as appmesh_k8s_gateway, ClusterGateway};
use crate::backends::appmesh::{APP_MESH, TLS_MODES};
use crate::backends::model::{CertificateSource, ClientPolicyTls, ListenerTls, TlsMode};
use crate::clients::{aws_client_error, client_error, Clients};
use crate::names::{self, check_namespace, check_port, is_dns1123_label, parse_namespaced_id};
use crate::ownership::Owner;
use crate::resources::mesh_tls::{refreshed_status, single, trust_block, SideStatus, TrustConfig};

mod list;
mod model;
mod plan;

pub use list::GatewayList;
pub use model::Gateway;
use model::*;
use plan::*;

/// More Envoy replicas than this for one gateway is a typo, not a plan.
const MAX_REPLICAS: i64 = 1000;

pub const TYPE_NAME: &str = "meshtls_gateway";
pub const DEFAULT_ENVOY_IMAGE: &str = "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.12.0-prod";

pub struct GatewayResource {
    clients: Arc<Clients>,
}

impl GatewayResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        GatewayResource { clients }
    }
}

/// The diagnostic for a failed step on either side: a refusal names the object and how to import
/// the gateway.
fn gateway_error(e: &GatewayError, action: &str, spec: &GatewaySpec) -> Diagnostic {
    match e {
        GatewayError::Ownership(own) => own.diagnostic(action, &format!("terraform import <address> {}/{}", spec.namespace, spec.name)),
        other => Diagnostic::error(format!("Failed to {action}"), other.to_string()),
    }
}

fn owner(spec: &GatewaySpec, m: &Gateway) -> Result<Owner, crate::ownership::OwnerIdError> {
    gw::owner(TYPE_NAME, spec, &m.owner_id)
}

#[async_trait]
impl TypedResource for GatewayResource {
    type Model = Gateway;
    type Identity = crate::resources::identity::NamespacedIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn identity(&self, state: &Self::Model) -> Option<Self::Identity> {
        crate::resources::identity::NamespacedIdentity::of(&state.namespace, &state.name)
    }

    fn schema(&self) -> Schema {
        let route = Block::new("A GatewayRoute: requests whose path starts with `prefix` go to `virtual_service`.")
            .attribute(Attribute::string("prefix").required().description("Path prefix, e.g. `/`."))
            .attribute(
                Attribute::string("virtual_service")
                    .required()
                    .description("Name of the VirtualService object (in `namespace`) to route to, e.g. `yelb-ui`."),
            );
        let client_policy = Block::new("TLS the gateway requires of the services it routes to.")
            .attribute(Attribute::bool("enforce").optional().description("Whether TLS to backends is enforced. Defaults to true."))
            .block(single("trust", trust_block(true)));
        Schema::new(
            0,
            Block::new("An ingress gateway terminating TLS for the mesh: a VirtualGateway with its GatewayRoutes (on the cluster and in the App Mesh API), the Envoy Deployment with the certificate Secret mounted read-only, and the namespace label `gateway=<name>` that selects the routes.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`namespace/name`."))
                .attribute(Attribute::string("namespace").required().requires_replace().validator(names::label("namespace name")).description("Namespace of the gateway's objects."))
                .attribute(Attribute::string("name").required().requires_replace().description("Name of the VirtualGateway and the Envoy Deployment (pods are labelled `app=<name>`)."))
                .attribute(Attribute::string("mesh_name").optional().computed().requires_replace().description("App Mesh mesh. Defaults to the provider's `mesh_name`."))
                .attribute(Attribute::string("aws_name").optional().computed().requires_replace().description("The gateway's App Mesh name. Defaults to `<name>_<namespace>`, as the App Mesh controller names it."))
                .attribute(Attribute::number("port").default(8443i64).description("Listener port (HTTP). Defaults to 8443."))
                .attribute(Attribute::string("tls_mode").default("STRICT").validator(Validator::one_of(&TLS_MODES)).description("Defaults to `STRICT`."))
                .attribute(Attribute::string("certificate_secret").required().validator(names::subdomain("Secret name")).description("TLS Secret served by the gateway, e.g. a `meshtls_certificate`'s `secret_name`."))
                .attribute(Attribute::string("mount_path").optional().computed().description("Where the Secret is mounted in Envoy. Defaults to `/etc/keys/<name>`."))
                .attribute(Attribute::string("envoy_image").default(DEFAULT_ENVOY_IMAGE).description("The Envoy image of the gateway Deployment."))
                .attribute(Attribute::number("replicas").default(1i64).validator(Validator::int_range(0, MAX_REPLICAS)).description("Number of gateway pods. Defaults to 1."))
                .attribute(Attribute::string("cluster_status").computed().description("`in sync`, or what differs on the cluster."))
                .attribute(Attribute::string("api_status").computed().description("`in sync`, `not managed`, or what differs in the App Mesh API."))
                .attribute(crate::resources::owner_id_attribute())
                .block(single("client_policy", client_policy))
                .block(NestedBlock::new("route", Nesting::List, route)),
        )
    }

    async fn validate(&self, config: &Gateway) -> Diagnostics {
        validate(config)
    }

    async fn modify_plan(&self, request: TypedPlanRequest<'_, Gateway>, plan: &mut TypedPlan<Gateway>) {
        let d = self::plan(request.config, &mut plan.planned, &self.clients.provider_mesh(), self.clients.aws_configured());
        plan.diagnostics.extend(d);
    }

    async fn create(&self, planned: Gateway, _config: Gateway) -> Outcome<Gateway> {
        self.apply(planned, false).await
    }

    async fn read(&self, mut state: Gateway, private: &[u8]) -> Result<Option<Saved<Gateway>>, Failure<Gateway>> {
        let spec = match spec_of(&state) {
            Some(spec) if !self.clients.cluster_unknown() => spec,
            _ => return Ok(Some(Saved::new(state).with_private(private.to_vec()))),
        };
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(&spec, &state)?;
        let mut warnings = Vec::new();
        let read = ClusterGateway { client: &client, owner: &owner }.drift(&spec).await;
        state.cluster_status = refreshed_status(&state.cluster_status, "cluster", read, &mut warnings);
        if let (true, Some(mesh)) = (self.clients.aws_configured(), state.mesh_name.known().cloned()) {
            if let Ok(aws) = self.clients.aws().await {
                let api = ApiGateway { client: &aws.appmesh, owner: &owner, mesh: &mesh, in_state: true };
                state.api_status = refreshed_status(&state.api_status, "App Mesh API", api.drift(&spec).await, &mut warnings);
            }
        }
        Ok(Some(Saved::new(state).with_private(private.to_vec()).warn(warnings)))
    }

    async fn update(&self, _prior: Gateway, planned: Gateway, _config: Gateway, _private: &[u8]) -> Outcome<Gateway> {
        self.apply(planned, true).await
    }

    async fn delete(&self, prior: Gateway, _private: &[u8]) -> Result<Diagnostics, Diagnostics> {
        let Some(spec) = spec_of(&prior) else { return Ok(Diagnostics::new()) };
        let owner = owner(&spec, &prior).map_err(|e| Diagnostics::from(Diagnostic::from(e)))?;
        let mut d = Diagnostics::new();
        // Warnings for what was left in place, or the error.
        let deleted = |side: &dyn GatewaySide, result: Result<Vec<Diagnostic>, GatewayError>| match result {
            Ok(left_alone) => left_alone,
            Err(e) => vec![gateway_error(&e, &format!("delete the gateway {}", side.place()), &spec)],
        };
        match self.clients.kube().await {
            Ok(client) => {
                let cluster = ClusterGateway { client: &client, owner: &owner };
                d.push_all(deleted(&cluster, cluster.delete(&spec).await));
            }
            Err(e) => d.extend(client_error(e)),
        }
        if let (true, Some(mesh)) = (self.clients.aws_configured(), prior.mesh_name.known()) {
            match self.clients.aws().await {
                Ok(aws) => {
                    let api = ApiGateway { client: &aws.appmesh, owner: &owner, mesh, in_state: true };
                    d.push_all(deleted(&api, api.delete(&spec).await));
                }
                Err(e) => d.extend(aws_client_error(e)),
            }
        }
        if d.has_errors() {
            Err(d)
        } else {
            Ok(d)
        }
    }

    async fn import(&self, id: &str) -> Outcome<Gateway> {
        let (namespace, name) = parse_namespaced_id(id)?;
        let client = self.clients.kube().await.map_err(client_error)?;
        let spec = appmesh_k8s_gateway::read_cluster(&client, namespace, name)
            .await
            .map_err(|e| Diagnostic::error("Cannot import", e.to_string()))?
            .ok_or_else(|| {
                Diagnostic::error("Cannot import: gateway not found", format!("No VirtualGateway {namespace}/{name} exists."))
            })?;
        let owner = Owner::fresh(TYPE_NAME, &format!("{namespace}/{name}"))?;
        // From here on meshtls manages the gateway's objects.
        (ClusterGateway { client: &client, owner: &owner })
            .adopt(&spec)
            .await
            .map_err(|e| gateway_error(&e, "mark the gateway's objects as managed by meshtls", &spec))?;
        let mesh = self.clients.provider_mesh().known().cloned();
        if let (true, Some(mesh)) = (self.clients.aws_configured(), &mesh) {
            let aws = self.clients.aws().await.map_err(crate::clients::aws_client_error)?;
            (ApiGateway { client: &aws.appmesh, owner: &owner, mesh, in_state: true })
                .adopt(&spec)
                .await
                .map_err(|e| gateway_error(&e, "tag the gateway's App Mesh objects as managed by meshtls", &spec))?;
        }
        let mut state = imported(&spec, mesh, self.clients.aws_configured());
        state.owner_id = owner.attr();
        Ok(Saved::new(state).warn(Diagnostics(owner.takeover_warnings())))
    }
}

impl GatewayResource {
    /// Creates or updates the gateway on each side it is managed on. What either side did
    /// write stays in state, with the failed side's status saying so, so a failed apply is
    /// finished or cleaned up later.
    async fn apply(&self, planned: Gateway, in_state: bool) -> Outcome<Gateway> {
        let spec = spec_of(&planned).ok_or_else(|| {
            Diagnostic::error("Incomplete configuration", "meshtls_gateway needs known values for every argument at apply time.")
        })?;
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(&spec, &planned)?;
        let mut state = planned;
        state.owner_id = owner.attr();
        let mut diagnostics = Diagnostics::new();
        let cluster = ClusterGateway { client: &client, owner: &owner };
        let mesh = state.mesh_name.known().cloned().filter(|_| self.clients.aws_configured());
        let aws = match &mesh {
            Some(_) => Some(self.clients.aws().await.map_err(|e| Diagnostic::error("AWS is not configured", e.to_string()))?),
            None => None,
        };
        let api = aws.as_ref().zip(mesh.as_deref()).map(|(aws, mesh)| ApiGateway { client: &aws.appmesh, owner: &owner, mesh, in_state });
        // Someone else's object on either side is refused before either side is written.
        if !in_state {
            let sides: Vec<&dyn GatewaySide> =
                std::iter::once(&cluster as &dyn GatewaySide).chain(api.iter().map(|a| a as &dyn GatewaySide)).collect();
            for side in sides {
                if let Err(e) = side.check_free(&spec).await {
                    return Err(Failure::new(gateway_error(&e, &format!("apply the gateway {}", side.place()), &spec)));
                }
            }
        }
        if let Err(e) = cluster.apply(&spec).await {
            diagnostics.push(gateway_error(&e, &format!("apply the gateway {}", cluster.place()), &spec));
            if !in_state && matches!(e, GatewayError::Ownership(_)) {
                // Refused before anything was written: nothing to keep in state.
                return Err(Failure::new(diagnostics));
            }
            state.cluster_status = SideStatus::ApplyFailed(e.to_string()).into();
        }
        if let Some(api) = &api {
            // Conflicts are retried around a fresh read, as for virtual nodes.
            let result = crate::backends::retry_conflicts(|| api.apply(&spec), GatewayError::is_conflict).await;
            if let Err(e) = result {
                diagnostics.push(gateway_error(&e, "apply the gateway in the App Mesh API", &spec));
                state.api_status = SideStatus::ApplyFailed(e.to_string()).into();
            }
        }
        if diagnostics.has_errors() {
            Err(Failure::new(diagnostics).keeping(state))
        } else {
            Ok(Saved::new(state).warn(diagnostics))
        }
    }
}

#[cfg(test)]
mod tests;
