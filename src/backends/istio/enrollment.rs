//! Which proxy serves a workload, by the rules of Istio's injection webhooks and its ambient
//! controller: a sidecar of some revision, ztunnel, or a gateway's own Envoy; and whether a
//! revision is installed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use super::ROOT_NAMESPACE;
use crate::clients::read_cache::ReadCache;

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

/// The namespaces enrolled in ambient mode (`istio.io/dataplane-mode=ambient`), sorted.
pub async fn ambient_namespaces(client: &kube::Client) -> Result<Vec<String>, kube::Error> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let params = kube::api::ListParams::default().labels(&format!("{DATAPLANE_MODE_LABEL}=ambient"));
    let mut names: Vec<String> = api.list_metadata(&params).await?.items.into_iter().filter_map(|n| n.metadata.name).collect();
    names.sort();
    Ok(names)
}

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
}
