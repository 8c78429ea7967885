//! Direct access to the cluster, for setting scenarios up and for out-of-band changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::ByteString;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::Api;

/// A blocking facade over a kube client, so scenarios read top to bottom.
pub struct Cluster {
    rt: tokio::runtime::Runtime,
    client: kube::Client,
}

impl Cluster {
    pub fn connect() -> Cluster {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = rt.block_on(async {
            let config = kube::Config::infer().await.expect("kubeconfig from KUBECONFIG");
            kube::Client::try_from(config).expect("kube client")
        });
        Cluster { rt, client }
    }

    /// The cluster of another kubeconfig (the second cluster's).
    pub fn connect_to(kubeconfig: &std::path::Path) -> Cluster {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = rt.block_on(async {
            let file = kube::config::Kubeconfig::read_from(kubeconfig).expect("read the kubeconfig");
            let config = kube::Config::from_custom_kubeconfig(file, &Default::default()).await.expect("kubeconfig");
            kube::Client::try_from(config).expect("kube client")
        });
        Cluster { rt, client }
    }

    /// Creates a namespace named `prefix-<suffix>`, unique to this run, so a scenario never
    /// meets what an earlier, interrupted run left behind.
    pub fn fresh_namespace(&self, prefix: &str) -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("{prefix}-{:x}", (std::process::id() ^ nanos) & 0xffffff);
        self.create_namespace(&name);
        name
    }

    pub fn create_namespace(&self, name: &str) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = Namespace { metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
        self.rt.block_on(async {
            match api.create(&PostParams::default(), &ns).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => panic!("creating namespace {name}: {e}"),
            }
        });
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<Secret> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        self.rt.block_on(api.get_opt(name)).expect("get secret")
    }

    /// A key of a Secret's data, as text.
    pub fn secret_text(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        let secret = self.secret(namespace, name)?;
        secret.data?.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned())
    }

    pub fn delete_secret(&self, namespace: &str, name: &str) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        self.rt.block_on(api.delete(name, &DeleteParams::default())).expect("delete secret");
    }

    /// Deletes a Secret if it is there; never fails, for cleanups after a failure.
    pub fn remove_secret(&self, namespace: &str, name: &str) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let _ = self.rt.block_on(api.delete(name, &DeleteParams::default()));
    }

    pub fn set_secret_key(&self, namespace: &str, name: &str, key: &str, value: &str) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let patch = Secret { data: Some(BTreeMap::from([(key.to_string(), ByteString(value.as_bytes().to_vec()))])), ..Default::default() };
        self.rt.block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))).expect("patch secret");
    }

    /// Writes a TLS Secret as another tool (cert-manager, a person) would.
    pub fn create_tls_secret(&self, namespace: &str, name: &str, ca_crt: &str, tls_crt: &str, tls_key: &str) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let data = BTreeMap::from([
            ("ca.crt".to_string(), ByteString(ca_crt.as_bytes().to_vec())),
            ("tls.crt".to_string(), ByteString(tls_crt.as_bytes().to_vec())),
            ("tls.key".to_string(), ByteString(tls_key.as_bytes().to_vec())),
        ]);
        let secret = Secret {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data),
            ..Default::default()
        };
        self.rt.block_on(api.create(&PostParams::default(), &secret)).expect("create secret");
    }

    /// Removes one label from a Secret.
    pub fn remove_secret_label(&self, namespace: &str, name: &str, label: &str) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let patch = serde_json::json!({ "metadata": { "labels": { label: null } } });
        self.rt.block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))).expect("patch secret");
    }

    /// Names of the Secrets in a namespace.
    pub fn secret_names(&self, namespace: &str) -> Vec<String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let list = self.rt.block_on(api.list(&Default::default())).expect("list secrets");
        list.items.into_iter().filter_map(|s| s.metadata.name).collect()
    }

    /// Names of the Secrets in a namespace that carry meshtls's managed-by label.
    pub fn managed_secret_names(&self, namespace: &str) -> Vec<String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let params = kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=meshtls");
        let list = self.rt.block_on(api.list(&params)).expect("list secrets");
        list.items.into_iter().filter_map(|s| s.metadata.name).collect()
    }

    /// Creates or updates any object given as JSON (server-side apply).
    pub fn apply_object(&self, obj: serde_json::Value) {
        let api_version = obj["apiVersion"].as_str().expect("apiVersion");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let kind = obj["kind"].as_str().expect("kind");
        let name = obj["metadata"]["name"].as_str().expect("name").to_string();
        let api = self.dynamic(group, version, kind, obj["metadata"]["namespace"].as_str());
        self.rt.block_on(api.patch(&name, &PatchParams::apply("meshtls-acceptance").force(), &Patch::Apply(&obj))).expect("apply object");
    }

    /// Asks the API server's authorizer (a SubjectAccessReview, so real RBAC is evaluated)
    /// whether a service account may read a Secret.
    pub fn service_account_can_read_secret(&self, namespace: &str, service_account: &str, secret: &str) -> bool {
        let user = format!("system:serviceaccount:{namespace}:{service_account}");
        let groups = vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{namespace}")];
        self.allowed(&user, groups, namespace, "get", "secrets", Some(secret))
    }

    /// Asks the API server's authorizer whether `user` may `verb` `resource` in `namespace`.
    pub fn user_can(&self, user: &str, namespace: &str, verb: &str, resource: &str) -> bool {
        self.allowed(user, Vec::new(), namespace, verb, resource, None)
    }

    fn allowed(&self, user: &str, groups: Vec<String>, namespace: &str, verb: &str, resource: &str, name: Option<&str>) -> bool {
        use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.into()),
                groups: (!groups.is_empty()).then_some(groups),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.into()),
                    verb: Some(verb.into()),
                    resource: Some(resource.into()),
                    name: name.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let result = self.rt.block_on(api.create(&PostParams::default(), &review)).expect("SubjectAccessReview");
        result.status.is_some_and(|s| s.allowed)
    }

    fn dynamic(&self, group: &str, version: &str, kind: &str, namespace: Option<&str>) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        }
    }

    /// A custom object as JSON, or None when it does not exist.
    pub fn object(&self, group: &str, version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Option<serde_json::Value> {
        let api = self.dynamic(group, version, kind, namespace);
        self.rt.block_on(api.get_opt(name)).expect("get object").map(|o| serde_json::to_value(o).expect("object as JSON"))
    }

    /// Removes meshtls's ownership marker (its managed-by label and owner annotation) from an
    /// object, as if someone had made it by hand.
    pub fn strip_marker(&self, group: &str, version: &str, kind: &str, namespace: Option<&str>, name: &str) {
        let api = self.dynamic(group, version, kind, namespace);
        let patch = serde_json::json!({ "metadata": {
            "labels": { "app.kubernetes.io/managed-by": null },
            "annotations": { "meshtls.dev/owner": null },
        }});
        self.rt.block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))).expect("strip marker");
    }

    /// Sets (`Some`) or removes a namespace's label, as a person would by hand.
    pub fn label_namespace(&self, namespace: &str, key: &str, value: Option<&str>) {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let patch = serde_json::json!({ "metadata": { "labels": { key: value } } });
        self.rt.block_on(api.patch(namespace, &PatchParams::default(), &Patch::Merge(&patch))).expect("label namespace");
    }

    /// Replaces an object with the given JSON (its metadata carrying the resourceVersion read),
    /// as `kubectl replace` would.
    pub fn replace_object(&self, obj: serde_json::Value) {
        let api_version = obj["apiVersion"].as_str().expect("apiVersion");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let api = self.dynamic(group, version, obj["kind"].as_str().expect("kind"), obj["metadata"]["namespace"].as_str());
        let name = obj["metadata"]["name"].as_str().expect("name").to_string();
        let object: DynamicObject = serde_json::from_value(obj).expect("object");
        self.rt.block_on(api.replace(&name, &PostParams::default(), &object)).expect("replace object");
    }

    /// Removes one annotation from an object, as a person would by hand.
    pub fn remove_annotation(&self, group: &str, version: &str, kind: &str, namespace: Option<&str>, name: &str, key: &str) {
        let api = self.dynamic(group, version, kind, namespace);
        let patch = serde_json::json!({ "metadata": { "annotations": { key: null } } });
        self.rt.block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))).expect("remove annotation");
    }

    /// Whether the object carries meshtls's marker for resource `owner` (`<type>:<id>`), with
    /// an owner id.
    pub fn marked(&self, group: &str, version: &str, kind: &str, namespace: Option<&str>, name: &str, owner: &str) -> bool {
        self.object(group, version, kind, namespace, name).is_some_and(|o| {
            let marker = o["metadata"]["annotations"]["meshtls.dev/owner"].as_str().unwrap_or_default().to_string();
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "meshtls"
                && marker.split_once('#').is_some_and(|(resource, id)| resource == owner && !id.is_empty())
        })
    }

    pub fn delete_object(&self, group: &str, version: &str, kind: &str, namespace: Option<&str>, name: &str) {
        let api = self.dynamic(group, version, kind, namespace);
        self.rt.block_on(api.delete(name, &DeleteParams::default())).expect("delete object");
    }

    /// A token for `namespace/service_account` (created if missing) with `audience`, from the
    /// API server's TokenRequest API, as the kubelet projects one into a pod.
    pub fn service_account_token(&self, namespace: &str, service_account: &str, audience: &str) -> String {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let sa = ServiceAccount {
            metadata: kube::api::ObjectMeta { name: Some(service_account.into()), ..Default::default() },
            ..Default::default()
        };
        self.rt.block_on(async {
            match api.create(&PostParams::default(), &sa).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => panic!("creating service account {namespace}/{service_account}: {e}"),
            }
        });
        let request = TokenRequest {
            spec: TokenRequestSpec { audiences: vec![audience.into()], expiration_seconds: Some(600), ..Default::default() },
            ..Default::default()
        };
        let issued: TokenRequest =
            self.rt.block_on(api.create_subresource("token", service_account, &PostParams::default(), &request)).expect("token request");
        issued.status.expect("token status").token
    }

    /// A ConfigMap's data key, as text.
    pub fn config_map_text(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        use k8s_openapi::api::core::v1::ConfigMap;
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        self.rt.block_on(api.get_opt(name)).expect("get config map")?.data?.get(key).cloned()
    }

    /// Merges `patch` into an object, as `kubectl patch --type merge` would.
    pub fn merge_patch_object(
        &self,
        group: &str,
        version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: serde_json::Value,
    ) {
        let api = self.dynamic(group, version, kind, namespace);
        self.rt.block_on(api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))).expect("merge patch");
    }

    /// Reports a Pod's `status` (merged in through `pods/status`), as its kubelet would.
    pub fn report_pod_status(&self, namespace: &str, name: &str, status: serde_json::Value) {
        let api = self.dynamic("", "v1", "Pod", Some(namespace));
        let patch = serde_json::json!({ "status": status });
        self.rt.block_on(api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))).expect("pod status");
    }

    /// Every object of a kind in `namespace`, as JSON.
    /// How many `verb` requests on `resource` in `namespace` the environment's API server has
    /// completed so far, from its audit log (every request, at Metadata level).
    pub fn requests(verb: &str, resource: &str, namespace: &str) -> usize {
        let log = std::fs::read_to_string(std::path::PathBuf::from(crate::env("MESHTLS_ENV_DIR")).join("audit.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|e| {
                e["stage"] == "ResponseComplete"
                    && e["verb"] == verb
                    && e["objectRef"]["resource"] == resource
                    && e["objectRef"]["namespace"] == namespace
            })
            .count()
    }

    pub fn objects(&self, group: &str, version: &str, kind: &str, namespace: &str) -> Vec<serde_json::Value> {
        let api = self.dynamic(group, version, kind, Some(namespace));
        let list = self.rt.block_on(api.list(&kube::api::ListParams::default())).expect("list objects");
        list.items.into_iter().map(|o| serde_json::to_value(o).expect("object as JSON")).collect()
    }
}

/// The environment's second cluster (`second-cluster.sh`), started for a scenario and stopped
/// when it ends. One scenario at a time holds it.
pub struct SecondCluster {
    pub kubeconfig: std::path::PathBuf,
    _held: std::sync::MutexGuard<'static, ()>,
}

static SECOND_CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl SecondCluster {
    pub fn start() -> SecondCluster {
        let held = SECOND_CLUSTER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let out = std::process::Command::new(crate::repo_root().join("acceptance-tests/env/second-cluster.sh"))
            .arg("start")
            .output()
            .expect("run second-cluster.sh");
        assert!(out.status.success(), "the second cluster did not start: {}", String::from_utf8_lossy(&out.stderr));
        let kubeconfig = std::path::PathBuf::from(crate::env("MESHTLS_ENV_DIR")).join("cluster-b/kubeconfig");
        assert!(kubeconfig.exists(), "{} was not written", kubeconfig.display());
        SecondCluster { kubeconfig, _held: held }
    }

    pub fn connect(&self) -> Cluster {
        Cluster::connect_to(&self.kubeconfig)
    }
}

impl Drop for SecondCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(crate::repo_root().join("acceptance-tests/env/second-cluster.sh")).arg("stop").output();
    }
}
