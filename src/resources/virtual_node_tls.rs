//! `meshtls_virtual_node_tls`: TLS on a mesh virtual node, applied to and kept true on every
//! side the mesh keeps it (App Mesh: the cluster's VirtualNode object and the App Mesh API),
//! plus the Secret mount into the Envoy sidecar and a pod roll when the certificate rotates.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tfplugin::{AttributePath, Diagnostic, Diagnostics, Plan, PlanRequest, Resource, StateResult, Type, Value};

use crate::backends::appmesh_api::ApiVirtualNode;
use crate::backends::appmesh_k8s::{self, ClusterVirtualNode, FINGERPRINT_ANNOTATION, SECRET_MOUNTS_ANNOTATION};
use crate::backends::model::{CertificateSource, ClientPolicyTls, ListenerTls, NodeTls, TrustSource};
use crate::backends::{MeshSide, SideError};
use crate::clients::{aws_client_error, client_error, Clients};
use crate::names::check_port;
use crate::pki;
use crate::tls_secret;

pub const TYPE_NAME: &str = "meshtls_virtual_node_tls";
pub const IN_SYNC: &str = "in sync";
pub const NOT_MANAGED: &str = "not managed";

pub struct VirtualNodeTlsResource {
    clients: Arc<Clients>,
}

impl VirtualNodeTlsResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        VirtualNodeTlsResource { clients }
    }
}

pub(crate) fn single(name: &str, block: Block) -> NestedBlock {
    NestedBlock::new(name, Nesting::Single, block)
}

pub(crate) fn certificate_block(with_acm: bool) -> Block {
    let mut b = Block::new("Where Envoy finds its certificate: exactly one of `file`, `sds`, `acm`.")
        .block(single(
            "file",
            Block::new("Files in the Envoy container, e.g. from the mounted Secret.")
                .attribute(
                    Attribute::string("certificate_chain")
                        .required()
                        .description("Path of the certificate chain, e.g. `/etc/keys/yelb/tls.crt`."),
                )
                .attribute(
                    Attribute::string("private_key").required().description("Path of the private key, e.g. `/etc/keys/yelb/tls.key`."),
                ),
        ))
        .block(single(
            "sds",
            Block::new("A secret served over Envoy's SDS.")
                .attribute(Attribute::string("secret_name").required().description("SDS secret name.")),
        ));
    if with_acm {
        b = b.block(single(
            "acm",
            Block::new("An ACM certificate.")
                .attribute(Attribute::string("certificate_arn").required().description("ARN of the ACM certificate.")),
        ));
    }
    b
}

pub(crate) fn trust_block(with_acm: bool) -> Block {
    let mut b = Block::new("What peers' certificates must chain to: exactly one of `file`, `sds`, `acm`.")
        .block(single(
            "file",
            Block::new("A CA bundle file in the Envoy container.")
                .attribute(Attribute::string("certificate_chain").required().description("Path, e.g. `/etc/keys/yelb/ca.crt`.")),
        ))
        .block(single(
            "sds",
            Block::new("A validation context served over SDS.")
                .attribute(Attribute::string("secret_name").required().description("SDS secret name.")),
        ));
    if with_acm {
        b = b.block(single(
            "acm",
            Block::new("ACM Private CAs.").attribute(
                Attribute::new("certificate_authority_arns", Type::list(Type::String))
                    .required()
                    .description("ARNs of the trusted private CAs."),
            ),
        ));
    }
    b
}

fn sans_attribute() -> Attribute {
    Attribute::new("subject_alternative_names", Type::list(Type::String))
        .optional()
        .description("Accept only peers whose certificate has one of these names (exact match).")
}

// ---- configuration values to the mesh model ----

pub(crate) fn s(v: &Value, path: &[&str]) -> Option<String> {
    path.iter().fold(v, |v, p| v.get(p)).as_str().map(str::to_string)
}

pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_elements().map(|e| e.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn certificate_of(v: &Value) -> Option<CertificateSource> {
    if !v.get("file").is_null() {
        return Some(CertificateSource::File {
            certificate_chain: s(v, &["file", "certificate_chain"])?,
            private_key: s(v, &["file", "private_key"])?,
        });
    }
    if let Some(secret_name) = s(v, &["sds", "secret_name"]) {
        return Some(CertificateSource::Sds { secret_name });
    }
    s(v, &["acm", "certificate_arn"]).map(|certificate_arn| CertificateSource::Acm { certificate_arn })
}

pub(crate) fn trust_of(v: &Value) -> Option<TrustSource> {
    if let Some(certificate_chain) = s(v, &["file", "certificate_chain"]) {
        return Some(TrustSource::File { certificate_chain });
    }
    if let Some(secret_name) = s(v, &["sds", "secret_name"]) {
        return Some(TrustSource::Sds { secret_name });
    }
    let acm = v.get("acm");
    (!acm.is_null()).then(|| TrustSource::Acm { certificate_authority_arns: strings(acm.get("certificate_authority_arns")) })
}

/// The TLS settings a configuration (or state) asks for.
pub fn desired_tls(v: &Value) -> NodeTls {
    let l = v.get("listener");
    let c = v.get("client_policy");
    NodeTls {
        listener: l.get("mode").as_str().map(|mode| ListenerTls {
            mode: mode.to_string(),
            certificate: certificate_of(l.get("certificate")),
            trust: trust_of(l.get("validation").get("trust")),
            subject_alternative_names: strings(l.get("validation").get("subject_alternative_names")),
        }),
        client_policy: (!c.is_null()).then(|| ClientPolicyTls {
            enforce: c.get("enforce").as_bool().unwrap_or(true),
            ports: c.get("ports").as_elements().map(|p| p.iter().filter_map(Value::as_i64).collect()).unwrap_or_default(),
            certificate: certificate_of(c.get("certificate")),
            trust: trust_of(c.get("trust")),
            subject_alternative_names: strings(c.get("subject_alternative_names")),
        }),
    }
}

// ---- the mesh model back to values, for import ----

fn certificate_value(c: &Option<CertificateSource>) -> Value {
    match c {
        Some(CertificateSource::File { certificate_chain, private_key }) => Value::object([(
            "file",
            Value::object([("certificate_chain", certificate_chain.as_str().into()), ("private_key", private_key.as_str().into())]),
        )]),
        Some(CertificateSource::Sds { secret_name }) => {
            Value::object([("sds", Value::object([("secret_name", secret_name.as_str().into())]))])
        }
        Some(CertificateSource::Acm { certificate_arn }) => {
            Value::object([("acm", Value::object([("certificate_arn", certificate_arn.as_str().into())]))])
        }
        None => Value::Null,
    }
}

fn trust_value(t: &Option<TrustSource>) -> Value {
    match t {
        Some(TrustSource::File { certificate_chain }) => {
            Value::object([("file", Value::object([("certificate_chain", certificate_chain.as_str().into())]))])
        }
        Some(TrustSource::Sds { secret_name }) => Value::object([("sds", Value::object([("secret_name", secret_name.as_str().into())]))]),
        Some(TrustSource::Acm { certificate_authority_arns }) => Value::object([(
            "acm",
            Value::object([(
                "certificate_authority_arns",
                Value::List(certificate_authority_arns.iter().map(|a| Value::from(a.as_str())).collect()),
            )]),
        )]),
        None => Value::Null,
    }
}

fn list_or_null(items: &[String]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::List(items.iter().map(|i| Value::from(i.as_str())).collect())
    }
}

fn tls_values(tls: &NodeTls, port: Value) -> (Value, Value) {
    let listener = tls.listener.as_ref().map_or(Value::Null, |l| {
        let validation = if l.trust.is_none() {
            Value::Null
        } else {
            Value::object([("trust", trust_value(&l.trust)), ("subject_alternative_names", list_or_null(&l.subject_alternative_names))])
        };
        Value::object([
            ("port", port),
            ("mode", l.mode.as_str().into()),
            ("certificate", certificate_value(&l.certificate)),
            ("validation", validation),
        ])
    });
    let client_policy = tls.client_policy.as_ref().map_or(Value::Null, |c| {
        Value::object([
            ("enforce", c.enforce.into()),
            ("ports", if c.ports.is_empty() { Value::Null } else { Value::List(c.ports.iter().map(|p| Value::from(*p)).collect()) }),
            ("certificate", certificate_value(&c.certificate)),
            ("trust", trust_value(&c.trust)),
            ("subject_alternative_names", list_or_null(&c.subject_alternative_names)),
        ])
    });
    (listener, client_policy)
}

/// `mesh/node`, or just `node` for a cluster-only resource with no mesh name.
fn node_id(mesh: Option<&str>, node: &str) -> String {
    match mesh {
        Some(m) => format!("{m}/{node}"),
        None => node.to_string(),
    }
}

// ---- sides ----

struct Target {
    mesh: Option<String>,
    node: Option<String>,
    namespace: Option<String>,
    k8s_node: Option<String>,
}

impl Target {
    fn of(v: &Value) -> Target {
        let k = v.get("kubernetes");
        Target {
            mesh: s(v, &["mesh_name"]),
            node: s(v, &["virtual_node_name"]),
            namespace: s(k, &["namespace"]),
            k8s_node: s(k, &["virtual_node"]),
        }
    }
}

impl VirtualNodeTlsResource {
    /// The sides this resource manages: the cluster when there is a `kubernetes` block, the
    /// App Mesh API when the provider has an `aws` block.
    async fn sides(&self, v: &Value) -> Result<(Option<ClusterVirtualNode>, Option<ApiVirtualNode>), Diagnostics> {
        let t = Target::of(v);
        let cluster = match (&t.namespace, &t.k8s_node) {
            (Some(namespace), Some(name)) => {
                let client = self.clients.kube().await.map_err(client_error)?;
                Some(ClusterVirtualNode {
                    client,
                    cache: self.clients.read_cache.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                })
            }
            _ => None,
        };
        let aws_configured = self.clients.settings().ok().is_some_and(|s| s.aws.is_some());
        let api = match (aws_configured, &t.mesh, &t.node) {
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

    /// Pod-template annotations this resource wants on the Deployment.
    fn wanted_annotations(v: &Value) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        if let (Some(secret), Some(path)) = (s(v, &["certificate_secret"]), s(v, &["mount_path"])) {
            out.insert(SECRET_MOUNTS_ANNOTATION.to_string(), Some(format!("{secret}:{path}")));
            if v.get("restart_on_rotation").as_bool().unwrap_or(true) {
                out.insert(FINGERPRINT_ANNOTATION.to_string(), s(v, &["certificate_fingerprint"]));
            }
        }
        out
    }

    async fn apply(&self, planned: &Value, prior: &Value) -> StateResult {
        let (cluster, api) = match self.sides(planned).await {
            Ok(s) => s,
            Err(d) => return StateResult { state: prior.clone(), private: Vec::new(), diagnostics: d },
        };
        let tls = desired_tls(planned);
        let port = planned.get("listener").get("port").as_i64();
        let mut state = planned.clone();
        let mut diagnostics = Diagnostics::new();
        let mut record = |attr: &str, side: Option<&dyn MeshSide>, result: Option<Result<(), SideError>>| {
            let status = match (side, result) {
                (None, _) | (_, None) => NOT_MANAGED.to_string(),
                (Some(_), Some(Ok(()))) => IN_SYNC.to_string(),
                (Some(_), Some(Err(e))) => {
                    diagnostics.push(Diagnostic::error("Failed to apply TLS settings", e.to_string()));
                    format!("apply failed: {e}")
                }
            };
            state.set(attr, status.into());
        };
        let cluster_result = match &cluster {
            Some(c) => Some(c.write(port, &tls).await),
            None => None,
        };
        record("cluster_status", cluster.as_ref().map(|c| c as &dyn MeshSide), cluster_result);
        let api_result = match &api {
            Some(a) => Some(a.write(port, &tls).await),
            None => None,
        };
        record("api_status", api.as_ref().map(|a| a as &dyn MeshSide), api_result);

        if let (Some(c), Some(deployment)) = (&cluster, s(planned, &["kubernetes", "deployment"])) {
            let mut changes = Self::wanted_annotations(planned);
            for key in Self::wanted_annotations(prior).keys() {
                changes.entry(key.clone()).or_insert(None);
            }
            if !changes.is_empty() {
                if let Err(e) = appmesh_k8s::patch_pod_annotations(&c.client, &c.namespace, &deployment, &changes).await {
                    diagnostics.push(Diagnostic::error(
                        "Failed to annotate the Deployment",
                        format!("Deployment {}/{deployment}: {e}", c.namespace),
                    ));
                    state.set("cluster_status", format!("apply failed: Deployment {}/{deployment}: {e}", c.namespace).into());
                }
            }
        }
        state.set("id", node_id(planned.get("mesh_name").as_str(), &s(planned, &["virtual_node_name"]).unwrap_or_default()).into());
        StateResult { state, private: Vec::new(), diagnostics }
    }
}

#[async_trait]
impl Resource for VirtualNodeTlsResource {
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

    async fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let listener = config.get("listener");
        check_port(&mut d, listener.get("port"), AttributePath::attrs(&["listener", "port"]));
        for (i, p) in config.get("client_policy").get("ports").as_elements().unwrap_or_default().iter().enumerate() {
            check_port(&mut d, p, AttributePath::attrs(&["client_policy", "ports"]).index(i));
        }
        let mode = listener.get("mode");
        if let Some(m) = mode.as_str() {
            if !["STRICT", "PERMISSIVE", "DISABLED"].contains(&m) {
                d.error_at(
                    AttributePath::attrs(&["listener", "mode"]),
                    "Invalid TLS mode",
                    format!("{m:?} is not a TLS mode; use STRICT, PERMISSIVE or DISABLED."),
                );
            } else if m != "DISABLED" && listener.get("certificate").is_null() {
                d.error_at(
                    AttributePath::attrs(&["listener", "mode"]),
                    format!("{m} needs a certificate"),
                    "Add a listener certificate block, e.g. certificate { file { certificate_chain = \"/etc/keys/<node>/tls.crt\", private_key = \"/etc/keys/<node>/tls.key\" } }.",
                );
            }
        }
        for (path, block) in [
            (vec!["listener", "certificate"], listener.get("certificate")),
            (vec!["client_policy", "certificate"], config.get("client_policy").get("certificate")),
        ] {
            let set = ["file", "sds", "acm"].iter().filter(|k| !block.get(k).is_null()).count();
            if !block.is_null() && set != 1 {
                d.error_at(AttributePath::attrs(&path), "Choose one certificate source", "Set exactly one of file, sds, acm.");
            }
        }
        if config.get("listener").is_null() && config.get("client_policy").is_null() {
            d.error("Nothing to configure", "Set a listener block, a client_policy block, or both.");
        }
        d
    }

    async fn modify_plan(&self, request: PlanRequest<'_>, plan: &mut Plan) {
        if request.config.get("mesh_name").is_null() {
            use crate::config::Setting;
            let aws = self.clients.settings().is_ok_and(|s| s.aws.is_some());
            match self.clients.settings().map(|s| s.mesh_name.clone()) {
                Ok(Setting::Known(mesh)) => plan.planned.set("mesh_name", mesh.into()),
                Ok(Setting::Unknown) => plan.planned.set("mesh_name", Value::Unknown),
                // Without AWS, only the cluster side is managed, and it needs no mesh name.
                _ if !aws => plan.planned.set("mesh_name", Value::Null),
                _ => plan.diagnostics.error_at(
                    AttributePath::attrs(&["mesh_name"]),
                    "No mesh",
                    "Set mesh_name here or in the provider block.",
                ),
            }
        }
        if request.config.get("mount_path").is_null() {
            let node = s(request.config, &["kubernetes", "virtual_node"]).or_else(|| s(request.config, &["virtual_node_name"]));
            plan.planned.set("mount_path", node.map_or(Value::Unknown, |n| format!("/etc/keys/{n}").into()));
        }
        let aws = self.clients.settings().is_ok_and(|s| s.aws.is_some());
        plan.planned.set("cluster_status", if request.config.get("kubernetes").is_null() { NOT_MANAGED } else { IN_SYNC }.into());
        plan.planned.set("api_status", if aws { IN_SYNC } else { NOT_MANAGED }.into());
        let id = match (plan.planned.get("mesh_name"), request.config.get("virtual_node_name").as_str()) {
            (Value::Unknown, _) | (_, None) => Value::Unknown,
            (mesh, Some(node)) => node_id(mesh.as_str(), node).into(),
        };
        plan.planned.set("id", id);

        // A direct DISABLED -> STRICT switch can cut traffic: clients and servers pick up
        // their new configuration at different moments.
        if request.prior.get("listener").get("mode").as_str() == Some("DISABLED")
            && request.config.get("listener").get("mode").as_str() == Some("STRICT")
        {
            plan.diagnostics.warning_at(
                AttributePath::attrs(&["listener", "mode"]),
                "DISABLED to STRICT in one step",
                "Clients and servers receive their configuration at different moments, so some requests may fail during the switch. Apply PERMISSIVE first, then STRICT.",
            );
        }

        // The node must exist on every managed side: checked here, so a typo never reaches
        // apply. Its hostname comes from the first side that has one.
        let port = request.config.get("listener").get("port").as_i64();
        let mut hostname = None;
        if !self.clients.cluster_unknown() {
            if let Ok((cluster, api)) = self.sides(&plan.planned).await {
                let sides = [
                    (cluster.as_ref().map(|c| c as &dyn MeshSide), AttributePath::attrs(&["kubernetes", "virtual_node"])),
                    (api.as_ref().map(|a| a as &dyn MeshSide), AttributePath::attrs(&["virtual_node_name"])),
                ];
                for (side, path) in sides {
                    let Some(side) = side else { continue };
                    match side.read(port).await {
                        Ok(view) => hostname = hostname.or(view.hostname),
                        Err(e @ SideError::NotFound { .. }) => {
                            plan.diagnostics.error_at(path, "Virtual node not found", format!("{e}. Create it first, or fix the name."))
                        }
                        Err(e @ SideError::AmbiguousListener { .. }) => {
                            plan.diagnostics.error_at(AttributePath::attrs(&["listener", "port"]), "Which listener?", e.to_string())
                        }
                        Err(e @ SideError::NoListener { port: None, .. }) => plan.diagnostics.error_at(
                            path,
                            "Virtual node has no listener",
                            format!("{e}. TLS is set on a listener: add one (a portMapping) to the virtual node first."),
                        ),
                        Err(e @ SideError::NoListener { .. }) => plan.diagnostics.error_at(
                            AttributePath::attrs(&["listener", "port"]),
                            "No listener on that port",
                            format!("{e}. Set listener.port to one of the node's listener ports."),
                        ),
                        Err(e) => plan.diagnostics.push(Diagnostic::warning(format!("Could not read the {}", side.name()), e.to_string())),
                    }
                }
            }
        }

        // The mounted certificate: its fingerprint (so a renewal rolls the pods) and whether it
        // covers the node's hostname.
        let fingerprint_from_config = !request.config.get("certificate_fingerprint").is_null();
        if !fingerprint_from_config {
            plan.planned.set("certificate_fingerprint", Value::Null);
        }
        let (Some(secret), Some(namespace)) = (s(request.config, &["certificate_secret"]), s(request.config, &["kubernetes", "namespace"]))
        else {
            return;
        };
        if !fingerprint_from_config {
            plan.planned.set("certificate_fingerprint", Value::Unknown);
        }
        if self.clients.cluster_unknown() {
            return;
        }
        let Ok(client) = self.clients.kube().await else { return };
        let Ok(Some(observed)) = tls_secret::get(&client, &self.clients.read_cache, &namespace, &secret).await else { return };
        let Some(info) = observed.tls_crt.as_deref().and_then(|p| pki::inspect(p).ok()) else { return };
        if !fingerprint_from_config {
            plan.planned.set("certificate_fingerprint", info.fingerprint_sha256.clone().into());
        }
        if let Some(host) = hostname {
            if !info.dns_names.iter().any(|n| crate::names::dns_name_covers(n, &host)) {
                plan.diagnostics.error_at(
                    AttributePath::attrs(&["certificate_secret"]),
                    "Certificate does not cover the node's hostname",
                    format!(
                        "The certificate in Secret {namespace}/{secret} is for {:?}, but the virtual node's service-discovery hostname is {host:?}; Envoy's handshake would fail. Issue the certificate for {host:?} (or a wildcard covering it).",
                        info.dns_names
                    ),
                );
            }
        }
    }

    async fn create(&self, planned: &Value, _config: &Value) -> StateResult {
        self.apply(planned, &Value::Null).await
    }

    async fn read(&self, state: &Value, private: &[u8]) -> StateResult {
        if self.clients.cluster_unknown() {
            return StateResult::ok(state.clone(), private.to_vec());
        }
        let (cluster, api) = match self.sides(state).await {
            Ok(s) => s,
            Err(d) => return StateResult { state: state.clone(), private: private.to_vec(), diagnostics: d },
        };
        let want = desired_tls(state);
        let port = state.get("listener").get("port").as_i64();
        let mut new_state = state.clone();
        for (attr, side) in
            [("cluster_status", cluster.as_ref().map(|c| c as &dyn MeshSide)), ("api_status", api.as_ref().map(|a| a as &dyn MeshSide))]
        {
            let Some(side) = side else { continue };
            let status = match side.read(port).await {
                Ok(view) => {
                    let diffs = view.tls.differences(&want);
                    if diffs.is_empty() {
                        IN_SYNC.to_string()
                    } else {
                        format!("drifted: {}", diffs.join("; "))
                    }
                }
                Err(e) => format!("drifted: {e}"),
            };
            new_state.set(attr, status.into());
        }
        if let (Some(c), Some(deployment)) = (&cluster, s(state, &["kubernetes", "deployment"])) {
            let wanted = Self::wanted_annotations(state);
            match appmesh_k8s::pod_annotations(&c.client, &self.clients.read_cache, &c.namespace, &deployment).await {
                Ok(Some(have)) => {
                    let missing: Vec<&String> = wanted.iter().filter(|(k, v)| have.get(*k) != v.as_ref()).map(|(k, _)| k).collect();
                    if !missing.is_empty() && new_state.get("cluster_status").as_str() == Some(IN_SYNC) {
                        new_state.set("cluster_status", format!("drifted: pod template annotation {missing:?} differs").into());
                    }
                }
                Ok(None) => new_state.set("cluster_status", format!("drifted: Deployment {}/{deployment} not found", c.namespace).into()),
                Err(e) => {
                    return StateResult {
                        state: state.clone(),
                        private: private.to_vec(),
                        diagnostics: Diagnostic::error("Failed to read the Deployment", e.to_string()).into(),
                    }
                }
            }
        }
        // The certificate mounted now: a renewal shows as a fingerprint change.
        if let (Some(secret), Some(c)) = (s(state, &["certificate_secret"]), &cluster) {
            if let Ok(Some(observed)) = tls_secret::get(&c.client, &self.clients.read_cache, &c.namespace, &secret).await {
                if let Some(info) = observed.tls_crt.as_deref().and_then(|p| pki::inspect(p).ok()) {
                    new_state.set("certificate_fingerprint", info.fingerprint_sha256.into());
                }
            }
        }
        StateResult::ok(new_state, private.to_vec())
    }

    async fn update(&self, prior: &Value, planned: &Value, _config: &Value, _private: &[u8]) -> StateResult {
        self.apply(planned, prior).await
    }

    async fn delete(&self, prior: &Value, _private: &[u8]) -> Diagnostics {
        let mut d = Diagnostics::new();
        let (cluster, api) = match self.sides(prior).await {
            Ok(s) => s,
            Err(e) => return e,
        };
        let port = prior.get("listener").get("port").as_i64();
        let sides: Vec<&dyn MeshSide> = cluster.iter().map(|c| c as &dyn MeshSide).chain(api.iter().map(|a| a as &dyn MeshSide)).collect();
        for side in sides {
            match side.write(port, &NodeTls::default()).await {
                Ok(()) | Err(SideError::NotFound { .. }) => {}
                Err(e) => d.push(Diagnostic::error(format!("Failed to remove TLS settings on the {}", side.name()), e.to_string())),
            }
        }
        if let (Some(c), Some(deployment)) = (&cluster, s(prior, &["kubernetes", "deployment"])) {
            let removals: BTreeMap<String, Option<String>> =
                [SECRET_MOUNTS_ANNOTATION, FINGERPRINT_ANNOTATION].iter().map(|k| (k.to_string(), None)).collect();
            if let Err(e) = appmesh_k8s::patch_pod_annotations(&c.client, &c.namespace, &deployment, &removals).await {
                d.push(Diagnostic::error("Failed to remove the Deployment annotations", e.to_string()));
            }
        }
        d
    }

    async fn import(&self, id: &str) -> StateResult {
        let parts: Vec<&str> = id.split('/').collect();
        let (mesh, node, k8s) = match parts.as_slice() {
            [m, n] => (*m, *n, None),
            [m, n, ns, name] => (*m, *n, Some((*ns, *name))),
            _ => {
                return StateResult::failed(
                    Diagnostic::error(
                        "Invalid import ID",
                        format!("{id:?} is not `mesh/virtual_node` or `mesh/virtual_node/namespace/name`."),
                    )
                    .into(),
                )
            }
        };
        let mut state = Value::object([
            ("mesh_name", Value::from(mesh)),
            ("virtual_node_name", node.into()),
            ("restart_on_rotation", true.into()),
            ("kubernetes", k8s.map_or(Value::Null, |(ns, name)| Value::object([("namespace", ns.into()), ("virtual_node", name.into())]))),
        ]);
        let (cluster, api) = match self.sides(&state).await {
            Ok(s) => s,
            Err(d) => return StateResult::failed(d),
        };
        let view = match (&api, &cluster) {
            (Some(a), _) => a.read(None).await,
            (None, Some(c)) => c.read(None).await,
            (None, None) => {
                return StateResult::failed(
                    Diagnostic::error(
                        "Nothing to import from",
                        "Configure the provider's aws block, or import with `mesh/virtual_node/namespace/name`.",
                    )
                    .into(),
                )
            }
        };
        let view = match view {
            Ok(v) => v,
            Err(e) => return StateResult::failed(Diagnostic::error("Cannot import", e.to_string()).into()),
        };
        let (listener, client_policy) = tls_values(&view.tls, Value::Null);
        state.set("listener", listener);
        state.set("client_policy", client_policy);
        state.set("id", node_id(Some(mesh), node).into());
        state.set("cluster_status", if cluster.is_some() { IN_SYNC } else { NOT_MANAGED }.into());
        state.set("api_status", if api.is_some() { IN_SYNC } else { NOT_MANAGED }.into());
        state.set("mount_path", format!("/etc/keys/{}", k8s.map_or(node, |(_, n)| n)).into());
        StateResult::ok(state, Vec::new())
    }
}
