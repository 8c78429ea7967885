//! An App Mesh virtual gateway, owned whole by meshtls: on the cluster, the VirtualGateway and
//! GatewayRoute objects, the Envoy Deployment and the namespace label that selects the routes;
//! in the App Mesh API, the virtual gateway and its gateway routes.

use std::collections::BTreeMap;

use aws_sdk_appmesh::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_appmesh::types as am;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ObjectMeta, Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value as Json};

use super::model::{crd, CertificateSource, ClientPolicyTls, ListenerTls, TrustSource};
use crate::ownership::{Claim, Deleted, ObjectRef, OwnError, Owned, Owner, OWNER_TAG};

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRoute {
    pub name: String,
    pub prefix: String,
    /// The VirtualService object's name, in the gateway's namespace.
    pub virtual_service: String,
}

/// Everything a gateway is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySpec {
    pub namespace: String,
    pub name: String,
    pub aws_name: String,
    pub port: i64,
    pub listener: ListenerTls,
    pub client_policy: Option<ClientPolicyTls>,
    pub routes: Vec<GatewayRoute>,
    pub envoy_image: String,
    pub replicas: i64,
    pub certificate_secret: String,
    pub mount_path: String,
}

impl GatewaySpec {
    /// App Mesh's name for a virtual service: its DNS name in the cluster.
    fn virtual_service_dns(&self, vs: &str) -> String {
        format!("{vs}.{}.svc.cluster.local", self.namespace)
    }
}

/// Why a gateway could not be applied, read or deleted.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// An object of a name the gateway uses is someone else's (boxed: it is the rare, large
    /// case).
    #[error(transparent)]
    Ownership(Box<OwnError>),
    /// The App Mesh API answered ConflictException: another writer changed the object
    /// meanwhile; the whole apply is worth another try.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Other(String),
}

impl From<OwnError> for GatewayError {
    fn from(e: OwnError) -> Self {
        match e {
            e @ OwnError::NotOurs { .. } => GatewayError::Ownership(Box::new(e)),
            other => GatewayError::Other(format!("cluster: {other}")),
        }
    }
}

fn kerr(what: &str, e: kube::Error) -> GatewayError {
    GatewayError::Other(format!("cluster: {what}: {e}"))
}

/// Classified by the error code AWS sends, never by its message.
fn aerr<E: ProvideErrorMetadata + std::fmt::Debug>(what: &str, e: SdkError<E>) -> GatewayError {
    match &e {
        SdkError::ServiceError(s) => {
            let message = format!("App Mesh API: {what}: {} {}", s.err().code().unwrap_or("error"), s.err().message().unwrap_or(""));
            if s.err().code() == Some("ConflictException") {
                GatewayError::Conflict(message)
            } else {
                GatewayError::Other(message)
            }
        }
        other => GatewayError::Other(format!("App Mesh API: {what}: {other}")),
    }
}

fn not_found<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some("NotFoundException"))
}

fn appmesh_resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("appmesh.k8s.aws", "v1beta2", kind))
}

fn dynamic(client: &kube::Client, namespace: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &appmesh_resource(kind))
}

// ---- cluster side ----

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
    fn crd(&self, kind: &str, name: &str) -> Owned<'a, DynamicObject> {
        Owned::with_kind(dynamic(self.client, self.namespace, kind), ObjectRef::new(kind, Some(self.namespace), name), self.owner)
    }

    fn gateway(&self, name: &str) -> Owned<'a, DynamicObject> {
        self.crd("VirtualGateway", name)
    }

    fn route(&self, name: &str) -> Owned<'a, DynamicObject> {
        self.crd("GatewayRoute", name)
    }

    fn deployment(&self, name: &str) -> Owned<'a, Deployment> {
        Owned::new(Api::namespaced(self.client.clone(), self.namespace), Some(self.namespace), name, self.owner)
    }
}

fn typed(kind: &str) -> Option<kube::api::TypeMeta> {
    Some(kube::api::TypeMeta { api_version: "appmesh.k8s.aws/v1beta2".into(), kind: kind.into() })
}

fn gateway_object(g: &GatewaySpec) -> DynamicObject {
    let mut spec = json!({
        "awsName": g.aws_name,
        "namespaceSelector": { "matchLabels": { NAMESPACE_LABEL: g.name } },
        "podSelector": { "matchLabels": { "app": g.name } },
        "listeners": [{ "portMapping": { "port": g.port, "protocol": "http" }, "tls": crd::listener_tls(&g.listener) }],
    });
    if let Some(cp) = &g.client_policy {
        spec["backendDefaults"] = json!({ "clientPolicy": { "tls": crd::client_policy_tls(cp) } });
    }
    DynamicObject {
        types: typed("VirtualGateway"),
        metadata: ObjectMeta { name: Some(g.name.clone()), namespace: Some(g.namespace.clone()), ..Default::default() },
        data: json!({ "spec": spec }),
    }
}

fn route_object(g: &GatewaySpec, r: &GatewayRoute) -> DynamicObject {
    DynamicObject {
        types: typed("GatewayRoute"),
        metadata: ObjectMeta {
            name: Some(r.name.clone()),
            namespace: Some(g.namespace.clone()),
            labels: Some(BTreeMap::from([(ROUTE_LABEL.to_string(), g.name.clone())])),
            ..Default::default()
        },
        data: json!({ "spec": {
            "awsName": format!("{}_{}", r.name, g.namespace),
            "httpRoute": {
                "match": { "prefix": r.prefix },
                "action": { "target": { "virtualService": { "virtualServiceRef": { "name": r.virtual_service } } } }
            }
        }}),
    }
}

/// Labels a GatewayRoute with its gateway's name.
const ROUTE_LABEL: &str = "meshtls.dev/gateway";

fn deployment_object(g: &GatewaySpec) -> Result<Deployment, GatewayError> {
    let body = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": g.name, "namespace": g.namespace, "labels": { "app": g.name } },
        "spec": {
            "replicas": g.replicas,
            "selector": { "matchLabels": { "app": g.name } },
            "template": {
                "metadata": { "labels": { "app": g.name } },
                "spec": {
                    "containers": [{
                        "name": "envoy",
                        "image": g.envoy_image,
                        "ports": [{ "containerPort": g.port }],
                        "volumeMounts": [{ "name": "tls", "mountPath": g.mount_path, "readOnly": true }]
                    }],
                    "volumes": [{ "name": "tls", "secret": { "secretName": g.certificate_secret } }]
                }
            }
        }
    });
    serde_json::from_value(body).map_err(|e| GatewayError::Other(format!("building the gateway Deployment: {e}")))
}

/// Sets the keys of `desired`'s spec in `existing`'s, keeping keys meshtls does not write
/// (the App Mesh controller's `meshRef`, say); `drop` lists keys meshtls owns that `desired`
/// may leave out.
fn merge_spec(existing: &mut DynamicObject, desired: &DynamicObject, drop: &[&str]) {
    let Some(wanted) = desired.data.get("spec").and_then(Json::as_object) else { return };
    if !existing.data.get("spec").is_some_and(Json::is_object) {
        existing.data["spec"] = json!({});
    }
    if let Some(spec) = existing.data["spec"].as_object_mut() {
        for key in drop {
            spec.remove(*key);
        }
        for (k, v) in wanted {
            spec.insert(k.clone(), v.clone());
        }
    }
    let labels = desired.metadata.labels.clone().unwrap_or_default();
    existing.metadata.labels.get_or_insert_with(Default::default).extend(labels);
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
    for _ in 0..5 {
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
        match api.patch(&g.namespace, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(()),
            Err(e) if crate::clients::kubernetes::is_conflict(&e) => continue,
            Err(e) => return Err(kerr(&what, e)),
        }
    }
    Err(GatewayError::Other(format!("cluster: namespace {} kept changing while meshtls labelled it; try again", g.namespace)))
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
pub async fn apply_cluster(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<(), GatewayError> {
    check_free(client, owner, g).await?;
    let o = Objects { client, owner, namespace: &g.namespace };
    label_namespace(client, owner, g, Some(&g.name), false).await?;
    o.gateway(&g.name).ensure(gateway_object(g), |existing, desired| merge_spec(existing, desired, &["backendDefaults"])).await?;
    for r in &g.routes {
        o.route(&r.name).ensure(route_object(g, r), |existing, desired| merge_spec(existing, desired, &[])).await?;
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
            let labels = desired.metadata.labels.clone().unwrap_or_default();
            existing.metadata.labels.get_or_insert_with(Default::default).extend(labels);
        })
        .await?;
    Ok(())
}

async fn owned_routes(client: &kube::Client, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let list = dynamic(client, &g.namespace, "GatewayRoute")
        .list(&kube::api::ListParams::default().labels(&format!("{ROUTE_LABEL}={}", g.name)))
        .await
        .map_err(|e| kerr("listing GatewayRoutes", e))?;
    Ok(list.items.into_iter().filter_map(|o| o.metadata.name).collect())
}

/// What differs on the cluster from `g`; empty when in sync. An object that is not the
/// gateway's counts as missing.
pub async fn drift_cluster(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let o = Objects { client, owner, namespace: &g.namespace };
    let mut drift = Vec::new();
    match o.gateway(&g.name).get_ours().await? {
        None => drift.push(format!("VirtualGateway {}/{} is missing", g.namespace, g.name)),
        Some(o) => {
            let spec = o.data.get("spec").cloned().unwrap_or(Json::Null);
            if spec.pointer("/listeners/0/portMapping/port").and_then(Json::as_i64) != Some(g.port) {
                drift.push("VirtualGateway listener port differs".into());
            }
            if spec.pointer("/listeners/0/tls").and_then(crd::parse_listener_tls).as_ref() != Some(&g.listener) {
                drift.push("VirtualGateway listener TLS differs".into());
            }
            if spec.pointer("/backendDefaults/clientPolicy/tls").and_then(crd::parse_client_policy_tls) != g.client_policy {
                drift.push("VirtualGateway client policy TLS differs".into());
            }
        }
    }
    for r in &g.routes {
        match o.route(&r.name).get_ours().await? {
            None => drift.push(format!("GatewayRoute {} is missing", r.name)),
            Some(o) => {
                let prefix = o.data.pointer("/spec/httpRoute/match/prefix").and_then(Json::as_str);
                let target = o.data.pointer("/spec/httpRoute/action/target/virtualService/virtualServiceRef/name").and_then(Json::as_str);
                if prefix != Some(&r.prefix) || target != Some(&r.virtual_service) {
                    drift.push(format!("GatewayRoute {} differs", r.name));
                }
            }
        }
    }
    match o.deployment(&g.name).get_ours().await? {
        None => drift.push(format!("Deployment {}/{} is missing", g.namespace, g.name)),
        Some(d) => {
            let spec = serde_json::to_value(&d.spec).unwrap_or(Json::Null);
            if spec.pointer("/template/spec/containers/0/image").and_then(Json::as_str) != Some(&g.envoy_image) {
                drift.push("Envoy image differs".into());
            }
            if spec.pointer("/replicas").and_then(Json::as_i64) != Some(g.replicas) {
                drift.push("replica count differs".into());
            }
            if spec.pointer("/template/spec/volumes/0/secret/secretName").and_then(Json::as_str) != Some(&g.certificate_secret) {
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
    let Some(gw) = dynamic(client, namespace, "VirtualGateway").get_opt(name).await.map_err(|e| kerr("reading VirtualGateway", e))? else {
        return Ok(None);
    };
    let spec = gw.data.get("spec").cloned().unwrap_or(Json::Null);
    let listener = spec.pointer("/listeners/0/tls").and_then(crd::parse_listener_tls);
    let mount_path = match listener.as_ref().and_then(|l| l.certificate.clone()) {
        Some(CertificateSource::File { certificate_chain, .. }) => certificate_chain.rsplit_once('/').map(|(dir, _)| dir.to_string()),
        _ => None,
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let deployment = deployments.get_opt(name).await.map_err(|e| kerr("reading Deployment", e))?;
    let d = deployment.map(|d| serde_json::to_value(&d.spec).unwrap_or(Json::Null)).unwrap_or(Json::Null);
    let text = |v: &Json, p: &str| v.pointer(p).and_then(Json::as_str).map(str::to_string);
    let mut routes = Vec::new();
    let list = dynamic(client, namespace, "GatewayRoute")
        .list(&kube::api::ListParams::default().labels(&format!("{ROUTE_LABEL}={name}")))
        .await
        .map_err(|e| kerr("listing GatewayRoutes", e))?;
    for r in list.items {
        routes.push(GatewayRoute {
            name: r.metadata.name.clone().unwrap_or_default(),
            prefix: text(&r.data, "/spec/httpRoute/match/prefix").unwrap_or_default(),
            virtual_service: text(&r.data, "/spec/httpRoute/action/target/virtualService/virtualServiceRef/name").unwrap_or_default(),
        });
    }
    routes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(GatewaySpec {
        namespace: namespace.to_string(),
        name: name.to_string(),
        aws_name: text(&spec, "/awsName").unwrap_or_else(|| format!("{name}_{namespace}")),
        port: spec.pointer("/listeners/0/portMapping/port").and_then(Json::as_i64).unwrap_or(8443),
        listener: listener.unwrap_or(ListenerTls {
            mode: "DISABLED".into(),
            certificate: None,
            trust: None,
            subject_alternative_names: Vec::new(),
        }),
        client_policy: spec.pointer("/backendDefaults/clientPolicy/tls").and_then(crd::parse_client_policy_tls),
        routes,
        envoy_image: text(&d, "/template/spec/containers/0/image").unwrap_or_default(),
        replicas: d.pointer("/replicas").and_then(Json::as_i64).unwrap_or(1),
        certificate_secret: text(&d, "/template/spec/volumes/0/secret/secretName").unwrap_or_default(),
        mount_path: mount_path.unwrap_or_else(|| format!("/etc/keys/{name}")),
    }))
}

/// Import: marks every cluster object of the gateway as `owner`'s, the namespace label too.
pub async fn adopt_cluster(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<(), GatewayError> {
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
pub async fn delete_cluster(client: &kube::Client, owner: &Owner, g: &GatewaySpec) -> Result<Vec<tfplugin::Diagnostic>, GatewayError> {
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

// ---- App Mesh API side ----

fn build_error(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Other(format!("App Mesh API: invalid gateway settings: {e}"))
}

fn listener_to(l: &ListenerTls) -> Result<am::VirtualGatewayListenerTls, GatewayError> {
    let certificate = match &l.certificate {
        Some(CertificateSource::File { certificate_chain, private_key }) => Some(am::VirtualGatewayListenerTlsCertificate::File(
            am::VirtualGatewayListenerTlsFileCertificate::builder()
                .certificate_chain(certificate_chain)
                .private_key(private_key)
                .build()
                .map_err(build_error)?,
        )),
        Some(CertificateSource::Sds { secret_name }) => Some(am::VirtualGatewayListenerTlsCertificate::Sds(
            am::VirtualGatewayListenerTlsSdsCertificate::builder().secret_name(secret_name).build().map_err(build_error)?,
        )),
        Some(CertificateSource::Acm { certificate_arn }) => Some(am::VirtualGatewayListenerTlsCertificate::Acm(
            am::VirtualGatewayListenerTlsAcmCertificate::builder().certificate_arn(certificate_arn).build().map_err(build_error)?,
        )),
        None => None,
    };
    am::VirtualGatewayListenerTls::builder()
        .mode(am::VirtualGatewayListenerTlsMode::from(l.mode.as_str()))
        .set_certificate(certificate)
        .build()
        .map_err(build_error)
}

fn listener_from(t: &am::VirtualGatewayListenerTls) -> ListenerTls {
    let certificate = match t.certificate() {
        Some(am::VirtualGatewayListenerTlsCertificate::File(f)) => {
            Some(CertificateSource::File { certificate_chain: f.certificate_chain.clone(), private_key: f.private_key.clone() })
        }
        Some(am::VirtualGatewayListenerTlsCertificate::Sds(s)) => Some(CertificateSource::Sds { secret_name: s.secret_name.clone() }),
        Some(am::VirtualGatewayListenerTlsCertificate::Acm(a)) => {
            Some(CertificateSource::Acm { certificate_arn: a.certificate_arn.clone() })
        }
        _ => None,
    };
    ListenerTls { mode: t.mode().as_str().to_string(), certificate, trust: None, subject_alternative_names: Vec::new() }
}

fn client_policy_to(c: &ClientPolicyTls) -> Result<am::VirtualGatewayClientPolicyTls, GatewayError> {
    let trust = match &c.trust {
        Some(TrustSource::File { certificate_chain }) => Some(am::VirtualGatewayTlsValidationContextTrust::File(
            am::VirtualGatewayTlsValidationContextFileTrust::builder().certificate_chain(certificate_chain).build().map_err(build_error)?,
        )),
        Some(TrustSource::Sds { secret_name }) => Some(am::VirtualGatewayTlsValidationContextTrust::Sds(
            am::VirtualGatewayTlsValidationContextSdsTrust::builder().secret_name(secret_name).build().map_err(build_error)?,
        )),
        Some(TrustSource::Acm { certificate_authority_arns }) => Some(am::VirtualGatewayTlsValidationContextTrust::Acm(
            am::VirtualGatewayTlsValidationContextAcmTrust::builder()
                .set_certificate_authority_arns(Some(certificate_authority_arns.clone()))
                .build()
                .map_err(build_error)?,
        )),
        None => None,
    };
    Ok(am::VirtualGatewayClientPolicyTls::builder()
        .enforce(c.enforce)
        .set_ports((!c.ports.is_empty()).then(|| c.ports.iter().map(|p| *p as i32).collect()))
        .validation(am::VirtualGatewayTlsValidationContext::builder().set_trust(trust).build())
        .build())
}

fn client_policy_from(t: &am::VirtualGatewayClientPolicyTls) -> ClientPolicyTls {
    let trust = t.validation().and_then(|v| v.trust()).and_then(|tr| match tr {
        am::VirtualGatewayTlsValidationContextTrust::File(f) => Some(TrustSource::File { certificate_chain: f.certificate_chain.clone() }),
        am::VirtualGatewayTlsValidationContextTrust::Sds(s) => Some(TrustSource::Sds { secret_name: s.secret_name.clone() }),
        am::VirtualGatewayTlsValidationContextTrust::Acm(a) => {
            Some(TrustSource::Acm { certificate_authority_arns: a.certificate_authority_arns.clone() })
        }
        _ => None,
    });
    ClientPolicyTls {
        enforce: t.enforce().unwrap_or(true),
        ports: t.ports().iter().map(|p| i64::from(*p)).collect(),
        certificate: None,
        trust,
        subject_alternative_names: Vec::new(),
    }
}

fn gateway_spec(g: &GatewaySpec) -> Result<am::VirtualGatewaySpec, GatewayError> {
    let listener = am::VirtualGatewayListener::builder()
        .port_mapping(
            am::VirtualGatewayPortMapping::builder()
                .port(g.port as i32)
                .protocol(am::VirtualGatewayPortProtocol::Http)
                .build()
                .map_err(build_error)?,
        )
        .tls(listener_to(&g.listener)?)
        .build();
    let defaults = match &g.client_policy {
        Some(cp) => Some(
            am::VirtualGatewayBackendDefaults::builder()
                .client_policy(am::VirtualGatewayClientPolicy::builder().tls(client_policy_to(cp)?).build())
                .build(),
        ),
        None => None,
    };
    am::VirtualGatewaySpec::builder().listeners(listener).set_backend_defaults(defaults).build().map_err(build_error)
}

fn route_spec(g: &GatewaySpec, r: &GatewayRoute) -> Result<am::GatewayRouteSpec, GatewayError> {
    let target = am::GatewayRouteTarget::builder()
        .virtual_service(
            am::GatewayRouteVirtualService::builder()
                .virtual_service_name(g.virtual_service_dns(&r.virtual_service))
                .build()
                .map_err(build_error)?,
        )
        .build();
    let route = am::HttpGatewayRoute::builder()
        .r#match(am::HttpGatewayRouteMatch::builder().prefix(&r.prefix).build())
        .action(am::HttpGatewayRouteAction::builder().target(target).build())
        .build();
    Ok(am::GatewayRouteSpec::builder().http_route(route).build())
}

fn route_aws_name(g: &GatewaySpec, r: &GatewayRoute) -> String {
    format!("{}_{}", r.name, g.namespace)
}

/// Creates or updates the gateway and its routes in the App Mesh API.
fn owner_tag(owner: &Owner) -> Result<am::TagRef, GatewayError> {
    am::TagRef::builder().key(OWNER_TAG).value(owner.to_string()).build().map_err(build_error)
}

/// Whose an App Mesh API object is, from its tags. `untagged_is_ours` covers objects meshtls
/// created before it tagged them: the gateway is in state, so they are its own.
async fn api_claim(client: &aws_sdk_appmesh::Client, arn: &str, owner: &Owner, untagged_is_ours: bool) -> Result<Claim, GatewayError> {
    let tags = client.list_tags_for_resource().resource_arn(arn).send().await.map_err(|e| aerr("ListTagsForResource", e))?;
    let tag = tags.tags.iter().find(|t| t.key == OWNER_TAG).map(|t| t.value.as_str());
    Ok(owner.claim_recorded(tag, if untagged_is_ours { Claim::Ours } else { Claim::Foreign }))
}

fn api_refused(kind: &str, mesh: &str, name: &str, claim: Claim) -> GatewayError {
    GatewayError::Ownership(Box::new(OwnError::NotOurs { object: ObjectRef::new(kind, Some(mesh), name), claim }))
}

/// The gateway's virtual gateway in the App Mesh API: its ARN, `None` when it does not exist.
async fn api_gateway_arn(client: &aws_sdk_appmesh::Client, mesh: &str, g: &GatewaySpec) -> Result<Option<String>, GatewayError> {
    match client.describe_virtual_gateway().mesh_name(mesh).virtual_gateway_name(&g.aws_name).send().await {
        Ok(o) => Ok(o.virtual_gateway.and_then(|v| v.metadata).map(|m| m.arn)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(aerr(&format!("DescribeVirtualGateway {} in mesh {mesh}", g.aws_name), e)),
    }
}

/// Creates or updates the virtual gateway and its routes in the App Mesh API, and deletes
/// routes the gateway no longer has. Objects of those names that are not the gateway's are
/// refused (a gateway already in state, `in_state`, owns the untagged ones it made earlier).
pub async fn apply_api(
    client: &aws_sdk_appmesh::Client,
    owner: &Owner,
    mesh: &str,
    g: &GatewaySpec,
    in_state: bool,
) -> Result<(), GatewayError> {
    let spec = gateway_spec(g)?;
    let tag = owner_tag(owner)?;
    let existing = api_routes(client, mesh, g).await?;
    // Every refusal before anything is written.
    let gateway_arn = api_gateway_arn(client, mesh, g).await?;
    if let Some(arn) = &gateway_arn {
        let claim = api_claim(client, arn, owner, in_state).await?;
        if claim != Claim::Ours {
            return Err(api_refused("App Mesh virtual gateway", mesh, &g.aws_name, claim));
        }
    }
    for r in &g.routes {
        let name = route_aws_name(g, r);
        if let Some(route) = existing.get(&name) {
            let claim = api_claim(client, &route.arn, owner, in_state).await?;
            if claim != Claim::Ours {
                return Err(api_refused("App Mesh gateway route", mesh, &name, claim));
            }
        }
    }
    if let Some(arn) = gateway_arn {
        client
            .update_virtual_gateway()
            .mesh_name(mesh)
            .virtual_gateway_name(&g.aws_name)
            .spec(spec)
            .send()
            .await
            .map_err(|e| aerr("UpdateVirtualGateway", e))?;
        // Tags an untagged gateway meshtls made before it tagged them.
        client.tag_resource().resource_arn(arn).tags(tag.clone()).send().await.map_err(|e| aerr("TagResource", e))?;
    } else {
        client
            .create_virtual_gateway()
            .mesh_name(mesh)
            .virtual_gateway_name(&g.aws_name)
            .spec(spec)
            .tags(tag.clone())
            .send()
            .await
            .map_err(|e| aerr(&format!("CreateVirtualGateway {} in mesh {mesh}", g.aws_name), e))?;
    }
    for r in &g.routes {
        let name = route_aws_name(g, r);
        let spec = route_spec(g, r)?;
        if existing.contains_key(&name) {
            client
                .update_gateway_route()
                .mesh_name(mesh)
                .virtual_gateway_name(&g.aws_name)
                .gateway_route_name(&name)
                .spec(spec)
                .send()
                .await
                .map_err(|e| aerr("UpdateGatewayRoute", e))?;
        } else {
            client
                .create_gateway_route()
                .mesh_name(mesh)
                .virtual_gateway_name(&g.aws_name)
                .gateway_route_name(&name)
                .spec(spec)
                .tags(tag.clone())
                .send()
                .await
                .map_err(|e| aerr("CreateGatewayRoute", e))?;
        }
    }
    for (stale, route) in existing.iter().filter(|(n, _)| !g.routes.iter().any(|r| &route_aws_name(g, r) == *n)) {
        // A route someone else added to the gateway stays.
        if api_claim(client, &route.arn, owner, false).await? != Claim::Ours {
            continue;
        }
        client
            .delete_gateway_route()
            .mesh_name(mesh)
            .virtual_gateway_name(&g.aws_name)
            .gateway_route_name(stale)
            .send()
            .await
            .map_err(|e| aerr("DeleteGatewayRoute", e))?;
    }
    Ok(())
}

/// A gateway route as the App Mesh API holds it.
struct ApiRoute {
    arn: String,
    prefix: Option<String>,
    target: Option<String>,
}

/// Gateway routes of the gateway, by name.
async fn api_routes(client: &aws_sdk_appmesh::Client, mesh: &str, g: &GatewaySpec) -> Result<BTreeMap<String, ApiRoute>, GatewayError> {
    let list = match client.list_gateway_routes().mesh_name(mesh).virtual_gateway_name(&g.aws_name).send().await {
        Ok(l) => l,
        Err(e) if not_found(&e) => return Ok(BTreeMap::new()),
        Err(e) => return Err(aerr("ListGatewayRoutes", e)),
    };
    let mut out = BTreeMap::new();
    for r in list.gateway_routes {
        let d = client
            .describe_gateway_route()
            .mesh_name(mesh)
            .virtual_gateway_name(&g.aws_name)
            .gateway_route_name(&r.gateway_route_name)
            .send()
            .await
            .map_err(|e| aerr("DescribeGatewayRoute", e))?;
        let http = d.gateway_route.and_then(|gr| gr.spec).and_then(|s| s.http_route);
        let prefix = http.as_ref().and_then(|h| h.r#match.as_ref()).and_then(|m| m.prefix.clone());
        let target = http.and_then(|h| h.action).and_then(|a| a.target).and_then(|t| t.virtual_service).map(|v| v.virtual_service_name);
        out.insert(r.gateway_route_name, ApiRoute { arn: r.arn, prefix, target });
    }
    Ok(out)
}

/// Import: tags the virtual gateway and its routes in the App Mesh API as the gateway's.
pub async fn adopt_api(client: &aws_sdk_appmesh::Client, owner: &Owner, mesh: &str, g: &GatewaySpec) -> Result<(), GatewayError> {
    let tag = owner_tag(owner)?;
    let arns = api_gateway_arn(client, mesh, g).await?.into_iter().chain(api_routes(client, mesh, g).await?.into_values().map(|r| r.arn));
    for arn in arns {
        client.tag_resource().resource_arn(arn).tags(tag.clone()).send().await.map_err(|e| aerr("TagResource", e))?;
    }
    Ok(())
}

/// What differs in the App Mesh API from `g`; empty when in sync.
pub async fn drift_api(client: &aws_sdk_appmesh::Client, owner: &Owner, mesh: &str, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let mut drift = Vec::new();
    if let Some(arn) = api_gateway_arn(client, mesh, g).await? {
        if let c @ (Claim::Foreign | Claim::OtherResource(_)) = api_claim(client, &arn, owner, true).await? {
            return Ok(vec![format!("virtual gateway {} in mesh {mesh} exists and {}", g.aws_name, c.describe())]);
        }
    }
    let gw = match client.describe_virtual_gateway().mesh_name(mesh).virtual_gateway_name(&g.aws_name).send().await {
        Ok(o) => o.virtual_gateway,
        Err(e) if not_found(&e) => None,
        Err(e) => return Err(aerr("DescribeVirtualGateway", e)),
    };
    let Some(spec) = gw.and_then(|g| g.spec) else {
        return Ok(vec![format!("virtual gateway {} in mesh {mesh} is missing", g.aws_name)]);
    };
    let listener = spec.listeners.first();
    if listener.and_then(|l| l.port_mapping.as_ref()).map(|p| i64::from(p.port)) != Some(g.port) {
        drift.push("listener port differs".into());
    }
    let want_listener = ListenerTls { trust: None, subject_alternative_names: Vec::new(), ..g.listener.clone() };
    if listener.and_then(|l| l.tls.as_ref()).map(listener_from).as_ref() != Some(&want_listener) {
        drift.push("listener TLS differs".into());
    }
    let have_policy =
        spec.backend_defaults.as_ref().and_then(|b| b.client_policy.as_ref()).and_then(|c| c.tls.as_ref()).map(client_policy_from);
    let want_policy = g.client_policy.clone().map(|c| ClientPolicyTls { certificate: None, subject_alternative_names: Vec::new(), ..c });
    if have_policy != want_policy {
        drift.push("client policy TLS differs".into());
    }
    let routes = api_routes(client, mesh, g).await?;
    for r in &g.routes {
        match routes.get(&route_aws_name(g, r)) {
            None => drift.push(format!("gateway route {} is missing", route_aws_name(g, r))),
            Some(ApiRoute { prefix, target, .. })
                if prefix.as_deref() != Some(&r.prefix)
                    || target.as_deref() != Some(g.virtual_service_dns(&r.virtual_service).as_str()) =>
            {
                drift.push(format!("gateway route {} differs", route_aws_name(g, r)))
            }
            _ => {}
        }
    }
    Ok(drift)
}

/// Deletes the gateway's routes and virtual gateway from the App Mesh API; returns warnings
/// for those left in place because they are not tagged as the gateway's (one made before
/// meshtls tagged them is left too: the warning names it).
pub async fn delete_api(
    client: &aws_sdk_appmesh::Client,
    owner: &Owner,
    mesh: &str,
    g: &GatewaySpec,
) -> Result<Vec<tfplugin::Diagnostic>, GatewayError> {
    let mut left = Vec::new();
    let left_alone =
        |kind: &str, name: &str, claim: Claim| Deleted::LeftAlone { object: ObjectRef::new(kind, Some(mesh), name), claim }.warning();
    for (name, route) in api_routes(client, mesh, g).await? {
        match api_claim(client, &route.arn, owner, false).await? {
            Claim::Ours => {}
            other => {
                left.extend(left_alone("App Mesh gateway route", &name, other));
                continue;
            }
        }
        match client.delete_gateway_route().mesh_name(mesh).virtual_gateway_name(&g.aws_name).gateway_route_name(&name).send().await {
            Err(e) if !not_found(&e) => return Err(aerr("DeleteGatewayRoute", e)),
            _ => {}
        }
    }
    let Some(arn) = api_gateway_arn(client, mesh, g).await? else { return Ok(left) };
    match api_claim(client, &arn, owner, false).await? {
        Claim::Ours => {}
        other => {
            left.extend(left_alone("App Mesh virtual gateway", &g.aws_name, other));
            return Ok(left);
        }
    }
    match client.delete_virtual_gateway().mesh_name(mesh).virtual_gateway_name(&g.aws_name).send().await {
        Err(e) if !not_found(&e) => Err(aerr("DeleteVirtualGateway", e)),
        _ => Ok(left),
    }
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
            listener: ListenerTls { mode: "STRICT".into(), certificate: None, trust: None, subject_alternative_names: Vec::new() },
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
        existing.data["spec"]["meshRef"] = json!({ "name": "yelb" });
        existing.data["spec"]["backendDefaults"] = json!({ "clientPolicy": {} });
        existing.data["spec"]["listeners"][0]["portMapping"]["port"] = json!(9999);
        merge_spec(&mut existing, &gateway_object(&g), &["backendDefaults"]);
        assert_eq!(existing.data["spec"]["meshRef"], json!({ "name": "yelb" }), "the controller's meshRef stays");
        assert!(existing.data["spec"].get("backendDefaults").is_none(), "a client policy meshtls no longer writes is removed");
        assert_eq!(existing.data["spec"]["listeners"][0]["portMapping"]["port"], 8443);
        let route = route_object(&g, &g.routes[0]);
        assert_eq!(route.metadata.labels.as_ref().and_then(|l| l.get(ROUTE_LABEL)).map(String::as_str), Some("yelb-gw"));
        assert_eq!(route.data["spec"]["httpRoute"]["action"]["target"]["virtualService"]["virtualServiceRef"]["name"], "yelb-ui");
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
