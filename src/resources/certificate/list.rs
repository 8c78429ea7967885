//! `meshtls_certificate` as a list resource (`terraform query`): every service certificate
//! Secret in a namespace that has cert-manager's TLS layout, whoever issued it, with its
//! names, issuer and days left, and the state an import of it records. CA certificates are
//! left to `meshtls_ca`'s list. Listing reads only, and reads no key.

use tfplugin::{Found, Listing, TypedListResource};

use super::*;
use crate::resources::identity::SecretIdentity;
use crate::tls_secret::ListedSecret;

/// The list block's `config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretQuery {
    pub namespace: Attr<String>,
}

pub struct CertificateList {
    clients: Arc<Clients>,
}

impl CertificateList {
    pub fn new(clients: Arc<Clients>) -> Self {
        CertificateList { clients }
    }
}

/// One certificate Secret as the list reports it. `ca` is the CA it records, if any; without
/// one the state names no CA and the display says how to import it.
pub(super) fn found(
    namespace: &str,
    secret: &ListedSecret,
    leaf: &pki::CertificateInfo,
    ca: Option<(&str, &pki::CertificateInfo)>,
    now: OffsetDateTime,
) -> Found<Certificate, SecretIdentity> {
    let key_algorithm = leaf.key_algorithm.unwrap_or(KeyAlgorithm::EcdsaP256);
    let mut state = imported(namespace, &secret.name, ca.map_or("", |(id, _)| id), leaf, key_algorithm);
    if let Some((_, ca_info)) = ca {
        state.set_certificate(leaf, ca_info);
    } else {
        state.ca = Attr::Null;
    }
    let names = if leaf.dns_names.is_empty() { leaf.common_name.clone().unwrap_or_default() } else { leaf.dns_names.join(", ") };
    let issuer = match cert_manager::issuer_of(&secret.annotations) {
        Some((kind, name)) => format!("{} {name}", kind.name()),
        None => format!("{:?}", leaf.issuer),
    };
    let mut notes = Vec::new();
    if secret.managed_by_meshtls() {
        notes.push("managed by meshtls".to_string());
    }
    if ca.is_none() {
        notes.push(format!("signing CA not recorded: import with ID {namespace}/{}:<ca namespace>/<ca secret>", secret.name));
    }
    let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
    Found {
        identity: SecretIdentity { namespace: namespace.to_string(), secret_name: secret.name.clone() },
        display_name: format!("{namespace}/{}: {names}, issuer {issuer}, {}{notes}", secret.name, pki::days_left(leaf.not_after, now)),
        resource: state,
    }
}

#[async_trait]
impl TypedListResource for CertificateList {
    type Config = SecretQuery;
    type Model = Certificate;
    type Identity = SecretIdentity;

    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("Every service certificate Secret in a namespace with cert-manager's TLS layout (type `kubernetes.io/tls`, a non-CA `tls.crt`), with its names, issuer and days left. Needs `list` on Secrets in that namespace.")
                .attribute(Attribute::string("namespace").required().description("The namespace to look in.")),
        )
    }

    async fn validate(&self, config: &SecretQuery) -> Diagnostics {
        let mut d = Diagnostics::new();
        check_namespace(&mut d, config.namespace.as_deref(), "namespace");
        d
    }

    async fn list(&self, config: SecretQuery, limit: usize) -> Result<Listing<Certificate, SecretIdentity>, Diagnostics> {
        let namespace = config.namespace.known().cloned().unwrap_or_default();
        let client = self.clients.kube().await.map_err(client_error)?;
        let secrets = tls_secret::list_tls(&client, &namespace).await.map_err(|e| {
            Diagnostics::from(Diagnostic::error("Failed to list TLS Secrets", format!("namespace {namespace}: {e}")).at(at("namespace")))
        })?;
        let now = OffsetDateTime::now_utc();
        let mut listing = Listing::default();
        for secret in secrets {
            if listing.found.len() >= limit {
                break;
            }
            let Some(leaf_pem) = secret.tls_crt.as_deref() else { continue };
            let Ok(leaf) = pki::inspect(leaf_pem) else { continue };
            if leaf.is_ca {
                continue;
            }
            let ca_id = match recorded_ca(&client, &namespace, &secret.annotations).await {
                Ok(id) => id,
                Err(e) => {
                    listing.warnings.push(Diagnostic::warning(
                        "Could not read a cert-manager issuer",
                        format!("Secret {namespace}/{}: {e}", secret.name),
                    ));
                    None
                }
            };
            // The CA certificate the Secret carries beside the leaf, for the state's fingerprint.
            let ca_info = secret.ca_crt.as_deref().and_then(|p| pki::inspect(p).ok());
            let ca = ca_id.as_deref().zip(ca_info.as_ref());
            listing.found.push(found(&namespace, &secret, &leaf, ca, now));
        }
        Ok(listing)
    }
}
