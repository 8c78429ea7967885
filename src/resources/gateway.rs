//! `meshtls_gateway`: the TLS-terminating ingress gateway of the mesh (a VirtualGateway, its
//! GatewayRoutes and its Envoy Deployment), kept true on the cluster and the App Mesh API.

use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tfplugin::{AttributePath, Diagnostic, Diagnostics, Plan, PlanRequest, Resource, StateResult, Value};

use crate::backends::appmesh_gateway::{self as gw, GatewayRoute, GatewaySpec};
use crate::backends::model::{CertificateSource, ClientPolicyTls, ListenerTls};
use crate::clients::{aws_client_error, client_error, Clients};
use crate::names::{check_namespace, check_port, check_secret_name, is_dns1123_label};
use crate::ownership::Owner;
use crate::resources::virtual_node_tls::{s, single, trust_block, trust_of, IN_SYNC, NOT_MANAGED};

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

    fn aws_configured(&self) -> bool {
        self.clients.settings().is_ok_and(|s| s.aws.is_some())
    }
}

/// The gateway a (known) configuration or state describes.
fn spec_of(v: &Value) -> Option<GatewaySpec> {
    let name = s(v, &["name"])?;
    let namespace = s(v, &["namespace"])?;
    let mount_path = s(v, &["mount_path"])?;
    let cp = v.get("client_policy");
    let routes = v
        .get("route")
        .as_elements()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Some(GatewayRoute {
                name: format!("{name}-route-{i}"),
                prefix: s(r, &["prefix"])?,
                virtual_service: s(r, &["virtual_service"])?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(GatewaySpec {
        aws_name: s(v, &["aws_name"])?,
        port: v.get("port").as_i64()?,
        listener: ListenerTls {
            mode: s(v, &["tls_mode"])?,
            certificate: Some(CertificateSource::File {
                certificate_chain: format!("{mount_path}/tls.crt"),
                private_key: format!("{mount_path}/tls.key"),
            }),
            trust: None,
            subject_alternative_names: Vec::new(),
        },
        client_policy: (!cp.is_null()).then(|| ClientPolicyTls {
            enforce: cp.get("enforce").as_bool().unwrap_or(true),
            ports: Vec::new(),
            certificate: None,
            trust: trust_of(cp.get("trust")),
            subject_alternative_names: Vec::new(),
        }),
        routes,
        envoy_image: s(v, &["envoy_image"])?,
        replicas: v.get("replicas").as_i64()?,
        certificate_secret: s(v, &["certificate_secret"])?,
        mount_path,
        name,
        namespace,
    })
}

/// The owner of a gateway's objects: the gateway's id, `namespace/name`.
fn owner(spec: &gw::GatewaySpec) -> Owner {
    Owner::new(TYPE_NAME, &format!("{}/{}", spec.namespace, spec.name))
}

/// The diagnostic for a failed step on either side: a refusal names the object and how to import
/// the gateway.
fn gateway_error(e: &gw::GatewayError, action: &str, spec: &gw::GatewaySpec) -> Diagnostic {
    match e {
        gw::GatewayError::Ownership(own) => own.diagnostic(action, &format!("terraform import <address> {}/{}", spec.namespace, spec.name)),
        other => Diagnostic::error(format!("Failed to {action}"), other.to_string()),
    }
}

fn status(drift: Result<Vec<String>, gw::GatewayError>) -> String {
    match drift {
        Ok(d) if d.is_empty() => IN_SYNC.to_string(),
        Ok(d) => format!("drifted: {}", d.join("; ")),
        Err(e) => format!("drifted: {e}"),
    }
}

#[async_trait]
impl Resource for GatewayResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
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
                .attribute(Attribute::string("namespace").required().requires_replace().description("Namespace of the gateway's objects."))
                .attribute(Attribute::string("name").required().requires_replace().description("Name of the VirtualGateway and the Envoy Deployment (pods are labelled `app=<name>`)."))
                .attribute(Attribute::string("mesh_name").optional().computed().requires_replace().description("App Mesh mesh. Defaults to the provider's `mesh_name`."))
                .attribute(Attribute::string("aws_name").optional().computed().requires_replace().description("The gateway's App Mesh name. Defaults to `<name>_<namespace>`, as the App Mesh controller names it."))
                .attribute(Attribute::number("port").default(8443i64).description("Listener port (HTTP). Defaults to 8443."))
                .attribute(Attribute::string("tls_mode").default("STRICT").description("`STRICT` (default), `PERMISSIVE` or `DISABLED`."))
                .attribute(Attribute::string("certificate_secret").required().description("TLS Secret served by the gateway, e.g. a `meshtls_certificate`'s `secret_name`."))
                .attribute(Attribute::string("mount_path").optional().computed().description("Where the Secret is mounted in Envoy. Defaults to `/etc/keys/<name>`."))
                .attribute(Attribute::string("envoy_image").default(DEFAULT_ENVOY_IMAGE).description("The Envoy image of the gateway Deployment."))
                .attribute(Attribute::number("replicas").default(1i64).description("Number of gateway pods. Defaults to 1."))
                .attribute(Attribute::string("cluster_status").computed().description("`in sync`, or what differs on the cluster."))
                .attribute(Attribute::string("api_status").computed().description("`in sync`, `not managed`, or what differs in the App Mesh API."))
                .block(single("client_policy", client_policy))
                .block(NestedBlock::new("route", Nesting::List, route)),
        )
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let at = |n: &str| AttributePath::attrs(&[n]);
        check_namespace(&mut d, config, "namespace");
        if let Some(n) = config.get("name").as_str().filter(|n| !is_dns1123_label(n)) {
            d.error_at(
                at("name"),
                "Invalid name",
                format!("{n:?} is not a valid name: lowercase letters, digits and '-', at most 63 characters."),
            );
        }
        check_secret_name(&mut d, config, "certificate_secret");
        if let Some(m) = config.get("tls_mode").as_str().filter(|m| !["STRICT", "PERMISSIVE", "DISABLED"].contains(m)) {
            d.error_at(at("tls_mode"), "Invalid TLS mode", format!("{m:?} is not a TLS mode; use STRICT, PERMISSIVE or DISABLED."));
        }
        check_port(&mut d, config.get("port"), at("port"));
        if let Value::Number(r) = config.get("replicas") {
            if !r.as_i64().is_some_and(|r| (0..=MAX_REPLICAS).contains(&r)) {
                d.error_at(
                    at("replicas"),
                    "Invalid replica count",
                    format!("{r} is not a whole number of replicas from 0 to {MAX_REPLICAS}."),
                );
            }
        }
        for (i, r) in config.get("route").as_elements().unwrap_or_default().iter().enumerate() {
            if let Some(p) = r.get("prefix").as_str().filter(|p| !p.starts_with('/')) {
                d.error_at(
                    AttributePath::attrs(&["route"]).index(i).attr("prefix"),
                    "Invalid prefix",
                    format!("{p:?} must start with '/'."),
                );
            }
        }
        d
    }

    async fn modify_plan(&self, request: PlanRequest<'_>, plan: &mut Plan) {
        let (name, namespace) = (s(request.config, &["name"]), s(request.config, &["namespace"]));
        if request.config.get("mesh_name").is_null() {
            let mesh = self.clients.settings().ok().and_then(|s| s.mesh_name.known().map(str::to_string));
            match mesh {
                Some(m) => plan.planned.set("mesh_name", m.into()),
                None if self.aws_configured() => plan.diagnostics.error_at(
                    AttributePath::attrs(&["mesh_name"]),
                    "No mesh",
                    "Set mesh_name here or in the provider block.",
                ),
                None => plan.planned.set("mesh_name", Value::Null),
            }
        }
        if request.config.get("aws_name").is_null() {
            plan.planned.set(
                "aws_name",
                match (&name, &namespace) {
                    (Some(n), Some(ns)) => format!("{n}_{ns}").into(),
                    _ => Value::Unknown,
                },
            );
        }
        if request.config.get("mount_path").is_null() {
            plan.planned.set("mount_path", name.as_ref().map_or(Value::Unknown, |n| format!("/etc/keys/{n}").into()));
        }
        plan.planned.set(
            "id",
            match (&namespace, &name) {
                (Some(ns), Some(n)) => format!("{ns}/{n}").into(),
                _ => Value::Unknown,
            },
        );
        plan.planned.set("cluster_status", IN_SYNC.into());
        plan.planned.set("api_status", if self.aws_configured() { IN_SYNC } else { NOT_MANAGED }.into());
    }

    async fn create(&self, planned: &Value, _config: &Value) -> StateResult {
        self.update(&Value::Null, planned, &Value::Null, &[]).await
    }

    async fn read(&self, state: &Value, private: &[u8]) -> StateResult {
        if self.clients.cluster_unknown() {
            return StateResult::ok(state.clone(), private.to_vec());
        }
        let Some(spec) = spec_of(state) else { return StateResult::ok(state.clone(), private.to_vec()) };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult { state: state.clone(), private: private.to_vec(), diagnostics: client_error(e) },
        };
        let mut new_state = state.clone();
        new_state.set("cluster_status", status(gw::drift_cluster(&client, &owner(&spec), &spec).await).into());
        if let (true, Some(mesh)) = (self.aws_configured(), s(state, &["mesh_name"])) {
            if let Ok(aws) = self.clients.aws().await {
                new_state.set("api_status", status(gw::drift_api(&aws.appmesh, &owner(&spec), &mesh, &spec).await).into());
            }
        }
        StateResult::ok(new_state, private.to_vec())
    }

    async fn update(&self, prior: &Value, planned: &Value, _config: &Value, _private: &[u8]) -> StateResult {
        let Some(spec) = spec_of(planned) else {
            return StateResult::failed(
                Diagnostic::error("Incomplete configuration", "meshtls_gateway needs known values for every argument at apply time.")
                    .into(),
            );
        };
        let keep = |d: Diagnostics| StateResult {
            state: if prior.is_null() { Value::Null } else { prior.clone() },
            private: Vec::new(),
            diagnostics: d,
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return keep(client_error(e)),
        };
        let mut state = planned.clone();
        let mut diagnostics = Diagnostics::new();
        if let Err(e) = gw::apply_cluster(&client, &owner(&spec), &spec).await {
            diagnostics.push(gateway_error(&e, "apply the gateway on the cluster", &spec));
            if prior.is_null() && matches!(e, gw::GatewayError::Ownership(_)) {
                // Refused before anything was written: nothing to keep in state.
                return StateResult { state: Value::Null, private: Vec::new(), diagnostics };
            }
            state.set("cluster_status", format!("apply failed: {e}").into());
        }
        if let (true, Some(mesh)) = (self.aws_configured(), s(planned, &["mesh_name"])) {
            let result = match self.clients.aws().await {
                Ok(aws) => {
                    // Conflicts are retried around a fresh read, as for virtual nodes.
                    let owner = owner(&spec);
                    crate::backends::on_conflict(
                        || gw::apply_api(&aws.appmesh, &owner, &mesh, &spec, !prior.is_null()),
                        |e| matches!(e, gw::GatewayError::Conflict(_)),
                    )
                    .await
                }
                Err(e) => Err(gw::GatewayError::Other(e.to_string())),
            };
            if let Err(e) = result {
                diagnostics.push(gateway_error(&e, "apply the gateway in the App Mesh API", &spec));
                state.set("api_status", format!("apply failed: {e}").into());
            }
        }
        // Whatever was created is in state, so a failed apply is finished or cleaned up later.
        StateResult { state, private: Vec::new(), diagnostics }
    }

    async fn delete(&self, prior: &Value, _private: &[u8]) -> Diagnostics {
        let Some(spec) = spec_of(prior) else { return Diagnostics::new() };
        let mut d = Diagnostics::new();
        match self.clients.kube().await {
            Ok(client) => match gw::delete_cluster(&client, &owner(&spec), &spec).await {
                Ok(left_alone) => d.push_all(left_alone),
                Err(e) => d.push(gateway_error(&e, "delete the gateway from the cluster", &spec)),
            },
            Err(e) => d.extend(client_error(e)),
        }
        if let (true, Some(mesh)) = (self.aws_configured(), s(prior, &["mesh_name"])) {
            match self.clients.aws().await {
                Ok(aws) => match gw::delete_api(&aws.appmesh, &owner(&spec), &mesh, &spec).await {
                    Ok(left_alone) => d.push_all(left_alone),
                    Err(e) => d.push(gateway_error(&e, "delete the gateway from the App Mesh API", &spec)),
                },
                Err(e) => d.extend(aws_client_error(e)),
            }
        }
        d
    }

    async fn import(&self, id: &str) -> StateResult {
        let Some((namespace, name)) = id.split_once('/').filter(|(ns, n)| is_dns1123_label(ns) && is_dns1123_label(n)) else {
            return StateResult::failed(Diagnostic::error("Invalid import ID", format!("{id:?} is not `namespace/name`.")).into());
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        let spec = match gw::read_cluster(&client, namespace, name).await {
            Ok(Some(spec)) => spec,
            Ok(None) => {
                return StateResult::failed(
                    Diagnostic::error("Cannot import: gateway not found", format!("No VirtualGateway {namespace}/{name} exists.")).into(),
                )
            }
            Err(e) => return StateResult::failed(Diagnostic::error("Cannot import", e.to_string()).into()),
        };
        // From here on meshtls manages the gateway's objects.
        if let Err(e) = gw::adopt_cluster(&client, &owner(&spec), &spec).await {
            return StateResult::failed(gateway_error(&e, "mark the gateway's objects as managed by meshtls", &spec).into());
        }
        let mesh_name = self.clients.settings().ok().and_then(|s| s.mesh_name.known().map(str::to_string));
        if let (true, Some(mesh)) = (self.aws_configured(), &mesh_name) {
            let adopted = match self.clients.aws().await {
                Ok(aws) => gw::adopt_api(&aws.appmesh, &owner(&spec), mesh, &spec).await,
                Err(e) => Err(gw::GatewayError::Other(e.to_string())),
            };
            if let Err(e) = adopted {
                return StateResult::failed(gateway_error(&e, "tag the gateway's App Mesh objects as managed by meshtls", &spec).into());
            }
        }
        let client_policy = spec.client_policy.as_ref().map_or(Value::Null, |cp| {
            let trust = match &cp.trust {
                Some(crate::backends::model::TrustSource::File { certificate_chain }) => {
                    Value::object([("file", Value::object([("certificate_chain", certificate_chain.as_str().into())]))])
                }
                Some(crate::backends::model::TrustSource::Sds { secret_name }) => {
                    Value::object([("sds", Value::object([("secret_name", secret_name.as_str().into())]))])
                }
                Some(crate::backends::model::TrustSource::Acm { certificate_authority_arns }) => Value::object([(
                    "acm",
                    Value::object([(
                        "certificate_authority_arns",
                        Value::List(certificate_authority_arns.iter().map(|a| Value::from(a.as_str())).collect()),
                    )]),
                )]),
                None => Value::Null,
            };
            Value::object([("enforce", cp.enforce.into()), ("trust", trust)])
        });
        let mesh = self.clients.settings().ok().and_then(|s| s.mesh_name.known().map(str::to_string));
        let state = Value::object([
            ("id", Value::from(id)),
            ("namespace", namespace.into()),
            ("name", name.into()),
            ("mesh_name", Value::opt_string(mesh)),
            ("aws_name", spec.aws_name.as_str().into()),
            ("port", Value::from(spec.port)),
            ("tls_mode", spec.listener.mode.as_str().into()),
            ("certificate_secret", spec.certificate_secret.as_str().into()),
            ("mount_path", spec.mount_path.as_str().into()),
            ("envoy_image", spec.envoy_image.as_str().into()),
            ("replicas", Value::from(spec.replicas)),
            ("cluster_status", IN_SYNC.into()),
            ("api_status", if self.aws_configured() { IN_SYNC } else { NOT_MANAGED }.into()),
            ("client_policy", client_policy),
            (
                "route",
                Value::List(
                    spec.routes
                        .iter()
                        .map(|r| {
                            Value::object([("prefix", r.prefix.as_str().into()), ("virtual_service", r.virtual_service.as_str().into())])
                        })
                        .collect(),
                ),
            ),
        ]);
        StateResult::ok(state, Vec::new())
    }
}
