//! `meshtls_ca`: a certificate authority whose key lives only in a Kubernetes Secret.
//!
//! State holds the certificate, its fingerprint and expiry, never the key. Drift in the
//! Secret (deleted, or any of its three files changed) is found on refresh: a deleted Secret
//! plans a create, a changed one a replacement with a warning naming what changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tfplugin::{AttributePath, Diagnostic, Diagnostics, Plan, PlanRequest, Resource, StateResult, Value};

use crate::cert_manager::{self, IssuerKind};
use crate::clients::read_cache::ReadCache;
use crate::clients::{client_error, Clients};
use crate::names::{check_namespace, check_secret_name, is_dns1123_label, is_dns1123_subdomain};
use crate::ownership::{Claim, OwnError, Owner};
use crate::pca;
use crate::pki::{self, KeyAlgorithm};
use crate::tls_secret::{self, DriftNote, TlsFiles, TLS_SECRET_TYPE};

pub const TYPE_NAME: &str = "meshtls_ca";
const MAX_VALIDITY_DAYS: i64 = 36_500;

pub struct CaResource {
    clients: Arc<Clients>,
}

impl CaResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        CaResource { clients }
    }

    async fn acmpca(&self) -> Result<aws_sdk_acmpca::Client, Diagnostics> {
        match self.clients.aws().await {
            Ok(aws) => Ok(aws.acmpca.clone()),
            Err(e) => Err(Diagnostic::error("ACM Private CA needs the provider's aws block", e.to_string())
                .at(AttributePath::attrs(&["acm_pca"]))
                .into()),
        }
    }

    /// Adopts or creates an ACM Private CA and writes its certificate to an Opaque Secret
    /// holding only `ca.crt`: no CA key exists in the cluster.
    async fn create_pca(&self, client: &kube::Client, cfg: &CaConfig<'_>, planned: &Value, backing: Backing) -> StateResult {
        let pca_client = match self.acmpca().await {
            Ok(c) => c,
            Err(d) => return StateResult::failed(d),
        };
        let owner = owner(cfg.namespace, cfg.secret_name);
        // Someone else's Secret of that name is refused before a private CA, which AWS bills,
        // is created for it.
        if let Err(e) = tls_secret::owned(client, &owner, cfg.namespace, cfg.secret_name).check_free().await {
            let hint = format!("terraform import <address> {}/{}", cfg.namespace, cfg.secret_name);
            return StateResult::failed(e.diagnostic("read the CA Secret", &hint).at(AttributePath::attrs(&["secret_name"])).into());
        }
        let arn = match &backing {
            Backing::PcaAdopt(arn) => match pca::status(&pca_client, arn).await {
                Ok(Some(status)) if status == "ACTIVE" => arn.clone(),
                Ok(Some(status)) => {
                    return StateResult::failed(
                        Diagnostic::error(
                            "ACM Private CA is not active",
                            format!("{arn} is {status}; enable it in ACM Private CA, then apply again."),
                        )
                        .at(AttributePath::attrs(&["acm_pca", "arn"]))
                        .into(),
                    )
                }
                Ok(None) => {
                    return StateResult::failed(
                        Diagnostic::error(
                            "ACM Private CA not found",
                            format!("{arn} does not exist in this account and region (provider aws.region)."),
                        )
                        .at(AttributePath::attrs(&["acm_pca", "arn"]))
                        .into(),
                    )
                }
                Err(e) => return StateResult::failed(Diagnostic::error("Cannot read the ACM Private CA", e.to_string()).into()),
            },
            Backing::PcaCreate { .. } => {
                let cn = cfg.common_name.unwrap_or_default();
                match pca::create_root(&pca_client, &owner.to_string(), cn, cfg.organization, cfg.key_algorithm).await {
                    Ok(arn) => arn,
                    Err(e) => return StateResult::failed(Diagnostic::error("Failed to create the ACM Private CA", e.to_string()).into()),
                }
            }
            Backing::SelfSigned => return StateResult::failed(Diagnostic::error("Internal error", "not an ACM Private CA").into()),
        };
        // From here on the CA exists: every return keeps it in state, so destroy finds it.
        let mut state = planned.clone();
        state.set("pca_arn", arn.as_str().into());
        state.set("pca_status", "ACTIVE".into());
        state.set("id", format!("{}/{}", cfg.namespace, cfg.secret_name).into());
        if matches!(backing, Backing::PcaCreate { .. }) {
            if let Err(e) = pca::activate_root(&pca_client, &arn, cfg.key_algorithm, cfg.validity_days, &|| self.clients.stopping()).await {
                state.set("pca_status", Value::Null);
                return self.partial(
                    state,
                    Diagnostic::error(
                        "Failed to activate the ACM Private CA",
                        format!("{e}. The private CA {arn} exists and is kept in state as tainted: the next apply deletes it and creates it again, and destroy deletes it."),
                    ),
                );
            }
        }
        let certificate_pem = match pca::ca_certificate(&pca_client, &arn).await {
            Ok(pem) => pem,
            Err(e) => return self.partial(state, Diagnostic::error("Failed to read the ACM Private CA certificate", e.to_string())),
        };
        let annotations = BTreeMap::from([(PCA_ANNOTATION.to_string(), arn.clone())]);
        if let Err(e) = tls_secret::create_ca_bundle(client, &owner, cfg.namespace, cfg.secret_name, &certificate_pem, annotations).await {
            // The private CA exists either way: keep it in state (tainted).
            return self.partial(state, tls_secret::create_diagnostic("CA Secret", cfg.namespace, cfg.secret_name, &e));
        }
        match pki::inspect(&certificate_pem) {
            Ok(info) => {
                if state.get("common_name").is_unknown() || state.get("common_name").is_null() {
                    state.set("common_name", Value::opt_string(info.common_name.clone()));
                }
                if state.get("organization").is_unknown() {
                    state.set("organization", Value::opt_string(info.organization.clone()));
                }
            }
            Err(e) => return self.partial(state, Diagnostic::error("ACM Private CA certificate unreadable", e.to_string())),
        }
        if let Err(e) = certificate_attributes(&mut state, &certificate_pem) {
            return self.partial(state, Diagnostic::error("ACM Private CA certificate unreadable", e.to_string()));
        }
        StateResult::ok(state, Vec::new())
    }

    /// Refresh of a private CA: gone in ACM PCA means gone; another status is reported (and
    /// planned back to ACTIVE); a different CA certificate, in PCA or in the Secret, is drift
    /// that replaces the CA.
    async fn read_pca(&self, state: &Value, arn: &str, observed: &tls_secret::ObservedSecret, certificate_pem: &str) -> StateResult {
        let pca_client = match self.acmpca().await {
            Ok(c) => c,
            Err(d) => return StateResult { state: state.clone(), private: Vec::new(), diagnostics: d },
        };
        let status = match pca::status(&pca_client, arn).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                tracing::info!(arn, "ACM Private CA is gone");
                return StateResult::ok(Value::Null, Vec::new());
            }
            Err(e) => {
                return StateResult {
                    state: state.clone(),
                    private: Vec::new(),
                    diagnostics: Diagnostic::error("Cannot read the ACM Private CA", e.to_string()).into(),
                }
            }
        };
        let mut new_state = state.clone();
        new_state.set("pca_status", status.as_str().into());
        let mut drift = Vec::new();
        if !observed.ca_crt.as_deref().is_some_and(|c| tls_secret::same_pem(c, certificate_pem)) {
            drift.push("ca.crt is not the CA certificate in state".to_string());
        }
        if status == "ACTIVE" {
            match pca::ca_certificate(&pca_client, arn).await {
                Ok(pem) if !tls_secret::same_pem(&pem, certificate_pem) => {
                    drift.push(format!("the certificate of {arn} changed (the CA was replaced)"))
                }
                Ok(_) => {}
                Err(e) => {
                    return StateResult {
                        state: state.clone(),
                        private: Vec::new(),
                        diagnostics: Diagnostic::error("Cannot read the ACM Private CA", e.to_string()).into(),
                    }
                }
            }
        }
        StateResult::ok(new_state, DriftNote { drift, ..Default::default() }.encode())
    }

    /// Refresh of a private CA whose Secret is gone: gone in ACM PCA too means gone; otherwise
    /// the state stays, noting the missing Secret for the plan.
    async fn read_pca_without_secret(&self, state: &Value, namespace: &str, secret_name: &str) -> StateResult {
        let arn = state.get("pca_arn").as_str().unwrap_or_default();
        let pca_client = match self.acmpca().await {
            Ok(c) => c,
            Err(d) => return StateResult { state: state.clone(), private: Vec::new(), diagnostics: d },
        };
        match pca::status(&pca_client, arn).await {
            Ok(Some(status)) => {
                tracing::info!(namespace, secret = secret_name, arn, "CA Secret is gone; the private CA remains");
                let mut new_state = state.clone();
                new_state.set("pca_status", status.as_str().into());
                StateResult::ok(new_state, DriftNote { secret_missing: true, ..Default::default() }.encode())
            }
            Ok(None) => StateResult::ok(Value::Null, Vec::new()),
            Err(e) => StateResult {
                state: state.clone(),
                private: Vec::new(),
                diagnostics: Diagnostic::error("Cannot read the ACM Private CA", e.to_string()).into(),
            },
        }
    }

    /// Writes a private CA's Secret again when it is missing, from the CA's certificate.
    async fn restore_pca_secret(&self, client: &kube::Client, owner: &Owner, cfg: &CaConfig<'_>, arn: &str) -> Result<(), Diagnostics> {
        let secret = tls_secret::owned(client, owner, cfg.namespace, cfg.secret_name);
        if secret.get().await.map_err(|e| e.diagnostic("read the CA Secret", ""))?.is_some() {
            return Ok(());
        }
        let pca_client = self.acmpca().await?;
        let pem = pca::ca_certificate(&pca_client, arn)
            .await
            .map_err(|e| Diagnostic::error("Failed to read the ACM Private CA certificate", e.to_string()))?;
        let annotations = BTreeMap::from([(PCA_ANNOTATION.to_string(), arn.to_string())]);
        tls_secret::create_ca_bundle(client, owner, cfg.namespace, cfg.secret_name, &pem, annotations)
            .await
            .map_err(|e| tls_secret::create_diagnostic("CA Secret", cfg.namespace, cfg.secret_name, &e))?;
        tracing::info!(namespace = cfg.namespace, secret = cfg.secret_name, arn, "wrote the private CA's Secret again");
        Ok(())
    }

    /// A state for a CA that exists but is not finished: unknowns become null, the error is
    /// returned with it, and the CLI marks the resource tainted for replacement.
    fn partial(&self, mut state: Value, d: Diagnostic) -> StateResult {
        for attr in ["certificate_pem", "fingerprint_sha256", "serial_number", "not_after", "common_name", "organization"] {
            if state.get(attr).is_unknown() {
                state.set(attr, Value::Null);
            }
        }
        StateResult { state, private: Vec::new(), diagnostics: d.into() }
    }
}

/// The owner of a CA's Secret and issuer: the CA's id, `namespace/secret_name`.
fn owner(namespace: &str, secret_name: &str) -> Owner {
    Owner::new(TYPE_NAME, &format!("{namespace}/{secret_name}"))
}

/// How to import a CA together with an issuer someone else made.
fn import_hint(namespace: &str, secret_name: &str, kind: IssuerKind, name: &str) -> String {
    format!("terraform import <address> {namespace}/{secret_name}:{}/{name}", kind.name())
}

fn issuer_error(e: &OwnError, action: &str, namespace: &str, secret_name: &str, kind: IssuerKind, name: &str) -> Diagnostic {
    e.diagnostic(action, &import_hint(namespace, secret_name, kind, name)).at(AttributePath::attrs(&["cert_manager_issuer", "name"]))
}

/// The configuration, once known.
struct CaConfig<'a> {
    namespace: &'a str,
    secret_name: &'a str,
    common_name: Option<&'a str>,
    organization: Option<&'a str>,
    validity_days: i64,
    key_algorithm: KeyAlgorithm,
    issuer: Option<(IssuerKind, &'a str)>,
}

fn issuer_of(v: &Value) -> Option<(IssuerKind, &str)> {
    let issuer = v.get("cert_manager_issuer");
    Some((IssuerKind::parse(issuer.get("kind").as_str()?)?, issuer.get("name").as_str()?))
}

impl<'a> CaConfig<'a> {
    fn from_value(v: &'a Value) -> Option<Self> {
        Some(CaConfig {
            namespace: v.get("namespace").as_str()?,
            secret_name: v.get("secret_name").as_str()?,
            common_name: v.get("common_name").as_str(),
            organization: v.get("organization").as_str(),
            validity_days: v.get("validity_days").as_i64()?,
            key_algorithm: KeyAlgorithm::parse(v.get("key_algorithm").as_str()?)?,
            issuer: issuer_of(v),
        })
    }
}

/// Who signs for a CA: its key in the cluster, or ACM Private CA.
pub enum Signer {
    Local(pki::CaMaterial),
    Pca { arn: String, certificate_pem: String },
}

impl Signer {
    pub fn certificate_pem(&self) -> &str {
        match self {
            Signer::Local(m) => &m.certificate_pem,
            Signer::Pca { certificate_pem, .. } => certificate_pem,
        }
    }
}

/// Records on the CA Secret which ACM Private CA signs for it.
pub const PCA_ANNOTATION: &str = "meshtls.dev/acm-pca-arn";

/// Reads a meshtls CA from its Secret, given the CA's `id` (`namespace/secret_name`): the
/// certificate and key for a CA in the cluster, the certificate and ARN for an ACM Private CA.
/// Errors say which CA and what is wrong with it.
pub async fn load(client: &kube::Client, cache: &ReadCache, ca_id: &str) -> Result<(Signer, pki::CertificateInfo), Diagnostic> {
    let Some((namespace, name)) = ca_id.split_once('/') else {
        return Err(Diagnostic::error(
            "Invalid CA reference",
            format!("{ca_id:?} is not a CA id of the form `namespace/secret_name`; use meshtls_ca.<name>.id."),
        ));
    };
    let observed = match tls_secret::get(client, cache, namespace, name).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            return Err(Diagnostic::error(
                "CA not found",
                format!("Secret {ca_id} does not exist. Create the CA first (reference meshtls_ca.<name>.id so Terraform orders them)."),
            ))
        }
        Err(e) => return Err(kube_error("read the CA Secret", namespace, name, &e)),
    };
    if let Some(arn) = observed.annotations.get(PCA_ANNOTATION) {
        let certificate_pem =
            observed.ca_crt.ok_or_else(|| Diagnostic::error("Not a CA Secret", format!("Secret {ca_id} lacks ca.crt.")))?;
        let info =
            pki::inspect(&certificate_pem).map_err(|e| Diagnostic::error("CA certificate unreadable", format!("Secret {ca_id}: {e}")))?;
        return Ok((Signer::Pca { arn: arn.clone(), certificate_pem }, info));
    }
    let (Some(certificate_pem), Some(private_key_pem)) = (observed.tls_crt, observed.tls_key) else {
        return Err(Diagnostic::error("Not a CA Secret", format!("Secret {ca_id} lacks tls.crt or tls.key.")));
    };
    let info =
        pki::inspect(&certificate_pem).map_err(|e| Diagnostic::error("CA certificate unreadable", format!("Secret {ca_id}: {e}")))?;
    if !info.is_ca {
        return Err(Diagnostic::error("Not a CA certificate", format!("The certificate in Secret {ca_id} is not a CA.")));
    }
    if !pki::key_matches(&private_key_pem, &info) {
        return Err(Diagnostic::error(
            "CA key does not match",
            format!("tls.key in Secret {ca_id} is not the key of its tls.crt; the CA needs re-creating."),
        ));
    }
    Ok((Signer::Local(pki::CaMaterial { certificate_pem, private_key_pem }), info))
}

/// How the configuration (or state) wants the CA backed.
#[derive(Debug, Clone, PartialEq)]
enum Backing {
    SelfSigned,
    PcaAdopt(String),
    PcaCreate { permanent_deletion_days: i32 },
}

fn backing(v: &Value) -> Backing {
    let pca = v.get("acm_pca");
    if let Some(arn) = pca.get("arn").as_str() {
        return Backing::PcaAdopt(arn.to_string());
    }
    if !pca.get("create").is_null() {
        let days = pca.get("create").get("permanent_deletion_days").as_i64().unwrap_or(7);
        return Backing::PcaCreate { permanent_deletion_days: days as i32 };
    }
    Backing::SelfSigned
}

/// What the state records about the CA's certificate.
fn certificate_attributes(state: &mut Value, certificate_pem: &str) -> Result<(), pki::PkiError> {
    let info = pki::inspect(certificate_pem)?;
    state.set("certificate_pem", certificate_pem.into());
    state.set("fingerprint_sha256", info.fingerprint_sha256.into());
    state.set("serial_number", info.serial_hex.into());
    state.set("not_after", pki::rfc3339(info.not_after).into());
    Ok(())
}

fn kube_error(action: &str, namespace: &str, name: &str, e: &kube::Error) -> Diagnostic {
    Diagnostic::error(format!("Failed to {action}"), format!("Secret {namespace}/{name}: {e}"))
}

/// Why the Secret no longer holds what meshtls wrote, if it does not.
fn secret_drift(observed: &tls_secret::ObservedSecret, certificate_pem: &str) -> Vec<String> {
    let mut drift = Vec::new();
    if observed.secret_type.as_deref() != Some(TLS_SECRET_TYPE) {
        drift.push(format!("its type is {:?}, not {TLS_SECRET_TYPE}", observed.secret_type.as_deref().unwrap_or("")));
    }
    for (key, value) in [("tls.crt", &observed.tls_crt), ("ca.crt", &observed.ca_crt)] {
        if !value.as_deref().is_some_and(|v| tls_secret::same_pem(v, certificate_pem)) {
            drift.push(format!("{key} is not the CA certificate in state"));
        }
    }
    let key_ok = match (&observed.tls_key, pki::inspect(certificate_pem)) {
        (Some(key), Ok(info)) => pki::key_matches(key, &info),
        _ => false,
    };
    if !key_ok {
        drift.push("tls.key is not the private key of the CA certificate".to_string());
    }
    drift
}

#[async_trait]
impl Resource for CaResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        // A nested block rather than a nested attribute: Terraform 1.0 panics planning a
        // null single nested attribute.
        let issuer = Block::new("A cert-manager issuer of kind `ca` that signs with this CA.")
            .attribute(Attribute::string("kind").required().description("`Issuer` (namespaced, in `namespace`) or `ClusterIssuer`."))
            .attribute(Attribute::string("name").required().description("Name of the issuer object."));
        Schema::new(
            0,
            Block::new("A certificate authority for the mesh. The key is generated by the provider and stored only in a Kubernetes Secret of type `kubernetes.io/tls` (`tls.crt`, `tls.key`, `ca.crt`); Terraform state holds the certificate, never the key.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`namespace/secret_name`."))
                .attribute(Attribute::string("namespace").required().requires_replace().description("Namespace of the CA Secret."))
                .attribute(Attribute::string("secret_name").default("ca-key-pair").requires_replace().description("Name of the CA Secret. Defaults to `ca-key-pair`."))
                .attribute(
                    Attribute::string("common_name")
                        .optional()
                        .computed()
                        .requires_replace()
                        .description("Subject common name of the CA certificate. Required, except when adopting an ACM Private CA (then read from it)."),
                )
                .attribute(Attribute::string("organization").optional().requires_replace().description("Subject organization of the CA certificate."))
                .attribute(Attribute::number("validity_days").default(3650i64).requires_replace().description("Lifetime of the CA certificate in days. Defaults to 3650."))
                .attribute(
                    Attribute::string("key_algorithm")
                        .default("ECDSA_P256")
                        .requires_replace()
                        .description("One of `ECDSA_P256` (default), `ECDSA_P384`, `RSA_2048`, `RSA_3072`, `RSA_4096`."),
                )
                .attribute(Attribute::string("certificate_pem").computed().use_state_for_unknown().description("The CA certificate, PEM-encoded."))
                .attribute(Attribute::string("fingerprint_sha256").computed().use_state_for_unknown().description("SHA-256 fingerprint of the certificate (DER), colon-separated hex."))
                .attribute(Attribute::string("serial_number").computed().use_state_for_unknown().description("Serial number, colon-separated hex."))
                .attribute(Attribute::string("not_after").computed().use_state_for_unknown().description("Expiry of the certificate, RFC 3339."))
                .attribute(Attribute::string("pca_arn").computed().use_state_for_unknown().description("ARN of the ACM Private CA behind this CA, when `acm_pca` is set."))
                .attribute(Attribute::string("pca_status").computed().description("Status of the ACM Private CA (`ACTIVE` when in order); anything else shows as drift in plan."))
                .block(NestedBlock::new("cert_manager_issuer", Nesting::Single, issuer))
                .block(
                    NestedBlock::new(
                        "acm_pca",
                        Nesting::Single,
                        Block::new("Keep the root of trust in AWS Private CA instead of a key in the cluster: adopt an existing CA (`arn`) or create a root CA (`create`). The Secret then holds only `ca.crt`.")
                            .attribute(Attribute::string("arn").optional().description("ARN of an existing, ACTIVE private CA to adopt. Destroy leaves it in place."))
                            .block(NestedBlock::new(
                                "create",
                                Nesting::Single,
                                Block::new("Create a root CA from this resource's `common_name`, `organization`, `key_algorithm` and `validity_days`; destroy disables and deletes it.")
                                    .attribute(Attribute::number("permanent_deletion_days").optional().description("Days ACM Private CA keeps the deleted CA restorable, 7 to 30. Defaults to 7.")),
                            )),
                    )
                    .requires_replace(),
                ),
        )
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let at = |name: &str| AttributePath::attrs(&[name]);
        check_namespace(&mut d, config, "namespace");
        check_secret_name(&mut d, config, "secret_name");
        for (attr, label) in [("common_name", "Common name"), ("organization", "Organization")] {
            if let Some(v) = config.get(attr).as_str() {
                if v.trim().is_empty() || v.chars().count() > 64 {
                    d.error_at(
                        at(attr),
                        format!("Invalid {}", label.to_lowercase()),
                        format!("{label} must be 1 to 64 characters (the X.509 limit); got {} characters.", v.chars().count()),
                    );
                }
            }
        }
        if let Value::Number(n) = config.get("validity_days") {
            match n.as_i64() {
                Some(days) if (1..=MAX_VALIDITY_DAYS).contains(&days) => {}
                _ => d.error_at(
                    at("validity_days"),
                    "Invalid validity",
                    format!("validity_days must be a whole number of days from 1 to {MAX_VALIDITY_DAYS}; got {n}."),
                ),
            }
        }
        if let Some(alg) = config.get("key_algorithm").as_str() {
            if KeyAlgorithm::parse(alg).is_none() {
                d.error_at(
                    at("key_algorithm"),
                    "Unsupported key algorithm",
                    format!("{alg:?} is not supported; use one of {}.", KeyAlgorithm::NAMES.join(", ")),
                );
            }
        }
        let pca_block = config.get("acm_pca");
        if !pca_block.is_null() {
            let (arn, create) = (pca_block.get("arn"), pca_block.get("create"));
            if arn.is_null() == create.is_null() && !arn.is_unknown() {
                d.error_at(
                    at("acm_pca"),
                    "Choose adopt or create",
                    "Set exactly one of acm_pca.arn (adopt an existing private CA) or an acm_pca.create block.",
                );
            }
            if let Some(a) = arn.as_str() {
                if !(a.starts_with("arn:aws") && a.contains(":acm-pca:") && a.contains(":certificate-authority/")) {
                    d.error_at(
                        AttributePath::attrs(&["acm_pca", "arn"]),
                        "Invalid private CA ARN",
                        format!("{a:?} is not an ACM Private CA ARN (arn:aws:acm-pca:<region>:<account>:certificate-authority/<id>)."),
                    );
                }
            }
            if let Value::Number(n) = create.get("permanent_deletion_days") {
                if !n.as_i64().is_some_and(|d| (7..=30).contains(&d)) {
                    d.error_at(
                        AttributePath::attrs(&["acm_pca", "create", "permanent_deletion_days"]),
                        "Invalid deletion window",
                        format!("{n}: ACM Private CA accepts 7 to 30 days."),
                    );
                }
            }
            if !config.get("cert_manager_issuer").is_null() {
                d.error_at(
                    at("cert_manager_issuer"),
                    "No CA issuer for a private CA",
                    "A cert-manager CA issuer needs the CA key in the cluster; with acm_pca there is none. Use cert-manager's AWSPCAIssuer instead.",
                );
            }
        } else if config.get("common_name").is_null() {
            d.error_at(at("common_name"), "Missing common name", "Set common_name: the subject of the CA certificate.");
        }
        let issuer = config.get("cert_manager_issuer");
        if let Some(kind) = issuer.get("kind").as_str() {
            if IssuerKind::parse(kind).is_none() {
                d.error_at(
                    AttributePath::attrs(&["cert_manager_issuer", "kind"]),
                    "Invalid issuer kind",
                    format!("{kind:?} is not an issuer kind; use \"Issuer\" or \"ClusterIssuer\"."),
                );
            }
        }
        if let Some(name) = issuer.get("name").as_str() {
            if !is_dns1123_subdomain(name) {
                d.error_at(
                    AttributePath::attrs(&["cert_manager_issuer", "name"]),
                    "Invalid issuer name",
                    format!("{name:?} is not a valid object name: use lowercase letters, digits, '-' and '.'."),
                );
            }
        }
        d
    }

    async fn modify_plan(&self, request: PlanRequest<'_>, plan: &mut Plan) {
        // A private CA must be ACTIVE; a prior status of anything else is drift to repair.
        let pca = !request.config.get("acm_pca").is_null();
        plan.planned.set("pca_status", if pca { Value::from("ACTIVE") } else { Value::Null });
        if !pca {
            plan.planned.set("pca_arn", Value::Null);
        } else if let Some(arn) = request.config.get("acm_pca").get("arn").as_str() {
            plan.planned.set("pca_arn", arn.into());
        }
        if request.prior.is_null() {
            return;
        }
        let private = DriftNote::decode(request.prior_private);
        if private.secret_missing {
            let id = request.prior.get("id").as_str().unwrap_or_default();
            let arn = request.prior.get("pca_arn").as_str().unwrap_or_default();
            plan.diagnostics.push(Diagnostic::warning(
                "CA Secret deleted outside Terraform",
                format!("Secret {id} is gone. Apply writes it again from the ACM Private CA {arn}, which is kept; certificates it signed stay valid."),
            ));
            plan.planned.set("certificate_pem", Value::Unknown);
        }
        if !private.drift.is_empty() {
            let id = request.prior.get("id").as_str().unwrap_or_default();
            plan.diagnostics.push(Diagnostic::warning(
                "CA Secret changed outside Terraform",
                format!(
                    "Secret {id}: {}. The CA will be replaced with a new key and certificate; certificates it signed must be re-issued.",
                    private.drift.join("; ")
                ),
            ));
            for attr in ["certificate_pem", "fingerprint_sha256", "serial_number", "not_after", "id"] {
                plan.planned.set(attr, Value::Unknown);
            }
            plan.replace_through("certificate_pem");
            plan.private = Vec::new();
        }
    }

    async fn create(&self, planned: &Value, _config: &Value) -> StateResult {
        let Some(cfg) = CaConfig::from_value(planned) else {
            return StateResult::failed(
                Diagnostic::error("Incomplete configuration", "meshtls_ca needs known values for every argument at apply time.").into(),
            );
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        let backing = backing(planned);
        if backing != Backing::SelfSigned {
            return self.create_pca(&client, &cfg, planned, backing).await;
        }
        let owner = owner(cfg.namespace, cfg.secret_name);
        // Someone else's issuer of that name is refused before anything is written.
        if let Some((kind, name)) = cfg.issuer {
            if let Err(e) = cert_manager::owned(&client, &owner, kind, cfg.namespace, name).check_free().await {
                return StateResult::failed(
                    issuer_error(&e, "read the cert-manager issuer", cfg.namespace, cfg.secret_name, kind, name).into(),
                );
            }
        }
        let request = pki::CaRequest {
            common_name: cfg.common_name.unwrap_or_default(),
            organization: cfg.organization,
            validity_days: cfg.validity_days,
            key_algorithm: cfg.key_algorithm,
        };
        let issued = {
            let (cn, org, days, alg) =
                (request.common_name.to_string(), request.organization.map(str::to_string), request.validity_days, request.key_algorithm);
            // Key generation is CPU-bound (RSA takes seconds): keep it off the async workers.
            tokio::task::spawn_blocking(move || {
                pki::self_signed_ca(&pki::CaRequest {
                    common_name: &cn,
                    organization: org.as_deref(),
                    validity_days: days,
                    key_algorithm: alg,
                })
            })
            .await
        };
        let issued = match issued {
            Ok(Ok(i)) => i,
            Ok(Err(e)) => return StateResult::failed(Diagnostic::error("Failed to generate the CA", e.to_string()).into()),
            Err(e) => return StateResult::failed(Diagnostic::error("Failed to generate the CA", e.to_string()).into()),
        };
        let files =
            TlsFiles { ca_crt: issued.certificate_pem.clone(), tls_crt: issued.certificate_pem.clone(), tls_key: issued.private_key_pem };
        let mut state = planned.clone();
        state.set("id", format!("{}/{}", cfg.namespace, cfg.secret_name).into());
        let mut diagnostics = Diagnostics::new();
        if let Err(e) = certificate_attributes(&mut state, &issued.certificate_pem) {
            diagnostics.error("Generated certificate cannot be parsed", e.to_string());
        }
        if let Err(e) = tls_secret::create(&client, &owner, cfg.namespace, cfg.secret_name, &files, BTreeMap::new(), BTreeMap::new()).await
        {
            let d = tls_secret::create_diagnostic("CA Secret", cfg.namespace, cfg.secret_name, &e);
            // A Secret that may exist stays in state (tainted), so it is never lost track of.
            return if e.outcome_unknown() { self.partial(state, d) } else { StateResult::failed(d.into()) };
        }
        tracing::info!(namespace = cfg.namespace, secret = cfg.secret_name, "created CA Secret");
        if let Some((kind, name)) = cfg.issuer {
            if let Err(e) = cert_manager::ensure(&client, &owner, kind, cfg.namespace, name, cfg.secret_name).await {
                // The Secret exists: keep it in state (the CLI marks it tainted) so nothing is orphaned.
                let mut d = issuer_error(&e, "create the cert-manager issuer", cfg.namespace, cfg.secret_name, kind, name);
                if matches!(e, OwnError::Kube { .. }) {
                    d.detail.push_str(". Is cert-manager (its CRDs) installed?");
                }
                diagnostics.push(d);
                state.set("cert_manager_issuer", Value::Null);
            }
        }
        StateResult { state, private: Vec::new(), diagnostics }
    }

    async fn read(&self, state: &Value, private: &[u8]) -> StateResult {
        if self.clients.cluster_unknown() {
            return StateResult::ok(state.clone(), private.to_vec());
        }
        let (Some(namespace), Some(secret_name), Some(certificate_pem)) =
            (state.get("namespace").as_str(), state.get("secret_name").as_str(), state.get("certificate_pem").as_str())
        else {
            return StateResult::ok(state.clone(), private.to_vec());
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        let observed = match tls_secret::get(&client, &self.clients.read_cache, namespace, secret_name).await {
            Ok(Some(s)) => s,
            Ok(None) if state.get("pca_arn").as_str().is_some() => {
                // The private CA is what matters, and is billed: while it exists, the plan
                // writes its Secret again instead of creating a second CA.
                return self.read_pca_without_secret(state, namespace, secret_name).await;
            }
            Ok(None) => {
                tracing::info!(namespace, secret = secret_name, "CA Secret is gone");
                return StateResult::ok(Value::Null, Vec::new());
            }
            Err(e) => return StateResult::failed(kube_error("read the CA Secret", namespace, secret_name, &e).into()),
        };
        let mut new_state = state.clone();
        if let Some(arn) = state.get("pca_arn").as_str() {
            return self.read_pca(state, arn, &observed, certificate_pem).await;
        }
        let private = DriftNote { drift: secret_drift(&observed, certificate_pem), ..Default::default() };
        if let Some((kind, name)) = issuer_of(state) {
            // An issuer that is gone, or is no longer this CA's, plans its re-creation.
            match cert_manager::secret_of(&client, &owner(namespace, secret_name), kind, namespace, name).await {
                Ok(Some(Some(s))) if s == secret_name => {}
                Ok(_) => new_state.set("cert_manager_issuer", Value::Null),
                Err(e) => return StateResult::failed(e.diagnostic("read the cert-manager issuer", "").into()),
            }
        }
        StateResult::ok(new_state, private.encode())
    }

    async fn update(&self, prior: &Value, planned: &Value, _config: &Value, private: &[u8]) -> StateResult {
        // Every other argument forces replacement: only the issuer changes in place.
        let Some(cfg) = CaConfig::from_value(planned) else {
            return StateResult::failed(
                Diagnostic::error("Incomplete configuration", "meshtls_ca needs known values for every argument at apply time.").into(),
            );
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        if let (Some(arn), Some(status)) = (prior.get("pca_arn").as_str(), prior.get("pca_status").as_str()) {
            if status != "ACTIVE" {
                if !matches!(backing(prior), Backing::PcaCreate { .. }) {
                    return StateResult {
                        state: prior.clone(),
                        private: private.to_vec(),
                        diagnostics: Diagnostic::error(
                            "ACM Private CA is not active",
                            format!("{arn} is {status}. meshtls does not re-enable a private CA it did not create: enable it in ACM Private CA, then apply again."),
                        )
                        .into(),
                    };
                }
                let result = match self.acmpca().await {
                    Ok(c) => {
                        pca::set_status(&c, arn, aws_sdk_acmpca::types::CertificateAuthorityStatus::Active).await.map_err(|e| e.to_string())
                    }
                    Err(_) => Err("the provider has no aws block".to_string()),
                };
                if let Err(e) = result {
                    return StateResult {
                        state: prior.clone(),
                        private: private.to_vec(),
                        diagnostics: Diagnostic::error("Failed to re-enable the ACM Private CA", e).into(),
                    };
                }
            }
        }
        let owner = owner(cfg.namespace, cfg.secret_name);
        let mut diagnostics = Diagnostics::new();
        if let Some(arn) = prior.get("pca_arn").as_str() {
            if let Err(d) = self.restore_pca_secret(&client, &owner, &cfg, arn).await {
                return StateResult { state: prior.clone(), private: private.to_vec(), diagnostics: d };
            }
        }
        let old = issuer_of(prior);
        if let Some((kind, name)) = old.filter(|o| Some(*o) != cfg.issuer) {
            match cert_manager::delete(&client, &owner, kind, cfg.namespace, name).await {
                Ok(deleted) => diagnostics.push_all(deleted.warning()),
                Err(e) => {
                    return StateResult {
                        state: prior.clone(),
                        private: private.to_vec(),
                        diagnostics: e.diagnostic("delete the old cert-manager issuer", "").into(),
                    }
                }
            }
        }
        let mut state = planned.clone();
        for attr in ["id", "certificate_pem", "fingerprint_sha256", "serial_number", "not_after", "pca_arn", "common_name", "organization"]
        {
            if !state.get(attr).is_wholly_known() {
                state.set(attr, prior.get(attr).clone());
            }
        }
        if state.get("pca_arn").is_null() {
            state.set("pca_status", Value::Null);
        }
        if let Some((kind, name)) = cfg.issuer {
            if let Err(e) = cert_manager::ensure(&client, &owner, kind, cfg.namespace, name, cfg.secret_name).await {
                state.set("cert_manager_issuer", Value::Null);
                diagnostics.push(issuer_error(&e, "create the cert-manager issuer", cfg.namespace, cfg.secret_name, kind, name));
            }
        }
        StateResult { state, private: private.to_vec(), diagnostics }
    }

    async fn delete(&self, prior: &Value, _private: &[u8]) -> Diagnostics {
        let (Some(namespace), Some(secret_name)) = (prior.get("namespace").as_str(), prior.get("secret_name").as_str()) else {
            return Diagnostics::new();
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return client_error(e),
        };
        let owner = owner(namespace, secret_name);
        let mut diagnostics = Diagnostics::new();
        if let Some((kind, name)) = issuer_of(prior) {
            match cert_manager::delete(&client, &owner, kind, namespace, name).await {
                Ok(deleted) => diagnostics.push_all(deleted.warning()),
                Err(e) => return e.diagnostic("delete the cert-manager issuer", "").into(),
            }
        }
        // A private CA meshtls created is disabled and deleted; an adopted one stays.
        if let (Backing::PcaCreate { permanent_deletion_days }, Some(arn)) = (backing(prior), prior.get("pca_arn").as_str()) {
            let pca_client = match self.acmpca().await {
                Ok(c) => c,
                Err(d) => return d,
            };
            // A CA tagged as another resource's is not this one's to delete. (One without the tag
            // was created before meshtls tagged its CAs; state says this resource made it.)
            match pca::owner_tag(&pca_client, arn).await.map(|tag| owner.claim_recorded(tag.as_deref(), Claim::Ours)) {
                Ok(Claim::OtherResource(tag)) => diagnostics.push(Diagnostic::warning(
                    "ACM Private CA left in place",
                    format!("{arn} is tagged {}={tag}, not as this resource's, so destroy did not delete it.", crate::ownership::OWNER_TAG),
                )),
                Ok(_) => {
                    if let Err(e) = pca::disable_and_delete(&pca_client, arn, permanent_deletion_days).await {
                        return Diagnostic::error("Failed to delete the ACM Private CA", e.to_string()).into();
                    }
                }
                // A CA that is gone already has nothing to delete.
                Err(_) if matches!(pca::status(&pca_client, arn).await, Ok(None)) => {}
                Err(e) => return Diagnostic::error("Failed to read the ACM Private CA's tags", e.to_string()).into(),
            }
        }
        match tls_secret::delete(&client, &owner, namespace, secret_name).await {
            Ok(deleted) => diagnostics.push_all(deleted.warning()),
            Err(e) => diagnostics.push(e.diagnostic("delete the CA Secret", "")),
        }
        diagnostics
    }

    async fn import(&self, id: &str) -> StateResult {
        let Some((namespace, secret_name, issuer)) = parse_import_id(id) else {
            return StateResult::failed(
                Diagnostic::error(
                    "Invalid import ID",
                    format!("{id:?} is not of the form `namespace/secret_name` or `namespace/secret_name:Issuer/name` (or `:ClusterIssuer/name`), e.g. `yelb/ca-key-pair:Issuer/ca-issuer`."),
                )
                .into(),
            );
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        let mut result = self.import_secret(&client, namespace, secret_name).await;
        if result.state.is_null() || result.diagnostics.has_errors() {
            return result;
        }
        // Everything checked: from here on meshtls manages what it imports.
        let owner = owner(namespace, secret_name);
        if let Err(e) = tls_secret::owned(&client, &owner, namespace, secret_name).adopt().await {
            return StateResult::failed(e.diagnostic("mark the CA Secret as managed by meshtls", "").into());
        }
        if let Some((kind, name)) = issuer {
            if !result.state.get("pca_arn").is_null() {
                return StateResult::failed(
                    Diagnostic::error(
                        "Cannot import an issuer with a private CA",
                        "A cert-manager CA issuer needs the CA key in the cluster; an ACM Private CA has none there.",
                    )
                    .into(),
                );
            }
            let what = format!("{} {name}", kind.name());
            match cert_manager::adopt(&client, &owner, kind, namespace, name, secret_name).await {
                Ok(cert_manager::Adopted::Yes) => {}
                Ok(cert_manager::Adopted::Missing) => {
                    return StateResult::failed(Diagnostic::error("Cannot import: issuer not found", format!("No {what} exists.")).into())
                }
                Ok(cert_manager::Adopted::OtherSecret(other)) => {
                    return StateResult::failed(
                        Diagnostic::error(
                            "Cannot import: the issuer is not this CA's",
                            format!(
                                "{what} is not a `ca` issuer of Secret {namespace}/{secret_name} (it names {}). Import the CA alone, or give its own issuer.",
                                other.map(|o| format!("Secret {o:?}")).unwrap_or_else(|| "no CA Secret".into())
                            ),
                        )
                        .into(),
                    )
                }
                Err(e) => return StateResult::failed(e.diagnostic("import the cert-manager issuer", "").into()),
            }
            result.state.set("cert_manager_issuer", Value::object([("kind", kind.name().into()), ("name", name.into())]));
        }
        result
    }
}

/// An issuer by kind and name.
type IssuerRef<'a> = (IssuerKind, &'a str);

/// `namespace/secret_name`, optionally followed by `:Issuer/name` or `:ClusterIssuer/name`.
fn parse_import_id(id: &str) -> Option<(&str, &str, Option<IssuerRef<'_>>)> {
    let (secret, issuer) = match id.split_once(':') {
        Some((s, i)) => (s, Some(i)),
        None => (id, None),
    };
    let (namespace, secret_name) = secret.split_once('/').filter(|(ns, n)| is_dns1123_label(ns) && is_dns1123_subdomain(n))?;
    let issuer = match issuer {
        None => None,
        Some(i) => {
            let (kind, name) = i.split_once('/')?;
            Some((IssuerKind::parse(kind)?, Some(name).filter(|n| is_dns1123_subdomain(n))?))
        }
    };
    Some((namespace, secret_name, issuer))
}

impl CaResource {
    /// Reads and checks the CA Secret for import, and builds the state from it.
    async fn import_secret(&self, client: &kube::Client, namespace: &str, secret_name: &str) -> StateResult {
        let observed = match tls_secret::get(client, &self.clients.read_cache, namespace, secret_name).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return StateResult::failed(
                    Diagnostic::error("Cannot import: Secret not found", format!("No Secret {namespace}/{secret_name} exists.")).into(),
                )
            }
            Err(e) => return StateResult::failed(kube_error("read the CA Secret", namespace, secret_name, &e).into()),
        };
        if let (Some(arn), Some(ca_crt)) = (observed.annotations.get(PCA_ANNOTATION), observed.ca_crt.as_deref()) {
            // A Secret written for an ACM Private CA: imported as an adopted CA.
            let info = match pki::inspect(ca_crt) {
                Ok(i) => i,
                Err(e) => {
                    return StateResult::failed(
                        Diagnostic::error("Cannot import: ca.crt is not a certificate", format!("Secret {namespace}/{secret_name}: {e}"))
                            .into(),
                    )
                }
            };
            let mut state = Value::object([
                ("id", Value::from(format!("{namespace}/{secret_name}"))),
                ("namespace", namespace.into()),
                ("secret_name", secret_name.into()),
                ("common_name", Value::opt_string(info.common_name.clone())),
                ("organization", Value::opt_string(info.organization.clone())),
                ("validity_days", Value::from((info.not_after - info.not_before).whole_days())),
                ("key_algorithm", info.key_algorithm.unwrap_or(KeyAlgorithm::Rsa2048).name().into()),
                ("pca_arn", arn.as_str().into()),
                ("pca_status", "ACTIVE".into()),
                ("acm_pca", Value::object([("arn", arn.as_str().into())])),
            ]);
            if let Err(e) = certificate_attributes(&mut state, ca_crt) {
                return StateResult::failed(Diagnostic::error("Cannot import", e.to_string()).into());
            }
            return StateResult::ok(state, Vec::new());
        }
        let Some(cert_pem) = observed.tls_crt.as_deref() else {
            return StateResult::failed(
                Diagnostic::error("Cannot import: not a TLS Secret", format!("Secret {namespace}/{secret_name} has no tls.crt.")).into(),
            );
        };
        let info = match pki::inspect(cert_pem) {
            Ok(i) => i,
            Err(e) => {
                return StateResult::failed(
                    Diagnostic::error("Cannot import: tls.crt is not a certificate", format!("Secret {namespace}/{secret_name}: {e}"))
                        .into(),
                )
            }
        };
        if !info.is_ca {
            return StateResult::failed(
                Diagnostic::error(
                    "Cannot import: not a CA certificate",
                    format!("The certificate in Secret {namespace}/{secret_name} is not a CA (basicConstraints CA:FALSE)."),
                )
                .into(),
            );
        }
        if !observed.tls_key.as_deref().is_some_and(|k| pki::key_matches(k, &info)) {
            return StateResult::failed(
                Diagnostic::error(
                    "Cannot import: key does not match",
                    format!("tls.key in Secret {namespace}/{secret_name} is missing or is not the certificate's private key."),
                )
                .into(),
            );
        }
        let Some(key_algorithm) = info.key_algorithm else {
            return StateResult::failed(
                Diagnostic::error(
                    "Cannot import: unsupported key",
                    format!("The CA key in Secret {namespace}/{secret_name} is none of {}.", KeyAlgorithm::NAMES.join(", ")),
                )
                .into(),
            );
        };
        let mut state = Value::object([
            ("id", Value::from(format!("{namespace}/{secret_name}"))),
            ("namespace", namespace.into()),
            ("secret_name", secret_name.into()),
            ("common_name", Value::opt_string(info.common_name.clone())),
            ("organization", Value::opt_string(info.organization.clone())),
            ("validity_days", Value::from((info.not_after - info.not_before).whole_days())),
            ("key_algorithm", key_algorithm.name().into()),
            ("cert_manager_issuer", Value::Null),
        ]);
        if let Err(e) = certificate_attributes(&mut state, cert_pem) {
            return StateResult::failed(Diagnostic::error("Cannot import", e.to_string()).into());
        }
        StateResult::ok(state, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_name_the_secret_and_optionally_its_issuer() {
        assert_eq!(parse_import_id("yelb/ca-key-pair"), Some(("yelb", "ca-key-pair", None)));
        assert_eq!(
            parse_import_id("yelb/ca-key-pair:Issuer/ca-issuer"),
            Some(("yelb", "ca-key-pair", Some((IssuerKind::Issuer, "ca-issuer"))))
        );
        assert_eq!(parse_import_id("yelb/ca:ClusterIssuer/mesh"), Some(("yelb", "ca", Some((IssuerKind::ClusterIssuer, "mesh")))));
        for bad in ["yelb", "Yelb/ca", "yelb/ca:Issuer", "yelb/ca:Certificate/x", "yelb/ca:Issuer/Bad_Name", "yelb/ca:"] {
            assert_eq!(parse_import_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_ca_owns_its_objects_by_its_id() {
        let owner = owner("yelb", "ca-key-pair");
        assert_eq!(owner.to_string(), "meshtls_ca:yelb/ca-key-pair");
        assert_eq!(
            import_hint("yelb", "ca-key-pair", IssuerKind::Issuer, "team"),
            "terraform import <address> yelb/ca-key-pair:Issuer/team"
        );
    }
}
