//! The CA store: where a meshtls CA lives and what can be done with it. A CA is a key in a
//! cluster Secret or an ACM Private CA with its certificate in a Secret. The store makes both
//! kinds, finds a CA again from its Secret by the CA's id, and signs leaf certificates with
//! whichever backs it.

use std::collections::BTreeMap;

use tfplugin::{Context, Diagnostic};

use crate::clients::read_cache::ReadCache;
use crate::clients::{ClientError, Clients};
use crate::ownership::{Claim, Owner, OWNER_TAG};
use crate::pca;
use crate::pki::{self, KeyAlgorithm, Usage};
use crate::tls_secret::{self, TlsFiles};

/// Records on the CA Secret which ACM Private CA signs for it.
pub const PCA_ANNOTATION: &str = "meshtls.dev/acm-pca-arn";

/// Who signs for a CA: its key in the cluster, or ACM Private CA.
pub enum Signer {
    /// The key in the CA Secret `namespace/name`, read only when signing.
    Local {
        namespace: String,
        name: String,
    },
    Pca {
        arn: String,
    },
}

/// A CA as loaded: who signs for it, what its certificate says, and the certificates a leaf
/// it signs is sent and trusted with.
pub struct Ca {
    pub signer: Signer,
    pub info: pki::CertificateInfo,
    /// The CA's certificate, then those up to its root (the root alone for a root).
    chain_pem: String,
    /// The roots its leaves are verified against: the Secret's `ca.crt`.
    trust_pem: String,
}

impl Ca {
    fn new(signer: Signer, chain_pem: String, trust_pem: Option<String>) -> Result<Ca, pki::PkiError> {
        let info = pki::inspect(&chain_pem)?;
        // A CA Secret written without ca.crt (`kubectl create secret tls`) is trusted by its chain's end.
        let trust_pem = trust_pem
            .filter(|t| !pki::certificates(t).is_empty())
            .unwrap_or_else(|| pki::certificates(&chain_pem).last().cloned().unwrap_or_else(|| chain_pem.clone()));
        Ok(Ca { signer, info, chain_pem, trust_pem })
    }

    /// The CA's own certificate.
    pub fn certificate_pem(&self) -> String {
        pki::first_certificate(&self.chain_pem)
    }

    /// What follows a leaf it signs in `tls.crt`: this CA, then up to its root.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// What a leaf's `ca.crt` holds: the roots peers verify it against.
    pub fn trust_pem(&self) -> &str {
        &self.trust_pem
    }
}

/// What a leaf certificate is to say.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafSpec {
    pub common_name: String,
    pub dns_names: Vec<String>,
    pub validity_days: i64,
    pub key_algorithm: KeyAlgorithm,
    pub usages: Vec<Usage>,
}

/// A signed leaf. The key is only ever written to a Secret.
pub struct Leaf {
    pub certificate_pem: String,
    /// The certificates after the leaf up to the CA.
    pub chain_pem: String,
    pub private_key_pem: pki::KeyPem,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("ACM Private CA needs the provider's aws block: {0}")]
    Aws(#[from] ClientError),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error(transparent)]
    Pca(#[from] pca::PcaError),
    #[error("the signing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the CA key: {0}")]
    Key(String),
    #[error("{0} is not supported")]
    Unsupported(String),
}

pub fn kube_error(action: &str, namespace: &str, name: &str, e: &kube::Error) -> Diagnostic {
    Diagnostic::error(format!("Failed to {action}"), format!("Secret {namespace}/{name}: {e}"))
}

/// Reads a meshtls CA from its Secret, given the CA's `id` (`namespace/secret_name`): the
/// certificate and key for a CA in the cluster, the certificate and ARN for an ACM Private CA.
/// Errors say which CA and what is wrong with it.
pub async fn load(client: &kube::Client, cache: &ReadCache, ca_id: &str) -> Result<Ca, Diagnostic> {
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
    let unreadable = |e: pki::PkiError| Diagnostic::error("CA certificate unreadable", format!("Secret {ca_id}: {e}"));
    if let Some(arn) = observed.annotations.get(PCA_ANNOTATION) {
        let certificate_pem =
            observed.ca_crt.ok_or_else(|| Diagnostic::error("Not a CA Secret", format!("Secret {ca_id} lacks ca.crt.")))?;
        return Ca::new(Signer::Pca { arn: arn.clone() }, certificate_pem, None).map_err(unreadable);
    }
    let (Some(certificate_pem), true) = (observed.tls_crt.clone(), observed.key_public.is_some()) else {
        return Err(Diagnostic::error("Not a CA Secret", format!("Secret {ca_id} lacks tls.crt or tls.key.")));
    };
    let ca = Ca::new(Signer::Local { namespace: namespace.into(), name: name.into() }, certificate_pem, observed.ca_crt.clone())
        .map_err(unreadable)?;
    let info = &ca.info;
    if !info.is_ca {
        return Err(Diagnostic::error("Not a CA certificate", format!("The certificate in Secret {ca_id} is not a CA.")));
    }
    if !observed.key_fits(info) {
        return Err(Diagnostic::error(
            "CA key does not match",
            format!("tls.key in Secret {ca_id} is not the key of its tls.crt; the CA needs re-creating."),
        ));
    }
    Ok(ca)
}

impl Ca {
    /// Signs a new leaf for `spec`. Key generation and local signing are CPU-bound and run
    /// off the async workers; with ACM Private CA the key is made here and only the CSR
    /// leaves the machine.
    pub async fn issue(&self, clients: &Clients, spec: LeafSpec) -> Result<Leaf, IssueError> {
        match &self.signer {
            Signer::Local { namespace, name } => {
                let client = clients.kube().await.map_err(|e| IssueError::Key(e.to_string()))?;
                let material = self.local_material(&client, namespace, name).await?;
                let issued = tokio::task::spawn_blocking(move || {
                    pki::issue_leaf(
                        &material,
                        &pki::LeafRequest {
                            common_name: &spec.common_name,
                            dns_names: &spec.dns_names,
                            validity_days: spec.validity_days,
                            key_algorithm: spec.key_algorithm,
                            usages: &spec.usages,
                        },
                    )
                })
                .await??;
                Ok(Leaf {
                    certificate_pem: issued.certificate_pem,
                    chain_pem: self.chain_pem.clone(),
                    private_key_pem: issued.private_key_pem,
                })
            }
            Signer::Pca { arn, .. } => {
                let aws = clients.aws().await?;
                let (alg, cn, names) = (spec.key_algorithm, spec.common_name.clone(), spec.dns_names.clone());
                let (csr, key) = tokio::task::spawn_blocking(move || pki::csr_for(alg, &cn, &names)).await??;
                // The CA's key type decides the signing algorithm.
                let signing = pca::algorithms(self.info.key_algorithm.unwrap_or(KeyAlgorithm::Rsa2048)).1;
                let (certificate_pem, chain_pem) =
                    pca::issue(&aws.acmpca, arn, &csr, signing, pca::END_ENTITY_TEMPLATE, spec.validity_days, &|| clients.stopping())
                        .await?;
                Ok(Leaf { certificate_pem, chain_pem, private_key_pem: key })
            }
        }
    }
}

/// What an intermediate CA is to say.
#[derive(Debug, Clone, PartialEq)]
pub struct IntermediateSpec {
    pub common_name: String,
    pub organization: Option<String>,
    pub validity_days: i64,
    pub key_algorithm: KeyAlgorithm,
    /// How many CA levels may follow it (0: it signs only leaves).
    pub path_len: u8,
}

impl IntermediateSpec {
    pub fn request(&self) -> pki::CaRequest<'_> {
        pki::CaRequest {
            common_name: &self.common_name,
            organization: self.organization.as_deref(),
            validity_days: self.validity_days,
            key_algorithm: self.key_algorithm,
        }
    }
}

impl Ca {
    /// The certificate and key of a CA kept in the cluster. The key is read now, from the
    /// server, and wiped once what it signs is signed.
    async fn local_material(&self, client: &kube::Client, namespace: &str, name: &str) -> Result<pki::CaMaterial, IssueError> {
        let key = tls_secret::read_key(client, namespace, name)
            .await
            .map_err(|e| IssueError::Key(format!("reading Secret {namespace}/{name}: {e}")))?
            .filter(|k| pki::key_matches(k.expose(), &self.info))
            .ok_or_else(|| IssueError::Key(format!("Secret {namespace}/{name} no longer holds its certificate's key")))?;
        Ok(pki::CaMaterial { certificate_pem: self.certificate_pem(), private_key_pem: key })
    }

    /// Signs an intermediate CA under this one, with a new key. Its files: `tls.crt` the
    /// intermediate and then its chain up to the root, `ca.crt` this CA's roots, `tls.key` the
    /// new key (written only to the intermediate's Secret).
    pub async fn sign_intermediate(
        &self,
        clients: &Clients,
        client: &kube::Client,
        spec: IntermediateSpec,
    ) -> Result<TlsFiles, IssueError> {
        let algorithm = spec.key_algorithm;
        // Key generation is CPU-bound (RSA takes seconds): off the async workers.
        let key = tokio::task::spawn_blocking(move || algorithm.generate().map(|k| pki::KeyPem::new(k.serialize_pem()))).await??;
        let (certificate_pem, chain_pem) = self.renew_intermediate(clients, client, &key, spec).await?;
        Ok(TlsFiles {
            tls_crt: format!("{certificate_pem}{chain_pem}"),
            ca_crt: self.trust_pem.clone(),
            tls_key: key,
            layout: tls_secret::Layout::Tls,
        })
    }

    /// A certificate for the intermediate whose key is `key`, signed by this CA: with its key,
    /// read from its Secret through `client` (the parent's cluster), or by ACM Private CA,
    /// which issues a subordinate CA for a CSR of `key` (only the CSR leaves the machine). For
    /// a new intermediate and for a renewal alike. Returns it and its chain up to the root.
    pub async fn renew_intermediate(
        &self,
        clients: &Clients,
        client: &kube::Client,
        key: &pki::KeyPem,
        spec: IntermediateSpec,
    ) -> Result<(String, String), IssueError> {
        match &self.signer {
            Signer::Local { namespace, name } => {
                let material = self.local_material(client, namespace, name).await?;
                let key = key.clone();
                let certificate_pem =
                    tokio::task::spawn_blocking(move || pki::renew_intermediate(&material, &key, &spec.request(), spec.path_len)).await??;
                Ok((certificate_pem, self.chain_pem.clone()))
            }
            Signer::Pca { arn } => {
                let template = pca::subordinate_template(spec.path_len).ok_or_else(|| {
                    IssueError::Unsupported(format!(
                        "path length {} under ACM Private CA (its subordinate templates go up to {})",
                        spec.path_len,
                        pca::MAX_SUBORDINATE_PATH_LEN
                    ))
                })?;
                let aws = clients.aws().await?;
                let csr = pki::ca_csr_with(key, &spec.request())?;
                let signing = pca::algorithms(self.info.key_algorithm.unwrap_or(KeyAlgorithm::Rsa2048)).1;
                Ok(pca::issue(&aws.acmpca, arn, &csr, signing, &template, spec.validity_days, &|| clients.stopping()).await?)
            }
        }
    }
}

/// Generates a self-signed root. Key generation is CPU-bound (RSA takes seconds), so it runs
/// off the async workers.
pub async fn generate_root(
    common_name: &str,
    organization: Option<&str>,
    validity_days: i64,
    key_algorithm: KeyAlgorithm,
) -> Result<pki::Issued, IssueError> {
    let (cn, org) = (common_name.to_string(), organization.map(str::to_string));
    let issued = tokio::task::spawn_blocking(move || {
        pki::self_signed_ca(&pki::CaRequest { common_name: &cn, organization: org.as_deref(), validity_days, key_algorithm })
    })
    .await??;
    Ok(issued)
}

// ---- CAs backed by ACM Private CA ----

/// Where a private CA comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcaSource {
    /// An existing, ACTIVE private CA.
    Adopt(String),
    /// A root CA meshtls creates, from `PcaRoot`.
    Create,
}

/// What a created private root CA says.
pub struct PcaRoot<'a> {
    pub common_name: &'a str,
    pub organization: Option<&'a str>,
    pub key_algorithm: KeyAlgorithm,
    pub validity_days: i64,
}

/// Where the CA Secret of a private CA is.
pub struct PcaSecret<'a> {
    pub client: &'a kube::Client,
    pub owner: &'a Owner,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// A private CA in service: its certificate is in the CA Secret.
pub struct ProvisionedPca {
    pub arn: String,
    pub certificate_pem: String,
    pub info: pki::CertificateInfo,
}

/// Why provisioning stopped. `arn` is set once the private CA exists (AWS bills it), so the
/// caller keeps it in state; `active` is false when it could not be activated.
pub struct PcaFailure {
    pub diagnostic: Diagnostic,
    pub arn: Option<String>,
    pub active: bool,
}

impl PcaFailure {
    fn before(diagnostic: Diagnostic) -> Self {
        PcaFailure { diagnostic, arn: None, active: false }
    }

    fn after(arn: &str, diagnostic: Diagnostic) -> Self {
        PcaFailure { diagnostic, arn: Some(arn.to_string()), active: true }
    }
}

fn pca_at(path: &[&str]) -> tfplugin::AttributePath {
    tfplugin::AttributePath::attrs(path)
}

/// Adopts or creates a private CA and writes its certificate to an Opaque Secret holding only
/// `ca.crt`: no CA key exists in the cluster.
pub async fn provision_pca(
    pca_client: &aws_sdk_acmpca::Client,
    secret: &PcaSecret<'_>,
    source: &PcaSource,
    root: &PcaRoot<'_>,
    stopped: pca::Stopped<'_>,
) -> Result<ProvisionedPca, PcaFailure> {
    let (namespace, name) = (secret.namespace, secret.name);
    // Someone else's Secret of that name is refused before a private CA, which AWS bills,
    // is created for it.
    if let Err(e) = tls_secret::owned(secret.client, secret.owner, namespace, name).check_free().await {
        let hint = format!("terraform import <address> {namespace}/{name}");
        return Err(PcaFailure::before(e.diagnostic("read the CA Secret", &hint).at(pca_at(&["secret_name"]))));
    }
    let arn = match source {
        PcaSource::Adopt(arn) => adopted_pca(pca_client, arn).await?,
        PcaSource::Create => created_pca(pca_client, secret.owner, root).await?,
    };
    // From here on the CA exists: every failure names it, so the caller keeps it in state.
    if *source == PcaSource::Create {
        if let Err(e) = pca::activate_root(pca_client, &arn, root.key_algorithm, root.validity_days, stopped).await {
            let diagnostic = Diagnostic::error(
                "Failed to activate the ACM Private CA",
                format!("{e}. The private CA {arn} exists and is kept in state as tainted: the next apply deletes it and creates it again, and destroy deletes it."),
            );
            return Err(PcaFailure { active: false, ..PcaFailure::after(&arn, diagnostic) });
        }
    }
    let certificate_pem = pca::ca_certificate(pca_client, &arn)
        .await
        .map_err(|e| PcaFailure::after(&arn, Diagnostic::error("Failed to read the ACM Private CA certificate", e.to_string())))?;
    let annotations = BTreeMap::from([(PCA_ANNOTATION.to_string(), arn.clone())]);
    if let Err(e) = tls_secret::create_ca_bundle(secret.client, secret.owner, namespace, name, &certificate_pem, annotations).await {
        return Err(PcaFailure::after(&arn, tls_secret::create_diagnostic("CA Secret", namespace, name, &e)));
    }
    let info = pki::inspect(&certificate_pem)
        .map_err(|e| PcaFailure::after(&arn, Diagnostic::error("ACM Private CA certificate unreadable", e.to_string())))?;
    Ok(ProvisionedPca { arn, certificate_pem, info })
}

/// An adopted private CA, which must be active.
async fn adopted_pca(pca_client: &aws_sdk_acmpca::Client, arn: &str) -> Result<String, PcaFailure> {
    let at_arn = || pca_at(&["acm_pca", "arn"]);
    match pca::status(pca_client, arn).await {
        Ok(Some(status)) if status == "ACTIVE" => Ok(arn.to_string()),
        Ok(Some(status)) => Err(PcaFailure::before(
            Diagnostic::error("ACM Private CA is not active", format!("{arn} is {status}; enable it in ACM Private CA, then apply again."))
                .at(at_arn()),
        )),
        Ok(None) => Err(PcaFailure::before(
            Diagnostic::error(
                "ACM Private CA not found",
                format!("{arn} does not exist in this account and region (provider aws.region)."),
            )
            .at(at_arn()),
        )),
        Err(e) => Err(PcaFailure::before(Diagnostic::error("Cannot read the ACM Private CA", e.to_string()))),
    }
}

/// A new private CA, or the one an earlier create left unactivated.
async fn created_pca(pca_client: &aws_sdk_acmpca::Client, owner: &Owner, root: &PcaRoot<'_>) -> Result<String, PcaFailure> {
    let marker = owner.marker();
    let lookup = |e: pca::PcaError| PcaFailure::before(Diagnostic::error("Cannot list the ACM Private CAs", e.to_string()));
    // A create whose answer was lost, in an earlier apply, left its CA unactivated.
    Ok(match pca::unactivated_of(pca_client, owner).await.map_err(lookup)? {
        Some(arn) => {
            tracing::info!(%arn, "carrying on with the private CA an earlier create left unactivated");
            arn
        }
        None => match pca::create_root(pca_client, &marker, root.common_name, root.organization, root.key_algorithm).await {
            Ok(arn) => arn,
            // The answer may be what failed, after the CA was made: look for it.
            Err(e) => match pca::unactivated_of(pca_client, owner).await {
                Ok(Some(arn)) => {
                    tracing::info!(%arn, error = %e, "CreateCertificateAuthority failed, but created the CA; carrying on with it");
                    arn
                }
                _ => return Err(PcaFailure::before(Diagnostic::error("Failed to create the ACM Private CA", e.to_string()))),
            },
        },
    })
}

/// What refresh finds of a private CA: `None` when ACM Private CA says it is deleted (one it
/// does not find is an error, see [`pca::Presence`]). Otherwise
/// its status, and a note for the plan: the Secret is missing (`secret` is `None`), or what
/// differs from `certificate_pem`, the certificate in state.
pub async fn observe_pca(
    pca_client: &aws_sdk_acmpca::Client,
    arn: &str,
    secret: Option<&tls_secret::ObservedSecret>,
    certificate_pem: &str,
) -> Result<Option<(String, tls_secret::DriftNote)>, Diagnostic> {
    let unreadable = |e: pca::PcaError| Diagnostic::error("Cannot read the ACM Private CA", e.to_string());
    let status = match pca::presence(pca_client, arn).await.map_err(unreadable)? {
        pca::Presence::Status(status) => status,
        pca::Presence::Deleted => {
            tracing::info!(arn, "ACM Private CA is deleted");
            return Ok(None);
        }
        // Not a definite "deleted": a wrong region or account answers the same. Keeping it in
        // state keeps the next plan from creating a second, billed CA.
        pca::Presence::NotFound => {
            return Err(Diagnostic::error(
                "ACM Private CA not found",
                format!(
                    "{arn} is not found in the provider's account and region. Check aws.region and the credentials. If the CA was deleted and its restore period is over, remove it from state (`terraform state rm <address>`) and apply again."
                ),
            ))
        }
    };
    let Some(secret) = secret else {
        // The private CA is what matters, and is billed: while it exists, the plan writes its
        // Secret again instead of creating a second CA.
        tracing::info!(arn, "CA Secret is gone; the private CA remains");
        return Ok(Some((status, tls_secret::DriftNote { secret_missing: true, ..Default::default() })));
    };
    let mut drift = Vec::new();
    if !secret.ca_crt.as_deref().is_some_and(|c| tls_secret::same_pem(c, certificate_pem)) {
        drift.push("ca.crt is not the CA certificate in state".to_string());
    }
    if status == "ACTIVE" && !tls_secret::same_pem(&pca::ca_certificate(pca_client, arn).await.map_err(unreadable)?, certificate_pem) {
        drift.push(format!("the certificate of {arn} changed (the CA was replaced)"));
    }
    Ok(Some((status, tls_secret::DriftNote { drift, ..Default::default() })))
}

/// Writes a private CA's Secret again when it is missing, from the CA's certificate.
pub async fn restore_pca_secret(pca_client: &aws_sdk_acmpca::Client, secret: &PcaSecret<'_>, arn: &str) -> Result<(), Diagnostic> {
    let (namespace, name) = (secret.namespace, secret.name);
    let owned = tls_secret::owned(secret.client, secret.owner, namespace, name);
    if owned.get().await.map_err(|e| e.diagnostic("read the CA Secret", ""))?.is_some() {
        return Ok(());
    }
    let pem = pca::ca_certificate(pca_client, arn).await.diag("read the ACM Private CA certificate")?;
    let annotations = BTreeMap::from([(PCA_ANNOTATION.to_string(), arn.to_string())]);
    tls_secret::create_ca_bundle(secret.client, secret.owner, namespace, name, &pem, annotations)
        .await
        .map_err(|e| tls_secret::create_diagnostic("CA Secret", namespace, name, &e))?;
    tracing::info!(namespace, secret = name, arn, "wrote the private CA's Secret again");
    Ok(())
}

/// Disables and deletes a private CA meshtls created. One tagged as another resource's is left
/// in place with a warning; one without the tag was created before meshtls tagged its CAs,
/// and state says `owner` made it.
pub async fn retire_pca(
    pca_client: &aws_sdk_acmpca::Client,
    owner: &Owner,
    arn: &str,
    permanent_deletion_days: i32,
) -> Result<Option<Diagnostic>, Diagnostic> {
    match pca::owner_tag(pca_client, arn).await.map(|tag| owner.claim_recorded(tag.as_deref(), Claim::Ours)) {
        Ok(claim @ (Claim::OtherResource(_) | Claim::OtherState { .. })) => Ok(Some(Diagnostic::warning(
            "ACM Private CA left in place",
            format!("{arn} is tagged {OWNER_TAG} and {}, so destroy did not delete it.", claim.describe()),
        ))),
        Ok(_) => pca::disable_and_delete(pca_client, arn, permanent_deletion_days).await.map(|()| None).diag("delete the ACM Private CA"),
        // A CA that is gone already has nothing to delete.
        Err(_) if matches!(pca::status(pca_client, arn).await, Ok(None)) => Ok(None),
        Err(e) => Err(Diagnostic::error("Failed to read the ACM Private CA's tags", e.to_string())),
    }
}
