//! The tfplugin6 Provider service: decodes requests, calls the provider's traits, encodes
//! replies. Nothing here logs attribute values, so sensitive data never reaches the logs.
//! This file registers the provider's types and serves the small RPCs; the resource RPCs are
//! in `resources`, data sources and list resources in `data`, and what all share in `codec`.

use std::collections::HashMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::diag::Diagnostics;
use crate::framework::{self, DataSource, ListResource, Provider, Resource};
use crate::proto::tfplugin6 as pb;
use crate::proto::tfplugin6::provider_server::Provider as ProviderService;
use crate::schema::{wire, Schema};
use crate::types::Type;

mod codec;

use codec::*;

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
    /// The CLI's version as the last ConfigureProvider gave it, e.g. `1.0.3`.
    cli_version: std::sync::RwLock<String>,
}

impl ProviderServer {
    /// The CLI's version, once a ConfigureProvider has named it.
    pub(super) fn cli_version(&self) -> String {
        self.cli_version.read().map(|v| v.clone()).unwrap_or_default()
    }

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
            cli_version: Default::default(),
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

macro_rules! unwrap_or_reply {
    ($e:expr, $reply:expr) => {
        match $e {
            Ok(v) => v,
            Err(d) => return Ok(Response::new($reply(d))),
        }
    };
}

// After the macro, which they use.
mod data;
mod resources;

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
        // The schema's validators, then the resource's own checks, so that one run names every
        // mistake; the resource's checks must bear values the validators refuse.
        let mut diagnostics = r.schema.block.validate_values(&config);
        diagnostics.extend(unwrap_or_reply!(caught("ValidateResourceConfig", &req.type_name, r.imp.validate(&config)).await, reply));
        Ok(Response::new(reply(diagnostics)))
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
        resources::upgrade_resource_state(self, req).await
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
        resources::upgrade_resource_identity(self, req).await
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
        if let Ok(mut version) = self.cli_version.write() {
            version.clone_from(&req.terraform_version);
        }
        let diags = self.provider.configure(framework::ConfigureRequest { terraform_version: req.terraform_version, config }).await;
        Ok(Response::new(reply(diags)))
    }

    async fn read_resource(&self, req: Request<pb::read_resource::Request>) -> Result<Response<pb::read_resource::Response>, Status> {
        resources::read_resource(self, req).await
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        resources::plan_resource_change(self, req).await
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        resources::apply_resource_change(self, req).await
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        resources::import_resource_state(self, req).await
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        resources::move_resource_state(self, req).await
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        data::read_data_source(self, req).await
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
        data::list_resource(self, req).await
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<pb::validate_list_resource_config::Request>,
    ) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
        data::validate_list_resource_config(self, req).await
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
