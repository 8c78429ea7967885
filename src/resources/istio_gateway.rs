//! `meshtls_istio_gateway`: the TLS-terminating ingress gateway of a mesh on Istio, the
//! counterpart of `meshtls_gateway` after App Mesh. A Gateway API Gateway (class `istio`)
//! serves a meshtls certificate Secret and an HTTPRoute sends requests on to the mesh's
//! services; istiod creates the Envoy Deployment and a ClusterIP Service for it, with pods
//! labelled `app=<name>`, so `meshtls_nlb_service` fronts it unchanged.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tfplugin::{
    at, Attr, AttributePath, Diagnostic, Diagnostics, Failure, MoveSource, Outcome, Saved, Type, TypedPlan, TypedPlanRequest, TypedResource,
};

use crate::backends::istio::gateway::{self as backend, IstioGateway as GatewayObjects, IstioGatewaySpec, IstioRoute, DEFAULT_CLASS};
use crate::clients::{client_error, Clients};
use crate::names::{self, check_port, dns_name_covers, dns_name_problem, is_dns1123_label, is_dns1123_subdomain, parse_namespaced_id};
use crate::ownership::{OwnError, Owner};
use crate::resources::istio_revision;
use crate::resources::mesh_tls::{refreshed_status, SideStatus};
use crate::resources::PROVIDER;
use crate::{pki, tls_secret};

mod model;
mod plan;

pub use model::IstioGateway;
use model::*;
use plan::*;

pub const TYPE_NAME: &str = "meshtls_istio_gateway";
/// One HTTPS listener per hostname; the Gateway API allows 64 listeners.
const MAX_HOSTNAMES: usize = 16;
const MAX_ROUTES: usize = 100;

pub struct IstioGatewayResource {
    clients: Arc<Clients>,
}

impl IstioGatewayResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        IstioGatewayResource { clients }
    }
}

/// The owner of the Gateway and HTTPRoute `m` names, by its `owner_id`.
fn owner(namespace: &str, name: &str, m: &IstioGateway) -> Result<Owner, crate::ownership::OwnerIdError> {
    Owner::of_attr(TYPE_NAME, &format!("{namespace}/{name}"), &m.owner_id)
}

fn own_error(e: &OwnError, action: &str, namespace: &str, name: &str) -> Diagnostic {
    e.diagnostic(action, &format!("terraform import <address> {namespace}/{name}"))
}

impl IstioGatewayResource {
    /// Writes the gateway; `prior` is the state before an update, None for a create.
    async fn apply(&self, planned: IstioGateway, prior: Option<&IstioGateway>) -> Outcome<IstioGateway> {
        let in_state = prior.is_some();
        let spec = planned.spec().ok_or_else(|| {
            Diagnostic::error("Incomplete configuration", "meshtls_istio_gateway needs known values for every argument at apply time.")
        })?;
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(&spec.namespace, &spec.name, &planned)?;
        let objects = GatewayObjects { client: &client, owner: &owner, namespace: spec.namespace.clone(), name: spec.name.clone() };
        let mut state = planned;
        state.owner_id = owner.attr();
        match objects.apply(&spec, prior.and_then(|p| p.istio_revision.as_deref())).await {
            Ok((gateway, route)) => {
                state.status = SideStatus::InSync.into();
                state.conditions = backend::conditions(&gateway, route.as_ref()).into();
                Ok(state.into())
            }
            Err(e) => {
                let diagnostic = own_error(&e, "apply the Istio gateway", &spec.namespace, &spec.name).at(at("name"));
                if !in_state && matches!(e, OwnError::NotOurs { .. }) {
                    // Refused before anything of this gateway was written... unless the Gateway
                    // was and the HTTPRoute was refused; then the state keeps it.
                    if objects.found().await.map(|f| f.ours().0.is_none()).unwrap_or(true) {
                        return Err(Failure::new(diagnostic));
                    }
                }
                state.status = SideStatus::ApplyFailed(e.to_string()).into();
                state.conditions = Attr::Null;
                Err(Failure::new(diagnostic).keeping(state))
            }
        }
    }

    /// The certificate served now, if its Secret can be read.
    async fn certificate(&self, client: &kube::Client, namespace: &str, secret: &str) -> Option<pki::CertificateInfo> {
        let observed = tls_secret::get(client, &self.clients.read_cache, namespace, secret).await.ok()??;
        observed.tls_crt.as_deref().and_then(|p| pki::inspect(p).ok())
    }
}

#[async_trait]
impl TypedResource for IstioGatewayResource {
    type Model = IstioGateway;
    type Identity = crate::resources::identity::NamespacedIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn identity(&self, state: &Self::Model) -> Option<Self::Identity> {
        crate::resources::identity::NamespacedIdentity::of(&state.namespace, &state.name)
    }

    fn schema(&self) -> Schema {
        let route = Block::new("A rule of the HTTPRoute: requests whose path starts with `prefix` go to `service` on `port`.")
            .attribute(Attribute::string("prefix").required().description("Path prefix, e.g. `/`."))
            .attribute(Attribute::string("service").required().description("A Service in `namespace`, e.g. `yelb-ui`."))
            .attribute(Attribute::number("port").required().description("The Service's port, e.g. `80`."));
        Schema::new(
            0,
            Block::new("An ingress gateway on Istio terminating TLS with a meshtls certificate: a Gateway API Gateway of class `istio` and its HTTPRoute. istiod creates the gateway's Envoy Deployment and a ClusterIP Service, and its pods are labelled `app=<name>` for `meshtls_nlb_service`. Behind it, Istio's mutual TLS encrypts every hop.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`namespace/name`."))
                .attribute(Attribute::string("namespace").required().requires_replace().validator(names::label("namespace name")).description("Namespace of the gateway, its certificate Secret and the services it routes to."))
                .attribute(Attribute::string("name").required().requires_replace().description("Name of the Gateway and HTTPRoute; the gateway's pods are labelled `app=<name>`."))
                .attribute(Attribute::string("gateway_class").default(DEFAULT_CLASS).description("The GatewayClass. Defaults to `istio`, which istiod creates."))
                .attribute(Attribute::number("port").default(8443i64).description("The HTTPS listener port, the NLB's target port. Defaults to 8443."))
                .attribute(Attribute::new("hostnames", Type::list(Type::String)).optional().description("Hosts the gateway serves, one HTTPS listener each; the certificate must cover them all. Any host when unset."))
                .attribute(Attribute::string("certificate_secret").required().validator(names::subdomain("Secret name")).description("TLS Secret in `namespace` the gateway serves, e.g. a `meshtls_certificate`'s `secret_name`. istiod sends a renewed certificate to the gateway without a restart."))
                .attribute(istio_revision::attribute("the gateway: its Gateway is labelled `istio.io/rev=<revision>`, so only that revision's istiod deploys and programs it"))
                .attribute(Attribute::string("status").computed().description("`in sync`, or what differs on the cluster."))
                .attribute(crate::resources::owner_id_attribute())
                .attribute(Attribute::string("conditions").computed().description("What istiod reports on the Gateway, its listeners and the route, e.g. `gateway Accepted=True ...`; null until it reports."))
                .block(NestedBlock::new("route", Nesting::List, route)),
        )
    }

    async fn validate(&self, config: &IstioGateway) -> Diagnostics {
        validate(config)
    }

    async fn modify_plan(&self, request: TypedPlanRequest<'_, IstioGateway>, plan: &mut TypedPlan<IstioGateway>) {
        self::plan(request.prior, request.config, &mut plan.planned);
        if self.clients.cluster_unknown() {
            return;
        }
        let Ok(client) = self.clients.kube().await else { return };
        if let Some(revision) = plan.planned.istio_revision.known() {
            plan.diagnostics.push_all(istio_revision::check_installed(&client, &self.clients.read_cache, revision).await);
        }
        let (Some(ns), Some(name)) = (plan.planned.namespace.known().cloned(), plan.planned.name.known().cloned()) else { return };
        // The served certificate must cover the hosts: checked when its Secret exists now.
        if let (Some(secret), Some(hosts)) = (plan.planned.certificate_secret.known(), plan.planned.hostnames.known()) {
            if let Some(info) = self.certificate(&client, &ns, secret).await {
                plan.diagnostics.push_all(certificate_problem(&info.dns_names, hosts, &ns, secret));
            }
        }
        // On create the owner id is made at apply: any object of this name is someone else's.
        let Ok(owner) = owner(&ns, &name, &plan.planned) else { return };
        let objects = GatewayObjects { client: &client, owner: &owner, namespace: ns.clone(), name: name.clone() };
        match objects.found().await {
            Ok(found) => {
                // Someone else's object of the gateway's name: refused now, with how to import.
                if request.prior.is_none() {
                    let found_here =
                        [("Gateway", found.gateway.as_ref().map(|(_, c)| c)), ("HTTPRoute", found.route.as_ref().map(|(_, c)| c))];
                    let import = format!("terraform import <address> {ns}/{name}");
                    let refused = crate::ownership::refusals(found_here, &ns, &name, "create the Istio gateway", &import);
                    plan.diagnostics.push_all(refused.into_iter().map(|d| d.at(at("name"))));
                }
                // What istiod refused, said where the plan is read.
                if let (Some(gateway), route) = found.ours() {
                    for refusal in backend::refusals(gateway, route) {
                        plan.diagnostics.push(Diagnostic::warning("istiod reports a problem with the gateway", refusal));
                    }
                }
            }
            Err(e) => plan.diagnostics.push(Diagnostic::warning("Could not read the Istio gateway", e.to_string())),
        }
    }

    async fn create(&self, planned: IstioGateway, _config: IstioGateway) -> Outcome<IstioGateway> {
        self.apply(planned, None).await
    }

    async fn read(&self, mut state: IstioGateway, private: &[u8]) -> Result<Option<Saved<IstioGateway>>, Failure<IstioGateway>> {
        let spec = match state.spec() {
            Some(spec) if !self.clients.cluster_unknown() => spec,
            _ => return Ok(Some(Saved::new(state).with_private(private.to_vec()))),
        };
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(&spec.namespace, &spec.name, &state)?;
        let objects = GatewayObjects { client: &client, owner: &owner, namespace: spec.namespace.clone(), name: spec.name.clone() };
        let found = objects.found().await;
        if let Ok(found) = &found {
            let (gateway, route) = found.ours();
            state.conditions = gateway.and_then(|g| backend::conditions(g, route)).into();
        }
        let mut warnings = Vec::new();
        state.status = refreshed_status(&state.status, "cluster", found.map(|f| backend::differences(&f, &spec)), &mut warnings);
        Ok(Some(Saved::new(state).with_private(private.to_vec()).warn(warnings)))
    }

    async fn update(&self, prior: IstioGateway, planned: IstioGateway, _config: IstioGateway, _private: &[u8]) -> Outcome<IstioGateway> {
        self.apply(planned, Some(&prior)).await
    }

    async fn delete(&self, prior: IstioGateway, _private: &[u8]) -> Result<Diagnostics, Diagnostics> {
        let (Some(ns), Some(name)) = (prior.namespace.known().cloned(), prior.name.known().cloned()) else {
            return Ok(Diagnostics::new());
        };
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(&ns, &name, &prior).map_err(|e| Diagnostics::from(Diagnostic::from(e)))?;
        let objects = GatewayObjects { client: &client, owner: &owner, namespace: ns.clone(), name: name.clone() };
        let warnings = objects.delete().await.map_err(|e| Diagnostics::from(own_error(&e, "delete the Istio gateway", &ns, &name)))?;
        Ok(Diagnostics(warnings))
    }

    /// `moved` from `meshtls_gateway`: leaving App Mesh, whose API may be gone, without
    /// destroying the gateway (see the leaving-App-Mesh guide).
    fn move_from(&self, source: &MoveSource<'_>) -> Option<Result<IstioGateway, Diagnostics>> {
        source.is(PROVIDER, crate::resources::gateway::TYPE_NAME).then(|| moved_from_gateway(source.state))
    }

    async fn import(&self, id: &str) -> Outcome<IstioGateway> {
        let (ns, name) = parse_namespaced_id(id)?;
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = Owner::fresh(TYPE_NAME, &format!("{ns}/{name}"))?;
        let objects = GatewayObjects { client: &client, owner: &owner, namespace: ns.into(), name: name.into() };
        // Import adopts the Gateway and its HTTPRoute: from here on meshtls manages them.
        let (gateway, route) = objects
            .adopt()
            .await
            .map_err(|e| own_error(&e, "import the Istio gateway", ns, name))?
            .ok_or_else(|| Diagnostic::error("Cannot import: Gateway not found", format!("No Gateway {ns}/{name} exists.")))?;
        let spec = backend::spec_of(ns, name, &gateway, route.as_ref());
        let mut state = imported(&spec, backend::conditions(&gateway, route.as_ref()));
        state.owner_id = owner.attr();
        Ok(Saved::new(state).warn(Diagnostics(owner.takeover_warnings())))
    }
}

#[cfg(test)]
mod tests;
