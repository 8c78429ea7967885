//! What decides the mode Istio enforces on a namespace's workloads: its PeerAuthentications
//! and the mesh-wide ones, read once per namespace and plan, and Istio's precedence over them.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, PodTemplateSpec};
use kube::api::ListParams;
use kube::Api;

use super::crd::{PeerAuthentication, PEER_AUTHENTICATION};
use super::enrollment::{enrolled, proxy_of, selects, Proxy, DATAPLANE_MODE_LABEL};
use super::{mode_of, ISTIO};
use crate::backends::model::TlsMode;
use crate::clients::read_cache::{ReadCache, Scope};

/// Istio's root namespace, whose PeerAuthentications without a selector apply mesh-wide
/// (meshConfig.rootNamespace, `istio-system` unless an install changes it).
pub const ROOT_NAMESPACE: &str = "istio-system";

/// A PeerAuthentication as Istio weighs it when it decides a workload's mode.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    /// None: namespace-wide (mesh-wide in the root namespace).
    pub selector: Option<BTreeMap<String, String>>,
    /// None: inherited from the level above (`UNSET`, or not set).
    pub mode: Option<TlsMode>,
    /// `portLevelMtls`: port number to mode.
    pub ports: BTreeMap<String, TlsMode>,
    /// RFC 3339 creation time: among policies of one level, Istio takes the oldest.
    pub created: String,
    /// Carries meshtls's marker: declared in some configuration, so seen in its plan.
    pub managed: bool,
}

impl Policy {
    pub fn of(pa: &PeerAuthentication) -> Policy {
        let ports = pa
            .spec
            .other
            .get("portLevelMtls")
            .and_then(|p| p.as_object())
            .map(|ports| ports.iter().filter_map(|(port, m)| Some((port.clone(), ISTIO.parse(m.get("mode")?.as_str()?).ok()?))).collect())
            .unwrap_or_default();
        Policy {
            namespace: pa.metadata.namespace.clone().unwrap_or_default(),
            name: pa.metadata.name.clone().unwrap_or_default(),
            selector: pa.spec.selector.as_ref().map(|s| s.match_labels.clone()).filter(|s| !s.is_empty()),
            mode: Some(mode_of(pa)).filter(|m| *m != TlsMode::Inherited),
            ports,
            created: pa.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()).unwrap_or_default(),
            managed: pa.metadata.labels.as_ref().and_then(|l| l.get(crate::ownership::MANAGED_BY_LABEL)).map(String::as_str)
                == Some(crate::ownership::MANAGED_BY),
        }
    }

    fn describe(&self) -> String {
        format!("PeerAuthentication {}/{}", self.namespace, self.name)
    }
}

/// A workload policies may cover: a Deployment's or StatefulSet's pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// `Deployment` or `StatefulSet`.
    pub kind: &'static str,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// What decides the mode Istio enforces on a namespace's workloads: the namespace's labels,
/// its workloads, its PeerAuthentications, and the mesh-wide ones of the root namespace.
#[derive(Debug, Clone, Default)]
pub struct MeshView {
    pub namespace_labels: BTreeMap<String, String>,
    pub workloads: Vec<Workload>,
    pub policies: Vec<Policy>,
    /// None when the root namespace's policies could not be read.
    pub mesh: Option<Vec<Policy>>,
}

/// The mode Istio enforces on one workload, and which policy decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub mode: TlsMode,
    /// Ports whose mode differs from `mode`: (port, mode).
    pub ports: Vec<(String, TlsMode)>,
    pub decided_by: Option<String>,
    /// The deciding policy is not meshtls's: nobody's plan shows it.
    pub foreign: bool,
}

impl Effective {
    /// As state shows it: `STRICT`, or `PERMISSIVE (PeerAuthentication yelb/legacy)`.
    pub fn describe(&self) -> String {
        let mut text = ISTIO.spell(self.mode).to_string();
        for (port, mode) in &self.ports {
            text.push_str(&format!(", port {port} {}", ISTIO.spell(*mode)));
        }
        match &self.decided_by {
            Some(by) => format!("{text} ({by})"),
            None => text,
        }
    }
}

/// The oldest of `policies` (then by name), as Istio picks one of several at the same level.
fn oldest<'a>(policies: impl Iterator<Item = &'a Policy>) -> Option<&'a Policy> {
    policies.min_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)))
}

/// The mode Istio enforces on pods with `labels`, by its composition rules: the mesh-wide
/// policy, then the namespace's, then the oldest workload policy whose selector matches, each
/// level overriding the one above unless its mode is unset; PERMISSIVE when none sets one.
/// Port-level modes come from the workload policy. With `own`, as if it replaced the
/// namespace's policy of its name: the mode once `own` is written, without copying the view.
pub fn effective(view: &MeshView, own: Option<&Policy>, labels: &BTreeMap<String, String>) -> Effective {
    let local = || view.policies.iter().filter(move |p| own.is_none_or(|o| o.name != p.name)).chain(own);
    let mesh = view.mesh.as_deref().and_then(|m| oldest(m.iter().filter(|p| p.selector.is_none())));
    let namespace = oldest(local().filter(|p| p.selector.is_none()));
    let workload = oldest(local().filter(|p| p.selector.as_ref().is_some_and(|s| selects(Some(s), labels))));
    let mut mode = TlsMode::Permissive;
    let mut decided = None;
    for policy in [mesh, namespace, workload].into_iter().flatten() {
        if let Some(m) = policy.mode {
            mode = m;
            decided = Some(policy);
        }
    }
    let mut ports = Vec::new();
    if let Some(w) = workload {
        for (port, m) in w.ports.iter().filter(|(_, m)| **m != TlsMode::Inherited && **m != mode) {
            ports.push((port.clone(), *m));
            decided = Some(w);
        }
    }
    Effective { mode, ports, decided_by: decided.map(Policy::describe), foreign: decided.is_some_and(|p| !p.managed) }
}

/// The namespace's view. While reads are cached it is read once per process: N policies in
/// one namespace make one set of list calls, not N, and share one copy. Once the process
/// applies, it is the view kept in step with what the run writes: read once per run, then
/// changed by every PeerAuthentication meshtls writes, adopts or deletes (see
/// [`record_written`] and [`record_deleted`]). The CLI plans each resource again while it
/// applies, after other resources' writes, and each write reads `effective_modes` from it; a
/// fresh read each time would list all N policies N times. A change another client makes
/// during the apply shows at the next refresh, which reads the namespace again.
pub async fn mesh_view(client: &kube::Client, cache: &ReadCache, namespace: &str) -> Result<Arc<MeshView>, kube::Error> {
    let (client, ns) = (client.clone(), namespace.to_string());
    let read = || async move { read_mesh_view(&client, &ns).await.map(Arc::new) };
    if cache.caching() {
        return cache.memo("istio-mesh-view", namespace.to_string(), read).await;
    }
    cache.kept(APPLIED_VIEW, namespace.to_string(), read, Arc::clone).await
}

const APPLIED_VIEW: &str = "istio-applied-view";

/// Records a PeerAuthentication meshtls wrote or adopted in the views kept for applies: its
/// namespace's, and every namespace's mesh-wide policies when it is in the root namespace.
pub async fn record_written(cache: &ReadCache, pa: &PeerAuthentication) {
    let policy = Policy::of(pa);
    let upsert = move |policies: &mut Vec<Policy>| {
        policies.retain(|p| p.name != policy.name);
        policies.push(policy.clone());
    };
    let namespace = pa.metadata.namespace.clone().unwrap_or_default();
    change_kept(cache, &namespace, |view| view.mesh.as_mut().into_iter().for_each(&upsert), |view| upsert(&mut view.policies)).await;
}

/// Records that meshtls deleted the PeerAuthentication `namespace/name` (see [`record_written`]).
pub async fn record_deleted(cache: &ReadCache, namespace: &str, name: &str) {
    let remove = |policies: &mut Vec<Policy>| policies.retain(|p| p.name != name);
    change_kept(cache, namespace, |view| view.mesh.as_mut().into_iter().for_each(remove), |view| remove(&mut view.policies)).await;
}

/// Applies a change in `namespace` to the kept views that were read: `local` to that
/// namespace's, and `mesh_wide` to every other namespace's when it is the root namespace
/// (whose own view holds its policies as local ones). The one place that names the kept
/// value's type, which [`ReadCache::keep`] must be given exactly.
async fn change_kept(cache: &ReadCache, namespace: &str, mesh_wide: impl Fn(&mut MeshView), local: impl FnOnce(&mut MeshView)) {
    if namespace == ROOT_NAMESPACE {
        let others = |ns: &str, view: &mut Arc<MeshView>| {
            if ns != ROOT_NAMESPACE {
                mesh_wide(Arc::make_mut(view));
            }
        };
        cache.keep_every(APPLIED_VIEW, others).await;
    }
    cache.keep(APPLIED_VIEW, namespace.to_string(), |view: &mut Arc<MeshView>| local(Arc::make_mut(view))).await;
}

async fn read_mesh_view(client: &kube::Client, namespace: &str) -> Result<MeshView, kube::Error> {
    let ns = Api::<Namespace>::all(client.clone()).get_opt(namespace).await?;
    let params = ListParams::default();
    let mut workloads = Vec::new();
    let mut add = |kind: &'static str, name: Option<String>, template: Option<PodTemplateSpec>| {
        let meta = template.and_then(|t| t.metadata).unwrap_or_default();
        workloads.push(Workload {
            kind,
            name: name.unwrap_or_default(),
            labels: meta.labels.unwrap_or_default(),
            annotations: meta.annotations.unwrap_or_default(),
        });
    };
    for d in Api::<Deployment>::namespaced(client.clone(), namespace).list(&params).await?.items {
        add("Deployment", d.metadata.name, d.spec.map(|s| s.template));
    }
    for s in Api::<StatefulSet>::namespaced(client.clone(), namespace).list(&params).await?.items {
        add("StatefulSet", s.metadata.name, s.spec.map(|s| s.template));
    }
    let policies = |ns: &str| {
        let api: Api<PeerAuthentication> = Api::namespaced_with(client.clone(), ns, &PEER_AUTHENTICATION.api_resource());
        async move { api.list(&ListParams::default()).await.map(|l| l.items.iter().map(Policy::of).collect::<Vec<_>>()) }
    };
    let local = policies(namespace).await?;
    // Mesh-wide policies may be unreadable to a namespace's identity: said, not fatal.
    let mesh = if namespace == ROOT_NAMESPACE { Some(Vec::new()) } else { policies(ROOT_NAMESPACE).await.ok() };
    Ok(MeshView { namespace_labels: ns.and_then(|n| n.metadata.labels).unwrap_or_default(), workloads, policies: local, mesh })
}

/// Workloads (Deployments and StatefulSets) in `namespace` that `selector` covers and that
/// no sidecar or ambient enrollment would serve, as `Deployment ns/name`.
pub fn unenrolled(view: &MeshView, namespace: &str, selector: Option<&BTreeMap<String, String>>, revision: Option<&str>) -> Vec<String> {
    view.workloads
        .iter()
        .filter(|w| selects(selector, &w.labels) && !enrolled(&view.namespace_labels, &w.labels, &w.annotations, revision))
        .map(|w| format!("{} {namespace}/{}", w.kind, w.name))
        .collect()
}

/// The workloads `selector` covers that ztunnel serves (ambient mode), as `Deployment ns/name`;
/// with no workload covered, the namespace itself when it is enrolled in ambient mode.
pub fn ambient(view: &MeshView, namespace: &str, selector: Option<&BTreeMap<String, String>>) -> Vec<String> {
    let covered: Vec<&Workload> = view.workloads.iter().filter(|w| selects(selector, &w.labels)).collect();
    if covered.is_empty() {
        let ns_ambient = view.namespace_labels.get(DATAPLANE_MODE_LABEL).map(String::as_str) == Some("ambient");
        return if ns_ambient { vec![format!("namespace {namespace}")] } else { Vec::new() };
    }
    covered
        .into_iter()
        .filter(|w| proxy_of(&view.namespace_labels, &w.labels, &w.annotations) == Some(Proxy::Ambient))
        .map(|w| format!("{} {namespace}/{}", w.kind, w.name))
        .collect()
}

/// The pod labels a Deployment's selector matches (`spec.selector.matchLabels`); None when
/// the Deployment does not exist.
pub async fn deployment_selector(
    client: &kube::Client,
    cache: &ReadCache,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, kube::Error> {
    let api = Api::<Deployment>::namespaced(client.clone(), namespace);
    // Through the read cache: N policies over a namespace's Deployments read them in one list.
    let d = cache.get_opt(&api, &(), Scope::All, namespace, name, |_| {}).await?;
    Ok(d.map(|d| d.spec.and_then(|s| s.selector.match_labels).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::istio::peer_authentication;
    use kube::api::ObjectMeta;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn policy(name: &str, selector: Option<&[(&str, &str)]>, mode: Option<&str>, created: &str) -> Policy {
        Policy {
            namespace: "yelb".into(),
            name: name.into(),
            selector: selector.map(labels),
            mode: mode.map(|m| ISTIO.parse(m).expect("an Istio mode")),
            ports: BTreeMap::new(),
            created: created.into(),
            managed: false,
        }
    }

    #[test]
    fn the_effective_mode_follows_istio_precedence() {
        let ui = labels(&[("app", "yelb-ui")]);
        let mut view = MeshView { mesh: Some(vec![]), ..Default::default() };
        assert_eq!(effective(&view, None, &ui).describe(), "PERMISSIVE", "Istio's default without any policy");
        view.mesh = Some(vec![Policy { namespace: "istio-system".into(), ..policy("default", None, Some("STRICT"), "1") }]);
        assert_eq!(effective(&view, None, &ui).describe(), "STRICT (PeerAuthentication istio-system/default)");
        view.policies.push(policy("default", None, Some("STRICT"), "2"));
        assert_eq!(effective(&view, None, &ui).decided_by.as_deref(), Some("PeerAuthentication yelb/default"));
        // A more specific policy wins, even a weaker one: the hole meshtls must show.
        view.policies.push(policy("legacy", Some(&[("app", "yelb-ui")]), Some("PERMISSIVE"), "3"));
        assert_eq!(effective(&view, None, &ui).describe(), "PERMISSIVE (PeerAuthentication yelb/legacy)");
        assert_eq!(effective(&view, None, &labels(&[("app", "yelb-db")])).mode, TlsMode::Strict, "it selects yelb-ui only");
        // Of two workload policies the oldest decides; an UNSET mode inherits.
        view.policies.push(policy("older", Some(&[("app", "yelb-ui")]), None, "0"));
        assert_eq!(effective(&view, None, &ui).describe(), "STRICT (PeerAuthentication yelb/default)");
        // Port-level modes of the deciding workload policy show beside the mode.
        view.policies.retain(|p| p.name != "older");
        view.policies.retain(|p| p.name != "legacy");
        let mut ported = policy("ui", Some(&[("app", "yelb-ui")]), Some("STRICT"), "4");
        ported.ports.insert("8080".into(), TlsMode::Off);
        view.policies.push(ported);
        assert_eq!(effective(&view, None, &ui).describe(), "STRICT, port 8080 DISABLE (PeerAuthentication yelb/ui)");
    }

    #[test]
    fn a_policy_being_planned_stands_in_for_the_one_of_its_name() {
        let ui = labels(&[("app", "yelb-ui")]);
        let view = MeshView { policies: vec![policy("ui", Some(&[("app", "yelb-ui")]), Some("PERMISSIVE"), "1")], ..Default::default() };
        let planned = policy("ui", Some(&[("app", "yelb-ui")]), Some("STRICT"), "1");
        assert_eq!(effective(&view, None, &ui).mode, TlsMode::Permissive, "the positive control: as read");
        assert_eq!(effective(&view, Some(&planned), &ui).describe(), "STRICT (PeerAuthentication yelb/ui)");
        let other = policy("other", Some(&[("app", "yelb-ui")]), Some("STRICT"), "2");
        assert_eq!(effective(&view, Some(&other), &ui).mode, TlsMode::Permissive, "another name is added beside, and the older decides");
    }

    /// The view kept for applies, as `mesh_view` would have read it.
    async fn kept(cache: &ReadCache, namespace: &str, view: MeshView) {
        cache.kept(APPLIED_VIEW, namespace.into(), || async { Ok::<_, ()>(Arc::new(view)) }, |_| ()).await.ok();
    }

    async fn names(cache: &ReadCache, namespace: &str) -> (Vec<String>, Option<Vec<String>>) {
        let never = || async { Err::<Arc<MeshView>, ()>(()) };
        let names = |p: &[Policy]| p.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        cache
            .kept(APPLIED_VIEW, namespace.into(), never, |v: &Arc<MeshView>| (names(&v.policies), v.mesh.as_deref().map(names)))
            .await
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn once_the_run_applies_plans_read_the_view_kept_in_step_with_its_writes() {
        // Nothing listens here: a read that went out would fail.
        let client = kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().expect("url"))).expect("client");
        let cache = ReadCache::default();
        kept(&cache, "yelb", MeshView { policies: vec![policy("ui", None, Some("STRICT"), "1")], ..Default::default() }).await;
        assert!(mesh_view(&client, &cache, "yelb").await.is_err(), "the positive control: while caching, the server is read");
        cache.stop_caching();
        let before = mesh_view(&client, &cache, "yelb").await.expect("the kept view");
        let meta = ObjectMeta { name: Some("db".into()), namespace: Some("yelb".into()), ..Default::default() };
        record_written(&cache, &peer_authentication(meta, None, TlsMode::Strict)).await;
        let after = mesh_view(&client, &cache, "yelb").await.expect("the kept view");
        assert_eq!(after.policies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["ui", "db"]);
        assert_eq!(before.policies.len(), 1, "a view already handed out is not changed under its reader");
    }

    #[tokio::test]
    async fn the_applied_view_follows_what_meshtls_writes_and_deletes() {
        let cache = ReadCache::default();
        cache.stop_caching();
        let meta = |ns: &str, name: &str| ObjectMeta { name: Some(name.into()), namespace: Some(ns.into()), ..Default::default() };
        // Written before the view was read: the read will see it, nothing to keep.
        record_written(&cache, &peer_authentication(meta("yelb", "early"), None, TlsMode::Strict)).await;
        kept(
            &cache,
            "yelb",
            MeshView { policies: vec![policy("ui", None, Some("STRICT"), "1")], mesh: Some(vec![]), ..Default::default() },
        )
        .await;
        kept(&cache, ROOT_NAMESPACE, MeshView { mesh: Some(vec![]), ..Default::default() }).await;
        assert_eq!(names(&cache, "yelb").await, (vec!["ui".to_string()], Some(vec![])));

        record_written(&cache, &peer_authentication(meta("yelb", "db"), None, TlsMode::Strict)).await;
        record_written(&cache, &peer_authentication(meta("yelb", "ui"), None, TlsMode::Permissive)).await;
        let (local, _) = names(&cache, "yelb").await;
        assert_eq!(local, ["db", "ui"], "a rewrite replaces the policy of its name");
        record_deleted(&cache, "yelb", "db").await;
        assert_eq!(names(&cache, "yelb").await.0, ["ui"]);

        // A root-namespace policy is mesh-wide for every other namespace's view.
        record_written(&cache, &peer_authentication(meta(ROOT_NAMESPACE, "default"), None, TlsMode::Strict)).await;
        assert_eq!(names(&cache, "yelb").await.1, Some(vec!["default".to_string()]));
        assert_eq!(names(&cache, ROOT_NAMESPACE).await, (vec!["default".to_string()], Some(vec![])));
        record_deleted(&cache, ROOT_NAMESPACE, "default").await;
        assert_eq!(names(&cache, "yelb").await.1, Some(vec![]));
        assert_eq!(names(&cache, ROOT_NAMESPACE).await.0, Vec::<String>::new());
    }

    #[test]
    fn a_policy_reads_its_port_level_modes_and_an_unset_mode() {
        let mut pa = peer_authentication(
            ObjectMeta { name: Some("x".into()), namespace: Some("yelb".into()), ..Default::default() },
            None,
            TlsMode::Inherited,
        );
        pa.spec.other.insert("portLevelMtls".into(), serde_json::json!({ "8080": { "mode": "DISABLE" } }));
        let p = Policy::of(&pa);
        assert_eq!((p.mode, p.ports.get("8080")), (None, Some(&TlsMode::Off)));
    }

    #[test]
    fn unenrolled_workloads_come_from_the_view() {
        let w = |name: &str, l: &[(&str, &str)]| Workload {
            kind: "Deployment",
            name: name.into(),
            labels: labels(l),
            annotations: BTreeMap::new(),
        };
        let view = MeshView {
            namespace_labels: BTreeMap::new(),
            workloads: vec![w("ui", &[("app", "ui"), ("sidecar.istio.io/inject", "true")]), w("db", &[("app", "db")])],
            ..Default::default()
        };
        assert_eq!(unenrolled(&view, "yelb", None, None), ["Deployment yelb/db"]);
        assert!(unenrolled(&view, "yelb", Some(&labels(&[("app", "ui")])), None).is_empty());

        // Ambient: the covered workloads ztunnel serves; with none covered, the namespace.
        let ambient_ns = MeshView { namespace_labels: labels(&[(DATAPLANE_MODE_LABEL, "ambient")]), ..view.clone() };
        assert_eq!(ambient(&ambient_ns, "yelb", Some(&labels(&[("app", "db")]))), ["Deployment yelb/db"]);
        assert!(ambient(&ambient_ns, "yelb", Some(&labels(&[("app", "ui")]))).is_empty(), "ui opted in to a sidecar");
        assert_eq!(ambient(&ambient_ns, "yelb", Some(&labels(&[("app", "none")]))), ["namespace yelb"]);
        assert!(ambient(&view, "yelb", None).is_empty(), "a sidecar namespace");
    }
}
