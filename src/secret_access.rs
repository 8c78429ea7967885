//! A namespaced Role and RoleBinding that let only the named service accounts read one Secret:
//! the runbook's advice for certificate Secrets, as one argument. Both carry the certificate's
//! ownership marker (see `ownership`); someone else's Role or RoleBinding of the same name is
//! never changed or deleted.
//!
//! The Role grants `get` on that one Secret and nothing more: enough to read it through the
//! API, and no more than meshtls's own identity holds, which Kubernetes requires of whoever
//! writes a Role (it may not grant what it lacks, and meshtls needs no `list` on Secrets).

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::ObjectMeta;
use kube::Api;

use crate::ownership::{OwnError, Owned, Owner};

/// The Role and the RoleBinding share this name.
pub fn object_name(secret: &str) -> String {
    format!("{secret}-reader")
}

fn role_rules(secret: &str) -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["secrets".into()]),
        resource_names: Some(vec![secret.into()]),
        verbs: vec!["get".into()],
        ..Default::default()
    }]
}

fn subjects(namespace: &str, service_accounts: &[String]) -> Vec<Subject> {
    service_accounts
        .iter()
        .map(|sa| Subject { kind: "ServiceAccount".into(), name: sa.clone(), namespace: Some(namespace.into()), ..Default::default() })
        .collect()
}

/// The Role and the RoleBinding, as `owner`'s objects.
pub struct Objects<'a> {
    pub role: Owned<'a, Role>,
    pub binding: Owned<'a, RoleBinding>,
}

pub fn objects<'a>(client: &kube::Client, owner: &'a Owner, namespace: &str, secret: &str) -> Objects<'a> {
    let name = object_name(secret);
    Objects {
        role: Owned::new(Api::namespaced(client.clone(), namespace), Some(namespace), &name, owner),
        binding: Owned::new(Api::namespaced(client.clone(), namespace), Some(namespace), &name, owner),
    }
}

/// Fails when a Role or RoleBinding of that name exists that is not `owner`'s.
pub async fn check_free(client: &kube::Client, owner: &Owner, namespace: &str, secret: &str) -> Result<(), OwnError> {
    let o = objects(client, owner, namespace, secret);
    o.role.check_free().await?;
    o.binding.check_free().await
}

pub async fn apply(
    client: &kube::Client,
    owner: &Owner,
    namespace: &str,
    secret: &str,
    service_accounts: &[String],
) -> Result<(), OwnError> {
    let name = object_name(secret);
    let o = objects(client, owner, namespace, secret);
    let meta = ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.into()), ..Default::default() };
    let role = Role { metadata: meta.clone(), rules: Some(role_rules(secret)) };
    o.role.ensure(role, |existing, desired| existing.rules = desired.rules.clone()).await?;
    let binding = RoleBinding {
        metadata: meta,
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name },
        subjects: Some(subjects(namespace, service_accounts)),
    };
    o.binding.ensure(binding, |existing, desired| existing.subjects = desired.subjects.clone()).await?;
    Ok(())
}

/// The service accounts bound now; `None` when the Role or the RoleBinding is missing, is
/// not `owner`'s, or no longer grants exactly what meshtls wrote.
pub async fn service_accounts(
    client: &kube::Client,
    owner: &Owner,
    namespace: &str,
    secret: &str,
) -> Result<Option<Vec<String>>, OwnError> {
    let o = objects(client, owner, namespace, secret);
    let Some(role) = o.role.get_ours().await? else { return Ok(None) };
    if role.rules.unwrap_or_default() != role_rules(secret) {
        return Ok(None);
    }
    let Some(binding) = o.binding.get_ours().await? else { return Ok(None) };
    if binding.role_ref.kind != "Role" || binding.role_ref.name != object_name(secret) {
        return Ok(None);
    }
    Ok(Some(binding.subjects.unwrap_or_default().into_iter().filter(|s| s.kind == "ServiceAccount").map(|s| s.name).collect()))
}

/// Import: marks the Role and RoleBinding as `owner`'s when both exist and the binding refers
/// to the Role, and returns the service accounts bound; `None` (nothing marked) otherwise.
pub async fn adopt(client: &kube::Client, owner: &Owner, namespace: &str, secret: &str) -> Result<Option<Vec<String>>, OwnError> {
    let o = objects(client, owner, namespace, secret);
    let (Some(_), Some((binding, _))) = (o.role.get().await?, o.binding.get().await?) else { return Ok(None) };
    if binding.role_ref.kind != "Role" || binding.role_ref.name != object_name(secret) {
        return Ok(None);
    }
    o.role.adopt().await?;
    o.binding.adopt().await?;
    Ok(Some(binding.subjects.unwrap_or_default().into_iter().filter(|s| s.kind == "ServiceAccount").map(|s| s.name).collect()))
}

/// Deletes `owner`'s RoleBinding and Role; returns what was left in place.
pub async fn delete(client: &kube::Client, owner: &Owner, namespace: &str, secret: &str) -> Result<Vec<tfplugin::Diagnostic>, OwnError> {
    let o = objects(client, owner, namespace, secret);
    let binding = o.binding.delete().await?;
    let role = o.role.delete().await?;
    Ok([binding.warning(), role.warning()].into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_grants_get_on_one_secret_only() {
        let rules = role_rules("yelb-tls-db");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].verbs, vec!["get".to_string()]);
        assert_eq!(rules[0].resource_names.as_deref(), Some(&["yelb-tls-db".to_string()][..]));
        assert_eq!(object_name("yelb-tls-db"), "yelb-tls-db-reader");
        let s = subjects("yelb", &["db".into()]);
        assert_eq!((s[0].kind.as_str(), s[0].name.as_str(), s[0].namespace.as_deref()), ("ServiceAccount", "db", Some("yelb")));
    }
}
