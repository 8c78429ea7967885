//! The Istio side of a service's mutual TLS: a PeerAuthentication says what the workload's
//! sidecars accept (STRICT: mutual TLS only), and an optional DestinationRule says what
//! callers send it (ISTIO_MUTUAL). Istio hands certificates to every proxy itself, over SDS,
//! signed by its CA (a `meshtls_ca` plugged in as `cacerts`), so unlike App Mesh this side
//! has no certificate or trust paths: those parts of [`NodeTls`] are always empty here.
//!
//! Both objects are meshtls's own: created with its marker, changed and deleted only while
//! they carry it. Also here: which workloads a STRICT policy would cut off because no sidecar
//! or ambient enrollment would serve them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PodTemplateSpec};
use kube::api::{ListParams, ObjectMeta};
use kube::core::{NotUsed, Object};
use kube::Api;

use super::istio_crd::{
    ClientTls, DestinationRule, DestinationRuleSpec, Kind, Mtls, PeerAuthentication, PeerAuthenticationSpec, TrafficPolicy,
    WorkloadSelector, DESTINATION_RULE, PEER_AUTHENTICATION,
};
use super::model::{ClientPolicyTls, ListenerTls, NodeTls};
use super::{MeshSide, NodeView, SideError};
use crate::clients::read_cache::ReadCache;
use crate::ownership::{Claim, Deleted, ObjectRef, OwnError, Owned, Owner};

const SIDE: &str = "Istio";
/// The client TLS mode that uses the certificates Istio issues.
pub const ISTIO_MUTUAL: &str = "ISTIO_MUTUAL";

/// One workload's (or one namespace's) mutual TLS, as `owner`'s objects named `name`.
pub struct IstioWorkload<'a> {
    pub client: &'a kube::Client,
    pub owner: &'a Owner,
    pub namespace: String,
    pub name: String,
    /// The workload's pod labels; None covers the whole namespace.
    pub selector: Option<BTreeMap<String, String>>,
    /// The DestinationRule's host, when callers are to be told to use mutual TLS.
    pub host: Option<String>,
}

/// What the cluster holds under the workload's name, and whose each object is.
#[derive(Debug, Default)]
pub struct Found {
    pub peer_authentication: Option<(PeerAuthentication, Claim)>,
    pub destination_rule: Option<(DestinationRule, Claim)>,
}

fn kube_error(e: OwnError) -> SideError {
    match e {
        e @ OwnError::NotOurs { .. } => SideError::Ownership(Box::new(e)),
        other => SideError::Api { side: SIDE, message: other.to_string() },
    }
}

impl<'a> IstioWorkload<'a> {
    fn owned<P>(&self, kind: Kind) -> Owned<'a, Object<P, NotUsed>>
    where
        P: Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        let api = Api::namespaced_with(self.client.clone(), &self.namespace, &kind.api_resource());
        Owned::with_kind(api, ObjectRef::new(kind.kind, Some(&self.namespace), &self.name), self.owner)
    }

    fn peer_authentication(&self) -> Owned<'a, PeerAuthentication> {
        self.owned(PEER_AUTHENTICATION)
    }

    fn destination_rule(&self) -> Owned<'a, DestinationRule> {
        self.owned(DESTINATION_RULE)
    }

    /// Both objects, fresh from the server.
    pub async fn found(&self) -> Result<Found, SideError> {
        Ok(Found {
            peer_authentication: self.peer_authentication().get().await.map_err(kube_error)?,
            destination_rule: self.destination_rule().get().await.map_err(kube_error)?,
        })
    }

    /// What differs from `want` (and from this side's selector and host); empty when in sync.
    /// An object that is not meshtls's counts as missing, and says whose it is.
    pub async fn drift(&self, want: &NodeTls) -> Result<Vec<String>, SideError> {
        let found = self.found().await?;
        let mut out = Vec::new();
        for (kind, claim) in [
            (PEER_AUTHENTICATION.kind, found.peer_authentication.as_ref().map(|(_, c)| c)),
            (DESTINATION_RULE.kind, found.destination_rule.as_ref().map(|(_, c)| c)),
        ] {
            if let Some(claim) = claim.filter(|c| **c != Claim::Ours) {
                out.push(format!("{kind} {}/{} {}", self.namespace, self.name, claim.describe()));
            }
        }
        let (pa, dr) = ours(&found);
        out.extend(tls_of(pa, dr).differences(want));
        out.extend(unset_fields(pa, dr));
        if let Some(pa) = pa {
            let have = pa.spec.selector.as_ref().map(|s| &s.match_labels);
            if have != self.selector.as_ref() {
                out.push(format!("PeerAuthentication selector is {} (want {})", labels(have), labels(self.selector.as_ref())));
            }
        }
        if let (Some(dr), Some(host)) = (dr, &self.host) {
            if &dr.spec.host != host {
                out.push(format!("DestinationRule host is {:?} (want {host:?})", dr.spec.host));
            }
        }
        Ok(out)
    }

    /// Import: marks whichever of the two objects exist as meshtls's. False when neither does.
    pub async fn adopt(&self) -> Result<bool, SideError> {
        let pa = self.peer_authentication().adopt().await.map_err(kube_error)?;
        let dr = self.destination_rule().adopt().await.map_err(kube_error)?;
        Ok(pa.is_some() || dr.is_some())
    }

    /// Deletes meshtls's objects; warnings name those left in place.
    pub async fn delete(&self) -> Result<Vec<tfplugin::Diagnostic>, SideError> {
        let mut warnings = Vec::new();
        for deleted in [self.peer_authentication().delete().await, self.destination_rule().delete().await] {
            if let Some(w) = deleted.map_err(kube_error)?.warning() {
                warnings.push(w);
            }
        }
        Ok(warnings)
    }

    fn metadata(&self) -> ObjectMeta {
        ObjectMeta { name: Some(self.name.clone()), namespace: Some(self.namespace.clone()), ..Default::default() }
    }
}

/// The objects of `found` that are meshtls's.
pub fn ours(found: &Found) -> (Option<&PeerAuthentication>, Option<&DestinationRule>) {
    let mine = |c: &Claim| *c == Claim::Ours;
    (
        found.peer_authentication.as_ref().filter(|(_, c)| mine(c)).map(|(o, _)| o),
        found.destination_rule.as_ref().filter(|(_, c)| mine(c)).map(|(o, _)| o),
    )
}

fn labels(l: Option<&BTreeMap<String, String>>) -> String {
    match l {
        None => "the whole namespace".into(),
        Some(l) => format!("{{{}}}", l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")),
    }
}

/// The TLS the two objects stand for, in mesh-neutral terms.
pub fn tls_of(pa: Option<&PeerAuthentication>, dr: Option<&DestinationRule>) -> NodeTls {
    let listener = pa.map(|pa| ListenerTls {
        mode: pa.spec.mtls.as_ref().and_then(|m| m.mode.clone()).unwrap_or_else(|| "UNSET".into()),
        certificate: None,
        trust: None,
        subject_alternative_names: Vec::new(),
    });
    let client_policy = dr.and_then(|dr| dr.spec.traffic_policy.as_ref()?.tls.as_ref()).map(|tls| ClientPolicyTls {
        enforce: tls.mode.as_deref() == Some(ISTIO_MUTUAL),
        ports: Vec::new(),
        certificate: None,
        trust: None,
        subject_alternative_names: tls.subject_alt_names.clone(),
    });
    NodeTls { listener, client_policy }
}

/// The PeerAuthentication for `mode`: the namespace's, or the selected workload's.
pub fn peer_authentication(meta: ObjectMeta, selector: Option<&BTreeMap<String, String>>, mode: &str) -> PeerAuthentication {
    PEER_AUTHENTICATION.object(
        meta,
        PeerAuthenticationSpec {
            selector: selector.map(|s| WorkloadSelector { match_labels: s.clone() }),
            mtls: Some(Mtls { mode: Some(mode.into()) }),
            other: BTreeMap::new(),
        },
    )
}

/// The DestinationRule that has callers of `host` use Istio's mutual TLS.
pub fn destination_rule(meta: ObjectMeta, host: &str, c: &ClientPolicyTls) -> DestinationRule {
    DESTINATION_RULE.object(
        meta,
        DestinationRuleSpec {
            host: host.into(),
            traffic_policy: Some(TrafficPolicy {
                tls: Some(ClientTls {
                    mode: Some(if c.enforce { ISTIO_MUTUAL } else { "DISABLE" }.into()),
                    subject_alt_names: c.subject_alternative_names.clone(),
                    other: BTreeMap::new(),
                }),
                other: BTreeMap::new(),
            }),
            other: BTreeMap::new(),
        },
    )
}

/// Fields of meshtls's objects that the configuration does not set. meshtls owns the whole
/// spec of what it creates: a `portLevelMtls: {8080: DISABLE}` patched into its STRICT
/// policy opens a plaintext port, so every such field is drift, and apply removes it.
pub fn unset_fields(pa: Option<&PeerAuthentication>, dr: Option<&DestinationRule>) -> Vec<String> {
    let mut out = Vec::new();
    let mut name = |kind: &str, prefix: &str, fields: &BTreeMap<String, serde_json::Value>| {
        for (key, value) in fields {
            out.push(format!("{kind} sets {prefix}{key} = {}, which the configuration does not set", compact(value)));
        }
    };
    if let Some(pa) = pa {
        name(PEER_AUTHENTICATION.kind, "", &pa.spec.other);
    }
    if let Some(dr) = dr {
        name(DESTINATION_RULE.kind, "", &dr.spec.other);
        if let Some(policy) = &dr.spec.traffic_policy {
            name(DESTINATION_RULE.kind, "trafficPolicy.", &policy.other);
            if let Some(tls) = &policy.tls {
                name(DESTINATION_RULE.kind, "trafficPolicy.tls.", &tls.other);
            }
        }
    }
    out
}

/// A value as one short line of JSON, for a drift note.
fn compact(value: &serde_json::Value) -> String {
    const MAX: usize = 120;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// `want` replaces the spec of meshtls's existing object whole: fields someone added are
/// removed (see [`unset_fields`]). Labels and annotations beside meshtls's stay.
fn merge_peer_authentication(have: &mut PeerAuthentication, want: &PeerAuthentication) {
    have.spec = want.spec.clone();
}

fn merge_destination_rule(have: &mut DestinationRule, want: &DestinationRule) {
    have.spec = want.spec.clone();
}

#[async_trait]
impl MeshSide for IstioWorkload<'_> {
    fn name(&self) -> &'static str {
        SIDE
    }

    /// The objects meshtls owns; one that is someone else's reads as absent.
    async fn read(&self, _port: Option<i64>) -> Result<NodeView, SideError> {
        let found = self.found().await?;
        let (pa, dr) = ours(&found);
        Ok(NodeView { tls: tls_of(pa, dr), hostname: self.host.clone() })
    }

    /// Creates, updates or deletes the two objects so they say `tls`. Refuses objects of the
    /// same name that are not meshtls's.
    async fn write(&self, _port: Option<i64>, tls: &NodeTls) -> Result<(), SideError> {
        match &tls.listener {
            Some(l) => {
                let want = peer_authentication(self.metadata(), self.selector.as_ref(), &l.mode);
                self.peer_authentication().ensure(want, merge_peer_authentication).await.map_err(kube_error)?;
            }
            None => left_alone(self.peer_authentication().delete().await.map_err(kube_error)?)?,
        }
        match (&tls.client_policy, &self.host) {
            (Some(c), Some(host)) => {
                let want = destination_rule(self.metadata(), host, c);
                self.destination_rule().ensure(want, merge_destination_rule).await.map_err(kube_error)?;
            }
            (Some(_), None) => {
                return Err(SideError::Api { side: SIDE, message: "a DestinationRule needs a host".into() });
            }
            (None, _) => left_alone(self.destination_rule().delete().await.map_err(kube_error)?)?,
        }
        Ok(())
    }
}

/// Removing settings meets someone else's object: it is theirs to keep, and not an error.
fn left_alone(deleted: Deleted) -> Result<(), SideError> {
    if let Deleted::LeftAlone { object, claim } = &deleted {
        tracing::info!(%object, ?claim, "left in place");
    }
    Ok(())
}

/// Label keys and values that enroll a workload in the mesh.
pub const INJECTION_LABEL: &str = "istio-injection";
pub const REVISION_LABEL: &str = "istio.io/rev";
pub const INJECT_LABEL: &str = "sidecar.istio.io/inject";
pub const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";
/// The waypoint proxy that serves an ambient namespace's (or service's) traffic at layer 7.
pub const USE_WAYPOINT_LABEL: &str = "istio.io/use-waypoint";
/// Labels istiod puts on the pods of a gateway it deploys.
const GATEWAY_POD_LABELS: [&str; 2] = ["gateway.istio.io/managed", "gateway.networking.k8s.io/gateway-name"];
const INJECT_TEMPLATES_ANNOTATION: &str = "inject.istio.io/templates";

/// The revision `istio-injection=enabled` and `sidecar.istio.io/inject=true` name.
pub const DEFAULT_REVISION: &str = "default";

/// What would serve a workload's pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    /// The pods are an Istio gateway's own proxies.
    Gateway,
    /// ztunnel, for pods enrolled in ambient mode.
    Ambient,
    /// A sidecar, injected by this revision's istiod.
    Sidecar(String),
}

/// What serves pods with `pod` labels (and annotations) in a namespace with `namespace` labels,
/// by the rules of Istio's injection webhooks and its ambient controller; None when nothing
/// does.
pub fn proxy_of(
    namespace: &BTreeMap<String, String>,
    pod: &BTreeMap<String, String>,
    pod_annotations: &BTreeMap<String, String>,
) -> Option<Proxy> {
    // An Istio gateway is a proxy itself: istiod's Gateway API deployments carry its gateway
    // labels, and injected gateways the `gateway` injection template.
    if GATEWAY_POD_LABELS.iter().any(|l| pod.contains_key(*l))
        || pod_annotations.get(INJECT_TEMPLATES_ANNOTATION).is_some_and(|t| t.split(',').any(|t| t.trim() == "gateway"))
    {
        return Some(Proxy::Gateway);
    }
    let pod_mode = pod.get(DATAPLANE_MODE_LABEL).map(String::as_str);
    if pod_mode == Some("ambient") {
        return Some(Proxy::Ambient);
    }
    // A namespace's revision wins over a pod's: the pod-level webhook skips labelled namespaces.
    let revision = || namespace.get(REVISION_LABEL).or_else(|| pod.get(REVISION_LABEL)).cloned();
    let sidecar = |revision: Option<String>| Some(Proxy::Sidecar(revision.unwrap_or_else(|| DEFAULT_REVISION.to_string())));
    let pod_inject = pod.get(INJECT_LABEL).or_else(|| pod_annotations.get(INJECT_LABEL)).map(String::as_str);
    let namespace_injection = namespace.get(INJECTION_LABEL).map(String::as_str);
    // Injection asked for explicitly wins over a namespace's ambient mode: ztunnel leaves
    // pods that have a sidecar alone.
    match (pod_inject, namespace_injection) {
        (Some("true"), _) => return sidecar(revision()),
        // istio-injection=enabled is the default revision's whatever the revision labels say.
        (inject, Some("enabled")) if inject != Some("false") => return sidecar(None),
        _ => {}
    }
    // `sidecar.istio.io/inject: "false"` refuses a sidecar, not ztunnel.
    if pod_mode != Some("none") && namespace.get(DATAPLANE_MODE_LABEL).map(String::as_str) == Some("ambient") {
        return Some(Proxy::Ambient);
    }
    match (pod_inject, namespace_injection) {
        (Some("false"), _) => None,
        // istio-injection=disabled opts the namespace out even with a revision label.
        (_, Some(_)) => None,
        (_, None) => revision().and_then(|r| sidecar(Some(r))),
    }
}

/// Whether what serves such pods (see `proxy_of`) is a proxy of `revision`'s control plane;
/// any revision's when `revision` is None. ztunnel and gateways serve any revision's mesh.
pub fn enrolled(
    namespace: &BTreeMap<String, String>,
    pod: &BTreeMap<String, String>,
    pod_annotations: &BTreeMap<String, String>,
    revision: Option<&str>,
) -> bool {
    match proxy_of(namespace, pod, pod_annotations) {
        None => false,
        Some(Proxy::Sidecar(served)) => revision.is_none_or(|want| served == want),
        Some(Proxy::Gateway | Proxy::Ambient) => true,
    }
}

/// Whether `selector` (None: everything) selects pods labelled `labels`.
pub fn selects(selector: Option<&BTreeMap<String, String>>, labels: &BTreeMap<String, String>) -> bool {
    selector.is_none_or(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

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
    /// None or `UNSET`: inherited from the level above.
    pub mode: Option<String>,
    /// `portLevelMtls`: port number to mode.
    pub ports: BTreeMap<String, String>,
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
            .map(|ports| ports.iter().filter_map(|(port, m)| Some((port.clone(), m.get("mode")?.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        Policy {
            namespace: pa.metadata.namespace.clone().unwrap_or_default(),
            name: pa.metadata.name.clone().unwrap_or_default(),
            selector: pa.spec.selector.as_ref().map(|s| s.match_labels.clone()).filter(|s| !s.is_empty()),
            mode: pa.spec.mtls.as_ref().and_then(|m| m.mode.clone()).filter(|m| m != "UNSET"),
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
    pub mode: String,
    /// Ports whose mode differs from `mode`: (port, mode).
    pub ports: Vec<(String, String)>,
    pub decided_by: Option<String>,
    /// The deciding policy is not meshtls's: nobody's plan shows it.
    pub foreign: bool,
}

impl Effective {
    /// As state shows it: `STRICT`, or `PERMISSIVE (PeerAuthentication yelb/legacy)`.
    pub fn describe(&self) -> String {
        let mut text = self.mode.clone();
        for (port, mode) in &self.ports {
            text.push_str(&format!(", port {port} {mode}"));
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
/// Port-level modes come from the workload policy.
pub fn effective(view: &MeshView, labels: &BTreeMap<String, String>) -> Effective {
    let mesh = view.mesh.as_deref().and_then(|m| oldest(m.iter().filter(|p| p.selector.is_none())));
    let namespace = oldest(view.policies.iter().filter(|p| p.selector.is_none()));
    let workload = oldest(view.policies.iter().filter(|p| p.selector.as_ref().is_some_and(|s| selects(Some(s), labels))));
    let mut mode = "PERMISSIVE".to_string();
    let mut decided = None;
    for policy in [mesh, namespace, workload].into_iter().flatten() {
        if let Some(m) = &policy.mode {
            mode = m.clone();
            decided = Some(policy);
        }
    }
    let mut ports = Vec::new();
    if let Some(w) = workload {
        for (port, m) in w.ports.iter().filter(|(_, m)| m.as_str() != "UNSET" && **m != mode) {
            ports.push((port.clone(), m.clone()));
            decided = Some(w);
        }
    }
    Effective { mode, ports, decided_by: decided.map(Policy::describe), foreign: decided.is_some_and(|p| !p.managed) }
}

/// The namespace's view, read once per provider process while reads are cached: N policies
/// in one namespace make one set of list calls, not N.
pub async fn mesh_view(client: &kube::Client, cache: &ReadCache, namespace: &str) -> Result<MeshView, kube::Error> {
    let (client, ns) = (client.clone(), namespace.to_string());
    cache.memo("istio-mesh-view", ns.clone(), || async move { read_mesh_view(&client, &ns).await }).await
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

/// The ConfigMap (istiod's mesh config) that Istio's `istiod` Helm chart installs in the root
/// namespace for each revision: `istio` for the default revision, `istio-<revision>` for the
/// others. `istioctl` finds revisions by the same objects' `istio.io/rev` label.
pub fn revision_config_map(revision: &str) -> String {
    if revision == DEFAULT_REVISION {
        "istio".to_string()
    } else {
        format!("istio-{revision}")
    }
}

/// Whether `revision` is installed: its mesh-config ConfigMap exists in the root namespace,
/// labelled with the revision. Read once per plan, however many resources name it.
pub async fn revision_installed(client: &kube::Client, cache: &ReadCache, revision: &str) -> Result<bool, kube::Error> {
    let (client, revision) = (client.clone(), revision.to_string());
    cache
        .memo("istio-revision", revision.clone(), || async move {
            let api = Api::<ConfigMap>::namespaced(client, ROOT_NAMESPACE);
            let found = api.get_opt(&revision_config_map(&revision)).await?;
            let labelled = |m: &ConfigMap| m.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL).cloned());
            // Unlabelled counts: older charts wrote the default revision's without the label.
            Ok(found.is_some_and(|m| labelled(&m).is_none_or(|r| r == revision)))
        })
        .await
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
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, kube::Error> {
    let d = Api::<Deployment>::namespaced(client.clone(), namespace).get_opt(name).await?;
    Ok(d.map(|d| d.spec.and_then(|s| s.selector.match_labels).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn enrollment_follows_istio_rules() {
        let none = labels(&[]);
        // Any revision's proxy counts here.
        let enrolled = |n: &BTreeMap<String, String>, p: &BTreeMap<String, String>, a: &BTreeMap<String, String>| enrolled(n, p, a, None);
        assert!(!enrolled(&none, &none, &none), "nothing enrolls nothing");
        assert!(enrolled(&labels(&[(INJECTION_LABEL, "enabled")]), &none, &none));
        assert!(!enrolled(&labels(&[(INJECTION_LABEL, "enabled")]), &labels(&[(INJECT_LABEL, "false")]), &none));
        assert!(!enrolled(&labels(&[(INJECTION_LABEL, "enabled")]), &none, &labels(&[(INJECT_LABEL, "false")])), "the old annotation too");
        assert!(enrolled(&none, &labels(&[(INJECT_LABEL, "true")]), &none), "a pod may opt in alone");
        assert!(enrolled(&labels(&[(REVISION_LABEL, "stable")]), &none, &none));
        assert!(!enrolled(&labels(&[(REVISION_LABEL, "stable"), (INJECTION_LABEL, "disabled")]), &none, &none));
        assert!(enrolled(&labels(&[(DATAPLANE_MODE_LABEL, "ambient")]), &none, &none));
        assert!(!enrolled(&labels(&[(DATAPLANE_MODE_LABEL, "ambient")]), &labels(&[(DATAPLANE_MODE_LABEL, "none")]), &none));
        assert!(enrolled(&none, &labels(&[(DATAPLANE_MODE_LABEL, "ambient")]), &none));
        // A gateway's pods are proxies, whatever their inject label says.
        let gateway = labels(&[(INJECT_LABEL, "false"), ("gateway.networking.k8s.io/gateway-name", "yelb-gw")]);
        assert!(enrolled(&labels(&[(INJECTION_LABEL, "enabled")]), &gateway, &none));
        assert!(enrolled(&none, &none, &labels(&[(INJECT_TEMPLATES_ANNOTATION, "gateway")])));
    }

    #[test]
    fn a_revision_enrolls_only_what_its_own_istiod_injects() {
        let none = labels(&[]);
        let sidecar = |r: &str| Some(Proxy::Sidecar(r.into()));
        let canary_ns = labels(&[(REVISION_LABEL, "canary")]);
        assert_eq!(proxy_of(&canary_ns, &none, &none), sidecar("canary"));
        assert_eq!(proxy_of(&labels(&[(INJECTION_LABEL, "enabled")]), &none, &none), sidecar(DEFAULT_REVISION));
        assert_eq!(proxy_of(&none, &labels(&[(REVISION_LABEL, "canary")]), &none), sidecar("canary"), "a pod may name its revision");
        assert_eq!(proxy_of(&canary_ns, &labels(&[(REVISION_LABEL, "stable")]), &none), sidecar("canary"), "the namespace's wins");
        assert_eq!(proxy_of(&none, &labels(&[(INJECT_LABEL, "true")]), &none), sidecar(DEFAULT_REVISION));
        assert_eq!(proxy_of(&none, &none, &none), None);
        assert!(enrolled(&canary_ns, &none, &none, Some("canary")));
        assert!(!enrolled(&canary_ns, &none, &none, Some("stable")), "another revision's sidecar is not this one's");
        assert!(!enrolled(&labels(&[(INJECTION_LABEL, "enabled")]), &none, &none, Some("canary")));
        assert!(enrolled(&labels(&[(INJECTION_LABEL, "enabled")]), &none, &none, Some(DEFAULT_REVISION)));
        assert!(enrolled(&canary_ns, &none, &none, None), "any revision without one asked for");
        // A sidecar asked for explicitly wins over a namespace's ambient mode; a sidecar
        // refused does not refuse ztunnel.
        let ambient_ns = labels(&[(DATAPLANE_MODE_LABEL, "ambient")]);
        assert_eq!(proxy_of(&ambient_ns, &labels(&[(INJECT_LABEL, "true")]), &none), sidecar(DEFAULT_REVISION));
        assert_eq!(proxy_of(&ambient_ns, &labels(&[(INJECT_LABEL, "false")]), &none), Some(Proxy::Ambient));
        // ztunnel and gateways are no revision's sidecar.
        assert!(enrolled(&labels(&[(DATAPLANE_MODE_LABEL, "ambient")]), &none, &none, Some("canary")));
        assert_eq!(proxy_of(&labels(&[(DATAPLANE_MODE_LABEL, "ambient")]), &none, &none), Some(Proxy::Ambient));
    }

    #[test]
    fn a_selector_selects_pods_with_all_its_labels() {
        let pod = labels(&[("app", "yelb-ui"), ("tier", "frontend")]);
        assert!(selects(None, &pod));
        assert!(selects(Some(&labels(&[("app", "yelb-ui")])), &pod));
        assert!(!selects(Some(&labels(&[("app", "yelb-ui"), ("tier", "backend")])), &pod));
    }

    #[test]
    fn the_objects_stand_for_mesh_tls_and_back() {
        let meta = ObjectMeta { name: Some("yelb-ui".into()), ..Default::default() };
        let sel = labels(&[("app", "yelb-ui")]);
        let pa = peer_authentication(meta.clone(), Some(&sel), "STRICT");
        let policy = ClientPolicyTls {
            enforce: true,
            ports: vec![],
            certificate: None,
            trust: None,
            subject_alternative_names: vec!["spiffe://cluster.local/ns/yelb/sa/yelb-ui".into()],
        };
        let dr = destination_rule(meta, "yelb-ui.yelb.svc.cluster.local", &policy);
        let tls = tls_of(Some(&pa), Some(&dr));
        assert_eq!(tls.listener.as_ref().map(|l| l.mode.as_str()), Some("STRICT"));
        assert_eq!(tls.client_policy.as_ref(), Some(&policy));
        let json = serde_json::to_value(&dr).unwrap_or_default();
        assert_eq!(json["spec"]["trafficPolicy"]["tls"]["mode"], "ISTIO_MUTUAL");
        assert_eq!(json["apiVersion"], "networking.istio.io/v1");
        let json = serde_json::to_value(&pa).unwrap_or_default();
        assert_eq!(json["spec"]["selector"]["matchLabels"]["app"], "yelb-ui");
        assert_eq!(json["spec"]["mtls"]["mode"], "STRICT");
        // A namespace-wide policy has no selector at all.
        let all = peer_authentication(ObjectMeta::default(), None, "PERMISSIVE");
        assert!(serde_json::to_value(&all).unwrap_or_default()["spec"].get("selector").is_none());
        assert_eq!(tls_of(None, None), NodeTls::default());
    }

    #[test]
    fn every_field_the_configuration_does_not_set_is_drift_and_apply_removes_it() {
        let meta = ObjectMeta::default();
        let strict = peer_authentication(meta.clone(), None, "STRICT");
        let policy = ClientPolicyTls { enforce: true, ports: vec![], certificate: None, trust: None, subject_alternative_names: vec![] };
        let rule = destination_rule(meta.clone(), "new", &policy);
        assert!(unset_fields(Some(&strict), Some(&rule)).is_empty(), "what meshtls writes is all set by the configuration");

        // A port-level DISABLE inside meshtls's own STRICT policy: a plaintext port.
        let mut have = peer_authentication(meta.clone(), None, "STRICT");
        have.spec.other.insert("portLevelMtls".into(), serde_json::json!({ "8080": { "mode": "DISABLE" } }));
        assert_eq!(
            unset_fields(Some(&have), None),
            [r#"PeerAuthentication sets portLevelMtls = {"8080":{"mode":"DISABLE"}}, which the configuration does not set"#]
        );
        assert!(tls_of(Some(&have), None).differences(&tls_of(Some(&strict), None)).is_empty(), "the mode alone reads STRICT");
        merge_peer_authentication(&mut have, &strict);
        assert_eq!(have.spec, strict.spec, "apply writes the whole spec");

        let mut have = destination_rule(meta.clone(), "old", &policy);
        if let Some(p) = have.spec.traffic_policy.as_mut() {
            p.other.insert("portLevelSettings".into(), serde_json::json!([{ "port": { "number": 8080 }, "tls": { "mode": "DISABLE" } }]));
            if let Some(t) = p.tls.as_mut() {
                t.other.insert("sni".into(), serde_json::json!("x".repeat(300)));
            }
        }
        let notes = unset_fields(None, Some(&have));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("DestinationRule sets trafficPolicy.portLevelSettings = [{"), "{notes:?}");
        assert!(
            notes[1].starts_with("DestinationRule sets trafficPolicy.tls.sni = ") && notes[1].chars().count() < 220,
            "bounded: {notes:?}"
        );
        merge_destination_rule(&mut have, &rule);
        assert_eq!(have.spec, rule.spec);
        assert!(unset_fields(None, Some(&have)).is_empty());
    }

    fn policy(name: &str, selector: Option<&[(&str, &str)]>, mode: Option<&str>, created: &str) -> Policy {
        Policy {
            namespace: "yelb".into(),
            name: name.into(),
            selector: selector.map(labels),
            mode: mode.map(str::to_string),
            ports: BTreeMap::new(),
            created: created.into(),
            managed: false,
        }
    }

    #[test]
    fn the_effective_mode_follows_istio_precedence() {
        let ui = labels(&[("app", "yelb-ui")]);
        let mut view = MeshView { mesh: Some(vec![]), ..Default::default() };
        assert_eq!(effective(&view, &ui).describe(), "PERMISSIVE", "Istio's default without any policy");
        view.mesh = Some(vec![Policy { namespace: "istio-system".into(), ..policy("default", None, Some("STRICT"), "1") }]);
        assert_eq!(effective(&view, &ui).describe(), "STRICT (PeerAuthentication istio-system/default)");
        view.policies.push(policy("default", None, Some("STRICT"), "2"));
        assert_eq!(effective(&view, &ui).decided_by.as_deref(), Some("PeerAuthentication yelb/default"));
        // A more specific policy wins, even a weaker one: the hole meshtls must show.
        view.policies.push(policy("legacy", Some(&[("app", "yelb-ui")]), Some("PERMISSIVE"), "3"));
        assert_eq!(effective(&view, &ui).describe(), "PERMISSIVE (PeerAuthentication yelb/legacy)");
        assert_eq!(effective(&view, &labels(&[("app", "yelb-db")])).mode, "STRICT", "it selects yelb-ui only");
        // Of two workload policies the oldest decides; an UNSET mode inherits.
        view.policies.push(policy("older", Some(&[("app", "yelb-ui")]), None, "0"));
        assert_eq!(effective(&view, &ui).describe(), "STRICT (PeerAuthentication yelb/default)");
        // Port-level modes of the deciding workload policy show beside the mode.
        view.policies.retain(|p| p.name != "older");
        view.policies.retain(|p| p.name != "legacy");
        let mut ported = policy("ui", Some(&[("app", "yelb-ui")]), Some("STRICT"), "4");
        ported.ports.insert("8080".into(), "DISABLE".into());
        view.policies.push(ported);
        assert_eq!(effective(&view, &ui).describe(), "STRICT, port 8080 DISABLE (PeerAuthentication yelb/ui)");
    }

    #[test]
    fn a_policy_reads_its_port_level_modes_and_an_unset_mode() {
        let mut pa =
            peer_authentication(ObjectMeta { name: Some("x".into()), namespace: Some("yelb".into()), ..Default::default() }, None, "UNSET");
        pa.spec.other.insert("portLevelMtls".into(), serde_json::json!({ "8080": { "mode": "DISABLE" } }));
        let p = Policy::of(&pa);
        assert_eq!((p.mode, p.ports.get("8080").map(String::as_str)), (None, Some("DISABLE")));
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
