//! The tfplugin6 Provider service: decodes requests, calls the provider's traits, encodes
//! replies. Nothing here logs attribute values, so sensitive data never reaches the logs.

use std::collections::HashMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::diag::{AttributePath, Diagnostic, Diagnostics, Severity, Step};
use crate::framework::{self, DataSource, ListRequest, ListResource, Plan, PlanRequest, Provider, Resource, StateResult};
use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::Provider as ProviderService;
use crate::schema::{wire, Schema};
use crate::types::Type;
use crate::value::Value;
use crate::{json, msgpack};

struct Registered<T: ?Sized> {
    imp: Arc<T>,
    schema: Schema,
    ty: Type,
    /// The identity's type, for resources that have one.
    identity_ty: Option<Type>,
}

pub(crate) struct ProviderServer {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    provider_type: Type,
    resources: HashMap<String, Registered<dyn Resource>>,
    data_sources: HashMap<String, Registered<dyn DataSource>>,
    list_resources: HashMap<String, Registered<dyn ListResource>>,
    /// Set by StopProvider, cleared by the next ConfigureProvider (one process may serve many
    /// runs with `--debug`): no create, update or delete starts while it is set.
    stopped: std::sync::atomic::AtomicBool,
}

impl ProviderServer {
    pub(crate) fn new(provider: Arc<dyn Provider>) -> Self {
        let provider_schema = provider.schema();
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| {
                let schema = r.schema();
                let ty = schema.value_type();
                let identity_ty = r.identity_schema().map(|i| i.value_type());
                (r.type_name().to_string(), Registered { imp: r, schema, ty, identity_ty })
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|d| {
                let schema = d.schema();
                let ty = schema.value_type();
                (d.type_name().to_string(), Registered { imp: d, schema, ty, identity_ty: None })
            })
            .collect();
        let list_resources = provider
            .list_resources()
            .into_iter()
            .map(|l| {
                let schema = l.schema();
                let ty = schema.value_type();
                (l.type_name().to_string(), Registered { imp: l, schema, ty, identity_ty: None })
            })
            .collect();
        ProviderServer {
            provider_type: provider_schema.value_type(),
            provider,
            provider_schema,
            resources,
            data_sources,
            list_resources,
            stopped: Default::default(),
        }
    }

    fn resource(&self, name: &str) -> Result<&Registered<dyn Resource>, Status> {
        self.resources.get(name).ok_or_else(|| Status::invalid_argument(format!("unknown resource type {name}")))
    }

    fn data_source(&self, name: &str) -> Result<&Registered<dyn DataSource>, Status> {
        self.data_sources.get(name).ok_or_else(|| Status::invalid_argument(format!("unknown data source type {name}")))
    }

    fn list_resource(&self, name: &str) -> Result<&Registered<dyn ListResource>, Status> {
        self.list_resources.get(name).ok_or_else(|| Status::invalid_argument(format!("unknown list resource type {name}")))
    }
}

/// Write-only values never reach a plan or a state: the CLI requires them null there.
fn without_write_only(r: &Registered<dyn Resource>, mut value: Value) -> Value {
    r.schema.block.null_write_only(&mut value);
    value
}

/// A CLI that does not know write-only arguments would store them in state like any other,
/// so a configuration that sets one is refused before anything is planned.
fn write_only_unsupported(block: &crate::schema::Block, config: &Value, capabilities: Option<&pb::ClientCapabilities>) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if capabilities.is_some_and(|c| c.write_only_attributes_allowed) {
        return diags;
    }
    for path in block.write_only_paths(config) {
        diags.push(
            Diagnostic::error(
                "Write-only argument not supported by this CLI",
                format!(
                    "`{path}` is write-only: it is used at apply and never stored. This Terraform or OpenTofu does not support write-only arguments and would keep it in state. Use Terraform 1.11 or later or OpenTofu 1.11 or later, or leave it unset."
                ),
            )
            .at(path),
        );
    }
    diags
}

/// The identity of the object `state` describes, for the CLI to keep beside it; none for a
/// resource without identity, a gone object, or while a part is not known.
fn identity_of(r: &Registered<dyn Resource>, state: &Value, diags: &mut Diagnostics) -> Option<pb::ResourceIdentityData> {
    let ty = r.identity_ty.as_ref()?;
    let identity = r.imp.identity(state).filter(Value::is_wholly_known)?;
    encode(&identity, ty, diags).map(|dv| pb::ResourceIdentityData { identity_data: Some(dv) })
}

fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    let result = if !dv.msgpack.is_empty() {
        msgpack::decode(&dv.msgpack, ty).map_err(|e| e.to_string())
    } else if !dv.json.is_empty() {
        json::decode(&dv.json, ty).map_err(|e| e.to_string())
    } else {
        Ok(Value::Null)
    };
    result.map_err(|e| Diagnostic::error("Invalid value from Terraform", format!("The provider could not decode a value: {e}")).into())
}

/// With TFPLUGIN_CAPTURE_DIR set, every DynamicValue received in the calls below is written
/// there (its msgpack bytes, and its type as JSON), to build test fixtures from what real
/// CLIs send. Off by default; meant for development only.
fn capture(rpc: &str, type_name: &str, field: &str, dv: Option<&pb::DynamicValue>, ty: &Type) {
    let (Some(dir), Some(dv)) = (std::env::var_os("TFPLUGIN_CAPTURE_DIR"), dv) else { return };
    if dv.msgpack.is_empty() {
        return;
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = std::path::Path::new(&dir).join(format!("{rpc}-{type_name}-{field}-{}-{n}", std::process::id()));
    // A configuration holds write-only values (keys): readable by the owner only.
    let _ = write_private(&base.with_extension("msgpack"), &dv.msgpack);
    let _ = write_private(&base.with_extension("type.json"), &ty.to_json_bytes());
}

/// Writes a new file of mode 0600.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

fn encode(value: &Value, ty: &Type, diags: &mut Diagnostics) -> Option<pb::DynamicValue> {
    match msgpack::encode(value, ty) {
        Ok(msgpack) => Some(pb::DynamicValue { msgpack, json: Vec::new() }),
        Err(e) => {
            diags.error("Provider produced a value it cannot encode", format!("This is a bug in the provider: {e}"));
            None
        }
    }
}

pub(crate) fn diagnostics_to_wire(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter()
        .map(|d| pb::Diagnostic {
            severity: match d.severity {
                Severity::Error => pb::diagnostic::Severity::Error as i32,
                Severity::Warning => pb::diagnostic::Severity::Warning as i32,
            },
            summary: d.summary.clone(),
            detail: d.detail.clone(),
            attribute: d.path.as_ref().map(path_to_wire),
        })
        .collect()
}

fn path_to_wire(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    Step::Attribute(n) => Selector::AttributeName(n.clone()),
                    Step::Key(k) => Selector::ElementKeyString(k.clone()),
                    Step::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// Apply and read results must be wholly known; an unknown left in them is a provider bug
/// that Terraform would reject with a far less helpful message.
/// A state the CLI is given must be wholly known. One that is not is a provider bug; the
/// object stays in state with those values null, so nothing that was written is lost track of
/// (a create that fails this way is tainted and replaced by the next apply).
fn ensure_known(state: &mut Value, diags: &mut Diagnostics) {
    if !state.is_wholly_known() {
        diags.error(
            "Provider returned unknown values",
            "This is a bug in the provider: a state after apply or read still held unknown values. The object is kept in state with them null, so the next apply finishes or replaces it.",
        );
        state.nullify_unknowns();
    }
}

/// Runs one call into the provider. A panic inside it becomes an error diagnostic, so the CLI
/// reports it with the resource it concerns instead of seeing the connection reset.
async fn caught<T>(rpc: &str, type_name: &str, call: impl std::future::Future<Output = T>) -> Result<T, Diagnostics> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(call).catch_unwind().await.map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        tracing::error!(rpc, type_name, "the provider panicked");
        Diagnostic::error(
            "Bug in the provider",
            format!("{rpc} for {type_name} panicked: {message}. Please report it; nothing after the panic was done."),
        )
        .into()
    })
}

macro_rules! unwrap_or_reply {
    ($e:expr, $reply:expr) => {
        match $e {
            Ok(v) => v,
            Err(d) => return Ok(Response::new($reply(d))),
        }
    };
}

#[tonic::async_trait]
impl ProviderService for ProviderServer {
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> Result<Response<pb::get_metadata::Response>, Status> {
        tracing::debug!(rpc = "GetMetadata", "serving");
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: self.data_sources.keys().map(|k| pb::get_metadata::DataSourceMetadata { type_name: k.clone() }).collect(),
            resources: self.resources.keys().map(|k| pb::get_metadata::ResourceMetadata { type_name: k.clone() }).collect(),
            functions: Vec::new(),
            ephemeral_resources: Vec::new(),
            list_resources: self.list_resources.keys().map(|k| pb::get_metadata::ListResourceMetadata { type_name: k.clone() }).collect(),
            state_stores: Vec::new(),
            actions: Vec::new(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        tracing::debug!(rpc = "GetProviderSchema", "serving");
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(wire::schema(&self.provider_schema)),
            resource_schemas: self.resources.iter().map(|(k, r)| (k.clone(), wire::schema(&r.schema))).collect(),
            data_source_schemas: self.data_sources.iter().map(|(k, d)| (k.clone(), wire::schema(&d.schema))).collect(),
            functions: Default::default(),
            ephemeral_resource_schemas: Default::default(),
            list_resource_schemas: self.list_resources.iter().map(|(k, l)| (k.clone(), wire::schema(&l.schema))).collect(),
            state_store_schemas: Default::default(),
            action_schemas: Default::default(),
            diagnostics: Vec::new(),
            provider_meta: None,
            server_capabilities: Some(capabilities()),
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        tracing::debug!(rpc = "ValidateProviderConfig", "serving");
        let reply = |d: Diagnostics| pb::validate_provider_config::Response { diagnostics: diagnostics_to_wire(&d) };
        let config = unwrap_or_reply!(decode(req.get_ref().config.as_ref(), &self.provider_type), reply);
        Ok(Response::new(reply(self.provider.validate(&config))))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "ValidateResourceConfig", type_name = %req.type_name, "serving");
        let r = self.resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::validate_resource_config::Response { diagnostics: diagnostics_to_wire(&d) };
        let config = unwrap_or_reply!(decode(req.config.as_ref(), &r.ty), reply);
        let refused = write_only_unsupported(&r.schema.block, &config, req.client_capabilities.as_ref());
        if refused.has_errors() {
            return Ok(Response::new(reply(refused)));
        }
        Ok(Response::new(reply(unwrap_or_reply!(caught("ValidateResourceConfig", &req.type_name, r.imp.validate(&config)).await, reply))))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "ValidateDataResourceConfig", type_name = %req.type_name, "serving");
        let d = self.data_source(&req.type_name)?;
        let reply = |d: Diagnostics| pb::validate_data_resource_config::Response { diagnostics: diagnostics_to_wire(&d) };
        let config = unwrap_or_reply!(decode(req.config.as_ref(), &d.ty), reply);
        Ok(Response::new(reply(d.imp.validate(&config).await)))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "UpgradeResourceState", type_name = %req.type_name, version = req.version, "serving");
        let r = self.resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics: diagnostics_to_wire(&d) };
        let raw = req.raw_state.unwrap_or_default();
        if raw.json.is_empty() && !raw.flatmap.is_empty() {
            return Ok(Response::new(reply(
                Diagnostic::error(
                    "Unsupported state format",
                    "This state was written in the pre-0.12 flatmap format, which this provider never produced.",
                )
                .into(),
            )));
        }
        let state = unwrap_or_reply!(
            json::decode(&raw.json, &r.ty)
                .map_err(|e| Diagnostics::from(Diagnostic::error("Stored state does not match the schema", e.to_string()))),
            reply
        );
        let state = unwrap_or_reply!(r.imp.upgrade_state(req.version, state), reply);
        let mut diags = Diagnostics::new();
        let upgraded_state = encode(&state, &r.ty, &mut diags);
        Ok(Response::new(pb::upgrade_resource_state::Response { upgraded_state, diagnostics: diagnostics_to_wire(&diags) }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
        let identity_schemas = self
            .resources
            .iter()
            .filter_map(|(name, r)| {
                let schema = r.imp.identity_schema()?;
                let identity_attributes = schema
                    .attributes
                    .iter()
                    .map(|a| pb::resource_identity_schema::IdentityAttribute {
                        name: a.name.clone(),
                        r#type: a.ty.to_json_bytes(),
                        required_for_import: a.required_for_import,
                        optional_for_import: !a.required_for_import,
                        description: a.description.clone(),
                    })
                    .collect();
                Some((name.clone(), pb::ResourceIdentitySchema { version: schema.version, identity_attributes }))
            })
            .collect();
        Ok(Response::new(pb::get_resource_identity_schemas::Response { identity_schemas, diagnostics: Vec::new() }))
    }

    async fn upgrade_resource_identity(
        &self,
        req: Request<pb::upgrade_resource_identity::Request>,
    ) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "UpgradeResourceIdentity", type_name = %req.type_name, version = req.version, "serving");
        let r = self.resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::upgrade_resource_identity::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
        let Some(ty) = r.identity_ty.as_ref() else {
            return Ok(Response::new(reply(Diagnostic::error("No identity", format!("{} has no identity.", req.type_name)).into())));
        };
        let raw = req.raw_identity.unwrap_or_default();
        let stored: serde_json::Value = unwrap_or_reply!(
            serde_json::from_slice(&raw.json)
                .map_err(|e| Diagnostics::from(Diagnostic::error("Unreadable stored identity", e.to_string()))),
            reply
        );
        let upgraded = unwrap_or_reply!(r.imp.upgrade_identity(req.version, &stored), reply);
        let mut diagnostics = Diagnostics::new();
        let identity_data = encode(&upgraded, ty, &mut diagnostics);
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            upgraded_identity: identity_data.map(|dv| pb::ResourceIdentityData { identity_data: Some(dv) }),
            diagnostics: diagnostics_to_wire(&diagnostics),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "ConfigureProvider", terraform_version = %req.terraform_version, "serving");
        let reply = |d: Diagnostics| pb::configure_provider::Response { diagnostics: diagnostics_to_wire(&d) };
        capture("ConfigureProvider", "provider", "config", req.config.as_ref(), &self.provider_type);
        let config = unwrap_or_reply!(decode(req.config.as_ref(), &self.provider_type), reply);
        self.stopped.store(false, std::sync::atomic::Ordering::SeqCst);
        let diags = self.provider.configure(framework::ConfigureRequest { terraform_version: req.terraform_version, config }).await;
        Ok(Response::new(reply(diags)))
    }

    async fn read_resource(&self, req: Request<pb::read_resource::Request>) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "ReadResource", type_name = %req.type_name, "serving");
        let r = self.resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::read_resource::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
        let current = unwrap_or_reply!(decode(req.current_state.as_ref(), &r.ty), reply);
        let StateResult { mut state, private, mut diagnostics } =
            unwrap_or_reply!(caught("ReadResource", &req.type_name, r.imp.read(&current, &req.private)).await, reply);
        if diagnostics.has_errors() && state.is_null() {
            // A failed read must not make Terraform believe the object is gone.
            state = current;
        }
        ensure_known(&mut state, &mut diagnostics);
        let state = without_write_only(r, state);
        let new_state = encode(&state, &r.ty, &mut diagnostics);
        let new_identity = identity_of(r, &state, &mut diagnostics);
        Ok(Response::new(pb::read_resource::Response {
            new_state,
            diagnostics: diagnostics_to_wire(&diagnostics),
            private,
            deferred: None,
            new_identity,
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "PlanResourceChange", type_name = %req.type_name, "serving");
        let r = self.resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::plan_resource_change::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
        for (field, dv) in [("prior", &req.prior_state), ("proposed", &req.proposed_new_state), ("config", &req.config)] {
            capture("PlanResourceChange", &req.type_name, field, dv.as_ref(), &r.ty);
        }
        let prior = unwrap_or_reply!(decode(req.prior_state.as_ref(), &r.ty), reply);
        let proposed = unwrap_or_reply!(decode(req.proposed_new_state.as_ref(), &r.ty), reply);
        let config = unwrap_or_reply!(decode(req.config.as_ref(), &r.ty), reply);
        // Write-only values take no part in the generic plan (the prior state never holds
        // them, so they would always differ); the resource still sees them in `config`.
        let (planned, requires_replace) = framework::plan_generic(
            &r.schema.block,
            &prior,
            &without_write_only(r, proposed.clone()),
            &without_write_only(r, config.clone()),
        );
        let mut plan = Plan { planned, requires_replace, private: req.prior_private.clone(), diagnostics: Diagnostics::new() };
        if !proposed.is_null() {
            let modify = r.imp.modify_plan(PlanRequest { prior: &prior, config: &config, prior_private: &req.prior_private }, &mut plan);
            unwrap_or_reply!(caught("PlanResourceChange", &req.type_name, modify).await, reply);
        }
        r.schema.block.null_write_only(&mut plan.planned);
        let planned_state = encode(&plan.planned, &r.ty, &mut plan.diagnostics);
        // An identity not known until apply stays the prior one, as the CLI requires of an
        // object that is not replaced.
        let planned_identity = match identity_of(r, &plan.planned, &mut plan.diagnostics) {
            None if !plan.planned.is_null() && plan.requires_replace.is_empty() => req.prior_identity.clone(),
            identity => identity,
        };
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state,
            requires_replace: plan.requires_replace.iter().map(path_to_wire).collect(),
            planned_private: plan.private,
            diagnostics: diagnostics_to_wire(&plan.diagnostics),
            legacy_type_system: false,
            deferred: None,
            planned_identity,
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::apply_resource_change::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
        let prior = unwrap_or_reply!(decode(req.prior_state.as_ref(), &r.ty), reply);
        let planned = unwrap_or_reply!(decode(req.planned_state.as_ref(), &r.ty), reply);
        let config = unwrap_or_reply!(decode(req.config.as_ref(), &r.ty), reply);
        let action = match (prior.is_null(), planned.is_null()) {
            (true, false) => "create",
            (false, true) => "delete",
            _ => "update",
        };
        tracing::info!(rpc = "ApplyResourceChange", type_name = %req.type_name, action, "applying");
        if self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            // Nothing is started once the CLI asked to stop; the prior state stays.
            let mut diagnostics = Diagnostics::new();
            diagnostics
                .error("Stopped", format!("The CLI asked the provider to stop; the {action} of this {} was not started.", req.type_name));
            let new_state = encode(&prior, &r.ty, &mut diagnostics);
            let new_identity = identity_of(r, &prior, &mut diagnostics);
            return Ok(Response::new(pb::apply_resource_change::Response {
                new_state,
                private: req.planned_private.clone(),
                diagnostics: diagnostics_to_wire(&diagnostics),
                legacy_type_system: false,
                new_identity,
            }));
        }
        self.provider.before_apply();
        let call = async {
            match action {
                "create" => r.imp.create(&planned, &config).await,
                "delete" => {
                    let diagnostics = r.imp.delete(&prior, &req.planned_private).await;
                    // A failed delete leaves the object in state, so nothing is lost track of.
                    let state = if diagnostics.has_errors() { prior.clone() } else { Value::Null };
                    StateResult { state, private: req.planned_private.clone(), diagnostics }
                }
                _ => r.imp.update(&prior, &planned, &config, &req.planned_private).await,
            }
        };
        let StateResult { mut state, mut private, mut diagnostics } = match caught("ApplyResourceChange", &req.type_name, call).await {
            Ok(result) => result,
            // What the prior state holds stays in state.
            Err(diagnostics) => StateResult { state: prior.clone(), private: req.planned_private.clone(), diagnostics },
        };
        // A failed update keeps the prior state, and the private state beside it.
        if action == "update" && diagnostics.has_errors() && state.is_null() {
            state = prior;
            private = req.planned_private.clone();
        }
        ensure_known(&mut state, &mut diagnostics);
        let state = without_write_only(r, state);
        let new_state = encode(&state, &r.ty, &mut diagnostics);
        let new_identity = identity_of(r, &state, &mut diagnostics);
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state,
            private,
            diagnostics: diagnostics_to_wire(&diagnostics),
            legacy_type_system: false,
            new_identity,
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        tracing::info!(rpc = "ImportResourceState", type_name = %req.type_name, id = %req.id, "importing");
        let r = self.resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::import_resource_state::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
        // An `import` block may name the object by identity instead of an ID.
        let id = match req.identity.as_ref().and_then(|i| i.identity_data.as_ref()) {
            Some(dv) if req.id.is_empty() => {
                let Some(ty) = r.identity_ty.as_ref() else {
                    let d =
                        Diagnostic::error("No resource identity", format!("{} cannot be imported by identity; give an ID.", req.type_name));
                    return Ok(Response::new(reply(d.into())));
                };
                let identity = unwrap_or_reply!(decode(Some(dv), ty), reply);
                match r.imp.import_id(&identity) {
                    Some(id) => id,
                    None => {
                        let d = Diagnostic::error("Invalid identity", format!("The identity given does not name a {}.", req.type_name));
                        return Ok(Response::new(reply(d.into())));
                    }
                }
            }
            _ => req.id.clone(),
        };
        let StateResult { mut state, private, mut diagnostics } =
            caught("ImportResourceState", &req.type_name, r.imp.import(&id)).await.unwrap_or_else(StateResult::failed);
        let mut imported_resources = Vec::new();
        if !diagnostics.has_errors() {
            if state.is_null() {
                diagnostics.error("Cannot import non-existent remote object", format!("No {} exists with ID {id:?}.", req.type_name));
            } else {
                ensure_known(&mut state, &mut diagnostics);
                let state = without_write_only(r, state);
                let identity = identity_of(r, &state, &mut diagnostics);
                if let Some(dv) = encode(&state, &r.ty, &mut diagnostics) {
                    imported_resources.push(pb::import_resource_state::ImportedResource {
                        type_name: req.type_name.clone(),
                        state: Some(dv),
                        private,
                        identity,
                    });
                }
            }
        }
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources,
            diagnostics: diagnostics_to_wire(&diagnostics),
            deferred: None,
        }))
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "MoveResourceState", from = %req.source_type_name, to = %req.target_type_name, "serving");
        let r = self.resource(&req.target_type_name)?;
        let reply = |d: Diagnostics| pb::move_resource_state::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
        let raw = req.source_state.unwrap_or_default();
        let source_state: serde_json::Value = unwrap_or_reply!(
            serde_json::from_slice(&raw.json).map_err(|e| Diagnostics::from(Diagnostic::error("Unreadable source state", e.to_string()))),
            reply
        );
        let source = crate::framework::MoveSource {
            provider_address: &req.source_provider_address,
            type_name: &req.source_type_name,
            schema_version: req.source_schema_version,
            state: &source_state,
        };
        let moved = match r.imp.move_state(&source) {
            Some(moved) => moved,
            None => Err(Diagnostic::error(
                "Unsupported move",
                format!(
                    "{} cannot take the state of {} ({}). Remove the moved block, and import the objects instead.",
                    req.target_type_name, req.source_type_name, req.source_provider_address
                ),
            )
            .into()),
        };
        let mut state = unwrap_or_reply!(moved, reply);
        let mut diagnostics = Diagnostics::new();
        ensure_known(&mut state, &mut diagnostics);
        let state = without_write_only(r, state);
        let target_identity = identity_of(r, &state, &mut diagnostics);
        let target_state = encode(&state, &r.ty, &mut diagnostics);
        Ok(Response::new(pb::move_resource_state::Response {
            target_state,
            diagnostics: diagnostics_to_wire(&diagnostics),
            target_private: Vec::new(),
            target_identity,
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "ReadDataSource", type_name = %req.type_name, "serving");
        let d = self.data_source(&req.type_name)?;
        let reply = |d: Diagnostics| pb::read_data_source::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
        let config = unwrap_or_reply!(decode(req.config.as_ref(), &d.ty), reply);
        let StateResult { mut state, mut diagnostics, .. } =
            caught("ReadDataSource", &req.type_name, d.imp.read(&config)).await.unwrap_or_else(StateResult::failed);
        ensure_known(&mut state, &mut diagnostics);
        let state = if diagnostics.has_errors() { None } else { encode(&state, &d.ty, &mut diagnostics) };
        Ok(Response::new(pb::read_data_source::Response { state, diagnostics: diagnostics_to_wire(&diagnostics), deferred: None }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        Err(Status::invalid_argument(format!("unknown ephemeral resource type {}", req.get_ref().type_name)))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        Err(Status::invalid_argument(format!("unknown ephemeral resource type {}", req.get_ref().type_name)))
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        Err(Status::invalid_argument(format!("unknown ephemeral resource type {}", req.get_ref().type_name)))
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        Err(Status::invalid_argument(format!("unknown ephemeral resource type {}", req.get_ref().type_name)))
    }

    async fn generate_resource_config(
        &self,
        req: Request<pb::generate_resource_config::Request>,
    ) -> Result<Response<pb::generate_resource_config::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "GenerateResourceConfig", type_name = %req.type_name, "serving");
        let r = self.resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::generate_resource_config::Response { config: None, diagnostics: diagnostics_to_wire(&d) };
        let state = unwrap_or_reply!(decode(req.state.as_ref(), &r.ty), reply);
        let config = unwrap_or_reply!(r.imp.generate_config(&without_write_only(r, state)), reply);
        let mut diagnostics = Diagnostics::new();
        let config = encode(&config, &r.ty, &mut diagnostics);
        Ok(Response::new(pb::generate_resource_config::Response { config, diagnostics: diagnostics_to_wire(&diagnostics) }))
    }

    type ListResourceStream = EventStream<pb::list_resource::Event>;

    async fn list_resource(&self, req: Request<pb::list_resource::Request>) -> Result<Response<Self::ListResourceStream>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "ListResource", type_name = %req.type_name, limit = req.limit, "serving");
        let l = self.list_resource(&req.type_name)?;
        let only = |d: Diagnostics| -> Result<Response<Self::ListResourceStream>, Status> {
            let event = pb::list_resource::Event { diagnostic: diagnostics_to_wire(&d), ..Default::default() };
            Ok(Response::new(Box::pin(futures_util::stream::iter([Ok(event)]))))
        };
        let Some((resource_type, identity_type)) = self.resources.get(&req.type_name).and_then(|r| Some((&r.ty, r.identity_ty.as_ref()?)))
        else {
            return only(
                Diagnostic::error(
                    "Bug in the provider",
                    format!("List resource {} has no managed resource with an identity.", req.type_name),
                )
                .into(),
            );
        };
        let config = match decode(req.config.as_ref(), &l.ty) {
            Ok(c) => c,
            Err(d) => return only(d),
        };
        // The CLI stops reading at its limit; a limit beyond any real listing bounds the work.
        let limit = usize::try_from(req.limit.clamp(0, 1_000_000)).unwrap_or(0);
        let request = ListRequest { config: &config, include_resource: req.include_resource_object, limit, resource_type, identity_type };
        let result = match caught("ListResource", &req.type_name, l.imp.list(request)).await {
            Ok(result) => result,
            Err(d) => return only(d),
        };
        let mut events = Vec::with_capacity(result.items.len() + 1);
        let mut diagnostics = result.diagnostics;
        for item in result.items {
            let mut item_diags = Diagnostics::new();
            let identity =
                encode(&item.identity, identity_type, &mut item_diags).map(|dv| pb::ResourceIdentityData { identity_data: Some(dv) });
            let resource_object = item.resource.and_then(|v| encode(&v, resource_type, &mut item_diags));
            if item_diags.has_errors() {
                diagnostics.extend(item_diags);
                continue;
            }
            events.push(pb::list_resource::Event { identity, display_name: item.display_name, resource_object, diagnostic: Vec::new() });
        }
        // Warnings and errors travel in an event of their own, after the results: the CLI stops
        // at the first error, and skips an event that has warnings but no identity.
        if !diagnostics.is_empty() {
            events.push(pb::list_resource::Event { diagnostic: diagnostics_to_wire(&diagnostics), ..Default::default() });
        }
        Ok(Response::new(Box::pin(futures_util::stream::iter(events.into_iter().map(Ok)))))
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        let req = req.into_inner();
        tracing::debug!(rpc = "ValidateListResourceConfig", type_name = %req.type_name, "serving");
        let l = self.list_resource(&req.type_name)?;
        let reply = |d: Diagnostics| pb::validate_list_resource_config::Response { diagnostics: diagnostics_to_wire(&d) };
        let config = unwrap_or_reply!(decode(req.config.as_ref(), &l.ty), reply);
        Ok(Response::new(reply(unwrap_or_reply!(
            caught("ValidateListResourceConfig", &req.type_name, l.imp.validate(&config)).await,
            reply
        ))))
    }

    async fn validate_state_store_config(
        &self,
        _: Request<pb::validate_state_store::Request>,
    ) -> Result<Response<pb::validate_state_store::Response>, Status> {
        no_state_stores()
    }

    async fn configure_state_store(
        &self,
        _: Request<pb::configure_state_store::Request>,
    ) -> Result<Response<pb::configure_state_store::Response>, Status> {
        no_state_stores()
    }

    type ReadStateBytesStream = EventStream<pb::read_state_bytes::Response>;

    async fn read_state_bytes(&self, _: Request<pb::read_state_bytes::Request>) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        no_state_stores()
    }

    async fn write_state_bytes(
        &self,
        _: Request<tonic::Streaming<pb::write_state_bytes::RequestChunk>>,
    ) -> Result<Response<pb::write_state_bytes::Response>, Status> {
        no_state_stores()
    }

    async fn lock_state(&self, _: Request<pb::lock_state::Request>) -> Result<Response<pb::lock_state::Response>, Status> {
        no_state_stores()
    }

    async fn unlock_state(&self, _: Request<pb::unlock_state::Request>) -> Result<Response<pb::unlock_state::Response>, Status> {
        no_state_stores()
    }

    async fn get_states(&self, _: Request<pb::get_states::Request>) -> Result<Response<pb::get_states::Response>, Status> {
        no_state_stores()
    }

    async fn delete_state(&self, _: Request<pb::delete_state::Request>) -> Result<Response<pb::delete_state::Response>, Status> {
        no_state_stores()
    }

    async fn plan_action(&self, req: Request<pb::plan_action::Request>) -> Result<Response<pb::plan_action::Response>, Status> {
        no_action(&req.get_ref().action_type)
    }

    type InvokeActionStream = EventStream<pb::invoke_action::Event>;

    async fn invoke_action(&self, req: Request<pb::invoke_action::Request>) -> Result<Response<Self::InvokeActionStream>, Status> {
        no_action(&req.get_ref().action_type)
    }

    async fn validate_action_config(
        &self,
        req: Request<pb::validate_action_config::Request>,
    ) -> Result<Response<pb::validate_action_config::Response>, Status> {
        no_action(&req.get_ref().type_name)
    }

    async fn get_functions(&self, _: Request<pb::get_functions::Request>) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(&self, req: Request<pb::call_function::Request>) -> Result<Response<pb::call_function::Response>, Status> {
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError { text: format!("unknown function {}", req.get_ref().name), function_argument: None }),
        }))
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!(rpc = "StopProvider", "stop requested");
        self.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        self.provider.stop();
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: false,
        move_resource_state: true,
        generate_resource_config: true,
    }
}

type EventStream<T> = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<T, Status>> + Send>>;

fn no_state_stores<T>() -> Result<T, Status> {
    Err(Status::unimplemented("this provider has no state stores"))
}

fn no_action<T>(name: &str) -> Result<T, Status> {
    Err(Status::invalid_argument(format!("unknown action type {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_values_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("tfplugin-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("config.msgpack");
        let _ = std::fs::remove_file(&path);
        write_private(&path, b"key").expect("write");
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_panic_becomes_an_error_diagnostic() {
        let d = caught("ReadResource", "meshtls_ca", async { panic!("index out of bounds") }).await.expect_err("caught");
        let first = d.iter().next().expect("one diagnostic");
        assert_eq!(first.severity, Severity::Error);
        assert!(first.detail.contains("ReadResource for meshtls_ca panicked: index out of bounds"), "{}", first.detail);
        assert_eq!(caught("ReadResource", "meshtls_ca", async { 7 }).await, Ok(7));
    }

    #[test]
    fn a_cli_without_write_only_support_is_refused_a_write_only_value() {
        use crate::schema::{Attribute, Block};
        let block =
            Block::new("").attribute(Attribute::string("name").optional()).attribute(Attribute::string("key_wo").optional().write_only());
        let set = Value::object([("name", Value::from("a")), ("key_wo", Value::from("KEY"))]);
        let refused = write_only_unsupported(&block, &set, None);
        let d = refused.iter().next().expect("refused");
        assert_eq!(d.path.as_ref().map(|p| p.to_string()).as_deref(), Some("key_wo"));
        assert!(!d.detail.contains("KEY"), "the value itself is never repeated");
        let old = pb::ClientCapabilities { deferral_allowed: true, write_only_attributes_allowed: false };
        assert!(write_only_unsupported(&block, &set, Some(&old)).has_errors());
        let current = pb::ClientCapabilities { write_only_attributes_allowed: true, ..old };
        assert!(write_only_unsupported(&block, &set, Some(&current)).is_empty());
        let unset = Value::object([("name", Value::from("a")), ("key_wo", Value::Null)]);
        assert!(write_only_unsupported(&block, &unset, None).is_empty(), "leaving it unset works everywhere");
    }

    #[test]
    fn a_state_with_unknowns_is_kept_with_them_null() {
        let mut state = Value::object([
            ("id", Value::from("a")),
            ("fingerprint", Value::Unknown),
            ("nested", Value::List(vec![Value::object([("x", Value::Unknown)])])),
        ]);
        let mut diags = Diagnostics::new();
        ensure_known(&mut state, &mut diags);
        assert!(diags.has_errors());
        assert_eq!(state.get("id").as_str(), Some("a"), "what was written stays in state");
        assert!(state.get("fingerprint").is_null() && state.is_wholly_known());
        let mut known = Value::object([("id", Value::from("a"))]);
        let mut none = Diagnostics::new();
        ensure_known(&mut known, &mut none);
        assert!(none.is_empty());
    }
}
