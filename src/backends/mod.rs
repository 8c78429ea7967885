//! Mesh backends, one folder per mesh. A mesh's TLS settings live on one or more "sides"
//! (App Mesh: the cluster's VirtualNode objects and the App Mesh API; Istio: its
//! PeerAuthentication and DestinationRule objects); each side is a thin module behind
//! [`MeshSide`], so another mesh can be added without touching certificates or Secrets.

pub mod appmesh;
pub mod istio;
pub mod model;

use async_trait::async_trait;

use model::NodeTls;

pub use crate::clients::error::{retry_conflicts, BackendError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum SideError {
    #[error("{what} not found on the {side}")]
    NotFound { side: &'static str, what: String },
    /// A call to the side failed; its kind says whether another try is worth it.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// An object of the name this side writes is someone else's (boxed: the rare, large case).
    #[error(transparent)]
    Ownership(Box<crate::ownership::OwnError>),
    #[error("{side}: the node has {count} listeners; set listener.port to choose one")]
    AmbiguousListener { side: &'static str, count: usize },
    #[error("{side}: the node has no listener{port}", port = .port.map(|p| format!(" on port {p}")).unwrap_or_default())]
    NoListener { side: &'static str, port: Option<i64> },
}

impl From<crate::ownership::OwnError> for SideError {
    fn from(e: crate::ownership::OwnError) -> Self {
        match e.into_backend() {
            Ok(e) => SideError::Backend(e),
            Err(own) => SideError::Ownership(own),
        }
    }
}

impl SideError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, SideError::Backend(e) if e.is(ErrorKind::Conflict))
    }
}

/// What a side holds for one node: its TLS settings and its service-discovery hostname.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub tls: NodeTls,
    pub hostname: Option<String>,
}

/// One place a mesh keeps a node's TLS settings.
#[async_trait]
pub trait MeshSide: Send + Sync {
    /// Shown to users: "cluster" or "App Mesh API".
    fn name(&self) -> &'static str;
    /// Reads the node; the listener is the one on `port`, or the only one.
    async fn read(&self, port: Option<i64>) -> Result<NodeView, SideError>;
    /// Sets the TLS fields to `tls` (None parts are removed) and leaves everything else.
    async fn write(&self, port: Option<i64>, tls: &NodeTls) -> Result<(), SideError>;
}

/// The conflict policy for a mesh side: a conflict is read again and retried.
pub async fn with_retries<T, F, Fut>(op: F) -> Result<T, SideError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SideError>>,
{
    retry_conflicts(op, SideError::is_conflict).await
}
