//! `meshtls_istio_mtls`: mutual TLS for a service (or a whole namespace) on Istio, the
//! counterpart of `meshtls_virtual_node_tls` after App Mesh: a PeerAuthentication in STRICT
//! mode for what the workload's sidecars accept, and optionally a DestinationRule with
//! ISTIO_MUTUAL for what its callers send. Istio issues and rotates the certificates itself,
//! signed by a `meshtls_ca` plugged in as its CA, so nothing here mounts or restarts anything.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::{
    at, Attr, AttributePath, Diagnostic, Diagnostics, Failure, MoveSource, Outcome, Saved, Type, TypedPlan, TypedPlanRequest, TypedResource,
};

use crate::backends::istio::crd::{DestinationRule, PeerAuthentication};
use crate::backends::istio::{self, IstioWorkload};
use crate::backends::model::{ClientPolicyTls, ListenerTls, NodeTls, TlsMode};
use crate::backends::{MeshSide, SideError};
use crate::clients::{client_error, Clients};
use crate::names::{self, is_dns1123_label, is_dns1123_subdomain, parse_namespaced_id};
use crate::ownership::Owner;
use crate::resources::istio_revision;
use crate::resources::mesh_tls::{off_to_strict_warning, refreshed_status, single, SideStatus};
use crate::resources::{virtual_node_tls, PROVIDER};

mod model;
mod plan;

pub use model::IstioMtls;
use model::*;
use plan::*;

pub const TYPE_NAME: &str = "meshtls_istio_mtls";
/// The identity's version (see `identity_schema`).
pub const ISTIO_MTLS_IDENTITY_VERSION: i64 = 1;
const NAMESPACE_WIDE_NAME: &str = "default";
/// Bounds on lists that come from configuration: more is a mistake, not a policy.
const MAX_SELECTOR_LABELS: usize = 64;
const MAX_SANS: usize = 100;

pub struct IstioMtlsResource {
    clients: Arc<Clients>,
}

impl IstioMtlsResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        IstioMtlsResource { clients }
    }
}

/// The owner of the policy objects `m` names, by its `owner_id`.
fn owner(namespace: &str, name: &str, m: &IstioMtls) -> Result<Owner, crate::ownership::OwnerIdError> {
    Owner::of_attr(TYPE_NAME, &format!("{namespace}/{name}"), &m.owner_id)
}

/// The diagnostic for a failed write: a refusal names the object and how to import it.
fn side_error(e: &SideError, action: &str, namespace: &str, name: &str) -> Diagnostic {
    match e {
        SideError::Ownership(own) => own.diagnostic(action, &format!("terraform import <address> {namespace}/{name}")).at(at("name")),
        other => Diagnostic::error(format!("Failed to {action}"), other.to_string()),
    }
}

impl IstioMtlsResource {
    /// The workload's objects as `m` names them; None until namespace and name are known.
    fn side<'a>(&'a self, client: &'a kube::Client, owner: &'a Owner, m: &IstioMtls) -> Option<IstioWorkload<'a>> {
        Some(IstioWorkload {
            client,
            cache: &self.clients.read_cache,
            owner,
            namespace: m.namespace.known()?.clone(),
            name: m.name.known()?.clone(),
            selector: m.selector.known().cloned(),
            host: m.host(),
        })
    }

    /// The modes Istio enforces now on the workloads `m`'s own policy covers; None when the
    /// namespace cannot be read.
    async fn effective_modes(&self, client: &kube::Client, m: &IstioMtls) -> Option<BTreeMap<String, String>> {
        let (ns, name) = (m.namespace.known()?, m.name.known()?);
        let view = istio::mesh_view(client, &self.clients.read_cache, ns).await.ok()?;
        let own = view.policies.iter().find(|p| &p.name == name)?;
        Some(described(&covered_modes(&view, own)))
    }

    async fn apply(&self, planned: IstioMtls) -> Outcome<IstioMtls> {
        let incomplete = || Diagnostic::error("Incomplete configuration", "meshtls_istio_mtls needs known values at apply time.");
        let (Some(ns), Some(name)) = (planned.namespace.known().cloned(), planned.name.known().cloned()) else {
            return Err(incomplete().into());
        };
        if planned.selector.is_unknown() {
            return Err(incomplete().into());
        }
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(&ns, &name, &planned)?;
        let side = self.side(&client, &owner, &planned).ok_or_else(incomplete)?;
        let mut state = planned;
        state.owner_id = owner.attr();
        match side.write(None, &state.desired_tls()).await {
            Ok(()) => {
                state.status = SideStatus::InSync.into();
                state.effective_modes = match self.effective_modes(&client, &state).await {
                    Some(modes) => Attr::Known(modes),
                    None => state.effective_modes.known().cloned().map_or(Attr::Null, Attr::Known),
                };
                Ok(state.into())
            }
            Err(e) => {
                let diagnostic = side_error(&e, "apply the Istio policy", &ns, &name);
                // What was written stays in state; the status says the rest did not land.
                state.status = SideStatus::ApplyFailed(e.to_string()).into();
                Err(Failure::new(diagnostic).keeping(state))
            }
        }
    }
}

#[async_trait]
impl TypedResource for IstioMtlsResource {
    type Model = IstioMtls;
    type Identity = crate::resources::identity::NamespacedIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn identity(&self, state: &Self::Model) -> Option<Self::Identity> {
        crate::resources::identity::NamespacedIdentity::of(&state.namespace, &state.name)
    }

    /// Version 1, the same attributes as 0: OpenTofu keeps the source's identity on a `moved`
    /// block from `meshtls_virtual_node_tls` and asks the provider to upgrade it, which only a
    /// newer version makes it do (see `upgrade_identity`).
    fn identity_schema(&self) -> Option<tfplugin::IdentitySchema> {
        Some(tfplugin::IdentitySchema { version: ISTIO_MTLS_IDENTITY_VERSION, ..crate::resources::identity::NamespacedIdentity::schema() })
    }

    fn schema(&self) -> Schema {
        let destination_rule = Block::new("Have callers of the service use Istio's mutual TLS (a DestinationRule with `ISTIO_MUTUAL`), the counterpart of App Mesh's client policy. Needed where auto mTLS is off, or to pin the server's identity.")
            .attribute(Attribute::string("host").required().description("The service's host, e.g. `yelb-ui.yelb.svc.cluster.local`."))
            .attribute(
                Attribute::new("subject_alternative_names", Type::list(Type::String))
                    .optional()
                    .description("Accept only a server whose certificate has one of these names, e.g. `spiffe://cluster.local/ns/yelb/sa/yelb-ui`."),
            );
        Schema::new(
            0,
            Block::new("Mutual TLS on Istio for one workload or a whole namespace: a PeerAuthentication (STRICT by default) and optionally a DestinationRule with `ISTIO_MUTUAL`. Istio's CA (a `meshtls_ca` plugged in as `cacerts`) issues and rotates the certificates over SDS, so no Secret is mounted and no pod restarts on rotation. A change made to either object outside Terraform shows in `plan` as a change of `status`.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`namespace/name`."))
                .attribute(Attribute::string("namespace").required().requires_replace().validator(names::label("namespace name")).description("Namespace of the workload and of the policy objects."))
                .attribute(Attribute::string("name").optional().computed().requires_replace().description("Name of the PeerAuthentication and DestinationRule. Defaults to `deployment`, or to `default` for a namespace-wide policy; required with `selector`."))
                .attribute(Attribute::string("deployment").optional().description("A Deployment whose pods the policy covers: its `spec.selector.matchLabels` become the policy's selector. Without this and `selector`, the policy covers the whole namespace."))
                .attribute(Attribute::new("selector", Type::map(Type::String)).optional().computed().description("Pod labels the policy covers. Read from `deployment` when that is set; null for the whole namespace."))
                .attribute(Attribute::string("mode").default("STRICT").description("`STRICT` (mutual TLS only, the default), `PERMISSIVE` (mutual TLS and plaintext, for migrations) or `DISABLE`."))
                .attribute(Attribute::bool("enforce").default(false).description("Make it an error at plan, rather than a warning, when Istio would enforce less than `mode` on a covered workload (another, more specific PeerAuthentication) or when a covered workload has no Istio proxy. Defaults to false."))
                .attribute(istio_revision::attribute("the covered workloads: plan names a workload whose sidecar another revision injects as one no proxy serves"))
                .attribute(Attribute::string("status").computed().description("`in sync`, or what differs on the cluster."))
                .attribute(crate::resources::owner_id_attribute())
                .attribute(Attribute::new("effective_modes", Type::map(Type::String)).computed().description("The mode Istio enforces on each workload the policy covers (`Deployment/<name>`, `StatefulSet/<name>`), by Istio's rules over every PeerAuthentication of the namespace and the mesh-wide ones in `istio-system`, with the policy that decides it: `STRICT (PeerAuthentication yelb/yelb-ui)`, or `PERMISSIVE (PeerAuthentication yelb/legacy)` when another policy weakens it. A weakened workload is drift: `plan` shows it until the weaker policy is gone."))
                .block(single("destination_rule", destination_rule)),
        )
    }

    async fn validate(&self, config: &IstioMtls) -> Diagnostics {
        validate(config)
    }

    async fn modify_plan(&self, request: TypedPlanRequest<'_, IstioMtls>, plan: &mut TypedPlan<IstioMtls>) {
        let config = request.config;
        let client = if self.clients.cluster_unknown() { None } else { self.clients.kube().await.ok() };
        // The Deployment's selector, read now: a typo shows here, not at apply.
        let mut selector = None;
        if let (Some(client), Some(ns), Some(deployment)) = (&client, config.namespace.known(), config.deployment.known()) {
            match istio::deployment_selector(client, &self.clients.read_cache, ns, deployment).await {
                Ok(Some(s)) => selector = Some(s),
                Ok(None) => plan.diagnostics.push(
                    Diagnostic::error(
                        "Deployment not found",
                        format!("No Deployment {ns}/{deployment} exists. Create it first, or fix the name."),
                    )
                    .at(at("deployment")),
                ),
                Err(e) => plan.diagnostics.push(Diagnostic::warning("Could not read the Deployment", e.to_string()).at(at("deployment"))),
            }
        }
        let d = self::plan(request.prior, config, &mut plan.planned, selector);
        plan.diagnostics.extend(d);
        let Some(client) = client else { return };
        if let Some(revision) = plan.planned.istio_revision.known() {
            plan.diagnostics.push_all(istio_revision::check_installed(&client, &self.clients.read_cache, revision).await);
        }
        let Some(ns) = plan.planned.namespace.known().cloned() else { return };
        // Someone else's object of the same name: refused now, with how to import it.
        if request.prior.is_none() {
            if let Some(name) = plan.planned.name.known().cloned() {
                // The owner id is made at apply: any object of this name is someone else's.
                let Ok(owner) = Owner::fresh(TYPE_NAME, &format!("{ns}/{name}")) else { return };
                if let Some(side) = self.side(&client, &owner, &plan.planned) {
                    match side.found().await {
                        Ok(found) => {
                            let found_here = [
                                ("PeerAuthentication", found.peer_authentication.as_ref().map(|(_, c)| c)),
                                ("DestinationRule", found.destination_rule.as_ref().map(|(_, c)| c)),
                            ];
                            let import = format!("terraform import <address> {ns}/{name}");
                            let refused = crate::ownership::refusals(found_here, &ns, &name, "create the Istio policy", &import);
                            plan.diagnostics.push_all(refused.into_iter().map(|d| d.at(at("name"))));
                        }
                        Err(e) => plan.diagnostics.push(Diagnostic::warning("Could not read the Istio policy", e.to_string())),
                    }
                }
            }
        }
        let view = match istio::mesh_view(&client, &self.clients.read_cache, &ns).await {
            Ok(view) => view,
            Err(e) => {
                // Unreadable now: what the state says stands, so the plan does not flap.
                plan.planned.effective_modes = request.prior.map_or(Attr::Unknown, |p| p.effective_modes.clone());
                return plan.diagnostics.push(Diagnostic::warning("Could not read the namespace's workloads and policies", e.to_string()));
            }
        };
        let enforce = plan.planned.enforce.known().copied().unwrap_or(false);
        // STRICT over workloads no proxy serves cuts them off: named before apply.
        if plan.planned.tls_mode() == Some(TlsMode::Strict) && !plan.planned.selector.is_unknown() {
            let revision = plan.planned.istio_revision.as_deref();
            let mut warning = unenrolled_warning(&istio::unenrolled(&view, &ns, plan.planned.selector.known(), revision), &ns, revision);
            if let (Some(w), true) = (warning.as_mut(), enforce) {
                w.severity = tfplugin::diag::Severity::Error;
            }
            plan.diagnostics.push_all(warning);
        }
        if plan.planned.destination_rule.is_some() && !plan.planned.selector.is_unknown() {
            let ambient = istio::ambient(&view, &ns, plan.planned.selector.known());
            plan.diagnostics.push_all(ambient_destination_rule_warning(&ambient, &view.namespace_labels));
        }
        if view.mesh.is_none() {
            plan.diagnostics.push(Diagnostic::warning(
                "Could not read the mesh-wide policies",
                format!("meshtls could not list the PeerAuthentications in {}, so effective_modes leaves out mesh-wide policies. Grant `list` on peerauthentications there (docs/security.md).", istio::ROOT_NAMESPACE),
            ));
        }
        let created = view.policies.iter().find(|p| plan.planned.name.known() == Some(&p.name)).map(|p| p.created.clone());
        match planned_policy(&plan.planned, created) {
            Some(own) => plan.diagnostics.push_all(plan_effective(&mut plan.planned, request.prior, &covered_modes(&view, &own))),
            None => plan.planned.effective_modes = Attr::Unknown,
        }
    }

    async fn create(&self, planned: IstioMtls, _config: IstioMtls) -> Outcome<IstioMtls> {
        self.apply(planned).await
    }

    async fn read(&self, mut state: IstioMtls, private: &[u8]) -> Result<Option<Saved<IstioMtls>>, Failure<IstioMtls>> {
        if self.clients.cluster_unknown() {
            return Ok(Some(Saved::new(state).with_private(private.to_vec())));
        }
        let client = self.clients.kube().await.map_err(client_error)?;
        let (Some(ns), Some(name)) = (state.namespace.known().cloned(), state.name.known().cloned()) else {
            return Ok(Some(Saved::new(state).with_private(private.to_vec())));
        };
        let owner = owner(&ns, &name, &state)?;
        let mut warnings = Vec::new();
        if let Some(side) = self.side(&client, &owner, &state) {
            state.status = refreshed_status(&state.status, "cluster", side.drift(&state.desired_tls()).await, &mut warnings);
        }
        match self.effective_modes(&client, &state).await {
            Some(modes) => state.effective_modes = Attr::Known(modes),
            // A state never holds unknown values; the next plan works them out.
            None if state.effective_modes.is_unknown() => state.effective_modes = Attr::Null,
            None => {}
        }
        Ok(Some(Saved::new(state).with_private(private.to_vec()).warn(warnings)))
    }

    async fn update(&self, _prior: IstioMtls, planned: IstioMtls, _config: IstioMtls, _private: &[u8]) -> Outcome<IstioMtls> {
        self.apply(planned).await
    }

    async fn delete(&self, prior: IstioMtls, _private: &[u8]) -> Result<Diagnostics, Diagnostics> {
        let (Some(ns), Some(name)) = (prior.namespace.known().cloned(), prior.name.known().cloned()) else {
            return Ok(Diagnostics::new());
        };
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(&ns, &name, &prior).map_err(|e| Diagnostics::from(Diagnostic::from(e)))?;
        let Some(side) = self.side(&client, &owner, &prior) else { return Ok(Diagnostics::new()) };
        let warnings = side.delete().await.map_err(|e| Diagnostics::from(side_error(&e, "delete the Istio policy", &ns, &name)))?;
        Ok(Diagnostics(warnings))
    }

    /// A version 0 identity is either this type's own (`namespace`, `name`) or, after a
    /// `moved` block with OpenTofu, the virtual node's it was moved from, which OpenTofu keeps;
    /// that one names the policy as the move does: by the cluster's node, or `default`.
    fn upgrade_identity(&self, _from_version: i64, raw: serde_json::Value) -> serde_json::Value {
        if raw.get("name").is_some_and(|n| !n.is_null()) {
            return raw;
        }
        let name = raw.get("virtual_node").and_then(|n| n.as_str()).unwrap_or(NAMESPACE_WIDE_NAME);
        serde_json::json!({ "namespace": raw.get("namespace").cloned().unwrap_or_default(), "name": name })
    }

    /// `moved` from `meshtls_virtual_node_tls`: leaving App Mesh, whose API may be gone,
    /// without destroying the virtual nodes' TLS (see the leaving-App-Mesh guide).
    fn move_from(&self, source: &MoveSource<'_>) -> Option<Result<IstioMtls, Diagnostics>> {
        source.is(PROVIDER, virtual_node_tls::TYPE_NAME).then(|| moved_from_virtual_node(source.state))
    }

    async fn import(&self, id: &str) -> Outcome<IstioMtls> {
        let (ns, name) = parse_namespaced_id(id)?;
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = Owner::fresh(TYPE_NAME, &format!("{ns}/{name}"))?;
        let mut skeleton = import_skeleton(ns, name);
        skeleton.owner_id = owner.attr();
        let side = IstioWorkload {
            client: &client,
            cache: &self.clients.read_cache,
            owner: &owner,
            namespace: ns.into(),
            name: name.into(),
            selector: None,
            host: None,
        };
        // Import adopts the objects: from here on meshtls manages them.
        if !side.adopt().await.map_err(|e| side_error(&e, "import the Istio policy", ns, name))? {
            return Err(Diagnostic::error(
                "Cannot import: nothing found",
                format!("Neither a PeerAuthentication nor a DestinationRule {ns}/{name} exists."),
            )
            .into());
        }
        let found = side.found().await.map_err(|e| side_error(&e, "read the Istio policy", ns, name))?;
        let (pa, dr) = istio::ours(&found);
        Ok(Saved::new(imported(skeleton, pa, dr)).warn(Diagnostics(owner.takeover_warnings())))
    }
}

#[cfg(test)]
mod tests;
