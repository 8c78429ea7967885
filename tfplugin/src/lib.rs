//! The Terraform plugin protocol (tfplugin6 over go-plugin's gRPC transport) for providers
//! written in Rust. It knows nothing of any particular provider: a provider implements
//! [`Provider`], writes each resource as a [`TypedResource`] over a serde model of its schema
//! (or as a dynamic [`Resource`] over [`Value`]s), and calls [`plugin::main`] from its binary.

pub mod attr;
pub mod bridge;
pub mod diag;
pub mod framework;
pub mod json;
pub mod logging;
pub mod map_resource;
pub mod msgpack;
pub mod plugin;
pub mod schema;
mod server;
pub mod tls;
pub mod typed;
pub mod types;
pub mod validator;
pub mod value;

/// Code generated from `proto/` at build time.
pub mod proto {
    #[allow(clippy::all, clippy::pedantic)]
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    #[allow(clippy::all, clippy::pedantic)]
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
}

pub use attr::Attr;
pub use bridge::{from_value, to_value, BridgeError};
pub use diag::{AttributePath, Diagnostic, Diagnostics};
pub use framework::{
    ConfigureRequest, DataSource, IdentityAttribute, IdentitySchema, ListRequest, ListResource, ListResult, Listed, MoveSource, Plan,
    PlanRequest, Provider, Resource, StateResult,
};
pub use plugin::ServeOptions;
pub use schema::{Attribute, Block, NestedBlock, Nesting, Schema};
pub use typed::{
    at, Context, Failure, Found, Identity, Listing, Outcome, Saved, TypedDataSource, TypedListResource, TypedPlan, TypedPlanRequest,
    TypedResource,
};
pub use types::Type;
pub use validator::Validator;
pub use value::{Number, Value};
