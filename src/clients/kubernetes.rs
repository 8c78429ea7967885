//! The Kubernetes client: kubeconfig resolution and the few typed calls meshtls makes.

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::kube_retry::TransientRetry;

use crate::config::KubernetesSettings;

#[derive(Debug, thiserror::Error)]
pub enum KubeClientError {
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig { path: String, source: kube::config::KubeconfigError },
    #[error("no Kubernetes configuration found (KUBECONFIG, ~/.kube/config, in-cluster): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("building the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

pub async fn connect(settings: &KubernetesSettings) -> Result<kube::Client, KubeClientError> {
    let (path, context) = (settings.config_path.as_deref(), settings.config_context.as_deref());
    let config = match (path, context) {
        (None, None) => kube::Config::infer().await?,
        (path, context) => {
            let options = KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
            let kubeconfig = match path {
                Some(p) => {
                    let p = expand_home(p);
                    Kubeconfig::read_from(&p).map_err(|source| KubeClientError::Kubeconfig { path: p, source })?
                }
                None => Kubeconfig::read().map_err(|source| KubeClientError::Kubeconfig { path: "KUBECONFIG".into(), source })?,
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|source| KubeClientError::Kubeconfig { path: path.unwrap_or("KUBECONFIG").to_string(), source })?
        }
    };
    Ok(build(config)?)
}

/// A client whose requests are retried on throttling and passing failures (see
/// `kube_retry`), with a read timeout so a connection that hangs fails instead of stalling
/// the apply.
fn build(mut config: kube::Config) -> Result<kube::Client, kube::Error> {
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    let client = kube::client::ClientBuilder::try_from(config)?
        // The retry layer needs a cloneable service; the buffer makes the boxed stack one.
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&tower::retry::RetryLayer::new(TransientRetry::default()))
        .build();
    Ok(client)
}

/// True for a 404 from the API server.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// True for a 409 AlreadyExists/Conflict from the API server.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
