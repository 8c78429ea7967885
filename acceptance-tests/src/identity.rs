//! A least-privilege identity: a user with a client certificate signed by the environment's
//! CA, bound in one namespace to exactly the RBAC that docs/security.md documents, so a
//! scenario run as that user proves the documented Roles are enough.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apiserver::{user_cert, write_kubeconfig};
use crate::{env, repo_root};

/// The namespace and user the documented manifests are written for.
const DOC_NAMESPACE: &str = "namespace: yelb";
const DOC_USER: &str = "name: meshtls-terraform";

pub struct Identity {
    dir: tempfile::TempDir,
}

/// The YAML blocks of docs/security.md's "Least privilege" section: the Roles per resource
/// and their bindings.
pub fn documented_rbac() -> String {
    let doc = std::fs::read_to_string(repo_root().join("docs/security.md")).expect("docs/security.md");
    let section = doc.split("\n## Least privilege").nth(1).expect("docs/security.md has a `## Least privilege` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let blocks: Vec<&str> = section.split("```yaml\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    assert!(!blocks.is_empty(), "the Least privilege section has no yaml blocks");
    blocks.join("---\n")
}

/// The value of the first `field:` line of the environment's kubeconfig.
fn kubeconfig_field(field: &str) -> String {
    let kubeconfig = std::fs::read_to_string(env("KUBECONFIG")).expect("KUBECONFIG file");
    kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix(field).and_then(|rest| rest.strip_prefix(':')).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| panic!("a {field} in the environment's kubeconfig"))
}

/// The environment's API server URL.
pub fn server_url() -> String {
    kubeconfig_field("server")
}

impl Identity {
    /// A new user `user`, bound in `namespace` to the documented Roles (applied by the
    /// environment's admin).
    pub fn documented(namespace: &str, user: &str) -> Identity {
        let dir = tempfile::Builder::new().prefix("meshtls-identity-").tempdir().expect("temp dir");
        let manifests =
            documented_rbac().replace(DOC_NAMESPACE, &format!("namespace: {namespace}")).replace(DOC_USER, &format!("name: {user}"));
        let file = dir.path().join("rbac.yaml");
        std::fs::write(&file, manifests).expect("write rbac.yaml");
        apply_as_admin(&file);
        // The authorizer sees new bindings through its own cache.
        let cluster = crate::cluster::Cluster::connect();
        crate::wait::until(&format!("the authorizer to grant {user} the documented Roles"), std::time::Duration::from_secs(30), || {
            cluster.user_can(user, namespace, "create", "secrets").then_some(())
        });
        let (crt, key) = user_cert(dir.path(), user);
        write_kubeconfig(&dir.path().join("kubeconfig"), &server_url(), &crt, &key);
        Identity { dir }
    }

    /// A new user `user`, bound in `namespace` to one documented Role alone (and its
    /// RoleBinding, which the docs name after it), so a scenario proves that Role is enough
    /// for its resource. `probe` (verb, resource) is a right the Role grants, to wait on.
    pub fn documented_role(namespace: &str, user: &str, role: &str, probe: (&str, &str)) -> Identity {
        let dir = tempfile::Builder::new().prefix("meshtls-identity-").tempdir().expect("temp dir");
        bind_documented_role(dir.path(), namespace, role, &format!("kind: User\n    name: {user}"), user, probe);
        let (crt, key) = user_cert(dir.path(), user);
        write_kubeconfig(&dir.path().join("kubeconfig"), &server_url(), &crt, &key);
        Identity { dir }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }
}

/// Binds the documented Role `role` in `namespace` to the ServiceAccount `service_account` of
/// that namespace (created when a token is requested for it), as a pod or a TokenRequest's
/// token runs.
pub fn documented_role_for_service_account(namespace: &str, service_account: &str, role: &str, probe: (&str, &str)) {
    let dir = tempfile::Builder::new().prefix("meshtls-identity-").tempdir().expect("temp dir");
    let subject = format!("kind: ServiceAccount\n    name: {service_account}\n    namespace: {namespace}");
    bind_documented_role(dir.path(), namespace, role, &subject, &format!("system:serviceaccount:{namespace}:{service_account}"), probe);
}

/// Applies the documented Role `role` and its RoleBinding (which the docs name after it) in
/// `namespace`, with `subject` (the YAML after `- `) in place of the documented user, and
/// waits until the authorizer grants `user` the `probe` (verb, resource) right it gives.
fn bind_documented_role(dir: &Path, namespace: &str, role: &str, subject: &str, user: &str, probe: (&str, &str)) {
    let named = format!("name: {role}\n");
    let documented = documented_rbac();
    let manifests: Vec<&str> = documented
        .split("---\n")
        .filter(|doc| doc.contains(&named) && (doc.contains("kind: Role\n") || doc.contains("kind: RoleBinding\n")))
        .collect();
    assert_eq!(manifests.len(), 2, "docs/security.md documents a Role {role} and its RoleBinding");
    let manifests = manifests
        .join("---\n")
        .replace(DOC_NAMESPACE, &format!("namespace: {namespace}"))
        .replace(&format!("kind: User\n    {DOC_USER}"), subject);
    let file = dir.join("rbac.yaml");
    std::fs::write(&file, manifests).expect("write rbac.yaml");
    apply_as_admin(&file);
    let cluster = crate::cluster::Cluster::connect();
    crate::wait::until(&format!("the authorizer to grant {user} the Role {role}"), std::time::Duration::from_secs(30), || {
        cluster.user_can(user, namespace, probe.0, probe.1).then_some(())
    });
}

/// The PEM of the CA the environment's API server certificate is signed by.
pub fn server_ca_pem() -> String {
    std::fs::read_to_string(kubeconfig_field("certificate-authority")).expect("the API server's CA")
}

fn apply_as_admin(file: &Path) {
    let script = repo_root().join("acceptance-tests/env/kubeapply.py");
    let out = Command::new(env("MESHTLS_PYTHON"))
        .arg(&script)
        .arg("--kubeconfig")
        .arg(env("KUBECONFIG"))
        .arg(file)
        .output()
        .expect("run kubeapply.py");
    assert!(
        out.status.success(),
        "applying the documented RBAC failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
