//! A mesh gateway as meshtls owns it: what it is made of, why a step on it failed, and the
//! trait each side that keeps it implements (App Mesh: the cluster's objects and the App
//! Mesh API), as [`crate::backends::MeshSide`] does for virtual nodes.

use async_trait::async_trait;

use crate::backends::model::{ClientPolicyTls, ListenerTls};
use crate::backends::{BackendError, ErrorKind};
use crate::ownership::{OwnError, Owner};

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRoute {
    pub name: String,
    pub prefix: String,
    /// The VirtualService object's name, in the gateway's namespace.
    pub virtual_service: String,
}

/// Everything a gateway is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySpec {
    pub namespace: String,
    pub name: String,
    pub aws_name: String,
    pub port: i64,
    pub listener: ListenerTls,
    pub client_policy: Option<ClientPolicyTls>,
    pub routes: Vec<GatewayRoute>,
    pub envoy_image: String,
    pub replicas: i64,
    pub certificate_secret: String,
    pub mount_path: String,
}

impl GatewaySpec {
    /// App Mesh's name for a virtual service: its DNS name in the cluster.
    pub(super) fn virtual_service_dns(&self, vs: &str) -> String {
        format!("{vs}.{}.svc.cluster.local", self.namespace)
    }
}

/// Why a gateway could not be applied, read or deleted.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// An object of a name the gateway uses is someone else's (boxed: it is the rare, large
    /// case).
    #[error(transparent)]
    Ownership(Box<OwnError>),
    /// A call failed; a conflict (another writer changed the object meanwhile) makes the
    /// whole apply worth another try.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Settings the gateway's objects cannot be built from.
    #[error("{0}")]
    Invalid(String),
}

impl GatewayError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, GatewayError::Backend(e) if e.is(ErrorKind::Conflict))
    }
}

impl From<OwnError> for GatewayError {
    fn from(e: OwnError) -> Self {
        match e.into_backend() {
            Ok(e) => GatewayError::Backend(e),
            Err(own) => GatewayError::Ownership(own),
        }
    }
}

/// One place a mesh keeps a gateway. Every method works on the gateway's own objects only:
/// an object of the same name that is someone else's is refused, or left in place on delete.
#[async_trait]
pub trait GatewaySide: Send + Sync {
    /// Where, as diagnostics say it: "on the cluster", "in the App Mesh API".
    fn place(&self) -> &'static str;
    /// Creates or updates everything the gateway is made of here, and deletes routes it no
    /// longer has.
    async fn apply(&self, g: &GatewaySpec) -> Result<(), GatewayError>;
    /// Fails, writing nothing, when an object the gateway would write here is someone
    /// else's: every side is checked before any side is written.
    async fn check_free(&self, g: &GatewaySpec) -> Result<(), GatewayError>;
    /// What differs from `g`; empty when in sync. An object that is not the gateway's counts
    /// as missing.
    async fn drift(&self, g: &GatewaySpec) -> Result<Vec<String>, GatewayError>;
    /// Import: marks the gateway's objects here as `owner`'s.
    async fn adopt(&self, g: &GatewaySpec) -> Result<(), GatewayError>;
    /// Deletes the gateway's objects; returns warnings for those left in place.
    async fn delete(&self, g: &GatewaySpec) -> Result<Vec<tfplugin::Diagnostic>, GatewayError>;
}

/// The owner of a gateway's objects on every side: the gateway's id, `namespace/name`, and
/// the state's `owner_id` (see `Owner::of_attr`).
pub fn owner(resource_type: &str, g: &GatewaySpec, owner_id: &tfplugin::Attr<String>) -> Result<Owner, crate::ownership::OwnerIdError> {
    Owner::of_attr(resource_type, &format!("{}/{}", g.namespace, g.name), owner_id)
}
