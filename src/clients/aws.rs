//! AWS clients (App Mesh, ACM Private CA) from the default credential chain, with the
//! provider's region, profile and endpoint overrides. `AWS_ENDPOINT_URL` is honoured by the
//! SDK itself.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

use crate::config::AwsSettings;

pub struct AwsClients {
    pub appmesh: aws_sdk_appmesh::Client,
    /// For the ACM Private CA backend of `meshtls_ca`.
    #[allow(dead_code)]
    pub acmpca: aws_sdk_acmpca::Client,
}

impl AwsClients {
    pub async fn load(settings: &AwsSettings) -> AwsClients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = settings.region.as_deref() {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        if let Some(profile) = settings.profile.as_deref() {
            loader = loader.profile_name(profile);
        }
        // Throttling and passing failures are retried with jittered backoff, and once AWS
        // throttles, the SDK's adaptive mode also slows this client's request rate down, so a
        // plan of hundreds of nodes backs off instead of failing. A connection that hangs
        // times out instead of stalling the apply.
        loader = loader
            .retry_config(
                RetryConfig::adaptive()
                    .with_max_attempts(6)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(Duration::from_secs(60))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        let shared = loader.load().await;
        let mut appmesh = aws_sdk_appmesh::config::Builder::from(&shared);
        if let Some(url) = settings.appmesh_endpoint() {
            appmesh = appmesh.endpoint_url(url);
        }
        let mut acmpca = aws_sdk_acmpca::config::Builder::from(&shared);
        if let Some(url) = settings.acmpca_endpoint() {
            acmpca = acmpca.endpoint_url(url);
        }
        AwsClients {
            appmesh: aws_sdk_appmesh::Client::from_conf(appmesh.build()),
            acmpca: aws_sdk_acmpca::Client::from_conf(acmpca.build()),
        }
    }
}
