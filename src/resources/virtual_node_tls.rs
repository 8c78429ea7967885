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
use crate::backends::appmesh::{APP_MESH, TLS_MODES};
use crate::backends::model::{ClientPolicyTls, ListenerTls, Managed, NodeTls, TlsMode};
use crate::backends::{MeshSide, SideError};
use crate::clients::{aws_client_error, client_error, Clients};
use crate::names::{self, check_port, dns_name_covers};
use crate::pki;
use crate::resources::mesh_tls::{
    certificate_block, off_to_strict_warning, refreshed_status, single, trust_block, CertificateConfig, SideStatus, TrustConfig,
};
use crate::tls_secret;

mod apply;
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
            let read = c.read(port).await.map(|view| view.tls.only(managed).differences(&want, &APP_MESH));
            state.cluster_status = refreshed_status(&state.cluster_status, c.name(), read, &mut warnings);
        }
        if let Some(a) = &api {
            let read = a.read(port).await.map(|view| view.tls.only(managed).differences(&want, &APP_MESH));
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
