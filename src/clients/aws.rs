//! AWS clients (App Mesh, ACM Private CA) from the default credential chain, with the
//! provider's region, profile and endpoint overrides, and optionally a role assumed with
//! those credentials. `AWS_ENDPOINT_URL` is honoured by the SDK itself.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::config::AwsSettings;

/// What `assume_role` asks for: the shared configuration with the role's credentials, which
/// STS hands out for the default chain's and the SDK refreshes before they expire. Without
/// it, the shared configuration as loaded.
async fn assuming(shared: aws_config::SdkConfig, settings: &AwsSettings) -> aws_config::SdkConfig {
    let Some(role) = settings.assume_role.as_ref() else { return shared };
    let Some(arn) = role.role_arn.as_deref() else { return shared };
    let mut sts = shared.clone().into_builder();
    if let Some(url) = settings.sts_endpoint() {
        sts.set_endpoint_url(Some(url.to_string()));
    }
    let mut builder =
        AssumeRoleProvider::builder(arn).session_name(role.session_name.as_deref().unwrap_or("meshtls")).configure(&sts.build());
    if let Some(id) = role.external_id.as_deref() {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    shared.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build()
}

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
        let shared = assuming(loader.load().await, settings).await;
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
