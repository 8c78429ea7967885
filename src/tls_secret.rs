//! Secrets in the layout cert-manager writes (type kubernetes.io/tls with `ca.crt`,
//! `tls.crt`, `tls.key`), so mounts written for cert-manager work unchanged; and, for a CA
//! istiod signs with, in Istio's four-file `cacerts` layout.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;

use crate::clients::error::ErrorKind;
use crate::clients::read_cache::{ReadCache, Scope};
use crate::ownership::{Claim, Deleted, OwnError, Owned, Owner};
use crate::pki;
use zeroize::Zeroize as _;

pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// The files of a key pair's Secret, named as a TLS Secret names them, and how the Secret
/// lays them out. The key is redacted from Debug output.
pub struct TlsFiles {
    /// The roots its chain is verified against.
    pub ca_crt: String,
    /// The certificate, then its chain.
    pub tls_crt: String,
    pub tls_key: crate::pki::KeyPem,
    pub layout: Layout,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca_crt", &self.ca_crt)
            .field("tls_crt", &self.tls_crt)
            .field("tls_key", &"<redacted>")
            .field("layout", &self.layout)
            .finish()
    }
}

/// How a Secret holds a key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// cert-manager's: type kubernetes.io/tls with `tls.crt`, `tls.key` and `ca.crt`.
    #[default]
    Tls,
    /// istiod's plug-in CA files, in an Opaque Secret: `ca-cert.pem` (the CA alone),
    /// `ca-key.pem`, `cert-chain.pem` (the CA then its chain, which istiod appends to every
    /// certificate it signs) and `root-cert.pem` (the roots).
    Istio,
}

impl Layout {
    pub const NAMES: [&'static str; 2] = ["tls", "istio"];

    pub fn parse(name: &str) -> Option<Layout> {
        match name {
            "tls" => Some(Layout::Tls),
            "istio" => Some(Layout::Istio),
            _ => None,
        }
    }

    pub fn secret_type(self) -> &'static str {
        match self {
            Layout::Tls => TLS_SECRET_TYPE,
            Layout::Istio => "Opaque",
        }
    }

    /// The entry that holds the private key.
    fn key_entry(self) -> &'static str {
        match self {
            Layout::Tls => "tls.key",
            Layout::Istio => "ca-key.pem",
        }
    }

    /// The layout of a Secret's data: Istio's when it holds Istio's CA file.
    fn of(data: &BTreeMap<String, ByteString>) -> Layout {
        if data.contains_key("ca-cert.pem") {
            Layout::Istio
        } else {
            Layout::Tls
        }
    }
}

/// A Secret as found in the cluster, reduced to what drift checks need. It never holds the
/// private key: only its public half, which tells whether key and certificate belong
/// together. [`read_key`] reads the key itself, for the one call that signs with it.
#[derive(Debug, Default)]
pub struct ObservedSecret {
    pub secret_type: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Each key's value as text; `None` when the key is absent or not UTF-8.
    pub ca_crt: Option<String>,
    pub tls_crt: Option<String>,
    /// The raw public key of `tls.key`; `None` when it is absent or unreadable.
    pub key_public: Option<Vec<u8>>,
    /// The layout its data is in; in Istio's, `tls_crt` is `cert-chain.pem` and `ca_crt`
    /// `root-cert.pem`.
    pub layout: Layout,
    /// What is wrong with the layout itself (Istio's `ca-cert.pem` not heading its chain).
    pub layout_drift: Vec<String>,
}

impl ObservedSecret {
    /// Whether `tls.key` is the private key of the certificate `info`.
    pub fn key_fits(&self, info: &pki::CertificateInfo) -> bool {
        self.key_public.as_deref() == Some(info.public_key.as_slice())
    }
}

/// Why a create failed, and whether anything may have been written.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("a Secret of that name already exists and {}", .0.describe())]
    AlreadyExists(Claim),
    /// The API server refused the request: nothing was written.
    #[error(transparent)]
    Rejected(kube::Error),
    /// The answer was lost (connection cut, server timeout) and the Secret could not be
    /// looked up afterwards, so it may exist.
    #[error("{0}; whether the Secret was written is not known")]
    OutcomeUnknown(kube::Error),
}

impl CreateError {
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, CreateError::OutcomeUnknown(_))
    }
}

/// True when a request may have been carried out although no answer said so.
fn outcome_unknown(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => matches!(status.code, 500 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Creates the Secret; fails with [`CreateError::AlreadyExists`] when one of that name
/// exists, so nothing is clobbered. When the answer to the create is lost, the Secret is
/// read back: holding exactly what was sent means the create landed.
async fn create_confirmed(api: &Api<Secret>, owner: &Owner, secret: &Secret) -> Result<(), CreateError> {
    use backon::{BackoffBuilder, ExponentialBuilder};
    let params = PostParams { field_manager: Some(crate::ownership::FIELD_MANAGER.into()), ..Default::default() };
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let already_exists = || async {
        match api.get_opt(name).await.ok().flatten() {
            // The retry layer resends a create that met a 503; when the first one landed, the
            // second meets it. Holding the bytes just sent, fresh key included, it is this
            // create's own Secret, and reporting it as someone else's would orphan it.
            Some(found) if landed(&found, secret) => Ok(()),
            // Whose it is, for the diagnostic; a failed read still refuses.
            found => Err(CreateError::AlreadyExists(found.map(|s| owner.claim(&s.metadata)).unwrap_or(Claim::Foreign))),
        }
    };
    let mut last = match api.create(&params, secret).await {
        Ok(_) => return Ok(()),
        Err(e) if ErrorKind::of_kube(&e) == ErrorKind::AlreadyExists => return already_exists().await,
        Err(e) if outcome_unknown(&e) => e,
        Err(e) => return Err(CreateError::Rejected(e)),
    };
    let delays = ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(200))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_max_times(8)
        .with_jitter()
        .build();
    for delay in delays {
        tracing::info!(secret = name, error = %last, ?delay, "the answer to a create was lost; reading the Secret back");
        tokio::time::sleep(delay).await;
        match api.get_opt(name).await {
            Ok(Some(found)) if landed(&found, secret) => return Ok(()),
            Ok(Some(found)) => return Err(CreateError::AlreadyExists(owner.claim(&found.metadata))),
            Ok(None) => match api.create(&params, secret).await {
                Ok(_) => return Ok(()),
                // Created by the lost request in the meantime, or by someone else: look again.
                Err(e) if ErrorKind::of_kube(&e) == ErrorKind::AlreadyExists || outcome_unknown(&e) => last = e,
                Err(e) => return Err(CreateError::Rejected(e)),
            },
            Err(e) => last = e,
        }
    }
    Err(CreateError::OutcomeUnknown(last))
}

/// Whether `found` is the Secret `sent` created: the same type and data (a freshly generated
/// key makes the data unique to one create) and the same owner marker.
fn landed(found: &Secret, sent: &Secret) -> bool {
    let marker = |s: &Secret| s.metadata.annotations.as_ref().and_then(|a| a.get(crate::ownership::OWNER_ANNOTATION)).cloned();
    found.data == sent.data && found.type_ == sent.type_ && marker(found) == marker(sent)
}

/// Creates the TLS Secret, marked as `owner`'s (see [`create_confirmed`]).
pub async fn create(
    client: &kube::Client,
    owner: &Owner,
    namespace: &str,
    name: &str,
    files: &TlsFiles,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> Result<(), CreateError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut secret = tls_secret(namespace, name, files, labels, annotations);
    owner.mark(&mut secret.metadata);
    let created = create_confirmed(&api, owner, &secret).await;
    wipe(&mut secret);
    created
}

/// A Secret holding `files` in their layout.
fn tls_secret(
    namespace: &str,
    name: &str,
    files: &TlsFiles,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        type_: Some(files.layout.secret_type().into()),
        data: Some(tls_data(files)),
        ..Default::default()
    }
}

/// Writes a re-issued certificate over `owner`'s Secret: one replace, conditioned on the
/// version read, sets the three files and the annotations given and keeps every other label
/// and annotation. The Secret is never deleted first, so a pod that starts meanwhile mounts
/// the old certificate or the new one. One gone missing is created again; one that is not
/// `owner`'s is refused. Only a Secret whose type was changed outside Terraform (the type is
/// immutable) is deleted and created again, since it serves nothing as it is.
pub async fn rewrite(
    client: &kube::Client,
    owner: &Owner,
    namespace: &str,
    name: &str,
    files: &TlsFiles,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> Result<(), OwnError> {
    let owned = owned(client, owner, namespace, name);
    if let Some((existing, Claim::Ours)) = owned.get().await? {
        if existing.type_.as_deref() != Some(files.layout.secret_type()) {
            tracing::warn!(namespace, secret = name, kind = ?existing.type_, "the Secret's type was changed; writing it again");
            owned.delete().await?;
        }
    }
    let desired = tls_secret(namespace, name, files, labels, annotations);
    owned
        .ensure(desired, |next, desired| {
            next.data = desired.data.clone();
            let annotations = next.metadata.annotations.get_or_insert_with(Default::default);
            annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
        })
        .await
        .map(|mut written| wipe(&mut written))
}

fn tls_data(files: &TlsFiles) -> BTreeMap<String, ByteString> {
    let entry = |name: &str, text: &str| (name.to_string(), ByteString(text.as_bytes().to_vec()));
    match files.layout {
        Layout::Tls => {
            BTreeMap::from([entry("ca.crt", &files.ca_crt), entry("tls.crt", &files.tls_crt), entry("tls.key", files.tls_key.expose())])
        }
        Layout::Istio => BTreeMap::from([
            entry("ca-cert.pem", &pki::first_certificate(&files.tls_crt)),
            entry("ca-key.pem", files.tls_key.expose()),
            entry("cert-chain.pem", &files.tls_crt),
            entry("root-cert.pem", &files.ca_crt),
        ]),
    }
}

/// Creates an Opaque Secret holding only `ca.crt`: the trust anchor of a CA whose key lives
/// elsewhere (ACM Private CA).
pub async fn create_ca_bundle(
    client: &kube::Client,
    owner: &Owner,
    namespace: &str,
    name: &str,
    ca_crt: &str,
    annotations: BTreeMap<String, String>,
) -> Result<(), CreateError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            annotations: Some(annotations),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([("ca.crt".to_string(), ByteString(ca_crt.as_bytes().to_vec()))])),
        ..Default::default()
    };
    owner.mark(&mut secret.metadata);
    create_confirmed(&api, owner, &secret).await
}

/// Where a Secret read through the cache holds the public half of its `tls.key`, in place of
/// the key. Never written to the cluster.
const KEY_PUBLIC_ENTRY: &str = "meshtls.dev/tls.key.public";

/// What meshtls keeps in memory of a Secret it reads: everything but the private key, which
/// is replaced by its public half and wiped.
fn without_key(secret: &mut Secret) {
    let Some(data) = secret.data.as_mut() else { return };
    let entry = Layout::of(data).key_entry();
    if let Some(mut key) = data.remove(entry) {
        let public = std::str::from_utf8(&key.0).ok().and_then(pki::public_key_of);
        key.0.zeroize();
        if let Some(public) = public {
            data.insert(KEY_PUBLIC_ENTRY.into(), ByteString(public));
        }
    }
}

/// Wipes every value of a Secret meshtls wrote or read (its key above all) before it is dropped.
fn wipe(secret: &mut Secret) {
    for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
        value.0.zeroize();
    }
}

/// Reads the Secret, through the run's read cache (see `clients::read_cache`), without its
/// private key.
pub async fn get(client: &kube::Client, cache: &ReadCache, namespace: &str, name: &str) -> Result<Option<ObservedSecret>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(mut secret) = cache.get_opt(&api, &(), Scope::Managed, namespace, name, without_key).await? else { return Ok(None) };
    // A GET the cache passed through still holds the key.
    without_key(&mut secret);
    Ok(Some(observe(secret)))
}

/// What drift checks need of a Secret whose key was taken out, in either layout.
fn observe(mut secret: Secret) -> ObservedSecret {
    let data = secret.data.take().unwrap_or_default();
    let text = |k: &str| data.get(k).and_then(|b| String::from_utf8(b.0.clone()).ok());
    let layout = Layout::of(&data);
    let (ca_crt, tls_crt, layout_drift) = match layout {
        Layout::Tls => (text("ca.crt"), text("tls.crt"), Vec::new()),
        Layout::Istio => {
            let (ca_cert, chain) = (text("ca-cert.pem"), text("cert-chain.pem"));
            let heads = |chain: &str| ca_cert.as_deref().is_some_and(|c| pki::fingerprints(chain).first() == pki::fingerprints(c).first());
            let drift = match &chain {
                Some(chain) if heads(chain) => Vec::new(),
                Some(_) => vec!["cert-chain.pem does not start with ca-cert.pem".to_string()],
                None => vec!["cert-chain.pem is missing".to_string()],
            };
            (text("root-cert.pem"), chain.filter(|c| heads(c)).or(ca_cert), drift)
        }
    };
    ObservedSecret {
        secret_type: secret.type_,
        labels: secret.metadata.labels.unwrap_or_default(),
        annotations: secret.metadata.annotations.unwrap_or_default(),
        ca_crt,
        tls_crt,
        key_public: data.get(KEY_PUBLIC_ENTRY).map(|b| b.0.clone()),
        layout,
        layout_drift,
    }
}

/// The private key of the Secret, read from the server now (never from the cache), for the
/// one call that signs or copies with it. `None` when the Secret or its key is absent.
pub async fn read_key(client: &kube::Client, namespace: &str, name: &str) -> Result<Option<pki::KeyPem>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(mut secret) = api.get_opt(name).await? else { return Ok(None) };
    let key = secret
        .data
        .as_ref()
        .and_then(|d| d.get(Layout::of(d).key_entry()))
        .and_then(|b| std::str::from_utf8(&b.0).ok())
        .map(|k| pki::KeyPem::new(k.to_string()));
    wipe(&mut secret);
    Ok(key)
}

/// The Secret's three files, read from the server now (never from the cache), for the one
/// call that copies them. `None` when the Secret, its certificate or its key is absent.
pub async fn read_files(client: &kube::Client, namespace: &str, name: &str) -> Result<Option<TlsFiles>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(mut secret) = api.get_opt(name).await? else { return Ok(None) };
    let files = secret.data.as_ref().and_then(|d| {
        let text = |k: &str| d.get(k).and_then(|b| std::str::from_utf8(&b.0).ok()).map(str::to_string);
        let layout = Layout::of(d);
        let (chain, roots) = match layout {
            Layout::Tls => ("tls.crt", "ca.crt"),
            Layout::Istio => ("cert-chain.pem", "root-cert.pem"),
        };
        let tls_crt = text(chain)?;
        Some(TlsFiles {
            ca_crt: text(roots).unwrap_or_else(|| tls_crt.clone()),
            tls_key: pki::KeyPem::new(text(layout.key_entry())?),
            tls_crt,
            layout,
        })
    });
    wipe(&mut secret);
    Ok(files)
}

/// Why a CA's `tls.crt` and `ca.crt` no longer hold `certificate_pem` and its roots: `tls.crt`
/// starts with the CA and carries its chain, and `ca.crt`, when present, holds the root the
/// chain ends in (the CA itself for a root).
pub fn ca_files_drift(tls_crt: Option<&str>, ca_crt: Option<&str>, certificate_pem: &str) -> Vec<String> {
    let mut drift = Vec::new();
    let chain = tls_crt.map(pki::fingerprints).unwrap_or_default();
    let own = pki::fingerprints(certificate_pem);
    if chain.is_empty() || chain.first() != own.first() {
        drift.push("tls.crt is not the CA certificate in state".to_string());
    }
    if let (Some(ca_crt), Some(root)) = (ca_crt, chain.last()) {
        if !pki::fingerprints(ca_crt).contains(root) {
            drift.push("ca.crt does not hold the root of the CA's chain".to_string());
        }
    }
    drift
}

/// A TLS Secret found by [`list_tls`]: its certificates and metadata, never its key.
#[derive(Debug, Clone)]
pub struct ListedSecret {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub ca_crt: Option<String>,
    pub tls_crt: Option<String>,
    pub layout: Layout,
}

impl ListedSecret {
    pub fn managed_by_meshtls(&self) -> bool {
        self.labels.get(crate::ownership::MANAGED_BY_LABEL).map(String::as_str) == Some(crate::ownership::MANAGED_BY)
    }
}

/// Every Secret of type `kubernetes.io/tls` in `namespace`, page by page, for `terraform
/// query`. The only place meshtls lists Secrets it may not manage: each key is dropped as its
/// page arrives, and nothing is cached.
pub async fn list_tls(client: &kube::Client, namespace: &str) -> Result<Vec<ListedSecret>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut params = kube::api::ListParams::default().fields(&format!("type={TLS_SECRET_TYPE}")).limit(100);
    let mut out = Vec::new();
    loop {
        let page = api.list(&params).await?;
        for secret in page.items {
            let Some(name) = secret.metadata.name else { continue };
            let mut data = secret.data.unwrap_or_default();
            data.remove("tls.key");
            let text = |k: &str| data.get(k).and_then(|b| String::from_utf8(b.0.clone()).ok());
            out.push(ListedSecret {
                ca_crt: text("ca.crt"),
                tls_crt: text("tls.crt"),
                name,
                labels: secret.metadata.labels.unwrap_or_default(),
                annotations: secret.metadata.annotations.unwrap_or_default(),
                layout: Layout::Tls,
            });
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The Secret as one object owned by `owner`, for writes and deletes that check the marker.
pub fn owned<'a>(client: &kube::Client, owner: &'a Owner, namespace: &str, name: &str) -> Owned<'a, Secret> {
    Owned::new(Api::namespaced(client.clone(), namespace), Some(namespace), name, owner)
}

/// Sets and removes labels and annotations (`None` removes) on `owner`'s Secret, leaving
/// everything else alone.
pub async fn patch_metadata(
    client: &kube::Client,
    owner: &Owner,
    namespace: &str,
    name: &str,
    labels: &BTreeMap<String, Option<String>>,
    annotations: &BTreeMap<String, Option<String>>,
) -> Result<(), OwnError> {
    let patch = serde_json::json!({ "metadata": { "labels": labels, "annotations": annotations } });
    owned(client, owner, namespace, name).patch(&patch).await?;
    Ok(())
}

/// What a refresh found wrong with a Secret, kept in private state for the next plan, which
/// plans a re-issue (a certificate's in place; a CA's by replacement) and says why.
#[derive(serde::Serialize, serde::Deserialize, Default, Debug, PartialEq)]
pub struct DriftNote {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// The Secret is gone but what it holds can be written again (a private CA's certificate).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret_missing: bool,
}

impl DriftNote {
    pub fn decode(bytes: &[u8]) -> DriftNote {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        if self.drift.is_empty() && !self.secret_missing {
            Vec::new()
        } else {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

/// Deletes `owner`'s Secret; one already gone counts as deleted, and one that is not
/// `owner`'s is left in place.
pub async fn delete(client: &kube::Client, owner: &Owner, namespace: &str, name: &str) -> Result<Deleted, OwnError> {
    owned(client, owner, namespace, name).delete().await
}

/// PEM text compared without regard to line endings or trailing whitespace.
pub fn same_pem(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
    norm(a) == norm(b)
}

/// For import: the key of a Secret must be its certificate's (`info`), of an algorithm meshtls
/// issues.
pub fn importable_key(
    observed: &ObservedSecret,
    info: &pki::CertificateInfo,
    namespace: &str,
    name: &str,
) -> Result<pki::KeyAlgorithm, tfplugin::Diagnostic> {
    if !observed.key_fits(info) {
        return Err(tfplugin::Diagnostic::error(
            "Cannot import: key does not match",
            format!("tls.key in Secret {namespace}/{name} is missing or is not the certificate's private key."),
        ));
    }
    info.key_algorithm.ok_or_else(|| {
        tfplugin::Diagnostic::error(
            "Cannot import: unsupported key",
            format!("The key in Secret {namespace}/{name} is none of {}.", pki::KeyAlgorithm::NAMES.join(", ")),
        )
    })
}

/// The diagnostic for a Secret that could not be created. `what` names it for people
/// ("CA Secret", "Certificate Secret").
pub fn create_diagnostic(what: &str, namespace: &str, name: &str, e: &CreateError) -> tfplugin::Diagnostic {
    match e {
        CreateError::AlreadyExists(claim) => tfplugin::Diagnostic::error(
            format!("{what} already exists"),
            format!(
                "Secret {namespace}/{name} exists and {}, so meshtls will not overwrite it. To manage it, import it: `terraform import <address> {namespace}/{name}`; or choose another secret_name.",
                claim.describe()
            ),
        )
        .at(tfplugin::AttributePath::attrs(&["secret_name"])),
        CreateError::Rejected(e) => tfplugin::Diagnostic::error(format!("Failed to create the {what}"), format!("Secret {namespace}/{name}: {e}")),
        CreateError::OutcomeUnknown(e) => tfplugin::Diagnostic::error(
            format!("Failed to create the {what}"),
            format!(
                "Secret {namespace}/{name}: {e}. The resource is kept in state as tainted, so the next apply deletes whatever was written and creates it again."
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_meshtls_keeps_of_a_secret_never_holds_its_key() {
        let ca = pki::self_signed_ca(&pki::CaRequest {
            common_name: "Keep CA",
            organization: None,
            validity_days: 1,
            key_algorithm: pki::KeyAlgorithm::EcdsaP256,
        })
        .expect("CA");
        let files = TlsFiles {
            ca_crt: ca.certificate_pem.clone(),
            tls_crt: ca.certificate_pem.clone(),
            tls_key: ca.private_key_pem.clone(),
            layout: Layout::Tls,
        };
        let mut secret = tls_secret("yelb", "ca", &files, BTreeMap::new(), BTreeMap::new());
        without_key(&mut secret);
        let data = secret.data.clone().unwrap_or_default();
        assert!(!data.contains_key("tls.key"));
        let info = pki::inspect(&ca.certificate_pem).expect("certificate");
        assert_eq!(data.get(KEY_PUBLIC_ENTRY).map(|b| b.0.clone()), Some(info.public_key.clone()), "the public half stays");
        let text = serde_json::to_string(&secret).expect("json");
        assert!(!text.contains("PRIVATE KEY") && !text.contains(&base64_of(ca.private_key_pem.expose())), "{text}");
        // A second pass (a read the cache passed through) changes nothing.
        let before = secret.clone();
        without_key(&mut secret);
        assert_eq!(secret, before);
        // Wiped, no value keeps its bytes.
        wipe(&mut secret);
        assert!(secret.data.unwrap_or_default().values().all(|v| v.0.iter().all(|b| *b == 0)));
        assert_eq!(format!("{:?}", ca.private_key_pem), "KeyPem(<redacted>)");
    }

    fn base64_of(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    use super::*;

    #[test]
    fn istios_layout_holds_the_ca_its_chain_roots_and_key_under_istios_names() {
        let req =
            |cn| pki::CaRequest { common_name: cn, organization: None, validity_days: 1, key_algorithm: pki::KeyAlgorithm::EcdsaP256 };
        let root = pki::self_signed_ca(&req("Root")).expect("root");
        let parent = pki::CaMaterial { certificate_pem: root.certificate_pem.clone(), private_key_pem: root.private_key_pem.clone() };
        let intermediate = pki::issue_intermediate(&parent, &req("Cluster A"), 0).expect("intermediate");
        let chain = format!("{}{}", intermediate.certificate_pem, root.certificate_pem);
        let files = TlsFiles {
            ca_crt: root.certificate_pem.clone(),
            tls_crt: chain.clone(),
            tls_key: intermediate.private_key_pem.clone(),
            layout: Layout::Istio,
        };
        let mut secret = tls_secret("istio-system", "cacerts", &files, BTreeMap::new(), BTreeMap::new());
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        let data = secret.data.clone().unwrap_or_default();
        let text = |k: &str| String::from_utf8(data.get(k).map(|b| b.0.clone()).unwrap_or_default()).unwrap_or_default();
        assert_eq!(data.keys().map(String::as_str).collect::<Vec<_>>(), ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
        assert!(same_pem(&text("ca-cert.pem"), &intermediate.certificate_pem), "ca-cert.pem is the intermediate alone");
        assert_eq!((text("cert-chain.pem"), text("root-cert.pem")), (chain.clone(), root.certificate_pem.clone()));
        without_key(&mut secret);
        assert!(!secret.data.as_ref().is_some_and(|d| d.contains_key("ca-key.pem")), "the key is taken out");
        let observed = observe(secret.clone());
        assert_eq!(
            (observed.layout, observed.tls_crt.as_deref(), observed.ca_crt.as_deref()),
            (Layout::Istio, Some(chain.as_str()), Some(root.certificate_pem.as_str()))
        );
        assert!(observed.layout_drift.is_empty());
        assert_eq!(observed.key_public, pki::public_key_of(intermediate.private_key_pem.expose()));
        // A chain that no longer starts with ca-cert.pem is named.
        secret
            .data
            .get_or_insert_with(Default::default)
            .insert("cert-chain.pem".into(), ByteString(root.certificate_pem.clone().into_bytes()));
        assert_eq!(observe(secret).layout_drift, ["cert-chain.pem does not start with ca-cert.pem"]);
    }

    fn secret(key: &str, owner: &Owner) -> Secret {
        let files = TlsFiles { ca_crt: "ca".into(), tls_crt: "crt".into(), tls_key: pki::KeyPem::new(key.into()), layout: Layout::Tls };
        let mut s = Secret { type_: Some(TLS_SECRET_TYPE.into()), data: Some(tls_data(&files)), ..Default::default() };
        owner.mark(&mut s.metadata);
        s
    }

    #[test]
    fn a_create_meets_its_own_earlier_landing_and_nothing_else() {
        let owner = Owner::new("meshtls_certificate", "yelb/db");
        let sent = secret("key-1", &owner);
        let mut found = sent.clone();
        found.metadata.resource_version = Some("7".into());
        assert!(landed(&found, &sent), "the resent create's own Secret");
        assert!(!landed(&secret("key-2", &owner), &sent), "another key: another create");
        assert!(!landed(&secret("key-1", &Owner::new("meshtls_certificate", "yelb/other")), &sent), "another owner");
        let mut opaque = sent.clone();
        opaque.type_ = Some("Opaque".into());
        assert!(!landed(&opaque, &sent));
    }
}
