//! The work of the resource: which sides it manages, the certificate mounted into Envoy, and
//! the apply that writes both sides and the Deployment's mount, keeping what it changed.

use super::*;

impl VirtualNodeTlsResource {
    /// The sides this resource manages: the cluster when there is a `kubernetes` block, the
    /// App Mesh API when the provider has an `aws` block.
    pub(super) async fn sides(&self, m: &VirtualNodeTls) -> Result<(Option<ClusterVirtualNode>, Option<ApiVirtualNode>), Diagnostics> {
        let k8s = m.kubernetes.as_ref().and_then(|k| Some((k.namespace.known()?, k.virtual_node.known()?)));
        let cluster = match k8s {
            Some((namespace, name)) => {
                let client = self.clients.kube().await.map_err(client_error)?;
                Some(ClusterVirtualNode {
                    client,
                    cache: self.clients.read_cache.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                })
            }
            None => None,
        };
        let api = match (self.clients.aws_configured(), m.mesh_name.known(), m.virtual_node_name.known()) {
            (true, Some(mesh), Some(node)) => {
                let aws = self.clients.aws().await.map_err(aws_client_error)?;
                Some(ApiVirtualNode {
                    client: aws.appmesh.clone(),
                    cache: self.clients.read_cache.clone(),
                    mesh: mesh.clone(),
                    node: node.clone(),
                })
            }
            _ => None,
        };
        Ok((cluster, api))
    }

    /// The certificate mounted from `certificate_secret` now, if it can be read.
    /// The certificate in `certificate_secret`: `Ok(None)` when there is nothing to read yet
    /// (no Secret named, the cluster unknown, or a Secret a `meshtls_certificate` in the same
    /// apply will create); an error, with the attribute and a fix, when it cannot be read or
    /// holds no certificate, so the plan never leaves the fingerprint unknown for nothing.
    pub(super) async fn mounted_certificate(&self, m: &VirtualNodeTls) -> Result<Option<pki::CertificateInfo>, Diagnostic> {
        let (Some(secret), Some(namespace)) = (m.certificate_secret.known(), m.kubernetes.as_ref().and_then(|k| k.namespace.known()))
        else {
            return Ok(None);
        };
        if self.clients.cluster_unknown() {
            return Ok(None);
        }
        let problem = |detail: String| Diagnostic::error("Cannot read the certificate Secret", detail).at(at("certificate_secret"));
        let client = self.clients.kube().await.map_err(|e| problem(e.to_string()))?;
        let observed = tls_secret::get(&client, &self.clients.read_cache, namespace, secret).await.map_err(|e| {
            problem(format!(
                "Secret {namespace}/{secret}: {e}. meshtls_virtual_node_tls needs `get` on it to roll the pods when it is renewed (docs/security.md)."
            ))
        })?;
        let Some(observed) = observed else { return Ok(None) };
        let pem = observed.tls_crt.ok_or_else(|| {
            problem(format!(
                "Secret {namespace}/{secret} has no tls.crt. Name the Secret of a meshtls_certificate, or of type kubernetes.io/tls."
            ))
        })?;
        pki::inspect(&pem).map(Some).map_err(|e| problem(format!("Secret {namespace}/{secret}: tls.crt is not a certificate: {e}.")))
    }

    /// Writes the managed parts of the node's TLS on `side` and leaves the others; records
    /// what the side held before meshtls first wrote it.
    pub(super) async fn write_side(
        side: &dyn MeshSide,
        port: Option<i64>,
        want: &NodeTls,
        managed: Managed,
        released: Managed,
        before: &mut Before,
    ) -> Result<(), SideError> {
        let current = side.read(port).await?.tls;
        let recorded = if before.recorded {
            before.sides.entry(side.name().to_string()).or_insert_with(|| current.clone()).clone()
        } else {
            NodeTls::default()
        };
        side.write(port, &to_write(want, &current, &recorded, managed, released)).await
    }

    /// The fingerprint of the certificate mounted now; null, with an error when the Secret
    /// named is missing.
    async fn fingerprint_now(&self, state: &VirtualNodeTls, diagnostics: &mut Diagnostics) -> Attr<String> {
        match self.mounted_certificate(state).await {
            Ok(Some(info)) => Attr::Known(info.fingerprint_sha256),
            // No Secret mounted: nothing to fingerprint.
            Ok(None) if state.certificate_secret.is_null() => Attr::Null,
            Ok(None) => {
                diagnostics.push(
                    Diagnostic::error(
                        "Certificate Secret not found",
                        "The Secret named in certificate_secret does not exist. Create it first: reference meshtls_certificate.<name>.secret_name so Terraform orders them.",
                    )
                    .at(at("certificate_secret")),
                );
                Attr::Null
            }
            Err(d) => {
                diagnostics.push(d);
                Attr::Null
            }
        }
    }

    pub(super) async fn apply(
        &self,
        planned: VirtualNodeTls,
        prior: Option<&VirtualNodeTls>,
        mut before: Before,
    ) -> Outcome<VirtualNodeTls> {
        let (cluster, api) = self.sides(&planned).await?;
        let tls = planned.desired_tls();
        let port = planned.listener_port();
        let managed = planned.managed();
        let released = released(prior.map(VirtualNodeTls::managed).unwrap_or_default(), managed);
        let mut state = planned;
        let mut diagnostics = Diagnostics::new();
        // Left unknown at plan when the Secret was still to be created: it exists by now.
        if state.certificate_fingerprint.is_unknown() {
            state.certificate_fingerprint = self.fingerprint_now(&state, &mut diagnostics).await;
        }
        let cluster_result = match &cluster {
            Some(c) => Some(Self::write_side(c, port, &tls, managed, released, &mut before).await),
            None => None,
        };
        state.cluster_status = applied_status(cluster_result, &mut diagnostics);
        let api_result = match &api {
            Some(a) => Some(Self::write_side(a, port, &tls, managed, released, &mut before).await),
            None => None,
        };
        state.api_status = applied_status(api_result, &mut diagnostics);

        if let (Some(c), Some(deployment)) = (&cluster, state.deployment()) {
            if let Err(failed) = mount_on_deployment(c, deployment, &state, prior, &mut before).await {
                diagnostics.push(Diagnostic::error("Failed to annotate the Deployment", failed.clone()));
                state.cluster_status = SideStatus::ApplyFailed(failed).into();
            }
        }
        state.id = Attr::Known(node_id(state.mesh_name.as_deref(), state.virtual_node_name.as_deref().unwrap_or_default()));
        // What was written stays in state, with the failed side's status saying so.
        if diagnostics.has_errors() {
            Err(Failure::new(diagnostics).keeping(state).with_private(before.encode()))
        } else {
            Ok(Saved::new(state).with_private(before.encode()).warn(diagnostics))
        }
    }
}

/// Sets the Deployment's pod-template annotations this resource wants, and its own entry
/// in `secretMounts` among the app's, recording in `before` what it added and displaced (for
/// destroy). Why it failed, when it did.
async fn mount_on_deployment(
    c: &ClusterVirtualNode,
    deployment: &str,
    state: &VirtualNodeTls,
    prior: Option<&VirtualNodeTls>,
    before: &mut Before,
) -> Result<(), String> {
    let mut wanted = state.wanted_annotations();
    for key in prior.map(VirtualNodeTls::wanted_annotations).unwrap_or_default().into_keys() {
        wanted.entry(key).or_insert(None);
    }
    // The app's own secretMounts entries stay: this resource adds and removes its own
    // entry only, and records what it added (and displaced) for destroy.
    let ours = wanted.remove(SECRET_MOUNTS_ANNOTATION).flatten();
    let (previous, restore) = (before.mount.clone(), before.displaced.clone());
    let mut displaced = None;
    // An entry the Deployment had before this resource first wrote it (made by hand,
    // or found at import) is the app's: destroy puts it back.
    let mut preexisting = false;
    let result = appmesh_k8s::update_pod_annotations(&c.client, &c.namespace, deployment, |have| {
        let mut changes = wanted.clone();
        let current = have.get(SECRET_MOUNTS_ANNOTATION).map(String::as_str);
        match (&ours, &previous) {
            (Some(entry), _) => {
                preexisting = before.recorded && previous.is_none() && appmesh_k8s::secret_mounts(current).contains(entry);
                let (value, moved) = mounts_with(current, entry, previous.as_deref(), restore.as_deref());
                displaced = moved;
                changes.insert(SECRET_MOUNTS_ANNOTATION.to_string(), Some(value));
            }
            (None, Some(previous)) => {
                changes.insert(SECRET_MOUNTS_ANNOTATION.to_string(), mounts_without(current, previous, restore.as_deref()));
            }
            (None, None) => {}
        }
        changes
    })
    .await;
    let result = match result {
        Ok(false) if !wanted.values().all(Option::is_none) || ours.is_some() => {
            Err(format!("Deployment {}/{deployment} not found", c.namespace))
        }
        other => other.map_err(|e| format!("Deployment {}/{deployment}: {e}", c.namespace)),
    };
    result?;
    if preexisting {
        displaced = ours.clone();
    }
    if ours.as_ref() != previous.as_ref() {
        // A moved mount gave back what its old entry displaced.
        before.displaced = if previous.is_some() { displaced } else { before.displaced.take().or(displaced) };
    } else if before.displaced.is_none() {
        before.displaced = displaced;
    }
    before.mount = ours;
    Ok(())
}
