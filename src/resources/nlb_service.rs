//! `meshtls_nlb_service`: the network load balancer in front of the gateway, as a Service of
//! type LoadBalancer with the AWS load balancer annotations for TLS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::ObjectMeta;
use kube::Api;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::Validator;
use tfplugin::{at, Attr, Diagnostic, Diagnostics, Failure, Outcome, Saved, TypedPlan, TypedPlanRequest, TypedResource};

use crate::clients::{client_error, Clients};
use crate::names::{self, check_port, parse_namespaced_id};
use crate::ownership::{Owned, Owner};

mod model;
mod plan;

pub use model::NlbService;
use model::*;
use plan::*;

/// Longest wait for the load balancer's hostname: an hour covers any NLB provisioning.
const MAX_WAIT_SECONDS: i64 = 3600;

pub const TYPE_NAME: &str = "meshtls_nlb_service";
const PREFIX: &str = "service.beta.kubernetes.io/aws-load-balancer-";

pub struct NlbServiceResource {
    clients: Arc<Clients>,
}

impl NlbServiceResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        NlbServiceResource { clients }
    }
}

/// arn:<partition>:acm:<region>:<12-digit account>:certificate/<id>
pub fn acm_arn_problem(arn: &str) -> Option<&'static str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return Some("an ARN has the form arn:aws:acm:<region>:<account>:certificate/<id>");
    }
    if parts[2] != "acm" {
        return Some("it is not an ACM ARN (the service must be `acm`)");
    }
    if parts[3].is_empty() || !parts[3].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Some("the region part is missing or malformed");
    }
    if parts[4].len() != 12 || !parts[4].chars().all(|c| c.is_ascii_digit()) {
        return Some("the account part must be 12 digits");
    }
    match parts[5].strip_prefix("certificate/") {
        Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => None,
        _ => Some("the resource part must be certificate/<id>"),
    }
}

/// The owner of the Service: the resource's id, `namespace/name`, and its `owner_id`.
fn owner(namespace: &str, name: &str, m: &NlbService) -> Result<Owner, crate::ownership::OwnerIdError> {
    Owner::of_attr(TYPE_NAME, &format!("{namespace}/{name}"), &m.owner_id)
}

fn service<'a>(client: &kube::Client, owner: &'a Owner, namespace: &str, name: &str) -> Owned<'a, Service> {
    Owned::new(Api::namespaced(client.clone(), namespace), Some(namespace), name, owner)
}

/// The load-balancer annotations meshtls writes (see `plan::annotations`); every other one,
/// such as `scheme`, `subnets` or `ssl-negotiation-policy`, is the user's.
const MANAGED_ANNOTATIONS: [&str; 4] = ["type", "ssl-cert", "backend-protocol", "ssl-ports"];

fn managed_annotation(key: &str) -> bool {
    key.strip_prefix(PREFIX).is_some_and(|rest| MANAGED_ANNOTATIONS.contains(&rest))
}

/// Brings meshtls's Service in line with `desired`: the load-balancer annotations meshtls
/// writes are replaced, and every other annotation kept, AWS ones included; type, selector
/// and ports are set, keeping the node port the cluster allocated for a port that stays, so
/// the load balancer is not rebuilt.
fn merge_service(existing: &mut Service, desired: &Service) {
    let annotations = existing.metadata.annotations.get_or_insert_with(Default::default);
    annotations.retain(|k, _| !managed_annotation(k));
    annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
    let (Some(have), Some(want)) = (existing.spec.as_mut(), desired.spec.as_ref()) else {
        existing.spec = desired.spec.clone();
        return;
    };
    let old_ports = have.ports.clone().unwrap_or_default();
    have.type_ = want.type_.clone();
    have.selector = want.selector.clone();
    have.ports = want.ports.clone().map(|ports| {
        ports
            .into_iter()
            .map(|mut p| {
                p.node_port = old_ports.iter().find(|o| o.port == p.port).and_then(|o| o.node_port);
                p
            })
            .collect()
    });
}

fn hostname_of(svc: &Service) -> Option<String> {
    svc.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?.iter().find_map(|i| i.hostname.clone().or_else(|| i.ip.clone()))
}

#[async_trait]
impl TypedResource for NlbServiceResource {
    type Model = NlbService;
    type Identity = crate::resources::identity::NamespacedIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn identity(&self, state: &Self::Model) -> Option<Self::Identity> {
        crate::resources::identity::NamespacedIdentity::of(&state.namespace, &state.name)
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("A Service of type LoadBalancer in front of a `meshtls_gateway`, annotated for an AWS network load balancer: TLS terminated at the NLB with an ACM certificate, or passed through to the gateway.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`namespace/name`."))
                .attribute(Attribute::string("namespace").required().requires_replace().validator(names::label("namespace name")).description("Namespace of the Service (the gateway's)."))
                .attribute(Attribute::string("name").required().requires_replace().validator(names::label("Service name")).description("Name of the Service."))
                .attribute(Attribute::string("gateway").required().validator(names::label("gateway name")).description("The gateway's name: the Service selects pods labelled `app=<gateway>`."))
                .attribute(Attribute::number("port").default(443i64).description("Port the load balancer listens on. Defaults to 443."))
                .attribute(Attribute::number("target_port").default(8443i64).description("The gateway's listener port. Defaults to 8443."))
                .attribute(Attribute::string("tls_termination").default("nlb").validator(Validator::one_of(&["nlb", "gateway"])).description("`nlb` (default): the NLB terminates TLS with `acm_certificate_arn` and re-encrypts to the gateway. `gateway`: a plain TCP NLB passes TLS through to the gateway."))
                .attribute(Attribute::string("acm_certificate_arn").optional().description("ACM certificate for the NLB's TLS listener; required with `tls_termination = \"nlb\"`."))
                .attribute(Attribute::bool("wait_for_load_balancer").default(false).description("Wait at apply until the load balancer's hostname is known. Off by default."))
                .attribute(Attribute::number("wait_timeout_seconds").default(600i64).validator(Validator::int_range(1, MAX_WAIT_SECONDS)).description("How long to wait for the hostname, in seconds. Defaults to 600."))
                .attribute(Attribute::string("hostname").computed().description("The load balancer's DNS name from the Service's status; null until AWS provisions it."))
                .attribute(crate::resources::owner_id_attribute()),
        )
    }

    async fn validate(&self, config: &NlbService) -> Diagnostics {
        validate(config)
    }

    async fn modify_plan(&self, request: TypedPlanRequest<'_, NlbService>, plan: &mut TypedPlan<NlbService>) {
        self::plan(request.prior, request.config, &mut plan.planned);
    }

    async fn create(&self, planned: NlbService, _config: NlbService) -> Outcome<NlbService> {
        self.apply(planned).await
    }

    async fn read(&self, state: NlbService, private: &[u8]) -> Result<Option<Saved<NlbService>>, Failure<NlbService>> {
        let (Some(ns), Some(name)) = (state.namespace.known().cloned(), state.name.known().cloned()) else {
            return Ok(Some(Saved::new(state).with_private(private.to_vec())));
        };
        if self.clients.cluster_unknown() {
            return Ok(Some(Saved::new(state).with_private(private.to_vec())));
        }
        let client = self.clients.kube().await.map_err(client_error)?;
        // A Service that is gone, or is someone else's, plans a create (which then refuses).
        let owner = owner(&ns, &name, &state)?;
        let svc = service(&client, &owner, &ns, &name).get_ours().await.map_err(|e| e.diagnostic("read the Service", ""))?;
        Ok(svc.map(|svc| Saved::new(observed(state, &svc)).with_private(private.to_vec())))
    }

    async fn update(&self, _prior: NlbService, planned: NlbService, _config: NlbService, _private: &[u8]) -> Outcome<NlbService> {
        // A refused or failed write leaves what the prior state says.
        self.apply(planned).await
    }

    async fn delete(&self, prior: NlbService, _private: &[u8]) -> Result<Diagnostics, Diagnostics> {
        let (Some(ns), Some(name)) = (prior.namespace.known(), prior.name.known()) else { return Ok(Diagnostics::new()) };
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(ns, name, &prior).map_err(|e| Diagnostics::from(Diagnostic::from(e)))?;
        let deleted = service(&client, &owner, ns, name).delete().await.map_err(|e| e.diagnostic("delete the Service", ""))?;
        Ok(Diagnostics(deleted.warning().into_iter().collect()))
    }

    async fn import(&self, id: &str) -> Outcome<NlbService> {
        let (ns, name) = parse_namespaced_id(id)?;
        let client = self.clients.kube().await.map_err(client_error)?;
        // Import adopts the Service: from here on meshtls manages it.
        let owner = Owner::fresh(TYPE_NAME, &format!("{ns}/{name}"))?;
        let not_found = || Diagnostic::error("Cannot import: Service not found", format!("No Service {ns}/{name} exists."));
        if service(&client, &owner, ns, name).adopt().await.map_err(|e| e.diagnostic("import the Service", ""))?.is_none() {
            return Err(not_found().into());
        }
        let mut skeleton = import_skeleton(ns, name);
        skeleton.owner_id = owner.attr();
        let read = TypedResource::read(self, skeleton, &[]).await?.ok_or_else(|| Failure::from(not_found()))?;
        Ok(read.warn(Diagnostics(owner.takeover_warnings())))
    }
}

impl NlbServiceResource {
    /// Creates or updates the Service, then waits for its hostname if asked to.
    async fn apply(&self, planned: NlbService) -> Outcome<NlbService> {
        let desired = Desired::of(&planned)?;
        let (ns, name) = (&desired.namespace, &desired.name);
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(ns, name, &planned)?;
        let svc = service(&client, &owner, ns, name)
            .ensure(service_of(&desired), merge_service)
            .await
            .map_err(|e| e.diagnostic("apply the Service", &format!("terraform import <address> {ns}/{name}")).at(at("name")))?;
        let mut state = planned;
        state.owner_id = owner.attr();
        let mut hostname = hostname_of(&svc);
        if let (None, Some(timeout)) = (&hostname, desired.wait) {
            let api: Api<Service> = Api::namespaced(client.clone(), ns);
            let deadline = tokio::time::Instant::now() + timeout;
            while hostname.is_none() && tokio::time::Instant::now() < deadline && !self.clients.stopping() {
                tokio::time::sleep(Duration::from_secs(5).min(timeout)).await;
                hostname = api.get_opt(name).await.ok().flatten().as_ref().and_then(hostname_of);
            }
            if hostname.is_none() {
                state.hostname = Attr::Null;
                let error = Diagnostic::error(
                    "Load balancer not ready",
                    format!("Service {ns}/{name} got no load balancer hostname within {}s. Is the AWS Load Balancer Controller running? Set wait_for_load_balancer = false to skip waiting.", timeout.as_secs()),
                );
                // The Service exists: it stays in state.
                return Err(Failure::new(error).keeping(state));
            }
        }
        state.hostname = hostname.into();
        Ok(state.into())
    }
}

#[cfg(test)]
mod tests;
