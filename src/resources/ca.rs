//! `meshtls_ca`: a certificate authority whose key lives only in a Kubernetes Secret, or
//! behind ACM Private CA.
//!
//! State holds the certificate, its fingerprint and expiry, never the key. Drift in the
//! Secret (deleted, or any of its three files changed) is found on refresh: a deleted Secret
//! plans a create, a changed one a replacement with a warning naming what changed.
//!
//! With `istio_plugin`, a copy of the key pair is also kept as Istio's plug-in CA
//! (`<istiod namespace>/cacerts`), so the CA the App Mesh runbook made serves istiod unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::Validator;
use tfplugin::{
    at, Attr, AttributePath, Context, Diagnostic, Diagnostics, Failure, Outcome, Saved, TypedPlan, TypedPlanRequest, TypedResource,
};

use crate::backends::istio::plugin_ca;
use crate::ca_store::{self, kube_error, PcaRoot, PcaSecret, PcaSource, PCA_ANNOTATION};
use crate::cert_manager::{self, IssuerKind};
use crate::clients::{client_error, Clients};
use crate::names::{check_namespace, check_secret_name, is_dns1123_label, is_dns1123_subdomain};
use crate::ownership::{Claim, OwnError, Owner};
use crate::pca;
use crate::pki::{self, KeyAlgorithm, MAX_VALIDITY_DAYS, X509_NAME_MAX};
use crate::resources::mesh_tls::single;
use crate::tls_secret::{self, DriftNote, TlsFiles, TLS_SECRET_TYPE};

mod list;
mod model;
mod plan;

pub use list::CaList;
pub use model::CertificateAuthority;
use model::*;
use plan::*;

pub use crate::backends::istio::plugin_ca::{NAMESPACE as ISTIO_NAMESPACE, SECRET as ISTIO_PLUGIN_SECRET};
pub const TYPE_NAME: &str = "meshtls_ca";
/// How close to its expiry a CA is when plan starts to warn, unless `warn_before_days` says.
const DEFAULT_WARN_BEFORE_DAYS: i64 = 90;
const DEFAULT_DELETION_DAYS: i64 = 7;
const ACTIVE: &str = "ACTIVE";

pub struct CaResource {
    clients: Arc<Clients>,
}

/// The owner of a CA's Secret and issuer: the CA's id, `namespace/secret_name`, and its
/// `owner_id`.
fn owner(namespace: &str, secret_name: &str, m: &CertificateAuthority) -> Result<Owner, crate::ownership::OwnerIdError> {
    Owner::of_attr(TYPE_NAME, &format!("{namespace}/{secret_name}"), &m.owner_id)
}

/// How to import a CA together with an issuer someone else made.
fn import_hint(namespace: &str, secret_name: &str, kind: IssuerKind, name: &str) -> String {
    format!("terraform import <address> {namespace}/{secret_name}:{}/{name}", kind.name())
}

fn issuer_error(e: &OwnError, action: &str, spec: &CaSpec, kind: IssuerKind, name: &str) -> Diagnostic {
    e.diagnostic(action, &import_hint(&spec.namespace, &spec.secret_name, kind, name))
        .at(AttributePath::attrs(&["cert_manager_issuer", "name"]))
}

/// The plug-in copy's Secret is someone else's: meshtls will not overwrite istiod's CA.
fn plugin_refused(namespace: &str, claim: &Claim) -> Diagnostic {
    Diagnostic::error(
        format!("Secret {namespace}/{ISTIO_PLUGIN_SECRET} already exists"),
        format!(
            "Secret {namespace}/{ISTIO_PLUGIN_SECRET}, Istio's plug-in CA, exists and {}, so meshtls will not replace it: istiod would sign with another CA from its next start. Remove it first if this CA is to take over, or drop istio_plugin.",
            claim.describe()
        ),
    )
    .at(AttributePath::attrs(&["istio_plugin", "namespace"]))
}

/// Writes the plug-in copy in `namespace` (see `plugin_ca::write`), or says why not.
async fn write_plugin_copy(client: &kube::Client, owner: &Owner, namespace: &str, files: &TlsFiles) -> Result<(), Diagnostic> {
    match plugin_ca::write(client, owner, namespace, files).await {
        Ok(()) => Ok(()),
        Err(OwnError::NotOurs { claim, .. }) => Err(plugin_refused(namespace, &claim)),
        Err(e) => Err(e.diagnostic("write Istio's plug-in CA Secret", "")),
    }
}

/// Whether the plug-in copy in `namespace` is this CA's and holds `certificate_pem`.
async fn plugin_copy_in_place(
    client: &kube::Client,
    cache: &crate::clients::read_cache::ReadCache,
    owner: &Owner,
    namespace: &str,
    certificate_pem: &str,
) -> Result<bool, Diagnostic> {
    plugin_ca::holds(client, cache, owner, namespace, certificate_pem)
        .await
        .map_err(|e| kube_error("read Istio's plug-in CA Secret", namespace, ISTIO_PLUGIN_SECRET, &e))
}

impl CaResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        CaResource { clients }
    }

    async fn acmpca(&self) -> Result<aws_sdk_acmpca::Client, Diagnostic> {
        match self.clients.aws().await {
            Ok(aws) => Ok(aws.acmpca.clone()),
            Err(e) => Err(Diagnostic::error("ACM Private CA needs the provider's aws block", e.to_string()).at(at("acm_pca"))),
        }
    }

    /// A CA whose key is kept only in its Secret, with its issuer if asked for: made here, or
    /// the configuration's `key_pair` (whose key is `given`).
    async fn create_local(
        &self,
        client: &kube::Client,
        spec: &CaSpec,
        given: Option<GivenKey>,
        mut state: CertificateAuthority,
    ) -> Outcome<CertificateAuthority> {
        let (namespace, secret_name) = (spec.namespace.as_str(), spec.secret_name.as_str());
        let owner = owner(namespace, secret_name, &state)?;
        // Someone else's issuer of that name is refused before anything is written.
        if let Some((kind, name)) = spec.issuer_ref() {
            cert_manager::owned(client, &owner, kind, namespace, name)
                .check_free()
                .await
                .map_err(|e| issuer_error(&e, "read the cert-manager issuer", spec, kind, name))?;
        }
        let issued = match (state.given_certificate(), given) {
            (Some(certificate_pem), Some(GivenKey(private_key_pem))) => {
                key_pair_problem(certificate_pem, private_key_pem.expose(), time::OffsetDateTime::now_utc())
                    .map_or(Ok(()), |(path, d)| Err(d.at(path)))?;
                pki::Issued { certificate_pem: certificate_pem.to_string(), private_key_pem }
            }
            (Some(_), None) => return Err(Diagnostic::error(
                "Missing CA key",
                "key_pair.private_key_pem_wo was not in the configuration at apply. It is write-only: give it in the configuration every apply that creates the CA.",
            )
            .at(AttributePath::attrs(&["key_pair", "private_key_pem_wo"]))
            .into()),
            (None, _) => {
                let cn = spec.common_name.as_deref().unwrap_or_default();
                ca_store::generate_root(cn, spec.organization.as_deref(), spec.validity_days, spec.key_algorithm)
                    .await
                    .diag("generate the CA")?
            }
        };
        state
            .set_certificate(&issued.certificate_pem)
            .map_err(|e| Diagnostic::error("Generated certificate cannot be parsed", e.to_string()))?;
        let files = TlsFiles { ca_crt: issued.certificate_pem.clone(), tls_crt: issued.certificate_pem, tls_key: issued.private_key_pem };
        // Istio's plug-in CA Secret of someone else's is refused before anything is written.
        if let Some(ns) = spec.istio_namespace.as_deref() {
            if let Some((_, claim)) = tls_secret::owned(client, &owner, ns, ISTIO_PLUGIN_SECRET)
                .get()
                .await
                .map_err(|e| e.diagnostic("read Istio's plug-in CA Secret", ""))?
                .filter(|(_, claim)| *claim != Claim::Ours)
            {
                return Err(plugin_refused(ns, &claim).into());
            }
        }
        if let Err(e) = tls_secret::create(client, &owner, namespace, secret_name, &files, BTreeMap::new(), BTreeMap::new()).await {
            let failure = Failure::new(tls_secret::create_diagnostic("CA Secret", namespace, secret_name, &e));
            // A Secret that may exist stays in state (tainted), so it is never lost track of.
            return Err(if e.outcome_unknown() { failure.keeping(state.unfinished()) } else { failure });
        }
        tracing::info!(namespace, secret = secret_name, "created CA Secret");
        if let Some((kind, name)) = spec.issuer_ref() {
            if let Err(e) = cert_manager::ensure(client, &owner, kind, namespace, name, secret_name).await {
                // The Secret exists: keep it in state (the CLI marks it tainted) so nothing is orphaned.
                let mut d = issuer_error(&e, "create the cert-manager issuer", spec, kind, name);
                if matches!(e, OwnError::Kube(_)) {
                    d.detail.push_str(". Is cert-manager (its CRDs) installed?");
                }
                state.cert_manager_issuer = None;
                state.istio_plugin = None;
                return Err(Failure::new(d).keeping(state));
            }
        }
        if let Some(ns) = spec.istio_namespace.as_deref() {
            if let Err(d) = write_plugin_copy(client, &owner, ns, &files).await {
                // The CA exists: it stays in state, and the next apply writes the copy.
                state.istio_plugin = None;
                return Err(Failure::new(d).keeping(state));
            }
        }
        Ok(state.into())
    }

    /// A CA behind ACM Private CA, adopted or created; its Secret holds only `ca.crt`.
    async fn create_pca(
        &self,
        client: &kube::Client,
        spec: &CaSpec,
        source: &PcaSource,
        mut state: CertificateAuthority,
    ) -> Outcome<CertificateAuthority> {
        let pca_client = self.acmpca().await?;
        let owner = owner(&spec.namespace, &spec.secret_name, &state)?;
        let secret = PcaSecret { client, owner: &owner, namespace: &spec.namespace, name: &spec.secret_name };
        let root = PcaRoot {
            common_name: spec.common_name.as_deref().unwrap_or_default(),
            organization: spec.organization.as_deref(),
            key_algorithm: spec.key_algorithm,
            validity_days: spec.validity_days,
        };
        let provisioned = match ca_store::provision_pca(&pca_client, &secret, source, &root, &|| self.clients.stopping()).await {
            Ok(p) => p,
            // A private CA that exists stays in state, so destroy finds it.
            Err(ca_store::PcaFailure { diagnostic, arn: Some(arn), active }) => {
                state.pca_arn = Attr::Known(arn);
                state.pca_status = if active { Attr::Known(ACTIVE.into()) } else { Attr::Null };
                return Err(Failure::new(diagnostic).keeping(state.unfinished()));
            }
            Err(failure) => return Err(failure.diagnostic.into()),
        };
        state.pca_arn = Attr::Known(provisioned.arn);
        state.pca_status = Attr::Known(ACTIVE.into());
        if matches!(state.common_name, Attr::Unknown | Attr::Null) {
            state.common_name = provisioned.info.common_name.clone().into();
        }
        if state.organization.is_unknown() {
            state.organization = provisioned.info.organization.clone().into();
        }
        if let Err(e) = state.set_certificate(&provisioned.certificate_pem) {
            return Err(Failure::new(Diagnostic::error("ACM Private CA certificate unreadable", e.to_string())).keeping(state.unfinished()));
        }
        Ok(state.into())
    }
}

#[async_trait]
impl TypedResource for CaResource {
    type Model = CertificateAuthority;
    type Identity = crate::resources::identity::SecretIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn identity(&self, state: &Self::Model) -> Option<Self::Identity> {
        crate::resources::identity::SecretIdentity::of(&state.namespace, &state.secret_name)
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
                        .validator(Validator::not_blank())
                        .validator(Validator::length_range(1, X509_NAME_MAX))
                        .description("Subject common name of the CA certificate. Required, except when adopting an ACM Private CA (then read from it)."),
                )
                .attribute(Attribute::string("organization").optional().requires_replace().validator(Validator::not_blank()).validator(Validator::length_range(1, X509_NAME_MAX)).description("Subject organization of the CA certificate."))
                .attribute(Attribute::number("validity_days").default(3650i64).validator(Validator::int_range(1, MAX_VALIDITY_DAYS)).requires_replace().description("Lifetime of the CA certificate in days. Defaults to 3650."))
                .attribute(Attribute::number("warn_before_days").optional().validator(Validator::int_range(1, MAX_VALIDITY_DAYS)).description("Warn at plan once the CA is this close to its expiry, in days. Defaults to 90."))
                .attribute(
                    Attribute::string("key_algorithm")
                        .default("ECDSA_P256")
                        .requires_replace()
                        .validator(Validator::one_of(&KeyAlgorithm::NAMES))
                        .description("Defaults to `ECDSA_P256`."),
                )
                .attribute(Attribute::string("certificate_pem").computed().use_state_for_unknown().description("The CA certificate, PEM-encoded."))
                .attribute(Attribute::string("fingerprint_sha256").computed().use_state_for_unknown().description("SHA-256 fingerprint of the certificate (DER), colon-separated hex."))
                .attribute(Attribute::string("serial_number").computed().use_state_for_unknown().description("Serial number, colon-separated hex."))
                .attribute(Attribute::string("not_after").computed().use_state_for_unknown().description("Expiry of the certificate, RFC 3339."))
                .attribute(Attribute::string("pca_arn").computed().use_state_for_unknown().description("ARN of the ACM Private CA behind this CA, when `acm_pca` is set."))
                .attribute(Attribute::string("pca_status").computed().description("Status of the ACM Private CA (`ACTIVE` when in order); anything else shows as drift in plan."))
                .attribute(crate::resources::owner_id_attribute())
                .block(single("cert_manager_issuer", issuer))
                .block(
                    single(
                        "acm_pca",
                        Block::new("Keep the root of trust in AWS Private CA instead of a key in the cluster: adopt an existing CA (`arn`) or create a root CA (`create`). The Secret then holds only `ca.crt`.")
                            .attribute(Attribute::string("arn").optional().description("ARN of an existing, ACTIVE private CA to adopt. Destroy leaves it in place."))
                            .block(single(
                                "create",
                                Block::new("Create a root CA from this resource's `common_name`, `organization`, `key_algorithm` and `validity_days`; destroy disables and deletes it.")
                                    .attribute(Attribute::number("permanent_deletion_days").optional().description("Days ACM Private CA keeps the deleted CA restorable, 7 to 30. Defaults to 7.")),
                            )),
                    )
                    .requires_replace(),
                )
                .block(
                    single(
                        "key_pair",
                        Block::new("Use an existing CA instead of generating one: its certificate and private key, e.g. the runbook's openssl-made `ca.crt` and `ca.key`. The key is a write-only argument (Terraform 1.11+, OpenTofu 1.11+): it is written to the Secret and never stored in state or plan. The certificate decides `common_name`, `organization`, `validity_days` and `key_algorithm`.")
                            .attribute(Attribute::string("certificate_pem").required().description("The CA certificate, PEM-encoded. It must be a CA (basicConstraints CA:TRUE) and valid now."))
                            .attribute(Attribute::string("private_key_pem_wo").required().sensitive().write_only().description("The CA's private key, PEM-encoded (PKCS#8, PKCS#1 or SEC1). Write-only: never in state, plan or logs."))
                            .attribute(Attribute::number("private_key_pem_wo_version").required().description("Any whole number; change it to write a new key pair. A change replaces the CA, since the key itself is never compared.")),
                    )
                    .requires_replace(),
                )
                .block(single(
                    "istio_plugin",
                    Block::new("Also serve as Istio's plug-in CA: a copy of this CA's key pair in the Secret `cacerts` of istiod's namespace, which istiod signs every workload certificate with. Adding or removing the block changes only the copy, so the CA and the certificates it signed stay as they are.")
                        .attribute(Attribute::string("namespace").optional().description("istiod's namespace. Defaults to `istio-system`.")),
                )),
        )
    }

    async fn validate(&self, config: &CertificateAuthority) -> Diagnostics {
        validate(config)
    }

    async fn modify_plan(&self, request: TypedPlanRequest<'_, CertificateAuthority>, plan: &mut TypedPlan<CertificateAuthority>) {
        let note = DriftNote::decode(request.prior_private);
        let replaced = self::plan(request.prior, request.config, &mut plan.planned, &note, &mut plan.diagnostics);
        if let (Some(prior), Some(_)) = (request.prior, &request.config.key_pair) {
            let planned = &plan.planned;
            plan.requires_replace.retain(|path| !derived_unchanged(path, prior, planned));
        }
        if replaced {
            plan.replace_through("certificate_pem");
            plan.private = Vec::new();
        }
        let replacing = replaced || !plan.requires_replace.is_empty();
        plan.diagnostics.push_all(plugin_replaced(request.prior, request.config, replacing));
        if let Some(prior) = request.prior.filter(|_| !replacing) {
            let warn_before_days = request.config.warn_before_days.known().copied().unwrap_or(DEFAULT_WARN_BEFORE_DAYS);
            plan.diagnostics.push_all(expiry_warning(prior, warn_before_days, time::OffsetDateTime::now_utc()));
        }
    }

    async fn create(&self, planned: CertificateAuthority, config: CertificateAuthority) -> Outcome<CertificateAuthority> {
        let spec = CaSpec::of(&planned)?;
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = Owner::of_attr(TYPE_NAME, &spec.id(), &planned.owner_id)?;
        let state = CertificateAuthority { id: Attr::Known(spec.id()), owner_id: owner.attr(), ..planned };
        match &spec.backing {
            Backing::SelfSigned => self.create_local(&client, &spec, config.given_key(), state).await,
            Backing::Pca(source) => self.create_pca(&client, &spec, source, state).await,
        }
    }

    async fn read(
        &self,
        mut state: CertificateAuthority,
        private: &[u8],
    ) -> Result<Option<Saved<CertificateAuthority>>, Failure<CertificateAuthority>> {
        let found =
            state.secret_ref().zip(state.certificate_pem.as_deref()).map(|((ns, n), pem)| (ns.to_string(), n.to_string(), pem.to_string()));
        let (Some((namespace, secret_name, certificate_pem)), false) = (found, self.clients.cluster_unknown()) else {
            return Ok(Some(Saved::new(state).with_private(private.to_vec())));
        };
        let client = self.clients.kube().await.map_err(client_error)?;
        let observed = tls_secret::get(&client, &self.clients.read_cache, &namespace, &secret_name)
            .await
            .map_err(|e| kube_error("read the CA Secret", &namespace, &secret_name, &e))?;
        if let Some(arn) = state.pca_arn.known().cloned() {
            let pca_client = self.acmpca().await?;
            return Ok(ca_store::observe_pca(&pca_client, &arn, observed.as_ref(), &certificate_pem).await?.map(|(status, note)| {
                state.pca_status = Attr::Known(status);
                Saved::new(state).with_private(note.encode())
            }));
        }
        let Some(observed) = observed else {
            // The key went with the Secret, so the CA is made anew; but its issuer and plug-in
            // copy may remain, and only this state can remove them: it keeps the CA, and the
            // plan replaces it.
            tracing::info!(namespace, secret = secret_name, "CA Secret is gone");
            let note = DriftNote { drift: vec!["the CA Secret was deleted, and its key with it".into()], ..Default::default() };
            return Ok(Some(Saved::new(state).with_private(note.encode())));
        };
        let note = DriftNote { drift: secret_drift(&observed, &certificate_pem), ..Default::default() };
        if let Some((kind, name)) = state.issuer() {
            // An issuer that is gone, or is no longer this CA's, plans its re-creation.
            let secret = cert_manager::secret_of(&client, &owner(&namespace, &secret_name, &state)?, kind, &namespace, name)
                .await
                .map_err(|e| e.diagnostic("read the cert-manager issuer", ""))?;
            if secret.flatten().as_deref() != Some(secret_name.as_str()) {
                state.cert_manager_issuer = None;
            }
        }
        // A plug-in copy that is gone, changed or someone else's plans its re-creation.
        if let Some(ns) = state.istio_plugin.as_ref().and_then(IstioPlugin::namespace).map(str::to_string) {
            let owner = owner(&namespace, &secret_name, &state)?;
            if !plugin_copy_in_place(&client, &self.clients.read_cache, &owner, &ns, &certificate_pem).await? {
                state.istio_plugin = None;
            }
        }
        Ok(Some(Saved::new(state).with_private(note.encode())))
    }

    async fn update(
        &self,
        prior: CertificateAuthority,
        planned: CertificateAuthority,
        _config: CertificateAuthority,
        private: &[u8],
    ) -> Outcome<CertificateAuthority> {
        // Every other argument forces replacement: only the issuer, the private CA's status
        // and a missing Secret change in place.
        let spec = CaSpec::of(&planned)?;
        let client = self.clients.kube().await.map_err(client_error)?;
        if let (Some(arn), Some(status)) = (prior.pca_arn.as_deref(), prior.pca_status.as_deref().filter(|s| *s != ACTIVE)) {
            if prior.backing() != Backing::Pca(PcaSource::Create) {
                return Err(Diagnostic::error(
                    "ACM Private CA is not active",
                    format!("{arn} is {status}. meshtls does not re-enable a private CA it did not create: enable it in ACM Private CA, then apply again."),
                )
                .into());
            }
            pca::set_status(&self.acmpca().await?, arn, aws_sdk_acmpca::types::CertificateAuthorityStatus::Active)
                .await
                .diag("re-enable the ACM Private CA")?;
        }
        let owner = owner(&spec.namespace, &spec.secret_name, &planned)?;
        if let Some(arn) = prior.pca_arn.as_deref() {
            let secret = PcaSecret { client: &client, owner: &owner, namespace: &spec.namespace, name: &spec.secret_name };
            ca_store::restore_pca_secret(&self.acmpca().await?, &secret, arn).await?;
        }
        let mut warnings = Diagnostics::new();
        if let Some((kind, name)) = prior.issuer().filter(|old| Some(*old) != spec.issuer_ref()) {
            let deleted = cert_manager::delete(&client, &owner, kind, &spec.namespace, name)
                .await
                .map_err(|e| e.diagnostic("delete the old cert-manager issuer", ""))?;
            warnings.push_all(deleted.warning());
        }
        let prior_plugin = prior.istio_plugin.as_ref().and_then(IstioPlugin::namespace).map(str::to_string);
        if let Some(old) = prior_plugin.as_deref().filter(|old| Some(*old) != spec.istio_namespace.as_deref()) {
            let deleted =
                plugin_ca::delete(&client, &owner, old).await.map_err(|e| e.diagnostic("delete the old Istio plug-in CA Secret", ""))?;
            warnings.push_all(deleted.warning());
        }
        let mut state = kept_from(planned, &prior);
        if let Some((kind, name)) = spec.issuer_ref() {
            if let Err(e) = cert_manager::ensure(&client, &owner, kind, &spec.namespace, name, &spec.secret_name).await {
                state.cert_manager_issuer = None;
                warnings.push(issuer_error(&e, "create the cert-manager issuer", &spec, kind, name));
                return Err(Failure::new(warnings).keeping(state));
            }
        }
        if let (Some(ns), Some(certificate_pem)) = (spec.istio_namespace.as_deref(), state.certificate_pem.known().cloned()) {
            let in_place = prior_plugin.as_deref() == Some(ns)
                && plugin_copy_in_place(&client, &self.clients.read_cache, &owner, ns, &certificate_pem).await?;
            if !in_place {
                // The key is read from the CA's own Secret: it is in no state or plan.
                let tls_key = tls_secret::read_key(&client, &spec.namespace, &spec.secret_name)
                    .await
                    .map_err(|e| kube_error("read the CA Secret", &spec.namespace, &spec.secret_name, &e))?;
                let Some(tls_key) = tls_key else {
                    state.istio_plugin = None;
                    warnings.push(Diagnostic::error(
                        "No CA key to plug into Istio",
                        format!(
                            "Secret {}/{} holds no tls.key, so there is no key for istiod to sign with.",
                            spec.namespace, spec.secret_name
                        ),
                    ));
                    return Err(Failure::new(warnings).keeping(state));
                };
                let files = TlsFiles { ca_crt: certificate_pem.clone(), tls_crt: certificate_pem, tls_key };
                if let Err(d) = write_plugin_copy(&client, &owner, ns, &files).await {
                    state.istio_plugin = None;
                    warnings.push(d);
                    return Err(Failure::new(warnings).keeping(state));
                }
            }
        }
        Ok(Saved::new(state).with_private(private.to_vec()).warn(warnings))
    }

    async fn delete(&self, prior: CertificateAuthority, _private: &[u8]) -> Result<Diagnostics, Diagnostics> {
        let Some((namespace, secret_name)) = prior.secret_ref() else { return Ok(Diagnostics::new()) };
        let client = self.clients.kube().await.map_err(client_error)?;
        let owner = owner(namespace, secret_name, &prior).map_err(|e| Diagnostics::from(Diagnostic::from(e)))?;
        let mut diagnostics = Diagnostics::new();
        if let Some((kind, name)) = prior.issuer() {
            let deleted = cert_manager::delete(&client, &owner, kind, namespace, name)
                .await
                .map_err(|e| Diagnostics::from(e.diagnostic("delete the cert-manager issuer", "")))?;
            diagnostics.push_all(deleted.warning());
        }
        // A private CA meshtls created is disabled and deleted; an adopted one stays.
        if let (Backing::Pca(PcaSource::Create), Some(arn)) = (prior.backing(), prior.pca_arn.as_deref()) {
            let pca_client = self.acmpca().await?;
            diagnostics.push_all(ca_store::retire_pca(&pca_client, &owner, arn, prior.deletion_days()).await?);
        }
        if let Some(ns) = prior.istio_plugin.as_ref().and_then(IstioPlugin::namespace) {
            match plugin_ca::delete(&client, &owner, ns).await {
                Ok(deleted) => diagnostics.push_all(deleted.warning()),
                Err(e) => return Err(Diagnostics::from(e.diagnostic("delete Istio's plug-in CA Secret", ""))),
            }
        }
        match tls_secret::delete(&client, &owner, namespace, secret_name).await {
            Ok(deleted) => diagnostics.push_all(deleted.warning()),
            Err(e) => return Err(Diagnostics::from(e.diagnostic("delete the CA Secret", ""))),
        }
        Ok(diagnostics)
    }

    async fn import(&self, id: &str) -> Outcome<CertificateAuthority> {
        let (namespace, secret_name, issuer) = parse_import_id(id).ok_or_else(|| {
            Diagnostic::error(
                "Invalid import ID",
                format!("{id:?} is not of the form `namespace/secret_name` or `namespace/secret_name:Issuer/name` (or `:ClusterIssuer/name`), e.g. `yelb/ca-key-pair:Issuer/ca-issuer`."),
            )
        })?;
        let client = self.clients.kube().await.map_err(client_error)?;
        let observed = tls_secret::get(&client, &self.clients.read_cache, namespace, secret_name)
            .await
            .map_err(|e| kube_error("read the CA Secret", namespace, secret_name, &e))?
            .ok_or_else(|| Diagnostic::error("Cannot import: Secret not found", format!("No Secret {namespace}/{secret_name} exists.")))?;
        let mut state = imported(namespace, secret_name, &observed)?;
        if issuer.is_some() && !state.pca_arn.is_null() {
            return Err(Diagnostic::error(
                "Cannot import an issuer with a private CA",
                "A cert-manager CA issuer needs the CA key in the cluster; an ACM Private CA has none there.",
            )
            .into());
        }
        // Everything checked: from here on meshtls manages what it imports.
        let owner = Owner::fresh(TYPE_NAME, &format!("{namespace}/{secret_name}"))?;
        state.owner_id = owner.attr();
        tls_secret::owned(&client, &owner, namespace, secret_name)
            .adopt()
            .await
            .map_err(|e| e.diagnostic("mark the CA Secret as managed by meshtls", ""))?;
        if let Some((kind, name)) = issuer {
            let what = format!("{} {name}", kind.name());
            let adopted = cert_manager::adopt(&client, &owner, kind, namespace, name, secret_name)
                .await
                .map_err(|e| e.diagnostic("import the cert-manager issuer", ""))?;
            match adopted {
                cert_manager::Adopted::Yes => {}
                cert_manager::Adopted::Missing => {
                    return Err(Diagnostic::error("Cannot import: issuer not found", format!("No {what} exists.")).into())
                }
                cert_manager::Adopted::OtherSecret(other) => {
                    return Err(Diagnostic::error(
                        "Cannot import: the issuer is not this CA's",
                        format!(
                            "{what} is not a `ca` issuer of Secret {namespace}/{secret_name} (it names {}). Import the CA alone, or give its own issuer.",
                            other.map(|o| format!("Secret {o:?}")).unwrap_or_else(|| "no CA Secret".into())
                        ),
                    )
                    .into())
                }
            }
            state.cert_manager_issuer = Some(IssuerBlock { kind: kind.name().into(), name: name.into() });
        }
        Ok(Saved::new(state).warn(Diagnostics(owner.takeover_warnings())))
    }
}

#[cfg(test)]
mod tests;
