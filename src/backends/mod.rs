//! Mesh backends, one folder per mesh. A mesh's TLS settings live on one or more "sides"
//! (App Mesh: the cluster's VirtualNode objects and the App Mesh API; Istio: its
//! PeerAuthentication and DestinationRule objects); each side is a thin module behind
//! [`MeshSide`], so another mesh can be added without touching certificates or Secrets.

pub mod appmesh;
pub mod istio;
pub mod model;

use async_trait::async_trait;

use model::NodeTls;

#[derive(Debug, thiserror::Error)]
pub enum SideError {
    #[error("{what} not found on the {side}")]
    NotFound { side: &'static str, what: String },
    #[error("{side}: {message}")]
    Api { side: &'static str, message: String },
    /// The object changed between meshtls's read and its write (409 on the cluster,
    /// ConflictException in the App Mesh API): worth a fresh read and another try.
    #[error("{side}: {message}")]
    Conflict { side: &'static str, message: String },
    /// An object of the name this side writes is someone else's (boxed: the rare, large case).
    #[error(transparent)]
    Ownership(Box<crate::ownership::OwnError>),
    #[error("{side}: the node has {count} listeners; set listener.port to choose one")]
    AmbiguousListener { side: &'static str, count: usize },
    #[error("{side}: the node has no listener{port}", port = .port.map(|p| format!(" on port {p}")).unwrap_or_default())]
    NoListener { side: &'static str, port: Option<i64> },
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

/// Runs `op` (a read, or a read-modify-write) again when it meets a conflict, with bounded
/// exponential backoff. Throttling and passing failures are retried once, below: by the
/// Kubernetes client's retry layer and the AWS SDK's retry strategy, so no failure is retried
/// by two budgets at once.
pub async fn on_conflict<T, E, F, Fut>(mut op: F, conflict: impl Fn(&E) -> bool) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    use backon::{ExponentialBuilder, Retryable};
    let policy = ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(100))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_max_times(6)
        .with_jitter();
    (|| op()).retry(policy).when(|e| conflict(e)).notify(|e, d| tracing::info!(error = %e, delay = ?d, "retrying on a conflict")).await
}

/// [`on_conflict`] for a mesh side.
pub async fn with_retries<T, F, Fut>(op: F) -> Result<T, SideError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SideError>>,
{
    on_conflict(op, |e| matches!(e, SideError::Conflict { .. })).await
}
