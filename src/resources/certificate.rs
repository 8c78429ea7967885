//! `meshtls_certificate`: a service certificate signed by a `meshtls_ca`, delivered as a
//! Secret in cert-manager's layout, renewed through plan when its renewal window opens.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::{AttributePath, Diagnostic, Diagnostics, Plan, PlanRequest, Resource, StateResult, Type, Value};
use time::OffsetDateTime;

use crate::clients::{client_error, Clients};
use crate::names::{check_namespace, check_secret_name, dns_name_problem, is_dns1123_label, is_dns1123_subdomain};
use crate::ownership::{OwnError, Owner};
use crate::pki::{self, KeyAlgorithm, Usage};
use crate::resources::ca;
use crate::secret_access;
use crate::tls_secret::{self, DriftNote, TlsFiles, TLS_SECRET_TYPE};

/// More names than any one service needs; see the check in `validate`.
const MAX_DNS_NAMES: usize = 100;

pub const TYPE_NAME: &str = "meshtls_certificate";
/// Records the signing CA on the Secret, so an import can find it again.
pub const CA_ANNOTATION: &str = "meshtls.dev/ca";
const MAX_VALIDITY_DAYS: i64 = 36_500;

pub struct CertificateResource {
    clients: Arc<Clients>,
}

impl CertificateResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        CertificateResource { clients }
    }

    /// Issues through ACM Private CA: the key is made here, only the CSR leaves the machine.
    async fn issue_with_pca(
        &self,
        arn: &str,
        cfg: &CertConfig<'_>,
        ca_info: &pki::CertificateInfo,
    ) -> Result<(String, String, String), String> {
        let aws = self.clients.aws().await.map_err(|e| format!("ACM Private CA needs the provider's aws block: {e}"))?;
        let (cn, names, alg) = (cfg.common_name.clone(), cfg.dns_names.clone(), cfg.key_algorithm);
        let (csr, key) = tokio::task::spawn_blocking(move || pki::csr_for(alg, &cn, &names))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        // The CA's key type decides the signing algorithm.
        let signing = crate::pca::algorithms(ca_info.key_algorithm.unwrap_or(KeyAlgorithm::Rsa2048)).1;
        let (certificate, chain) =
            crate::pca::issue(&aws.acmpca, arn, &csr, signing, crate::pca::END_ENTITY_TEMPLATE, cfg.validity_days, &|| {
                self.clients.stopping()
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok((certificate, chain, key))
    }
}

/// The owner of a certificate's Secret, Role and RoleBinding: the certificate's id.
fn owner(namespace: &str, secret_name: &str) -> Owner {
    Owner::new(TYPE_NAME, &format!("{namespace}/{secret_name}"))
}

fn access_error(e: &OwnError, action: &str, namespace: &str, secret_name: &str) -> Diagnostic {
    e.diagnostic(action, &format!("terraform import <address> {namespace}/{secret_name}")).at(at("restrict_secret_access"))
}

fn at(name: &str) -> AttributePath {
    AttributePath::attrs(&[name])
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_elements()?.iter().map(|e| e.as_str().map(str::to_string)).collect()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_entries().map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default()
}

/// The configuration, once known at apply.
struct CertConfig<'a> {
    ca: &'a str,
    namespace: &'a str,
    secret_name: &'a str,
    dns_names: Vec<String>,
    common_name: String,
    validity_days: i64,
    key_algorithm: KeyAlgorithm,
    usages: Vec<Usage>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl<'a> CertConfig<'a> {
    fn from_value(v: &'a Value) -> Option<Self> {
        let dns_names = strings(v.get("dns_names"))?;
        Some(CertConfig {
            ca: v.get("ca").as_str()?,
            namespace: v.get("namespace").as_str()?,
            secret_name: v.get("secret_name").as_str()?,
            common_name: v.get("common_name").as_str().map(str::to_string).or_else(|| dns_names.first().cloned())?,
            dns_names,
            validity_days: v.get("validity_days").as_i64()?,
            key_algorithm: KeyAlgorithm::parse(v.get("key_algorithm").as_str()?)?,
            usages: strings(v.get("usages"))?.iter().map(|u| Usage::parse(u)).collect::<Option<_>>()?,
            labels: string_map(v.get("secret_labels")),
            annotations: string_map(v.get("secret_annotations")),
        })
    }
}

fn certificate_attributes(state: &mut Value, leaf: &pki::CertificateInfo, leaf_pem: &str, ca: &pki::CertificateInfo) {
    state.set("certificate_pem", leaf_pem.into());
    state.set("serial_number", leaf.serial_hex.clone().into());
    state.set("fingerprint_sha256", leaf.fingerprint_sha256.clone().into());
    state.set("not_before", pki::rfc3339(leaf.not_before).into());
    state.set("not_after", pki::rfc3339(leaf.not_after).into());
    state.set("ca_fingerprint_sha256", ca.fingerprint_sha256.clone().into());
}

/// True once `now` is within `renew_before_days` of `not_after`. Checked arithmetic: a window
/// past the end of time counts as reached, never as a panic.
fn inside_renewal_window(now: OffsetDateTime, renew_before_days: i64, not_after: OffsetDateTime) -> bool {
    let window = time::Duration::seconds(renew_before_days.max(0).saturating_mul(86_400));
    now.checked_add(window).is_none_or(|t| t >= not_after)
}

fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.as_str()?, &time::format_description::well_known::Rfc3339).ok()
}

/// Why the Secret no longer holds what meshtls wrote, if it does not.
fn secret_drift(observed: &tls_secret::ObservedSecret, state: &Value) -> Vec<String> {
    let mut drift = Vec::new();
    if observed.secret_type.as_deref() != Some(TLS_SECRET_TYPE) {
        drift.push(format!("its type is {:?}, not {TLS_SECRET_TYPE}", observed.secret_type.as_deref().unwrap_or("")));
    }
    let fingerprint = |pem: &Option<String>| pem.as_deref().and_then(|p| pki::inspect(p).ok()).map(|i| i.fingerprint_sha256);
    let leaf = observed.tls_crt.as_deref().and_then(|p| pki::inspect(p).ok());
    if leaf.as_ref().map(|i| i.fingerprint_sha256.as_str()) != state.get("fingerprint_sha256").as_str() {
        drift.push("tls.crt does not start with the certificate in state".into());
    }
    if fingerprint(&observed.ca_crt).as_deref() != state.get("ca_fingerprint_sha256").as_str() {
        drift.push("ca.crt is not the issuing CA's certificate".into());
    }
    let key_ok = match (&observed.tls_key, &leaf) {
        (Some(key), Some(info)) => pki::key_matches(key, info),
        _ => false,
    };
    if !key_ok {
        drift.push("tls.key is not the private key of the certificate".into());
    }
    drift
}

/// The values in the cluster of the keys the configuration manages; the rest are not ours.
fn observed_subset(managed: &Value, actual: &BTreeMap<String, String>) -> Value {
    match managed.as_entries() {
        Some(keys) => Value::Map(keys.keys().filter_map(|k| actual.get(k).map(|v| (k.clone(), Value::from(v.as_str())))).collect()),
        None => Value::Null,
    }
}

/// The service accounts `restrict_secret_access` names, if the block is set.
fn readers(v: &Value) -> Option<Vec<String>> {
    let block = v.get("restrict_secret_access");
    (!block.is_null()).then(|| strings(block.get("service_accounts")).unwrap_or_default())
}

fn readers_value(accounts: Option<Vec<String>>) -> Value {
    accounts.map_or(Value::Null, |a| Value::object([("service_accounts", Value::List(a.into_iter().map(Value::from).collect()))]))
}

/// Label or annotation changes as a merge patch: removed keys map to None.
fn metadata_patch(prior: &Value, planned: &Value) -> BTreeMap<String, Option<String>> {
    let (old, new) = (string_map(prior), string_map(planned));
    let mut patch: BTreeMap<String, Option<String>> = old.keys().filter(|k| !new.contains_key(*k)).map(|k| (k.clone(), None)).collect();
    patch.extend(new.into_iter().map(|(k, v)| (k, Some(v))));
    patch
}

#[async_trait]
impl Resource for CertificateResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        let usages_default = Value::List(vec!["server_auth".into(), "client_auth".into()]);
        Schema::new(
            0,
            Block::new("A service certificate signed by a `meshtls_ca`, delivered as a Kubernetes Secret of type `kubernetes.io/tls` in cert-manager's layout (`ca.crt`, `tls.crt` with the chain, `tls.key`). The key is generated by the provider and never enters Terraform state. Once the renewal window opens, `plan` shows a replacement and says why.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`namespace/secret_name`."))
                .attribute(Attribute::string("ca").required().requires_replace().description("The signing CA: a `meshtls_ca`'s `id`. Replacing the CA replaces every certificate it signed."))
                .attribute(Attribute::string("namespace").required().requires_replace().description("Namespace of the certificate Secret."))
                .attribute(Attribute::string("secret_name").required().requires_replace().description("Name of the certificate Secret."))
                .attribute(Attribute::new("dns_names", Type::list(Type::String)).required().requires_replace().description("DNS names (subject alternative names): the mesh endpoint exactly, e.g. `yelb-db.yelb.svc.cluster.local`, or a wildcard as the whole leftmost label, e.g. `*.yelb.svc.cluster.local`."))
                .attribute(Attribute::string("common_name").optional().computed().requires_replace().description("Subject common name. Defaults to the first DNS name."))
                .attribute(Attribute::number("validity_days").default(365i64).requires_replace().description("Lifetime in days. Defaults to 365; may not outlast the CA."))
                .attribute(Attribute::number("renew_before_days").default(30i64).description("Re-issue once the certificate is this close to expiry. Defaults to 30; must be shorter than `validity_days`."))
                .attribute(Attribute::string("key_algorithm").default("ECDSA_P256").requires_replace().description("One of `ECDSA_P256` (default), `ECDSA_P384`, `RSA_2048`, `RSA_3072`, `RSA_4096`."))
                .attribute(Attribute::new("usages", Type::list(Type::String)).default(usages_default).requires_replace().description("Extended key usages: `server_auth`, `client_auth`. Both by default, since a mesh does mutual TLS."))
                .attribute(Attribute::new("secret_labels", Type::map(Type::String)).optional().description("Labels on the Secret (besides `app.kubernetes.io/managed-by`)."))
                .attribute(Attribute::new("secret_annotations", Type::map(Type::String)).optional().description("Annotations on the Secret (besides `meshtls.dev/ca`)."))
                .block(tfplugin::schema::NestedBlock::new(
                    "restrict_secret_access",
                    tfplugin::schema::Nesting::Single,
                    Block::new("Create a Role and RoleBinding (`<secret_name>-reader`) that let these service accounts read the Secret, so the workload's identity needs no wider Secret access.")
                        .attribute(Attribute::new("service_accounts", Type::list(Type::String)).required().description("Service accounts in `namespace` allowed to read the Secret.")),
                ))
                .attribute(Attribute::string("certificate_pem").computed().use_state_for_unknown().description("The certificate, PEM-encoded (without the chain)."))
                .attribute(Attribute::string("serial_number").computed().use_state_for_unknown().description("Serial number, colon-separated hex."))
                .attribute(Attribute::string("fingerprint_sha256").computed().use_state_for_unknown().description("SHA-256 fingerprint of the certificate (DER), colon-separated hex."))
                .attribute(Attribute::string("not_before").computed().use_state_for_unknown().description("Start of validity, RFC 3339."))
                .attribute(Attribute::string("not_after").computed().use_state_for_unknown().description("Expiry, RFC 3339."))
                .attribute(Attribute::string("ca_fingerprint_sha256").computed().use_state_for_unknown().description("SHA-256 fingerprint of the CA certificate that signed it.")),
        )
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let Some(ca) = config.get("ca").as_str() {
            if !ca.split_once('/').is_some_and(|(ns, n)| is_dns1123_label(ns) && is_dns1123_subdomain(n)) {
                d.error_at(
                    at("ca"),
                    "Invalid CA reference",
                    format!("{ca:?} is not a CA id (`namespace/secret_name`); use meshtls_ca.<name>.id."),
                );
            }
        }
        check_namespace(&mut d, config, "namespace");
        check_secret_name(&mut d, config, "secret_name");
        // meshtls's own keys: a user value would disown the Secret or point it at another CA.
        for (attr, reserved) in [
            ("secret_labels", &[crate::ownership::MANAGED_BY_LABEL][..]),
            ("secret_annotations", &[crate::ownership::OWNER_ANNOTATION, CA_ANNOTATION][..]),
        ] {
            for key in config.get(attr).as_entries().into_iter().flat_map(|m| m.keys()) {
                if reserved.contains(&key.as_str()) {
                    d.error_at(
                        AttributePath::attrs(&[attr]).key(key),
                        "Reserved key",
                        format!("{key:?} is set by meshtls to mark the Secret as its own; remove it from {attr}."),
                    );
                }
            }
        }
        if let Some(names) = config.get("dns_names").as_elements().filter(|names| {
            // One certificate per service: hundreds of names mean a mistake, and each more
            // name is checked and reported below.
            let too_many = names.len() > MAX_DNS_NAMES;
            if too_many {
                d.error_at(
                    at("dns_names"),
                    "Too many DNS names",
                    format!("{} names given; a certificate takes at most {MAX_DNS_NAMES}. Issue one certificate per service, or use a wildcard such as `*.yelb.svc.cluster.local`.", names.len()),
                );
            }
            !too_many
        }) {
            if names.is_empty() {
                d.error_at(
                    at("dns_names"),
                    "No DNS names",
                    "Give at least one DNS name: the name clients use, e.g. yelb-db.yelb.svc.cluster.local.",
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, name) in names.iter().enumerate() {
                let Some(name) = name.as_str() else { continue };
                if let Some(problem) = dns_name_problem(name) {
                    d.error_at(at("dns_names").index(i), "Invalid DNS name", format!("{name:?}: {problem}."));
                }
                if !seen.insert(name) {
                    d.error_at(
                        at("dns_names").index(i),
                        "Duplicate DNS name",
                        format!("{name:?} appears more than once; list each name once."),
                    );
                }
            }
        }
        if let Some(accounts) = config.get("restrict_secret_access").get("service_accounts").as_elements() {
            if accounts.is_empty() {
                d.error_at(
                    AttributePath::attrs(&["restrict_secret_access", "service_accounts"]),
                    "No service accounts",
                    "Name at least one service account, e.g. the workload's.",
                );
            }
            for (i, sa) in accounts.iter().enumerate() {
                if let Some(sa) = sa.as_str().filter(|sa| !is_dns1123_subdomain(sa)) {
                    d.error_at(
                        AttributePath::attrs(&["restrict_secret_access", "service_accounts"]).index(i),
                        "Invalid service account name",
                        format!("{sa:?} is not a valid service account name."),
                    );
                }
            }
        }
        if let Some(cn) = config.get("common_name").as_str() {
            if cn.trim().is_empty() || cn.chars().count() > 64 {
                d.error_at(
                    at("common_name"),
                    "Invalid common name",
                    format!(
                        "Common name must be 1 to 64 characters (the X.509 limit); got {}. Leave it unset to use the first DNS name.",
                        cn.chars().count()
                    ),
                );
            }
        }
        let validity = config.get("validity_days").as_i64();
        if let Value::Number(n) = config.get("validity_days") {
            if !validity.is_some_and(|v| (1..=MAX_VALIDITY_DAYS).contains(&v)) {
                d.error_at(
                    at("validity_days"),
                    "Invalid validity",
                    format!("validity_days must be a whole number of days from 1 to {MAX_VALIDITY_DAYS}; got {n}."),
                );
            }
        }
        if let Value::Number(n) = config.get("renew_before_days") {
            match (n.as_i64(), validity) {
                (Some(r), _) if !(0..MAX_VALIDITY_DAYS).contains(&r) => d.error_at(
                    at("renew_before_days"),
                    "Invalid renewal window",
                    format!("renew_before_days must be from 0 to {}; got {r}.", MAX_VALIDITY_DAYS - 1),
                ),
                (Some(r), Some(v)) if r >= v => d.error_at(
                    at("renew_before_days"),
                    "Renewal window as long as the validity",
                    format!(
                        "renew_before_days ({r}) must be shorter than validity_days ({v}), or every plan would re-issue the certificate."
                    ),
                ),
                (None, _) => d.error_at(
                    at("renew_before_days"),
                    "Invalid renewal window",
                    format!("renew_before_days must be a whole number; got {n}."),
                ),
                _ => {}
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
        if let Some(usages) = config.get("usages").as_elements() {
            if usages.is_empty() {
                d.error_at(at("usages"), "No usages", "Give at least one of server_auth, client_auth.");
            }
            for (i, u) in usages.iter().enumerate() {
                if let Some(u) = u.as_str().filter(|u| Usage::parse(u).is_none()) {
                    d.error_at(at("usages").index(i), "Unknown usage", format!("{u:?} is not a usage; use {}.", Usage::NAMES.join(" or ")));
                }
            }
        }
        d
    }

    async fn modify_plan(&self, request: PlanRequest<'_>, plan: &mut Plan) {
        // The common name defaults to the first DNS name.
        if request.config.get("common_name").is_null() && plan.planned.get("common_name").is_unknown() {
            if let Some(first) = request.config.get("dns_names").as_elements().and_then(|n| n.first()) {
                plan.planned.set("common_name", first.clone());
            }
        }
        let id = request.prior.get("id").as_str().unwrap_or_default().to_string();
        let mut replace_because = Vec::new();
        if !request.prior.is_null() {
            let note = DriftNote::decode(request.prior_private);
            if !note.drift.is_empty() {
                replace_because.push(format!("Secret {id} changed outside Terraform: {}", note.drift.join("; ")));
            }
            let renew_before = plan.planned.get("renew_before_days").as_i64().unwrap_or(0);
            if let Some(not_after) = parse_time(request.prior.get("not_after")) {
                if inside_renewal_window(OffsetDateTime::now_utc(), renew_before, not_after) {
                    replace_because.push(format!(
                        "the certificate in {id} expires at {}, inside its renewal window of {renew_before} days; it will be re-issued",
                        pki::rfc3339(not_after)
                    ));
                }
            }
        }

        // Checks against the CA need the cluster: skipped while its settings are unknown.
        let creating = request.prior.is_null() || !plan.requires_replace.is_empty() || !replace_because.is_empty();
        if let (Some(ca_id), false) = (request.config.get("ca").as_str(), self.clients.cluster_unknown()) {
            if let Ok(client) = self.clients.kube().await {
                match ca::load(&client, &self.clients.read_cache, ca_id).await {
                    Ok((_, ca_info)) => {
                        let prior_ca = request.prior.get("ca_fingerprint_sha256").as_str();
                        if prior_ca.is_some_and(|fp| fp != ca_info.fingerprint_sha256) {
                            replace_because.push(format!("CA {ca_id} was replaced; certificates it signed are re-issued"));
                        }
                        if let (true, Some(days)) = (
                            creating || prior_ca.is_some_and(|fp| fp != ca_info.fingerprint_sha256),
                            request.config.get("validity_days").as_i64().or(Some(365)),
                        ) {
                            let left = ca_info.not_after - OffsetDateTime::now_utc();
                            if time::Duration::days(days) > left {
                                plan.diagnostics.error_at(
                                    at("validity_days"),
                                    "Certificate would outlive its CA",
                                    format!("validity_days = {days} exceeds the {} days CA {ca_id} has left (it expires at {}). Shorten validity_days or renew the CA.", left.whole_days(), pki::rfc3339(ca_info.not_after)),
                                );
                            }
                        }
                    }
                    // A CA created in the same apply does not exist yet: nothing to check.
                    Err(_) if request.prior.is_null() => {}
                    Err(d) => plan.diagnostics.push(d.at(at("ca"))),
                }
            }
        }

        if !replace_because.is_empty() {
            plan.diagnostics.push(Diagnostic::warning("Certificate will be re-issued", replace_because.join(". ") + "."));
            for attr in ["certificate_pem", "serial_number", "fingerprint_sha256", "not_before", "not_after", "ca_fingerprint_sha256", "id"]
            {
                plan.planned.set(attr, Value::Unknown);
            }
            plan.replace_through("certificate_pem");
            plan.private = Vec::new();
        }
    }

    async fn create(&self, planned: &Value, _config: &Value) -> StateResult {
        let Some(cfg) = CertConfig::from_value(planned) else {
            return StateResult::failed(
                Diagnostic::error("Incomplete configuration", "meshtls_certificate needs known values for every argument at apply time.")
                    .into(),
            );
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        let owner = owner(cfg.namespace, cfg.secret_name);
        let readers = readers(planned);
        // Someone else's Role or RoleBinding of that name is refused before anything is written.
        if readers.is_some() {
            if let Err(e) = secret_access::check_free(&client, &owner, cfg.namespace, cfg.secret_name).await {
                return StateResult::failed(access_error(&e, "read the Secret's Role", cfg.namespace, cfg.secret_name).into());
            }
        }
        let (signer, ca_info) = match ca::load(&client, &self.clients.read_cache, cfg.ca).await {
            Ok(ca) => ca,
            Err(d) => return StateResult::failed(d.at(at("ca")).into()),
        };
        let ca_pem = signer.certificate_pem().to_string();
        // (certificate, chain after it, key)
        let issued: Result<(String, String, String), String> = match signer {
            ca::Signer::Local(material) => {
                let (cn, names, days, alg, usages) =
                    (cfg.common_name.clone(), cfg.dns_names.clone(), cfg.validity_days, cfg.key_algorithm, cfg.usages.clone());
                // Key generation and signing are CPU-bound: keep them off the async workers.
                let result = tokio::task::spawn_blocking(move || {
                    pki::issue_leaf(
                        &material,
                        &pki::LeafRequest { common_name: &cn, dns_names: &names, validity_days: days, key_algorithm: alg, usages: &usages },
                    )
                })
                .await;
                match result {
                    Ok(Ok(i)) => Ok((i.certificate_pem, ca_pem.clone(), i.private_key_pem)),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            ca::Signer::Pca { arn, .. } => self.issue_with_pca(&arn, &cfg, &ca_info).await,
        };
        let (certificate_pem, chain_pem, key_pem) = match issued {
            Ok(i) => i,
            Err(e) => return StateResult::failed(Diagnostic::error("Failed to issue the certificate", e).into()),
        };
        let issued = pki::Issued { certificate_pem, private_key_pem: key_pem };
        let leaf_info = match pki::inspect(&issued.certificate_pem) {
            Ok(i) => i,
            Err(e) => return StateResult::failed(Diagnostic::error("Issued certificate cannot be parsed", e.to_string()).into()),
        };
        let files = TlsFiles {
            ca_crt: ca_pem.clone(),
            tls_crt: format!("{}{}", issued.certificate_pem, chain_pem),
            tls_key: issued.private_key_pem,
        };
        let mut annotations = cfg.annotations.clone();
        annotations.insert(CA_ANNOTATION.into(), cfg.ca.into());
        let mut state = planned.clone();
        state.set("id", format!("{}/{}", cfg.namespace, cfg.secret_name).into());
        state.set("common_name", cfg.common_name.clone().into());
        certificate_attributes(&mut state, &leaf_info, &issued.certificate_pem, &ca_info);
        if let Err(e) = tls_secret::create(&client, &owner, cfg.namespace, cfg.secret_name, &files, cfg.labels.clone(), annotations).await {
            let diagnostics = tls_secret::create_diagnostic("certificate Secret", cfg.namespace, cfg.secret_name, &e).into();
            // A Secret that may exist stays in state (tainted), so it is never lost track of.
            let state = if e.outcome_unknown() { state } else { Value::Null };
            return StateResult { state, private: Vec::new(), diagnostics };
        }
        tracing::info!(namespace = cfg.namespace, secret = cfg.secret_name, serial = %leaf_info.serial_hex, "issued certificate");
        if let Some(accounts) = readers {
            if let Err(e) = secret_access::apply(&client, &owner, cfg.namespace, cfg.secret_name, &accounts).await {
                // The certificate exists and stays in state; the CLI marks it for replacement.
                return StateResult {
                    state,
                    private: Vec::new(),
                    diagnostics: access_error(&e, "restrict access to the Secret", cfg.namespace, cfg.secret_name).into(),
                };
            }
        }
        StateResult::ok(state, Vec::new())
    }

    async fn read(&self, state: &Value, private: &[u8]) -> StateResult {
        if self.clients.cluster_unknown() {
            return StateResult::ok(state.clone(), private.to_vec());
        }
        let (Some(namespace), Some(secret_name)) = (state.get("namespace").as_str(), state.get("secret_name").as_str()) else {
            return StateResult::ok(state.clone(), private.to_vec());
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        let observed = match tls_secret::get(&client, &self.clients.read_cache, namespace, secret_name).await {
            Ok(Some(s)) => s,
            Ok(None) => return StateResult::ok(Value::Null, Vec::new()),
            Err(e) => {
                return StateResult::failed(
                    Diagnostic::error("Failed to read the certificate Secret", format!("Secret {namespace}/{secret_name}: {e}")).into(),
                )
            }
        };
        let mut new_state = state.clone();
        new_state.set("secret_labels", observed_subset(state.get("secret_labels"), &observed.labels));
        new_state.set("secret_annotations", observed_subset(state.get("secret_annotations"), &observed.annotations));
        if !state.get("restrict_secret_access").is_null() {
            match secret_access::service_accounts(&client, &owner(namespace, secret_name), namespace, secret_name).await {
                Ok(accounts) => new_state.set("restrict_secret_access", readers_value(accounts)),
                Err(e) => {
                    return StateResult {
                        state: state.clone(),
                        private: private.to_vec(),
                        diagnostics: e.diagnostic("read the Secret's Role and RoleBinding", "").into(),
                    }
                }
            }
        }
        StateResult::ok(new_state, DriftNote { drift: secret_drift(&observed, state), ..Default::default() }.encode())
    }

    async fn update(&self, prior: &Value, planned: &Value, _config: &Value, private: &[u8]) -> StateResult {
        // Everything else forces replacement: only the renewal window and Secret metadata
        // change in place.
        let (Some(namespace), Some(secret_name)) = (planned.get("namespace").as_str(), planned.get("secret_name").as_str()) else {
            return StateResult::failed(
                Diagnostic::error("Incomplete configuration", "namespace and secret_name must be known at apply.").into(),
            );
        };
        let owner = owner(namespace, secret_name);
        let mut diagnostics = Diagnostics::new();
        if readers(prior) != readers(planned) {
            let client = match self.clients.kube().await {
                Ok(c) => c,
                Err(e) => return StateResult::failed(client_error(e)),
            };
            let result = match readers(planned) {
                Some(accounts) => secret_access::apply(&client, &owner, namespace, secret_name, &accounts).await.map(|()| Vec::new()),
                None => secret_access::delete(&client, &owner, namespace, secret_name).await,
            };
            match result {
                Ok(left_alone) => diagnostics.push_all(left_alone),
                Err(e) => {
                    return StateResult {
                        state: prior.clone(),
                        private: private.to_vec(),
                        diagnostics: access_error(&e, "update access to the Secret", namespace, secret_name).into(),
                    }
                }
            }
        }
        let labels = metadata_patch(prior.get("secret_labels"), planned.get("secret_labels"));
        let annotations = metadata_patch(prior.get("secret_annotations"), planned.get("secret_annotations"));
        if !labels.is_empty() || !annotations.is_empty() {
            let client = match self.clients.kube().await {
                Ok(c) => c,
                Err(e) => return StateResult::failed(client_error(e)),
            };
            if let Err(e) = tls_secret::patch_metadata(&client, &owner, namespace, secret_name, &labels, &annotations).await {
                return StateResult {
                    state: prior.clone(),
                    private: private.to_vec(),
                    diagnostics: e
                        .diagnostic(
                            "update the Secret's labels and annotations",
                            &format!("terraform import <address> {namespace}/{secret_name}"),
                        )
                        .into(),
                };
            }
        }
        StateResult { state: planned.clone(), private: private.to_vec(), diagnostics }
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
        if !prior.get("restrict_secret_access").is_null() {
            match secret_access::delete(&client, &owner, namespace, secret_name).await {
                Ok(left_alone) => diagnostics.push_all(left_alone),
                Err(e) => return e.diagnostic("delete the Secret's Role and RoleBinding", "").into(),
            }
        }
        match tls_secret::delete(&client, &owner, namespace, secret_name).await {
            Ok(deleted) => diagnostics.push_all(deleted.warning()),
            Err(e) => diagnostics.push(e.diagnostic("delete the certificate Secret", "")),
        }
        diagnostics
    }

    async fn import(&self, id: &str) -> StateResult {
        let fail = |summary: &str, detail: String| StateResult::failed(Diagnostic::error(summary, detail).into());
        let (secret_ref, ca_ref) = match id.split_once(':') {
            Some((s, c)) => (s, Some(c)),
            None => (id, None),
        };
        let Some((namespace, secret_name)) = secret_ref.split_once('/').filter(|(ns, n)| is_dns1123_label(ns) && is_dns1123_subdomain(n))
        else {
            return fail(
                "Invalid import ID",
                format!("{id:?} is not of the form `namespace/secret_name` (or `namespace/secret_name:ca_namespace/ca_secret_name`)."),
            );
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        let observed = match tls_secret::get(&client, &self.clients.read_cache, namespace, secret_name).await {
            Ok(Some(s)) => s,
            Ok(None) => return fail("Cannot import: Secret not found", format!("No Secret {namespace}/{secret_name} exists.")),
            Err(e) => return fail("Cannot import", format!("Secret {namespace}/{secret_name}: {e}")),
        };
        let Some(ca_id) = ca_ref.map(str::to_string).or_else(|| observed.annotations.get(CA_ANNOTATION).cloned()) else {
            return fail(
                "Cannot import: which CA signed it?",
                format!("Secret {namespace}/{secret_name} does not record its CA. Name it in the import ID: `{namespace}/{secret_name}:<ca namespace>/<ca secret name>`."),
            );
        };
        if observed.secret_type.as_deref() != Some(TLS_SECRET_TYPE) {
            return fail(
                "Cannot import: not a TLS Secret",
                format!(
                    "Secret {namespace}/{secret_name} is of type {:?}; meshtls manages Secrets of type {TLS_SECRET_TYPE} (ca.crt, tls.crt, tls.key). Import a TLS Secret, or let meshtls create one under another secret_name.",
                    observed.secret_type.as_deref().unwrap_or("")
                ),
            );
        }
        let Some(leaf_pem) = observed.tls_crt.as_deref() else {
            return fail("Cannot import: not a TLS Secret", format!("Secret {namespace}/{secret_name} has no tls.crt."));
        };
        let leaf = match pki::inspect(leaf_pem) {
            Ok(i) => i,
            Err(e) => return fail("Cannot import: tls.crt is not a certificate", format!("Secret {namespace}/{secret_name}: {e}")),
        };
        let (signer, ca_info) = match ca::load(&client, &self.clients.read_cache, &ca_id).await {
            Ok(ca) => ca,
            Err(d) => return StateResult::failed(d.into()),
        };
        match pki::signed_by(leaf_pem, signer.certificate_pem()) {
            Ok(true) => {}
            _ => {
                return fail(
                    "Cannot import: certificate does not chain to the CA",
                    format!(
                        "The certificate in Secret {namespace}/{secret_name} (issuer {:?}) was not signed by CA {ca_id} (subject {:?}).",
                        leaf.issuer, ca_info.subject
                    ),
                )
            }
        }
        if !observed.tls_key.as_deref().is_some_and(|k| pki::key_matches(k, &leaf)) {
            return fail(
                "Cannot import: key does not match",
                format!("tls.key in Secret {namespace}/{secret_name} is missing or is not the certificate's private key."),
            );
        }
        let Some(key_algorithm) = leaf.key_algorithm else {
            return fail(
                "Cannot import: unsupported key",
                format!("The key in Secret {namespace}/{secret_name} is none of {}.", KeyAlgorithm::NAMES.join(", ")),
            );
        };
        let leaf_only = pem::parse_many(leaf_pem.as_bytes())
            .ok()
            .and_then(|blocks| blocks.into_iter().find(|b| b.tag() == "CERTIFICATE"))
            .map(|b| pem::encode(&b).replace("\r\n", "\n"))
            .unwrap_or_else(|| leaf_pem.to_string());
        let mut state = Value::object([
            ("id", Value::from(format!("{namespace}/{secret_name}"))),
            ("ca", ca_id.as_str().into()),
            ("namespace", namespace.into()),
            ("secret_name", secret_name.into()),
            ("dns_names", Value::List(leaf.dns_names.iter().map(|n| Value::from(n.as_str())).collect())),
            ("common_name", Value::opt_string(leaf.common_name.clone())),
            ("validity_days", Value::from((leaf.not_after - leaf.not_before).whole_days())),
            ("renew_before_days", Value::from(30i64)),
            ("key_algorithm", key_algorithm.name().into()),
            ("usages", Value::List(leaf.usages.iter().map(|u| Value::from(u.name())).collect())),
            ("secret_labels", Value::Null),
            ("secret_annotations", Value::Null),
        ]);
        certificate_attributes(&mut state, &leaf, &leaf_only, &ca_info);
        // Everything checked: from here on meshtls manages the Secret, and the Role and
        // RoleBinding that restrict it, if there are.
        let owner = owner(namespace, secret_name);
        if let Err(e) = tls_secret::owned(&client, &owner, namespace, secret_name).adopt().await {
            return StateResult::failed(e.diagnostic("mark the certificate Secret as managed by meshtls", "").into());
        }
        match secret_access::adopt(&client, &owner, namespace, secret_name).await {
            Ok(accounts) => state.set("restrict_secret_access", readers_value(accounts)),
            Err(e) => return StateResult::failed(e.diagnostic("import the Secret's Role and RoleBinding", "").into()),
        }
        StateResult::ok(state, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[tokio::test]
    async fn meshtls_keys_are_reserved_in_secret_metadata() {
        let resource = CertificateResource::new(Clients::new());
        let map = |k: &str| Value::Map(BTreeMap::from([(k.to_string(), Value::from("x"))]));
        let config = Value::object([
            ("namespace", Value::from("yelb")),
            ("secret_name", Value::from("db")),
            ("secret_labels", map("app.kubernetes.io/managed-by")),
            ("secret_annotations", map("meshtls.dev/owner")),
        ]);
        let d = resource.validate(&config).await;
        let paths: Vec<String> =
            d.iter().filter(|d| d.summary == "Reserved key").filter_map(|d| d.path.as_ref().map(|p| p.to_string())).collect();
        assert_eq!(paths, vec!["secret_labels[\"app.kubernetes.io/managed-by\"]", "secret_annotations[\"meshtls.dev/owner\"]"]);
        let fine = Value::object([("namespace", Value::from("yelb")), ("secret_name", Value::from("db")), ("secret_labels", map("team"))]);
        assert!(!resource.validate(&fine).await.iter().any(|d| d.summary == "Reserved key"));
    }

    #[test]
    fn the_renewal_window_is_checked_arithmetic() {
        let now = OffsetDateTime::now_utc();
        let in_40_days = now + time::Duration::days(40);
        assert!(!inside_renewal_window(now, 30, in_40_days));
        assert!(inside_renewal_window(now, 40, in_40_days));
        assert!(inside_renewal_window(now, i64::MAX, in_40_days), "a huge window is reached, without a panic");
        assert!(!inside_renewal_window(now, i64::MIN, in_40_days), "a negative window is none");
    }

    #[tokio::test]
    async fn the_renewal_window_is_bounded_without_a_known_validity() {
        let resource = CertificateResource::new(Clients::new());
        for (renew, ok) in [(30i64, true), (-1, false), (3_000_000, false), (MAX_VALIDITY_DAYS, false)] {
            let config = Value::object([("renew_before_days", Value::from(renew)), ("validity_days", Value::Unknown)]);
            let d = resource.validate(&config).await;
            let flagged = d.iter().any(|d| d.path.as_ref().is_some_and(|p| p.to_string() == "renew_before_days"));
            assert_eq!(flagged, !ok, "renew_before_days = {renew}: {d:?}");
        }
    }

    #[test]
    fn a_certificate_owns_its_objects_by_its_id() {
        assert_eq!(owner("yelb", "yelb-tls-db").to_string(), "meshtls_certificate:yelb/yelb-tls-db");
    }
}
