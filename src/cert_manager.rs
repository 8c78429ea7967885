//! cert-manager Issuer / ClusterIssuer objects of the `ca` kind, pointing at a CA Secret, so
//! cluster-native issuance keeps working beside meshtls.

use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::Api;

use crate::clients::kubernetes::is_not_found;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    Issuer,
    ClusterIssuer,
}

impl IssuerKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Issuer" => Some(Self::Issuer),
            "ClusterIssuer" => Some(Self::ClusterIssuer),
            _ => None,
        }
    }

    fn api(self, client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
        let kind = match self {
            Self::Issuer => "Issuer",
            Self::ClusterIssuer => "ClusterIssuer",
        };
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("cert-manager.io", "v1", kind));
        match self {
            Self::Issuer => Api::namespaced_with(client.clone(), namespace, &resource),
            Self::ClusterIssuer => Api::all_with(client.clone(), &resource),
        }
    }
}

/// Creates or updates the issuer with server-side apply, owning only the fields it sets.
pub async fn apply(client: &kube::Client, kind: IssuerKind, namespace: &str, name: &str, secret_name: &str) -> Result<(), kube::Error> {
    let kind_name = match kind {
        IssuerKind::Issuer => "Issuer",
        IssuerKind::ClusterIssuer => "ClusterIssuer",
    };
    let mut metadata = serde_json::json!({ "name": name, "labels": { crate::tls_secret::MANAGED_BY_LABEL: "meshtls" } });
    if kind == IssuerKind::Issuer {
        metadata["namespace"] = serde_json::json!(namespace);
    }
    let body = serde_json::json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": kind_name,
        "metadata": metadata,
        "spec": { "ca": { "secretName": secret_name } }
    });
    kind.api(client, namespace).patch(name, &PatchParams::apply("meshtls").force(), &Patch::Apply(&body)).await?;
    Ok(())
}

/// The CA Secret an existing issuer points at; `None` when the issuer does not exist.
pub async fn secret_of(
    client: &kube::Client,
    kind: IssuerKind,
    namespace: &str,
    name: &str,
) -> Result<Option<Option<String>>, kube::Error> {
    let Some(obj) = kind.api(client, namespace).get_opt(name).await? else { return Ok(None) };
    Ok(Some(obj.data.pointer("/spec/ca/secretName").and_then(|v| v.as_str()).map(str::to_string)))
}

pub async fn delete(client: &kube::Client, kind: IssuerKind, namespace: &str, name: &str) -> Result<(), kube::Error> {
    match kind.api(client, namespace).delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}
