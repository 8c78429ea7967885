//! A namespaced Role and RoleBinding that let only the named service accounts read one Secret:
//! the runbook's advice for certificate Secrets, as one argument.

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::clients::kubernetes::is_not_found;

/// The Role and the RoleBinding share this name.
pub fn object_name(secret: &str) -> String {
    format!("{secret}-reader")
}

pub async fn apply(client: &kube::Client, namespace: &str, secret: &str, service_accounts: &[String]) -> Result<(), kube::Error> {
    let name = object_name(secret);
    let labels = json!({ crate::tls_secret::MANAGED_BY_LABEL: "meshtls" });
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": { "name": name, "namespace": namespace, "labels": labels },
        "rules": [{ "apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get", "watch", "list"] }]
    });
    let subjects: Vec<_> =
        service_accounts.iter().map(|sa| json!({ "kind": "ServiceAccount", "name": sa, "namespace": namespace })).collect();
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": name, "namespace": namespace, "labels": labels },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name },
        "subjects": subjects
    });
    let params = PatchParams::apply("meshtls").force();
    Api::<Role>::namespaced(client.clone(), namespace).patch(&name, &params, &Patch::Apply(&role)).await?;
    Api::<RoleBinding>::namespaced(client.clone(), namespace).patch(&name, &params, &Patch::Apply(&binding)).await?;
    Ok(())
}

/// The service accounts bound now; `None` when the Role or the RoleBinding is missing.
pub async fn service_accounts(client: &kube::Client, namespace: &str, secret: &str) -> Result<Option<Vec<String>>, kube::Error> {
    let name = object_name(secret);
    if Api::<Role>::namespaced(client.clone(), namespace).get_opt(&name).await?.is_none() {
        return Ok(None);
    }
    let Some(binding) = Api::<RoleBinding>::namespaced(client.clone(), namespace).get_opt(&name).await? else { return Ok(None) };
    Ok(Some(binding.subjects.unwrap_or_default().into_iter().filter(|s| s.kind == "ServiceAccount").map(|s| s.name).collect()))
}

pub async fn delete(client: &kube::Client, namespace: &str, secret: &str) -> Result<(), kube::Error> {
    let name = object_name(secret);
    for result in [
        Api::<RoleBinding>::namespaced(client.clone(), namespace).delete(&name, &DeleteParams::default()).await.map(|_| ()),
        Api::<Role>::namespaced(client.clone(), namespace).delete(&name, &DeleteParams::default()).await.map(|_| ()),
    ] {
        match result {
            Err(e) if !is_not_found(&e) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
