//! One thin client per backend, each built on first use, so `validate` and plans that need
//! no remote service work with nothing in reach.

pub mod aws;
pub mod error;
mod kube_retry;
pub mod kubernetes;
pub mod read_cache;

use std::sync::Arc;

use crate::config::Settings;

/// Shared by every resource of one provider process.
#[derive(Default)]
pub struct Clients {
    /// What the last ConfigureProvider set up; replaced whole when a process serving many
    /// runs (`--debug` reattach) is configured again with other settings.
    configured: std::sync::RwLock<Option<Arc<Configured>>>,
    stopping: std::sync::atomic::AtomicBool,
    /// Reads coalesced within this process (see `read_cache`).
    pub read_cache: Arc<read_cache::ReadCache>,
}

/// The provider's settings and the clients built from them, on first use.
struct Configured {
    settings: Settings,
    kube: tokio::sync::OnceCell<kube::Client>,
    /// The `parent_cluster`'s client and read cache, when it has one of its own.
    parent: tokio::sync::OnceCell<(kube::Client, Arc<read_cache::ReadCache>)>,
    aws: tokio::sync::OnceCell<Arc<aws::AwsClients>>,
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

    /// Terraform configures each provider process once. A process serving many runs
    /// (`--debug` reattach) is configured by each: the same settings keep their clients, and
    /// other ones (another kubeconfig, another account) get new ones.
    pub fn configure(&self, settings: Settings) {
        if let Ok(mut configured) = self.configured.write() {
            if configured.as_ref().is_none_or(|c| c.settings != settings) {
                if configured.is_some() {
                    // What the cache holds came from the other settings' cluster.
                    self.read_cache.stop_caching();
                }
                *configured = Some(Arc::new(Configured {
                    settings,
                    kube: tokio::sync::OnceCell::new(),
                    parent: tokio::sync::OnceCell::new(),
                    aws: tokio::sync::OnceCell::new(),
                }));
            }
        }
        // Each run starts unstopped, and reads what it keeps in step with its writes anew.
        self.read_cache.forget_kept();
        self.stopping.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    fn configured(&self) -> Result<Arc<Configured>, ClientError> {
        self.configured.read().ok().and_then(|c| c.clone()).ok_or(ClientError::NotConfigured)
    }

    /// Whether the provider has an `aws` block: the App Mesh API side is managed.
    pub fn aws_configured(&self) -> bool {
        self.configured().is_ok_and(|c| c.settings.aws.is_some())
    }

    /// The provider's default mesh: known, unknown until apply, or unset.
    pub fn provider_mesh(&self) -> tfplugin::Attr<String> {
        self.configured().map_or(tfplugin::Attr::Null, |c| c.settings.mesh_name.clone())
    }

    /// True while planning with provider settings that depend on resources not yet created.
    pub fn cluster_unknown(&self) -> bool {
        self.configured().is_ok_and(|c| c.settings.kubernetes_unknown())
    }

    pub async fn kube(&self) -> Result<kube::Client, ClientError> {
        let configured = self.configured()?;
        if configured.settings.kubernetes_unknown() {
            return Err(ClientError::KubernetesUnknown);
        }
        let settings = configured.settings.kubernetes();
        let client = configured.kube.get_or_try_init(|| async move { kubernetes::connect(&settings).await }).await?;
        Ok(client.clone())
    }

    /// The client and read cache of the cluster intermediates' parents are read from: the
    /// `parent_cluster`, with a cache of its own (the same names there are other objects),
    /// or this cluster's.
    pub async fn parent(&self) -> Result<(kube::Client, Arc<read_cache::ReadCache>), ClientError> {
        let configured = self.configured()?;
        let Some(settings) = configured.settings.parent_cluster().cloned() else {
            return Ok((self.kube().await?, self.read_cache.clone()));
        };
        if settings.unknown() {
            return Err(ClientError::KubernetesUnknown);
        }
        let connected = configured
            .parent
            .get_or_try_init(|| async move {
                let client = kubernetes::connect(&settings).await?;
                Ok::<_, ClientError>((client, Arc::new(read_cache::ReadCache::default())))
            })
            .await?;
        Ok(connected.clone())
    }

    pub async fn aws(&self) -> Result<Arc<aws::AwsClients>, ClientError> {
        let configured = self.configured()?;
        let aws_settings = configured.settings.aws.clone().ok_or(ClientError::AwsNotConfigured)?;
        let clients = configured
            .aws
            .get_or_try_init(|| async move { Ok::<_, ClientError>(Arc::new(aws::AwsClients::load(&aws_settings).await)) })
            .await?;
        Ok(clients.clone())
    }

    pub fn stop(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kubeconfig: &str) -> Settings {
        Settings {
            kubernetes: Some(crate::config::KubernetesSettings {
                config_path: tfplugin::Attr::Known(kubeconfig.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_process_configured_again_follows_the_new_settings() {
        let clients = Clients::default();
        assert!(matches!(clients.configured(), Err(ClientError::NotConfigured)));
        clients.configure(settings("/run/a/kubeconfig"));
        let first = clients.configured().expect("configured");
        clients.configure(settings("/run/a/kubeconfig"));
        assert!(Arc::ptr_eq(&first, &clients.configured().expect("configured")), "the same settings keep their clients");
        clients.configure(settings("/run/b/kubeconfig"));
        let second = clients.configured().expect("configured");
        assert!(!Arc::ptr_eq(&first, &second), "other settings get new clients");
        assert_eq!(second.settings, settings("/run/b/kubeconfig"));
    }
}
