//! `meshtls_ca` as a list resource (`terraform query`): every CA key pair Secret in a
//! namespace (type `kubernetes.io/tls`, a CA `tls.crt`, and istiod's `cacerts` in Istio's
//! four-file layout), with its subject, days left and the cert-manager `ca` Issuers that sign
//! with it, and the state an import of it records. Listing reads only, and reads no key.

use tfplugin::{Found, Listing, TypedListResource};

use super::*;
use crate::resources::identity::SecretIdentity;

/// The list block's `config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaQuery {
    pub namespace: Attr<String>,
}

pub struct CaList {
    clients: Arc<Clients>,
}

impl CaList {
    pub fn new(clients: Arc<Clients>) -> Self {
        CaList { clients }
    }
}

/// One CA Secret as the list reports it; `issuers` are the `ca` Issuers that sign with it.
pub(super) fn found(
    namespace: &str,
    secret: &tls_secret::ListedSecret,
    certificate_pem: &str,
    info: &pki::CertificateInfo,
    issuers: &[&str],
    now: time::OffsetDateTime,
) -> Found<CertificateAuthority, SecretIdentity> {
    let key_algorithm = info.key_algorithm.unwrap_or(KeyAlgorithm::EcdsaP256);
    let state = key_pair_state(namespace, &secret.name, certificate_pem, info, key_algorithm);
    let subject = info.common_name.clone().unwrap_or_else(|| info.subject.clone());
    let mut notes = Vec::new();
    if secret.managed_by_meshtls() {
        notes.push("managed by meshtls".to_string());
    }
    for issuer in issuers {
        notes.push(format!("Issuer {issuer} signs with it: import with ID {namespace}/{}:Issuer/{issuer} to manage it too", secret.name));
    }
    let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
    Found {
        identity: SecretIdentity { namespace: namespace.to_string(), secret_name: secret.name.clone() },
        display_name: format!("{namespace}/{}: CA {subject:?}, {}{notes}", secret.name, pki::days_left(info.not_after, now)),
        resource: state,
    }
}

/// The meshtls resource a Secret belongs to when it is not its own: a CA's plug-in copy, or
/// the other root of its rotation. Neither is a CA to import.
pub(super) fn part_of(namespace: &str, secret: &tls_secret::ListedSecret) -> Option<String> {
    let marker = secret.annotations.get(crate::ownership::OWNER_ANNOTATION)?;
    let resource = marker.split('#').next()?;
    (resource != format!("{TYPE_NAME}:{namespace}/{}", secret.name)).then(|| resource.to_string())
}

#[async_trait]
impl TypedListResource for CaList {
    type Config = CaQuery;
    type Model = CertificateAuthority;
    type Identity = SecretIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("Every CA key pair Secret in a namespace (type `kubernetes.io/tls` with a CA certificate in `tls.crt`), with its subject, days left and the cert-manager `ca` Issuers that sign with it. Needs `list` on Secrets in that namespace.")
                .attribute(Attribute::string("namespace").required().description("The namespace to look in.")),
        )
    }

    async fn validate(&self, config: &CaQuery) -> Diagnostics {
        let mut d = Diagnostics::new();
        check_namespace(&mut d, config.namespace.as_deref(), "namespace");
        d
    }

    async fn list(&self, config: CaQuery, limit: usize) -> Result<Listing<CertificateAuthority, SecretIdentity>, Diagnostics> {
        let namespace = config.namespace.known().cloned().unwrap_or_default();
        let client = self.clients.kube().await.map_err(client_error)?;
        let secrets = tls_secret::list_tls(&client, &namespace).await.map_err(|e| {
            Diagnostics::from(Diagnostic::error("Failed to list TLS Secrets", format!("namespace {namespace}: {e}")).at(at("namespace")))
        })?;
        let mut secrets: Vec<tls_secret::ListedSecret> = secrets.into_iter().filter(|s| part_of(&namespace, s).is_none()).collect();
        // istiod's cacerts in Istio's layout is Opaque, so the list above misses it.
        if let Ok(Some(cacerts)) = tls_secret::get(&client, &self.clients.read_cache, &namespace, ISTIO_PLUGIN_SECRET).await {
            if cacerts.layout == Layout::Istio {
                secrets.push(tls_secret::ListedSecret {
                    name: ISTIO_PLUGIN_SECRET.to_string(),
                    labels: cacerts.labels,
                    annotations: cacerts.annotations,
                    ca_crt: cacerts.ca_crt,
                    tls_crt: cacerts.tls_crt,
                    layout: Layout::Istio,
                });
            }
        }
        let issuers = cert_manager::ca_issuers(&client, &namespace).await;
        let now = time::OffsetDateTime::now_utc();
        let mut listing = Listing::default();
        for secret in &secrets {
            if listing.found.len() >= limit {
                break;
            }
            let Some(pem) = secret.tls_crt.as_deref() else { continue };
            let Ok(info) = pki::inspect(pem) else { continue };
            if !info.is_ca {
                continue;
            }
            let signing: Vec<&str> = issuers.iter().filter(|(_, s)| *s == secret.name).map(|(i, _)| i.as_str()).collect();
            let mut found = found(&namespace, secret, &pki::first_certificate(pem), &info, &signing, now);
            if secret.layout == Layout::Istio {
                found.resource.layout = Attr::Known("istio".into());
            }
            listing.found.push(found);
        }
        Ok(listing)
    }
}
