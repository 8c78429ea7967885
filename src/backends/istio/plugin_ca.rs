//! Istio's plug-in CA: the Secret `cacerts` in istiod's namespace, which istiod signs every
//! workload certificate with (a copy of a `meshtls_ca`'s key pair). It is written in place and
//! never deleted to be rewritten: istiod restarted in such a gap would find no `cacerts` and
//! make a self-signed root of its own, and a Helm-installed istiod's mounted volume would lose
//! its files.

use std::collections::BTreeMap;

use crate::clients::read_cache::ReadCache;
use crate::ownership::{Claim, Deleted, OwnError, Owner};
use crate::tls_secret::{self, TlsFiles};

/// The Secret istiod reads its plug-in CA from.
pub const SECRET: &str = "cacerts";
/// istiod's namespace unless configured otherwise.
pub const NAMESPACE: &str = "istio-system";

/// Writes `files` as the plug-in CA in `namespace`: created, or an older copy of the same
/// owner's rewritten in one replace on the version read. Someone else's is refused
/// (`OwnError::NotOurs`).
pub async fn write(client: &kube::Client, owner: &Owner, namespace: &str, files: &TlsFiles) -> Result<(), OwnError> {
    tls_secret::rewrite(client, owner, namespace, SECRET, files, BTreeMap::new(), BTreeMap::new()).await?;
    tracing::info!(namespace, "wrote Istio's plug-in CA Secret");
    Ok(())
}

/// Whether the plug-in CA in `namespace` is `owner`'s, has its key and holds
/// `certificate_pem` with its chain and root.
pub async fn holds(
    client: &kube::Client,
    cache: &ReadCache,
    owner: &Owner,
    namespace: &str,
    certificate_pem: &str,
) -> Result<bool, kube::Error> {
    let observed = tls_secret::get(client, cache, namespace, SECRET).await?;
    Ok(observed.is_some_and(|o| {
        let meta = kube::api::ObjectMeta { labels: Some(o.labels.clone()), annotations: Some(o.annotations.clone()), ..Default::default() };
        owner.claim(&meta) == Claim::Ours
            && o.key_public.is_some()
            && o.ca_crt.is_some()
            && tls_secret::ca_files_drift(o.tls_crt.as_deref(), o.ca_crt.as_deref(), certificate_pem).is_empty()
    }))
}

/// Deletes the plug-in CA in `namespace` if it is `owner`'s.
pub async fn delete(client: &kube::Client, owner: &Owner, namespace: &str) -> Result<Deleted, OwnError> {
    tls_secret::delete(client, owner, namespace, SECRET).await
}
