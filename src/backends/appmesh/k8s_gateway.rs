//! The cluster side of an App Mesh gateway: the VirtualGateway and GatewayRoute objects, the
//! Envoy Deployment and the namespace label that selects the routes.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::apps::v1::DeploymentSpec;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, PodTemplateSpec, SecretVolumeSource, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as PodLabelSelector;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::core::{NotUsed, Object};
use kube::Api;
use serde_json::json;

use super::crd::{
    self as crd_kinds, BackendDefaults, ClientPolicy, GatewayListener, GatewayRouteSpec, HttpRoute, LabelSelector, PortMapping,
    VirtualGatewaySpec,
};
use super::gateway::{GatewayError, GatewayRoute, GatewaySide, GatewaySpec};
use crate::backends::model::{crd, CertificateSource, ListenerTls, TlsMode};
use crate::backends::{retry_conflicts, BackendError};
use crate::ownership::{Claim, ObjectRef, OwnError, Owned, Owner};

mod objects;
use objects::*;

/// The gateway on the cluster, as `owner`'s.
pub struct ClusterGateway<'a> {
    pub client: &'a kube::Client,
    pub owner: &'a Owner,
}

#[async_trait]
impl GatewaySide for ClusterGateway<'_> {
    fn place(&self) -> &'static str {
        "on the cluster"
    }

    async fn apply(&self, g: &GatewaySpec) -> Result<(), GatewayError> {
        apply_cluster(self.client, self.owner, g).await
    }

    async fn check_free(&self, g: &GatewaySpec) -> Result<(), GatewayError> {
        check_free(self.client, self.owner, g).await
    }

    async fn drift(&self, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
        drift_cluster(self.client, self.owner, g).await
    }

    async fn adopt(&self, g: &GatewaySpec) -> Result<(), GatewayError> {
        adopt_cluster(self.client, self.owner, g).await
    }

    async fn delete(&self, g: &GatewaySpec) -> Result<Vec<tfplugin::Diagnostic>, GatewayError> {
        delete_cluster(self.client, self.owner, g).await
    }
}

fn kerr(what: &str, e: kube::Error) -> GatewayError {
    GatewayError::Backend(BackendError::kube("cluster", what, e))
}

fn crd_api<P>(client: &kube::Client, namespace: &str, kind: &str) -> Api<Object<P, NotUsed>>
where
    P: Clone + serde::de::DeserializeOwned,
{
    Api::namespaced_with(client.clone(), namespace, &crd_kinds::api_resource(kind))
}

/// The label on the gateway's namespace that selects its routes, and the annotation that
/// records which gateway set it (a label carries no owner of its own).
const NAMESPACE_LABEL: &str = "gateway";
const NAMESPACE_LABEL_OWNER: &str = "meshtls.dev/gateway-label-owner";

/// The gateway's objects on the cluster, each as the gateway's own.
struct Objects<'a> {
    client: &'a kube::Client,
    owner: &'a Owner,
    namespace: &'a str,
}

impl<'a> Objects<'a> {
    fn crd<P>(&self, kind: &str, name: &str) -> Owned<'a, Object<P, NotUsed>>
    where
        P: Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        Owned::with_kind(crd_api(self.client, self.namespace, kind), ObjectRef::new(kind, Some(self.namespace), name), self.owner)
    }

    fn gateway(&self, name: &str) -> Owned<'a, crd_kinds::VirtualGateway> {
        self.crd("VirtualGateway", name)
    }

    fn route(&self, name: &str) -> Owned<'a, crd_kinds::GatewayRoute> {
        self.crd("GatewayRoute", name)
    }

    fn deployment(&self, name: &str) -> Owned<'a, Deployment> {
        Owned::new(Api::namespaced(self.client.clone(), self.namespace), Some(self.namespace), name, self.owner)
    }
}

/// Who set the gateway label on the namespace.
#[derive(Debug, PartialEq)]
enum NamespaceLabel {
    Absent,
    Ours,
    /// Set outside meshtls, or by another gateway: its value.
    Foreign(String),
}

fn namespace_label(ns: &Namespace, owner: &Owner) -> NamespaceLabel {
    let value = ns.metadata.labels.as_ref().and_then(|l| l.get(NAMESPACE_LABEL));
    let set_by = ns.metadata.annotations.as_ref().and_then(|a| a.get(NAMESPACE_LABEL_OWNER));
    match value {
        None => NamespaceLabel::Absent,
        Some(v) => match owner.claim_recorded(set_by.map(String::as_str), Claim::Foreign) {
            Claim::Ours => NamespaceLabel::Ours,
            _ => NamespaceLabel::Foreign(v.clone()),
        },
    }
}

fn label_refused(namespace: &str, value: &str) -> GatewayError {
    GatewayError::Ownership(Box::new(OwnError::NotOurs {
        object: ObjectRef::new("Namespace label", None, &format!("{namespace} {NAMESPACE_LABEL}={value}")),
        claim: Claim::Foreign,
    }))
}

/// Sets (`Some`) or removes the namespace label, conditioned on the version read so it
/// cannot change hands in between. `adopt` takes a label someone else set.
async fn label_namespace(
    client: &kube::Client,
    owner: &Owner,
    g: &GatewaySpec,
    value: Option<&str>,
    adopt: bool,
) -> Result<(), GatewayError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let what = format!("labelling namespace {}", g.namespace);
    let round = || async {
        let Some(ns) = api.get_opt(&g.namespace).await.map_err(|e| kerr(&what, e))? else { return Ok(()) };
        let current = ns.metadata.labels.as_ref().and_then(|l| l.get(NAMESPACE_LABEL)).map(String::as_str);
        let patch = match (value, namespace_label(&ns, owner)) {
            // Import adopts a label that selects this gateway, never one that selects another.
            (Some(v), NamespaceLabel::Foreign(other)) if !adopt || other != v => return Err(label_refused(&g.namespace, &other)),
            (Some(v), NamespaceLabel::Ours) if current == Some(v) => return Ok(()),
            (Some(v), _) => json!({ "metadata": {
                "labels": { NAMESPACE_LABEL: v },
                "annotations": { NAMESPACE_LABEL_OWNER: owner.to_string() },
                "resourceVersion": ns.metadata.resource_version,
            }}),
            // Only the label meshtls set is removed.
            (None, NamespaceLabel::Ours) => json!({ "metadata": {
                "labels": { NAMESPACE_LABEL: null },
                "annotations": { NAMESPACE_LABEL_OWNER: null },
                "resourceVersion": ns.metadata.resource_version,
            }}),
            (None, _) => return Ok(()),
        };
        api.patch(&g.namespace, &PatchParams::default(), &Patch::Merge(&patch)).await.map(drop).map_err(|e| kerr(&what, e))
    };
    // The patch carries the resourceVersion read: a concurrent change is a conflict, and the
    // round runs again.
    retry_conflicts(round, GatewayError::is_conflict).await
}

/// Fails when any object the gateway would create exists and is someone else's, so a
/// refused apply writes nothing.
async fn check_free(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<(), GatewayError> {
    let o = Objects { client, owner, namespace: &g.namespace };
    o.gateway(&g.name).check_free().await?;
    for r in &g.routes {
        o.route(&r.name).check_free().await?;
    }
    o.deployment(&g.name).check_free().await?;
    let ns = Api::<Namespace>::all(client.clone()).get_opt(&g.namespace).await.map_err(|e| kerr("reading the namespace", e))?;
    if let Some(NamespaceLabel::Foreign(v)) = ns.as_ref().map(|ns| namespace_label(ns, owner)) {
        return Err(label_refused(&g.namespace, &v));
    }
    Ok(())
}

/// Creates or updates every cluster object, and deletes routes that are no longer wanted.
async fn apply_cluster(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<(), GatewayError> {
    check_free(client, owner, g).await?;
    let o = Objects { client, owner, namespace: &g.namespace };
    label_namespace(client, owner, g, Some(&g.name), false).await?;
    o.gateway(&g.name).ensure(gateway_object(g), merge_gateway).await?;
    for r in &g.routes {
        o.route(&r.name).ensure(route_object(g, r), merge_route).await?;
    }
    for stale in owned_routes(client, g).await?.into_iter().filter(|n| !g.routes.iter().any(|r| &r.name == n)) {
        o.route(&stale).delete().await?;
    }
    o.deployment(&g.name)
        .ensure(deployment_object(g)?, |existing, desired| {
            // Pod-template annotations (a rollout restart's, say) are kept.
            let annotations = existing.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.annotations.clone());
            existing.spec = desired.spec.clone();
            if let (Some(a), Some(spec)) = (annotations, existing.spec.as_mut()) {
                spec.template.metadata.get_or_insert_with(Default::default).annotations = Some(a);
            }
            merge_labels(&mut existing.metadata, &desired.metadata);
        })
        .await?;
    Ok(())
}

async fn owned_routes(client: &kube::Client, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let list = crd_api::<GatewayRouteSpec>(client, &g.namespace, "GatewayRoute")
        .list(&kube::api::ListParams::default().labels(&format!("{ROUTE_LABEL}={}", g.name)))
        .await
        .map_err(|e| kerr("listing GatewayRoutes", e))?;
    Ok(list.items.into_iter().filter_map(|o| o.metadata.name).collect())
}

/// What differs on the cluster from `g`; empty when in sync. An object that is not the
/// gateway's counts as missing.
async fn drift_cluster(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let o = Objects { client, owner, namespace: &g.namespace };
    let mut drift = Vec::new();
    match o.gateway(&g.name).get_ours().await? {
        None => drift.push(format!("VirtualGateway {}/{} is missing", g.namespace, g.name)),
        Some(o) => {
            let listener = o.spec.listeners.first();
            if listener.map(|l| l.port_mapping.port) != Some(g.port) {
                drift.push("VirtualGateway listener port differs".into());
            }
            if listener.and_then(|l| l.tls.as_ref()).and_then(crd::parse_listener_tls).as_ref() != Some(&g.listener) {
                drift.push("VirtualGateway listener TLS differs".into());
            }
            if o.spec.backend_defaults.as_ref().and_then(|b| b.client_policy.tls.as_ref()).and_then(crd::parse_client_policy_tls)
                != g.client_policy
            {
                drift.push("VirtualGateway client policy TLS differs".into());
            }
        }
    }
    for r in &g.routes {
        match o.route(&r.name).get_ours().await? {
            None => drift.push(format!("GatewayRoute {} is missing", r.name)),
            Some(o) => {
                if o.spec.http_route != Some(HttpRoute::to_service(&r.prefix, &r.virtual_service)) {
                    drift.push(format!("GatewayRoute {} differs", r.name));
                }
            }
        }
    }
    match o.deployment(&g.name).get_ours().await? {
        None => drift.push(format!("Deployment {}/{} is missing", g.namespace, g.name)),
        Some(d) => {
            let (replicas, pod) = deployment_facts(&d);
            if pod.image != Some(&g.envoy_image) {
                drift.push("Envoy image differs".into());
            }
            if replicas != Some(g.replicas) {
                drift.push("replica count differs".into());
            }
            if pod.secret != Some(&g.certificate_secret) {
                drift.push("the certificate Secret is not mounted".into());
            }
        }
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = namespaces.get_opt(&g.namespace).await.map_err(|e| kerr("reading namespace", e))?;
    let labelled = ns.as_ref().is_some_and(|n| {
        namespace_label(n, owner) == NamespaceLabel::Ours
            && n.metadata.labels.as_ref().and_then(|l| l.get(NAMESPACE_LABEL)) == Some(&g.name)
    });
    if !labelled {
        drift.push(format!("namespace {} lacks the label {NAMESPACE_LABEL}={}", g.namespace, g.name));
    }
    Ok(drift)
}

/// Reads a gateway back from the cluster (for import): `None` when its VirtualGateway does not
/// exist. Routes are those labelled as this gateway's.
pub async fn read_cluster(client: &kube::Client, namespace: &str, name: &str) -> Result<Option<GatewaySpec>, GatewayError> {
    let gateway = crd_api::<VirtualGatewaySpec>(client, namespace, "VirtualGateway")
        .get_opt(name)
        .await
        .map_err(|e| kerr("reading VirtualGateway", e))?;
    let Some(gateway) = gateway else { return Ok(None) };
    let spec = gateway.spec;
    let listener = spec.listeners.first().and_then(|l| l.tls.as_ref()).and_then(crd::parse_listener_tls);
    let mount_path = match listener.as_ref().and_then(|l| l.certificate.clone()) {
        Some(CertificateSource::File { certificate_chain, .. }) => certificate_chain.rsplit_once('/').map(|(dir, _)| dir.to_string()),
        _ => None,
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let deployment = deployments.get_opt(name).await.map_err(|e| kerr("reading Deployment", e))?;
    let (replicas, pod) = deployment.as_ref().map(deployment_facts).unwrap_or_default();
    let list = crd_api::<GatewayRouteSpec>(client, namespace, "GatewayRoute")
        .list(&kube::api::ListParams::default().labels(&format!("{ROUTE_LABEL}={name}")))
        .await
        .map_err(|e| kerr("listing GatewayRoutes", e))?;
    let mut routes: Vec<GatewayRoute> = list
        .items
        .into_iter()
        .map(|r| GatewayRoute {
            name: r.metadata.name.clone().unwrap_or_default(),
            prefix: r.spec.http_route.as_ref().map(|h| h.route_match.prefix.clone()).unwrap_or_default(),
            virtual_service: r.spec.http_route.as_ref().map(|h| h.virtual_service().to_string()).unwrap_or_default(),
        })
        .collect();
    routes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(GatewaySpec {
        namespace: namespace.to_string(),
        name: name.to_string(),
        aws_name: spec.aws_name.clone().unwrap_or_else(|| format!("{name}_{namespace}")),
        port: spec.listeners.first().map_or(8443, |l| l.port_mapping.port),
        listener: listener.unwrap_or(ListenerTls {
            mode: TlsMode::Off,
            certificate: None,
            trust: None,
            subject_alternative_names: Vec::new(),
        }),
        client_policy: spec.backend_defaults.as_ref().and_then(|b| b.client_policy.tls.as_ref()).and_then(crd::parse_client_policy_tls),
        routes,
        envoy_image: pod.image.cloned().unwrap_or_default(),
        replicas: replicas.unwrap_or(1),
        certificate_secret: pod.secret.cloned().unwrap_or_default(),
        mount_path: mount_path.unwrap_or_else(|| format!("/etc/keys/{name}")),
    }))
}

/// What a gateway's Envoy pods run and mount.
#[derive(Default)]
struct PodFacts<'a> {
    image: Option<&'a String>,
    secret: Option<&'a String>,
}

/// The replica count and the first container's image and first volume's Secret.
fn deployment_facts(d: &Deployment) -> (Option<i64>, PodFacts<'_>) {
    let spec = d.spec.as_ref();
    let pod = spec.and_then(|s| s.template.spec.as_ref());
    let facts = PodFacts {
        image: pod.and_then(|p| p.containers.first()).and_then(|c| c.image.as_ref()),
        secret: pod
            .and_then(|p| p.volumes.as_ref())
            .and_then(|v| v.first())
            .and_then(|v| v.secret.as_ref())
            .and_then(|s| s.secret_name.as_ref()),
    };
    (spec.and_then(|s| s.replicas).map(i64::from), facts)
}

/// Import: marks every cluster object of the gateway as `owner`'s, the namespace label too.
async fn adopt_cluster(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<(), GatewayError> {
    let o = Objects { client, owner, namespace: &g.namespace };
    o.gateway(&g.name).adopt().await?;
    for r in &g.routes {
        o.route(&r.name).adopt().await?;
    }
    o.deployment(&g.name).adopt().await?;
    label_namespace(client, owner, g, Some(&g.name), true).await
}

/// Deletes the gateway's own objects; returns warnings for those left in place because they
/// are someone else's.
async fn delete_cluster(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<Vec<tfplugin::Diagnostic>, GatewayError> {
    let o = Objects { client, owner, namespace: &g.namespace };
    let mut names: Vec<String> = g.routes.iter().map(|r| r.name.clone()).collect();
    names.extend(owned_routes(client, g).await?);
    names.sort();
    names.dedup();
    let mut left = Vec::new();
    for name in names {
        left.extend(o.route(&name).delete().await?.warning());
    }
    left.extend(o.gateway(&g.name).delete().await?.warning());
    left.extend(o.deployment(&g.name).delete().await?.warning());
    label_namespace(client, owner, g, None, false).await?;
    Ok(left)
}

/// Every gateway on the cluster, in `namespace` or in all namespaces, read back as import
/// reads one (for `terraform query`), each with whether meshtls manages it.
pub async fn list_cluster(client: &kube::Client, namespace: Option<&str>) -> Result<Vec<(GatewaySpec, bool)>, GatewayError> {
    let resource = crd_kinds::api_resource("VirtualGateway");
    let api: Api<kube::api::DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let mut found = Vec::new();
    let mut params = kube::api::ListParams::default().limit(100);
    loop {
        let page = api.list_metadata(&params).await.map_err(|e| kerr("listing VirtualGateways", e))?;
        for meta in &page.items {
            let (Some(ns), Some(name)) = (meta.metadata.namespace.as_deref(), meta.metadata.name.as_deref()) else { continue };
            let labels = meta.metadata.labels.as_ref();
            let managed =
                labels.and_then(|l| l.get(crate::ownership::MANAGED_BY_LABEL)).map(String::as_str) == Some(crate::ownership::MANAGED_BY);
            if let Some(spec) = read_cluster(client, ns, name).await? {
                found.push((spec, managed));
            }
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GatewaySpec {
        GatewaySpec {
            namespace: "yelb".into(),
            name: "yelb-gw".into(),
            aws_name: "yelb-gw_yelb".into(),
            port: 8443,
            listener: ListenerTls { mode: TlsMode::Strict, certificate: None, trust: None, subject_alternative_names: Vec::new() },
            client_policy: None,
            routes: vec![GatewayRoute { name: "ui".into(), prefix: "/".into(), virtual_service: "yelb-ui".into() }],
            envoy_image: "envoy:1".into(),
            replicas: 1,
            certificate_secret: "yelb-gw-tls".into(),
            mount_path: "/etc/keys/yelb-gw".into(),
        }
    }

    #[test]
    fn an_update_keeps_spec_keys_meshtls_does_not_write() {
        let g = spec();
        let mut existing = gateway_object(&g);
        existing.spec.other.insert("meshRef".into(), json!({ "name": "yelb" }));
        existing.spec.backend_defaults = Some(BackendDefaults::default());
        existing.spec.listeners[0].port_mapping.port = 9999;
        merge_gateway(&mut existing, &gateway_object(&g));
        assert_eq!(existing.spec.other.get("meshRef"), Some(&json!({ "name": "yelb" })), "the controller's meshRef stays");
        assert!(existing.spec.backend_defaults.is_none(), "a client policy meshtls no longer writes is removed");
        assert_eq!(existing.spec.listeners[0].port_mapping.port, 8443);
        let route = route_object(&g, &g.routes[0]);
        assert_eq!(route.metadata.labels.as_ref().and_then(|l| l.get(ROUTE_LABEL)).map(String::as_str), Some("yelb-gw"));
        assert_eq!(route.spec.http_route.as_ref().map(HttpRoute::virtual_service), Some("yelb-ui"));
        let written = serde_json::to_value(&route).expect("serializes");
        assert_eq!(written["spec"]["httpRoute"]["action"]["target"]["virtualService"]["virtualServiceRef"]["name"], "yelb-ui");
        assert_eq!(written["apiVersion"], "appmesh.k8s.aws/v1beta2");
    }

    #[test]
    fn the_namespace_label_is_ours_only_when_we_recorded_setting_it() {
        let owner = Owner::new("meshtls_gateway", "yelb/yelb-gw");
        let ns = |label: Option<&str>, by: Option<&str>| Namespace {
            metadata: ObjectMeta {
                labels: label.map(|l| BTreeMap::from([(NAMESPACE_LABEL.to_string(), l.to_string())])),
                annotations: by.map(|b| BTreeMap::from([(NAMESPACE_LABEL_OWNER.to_string(), b.to_string())])),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(namespace_label(&ns(None, None), &owner), NamespaceLabel::Absent);
        assert_eq!(namespace_label(&ns(Some("yelb-gw"), Some("meshtls_gateway:yelb/yelb-gw")), &owner), NamespaceLabel::Ours);
        assert_eq!(namespace_label(&ns(Some("yelb-gw"), None), &owner), NamespaceLabel::Foreign("yelb-gw".into()), "set by hand");
        assert_eq!(
            namespace_label(&ns(Some("other"), Some("meshtls_gateway:yelb/other")), &owner),
            NamespaceLabel::Foreign("other".into())
        );
    }

    #[test]
    fn the_deployment_mounts_the_certificate() {
        let d = deployment_object(&spec()).expect("deployment");
        let pod = d.spec.and_then(|s| s.template.spec).expect("pod spec");
        assert_eq!(pod.containers[0].image.as_deref(), Some("envoy:1"));
        assert_eq!(pod.volumes.as_ref().and_then(|v| v[0].secret.as_ref()).and_then(|s| s.secret_name.as_deref()), Some("yelb-gw-tls"));
    }
}
