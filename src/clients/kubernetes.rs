//! The Kubernetes client: kubeconfig resolution and the few typed calls meshtls makes.

use std::time::Duration;

use std::collections::HashMap;

use kube::config::{AuthInfo, ExecConfig, ExecInteractiveMode, KubeConfigOptions, Kubeconfig};
use secrecy::SecretString;

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
    /// A provider-block setting that validation could not check (it was unknown then).
    #[error("kubernetes.{attribute}: {problem}")]
    Setting { attribute: &'static str, problem: String },
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

pub async fn connect(settings: &KubernetesSettings) -> Result<kube::Client, KubeClientError> {
    let mut config = base_config(settings).await?;
    override_with(&mut config, settings)?;
    Ok(build(config)?)
}

/// Where the settings start from: a kubeconfig when the block names one (path or context),
/// only the block when it gives `host` without one, else what the environment has.
async fn base_config(settings: &KubernetesSettings) -> Result<kube::Config, KubeClientError> {
    let (path, context) = (settings.config_path.as_deref(), settings.config_context.as_deref());
    match (path, context, settings.host.as_deref()) {
        (None, None, Some(host)) => Ok(kube::Config::new(uri("host", host)?)),
        (None, None, None) => Ok(kube::Config::infer().await?),
        (path, context, _) => {
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
                .map_err(|source| KubeClientError::Kubeconfig { path: path.unwrap_or("KUBECONFIG").to_string(), source })
        }
    }
}

fn uri(attribute: &'static str, text: &str) -> Result<http::Uri, KubeClientError> {
    text.parse().map_err(|e: http::uri::InvalidUri| KubeClientError::Setting { attribute, problem: e.to_string() })
}

/// The block's settings over the base: each one set replaces the kubeconfig's. Credentials
/// set here replace the kubeconfig's user whole, so a token is never sent beside another
/// user's certificate.
fn override_with(config: &mut kube::Config, k: &KubernetesSettings) -> Result<(), KubeClientError> {
    if let Some(host) = k.host.as_deref() {
        config.cluster_url = uri("host", host)?;
    }
    if let Some(ca) = k.cluster_ca_certificate.as_deref() {
        let certificates = pem::parse_many(ca.as_bytes())
            .map_err(|e| KubeClientError::Setting { attribute: "cluster_ca_certificate", problem: e.to_string() })?;
        config.root_cert = Some(certificates.into_iter().map(pem::Pem::into_contents).collect());
    }
    if let Some(insecure) = k.insecure.known() {
        config.accept_invalid_certs = *insecure;
    }
    if let Some(name) = k.tls_server_name.as_deref() {
        config.tls_server_name = Some(name.to_string());
    }
    if let Some(proxy) = k.proxy_url.as_deref() {
        config.proxy_url = Some(uri("proxy_url", proxy)?);
    }
    let certificate = k.client_certificate.as_deref().zip(k.client_key.as_deref());
    if k.token.is_null() && certificate.is_none() && k.exec.is_none() {
        return Ok(());
    }
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut user = AuthInfo { token: k.token.as_deref().map(|t| SecretString::from(t.to_string())), ..Default::default() };
    if let Some((certificate, key)) = certificate {
        // The kubeconfig form: base64 of the PEM. The encoded key is zeroized with the secret.
        user.client_certificate_data = Some(b64.encode(certificate));
        user.client_key_data = Some(SecretString::from(b64.encode(key)));
    }
    user.exec = k.exec.as_ref().map(|e| ExecConfig {
        api_version: e.api_version.known().cloned(),
        command: e.command.known().cloned(),
        args: e.args.known().cloned(),
        env: e.env.known().map(|vars| {
            vars.iter()
                .map(|(name, value)| HashMap::from([("name".to_string(), name.clone()), ("value".to_string(), value.clone())]))
                .collect()
        }),
        // The CLI owns the terminal: a plugin that asks for input fails instead of hanging.
        interactive_mode: Some(ExecInteractiveMode::Never),
        ..Default::default()
    });
    config.auth_info = user;
    Ok(())
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
mod settings_tests {
    use secrecy::ExposeSecret;
    use tfplugin::Attr;

    use super::*;
    use crate::config::ExecSettings;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        rcgen::CertificateParams::new(vec!["ca.example".into()]).expect("params").self_signed(&key).expect("certificate").pem()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_block_alone_makes_the_configuration_without_a_kubeconfig() {
        let settings = KubernetesSettings {
            host: Attr::Known("https://127.0.0.1:6443".into()),
            cluster_ca_certificate: Attr::Known(ca_pem()),
            token: Attr::Known("service-account-token".into()),
            tls_server_name: Attr::Known("kubernetes".into()),
            proxy_url: Attr::Known("http://127.0.0.1:3128".into()),
            ..Default::default()
        };
        // KUBECONFIG points nowhere: with host and no kubeconfig setting, none is read.
        let mut config = base_config(&settings).await.expect("no kubeconfig needed");
        override_with(&mut config, &settings).expect("settings");
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
        assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
        assert_eq!(config.tls_server_name.as_deref(), Some("kubernetes"));
        assert_eq!(config.proxy_url.as_ref().map(ToString::to_string).as_deref(), Some("http://127.0.0.1:3128/"));
        assert_eq!(config.auth_info.token.as_ref().map(|t| t.expose_secret().to_string()).as_deref(), Some("service-account-token"));
        assert!(!config.accept_invalid_certs);
    }

    #[test]
    fn credentials_in_the_block_replace_the_kubeconfig_s_user() {
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().expect("uri"));
        config.auth_info.client_certificate_data = Some("from-kubeconfig".into());
        let exec = ExecSettings {
            api_version: Attr::Known("client.authentication.k8s.io/v1beta1".into()),
            command: Attr::Known("aws".into()),
            args: Attr::Known(vec!["eks".into(), "get-token".into()]),
            env: Attr::Known([("AWS_PROFILE".to_string(), "prod".to_string())].into()),
        };
        let settings = KubernetesSettings { exec: Some(exec), ..Default::default() };
        override_with(&mut config, &settings).expect("settings");
        assert!(config.auth_info.client_certificate_data.is_none(), "the kubeconfig's user is gone");
        let exec = config.auth_info.exec.expect("exec");
        assert_eq!((exec.command.as_deref(), exec.args.map(|a| a.len())), (Some("aws"), Some(2)));
        let env = exec.env.unwrap_or_default();
        assert_eq!((env[0]["name"].as_str(), env[0]["value"].as_str()), ("AWS_PROFILE", "prod"));

        // Without credentials in the block, the kubeconfig's user stays.
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().expect("uri"));
        config.auth_info.client_certificate_data = Some("from-kubeconfig".into());
        override_with(&mut config, &KubernetesSettings { insecure: Attr::Known(true), ..Default::default() }).expect("settings");
        assert_eq!(config.auth_info.client_certificate_data.as_deref(), Some("from-kubeconfig"));
        assert!(config.accept_invalid_certs);
    }
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
