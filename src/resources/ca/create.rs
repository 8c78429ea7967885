//! The work of creating a CA, in its cluster or behind ACM Private CA, and the helpers that
//! create, update and import share: the owner of its objects and the diagnostics for an
//! issuer or a plug-in copy that cannot be written.

use super::*;

/// The owner of a CA's Secret and issuer: the CA's id, `namespace/secret_name`, and its
/// `owner_id`.
pub(super) fn owner(namespace: &str, secret_name: &str, m: &CertificateAuthority) -> Result<Owner, crate::ownership::OwnerIdError> {
    Owner::of_attr(TYPE_NAME, &format!("{namespace}/{secret_name}"), &m.owner_id)
}

/// How to import a CA together with an issuer someone else made.
pub(super) fn import_hint(namespace: &str, secret_name: &str, kind: IssuerKind, name: &str) -> String {
    format!("terraform import <address> {namespace}/{secret_name}:{}/{name}", kind.name())
}

pub(super) fn issuer_error(e: &OwnError, action: &str, spec: &CaSpec, kind: IssuerKind, name: &str) -> Diagnostic {
    e.diagnostic(action, &import_hint(&spec.namespace, &spec.secret_name, kind, name))
        .at(AttributePath::attrs(&["cert_manager_issuer", "name"]))
}

/// The plug-in copy's Secret is someone else's: meshtls will not overwrite istiod's CA.
pub(super) fn plugin_refused(namespace: &str, claim: &Claim) -> Diagnostic {
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
pub(super) async fn write_plugin_copy(client: &kube::Client, owner: &Owner, namespace: &str, files: &TlsFiles) -> Result<(), Diagnostic> {
    match plugin_ca::write(client, owner, namespace, files).await {
        Ok(()) => Ok(()),
        Err(OwnError::NotOurs { claim, .. }) => Err(plugin_refused(namespace, &claim)),
        Err(e) => Err(e.diagnostic("write Istio's plug-in CA Secret", "")),
    }
}

/// Whether the plug-in copy in `namespace` is this CA's and holds `certificate_pem`.
pub(super) async fn plugin_copy_in_place(
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
    pub(super) async fn acmpca(&self) -> Result<aws_sdk_acmpca::Client, Diagnostic> {
        match self.clients.aws().await {
            Ok(aws) => Ok(aws.acmpca.clone()),
            Err(e) => Err(Diagnostic::error("ACM Private CA needs the provider's aws block", e.to_string()).at(at("acm_pca"))),
        }
    }

    /// A CA whose key is kept only in its Secret, with its issuer if asked for: made here, or
    /// the configuration's `key_pair` (whose key is `given`).
    pub(super) async fn create_local(
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
        let given_certificate = state.given_certificate().map(str::to_string);
        let files = TlsFiles { layout: spec.layout, ..self.key_material(spec, given_certificate.as_deref(), given).await? };
        state.trust_bundle_pem = Attr::Known(files.ca_crt.clone());
        // A key pair's certificate is recorded as given, as plan showed it.
        state
            .set_certificate(&given_certificate.unwrap_or_else(|| pki::first_certificate(&files.tls_crt)))
            .map_err(|e| Diagnostic::error("Generated certificate cannot be parsed", e.to_string()))?;
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

    /// The files of a CA kept in its Secret: the configuration's `key_pair` (whose key is
    /// `given`), an intermediate signed by its parent, or a new root.
    async fn key_material(&self, spec: &CaSpec, given_certificate: Option<&str>, given: Option<GivenKey>) -> Result<TlsFiles, Diagnostic> {
        let issued = match (given_certificate, given, &spec.parent) {
            (Some(certificate_pem), Some(GivenKey(private_key_pem)), _) => {
                key_pair_problem(certificate_pem, private_key_pem.expose(), time::OffsetDateTime::now_utc())
                    .map_or(Ok(()), |(path, d)| Err(d.at(path)))?;
                pki::Issued { certificate_pem: certificate_pem.to_string(), private_key_pem }
            }
            (Some(_), None, _) => return Err(Diagnostic::error(
                "Missing CA key",
                "key_pair.private_key_pem_wo was not in the configuration at apply. It is write-only: give it in the configuration every apply that creates the CA.",
            )
            .at(AttributePath::attrs(&["key_pair", "private_key_pem_wo"]))),
            (None, _, Some(parent)) => return self.intermediate(spec, parent).await,
            (None, _, None) => {
                let cn = spec.common_name.as_deref().unwrap_or_default();
                ca_store::generate_root(cn, spec.organization.as_deref(), spec.validity_days, spec.key_algorithm)
                    .await
                    .diag("generate the CA")?
            }
        };
        Ok(TlsFiles {
            ca_crt: issued.certificate_pem.clone(),
            tls_crt: issued.certificate_pem,
            tls_key: issued.private_key_pem,
            layout: Layout::Tls,
        })
    }

    /// An intermediate signed by `parent` (its id, its certificate as planned and the path
    /// length to give): the parent in the cluster must still be the one planned, and able to
    /// sign it, which plan could not check when the parent was new.
    async fn intermediate(&self, spec: &CaSpec, (ca_id, planned_pem, path_len): &(String, String, u8)) -> Result<TlsFiles, Diagnostic> {
        let (parent_client, parent) = self.parent(ca_id).await?;
        if pki::fingerprints(planned_pem).first() != Some(&parent.info.fingerprint_sha256) {
            return Err(Diagnostic::error(
                "Parent changed since plan",
                format!("The CA in Secret {ca_id} is not the certificate parent.certificate_pem gives. Plan again, so the intermediate is checked against the parent it will have."),
            )
            .at(AttributePath::attrs(&["parent", "certificate_pem"])));
        }
        let now = time::OffsetDateTime::now_utc();
        if let Some((path, problem)) =
            parent_problems(&parent.certificate_pem(), i64::from(*path_len), spec.validity_days, now).into_iter().next()
        {
            return Err(problem.at(path));
        }
        let request = ca_store::IntermediateSpec {
            common_name: spec.common_name.clone().unwrap_or_default(),
            organization: spec.organization.clone(),
            validity_days: spec.validity_days,
            key_algorithm: spec.key_algorithm,
            path_len: *path_len,
        };
        parent.sign_intermediate(&self.clients, &parent_client, request).await.map_err(|e| match e {
            ca_store::IssueError::Unsupported(_) => Diagnostic::error("Cannot sign this intermediate", e.to_string()).at(at("path_length")),
            ca_store::IssueError::Aws(_) => Diagnostic::error("ACM Private CA needs the provider's aws block", e.to_string())
                .at(AttributePath::attrs(&["parent", "ca_id"])),
            e => Diagnostic::error("Failed to sign the intermediate CA", e.to_string()),
        })
    }

    /// The parent `ca_id`, loaded from the cluster parents are read from, with that cluster's
    /// client.
    pub(super) async fn parent(&self, ca_id: &str) -> Result<(kube::Client, ca_store::Ca), Diagnostic> {
        let at_id = || AttributePath::attrs(&["parent", "ca_id"]);
        let (parent_client, parent_cache) = self.clients.parent().await.map_err(|e| {
            Diagnostic::error(
                "Cannot reach the parent's cluster",
                format!("{e}. Check the provider's `parent_cluster` block, or its `kubernetes` block when it has none."),
            )
            .at(at_id())
        })?;
        let parent = ca_store::load(&parent_client, &parent_cache, ca_id).await.map_err(|d| d.at(at_id()))?;
        Ok((parent_client, parent))
    }

    /// A CA behind ACM Private CA, adopted or created; its Secret holds only `ca.crt`.
    pub(super) async fn create_pca(
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
        state.trust_bundle_pem = Attr::Known(provisioned.certificate_pem.clone());
        if let Err(e) = state.set_certificate(&provisioned.certificate_pem) {
            return Err(Failure::new(Diagnostic::error("ACM Private CA certificate unreadable", e.to_string())).keeping(state.unfinished()));
        }
        Ok(state.into())
    }
}
