//! The provider block: its schema, offline validation, and the settings it resolves to.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};

use tfplugin::{Attr, AttributePath, BridgeError, Diagnostics, Type, Validator, Value};

/// The ExecCredential versions a credential plugin may speak.
pub const EXEC_API_VERSIONS: [&str; 2] = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"];

/// How to reach a cluster, as the Kubernetes provider does: the `kubernetes` block, and
/// `parent_cluster` with the same settings. `what` opens its description.
fn cluster_block(what: &str) -> Block {
    let exec = Block::new("A credential plugin run for a short-lived token, as `aws eks get-token` is on EKS. It prints an ExecCredential; the token is used in memory only and fetched again when it expires.")
        .attribute(Attribute::string("api_version").required().validator(Validator::one_of(&EXEC_API_VERSIONS)).description("The ExecCredential version the plugin speaks."))
        .attribute(Attribute::string("command").required().validator(Validator::not_blank()).description("The plugin's executable, found on `PATH` unless a path is given."))
        .attribute(Attribute::new("args", Type::list(Type::String)).optional().description("Its arguments."))
        .attribute(Attribute::new("env", Type::map(Type::String)).optional().description("Environment variables set for it, on top of the provider's."));
    Block::new(&format!("{what} With `config_path` or `config_context`, a kubeconfig is read and the settings below override it; with `host` and no kubeconfig setting, none is read; with neither, `KUBECONFIG` (then `~/.kube/config`, then the in-cluster service account) is used. Credentials given here (`token`, the client certificate, `exec`) replace the kubeconfig's user. Any setting may be unknown until apply (a cluster made in the same run) or come from an ephemeral value; none is written to state."))
        .attribute(Attribute::string("config_path").optional().description("Path to a kubeconfig file. Defaults to `KUBECONFIG`, then `~/.kube/config`, then in-cluster configuration."))
        .attribute(Attribute::string("config_context").optional().description("Context of the kubeconfig to use. Defaults to its current context."))
        .attribute(Attribute::string("host").optional().description("The API server's URL, e.g. `https://ABC.gr7.us-west-2.eks.amazonaws.com`."))
        .attribute(Attribute::string("cluster_ca_certificate").optional().description("PEM of the CA the API server's certificate is verified against (on EKS, `base64decode(...certificate_authority[0].data)`)."))
        .attribute(Attribute::string("token").optional().sensitive().description("A bearer token, such as a service account's from a TokenRequest."))
        .attribute(Attribute::string("client_certificate").optional().description("PEM of a client certificate, with `client_key`."))
        .attribute(Attribute::string("client_key").optional().sensitive().description("PEM of the client certificate's private key."))
        .attribute(Attribute::string("tls_server_name").optional().description("The name the API server's certificate is checked for, when it differs from `host`'s."))
        .attribute(Attribute::bool("insecure").optional().description("Skip verifying the API server's certificate. For throwaway clusters only; conflicts with `cluster_ca_certificate`."))
        .attribute(Attribute::string("proxy_url").optional().description("An HTTP(S) or SOCKS5 proxy for the API server, e.g. `http://proxy.internal:3128`."))
        .block(NestedBlock::new("exec", Nesting::Single, exec))
}

pub fn schema() -> Schema {
    let endpoints = Block::new("Endpoint overrides, for VPC endpoints or a local AWS API (`AWS_ENDPOINT_URL` is honoured too).")
        .attribute(Attribute::string("appmesh").optional().description("App Mesh API endpoint URL."))
        .attribute(Attribute::string("acmpca").optional().description("ACM Private CA API endpoint URL."))
        .attribute(Attribute::string("sts").optional().description("STS endpoint URL, for `assume_role`."));
    let assume_role = Block::new("A role to assume with STS before any App Mesh or ACM Private CA call, with the credentials of the default chain (a CI runner's, say) as the caller.")
        .attribute(Attribute::string("role_arn").required().validator(Validator::custom("an IAM role ARN", |_, v| match v.as_str() {
            Some(arn) if !is_role_arn(arn) => Some(format!("{arn:?} is not an IAM role ARN; use the form `arn:aws:iam::123456789012:role/meshtls`.")),
            _ => None,
        })).description("The role's ARN, e.g. `arn:aws:iam::123456789012:role/meshtls`."))
        .attribute(Attribute::string("session_name").optional().validator(Validator::length_range(2, 64)).description("The session's name, shown in CloudTrail. Defaults to `meshtls`."))
        .attribute(Attribute::string("external_id").optional().sensitive().validator(Validator::length_range(2, 1224)).description("The external ID the role's trust policy asks for."));
    let aws = Block::new("How to reach AWS (App Mesh, ACM Private CA). Credentials come from the default chain: environment, shared files, SSO, instance or task role.")
        .attribute(Attribute::string("region").optional().description("AWS region, e.g. `us-west-2`. Defaults to `AWS_REGION` or the profile's region."))
        .attribute(Attribute::string("profile").optional().description("Named profile from the shared AWS config files."))
        .block(NestedBlock::new("endpoints", Nesting::Single, endpoints))
        .block(NestedBlock::new("assume_role", Nesting::Single, assume_role));
    Schema::new(
        0,
        Block::new("meshtls encrypts every hop of a service mesh: CA, certificates, Secrets, mesh TLS settings and Envoy reloads, with drift detection on the cluster and the mesh API.")
            .attribute(Attribute::string("mesh_name").optional().description("Default App Mesh mesh for resources that do not set `mesh_name`."))
            .block(NestedBlock::new("kubernetes", Nesting::Single, cluster_block("How to reach the Kubernetes API, as the Kubernetes provider does.")))
            .block(NestedBlock::new(
                "parent_cluster",
                Nesting::Single,
                cluster_block("The cluster that holds the parent CAs of this cluster's intermediates (`meshtls_ca` `parent.ca_id`), when it is another one: a management cluster with the mesh root, say. meshtls only reads the parent's Secret there, to sign. Without it, parents are read from the `kubernetes` cluster."),
            ))
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
    pub host: Setting,
    pub cluster_ca_certificate: Setting,
    pub token: Setting,
    pub client_certificate: Setting,
    pub client_key: Setting,
    pub tls_server_name: Setting,
    pub insecure: Attr<bool>,
    pub proxy_url: Setting,
    pub exec: Option<ExecSettings>,
}

/// The `kubernetes.exec` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSettings {
    pub api_version: Setting,
    pub command: Setting,
    pub args: Attr<Vec<String>>,
    pub env: Attr<BTreeMap<String, String>>,
}

impl KubernetesSettings {
    /// True when any setting is unknown: cluster reads must wait for apply.
    pub fn unknown(&self) -> bool {
        let strings = [
            &self.config_path,
            &self.config_context,
            &self.host,
            &self.cluster_ca_certificate,
            &self.token,
            &self.client_certificate,
            &self.client_key,
            &self.tls_server_name,
            &self.proxy_url,
        ];
        strings.iter().any(|s| s.is_unknown())
            || self.insecure.is_unknown()
            || self
                .exec
                .as_ref()
                .is_some_and(|e| e.api_version.is_unknown() || e.command.is_unknown() || e.args.is_unknown() || e.env.is_unknown())
    }
}

/// The `aws.endpoints` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    pub appmesh: Setting,
    pub acmpca: Setting,
    pub sts: Setting,
}

/// The `aws.assume_role` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssumeRole {
    pub role_arn: Setting,
    pub session_name: Setting,
    pub external_id: Setting,
}

/// The `aws` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    pub region: Setting,
    pub profile: Setting,
    pub endpoints: Option<Endpoints>,
    pub assume_role: Option<AssumeRole>,
}

impl AwsSettings {
    pub fn appmesh_endpoint(&self) -> Option<&str> {
        self.endpoints.as_ref().and_then(|e| e.appmesh.as_deref())
    }

    pub fn acmpca_endpoint(&self) -> Option<&str> {
        self.endpoints.as_ref().and_then(|e| e.acmpca.as_deref())
    }

    pub fn sts_endpoint(&self) -> Option<&str> {
        self.endpoints.as_ref().and_then(|e| e.sts.as_deref())
    }
}

/// The provider block, as a model of its schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub mesh_name: Setting,
    /// Null means the defaults (`KUBECONFIG`, then `~/.kube/config`, then in-cluster).
    pub kubernetes: Option<KubernetesSettings>,
    /// Where intermediates' parents are read; null means the `kubernetes` cluster.
    pub parent_cluster: Option<KubernetesSettings>,
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
        self.kubernetes.as_ref().is_some_and(KubernetesSettings::unknown)
    }

    /// The settings of the cluster parents are read from, when it is not the `kubernetes` one.
    pub fn parent_cluster(&self) -> Option<&KubernetesSettings> {
        self.parent_cluster.as_ref()
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
    if let Some(k) = &settings.kubernetes {
        validate_kubernetes("kubernetes", k, &mut diags);
    }
    if let Some(k) = &settings.parent_cluster {
        validate_kubernetes("parent_cluster", k, &mut diags);
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
        for (name, url) in [("appmesh", aws.appmesh_endpoint()), ("acmpca", aws.acmpca_endpoint()), ("sts", aws.sts_endpoint())] {
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

/// The Kubernetes provider's rules: one source of credentials, a client certificate with its
/// key, no CA with `insecure`, and URLs and PEM that parse. Unknown values pass until apply.
fn validate_kubernetes(block: &str, k: &KubernetesSettings, diags: &mut Diagnostics) {
    let kube_at = |name: &str| AttributePath::attrs(&[block, name]);
    if k.config_path.as_deref().is_some_and(|p| p.trim().is_empty()) {
        diags.error_at(
            kube_at("config_path"),
            "Empty kubeconfig path",
            "Set `config_path` to a kubeconfig file, or remove it to use KUBECONFIG / ~/.kube/config.",
        );
    }
    if let Some((host, problem)) = k.host.as_deref().and_then(|h| Some((h, url_problem(h, &["https", "http"])?))) {
        diags.error_at(
            kube_at("host"),
            "Invalid API server URL",
            format!("{host:?} is not a URL: {problem}. Use the form `https://ABC.gr7.us-west-2.eks.amazonaws.com`."),
        );
    }
    if let Some((proxy, problem)) = k.proxy_url.as_deref().and_then(|p| Some((p, url_problem(p, &["http", "https", "socks5"])?))) {
        diags.error_at(
            kube_at("proxy_url"),
            "Invalid proxy URL",
            format!("{proxy:?} is not a proxy URL: {problem}. Use the form `http://proxy.internal:3128`."),
        );
    }
    for (name, value) in [("cluster_ca_certificate", &k.cluster_ca_certificate), ("client_certificate", &k.client_certificate)] {
        if value.as_deref().is_some_and(|v| !is_pem(v, |tag| tag == "CERTIFICATE")) {
            diags.error_at(
                kube_at(name),
                "Not a PEM certificate",
                format!("{name} must hold PEM (`-----BEGIN CERTIFICATE-----` …). On EKS, decode the cluster's certificate_authority data with base64decode()."),
            );
        }
    }
    if k.client_key.as_deref().is_some_and(|v| !is_pem(v, |tag| tag.ends_with("PRIVATE KEY"))) {
        diags.error_at(
            kube_at("client_key"),
            "Not a PEM private key",
            "client_key must hold a PEM private key (`-----BEGIN PRIVATE KEY-----` …).",
        );
    }
    match (k.client_certificate.is_null(), k.client_key.is_null()) {
        (false, true) => diags.error_at(kube_at("client_key"), "Missing client key", "client_certificate needs its client_key."),
        (true, false) => {
            diags.error_at(kube_at("client_certificate"), "Missing client certificate", "client_key needs its client_certificate.")
        }
        _ => {}
    }
    if !k.token.is_null() && k.exec.is_some() {
        diags.error_at(
            kube_at("token"),
            "Choose token or exec",
            "Set either a token or an exec block: both are credentials, and only one can be sent. Remove one of them.",
        );
    }
    if k.insecure.known() == Some(&true) && !k.cluster_ca_certificate.is_null() {
        diags.error_at(
            kube_at("insecure"),
            "insecure with a CA certificate",
            "insecure skips verifying the API server, so cluster_ca_certificate would not be used. Remove insecure (preferred) or the certificate.",
        );
    }
}

/// Why `text` is not an absolute URL with one of `schemes` and a host; None when it is.
fn url_problem(text: &str, schemes: &[&str]) -> Option<String> {
    let uri: http::Uri = match text.parse() {
        Ok(u) => u,
        Err(e) => return Some(e.to_string()),
    };
    match (uri.scheme_str(), uri.host()) {
        (Some(s), Some(h)) if schemes.contains(&s) && !h.is_empty() => None,
        (Some(s), _) if !schemes.contains(&s) => Some(format!("the scheme must be one of {}", schemes.join(", "))),
        _ => Some("it needs a scheme and a host".into()),
    }
}

/// Whether `text` is PEM whose blocks all carry a tag `wanted` accepts.
fn is_pem(text: &str, wanted: impl Fn(&str) -> bool) -> bool {
    pem::parse_many(text.as_bytes()).is_ok_and(|blocks| !blocks.is_empty() && blocks.iter().all(|b| wanted(b.tag())))
}

/// `arn:<partition>:iam::<12 digits>:role/<path and name>`.
fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws") && account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty() && r.len() <= 512))
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

    const KUBE_ATTRIBUTES: [&str; 10] = [
        "config_path",
        "config_context",
        "host",
        "cluster_ca_certificate",
        "token",
        "client_certificate",
        "client_key",
        "tls_server_name",
        "insecure",
        "proxy_url",
    ];

    /// A `kubernetes` block with `set` and every other attribute null.
    fn kubernetes(set: &[(&str, Value)], exec: Value) -> Value {
        let mut fields: Vec<(&str, Value)> =
            KUBE_ATTRIBUTES.iter().map(|a| (*a, set.iter().find(|(k, _)| k == a).map_or(Value::Null, |(_, v)| v.clone()))).collect();
        fields.push(("exec", exec));
        Value::object(fields)
    }

    fn exec(command: Value) -> Value {
        Value::object([
            ("api_version", "client.authentication.k8s.io/v1".into()),
            ("command", command),
            ("args", Value::Null),
            ("env", Value::Null),
        ])
    }

    fn config(region: Value, endpoint: Value, kube: Value) -> Value {
        Value::object([
            ("mesh_name", Value::Null),
            ("kubernetes", kube),
            ("parent_cluster", Value::Null),
            (
                "aws",
                Value::object([
                    ("region", region),
                    ("profile", Value::Null),
                    ("endpoints", Value::object([("appmesh", endpoint), ("acmpca", Value::Null), ("sts", Value::Null)])),
                    ("assume_role", Value::Null),
                ]),
            ),
        ])
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.iter().filter_map(|d| d.path.as_ref().map(|p| p.to_string())).collect()
    }

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        rcgen::CertificateParams::new(vec!["ca.example".into()]).expect("params").self_signed(&key).expect("certificate").pem()
    }

    #[test]
    fn bad_values_name_their_attribute() {
        let d = validate(&config("uswest".into(), "localhost:5000".into(), kubernetes(&[("config_path", "".into())], Value::Null)));
        assert_eq!(paths(&d), vec!["kubernetes.config_path", "aws.region", "aws.endpoints.appmesh"]);
    }

    #[test]
    fn the_kubernetes_block_keeps_the_kubernetes_provider_s_rules() {
        let check = |set: &[(&str, Value)], exec: Value| paths(&validate(&config(Value::Null, Value::Null, kubernetes(set, exec))));
        assert_eq!(check(&[("token", "t".into())], exec("aws".into())), ["kubernetes.token"], "token with exec");
        assert_eq!(check(&[("cluster_ca_certificate", "LS0tLS1CRUdJTi".into())], Value::Null), ["kubernetes.cluster_ca_certificate"]);
        assert_eq!(check(&[("host", "eks.example.com".into())], Value::Null), ["kubernetes.host"], "no scheme");
        assert_eq!(check(&[("host", "ftp://eks.example.com".into())], Value::Null), ["kubernetes.host"]);
        assert_eq!(check(&[("proxy_url", "proxy:3128".into())], Value::Null), ["kubernetes.proxy_url"]);
        assert_eq!(
            check(&[("client_certificate", ca_pem().into())], Value::Null),
            ["kubernetes.client_key"],
            "a certificate without its key"
        );
        assert_eq!(check(&[("client_key", "-----BEGIN PRIVATE KEY-----\n".into())], Value::Null).len(), 2, "not PEM, and no certificate");
        assert_eq!(check(&[("insecure", true.into()), ("cluster_ca_certificate", ca_pem().into())], Value::Null), ["kubernetes.insecure"]);
        // A positive control for each: the same settings, right.
        let key = rcgen::KeyPair::generate().expect("key");
        let fine = [
            ("host", "https://ABC.gr7.us-west-2.eks.amazonaws.com".into()),
            ("cluster_ca_certificate", ca_pem().into()),
            ("client_certificate", ca_pem().into()),
            ("client_key", key.serialize_pem().into()),
            ("proxy_url", "socks5://127.0.0.1:1080".into()),
            ("tls_server_name", "kubernetes".into()),
        ];
        assert!(check(&fine, Value::Null).is_empty());
        assert!(check(&[("host", "https://127.0.0.1:6443".into()), ("token", "t".into())], Value::Null).is_empty());
        assert!(check(&[("host", "https://127.0.0.1:6443".into())], exec("aws".into())).is_empty());
    }

    #[test]
    fn good_and_unknown_values_pass() {
        let kube = kubernetes(&[("config_path", "~/.kube/config".into())], Value::Null);
        assert!(validate(&config("us-gov-west-1".into(), "http://127.0.0.1:5000".into(), kube)).is_empty());
        let every_unknown: Vec<(&str, Value)> = KUBE_ATTRIBUTES.iter().map(|a| (*a, Value::Unknown)).collect();
        let unknown = config(Value::Unknown, Value::Unknown, kubernetes(&every_unknown, Value::Null));
        assert!(validate(&unknown).is_empty());
        assert!(Settings::from_config(&unknown).unwrap().kubernetes_unknown());
        for attribute in KUBE_ATTRIBUTES {
            let one = config(Value::Null, Value::Null, kubernetes(&[(attribute, Value::Unknown)], Value::Null));
            assert!(Settings::from_config(&one).unwrap().kubernetes_unknown(), "{attribute} unknown waits for apply");
        }
        let late_exec = config(Value::Null, Value::Null, kubernetes(&[], exec(Value::Unknown)));
        assert!(Settings::from_config(&late_exec).unwrap().kubernetes_unknown());
        let known = config(Value::Null, Value::Null, kubernetes(&[("host", "https://h".into())], exec("aws".into())));
        assert!(!Settings::from_config(&known).unwrap().kubernetes_unknown());
    }

    #[test]
    fn the_parent_cluster_keeps_the_same_rules_at_its_own_path() {
        let with_parent = |kube: Value, parent: Value| {
            let Value::Object(mut fields) = config(Value::Null, Value::Null, kube) else { panic!("an object") };
            fields.insert("parent_cluster".into(), parent);
            Value::Object(fields)
        };
        let bad = with_parent(Value::Null, kubernetes(&[("host", "eks.example.com".into())], Value::Null));
        assert_eq!(paths(&validate(&bad)), ["parent_cluster.host"]);
        let fine = with_parent(Value::Null, kubernetes(&[("config_context", "management".into())], Value::Null));
        let settings = Settings::from_config(&fine).expect("settings");
        assert!(validate(&fine).is_empty() && !settings.parent_cluster().is_some_and(KubernetesSettings::unknown));
        assert_eq!(settings.parent_cluster().and_then(|p| p.config_context.as_deref()), Some("management"));
        let late = with_parent(Value::Null, kubernetes(&[("host", Value::Unknown)], Value::Null));
        assert!(Settings::from_config(&late).expect("settings").parent_cluster().is_some_and(KubernetesSettings::unknown));
    }

    #[test]
    fn a_role_arn_is_checked_by_the_schema() {
        let attribute = schema().block.blocks.iter().find(|b| b.type_name == "aws").and_then(|aws| {
            aws.block.blocks.iter().find(|b| b.type_name == "assume_role").and_then(|r| r.block.attribute_named("role_arn").cloned())
        });
        let role_arn = attribute.expect("aws.assume_role.role_arn");
        let check = |arn: &str| role_arn.validators.iter().find_map(|v| v.check("role_arn", &arn.into()));
        assert_eq!(check("arn:aws:iam::123456789012:role/meshtls"), None);
        assert_eq!(check("arn:aws-us-gov:iam::123456789012:role/ci/meshtls"), None);
        for bad in ["arn:aws:iam::123456789012:user/meshtls", "arn:aws:iam::1234:role/x", "meshtls", "arn:aws:iam::123456789012:role/"] {
            assert!(check(bad).is_some_and(|m| m.contains("not an IAM role ARN")), "{bad}");
        }
    }

    #[test]
    fn the_model_matches_the_schema() {
        tfplugin::bridge::check_model::<Settings>(&schema().value_type()).unwrap();
    }
}
