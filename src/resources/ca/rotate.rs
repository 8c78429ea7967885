//! Rotation of a root meshtls generated, in three phases of one apply each, so that no hop
//! ever fails to verify: the new root joins every trust bundle beside the old one
//! (`trust_new`), then signs in its place (`sign_with_new`), then the old root leaves the
//! bundles (`drop_old`). istiod takes a change of roots only when the new set holds the old or
//! is held by it, which is this order.
//!
//! The root not signing sits in a Secret of its own, `<secret_name>-rotation`, marked as this
//! CA's: the new root during `trust_new`, the old one during `sign_with_new` (so a step back
//! can sign with it again). `drop_old` deletes it.

use super::*;

/// The Secret of the root that does not sign during a rotation: `<secret_name>-rotation`.
pub(super) fn rotation_secret(secret_name: &str) -> String {
    format!("{secret_name}-rotation")
}

/// Whether an update takes a rotation step: the phase changes, other than the end of a
/// rotation already finished (`drop_old` to no block).
pub(super) fn rotation_step(prior: &CertificateAuthority, planned: &CertificateAuthority) -> bool {
    let (from, to) = (prior.phase(), planned.phase());
    from != to && !(from == Some(Phase::DropOld) && to.is_none())
}

/// A phase of a rotation, as `rotation.phase` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    TrustNew,
    SignWithNew,
    DropOld,
}

impl Phase {
    pub(super) const NAMES: [&'static str; 3] = ["trust_new", "sign_with_new", "drop_old"];

    pub(super) fn parse(name: &str) -> Option<Phase> {
        match name {
            "trust_new" => Some(Phase::TrustNew),
            "sign_with_new" => Some(Phase::SignWithNew),
            "drop_old" => Some(Phase::DropOld),
            _ => None,
        }
    }
}

impl CertificateAuthority {
    /// The rotation phase this model names; `None` without a rotation block.
    pub(super) fn phase(&self) -> Option<Phase> {
        self.rotation.as_ref()?.phase.as_deref().and_then(Phase::parse)
    }
}

fn phase_name(phase: Option<Phase>) -> &'static str {
    match phase {
        Some(Phase::TrustNew) => "trust_new",
        Some(Phase::SignWithNew) => "sign_with_new",
        Some(Phase::DropOld) => "drop_old",
        None => "no rotation",
    }
}

/// Why going from phase `from` (in state) to `to` (in the configuration) is refused, if it
/// is: each skips a phase that keeps some hop verifying.
pub(super) fn transition_problem(from: Option<Phase>, to: Option<Phase>) -> Option<String> {
    use Phase::*;
    let due = match (from, to) {
        _ if from == to => return None,
        (None | Some(DropOld), Some(TrustNew)) | (Some(TrustNew), Some(SignWithNew) | None) => return None,
        (Some(SignWithNew), Some(DropOld) | Some(TrustNew)) | (Some(DropOld), None) => return None,
        (None | Some(DropOld), _) => "trust_new: every trust bundle must hold the new root before anything is signed with it",
        (Some(TrustNew), _) => "sign_with_new: the old root may leave the bundles only once nothing is signed with it",
        (Some(SignWithNew), _) => {
            "drop_old, to finish (or trust_new, to sign with the old root again): the rotation block stays until the old root has left every bundle"
        }
    };
    Some(format!("The rotation is at {}, so the next phase is {due}. Set rotation.phase to it.", phase_name(from)))
}

/// The plan's decisions for a rotation: a phase skipped is refused at `rotation.phase`, and a
/// step says what it changes; what it changes is unknown until apply. Returns whether it
/// changes anything.
pub(super) fn plan_rotation(
    prior: &CertificateAuthority,
    config: &CertificateAuthority,
    planned: &mut CertificateAuthority,
    d: &mut Diagnostics,
) -> bool {
    let (from, to) = (prior.phase(), config.phase());
    if from == to || (from == Some(Phase::DropOld) && to.is_none()) {
        return false;
    }
    if let Some(problem) = transition_problem(from, to) {
        d.error_at(AttributePath::attrs(&["rotation", "phase"]), "Rotation phase skipped", problem);
        return false;
    }
    let id = prior.id.as_deref().unwrap_or_default();
    let rotation =
        format!("{}/{}", prior.namespace.as_deref().unwrap_or_default(), rotation_secret(prior.secret_name.as_deref().unwrap_or_default()));
    let plugged = prior
        .istio_plugin
        .as_ref()
        .and_then(IstioPlugin::namespace)
        .map(|ns| format!(", istiod's {ns}/{ISTIO_PLUGIN_SECRET}"))
        .unwrap_or_default();
    let (what, signs) = match (from, to) {
        (_, Some(Phase::TrustNew)) if from != Some(Phase::SignWithNew) => (
            format!("a new root is generated, its key kept in Secret {rotation}, and joins every trust bundle of CA {id} beside the old one (its Secret's ca.crt{plugged}). The old root still signs. Certificates it signed take both roots into their ca.crt on their next apply; move to sign_with_new once a plan is empty"),
            false,
        ),
        (_, Some(Phase::SignWithNew)) => (
            format!("the new root signs for CA {id} from this apply on, and the old one moves to Secret {rotation}; both stay in every bundle. Certificates signed by the old root are re-issued by the new one on their next apply; move to drop_old once a plan is empty"),
            true,
        ),
        (_, Some(Phase::TrustNew)) => (format!("the old root signs for CA {id} again, and the new one waits in Secret {rotation}; both stay in every bundle"), true),
        (_, Some(Phase::DropOld)) => (
            format!("the old root leaves every trust bundle of CA {id}, and Secret {rotation} is deleted. Certificates take the new bundle on their next apply"),
            false,
        ),
        _ => (format!("the new root of CA {id} leaves the bundles before it signed anything, and Secret {rotation} is deleted"), false),
    };
    planned.trust_bundle_pem = Attr::Unknown;
    if signs {
        plan_renewal(planned);
    }
    d.push(
        Diagnostic::warning(format!("Root rotation: {}", phase_name(to)), format!("{what}."))
            .at(AttributePath::attrs(&["rotation", "phase"])),
    );
    true
}

/// Whether this step puts a second root into the bundles (`trust_new` begun).
pub(super) fn adds_a_root(prior: &CertificateAuthority, config: &CertificateAuthority) -> bool {
    config.phase() == Some(Phase::TrustNew) && !matches!(prior.phase(), Some(Phase::TrustNew | Phase::SignWithNew))
}

/// The warning before istiod's bundle carries two roots on a cluster with ambient namespaces
/// (`Ok` their names), or where they could not be listed (`Err` why): ztunnel trusts a single
/// root (istio/istio#47427).
pub(super) fn ambient_warning(ambient: Result<Vec<String>, String>) -> Option<Diagnostic> {
    let detail = match ambient {
        Ok(names) if names.is_empty() => return None,
        Ok(names) => format!("Namespaces {} run in ambient mode, where ztunnel trusts a single root (istio/istio#47427): from this apply until drop_old, traffic signed by the root ztunnel does not hold is refused there. Rotate in a maintenance window, or move those namespaces to sidecars first.", names.join(", ")),
        Err(why) => format!("meshtls could not list the namespaces in ambient mode ({why}). Where a namespace runs in ambient mode, ztunnel trusts a single root (istio/istio#47427), and from this apply until drop_old traffic signed by the other root is refused there."),
    };
    Some(Diagnostic::warning("ztunnel trusts a single root", detail).at(AttributePath::attrs(&["rotation", "phase"])))
}

impl CaResource {
    /// The ambient warning for a rotation step that adds a root to istiod's bundle: this CA
    /// is istiod's (a plug-in copy, or `cacerts` itself).
    pub(super) async fn ambient_check(&self, prior: &CertificateAuthority, config: &CertificateAuthority) -> Option<Diagnostic> {
        let istiods = config.istio_plugin.is_some() || config.secret_name.as_deref() == Some(ISTIO_PLUGIN_SECRET);
        if !istiods || !adds_a_root(prior, config) || self.clients.cluster_unknown() {
            return None;
        }
        let listed = match self.clients.kube().await {
            Ok(client) => crate::backends::istio::ambient_namespaces(&client).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        ambient_warning(listed)
    }

    /// Carries out the step from `prior`'s phase to `planned`'s on the CA Secret and the
    /// rotation Secret. Every write is a replace in place: neither Secret is ever missing.
    pub(super) async fn rotate(
        &self,
        client: &kube::Client,
        spec: &CaSpec,
        owner: &Owner,
        prior: &CertificateAuthority,
        mut state: CertificateAuthority,
    ) -> Result<CertificateAuthority, Diagnostic> {
        let (namespace, name) = (spec.namespace.as_str(), spec.secret_name.as_str());
        let rotation = rotation_secret(name);
        let read = |secret: String| async move { own_files(client, namespace, &secret).await };
        let write = |secret: String, files: TlsFiles| async move {
            tls_secret::rewrite(client, owner, namespace, &secret, &files, BTreeMap::new(), BTreeMap::new())
                .await
                .map_err(|e| e.diagnostic("write a root of the rotation", ""))
        };
        let main = read(name.to_string()).await?;
        let bundle = match (prior.phase(), state.phase()) {
            (from, Some(Phase::TrustNew)) if from != Some(Phase::SignWithNew) => {
                let cn = spec.common_name.as_deref().unwrap_or_default();
                let next = ca_store::generate_root(cn, spec.organization.as_deref(), spec.validity_days, spec.key_algorithm)
                    .await
                    .map_err(|e| Diagnostic::error("Failed to generate the new root", e.to_string()))?;
                let bundle = bundle_of(&[&main.ca_crt, &next.certificate_pem]);
                let next =
                    TlsFiles { ca_crt: bundle.clone(), tls_crt: next.certificate_pem, tls_key: next.private_key_pem, layout: Layout::Tls };
                write(rotation.clone(), next).await?;
                write(name.to_string(), TlsFiles { ca_crt: bundle.clone(), ..main }).await?;
                bundle
            }
            (_, Some(Phase::SignWithNew | Phase::TrustNew)) => {
                // Sign with the other root: the two Secrets trade roots, keeping the bundle.
                let other = read(rotation.clone()).await?;
                let bundle = main.ca_crt.clone();
                state
                    .set_certificate(&pki::first_certificate(&other.tls_crt))
                    .map_err(|e| Diagnostic::error("Root certificate cannot be parsed", e.to_string()))?;
                write(name.to_string(), TlsFiles { ca_crt: bundle.clone(), layout: spec.layout, ..other }).await?;
                write(rotation.clone(), TlsFiles { ca_crt: bundle.clone(), layout: Layout::Tls, ..main }).await?;
                bundle
            }
            _ => {
                // Only the signing root stays.
                let bundle = pki::first_certificate(&main.tls_crt);
                write(name.to_string(), TlsFiles { ca_crt: bundle.clone(), ..main }).await?;
                let deleted = tls_secret::delete(client, owner, namespace, &rotation)
                    .await
                    .map_err(|e| e.diagnostic("delete the rotation's other root", ""))?;
                if let Some(warning) = deleted.warning() {
                    tracing::warn!(namespace, secret = rotation, "{}", warning.detail);
                }
                bundle
            }
        };
        tracing::info!(namespace, secret = name, phase = phase_name(state.phase()), "rotation step applied");
        state.trust_bundle_pem = Attr::Known(bundle);
        Ok(state)
    }
}

/// The roots of several bundles, each once, in order.
pub(super) fn bundle_of(parts: &[&str]) -> String {
    let mut seen = Vec::new();
    let mut out = String::new();
    for pem in parts.iter().flat_map(|p| pki::certificates(p)) {
        let fingerprint = pki::fingerprints(&pem);
        if !seen.contains(&fingerprint) {
            seen.push(fingerprint);
            out.push_str(&pem);
        }
    }
    out
}
