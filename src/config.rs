//! The provider block: its schema, offline validation, and the settings it resolves to.

use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tfplugin::{AttributePath, Diagnostics, Value};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    Unset,
    Known(String),
    Unknown,
}

impl Setting {
    fn of(v: &Value) -> Setting {
        match v {
            Value::String(s) => Setting::Known(s.clone()),
            Value::Unknown => Setting::Unknown,
            _ => Setting::Unset,
        }
    }

    pub fn known(&self) -> Option<&str> {
        match self {
            Setting::Known(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesSettings {
    pub config_path: Setting,
    pub config_context: Setting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: Setting,
    pub profile: Setting,
    pub appmesh_endpoint: Setting,
    pub acmpca_endpoint: Setting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mesh_name: Setting,
    pub kubernetes: KubernetesSettings,
    /// None when the configuration has no `aws` block.
    pub aws: Option<AwsSettings>,
}

impl Settings {
    pub fn from_config(config: &Value) -> Settings {
        let k = config.get("kubernetes");
        let a = config.get("aws");
        let e = a.get("endpoints");
        Settings {
            mesh_name: Setting::of(config.get("mesh_name")),
            kubernetes: KubernetesSettings {
                config_path: Setting::of(k.get("config_path")),
                config_context: Setting::of(k.get("config_context")),
            },
            aws: (!a.is_null()).then(|| AwsSettings {
                region: Setting::of(a.get("region")),
                profile: Setting::of(a.get("profile")),
                appmesh_endpoint: Setting::of(e.get("appmesh")),
                acmpca_endpoint: Setting::of(e.get("acmpca")),
            }),
        }
    }

    /// True when any Kubernetes setting is unknown: cluster reads must wait for apply.
    pub fn kubernetes_unknown(&self) -> bool {
        self.kubernetes.config_path == Setting::Unknown || self.kubernetes.config_context == Setting::Unknown
    }
}

/// Offline checks: everything here works with no cluster and no AWS in reach.
pub fn validate(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let settings = Settings::from_config(config);
    if let Some(path) = settings.kubernetes.config_path.known() {
        if path.trim().is_empty() {
            diags.error_at(
                AttributePath::attrs(&["kubernetes", "config_path"]),
                "Empty kubeconfig path",
                "Set `config_path` to a kubeconfig file, or remove it to use KUBECONFIG / ~/.kube/config.",
            );
        }
    }
    if let Some(aws) = &settings.aws {
        if let Some(region) = aws.region.known() {
            if !is_region(region) {
                diags.error_at(
                    AttributePath::attrs(&["aws", "region"]),
                    "Invalid AWS region",
                    format!("{region:?} is not an AWS region name; use the form `us-west-2`."),
                );
            }
        }
        for (name, setting) in [("appmesh", &aws.appmesh_endpoint), ("acmpca", &aws.acmpca_endpoint)] {
            if let Some(url) = setting.known() {
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
        assert!(Settings::from_config(&unknown).kubernetes_unknown());
    }
}
