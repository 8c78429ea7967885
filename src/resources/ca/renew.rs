//! Renewal of a CA whose key meshtls keeps: a new certificate for the same key and subject,
//! written over its Secret in place, so everything it signed keeps verifying.

use super::*;

/// Whether an update renews the CA: plan left its certificate to apply, and it is no private
/// CA (whose Secret is restored, not renewed).
pub(super) fn renewing(prior: &CertificateAuthority, planned: &CertificateAuthority) -> bool {
    planned.certificate_pem.is_unknown() && prior.certificate_pem.known().is_some() && prior.pca_arn.is_null()
}

/// A CA's files, key included, read from its Secret now (never from the cache), for the
/// update that rewrites them.
pub(super) async fn own_files(client: &kube::Client, namespace: &str, name: &str) -> Result<TlsFiles, Diagnostic> {
    tls_secret::read_files(client, namespace, name).await.map_err(|e| kube_error("read the CA Secret", namespace, name, &e))?.ok_or_else(|| {
        Diagnostic::error(
            "CA Secret no longer holds its CA",
            format!("Secret {namespace}/{name} holds no certificate and key any more. Apply again: refresh finds the Secret changed and plans what to do."),
        )
    })
}

/// Whether an update takes the parent's trust bundle: plan left the bundle to apply, and
/// nothing else changes the certificate.
pub(super) fn following_parent(prior: &CertificateAuthority, planned: &CertificateAuthority) -> bool {
    prior.parent.is_some() && planned.trust_bundle_pem.is_unknown() && !planned.certificate_pem.is_unknown()
}

impl CaResource {
    /// Plans an intermediate's taking its parent's trust bundle, when the parent's roots are
    /// not those of its own `ca.crt` (the parent's rotation added or dropped one): its roots
    /// change in place, its certificate and key stay.
    pub(super) async fn plan_parent_trust(&self, prior: &CertificateAuthority, planned: &mut CertificateAuthority) -> Option<Diagnostic> {
        let ca_id = prior.parent.as_ref()?.ca_id.known()?.clone();
        if planned.parent.as_ref().and_then(|p| p.ca_id.known()) != Some(&ca_id) || self.clients.cluster_unknown() {
            return None;
        }
        let (_, parent) = self.parent(&ca_id).await.ok()?;
        let roots = pki::fingerprints(parent.trust_pem());
        if roots == pki::fingerprints(prior.trust_bundle_pem.as_deref().unwrap_or_default()) {
            return None;
        }
        planned.trust_bundle_pem = Attr::Unknown;
        Some(Diagnostic::warning(
            "Intermediate's trust follows its parent",
            format!(
                "{}: the roots of its parent {ca_id} are not those of its ca.crt any more; it takes them in place, keeping its certificate and key. What it signs follows on the next apply.",
                prior.id.as_deref().unwrap_or_default()
            ),
        ))
    }

    /// Writes the parent's roots as the intermediate's `ca.crt`, and its chain after the
    /// intermediate's certificate in `tls.crt`; the key and certificate stay.
    pub(super) async fn follow_parent(
        &self,
        client: &kube::Client,
        spec: &CaSpec,
        owner: &Owner,
        mut state: CertificateAuthority,
    ) -> Result<CertificateAuthority, Diagnostic> {
        let Some((ca_id, _, _)) = &spec.parent else { return Ok(state) };
        let (namespace, name) = (spec.namespace.as_str(), spec.secret_name.as_str());
        let (_, parent) = self.parent(ca_id).await?;
        let files = own_files(client, namespace, name).await?;
        let own = pki::first_certificate(&files.tls_crt);
        let followed = TlsFiles {
            tls_crt: format!("{own}{}", parent.chain_pem()),
            ca_crt: parent.trust_pem().to_string(),
            tls_key: files.tls_key,
            layout: spec.layout,
        };
        tls_secret::rewrite(client, owner, namespace, name, &followed, BTreeMap::new(), BTreeMap::new())
            .await
            .map_err(|e| e.diagnostic("write the parent's roots into the intermediate's Secret", ""))?;
        state.trust_bundle_pem = Attr::Known(parent.trust_pem().to_string());
        Ok(state)
    }

    /// Renews the CA of `spec`: a root signs itself again with its key, an intermediate's
    /// parent signs its key again. `tls.crt` gets the new certificate and its chain, `ca.crt`
    /// the roots with this one renewed; the key stays.
    pub(super) async fn renew(
        &self,
        client: &kube::Client,
        spec: &CaSpec,
        owner: &Owner,
        mut state: CertificateAuthority,
    ) -> Result<CertificateAuthority, Diagnostic> {
        let (namespace, name) = (spec.namespace.as_str(), spec.secret_name.as_str());
        let files = own_files(client, namespace, name).await?;
        let request = ca_store::IntermediateSpec {
            common_name: spec.common_name.clone().unwrap_or_default(),
            organization: spec.organization.clone(),
            validity_days: spec.validity_days,
            key_algorithm: spec.key_algorithm,
            path_len: spec.parent.as_ref().map_or(0, |(_, _, path_len)| *path_len),
        };
        let (certificate_pem, chain_pem, ca_crt) = match &spec.parent {
            None => {
                let (key, request) = (files.tls_key.clone(), request.clone());
                let renewed = tokio::task::spawn_blocking(move || pki::renew_self_signed_ca(&key, &request.request()))
                    .await
                    .map_err(|e| Diagnostic::error("Failed to renew the CA", e.to_string()))?
                    .map_err(|e| Diagnostic::error("Failed to renew the CA", e.to_string()))?;
                let ca_crt = pki::replace_in_bundle(&files.ca_crt, &renewed);
                (renewed, String::new(), ca_crt)
            }
            Some((ca_id, _, _)) => {
                let (parent_client, parent) = self.parent(ca_id).await?;
                let (renewed, chain) = parent
                    .renew_intermediate(&self.clients, &parent_client, &files.tls_key, request)
                    .await
                    .map_err(|e| Diagnostic::error("Failed to renew the intermediate CA", e.to_string()))?;
                (renewed, chain, parent.trust_pem().to_string())
            }
        };
        let renewed = TlsFiles { tls_crt: format!("{certificate_pem}{chain_pem}"), ca_crt, tls_key: files.tls_key, layout: spec.layout };
        tls_secret::rewrite(client, owner, namespace, name, &renewed, BTreeMap::new(), BTreeMap::new())
            .await
            .map_err(|e| e.diagnostic("write the renewed CA into its Secret", ""))?;
        tracing::info!(namespace, secret = name, "renewed the CA in place");
        state.set_certificate(&certificate_pem).map_err(|e| Diagnostic::error("Renewed certificate cannot be parsed", e.to_string()))?;
        Ok(state)
    }
}
