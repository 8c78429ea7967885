//! `meshtls_virtual_node_tls`: TLS on a mesh virtual node, applied to and kept true on every
//! side the mesh keeps it (App Mesh: the cluster's VirtualNode object and the App Mesh API),
//! plus the Secret mount into the Envoy sidecar and a pod roll when the certificate rotates.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::{
    at, Attr, AttributePath, Context, Diagnostic, Diagnostics, Failure, Outcome, Saved, Type, TypedPlan, TypedPlanRequest, TypedResource,
};

use crate::backends::appmesh_api::ApiVirtualNode;
use crate::backends::appmesh_k8s::{self, ClusterVirtualNode, FINGERPRINT_ANNOTATION, SECRET_MOUNTS_ANNOTATION};
use crate::backends::model::{ClientPolicyTls, ListenerTls, NodeTls};
use crate::backends::{MeshSide, SideError};
use crate::clients::{aws_client_error, client_error, Clients};
use crate::names::{check_port, dns_name_covers};
use crate::pki;
use crate::resources::mesh_tls::{
    certificate_block, drift_status, single, trust_block, CertificateConfig, TrustConfig, IN_SYNC, NOT_MANAGED,
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
const TLS_MODES: [&str; 3] = ["STRICT", "PERMISSIVE", "DISABLED"];

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
    async fn mounted_certificate(&self, m: &VirtualNodeTls) -> Option<pki::CertificateInfo> {
        let (secret, namespace) = (m.certificate_secret.known()?, m.kubernetes.as_ref()?.namespace.known()?);
        if self.clients.cluster_unknown() {
            return None;
        }
        let client = self.clients.kube().await.ok()?;
        let observed = tls_secret::get(&client, &self.clients.read_cache, namespace, secret).await.ok()??;
        observed.tls_crt.as_deref().and_then(|p| pki::inspect(p).ok())
    }

    async fn apply(&self, planned: VirtualNodeTls, prior: Option<&VirtualNodeTls>) -> Outcome<VirtualNodeTls> {
        let (cluster, api) = self.sides(&planned).await?;
        let tls = planned.desired_tls();
        let port = planned.listener_port();
        let mut state = planned;
        let mut diagnostics = Diagnostics::new();
        let cluster_result = match &cluster {
            Some(c) => Some(c.write(port, &tls).await),
            None => None,
        };
        state.cluster_status = applied_status(cluster_result, &mut diagnostics);
        let api_result = match &api {
            Some(a) => Some(a.write(port, &tls).await),
            None => None,
        };
        state.api_status = applied_status(api_result, &mut diagnostics);

        if let (Some(c), Some(deployment)) = (&cluster, state.deployment()) {
            let mut changes = state.wanted_annotations();
            for key in prior.map(VirtualNodeTls::wanted_annotations).unwrap_or_default().into_keys() {
                changes.entry(key).or_insert(None);
            }
            if !changes.is_empty() {
                if let Err(e) = appmesh_k8s::patch_pod_annotations(&c.client, &c.namespace, deployment, &changes).await {
                    let failed = format!("Deployment {}/{deployment}: {e}", c.namespace);
                    diagnostics.push(Diagnostic::error("Failed to annotate the Deployment", failed.clone()));
                    state.cluster_status = Attr::Known(format!("apply failed: {failed}"));
                }
            }
        }
        state.id = Attr::Known(node_id(state.mesh_name.as_deref(), state.virtual_node_name.as_deref().unwrap_or_default()));
        // What was written stays in state, with the failed side's status saying so.
        if diagnostics.has_errors() {
            Err(Failure::new(diagnostics).keeping(state))
        } else {
            Ok(Saved::new(state).warn(diagnostics))
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

    fn schema(&self) -> Schema {
        let listener = Block::new("TLS on the node's listener: what it serves to clients.")
            .attribute(Attribute::number("port").optional().description("The listener's port; optional when the node has one listener."))
            .attribute(
                Attribute::string("mode").required().description("`STRICT` (TLS only), `PERMISSIVE` (TLS and plaintext) or `DISABLED`."),
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
            .attribute(Attribute::string("namespace").required().description("Namespace of the VirtualNode and Deployment."))
            .attribute(Attribute::string("virtual_node").required().description("Name of the VirtualNode object."))
            .attribute(Attribute::string("deployment").optional().description("Deployment whose pod template gets the Secret mount (and the rotation annotation)."));
        Schema::new(
            0,
            Block::new("TLS on a mesh virtual node, applied to the cluster's VirtualNode object and the App Mesh API and kept true on both: a change on either side shows in `plan` as a change of `cluster_status` or `api_status`.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`mesh/virtual_node_name`; just the node name when no mesh is set (cluster side only)."))
                .attribute(Attribute::string("mesh_name").optional().computed().requires_replace().description("App Mesh mesh. Defaults to the provider's `mesh_name`."))
                .attribute(Attribute::string("virtual_node_name").required().requires_replace().description("The virtual node's App Mesh name, e.g. `yelb-db_yelb`."))
                .attribute(Attribute::string("certificate_secret").optional().description("Secret (in `kubernetes.namespace`) to mount into the Envoy sidecar, e.g. a `meshtls_certificate`'s `secret_name`."))
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
        let Some(info) = self.mounted_certificate(request.config).await else { return };
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
        self.apply(planned, None).await
    }

    async fn read(&self, mut state: VirtualNodeTls, private: &[u8]) -> Result<Option<Saved<VirtualNodeTls>>, Failure<VirtualNodeTls>> {
        if self.clients.cluster_unknown() {
            return Ok(Some(Saved::new(state).with_private(private.to_vec())));
        }
        let (cluster, api) = self.sides(&state).await?;
        let want = state.desired_tls();
        let port = state.listener_port();
        if let Some(c) = &cluster {
            state.cluster_status = Attr::Known(drift_status(c.read(port).await.map(|view| view.tls.differences(&want))));
        }
        if let Some(a) = &api {
            state.api_status = Attr::Known(drift_status(a.read(port).await.map(|view| view.tls.differences(&want))));
        }
        if let (Some(c), Some(deployment)) = (&cluster, state.deployment()) {
            let have = appmesh_k8s::pod_annotations(&c.client, &self.clients.read_cache, &c.namespace, deployment)
                .await
                .diag("read the Deployment")?;
            match have {
                Some(have) => {
                    let wanted = state.wanted_annotations();
                    let missing: Vec<&String> = wanted.iter().filter(|(k, v)| have.get(*k) != v.as_ref()).map(|(k, _)| k).collect();
                    if !missing.is_empty() && state.cluster_status.as_deref() == Some(IN_SYNC) {
                        state.cluster_status = Attr::Known(format!("drifted: pod template annotation {missing:?} differs"));
                    }
                }
                None => state.cluster_status = Attr::Known(format!("drifted: Deployment {}/{deployment} not found", c.namespace)),
            }
        }
        // The certificate mounted now: a renewal shows as a fingerprint change.
        if cluster.is_some() {
            if let Some(info) = self.mounted_certificate(&state).await {
                state.certificate_fingerprint = Attr::Known(info.fingerprint_sha256);
            }
        }
        Ok(Some(Saved::new(state).with_private(private.to_vec())))
    }

    async fn update(
        &self,
        prior: VirtualNodeTls,
        planned: VirtualNodeTls,
        _config: VirtualNodeTls,
        _private: &[u8],
    ) -> Outcome<VirtualNodeTls> {
        self.apply(planned, Some(&prior)).await
    }

    async fn delete(&self, prior: VirtualNodeTls, _private: &[u8]) -> Result<Diagnostics, Diagnostics> {
        let mut d = Diagnostics::new();
        let (cluster, api) = self.sides(&prior).await?;
        let port = prior.listener_port();
        let sides: Vec<&dyn MeshSide> = cluster.iter().map(|c| c as &dyn MeshSide).chain(api.iter().map(|a| a as &dyn MeshSide)).collect();
        for side in sides {
            match side.write(port, &NodeTls::default()).await {
                Ok(()) | Err(SideError::NotFound { .. }) => {}
                Err(e) => d.push(Diagnostic::error(format!("Failed to remove TLS settings on the {}", side.name()), e.to_string())),
            }
        }
        if let (Some(c), Some(deployment)) = (&cluster, prior.deployment()) {
            let removals: BTreeMap<String, Option<String>> =
                [SECRET_MOUNTS_ANNOTATION, FINGERPRINT_ANNOTATION].iter().map(|k| (k.to_string(), None)).collect();
            if let Err(e) = appmesh_k8s::patch_pod_annotations(&c.client, &c.namespace, deployment, &removals).await {
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
        (state.listener, state.client_policy) = tls_blocks(&view.tls);
        state.cluster_status = Attr::Known(if cluster.is_some() { IN_SYNC } else { NOT_MANAGED }.into());
        state.api_status = Attr::Known(if api.is_some() { IN_SYNC } else { NOT_MANAGED }.into());
        Ok(state.into())
    }
}

#[cfg(test)]
mod tests;
