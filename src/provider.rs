//! The meshtls provider: configuration and the list of resources.

use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::{ConfigureRequest, Diagnostics, Resource, Schema, Value};

use crate::clients::Clients;
use crate::config::{self, Settings};
use crate::resources;

pub struct MeshTls {
    clients: Arc<Clients>,
}

impl MeshTls {
    pub fn new() -> Self {
        MeshTls { clients: Clients::new() }
    }
}

#[async_trait]
impl tfplugin::Provider for MeshTls {
    fn schema(&self) -> Schema {
        config::schema()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        resources::all(&self.clients)
    }

    fn data_sources(&self) -> Vec<Arc<dyn tfplugin::DataSource>> {
        vec![Arc::new(resources::certificate_info::CertificateInfoDataSource::new(self.clients.clone()))]
    }

    fn list_resources(&self) -> Vec<Arc<dyn tfplugin::ListResource>> {
        vec![
            Arc::new(resources::ca::CaList::new(self.clients.clone())),
            Arc::new(resources::certificate::CertificateList::new(self.clients.clone())),
            Arc::new(resources::gateway::GatewayList::new(self.clients.clone())),
            Arc::new(resources::virtual_node_tls::VirtualNodeTlsList::new(self.clients.clone())),
        ]
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        config::validate(config)
    }

    async fn configure(&self, request: ConfigureRequest) -> Diagnostics {
        let diags = config::validate(&request.config);
        if !diags.has_errors() {
            let Ok(settings) = Settings::from_config(&request.config) else { return diags };
            if settings.kubernetes_unknown() {
                tracing::info!("kubernetes settings are unknown until apply; cluster reads are deferred");
            }
            self.clients.configure(settings);
        }
        diags
    }

    fn stop(&self) {
        self.clients.stop();
    }

    fn before_apply(&self) {
        self.clients.read_cache.stop_caching();
    }
}

#[cfg(test)]
mod docs_tests;
#[cfg(test)]
mod layout_tests;
#[cfg(test)]
mod model_tests;
