//! cert-manager Issuer / ClusterIssuer objects of the `ca` kind, pointing at a CA Secret, so
//! cluster-native issuance keeps working beside meshtls. Written and deleted only when they
//! carry the resource's ownership marker (see `ownership`).

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ObjectMeta};
use kube::Api;
use serde::{Deserialize, Serialize};

use crate::ownership::{Deleted, ObjectRef, OwnError, Owned, Owner};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    Issuer,
    ClusterIssuer,
}

/// The part of an issuer's spec meshtls writes: `spec.ca.secretName`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
struct IssuerSpec {
    ca: Option<CaIssuer>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
struct CaIssuer {
    secret_name: String,
}

impl IssuerKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Issuer" => Some(Self::Issuer),
            "ClusterIssuer" => Some(Self::ClusterIssuer),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Issuer => "Issuer",
            Self::ClusterIssuer => "ClusterIssuer",
        }
    }

    fn resource(self) -> ApiResource {
        ApiResource::from_gvk(&GroupVersionKind::gvk("cert-manager.io", "v1", self.name()))
    }

    /// The namespace the object lives in: none for a ClusterIssuer.
    fn namespace(self, namespace: &str) -> Option<&str> {
        (self == Self::Issuer).then_some(namespace)
    }
}

/// One issuer, as `owner`'s object.
pub fn owned<'a>(client: &kube::Client, owner: &'a Owner, kind: IssuerKind, namespace: &str, name: &str) -> Owned<'a, DynamicObject> {
    let resource = kind.resource();
    let api = match kind.namespace(namespace) {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    Owned::with_kind(api, ObjectRef::new(kind.name(), kind.namespace(namespace), name), owner)
}

/// Creates the issuer, or sets its spec to a `ca` issuer of `secret_name` when it is
/// `owner`'s; refuses anyone else's.
pub async fn ensure(
    client: &kube::Client,
    owner: &Owner,
    kind: IssuerKind,
    namespace: &str,
    name: &str,
    secret_name: &str,
) -> Result<(), OwnError> {
    let resource = kind.resource();
    let spec = IssuerSpec { ca: Some(CaIssuer { secret_name: secret_name.into() }) };
    let desired = DynamicObject {
        types: Some(kube::api::TypeMeta { api_version: resource.api_version.clone(), kind: resource.kind.clone() }),
        metadata: ObjectMeta { name: Some(name.into()), namespace: kind.namespace(namespace).map(str::to_string), ..Default::default() },
        data: serde_json::json!({ "spec": spec }),
    };
    owned(client, owner, kind, namespace, name)
        .ensure(desired, |existing, desired| {
            // The whole spec: a `ca` issuer with anything else beside it is invalid.
            existing.data["spec"] = desired.data["spec"].clone();
        })
        .await
        .map(|_| ())
}

/// The CA Secret `owner`'s issuer points at: `None` when the issuer is absent or not
/// `owner`'s, `Some(None)` when it is no `ca` issuer.
pub async fn secret_of(
    client: &kube::Client,
    owner: &Owner,
    kind: IssuerKind,
    namespace: &str,
    name: &str,
) -> Result<Option<Option<String>>, OwnError> {
    let found = owned(client, owner, kind, namespace, name).get_ours().await?;
    Ok(found.map(|obj| ca_secret(&obj)))
}

fn ca_secret(obj: &DynamicObject) -> Option<String> {
    let spec: IssuerSpec = serde_json::from_value(obj.data.get("spec")?.clone()).ok()?;
    spec.ca.map(|ca| ca.secret_name)
}

/// cert-manager's annotations on the Secrets it issues: the issuer's name and kind.
pub const ISSUER_NAME_ANNOTATION: &str = "cert-manager.io/issuer-name";
pub const ISSUER_KIND_ANNOTATION: &str = "cert-manager.io/issuer-kind";

/// The issuer cert-manager recorded on a Secret it issued, if it recorded one.
pub fn issuer_of(annotations: &std::collections::BTreeMap<String, String>) -> Option<(IssuerKind, &str)> {
    let name = annotations.get(ISSUER_NAME_ANNOTATION)?;
    let kind = annotations.get(ISSUER_KIND_ANNOTATION).map_or(Some(IssuerKind::Issuer), |k| IssuerKind::parse(k))?;
    Some((kind, name))
}

/// The CA Secret a namespaced `ca` Issuer signs with, read whoever owns the issuer: `None`
/// when it is absent or no `ca` issuer.
pub async fn issuer_ca_secret(client: &kube::Client, namespace: &str, name: &str) -> Result<Option<String>, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &IssuerKind::Issuer.resource());
    Ok(api.get_opt(name).await?.as_ref().and_then(ca_secret))
}

/// Every `ca` Issuer in `namespace`, with the CA Secret it signs with (for `terraform query`);
/// none when cert-manager is not installed.
pub async fn ca_issuers(client: &kube::Client, namespace: &str) -> Vec<(String, String)> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &IssuerKind::Issuer.resource());
    let Ok(list) = api.list(&kube::api::ListParams::default()).await else { return Vec::new() };
    list.items.iter().filter_map(|o| Some((o.metadata.name.clone()?, ca_secret(o)?))).collect()
}

/// What importing an issuer found.
#[derive(Debug, PartialEq)]
pub enum Adopted {
    /// Marked as the resource's: it is a `ca` issuer of the CA Secret.
    Yes,
    Missing,
    /// Not a `ca` issuer of the CA Secret (the Secret it names, if any): left unmarked.
    OtherSecret(Option<String>),
}

/// Import: marks the issuer as `owner`'s when it is a `ca` issuer of `secret_name`.
pub async fn adopt(
    client: &kube::Client,
    owner: &Owner,
    kind: IssuerKind,
    namespace: &str,
    name: &str,
    secret_name: &str,
) -> Result<Adopted, OwnError> {
    let issuer = owned(client, owner, kind, namespace, name);
    let Some((found, _)) = issuer.get().await? else { return Ok(Adopted::Missing) };
    match ca_secret(&found) {
        Some(s) if s == secret_name => Ok(if issuer.adopt().await?.is_some() { Adopted::Yes } else { Adopted::Missing }),
        other => Ok(Adopted::OtherSecret(other)),
    }
}

pub async fn delete(client: &kube::Client, owner: &Owner, kind: IssuerKind, namespace: &str, name: &str) -> Result<Deleted, OwnError> {
    owned(client, owner, kind, namespace, name).delete().await
}
