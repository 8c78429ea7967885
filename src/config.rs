//! The provider block: its schema, offline validation, and the settings it resolves to.

use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tfplugin::{Attr, AttributePath, BridgeError, Diagnostics, Value};

pub fn schema() -> Schema {
    let kubernetes = Block::new("How to reach the Kubernetes API. Without this block, `KUBECONFIG` (then `~/.kube/config`, then the in-cluster service account) is used.")
        .attribute(Attribute::string("config_path").optional().description("Path to a kubeconfig file. Defaults to `KUBECONFIG`, then `~/.kube/config`, then in-cluster configuration."))
        .attribute(Attribute::string("config_context").optional().description("Context of the kubeconfig to use. Defaults to its current context."));
    let endpoints = Block::new("Endpoint overrides, for VPC endpoints or a local AWS API (`AWS_ENDPOINT_URL` is honoured too).")
        .attribute(Attribute::string("appmesh").optional().description("App Mesh API endpoint URL."))
        .attribute(Attribute::string("acmpca").optional().description("ACM Private CA API endpoint URL."));
    let aws = Block::new("How to reach AWS (App Mesh, ACM Private CA). Credentials come from the default chain: environment, shared files, SSO, instance or task role.")
        .attribute(Attribute::string("region").optional().description("AWS region, e.g. `us-west-2`. Defaults to `AWS_REGION` or the profile's region."))
        .attribute(Attribute::string("profile").optional().description("Named profile from the shared AWS config files."))
        .block(NestedBlock::new("endpoints", Nesting::Single, endpoints));
    Schema::new(
        0,
        Block::new("meshtls encrypts every hop of a service mesh: CA, certificates, Secrets, mesh TLS settings and Envoy reloads, with drift detection on the cluster and the mesh API.")
            .attribute(Attribute::string("mesh_name").optional().description("Default App Mesh mesh for resources that do not set `mesh_name`."))
            .block(NestedBlock::new("kubernetes", Nesting::Single, kubernetes))
            .block(NestedBlock::new("aws", Nesting::Single, aws)),
    )
}

/// A setting that may be unknown while planning (the cluster is created in the same run).
pub type Setting = Attr<String>;

/// The `kubernetes` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    pub config_path: Setting,
    pub config_context: Setting,
}

/// The `aws.endpoints` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    pub appmesh: Setting,
    pub acmpca: Setting,
}

/// The `aws` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    pub region: Setting,
    pub profile: Setting,
    pub endpoints: Option<Endpoints>,
}

impl AwsSettings {
    pub fn appmesh_endpoint(&self) -> Option<&str> {
        self.endpoints.as_ref().and_then(|e| e.appmesh.as_deref())
    }

    pub fn acmpca_endpoint(&self) -> Option<&str> {
        self.endpoints.as_ref().and_then(|e| e.acmpca.as_deref())
    }
}

/// The provider block, as a model of its schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub mesh_name: Setting,
    /// Null means the defaults (`KUBECONFIG`, then `~/.kube/config`, then in-cluster).
    pub kubernetes: Option<KubernetesSettings>,
    /// None when the configuration has no `aws` block.
    pub aws: Option<AwsSettings>,
}

impl Settings {
    pub fn from_config(config: &Value) -> Result<Settings, BridgeError> {
        tfplugin::from_value(config)
    }

    pub fn kubernetes(&self) -> KubernetesSettings {
        self.kubernetes.clone().unwrap_or_default()
    }

    /// True when any Kubernetes setting is unknown: cluster reads must wait for apply.
    pub fn kubernetes_unknown(&self) -> bool {
        self.kubernetes.as_ref().is_some_and(|k| k.config_path.is_unknown() || k.config_context.is_unknown())
    }
}

/// Offline checks: everything here works with no cluster and no AWS in reach.
pub fn validate(config: &Value) -> Diagnostics {
    match Settings::from_config(config) {
        Ok(settings) => validate_settings(&settings),
        Err(e) => e.diagnostic("reading the provider configuration").into(),
    }
}

fn validate_settings(settings: &Settings) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if let Some(path) = settings.kubernetes.as_ref().and_then(|k| k.config_path.as_deref()) {
        if path.trim().is_empty() {
            diags.error_at(
                AttributePath::attrs(&["kubernetes", "config_path"]),
                "Empty kubeconfig path",
                "Set `config_path` to a kubeconfig file, or remove it to use KUBECONFIG / ~/.kube/config.",
            );
        }
    }
    if let Some(aws) = &settings.aws {
        if let Some(region) = aws.region.as_deref() {
            if !is_region(region) {
                diags.error_at(
                    AttributePath::attrs(&["aws", "region"]),
                    "Invalid AWS region",
                    format!("{region:?} is not an AWS region name; use the form `us-west-2`."),
                );
            }
        }
        for (name, url) in [("appmesh", aws.appmesh_endpoint()), ("acmpca", aws.acmpca_endpoint())] {
            if let Some(url) = url {
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
                    diags.error_at(
                        AttributePath::attrs(&["aws", "endpoints", name]),
                        "Invalid endpoint URL",
                        format!("{url:?} is not an http(s) URL; use the form `https://appmesh.us-west-2.amazonaws.com`."),
                    );
                }
            }
        }
    }
    diags
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(region: Value, endpoint: Value, path: Value) -> Value {
        Value::object([
            ("mesh_name", Value::Null),
            ("kubernetes", Value::object([("config_path", path), ("config_context", Value::Null)])),
            (
                "aws",
                Value::object([
                    ("region", region),
                    ("profile", Value::Null),
                    ("endpoints", Value::object([("appmesh", endpoint), ("acmpca", Value::Null)])),
                ]),
            ),
        ])
    }

    #[test]
    fn bad_values_name_their_attribute() {
        let d = validate(&config("uswest".into(), "localhost:5000".into(), "".into()));
        let paths: Vec<String> = d.iter().filter_map(|d| d.path.as_ref().map(|p| p.to_string())).collect();
        assert_eq!(paths, vec!["kubernetes.config_path", "aws.region", "aws.endpoints.appmesh"]);
    }

    #[test]
    fn good_and_unknown_values_pass() {
        assert!(validate(&config("us-gov-west-1".into(), "http://127.0.0.1:5000".into(), "~/.kube/config".into())).is_empty());
        let unknown = config(Value::Unknown, Value::Unknown, Value::Unknown);
        assert!(validate(&unknown).is_empty());
        assert!(Settings::from_config(&unknown).unwrap().kubernetes_unknown());
    }

    #[test]
    fn the_model_matches_the_schema() {
        tfplugin::bridge::check_model::<Settings>(&schema().value_type()).unwrap();
    }
}
