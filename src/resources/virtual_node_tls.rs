//! `meshtls_virtual_node_tls`: TLS on a mesh virtual node, applied to and kept true on every
//! side the mesh keeps it (App Mesh: the cluster's VirtualNode object and the App Mesh API),
//! plus the Secret mount into the Envoy sidecar and a pod roll when the certificate rotates.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::Validator;
use tfplugin::{
    at, Attr, AttributePath, Context, Diagnostic, Diagnostics, Failure, Outcome, Saved, Type, TypedPlan, TypedPlanRequest, TypedResource,
};

use crate::backends::appmesh::api::ApiVirtualNode;
use crate::backends::appmesh::k8s::{
    self as appmesh_k8s, mounts_with, mounts_without, ClusterVirtualNode, FINGERPRINT_ANNOTATION, SECRET_MOUNTS_ANNOTATION,
};
use crate::backends::appmesh::TLS_MODES;
use crate::backends::model::{ClientPolicyTls, ListenerTls, Managed, NodeTls};
use crate::backends::{MeshSide, SideError};
use crate::clients::{aws_client_error, client_error, Clients};
use crate::names::{self, check_port, dns_name_covers};
use crate::pki;
use crate::resources::mesh_tls::{
    certificate_block, off_to_strict_warning, refreshed_status, single, trust_block, CertificateConfig, SideStatus, TrustConfig,
};
use crate::tls_secret;

mod list;
mod model;
mod plan;

pub use list::VirtualNodeTlsList;
pub use model::VirtualNodeTls;
use model::*;
use plan::*;

pub const TYPE_NAME: &str = "meshtls_virtual_node_tls";

pub struct VirtualNodeTlsResource {
    clients: Arc<Clients>,
}

impl VirtualNodeTlsResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        VirtualNodeTlsResource { clients }
    }
}

impl VirtualNodeTlsResource {
    /// The sides this resource manages: the cluster when there is a `kubernetes` block, the
    /// App Mesh API when the provider has an `aws` block.
    async fn sides(&self, m: &VirtualNodeTls) -> Result<(Option<ClusterVirtualNode>, Option<ApiVirtualNode>), Diagnostics> {
        let k8s = m.kubernetes.as_ref().and_then(|k| Some((k.namespace.known()?, k.virtual_node.known()?)));
        let cluster = match k8s {
            Some((namespace, name)) => {
                let client = self.clients.kube().await.map_err(client_error)?;
                Some(ClusterVirtualNode {
                    client,
                    cache: self.clients.read_cache.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                })
            }
            None => None,
        };
        let api = match (self.clients.aws_configured(), m.mesh_name.known(), m.virtual_node_name.known()) {
            (true, Some(mesh), Some(node)) => {
                let aws = self.clients.aws().await.map_err(aws_client_error)?;
                Some(ApiVirtualNode {
                    client: aws.appmesh.clone(),
                    cache: self.clients.read_cache.clone(),
                    mesh: mesh.clone(),
                    node: node.clone(),
                })
            }
            _ => None,
        };
        Ok((cluster, api))
    }

    /// The certificate mounted from `certificate_secret` now, if it can be read.
    /// The certificate in `certificate_secret`: `Ok(None)` when there is nothing to read yet
    /// (no Secret named, the cluster unknown, or a Secret a `meshtls_certificate` in the same
    /// apply will create); an error, with the attribute and a fix, when it cannot be read or
    /// holds no certificate, so the plan never leaves the fingerprint unknown for nothing.
    async fn mounted_certificate(&self, m: &VirtualNodeTls) -> Result<Option<pki::CertificateInfo>, Diagnostic> {
        let (Some(secret), Some(namespace)) = (m.certificate_secret.known(), m.kubernetes.as_ref().and_then(|k| k.namespace.known()))
        else {
            return Ok(None);
        };
        if self.clients.cluster_unknown() {
            return Ok(None);
        }
        let problem = |detail: String| Diagnostic::error("Cannot read the certificate Secret", detail).at(at("certificate_secret"));
        let client = self.clients.kube().await.map_err(|e| problem(e.to_string()))?;
        let observed = tls_secret::get(&client, &self.clients.read_cache, namespace, secret).await.map_err(|e| {
            problem(format!(
                "Secret {namespace}/{secret}: {e}. meshtls_virtual_node_tls needs `get` on it to roll the pods when it is renewed (docs/security.md)."
            ))
        })?;
        let Some(observed) = observed else { return Ok(None) };
        let pem = observed.tls_crt.ok_or_else(|| {
            problem(format!(
                "Secret {namespace}/{secret} has no tls.crt. Name the Secret of a meshtls_certificate, or of type kubernetes.io/tls."
            ))
        })?;
        pki::inspect(&pem).map(Some).map_err(|e| problem(format!("Secret {namespace}/{secret}: tls.crt is not a certificate: {e}.")))
    }

    /// Writes the managed parts of the node's TLS on `side` and leaves the others; records
    /// what the side held before meshtls first wrote it.
    async fn write_side(
        side: &dyn MeshSide,
        port: Option<i64>,
        want: &NodeTls,
        managed: Managed,
        released: Managed,
        before: &mut Before,
    ) -> Result<(), SideError> {
        let current = side.read(port).await?.tls;
        let recorded = if before.recorded {
            before.sides.entry(side.name().to_string()).or_insert_with(|| current.clone()).clone()
        } else {
            NodeTls::default()
        };
        side.write(port, &to_write(want, &current, &recorded, managed, released)).await
    }

    async fn apply(&self, planned: VirtualNodeTls, prior: Option<&VirtualNodeTls>, mut before: Before) -> Outcome<VirtualNodeTls> {
        let (cluster, api) = self.sides(&planned).await?;
        let tls = planned.desired_tls();
        let port = planned.listener_port();
        let managed = planned.managed();
        let released = released(prior.map(VirtualNodeTls::managed).unwrap_or_default(), managed);
        let mut state = planned;
        let mut diagnostics = Diagnostics::new();
        // Left unknown at plan when the Secret was still to be created: it exists by now.
        if state.certificate_fingerprint.is_unknown() {
            state.certificate_fingerprint = match self.mounted_certificate(&state).await {
                Ok(Some(info)) => Attr::Known(info.fingerprint_sha256),
                // No Secret mounted: nothing to fingerprint.
                Ok(None) if state.certificate_secret.is_null() => Attr::Null,
                Ok(None) => {
                    diagnostics.push(
                        Diagnostic::error(
                            "Certificate Secret not found",
                            "The Secret named in certificate_secret does not exist. Create it first: reference meshtls_certificate.<name>.secret_name so Terraform orders them.",
                        )
                        .at(at("certificate_secret")),
                    );
                    Attr::Null
                }
                Err(d) => {
                    diagnostics.push(d);
                    Attr::Null
                }
            };
        }
        let cluster_result = match &cluster {
            Some(c) => Some(Self::write_side(c, port, &tls, managed, released, &mut before).await),
            None => None,
        };
        state.cluster_status = applied_status(cluster_result, &mut diagnostics);
        let api_result = match &api {
            Some(a) => Some(Self::write_side(a, port, &tls, managed, released, &mut before).await),
            None => None,
        };
        state.api_status = applied_status(api_result, &mut diagnostics);

        if let (Some(c), Some(deployment)) = (&cluster, state.deployment()) {
            let mut wanted = state.wanted_annotations();
            for key in prior.map(VirtualNodeTls::wanted_annotations).unwrap_or_default().into_keys() {
                wanted.entry(key).or_insert(None);
            }
            // The app's own secretMounts entries stay: this resource adds and removes its own
            // entry only, and records what it added (and displaced) for destroy.
            let ours = wanted.remove(SECRET_MOUNTS_ANNOTATION).flatten();
            let (previous, restore) = (before.mount.clone(), before.displaced.clone());
            let mut displaced = None;
            // An entry the Deployment had before this resource first wrote it (made by hand,
            // or found at import) is the app's: destroy puts it back.
            let mut preexisting = false;
            let result = appmesh_k8s::update_pod_annotations(&c.client, &c.namespace, deployment, |have| {
                let mut changes = wanted.clone();
                let current = have.get(SECRET_MOUNTS_ANNOTATION).map(String::as_str);
                match (&ours, &previous) {
                    (Some(entry), _) => {
                        preexisting = before.recorded && previous.is_none() && appmesh_k8s::secret_mounts(current).contains(entry);
                        let (value, moved) = mounts_with(current, entry, previous.as_deref(), restore.as_deref());
                        displaced = moved;
                        changes.insert(SECRET_MOUNTS_ANNOTATION.to_string(), Some(value));
                    }
                    (None, Some(previous)) => {
                        changes.insert(SECRET_MOUNTS_ANNOTATION.to_string(), mounts_without(current, previous, restore.as_deref()));
                    }
                    (None, None) => {}
                }
                changes
            })
            .await;
            let result = match result {
                Ok(false) if !wanted.values().all(Option::is_none) || ours.is_some() => {
                    Err(format!("Deployment {}/{deployment} not found", c.namespace))
                }
                other => other.map_err(|e| format!("Deployment {}/{deployment}: {e}", c.namespace)),
            };
            match result {
                Ok(_) => {
                    if preexisting {
                        displaced = ours.clone();
                    }
                    if ours.as_ref() != previous.as_ref() {
                        // A moved mount gave back what its old entry displaced.
                        before.displaced = if previous.is_some() { displaced } else { before.displaced.take().or(displaced) };
                    } else if before.displaced.is_none() {
                        before.displaced = displaced;
                    }
                    before.mount = ours;
                }
                Err(failed) => {
                    diagnostics.push(Diagnostic::error("Failed to annotate the Deployment", failed.clone()));
                    state.cluster_status = SideStatus::ApplyFailed(failed.to_string()).into();
                }
            }
        }
        state.id = Attr::Known(node_id(state.mesh_name.as_deref(), state.virtual_node_name.as_deref().unwrap_or_default()));
        // What was written stays in state, with the failed side's status saying so.
        if diagnostics.has_errors() {
            Err(Failure::new(diagnostics).keeping(state).with_private(before.encode()))
        } else {
            Ok(Saved::new(state).with_private(before.encode()).warn(diagnostics))
        }
    }
}

fn sans_attribute() -> Attribute {
    Attribute::new("subject_alternative_names", Type::list(Type::String))
        .optional()
        .description("Accept only peers whose certificate has one of these names (exact match).")
}

#[async_trait]
impl TypedResource for VirtualNodeTlsResource {
    type Model = VirtualNodeTls;
    type Identity = crate::resources::identity::VirtualNodeIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn identity(&self, state: &VirtualNodeTls) -> Option<Self::Identity> {
        let cluster = state.kubernetes.as_ref();
        Some(crate::resources::identity::VirtualNodeIdentity {
            mesh_name: state.mesh_name.known().cloned(),
            virtual_node_name: state.virtual_node_name.known()?.clone(),
            namespace: cluster.and_then(|k| k.namespace.known().cloned()),
            virtual_node: cluster.and_then(|k| k.virtual_node.known().cloned()),
        })
    }

    fn schema(&self) -> Schema {
        let listener = Block::new("TLS on the node's listener: what it serves to clients.")
            .attribute(Attribute::number("port").optional().description("The listener's port; optional when the node has one listener."))
            .attribute(
                Attribute::string("mode")
                    .required()
                    .validator(Validator::one_of(&TLS_MODES))
                    .description("`STRICT`: TLS only. `PERMISSIVE`: TLS and plaintext."),
            )
            .block(single("certificate", certificate_block(true)))
            .block(single(
                "validation",
                Block::new("Require and validate client certificates (mutual TLS).")
                    .attribute(sans_attribute())
                    .block(single("trust", trust_block(false))),
            ));
        let client_policy = Block::new("TLS the node requires when it calls its backends (`backendDefaults.clientPolicy.tls`).")
            .attribute(Attribute::bool("enforce").optional().description("Whether TLS to backends is enforced. Defaults to true."))
            .attribute(
                Attribute::new("ports", Type::list(Type::Number))
                    .optional()
                    .description("Backend ports the policy applies to; all when unset."),
            )
            .attribute(sans_attribute())
            .block(single("trust", trust_block(true)))
            .block(single("certificate", certificate_block(false)));
        let kubernetes = Block::new("The cluster side: the VirtualNode object and the Deployment whose pods carry the Envoy sidecar. Without this block only the App Mesh API is managed.")
            .attribute(Attribute::string("namespace").required().validator(names::label("namespace name")).description("Namespace of the VirtualNode and Deployment."))
            .attribute(Attribute::string("virtual_node").required().description("Name of the VirtualNode object."))
            .attribute(Attribute::string("deployment").optional().description("Deployment whose pod template gets the Secret mount (and the rotation annotation)."));
        Schema::new(
            0,
            Block::new("TLS on a mesh virtual node, applied to the cluster's VirtualNode object and the App Mesh API and kept true on both: a change on either side shows in `plan` as a change of `cluster_status` or `api_status`.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`mesh/virtual_node_name`; just the node name when no mesh is set (cluster side only)."))
                .attribute(Attribute::string("mesh_name").optional().computed().requires_replace().description("App Mesh mesh. Defaults to the provider's `mesh_name`."))
                .attribute(Attribute::string("virtual_node_name").required().requires_replace().description("The virtual node's App Mesh name, e.g. `yelb-db_yelb`."))
                .attribute(Attribute::string("certificate_secret").optional().validator(names::subdomain("Secret name")).description("Secret (in `kubernetes.namespace`) to mount into the Envoy sidecar, e.g. a `meshtls_certificate`'s `secret_name`."))
                .attribute(Attribute::string("mount_path").optional().computed().description("Where the Secret is mounted in Envoy. Defaults to `/etc/keys/<virtual node>`."))
                .attribute(Attribute::bool("restart_on_rotation").default(true).description("Annotate the pod template with the certificate's fingerprint, so a renewed certificate rolls the pods and Envoy loads it. Defaults to true."))
                .attribute(Attribute::string("certificate_fingerprint").optional().computed().description("Fingerprint of the mounted certificate, written to the pod template. Set it to the certificate's `fingerprint_sha256` so a re-issue rolls the pods in the same apply; otherwise it is read from `certificate_secret`."))
                .attribute(Attribute::string("cluster_status").computed().description("`in sync`, `not managed`, or what differs on the cluster side."))
                .attribute(Attribute::string("api_status").computed().description("`in sync`, `not managed`, or what differs on the App Mesh API side."))
                .block(single("kubernetes", kubernetes))
                .block(single("listener", listener))
                .block(single("client_policy", client_policy)),
        )
    }

    async fn validate(&self, config: &VirtualNodeTls) -> Diagnostics {
        validate(config)
    }

    async fn modify_plan(&self, request: TypedPlanRequest<'_, VirtualNodeTls>, plan: &mut TypedPlan<VirtualNodeTls>) {
        let provider_mesh = self.clients.provider_mesh();
        let d = self::plan(request.prior, request.config, &mut plan.planned, &provider_mesh, self.clients.aws_configured());
        plan.diagnostics.extend(d);

        // The node must exist on every managed side: checked here, so a typo never reaches
        // apply. Its hostname comes from the first side that has one.
        let port = request.config.listener_port();
        let mut hostname = None;
        if !self.clients.cluster_unknown() {
            if let Ok((cluster, api)) = self.sides(&plan.planned).await {
                let sides = [
                    (cluster.as_ref().map(|c| c as &dyn MeshSide), AttributePath::attrs(&["kubernetes", "virtual_node"])),
                    (api.as_ref().map(|a| a as &dyn MeshSide), at("virtual_node_name")),
                ];
                for (side, path) in sides {
                    let Some(side) = side else { continue };
                    match side.read(port).await {
                        Ok(view) => hostname = hostname.or(view.hostname),
                        Err(e) => plan.diagnostics.push(side_problem(&e, path)),
                    }
                }
            }
        }
        // The mounted certificate: its fingerprint (so a renewal rolls the pods) and whether it
        // covers the node's hostname.
        let info = match self.mounted_certificate(request.config).await {
            Ok(Some(info)) => info,
            Ok(None) => return,
            Err(d) => return plan.diagnostics.push(d),
        };
        if request.config.certificate_fingerprint.is_null() {
            plan.planned.certificate_fingerprint = Attr::Known(info.fingerprint_sha256.clone());
        }
        if let (Some(host), Some(secret), Some(namespace)) =
            (hostname, request.config.certificate_secret.known(), request.config.kubernetes.as_ref().and_then(|k| k.namespace.known()))
        {
            plan.diagnostics.push_all(hostname_problem(&info.dns_names, &host, namespace, secret));
        }
    }

    async fn create(&self, planned: VirtualNodeTls, _config: VirtualNodeTls) -> Outcome<VirtualNodeTls> {
        self.apply(planned, None, Before::started()).await
    }

    async fn read(&self, mut state: VirtualNodeTls, private: &[u8]) -> Result<Option<Saved<VirtualNodeTls>>, Failure<VirtualNodeTls>> {
        if self.clients.cluster_unknown() {
            return Ok(Some(Saved::new(state).with_private(private.to_vec())));
        }
        let (cluster, api) = self.sides(&state).await?;
        let want = state.desired_tls();
        let port = state.listener_port();
        // Only the parts this resource manages can drift; the others are the application's.
        let managed = state.managed();
        let mut warnings = Vec::new();
        if let Some(c) = &cluster {
            let read = c.read(port).await.map(|view| view.tls.only(managed).differences(&want));
            state.cluster_status = refreshed_status(&state.cluster_status, c.name(), read, &mut warnings);
        }
        if let Some(a) = &api {
            let read = a.read(port).await.map(|view| view.tls.only(managed).differences(&want));
            state.api_status = refreshed_status(&state.api_status, a.name(), read, &mut warnings);
        }
        if let (Some(c), Some(deployment)) = (&cluster, state.deployment()) {
            let have = appmesh_k8s::pod_annotations(&c.client, &self.clients.read_cache, &c.namespace, deployment)
                .await
                .diag("read the Deployment")?;
            match have {
                Some(have) => {
                    let wanted = state.wanted_annotations();
                    // secretMounts may hold the app's entries too: ours must be among them.
                    let holds = |k: &String, v: &Option<String>| match (k.as_str(), v) {
                        (SECRET_MOUNTS_ANNOTATION, Some(entry)) => {
                            appmesh_k8s::secret_mounts(have.get(k).map(String::as_str)).contains(entry)
                        }
                        _ => have.get(k) == v.as_ref(),
                    };
                    let missing: Vec<&String> = wanted.iter().filter(|(k, v)| !holds(k, v)).map(|(k, _)| k).collect();
                    if !missing.is_empty() && SideStatus::of_attr(&state.cluster_status) == Some(SideStatus::InSync) {
                        state.cluster_status = SideStatus::Drifted(format!("pod template annotation {missing:?} differs")).into();
                    }
                }
                None => state.cluster_status = SideStatus::Drifted(format!("Deployment {}/{deployment} not found", c.namespace)).into(),
            }
        }
        // The certificate mounted now: a renewal shows as a fingerprint change.
        if cluster.is_some() {
            if let Ok(Some(info)) = self.mounted_certificate(&state).await {
                state.certificate_fingerprint = Attr::Known(info.fingerprint_sha256);
            }
        }
        Ok(Some(Saved::new(state).with_private(private.to_vec()).warn(warnings)))
    }

    async fn update(
        &self,
        prior: VirtualNodeTls,
        planned: VirtualNodeTls,
        _config: VirtualNodeTls,
        private: &[u8],
    ) -> Outcome<VirtualNodeTls> {
        self.apply(planned, Some(&prior), Before::decode(private)).await
    }

    async fn delete(&self, prior: VirtualNodeTls, private: &[u8]) -> Result<Diagnostics, Diagnostics> {
        let mut d = Diagnostics::new();
        let (cluster, api) = self.sides(&prior).await?;
        let port = prior.listener_port();
        let managed = prior.managed();
        let before = Before::decode(private);
        let sides: Vec<&dyn MeshSide> = cluster.iter().map(|c| c as &dyn MeshSide).chain(api.iter().map(|a| a as &dyn MeshSide)).collect();
        for side in sides {
            // The managed parts go back to what they were before meshtls (removed, for a state
            // that has no record); the others stay as they are.
            let restore = before.sides.get(side.name()).cloned().unwrap_or_default();
            let result = match side.read(port).await {
                Ok(view) => side.write(port, &restore.over(&view.tls, managed)).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) | Err(SideError::NotFound { .. }) => {}
                Err(e) => d.push(Diagnostic::error(format!("Failed to restore TLS settings on the {}", side.name()), e.to_string())),
            }
        }
        if let (Some(c), Some(deployment)) = (&cluster, prior.deployment()) {
            // Only this resource's own entry leaves secretMounts (for a state without a
            // record, the one its settings name); what it displaced comes back.
            let ours = before.mount.clone().or_else(|| prior.wanted_annotations().remove(SECRET_MOUNTS_ANNOTATION).flatten());
            let result = appmesh_k8s::update_pod_annotations(&c.client, &c.namespace, deployment, |have| {
                let mut changes = BTreeMap::from([(FINGERPRINT_ANNOTATION.to_string(), None)]);
                if let Some(ours) = &ours {
                    let current = have.get(SECRET_MOUNTS_ANNOTATION).map(String::as_str);
                    changes.insert(SECRET_MOUNTS_ANNOTATION.to_string(), mounts_without(current, ours, before.displaced.as_deref()));
                }
                changes
            })
            .await;
            if let Err(e) = result {
                d.push(Diagnostic::error("Failed to remove the Deployment annotations", e.to_string()));
            }
        }
        if d.has_errors() {
            Err(d)
        } else {
            Ok(d)
        }
    }

    /// The mount path the plan would default to is left out.
    fn generate_config(&self, mut state: VirtualNodeTls) -> VirtualNodeTls {
        let node = state.kubernetes.as_ref().and_then(|k| k.virtual_node.known()).or(state.virtual_node_name.known());
        if node.map(|n| format!("/etc/keys/{n}")) == state.mount_path.known().cloned() {
            state.mount_path = Attr::Null;
        }
        state
    }

    async fn import(&self, id: &str) -> Outcome<VirtualNodeTls> {
        let mut state = import_skeleton(&parse_import_id(id)?);
        let (cluster, api) = self.sides(&state).await?;
        let view = match (&api, &cluster) {
            (Some(a), _) => a.read(None).await,
            (None, Some(c)) => c.read(None).await,
            (None, None) => {
                return Err(Diagnostic::error(
                    "Nothing to import from",
                    "Configure the provider's aws block, or import with `mesh/virtual_node/namespace/name`.",
                )
                .into())
            }
        };
        let view = view.map_err(|e| Diagnostic::error("Cannot import", e.to_string()))?;
        // What each side holds now is what destroy puts back: meshtls added none of it.
        let mut before = Before::started();
        let sides: Vec<&dyn MeshSide> = cluster.iter().map(|c| c as &dyn MeshSide).chain(api.iter().map(|a| a as &dyn MeshSide)).collect();
        for side in sides {
            if let Ok(v) = side.read(None).await {
                before.sides.insert(side.name().to_string(), v.tls);
            }
        }
        (state.listener, state.client_policy) = tls_blocks(&view.tls);
        state.cluster_status = SideStatus::managed(cluster.is_some()).into();
        state.api_status = SideStatus::managed(api.is_some()).into();
        Ok(Saved::new(state).with_private(before.encode()))
    }
}

#[cfg(test)]
mod tests;
