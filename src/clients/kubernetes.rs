//! The Kubernetes client: kubeconfig resolution and the few typed calls meshtls makes.

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::kube_retry::TransientRetry;

use crate::config::KubernetesSettings;

/// kube-client logs a whole response body (a Secret's, key included) when it cannot decode
/// it, at WARN, and every status body at TRACE: it is held to errors (see
/// `tfplugin::logging::init`).
pub const HELD_LOG_TARGETS: &[&str] = &["kube_client", "kube"];

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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use k8s_openapi::api::core::v1::Secret;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tracing_subscriber::layer::SubscriberExt;

    use super::HELD_LOG_TARGETS;

    /// A key-shaped value the logs must never hold.
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-meshtls-log-probe\\n-----END PRIVATE KEY-----";

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Answers every request on a loopback port with a Secret kube cannot decode (`type` is a
    /// number), whose body holds a key: what a corrupting proxy or a broken server could send.
    async fn undecodable_secret_server() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let body = format!(
                    r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"db","namespace":"yelb"}},"stringData":{{"tls.key":"{KEY}"}},"type":7}}"#
                );
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        url
    }

    /// Reads the Secret with kube-client logging at TRACE under the provider's filter, holding
    /// `held` to errors; returns what was logged.
    async fn log_of_undecodable_read(held: &[&'static str]) -> String {
        let url = undecodable_secret_server().await;
        let captured = Captured::default();
        let writer = captured.clone();
        let layer = tracing_subscriber::fmt::layer().with_writer(move || writer.clone()).with_ansi(false);
        let filter = tfplugin::logging::targets(tracing_subscriber::filter::LevelFilter::TRACE, held);
        let subscriber = tracing_subscriber::registry().with(tracing_subscriber::Layer::with_filter(layer, filter));
        let _guard = tracing::subscriber::set_default(subscriber);
        let config = kube::Config::new(url.parse().expect("url"));
        let client = kube::Client::try_from(config).expect("client");
        let api: kube::Api<Secret> = kube::Api::namespaced(client, "yelb");
        assert!(api.get("db").await.is_err(), "the Secret must fail to decode");
        let text = String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("utf-8");
        text
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_kube_cannot_decode_never_reaches_the_log_at_trace() {
        // Positive control: not held, kube-client logs the body, key and all.
        let unheld = log_of_undecodable_read(&[]).await;
        assert!(unheld.contains("meshtls-log-probe"), "the probe must see the body kube-client logs:\n{unheld}");
        let held = log_of_undecodable_read(HELD_LOG_TARGETS).await;
        assert!(!held.contains("meshtls-log-probe") && !held.contains("PRIVATE KEY"), "a key reached the log:\n{held}");
    }
}
