//! One thin client per backend, each built on first use, so `validate` and plans that need
//! no remote service work with nothing in reach.

pub mod aws;
mod kube_retry;
pub mod kubernetes;
pub mod read_cache;

use std::sync::{Arc, OnceLock};

use crate::config::Settings;

/// Shared by every resource of one provider process.
#[derive(Default)]
pub struct Clients {
    settings: OnceLock<Settings>,
    kube: tokio::sync::OnceCell<kube::Client>,
    aws: tokio::sync::OnceCell<aws::AwsClients>,
    stopping: std::sync::atomic::AtomicBool,
    /// Reads coalesced within this process (see `read_cache`).
    pub read_cache: Arc<read_cache::ReadCache>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the provider is not configured yet")]
    NotConfigured,
    #[error("the provider's kubernetes settings are not known until apply")]
    KubernetesUnknown,
    #[error("no `aws` block in the provider configuration")]
    AwsNotConfigured,
    #[error(transparent)]
    Kubernetes(#[from] kubernetes::KubeClientError),
}

/// The diagnostic for a Kubernetes client that cannot be built or reached.
pub fn client_error(e: ClientError) -> tfplugin::Diagnostics {
    tfplugin::Diagnostic::error("Cannot reach the Kubernetes API", format!("{e}. Check the provider's `kubernetes` block or KUBECONFIG."))
        .into()
}

/// The diagnostic for AWS clients that cannot be built.
pub fn aws_client_error(e: ClientError) -> tfplugin::Diagnostics {
    tfplugin::Diagnostic::error("Cannot reach AWS", format!("{e}. Check the provider's `aws` block (region, endpoints).")).into()
}

impl Clients {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn configure(&self, settings: Settings) {
        // Terraform configures each provider process once; a repeat is ignored.
        let _ = self.settings.set(settings);
        // A process serving many runs (`--debug` reattach) starts each one unstopped.
        self.stopping.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn settings(&self) -> Result<&Settings, ClientError> {
        self.settings.get().ok_or(ClientError::NotConfigured)
    }

    /// Whether the provider has an `aws` block: the App Mesh API side is managed.
    pub fn aws_configured(&self) -> bool {
        self.settings().is_ok_and(|s| s.aws.is_some())
    }

    /// The provider's default mesh: known, unknown until apply, or unset.
    pub fn provider_mesh(&self) -> tfplugin::Attr<String> {
        self.settings().map_or(tfplugin::Attr::Null, |s| s.mesh_name.clone())
    }

    /// True while planning with provider settings that depend on resources not yet created.
    pub fn cluster_unknown(&self) -> bool {
        self.settings.get().is_some_and(Settings::kubernetes_unknown)
    }

    pub async fn kube(&self) -> Result<kube::Client, ClientError> {
        let settings = self.settings()?;
        if settings.kubernetes_unknown() {
            return Err(ClientError::KubernetesUnknown);
        }
        let client = self.kube.get_or_try_init(|| async move { kubernetes::connect(&settings.kubernetes()).await }).await?;
        Ok(client.clone())
    }

    pub async fn aws(&self) -> Result<&aws::AwsClients, ClientError> {
        let settings = self.settings()?;
        let aws_settings = settings.aws.as_ref().ok_or(ClientError::AwsNotConfigured)?;
        self.aws.get_or_try_init(|| async { Ok(aws::AwsClients::load(aws_settings).await) }).await
    }

    pub fn stop(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }
}
