//! Renewal of a CA whose key meshtls keeps: a new certificate for the same key and subject,
//! written over its Secret in place, so everything it signed keeps verifying.

use super::*;

/// Whether an update renews the CA: plan left its certificate to apply, and it is no private
/// CA (whose Secret is restored, not renewed).
pub(super) fn renewing(prior: &CertificateAuthority, planned: &CertificateAuthority) -> bool {
    planned.certificate_pem.is_unknown() && prior.certificate_pem.known().is_some() && prior.pca_arn.is_null()
}

impl CaResource {
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
        let files = tls_secret::read_files(client, namespace, name)
            .await
            .map_err(|e| kube_error("read the CA Secret", namespace, name, &e))?
            .ok_or_else(|| {
                Diagnostic::error(
                    "No CA key to renew",
                    format!("Secret {namespace}/{name} holds no key or certificate any more. Apply again: refresh finds the Secret changed and plans a new CA."),
                )
            })?;
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
