//! The cluster side of an App Mesh virtual node: the `VirtualNode` custom resource, changed
//! by read-modify-replace with optimistic concurrency (a 409 is retried), and the Deployment
//! whose pod template tells the injector which Secret to mount into Envoy.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;

use super::api::pick_listener;
use super::crd::{self as appmesh_crd, VirtualNode, VirtualNodeSpec};
use crate::backends::model::{crd, NodeTls};
use crate::backends::{retry_conflicts, with_retries, BackendError, ErrorKind, MeshSide, NodeView, SideError};
use crate::clients::read_cache::{ReadCache, Scope};

pub const SIDE: &str = "cluster";
/// The App Mesh injector mounts `<secret>:<path>` pairs from this pod annotation into Envoy.
pub const SECRET_MOUNTS_ANNOTATION: &str = "appmesh.k8s.aws/secretMounts";
/// Changes with the mounted certificate, so a renewal rolls the pods and Envoy reloads.
pub const FINGERPRINT_ANNOTATION: &str = "meshtls.dev/certificate-fingerprint";

pub struct ClusterVirtualNode {
    pub client: kube::Client,
    pub cache: Arc<ReadCache>,
    pub namespace: String,
    pub name: String,
}

fn virtual_node_resource() -> kube::api::ApiResource {
    appmesh_crd::api_resource("VirtualNode")
}

fn api(client: &kube::Client, namespace: &str) -> Api<VirtualNode> {
    Api::namespaced_with(client.clone(), namespace, &virtual_node_resource())
}

fn kube_error(what: &str, e: kube::Error) -> SideError {
    SideError::Backend(BackendError::kube(SIDE, what, e))
}

/// What a VirtualNode object says: the TLS of the listener on `port` (or its only one), and
/// its service-discovery hostname.
fn view_of(spec: &VirtualNodeSpec, port: Option<i64>) -> Result<NodeView, SideError> {
    let idx = pick_listener(&spec.listener_ports(), port, SIDE)?;
    let tls = NodeTls {
        listener: spec.listeners.get(idx).and_then(|l| l.tls.as_ref()).and_then(crd::parse_listener_tls),
        client_policy: spec.client_policy_tls().and_then(crd::parse_client_policy_tls),
    };
    let hostname = spec.service_discovery.as_ref().and_then(|d| d.dns.as_ref()).and_then(|d| d.hostname.clone());
    Ok(NodeView { tls, hostname })
}

/// One VirtualNode object found by [`list_nodes`].
pub struct ListedNode {
    pub namespace: String,
    pub name: String,
    /// Its App Mesh name: `spec.awsName`, else the controller's default `<name>_<namespace>`.
    pub aws_name: String,
    pub view: Result<NodeView, SideError>,
}

/// Every VirtualNode object in `namespace`, or in all namespaces, page by page (for
/// `terraform query`). Read only; nothing is cached.
pub async fn list_nodes(client: &kube::Client, namespace: Option<&str>) -> Result<Vec<ListedNode>, SideError> {
    let api: Api<VirtualNode> = match namespace {
        Some(ns) => api(client, ns),
        None => Api::all_with(client.clone(), &virtual_node_resource()),
    };
    let mut out = Vec::new();
    let mut params = kube::api::ListParams::default().limit(100);
    loop {
        let page = api.list(&params).await.map_err(|e| kube_error("listing VirtualNode objects", e))?;
        for obj in &page.items {
            let (Some(ns), Some(name)) = (obj.metadata.namespace.clone(), obj.metadata.name.clone()) else { continue };
            let aws_name = obj.spec.aws_name.clone().unwrap_or_else(|| format!("{name}_{ns}"));
            out.push(ListedNode { view: view_of(&obj.spec, None), namespace: ns, name, aws_name });
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(out)
}

impl ClusterVirtualNode {
    fn what(&self) -> String {
        format!("VirtualNode {}/{}", self.namespace, self.name)
    }

    async fn get(&self) -> Result<VirtualNode, SideError> {
        match self
            .cache
            .get_opt(&api(&self.client, &self.namespace), &virtual_node_resource(), Scope::All, &self.namespace, &self.name, |_| {})
            .await
        {
            Ok(Some(o)) => Ok(o),
            Ok(None) => Err(SideError::NotFound { side: SIDE, what: self.what() }),
            Err(e) => Err(kube_error(&format!("reading {}", self.what()), e)),
        }
    }
}

#[async_trait]
impl MeshSide for ClusterVirtualNode {
    fn name(&self) -> &'static str {
        SIDE
    }

    async fn read(&self, port: Option<i64>) -> Result<NodeView, SideError> {
        view_of(&with_retries(|| self.get()).await?.spec, port)
    }

    async fn write(&self, port: Option<i64>, tls: &NodeTls) -> Result<(), SideError> {
        with_retries(|| async {
            let mut obj = self.get().await?;
            let idx = pick_listener(&obj.spec.listener_ports(), port, SIDE)?;
            if let Some(listener) = obj.spec.listeners.get_mut(idx) {
                listener.tls = tls.listener.as_ref().map(crd::listener_tls);
            }
            obj.spec.set_client_policy_tls(tls.client_policy.as_ref().map(crd::client_policy_tls));
            // The object carries its resourceVersion: a concurrent change makes this a 409,
            // and the whole read-modify-write runs again.
            let name = self.name.clone();
            api(&self.client, &self.namespace)
                .replace(&name, &PostParams { field_manager: Some("meshtls".into()), ..Default::default() }, &obj)
                .await
                .map_err(|e| kube_error(&format!("updating {}", self.what()), e))?;
            Ok(())
        })
        .await
    }
}

/// The pod-template annotations of a Deployment; `Ok(None)` when it does not exist.
pub async fn pod_annotations(
    client: &kube::Client,
    cache: &ReadCache,
    namespace: &str,
    deployment: &str,
) -> Result<Option<BTreeMap<String, String>>, kube::Error> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    Ok(cache
        .get_opt(&api, &(), Scope::All, namespace, deployment, |_| {})
        .await?
        .map(|d| d.spec.and_then(|s| s.template.metadata).and_then(|m| m.annotations).unwrap_or_default()))
}

/// Changes pod-template annotations by what the Deployment holds now: `changes` gets them
/// fresh from the server and says what to set (Some) or remove (None). The merge patch is
/// conditioned on the resourceVersion read, so a concurrent writer (another resource on the
/// same Deployment, a deploy) makes the round run again instead of being overwritten. `Ok(false)`
/// when the Deployment does not exist.
pub async fn update_pod_annotations(
    client: &kube::Client,
    namespace: &str,
    deployment: &str,
    changes: impl FnMut(&BTreeMap<String, String>) -> BTreeMap<String, Option<String>> + Send,
) -> Result<bool, kube::Error> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    // Each round calls `changes` once, never across an await.
    let changes = std::sync::Mutex::new(changes);
    let round = || async {
        let Some(found) = api.get_opt(deployment).await? else { return Ok(false) };
        let have = found.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.annotations.clone()).unwrap_or_default();
        let asked = match changes.lock() {
            Ok(mut changes) => changes(&have),
            Err(poisoned) => (poisoned.into_inner())(&have),
        };
        let wanted: BTreeMap<String, Option<String>> = asked.into_iter().filter(|(k, v)| have.get(k) != v.as_ref()).collect();
        if wanted.is_empty() {
            return Ok(true);
        }
        let patch = serde_json::json!({
            "metadata": { "resourceVersion": found.metadata.resource_version },
            "spec": { "template": { "metadata": { "annotations": wanted } } },
        });
        match api.patch(deployment, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(true),
            Err(e) if ErrorKind::of_kube(&e) == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    };
    retry_conflicts(round, |e| ErrorKind::of_kube(e) == ErrorKind::Conflict).await
}

/// The entries of an `appmesh.k8s.aws/secretMounts` value: `secret:path`, comma-separated.
pub fn secret_mounts(value: Option<&str>) -> Vec<String> {
    value.unwrap_or_default().split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect()
}

/// The mount path of a `secret:path` entry.
fn mount_path(entry: &str) -> &str {
    entry.split_once(':').map_or(entry, |(_, path)| path)
}

/// The secretMounts value with `ours` in it, and the application's entry it displaced (one at
/// the same path) if any. `previous`, this resource's entry from an earlier apply, goes, and
/// `restore`, what that one displaced, comes back. Every other entry stays, in order.
pub fn mounts_with(current: Option<&str>, ours: &str, previous: Option<&str>, restore: Option<&str>) -> (String, Option<String>) {
    let mut entries = secret_mounts(current);
    if let Some(previous) = previous.filter(|p| *p != ours) {
        entries.retain(|e| e != previous);
        entries.extend(restore.map(str::to_string));
    }
    let displaced = entries.iter().find(|e| *e != ours && mount_path(e) == mount_path(ours)).cloned();
    entries.retain(|e| Some(e) != displaced.as_ref());
    if !entries.iter().any(|e| e == ours) {
        entries.push(ours.to_string());
    }
    (entries.join(","), displaced)
}

/// The secretMounts value without `ours`, with `restore` (what it displaced) back; None when
/// nothing is left.
pub fn mounts_without(current: Option<&str>, ours: &str, restore: Option<&str>) -> Option<String> {
    let mut entries = secret_mounts(current);
    entries.retain(|e| e != ours);
    if let Some(r) = restore.filter(|r| !entries.iter().any(|e| e == r)) {
        entries.push(r.to_string());
    }
    (!entries.is_empty()).then(|| entries.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_mounts_merge_with_the_application_s_own() {
        let app = Some("app-config:/etc/app, db-creds:/etc/db");
        let (value, displaced) = mounts_with(app, "yelb-db:/etc/keys/yelb", None, None);
        assert_eq!(value, "app-config:/etc/app,db-creds:/etc/db,yelb-db:/etc/keys/yelb");
        assert_eq!(displaced, None);
        assert_eq!(mounts_without(Some(&value), "yelb-db:/etc/keys/yelb", None).as_deref(), Some("app-config:/etc/app,db-creds:/etc/db"));
        // Applied again: nothing moves.
        assert_eq!(mounts_with(Some(&value), "yelb-db:/etc/keys/yelb", Some("yelb-db:/etc/keys/yelb"), None).0, value);

        // An entry of the application's at the same path is displaced, and comes back on removal.
        let (value, displaced) = mounts_with(Some("old-cert:/etc/keys/yelb"), "yelb-db:/etc/keys/yelb", None, None);
        assert_eq!((value.as_str(), displaced.as_deref()), ("yelb-db:/etc/keys/yelb", Some("old-cert:/etc/keys/yelb")));
        assert_eq!(
            mounts_without(Some(&value), "yelb-db:/etc/keys/yelb", displaced.as_deref()).as_deref(),
            Some("old-cert:/etc/keys/yelb")
        );

        // A moved mount: the old entry goes, what it displaced returns, the new one is added.
        let (value, displaced) =
            mounts_with(Some("a:/x,yelb-db:/etc/keys/yelb"), "yelb-db:/k", Some("yelb-db:/etc/keys/yelb"), Some("old-cert:/etc/keys/yelb"));
        assert_eq!((value.as_str(), displaced), ("a:/x,old-cert:/etc/keys/yelb,yelb-db:/k", None));
        // Two resources on one Deployment each keep their entry.
        let (one, _) = mounts_with(None, "a-tls:/etc/a", None, None);
        let (two, _) = mounts_with(Some(&one), "b-tls:/etc/b", None, None);
        assert_eq!(two, "a-tls:/etc/a,b-tls:/etc/b");
        assert_eq!(mounts_without(Some(&two), "a-tls:/etc/a", None).as_deref(), Some("b-tls:/etc/b"));
        assert_eq!(mounts_without(Some("a-tls:/etc/a"), "a-tls:/etc/a", None), None);
    }

    #[test]
    fn removal_drops_parents_it_emptied_and_keeps_others() {
        let spec = |v: serde_json::Value| serde_json::from_value::<VirtualNodeSpec>(v).expect("a VirtualNode spec");
        let listeners = serde_json::json!([{ "portMapping": { "port": 80, "protocol": "http" } }]);
        let mut node = spec(serde_json::json!({ "listeners": listeners }));
        node.set_client_policy_tls(Some(serde_json::json!({ "enforce": true })));
        assert_eq!(serde_json::to_value(&node).unwrap()["backendDefaults"]["clientPolicy"]["tls"]["enforce"], true);
        node.set_client_policy_tls(None);
        assert_eq!(serde_json::to_value(&node).unwrap(), serde_json::json!({ "listeners": listeners }));

        let mut kept = spec(serde_json::json!({ "backendDefaults": { "clientPolicy": { "tls": {}, "other": 1 } } }));
        kept.set_client_policy_tls(None);
        assert_eq!(serde_json::to_value(&kept).unwrap(), serde_json::json!({ "backendDefaults": { "clientPolicy": { "other": 1 } } }));
    }

    #[test]
    fn a_node_keeps_the_fields_meshtls_does_not_write() {
        let given = serde_json::json!({
            "awsName": "yelb-db_yelb",
            "podSelector": { "matchLabels": { "app": "yelb-db" } },
            "listeners": [{ "portMapping": { "port": 5432, "protocol": "tcp" }, "healthCheck": { "path": "/" } }],
            "serviceDiscovery": { "dns": { "hostname": "yelb-db.yelb.svc.cluster.local", "responseType": "ENDPOINTS" } },
        });
        let mut node: VirtualNodeSpec = serde_json::from_value(given.clone()).expect("a VirtualNode spec");
        assert_eq!(view_of(&node, Some(5432)).unwrap().hostname.as_deref(), Some("yelb-db.yelb.svc.cluster.local"));
        assert_eq!(serde_json::to_value(&node).unwrap(), given, "read and written back unchanged");
        node.listeners[0].tls = Some(serde_json::json!({ "mode": "STRICT" }));
        let written = serde_json::to_value(&node).unwrap();
        assert_eq!(written["listeners"][0]["healthCheck"]["path"], "/");
        assert_eq!(written["listeners"][0]["tls"]["mode"], "STRICT");
        assert!(view_of(&node, Some(80)).is_err(), "no listener on that port");
    }
}
