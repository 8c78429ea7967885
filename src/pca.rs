//! AWS Private CA (ACM PCA): the thin client meshtls needs to adopt or create a root CA and to
//! issue certificates through it. Throttling and passing failures are retried by the SDK's
//! own retry strategy (see `clients::aws`), and only there; everything else becomes an error
//! that names the CA.

use std::time::Duration;

use aws_sdk_acmpca::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_acmpca::primitives::Blob;
use aws_sdk_acmpca::types as pca;

use crate::clients::error::{BackendError, ErrorKind};
use crate::ownership::{Claim, Owner, OWNER_TAG};
use crate::pki::KeyAlgorithm;

pub const ROOT_TEMPLATE: &str = "arn:aws:acm-pca:::template/RootCACertificate/V1";
pub const END_ENTITY_TEMPLATE: &str = "arn:aws:acm-pca:::template/EndEntityCertificate/V1";
/// The longest path length ACM Private CA's subordinate CA templates give.
pub const MAX_SUBORDINATE_PATH_LEN: u8 = 3;

/// The template that issues a subordinate CA with `path_len` (`SubordinateCACertificate_PathLen<N>/V1`).
pub fn subordinate_template(path_len: u8) -> Option<String> {
    (path_len <= MAX_SUBORDINATE_PATH_LEN).then(|| format!("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen{path_len}/V1"))
}
/// How long issuance may take before meshtls gives up with a timeout error.
pub const ISSUE_DEADLINE: Duration = Duration::from_secs(300);

/// Every failure here is a [`BackendError`] of this side.
pub type PcaError = BackendError;
const SIDE: &str = "ACM Private CA";

fn err<E>(what: &str, arn: &str, e: SdkError<E>) -> PcaError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let hint = match code(&e).unwrap_or_default() {
        "AccessDeniedException" => "Grant the provider's identity acm-pca permissions on this CA.",
        "InvalidStateException" => "The CA must be ACTIVE: enable it in ACM Private CA.",
        "ResourceNotFoundException" => "Check the ARN and the provider's aws.region.",
        "LimitExceededException" => "An ACM Private CA quota was reached; see Service Quotas.",
        _ => "",
    };
    BackendError::aws(SIDE, format!("{what} ({arn})"), e).with_hint(hint)
}

/// A request that could not be built from the given values.
fn unbuildable(what: &str, e: impl std::fmt::Display) -> PcaError {
    BackendError::invalid(SIDE, what, e.to_string())
}

fn code<E: ProvideErrorMetadata>(e: &SdkError<E>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// The key and signing algorithms ACM PCA calls a meshtls key algorithm.
pub fn algorithms(k: KeyAlgorithm) -> (pca::KeyAlgorithm, pca::SigningAlgorithm) {
    match k {
        KeyAlgorithm::EcdsaP256 => (pca::KeyAlgorithm::EcPrime256v1, pca::SigningAlgorithm::Sha256Withecdsa),
        KeyAlgorithm::EcdsaP384 => (pca::KeyAlgorithm::EcSecp384r1, pca::SigningAlgorithm::Sha384Withecdsa),
        KeyAlgorithm::Rsa2048 => (pca::KeyAlgorithm::Rsa2048, pca::SigningAlgorithm::Sha256Withrsa),
        KeyAlgorithm::Rsa3072 => (pca::KeyAlgorithm::Rsa3072, pca::SigningAlgorithm::Sha256Withrsa),
        KeyAlgorithm::Rsa4096 => (pca::KeyAlgorithm::Rsa4096, pca::SigningAlgorithm::Sha256Withrsa),
    }
}

/// Status of a CA; `None` when it does not exist (or is deleted).
pub async fn status(client: &aws_sdk_acmpca::Client, arn: &str) -> Result<Option<String>, PcaError> {
    let out = client.describe_certificate_authority().certificate_authority_arn(arn).send().await;
    match out {
        Ok(o) => {
            let status = o.certificate_authority.and_then(|c| c.status).map(|s| s.as_str().to_string());
            Ok(status.filter(|s| s != "DELETED"))
        }
        Err(e) if ErrorKind::of_aws(&e) == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err("DescribeCertificateAuthority", arn, e)),
    }
}

/// What ACM Private CA says of an ARN. Refresh drops a CA from state only when it is
/// `Deleted`: `NotFound` is also what a wrong region or account answers, and dropping the CA
/// then would have the next plan create a second, billed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Status(String),
    Deleted,
    NotFound,
}

pub async fn presence(client: &aws_sdk_acmpca::Client, arn: &str) -> Result<Presence, PcaError> {
    match client.describe_certificate_authority().certificate_authority_arn(arn).send().await {
        Ok(o) => match o.certificate_authority.and_then(|c| c.status) {
            Some(pca::CertificateAuthorityStatus::Deleted) => Ok(Presence::Deleted),
            Some(status) => Ok(Presence::Status(status.as_str().to_string())),
            None => Err(BackendError::invalid(SIDE, format!("DescribeCertificateAuthority ({arn})"), "no status in the answer")),
        },
        Err(e) if ErrorKind::of_aws(&e) == ErrorKind::NotFound => Ok(Presence::NotFound),
        Err(e) => Err(err("DescribeCertificateAuthority", arn, e)),
    }
}

/// A root CA of `owner`'s that was created but never activated: what a create whose answer
/// was lost leaves behind. Finding it lets the create carry on with it instead of making a
/// second, billed CA. One ListTags per candidate; only CAs still being set up are candidates.
pub async fn unactivated_of(client: &aws_sdk_acmpca::Client, owner: &Owner) -> Result<Option<String>, PcaError> {
    use pca::CertificateAuthorityStatus as S;
    let marker = owner.marker();
    let mut next: Option<String> = None;
    // Bounded: 100 pages of up to 100 CAs, far past any account's quota of private CAs.
    for _ in 0..100 {
        let page = client
            .list_certificate_authorities()
            .set_next_token(next.clone())
            .max_results(100)
            .send()
            .await
            .map_err(|e| err("ListCertificateAuthorities", &marker, e))?;
        for ca in page.certificate_authorities.unwrap_or_default() {
            let unactivated = matches!(ca.status, Some(S::Creating | S::PendingCertificate));
            let Some(arn) = ca.arn.filter(|_| unactivated) else { continue };
            match owner.claim_recorded(owner_tag(client, &arn).await?.as_deref(), Claim::Foreign) {
                Claim::Ours => return Ok(Some(arn)),
                // The same resource under an earlier create's owner id: that create failed
                // before anything reached state, so no state holds the CA. It becomes this
                // create's, under this owner id.
                Claim::OtherState { .. } => {
                    tag(client, &arn, &marker).await?;
                    return Ok(Some(arn));
                }
                Claim::OtherResource(_) | Claim::Foreign => {}
            }
        }
        next = page.next_token.filter(|t| !t.is_empty());
        if next.is_none() {
            break;
        }
    }
    Ok(None)
}

/// Sets the CA's owner tag to `marker`.
async fn tag(client: &aws_sdk_acmpca::Client, arn: &str, marker: &str) -> Result<(), PcaError> {
    let tag = pca::Tag::builder().key(OWNER_TAG).value(marker).build().map_err(|e| unbuildable("the owner tag", e))?;
    client
        .tag_certificate_authority()
        .certificate_authority_arn(arn)
        .tags(tag)
        .send()
        .await
        .map_err(|e| err("TagCertificateAuthority", arn, e))?;
    Ok(())
}

/// The CA's own certificate, PEM, with its chain (empty for a root).
pub async fn ca_certificate(client: &aws_sdk_acmpca::Client, arn: &str) -> Result<String, PcaError> {
    let out = client
        .get_certificate_authority_certificate()
        .certificate_authority_arn(arn)
        .send()
        .await
        .map_err(|e| err("GetCertificateAuthorityCertificate", arn, e))?;
    let mut pem = out.certificate.unwrap_or_default();
    if !pem.ends_with('\n') {
        pem.push('\n');
    }
    Ok(pem)
}

/// True once the CLI asked the provider to stop: long waits give up then.
pub type Stopped<'a> = &'a (dyn Fn() -> bool + Send + Sync);

/// Polls until `op` stops answering "in progress" (RequestInProgressException, or an
/// InvalidStateException while the CA finishes creating), the deadline passes, or the CLI
/// asks the provider to stop.
async fn wait_for<T, F, Fut, E>(what: &str, arn: &str, stopped: Stopped<'_>, mut op: F) -> Result<T, PcaError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let deadline = tokio::time::Instant::now() + ISSUE_DEADLINE;
    let mut delay = Duration::from_millis(200);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if matches!(code(&e), Some("RequestInProgressException")) => {
                if stopped() {
                    return Err(BackendError::new(
                        SIDE,
                        ErrorKind::Unavailable,
                        format!("{what} ({arn})"),
                        "still in progress when the CLI asked the provider to stop",
                    ));
                }
                if tokio::time::Instant::now() + delay > deadline {
                    return Err(BackendError::new(
                        SIDE,
                        ErrorKind::Unavailable,
                        format!("{what} ({arn})"),
                        format!("still in progress after {}s; try again later", ISSUE_DEADLINE.as_secs()),
                    ));
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(err(what, arn, e)),
        }
    }
}

/// Issues a certificate for `csr_pem` and returns (certificate, chain) PEM.
pub async fn issue(
    client: &aws_sdk_acmpca::Client,
    arn: &str,
    csr_pem: &str,
    signing: pca::SigningAlgorithm,
    template: &str,
    days: i64,
    stopped: Stopped<'_>,
) -> Result<(String, String), PcaError> {
    let validity =
        pca::Validity::builder().value(days).r#type(pca::ValidityPeriodType::Days).build().map_err(|e| unbuildable("the validity", e))?;
    // The same CSR sent twice (a retry after a lost answer) issues one certificate, not two.
    let token = idempotency_token(csr_pem);
    let issued = client
        .issue_certificate()
        .certificate_authority_arn(arn)
        .idempotency_token(&token)
        .csr(Blob::new(csr_pem.as_bytes()))
        .signing_algorithm(signing)
        .template_arn(template)
        .validity(validity)
        .send()
        .await
        .map_err(|e| err("IssueCertificate", arn, e))?;
    let cert_arn = issued
        .certificate_arn
        .ok_or_else(|| BackendError::invalid(SIDE, format!("IssueCertificate ({arn})"), "no certificate ARN in the answer"))?;
    let got = wait_for("GetCertificate", arn, stopped, || {
        client.get_certificate().certificate_authority_arn(arn).certificate_arn(&cert_arn).send()
    })
    .await?;
    let with_newline = |s: Option<String>| {
        s.map(|mut s| {
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        })
    };
    Ok((with_newline(got.certificate).unwrap_or_default(), with_newline(got.certificate_chain).unwrap_or_default()))
}

/// ACM PCA takes idempotency tokens of at most 36 characters: the first 36 hex digits of the
/// request's SHA-256.
fn idempotency_token(request: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(request.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..36].to_string()
}

/// Creates a root CA, tagged with its owner, and returns its ARN at once: the CA exists (and
/// is billed) from here on, whatever happens next. [`activate_root`] finishes it.
pub async fn create_root(
    client: &aws_sdk_acmpca::Client,
    owner: &str,
    common_name: &str,
    organization: Option<&str>,
    key: KeyAlgorithm,
) -> Result<String, PcaError> {
    let (key_algorithm, signing) = algorithms(key);
    let tag = pca::Tag::builder().key(OWNER_TAG).value(owner).build().map_err(|e| unbuildable("the owner tag", e))?;
    let subject = pca::Asn1Subject::builder().common_name(common_name).set_organization(organization.map(str::to_string)).build();
    let config = pca::CertificateAuthorityConfiguration::builder()
        .key_algorithm(key_algorithm)
        .signing_algorithm(signing.clone())
        .subject(subject)
        .build()
        .map_err(|e| unbuildable("the CA configuration", e))?;
    let created = client
        .create_certificate_authority()
        .certificate_authority_configuration(config)
        .certificate_authority_type(pca::CertificateAuthorityType::Root)
        .tags(tag)
        .idempotency_token(idempotency_token(&format!("{owner} {}", time::OffsetDateTime::now_utc().unix_timestamp_nanos())))
        .send()
        .await
        .map_err(|e| err("CreateCertificateAuthority", common_name, e))?;
    created.certificate_authority_arn.ok_or_else(|| BackendError::invalid(SIDE, "CreateCertificateAuthority", "no ARN in the answer"))
}

/// Activates a root CA [`create_root`] made: waits for its CSR, self-issues it with the root
/// template, and imports the certificate.
pub async fn activate_root(
    client: &aws_sdk_acmpca::Client,
    arn: &str,
    key: KeyAlgorithm,
    days: i64,
    stopped: Stopped<'_>,
) -> Result<(), PcaError> {
    let (_, signing) = algorithms(key);
    let arn = arn.to_string();
    let csr = wait_for("GetCertificateAuthorityCsr", &arn, stopped, || {
        client.get_certificate_authority_csr().certificate_authority_arn(&arn).send()
    })
    .await?
    .csr
    .unwrap_or_default();
    let (certificate, _) = issue(client, &arn, &csr, signing, ROOT_TEMPLATE, days, stopped).await?;
    client
        .import_certificate_authority_certificate()
        .certificate_authority_arn(&arn)
        .certificate(Blob::new(certificate.as_bytes()))
        .send()
        .await
        .map_err(|e| err("ImportCertificateAuthorityCertificate", &arn, e))?;
    Ok(())
}

/// The owner tag of a CA; `None` when it has none.
pub async fn owner_tag(client: &aws_sdk_acmpca::Client, arn: &str) -> Result<Option<String>, PcaError> {
    let out = client.list_tags().certificate_authority_arn(arn).send().await.map_err(|e| err("ListTags", arn, e))?;
    Ok(out.tags.unwrap_or_default().into_iter().find(|t| t.key == OWNER_TAG).and_then(|t| t.value))
}

pub async fn set_status(client: &aws_sdk_acmpca::Client, arn: &str, status: pca::CertificateAuthorityStatus) -> Result<(), PcaError> {
    client
        .update_certificate_authority()
        .certificate_authority_arn(arn)
        .status(status)
        .send()
        .await
        .map_err(|e| err("UpdateCertificateAuthority", arn, e))?;
    Ok(())
}

/// Disables, then deletes a CA (ACM PCA keeps it restorable for `days`).
pub async fn disable_and_delete(client: &aws_sdk_acmpca::Client, arn: &str, days: i32) -> Result<(), PcaError> {
    match set_status(client, arn, pca::CertificateAuthorityStatus::Disabled).await {
        // Already disabled, or never activated: deletion is what matters.
        Ok(()) | Err(_) => {}
    }
    match client.delete_certificate_authority().certificate_authority_arn(arn).permanent_deletion_time_in_days(days).send().await {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(err("DeleteCertificateAuthority", arn, e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn idempotency_tokens_fit_and_follow_the_request() {
        let a = super::idempotency_token("csr one");
        assert_eq!(a.len(), 36);
        assert_eq!(a, super::idempotency_token("csr one"));
        assert_ne!(a, super::idempotency_token("csr two"));
    }
}
