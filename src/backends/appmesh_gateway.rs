//! An App Mesh virtual gateway, owned whole by meshtls: on the cluster, the VirtualGateway and
//! GatewayRoute objects, the Envoy Deployment and the namespace label that selects the routes;
//! in the App Mesh API, the virtual gateway and its gateway routes.

use std::collections::BTreeMap;

use aws_sdk_appmesh::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_appmesh::types as am;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value as Json};

use super::model::{crd, CertificateSource, ClientPolicyTls, ListenerTls, TrustSource};
use crate::clients::kubernetes::is_not_found;

pub const FIELD_MANAGER: &str = "meshtls";

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

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GatewayError(pub String);

fn kerr(what: &str, e: kube::Error) -> GatewayError {
    GatewayError(format!("cluster: {what}: {e}"))
}

fn aerr<E: ProvideErrorMetadata + std::fmt::Debug>(what: &str, e: SdkError<E>) -> GatewayError {
    match &e {
        SdkError::ServiceError(s) => {
            GatewayError(format!("App Mesh API: {what}: {} {}", s.err().code().unwrap_or("error"), s.err().message().unwrap_or("")))
        }
        other => GatewayError(format!("App Mesh API: {what}: {other}")),
    }
}

fn not_found<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some("NotFoundException"))
}

fn dynamic(client: &kube::Client, namespace: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &ApiResource::from_gvk(&GroupVersionKind::gvk("appmesh.k8s.aws", "v1beta2", kind)))
}

// ---- cluster side ----

fn gateway_object(g: &GatewaySpec) -> Json {
    let mut spec = json!({
        "awsName": g.aws_name,
        "namespaceSelector": { "matchLabels": { "gateway": g.name } },
        "podSelector": { "matchLabels": { "app": g.name } },
        "listeners": [{ "portMapping": { "port": g.port, "protocol": "http" }, "tls": crd::listener_tls(&g.listener) }],
    });
    if let Some(cp) = &g.client_policy {
        spec["backendDefaults"] = json!({ "clientPolicy": { "tls": crd::client_policy_tls(cp) } });
    }
    json!({ "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualGateway", "metadata": { "name": g.name, "namespace": g.namespace }, "spec": spec })
}

fn route_object(g: &GatewaySpec, r: &GatewayRoute) -> Json {
    json!({
        "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "GatewayRoute",
        "metadata": { "name": r.name, "namespace": g.namespace, "labels": { "meshtls.dev/gateway": g.name } },
        "spec": {
            "awsName": format!("{}_{}", r.name, g.namespace),
            "httpRoute": {
                "match": { "prefix": r.prefix },
                "action": { "target": { "virtualService": { "virtualServiceRef": { "name": r.virtual_service } } } }
            }
        }
    })
}

fn deployment_object(g: &GatewaySpec) -> Json {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": g.name, "namespace": g.namespace, "labels": { "app": g.name, "app.kubernetes.io/managed-by": "meshtls" } },
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
    })
}

async fn ssa<K>(api: &Api<K>, name: &str, body: &Json) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body)).await.map(|_| ())
}

async fn label_namespace(client: &kube::Client, namespace: &str, value: Option<&str>) -> Result<(), kube::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let patch = json!({ "metadata": { "labels": { "gateway": value } } });
    api.patch(namespace, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
}

/// Creates or updates every cluster object, and deletes routes that are no longer wanted.
pub async fn apply_cluster(client: &kube::Client, g: &GatewaySpec) -> Result<(), GatewayError> {
    label_namespace(client, &g.namespace, Some(&g.name)).await.map_err(|e| kerr(&format!("labelling namespace {}", g.namespace), e))?;
    ssa(&dynamic(client, &g.namespace, "VirtualGateway"), &g.name, &gateway_object(g))
        .await
        .map_err(|e| kerr(&format!("VirtualGateway {}/{}", g.namespace, g.name), e))?;
    let routes = dynamic(client, &g.namespace, "GatewayRoute");
    for r in &g.routes {
        ssa(&routes, &r.name, &route_object(g, r)).await.map_err(|e| kerr(&format!("GatewayRoute {}/{}", g.namespace, r.name), e))?;
    }
    for stale in owned_routes(client, g).await?.into_iter().filter(|n| !g.routes.iter().any(|r| &r.name == n)) {
        delete_ignoring_missing(&routes, &stale).await.map_err(|e| kerr(&format!("deleting GatewayRoute {stale}"), e))?;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &g.namespace);
    ssa(&deployments, &g.name, &deployment_object(g)).await.map_err(|e| kerr(&format!("Deployment {}/{}", g.namespace, g.name), e))?;
    Ok(())
}

async fn owned_routes(client: &kube::Client, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let list = dynamic(client, &g.namespace, "GatewayRoute")
        .list(&kube::api::ListParams::default().labels(&format!("meshtls.dev/gateway={}", g.name)))
        .await
        .map_err(|e| kerr("listing GatewayRoutes", e))?;
    Ok(list.items.into_iter().filter_map(|o| o.metadata.name).collect())
}

async fn delete_ignoring_missing<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Err(e) if !is_not_found(&e) => Err(e),
        _ => Ok(()),
    }
}

/// What differs on the cluster from `g`; empty when in sync.
pub async fn drift_cluster(client: &kube::Client, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let mut drift = Vec::new();
    let gw = dynamic(client, &g.namespace, "VirtualGateway").get_opt(&g.name).await.map_err(|e| kerr("reading VirtualGateway", e))?;
    match gw {
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
    let routes = dynamic(client, &g.namespace, "GatewayRoute");
    for r in &g.routes {
        match routes.get_opt(&r.name).await.map_err(|e| kerr("reading GatewayRoute", e))? {
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
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &g.namespace);
    match deployments.get_opt(&g.name).await.map_err(|e| kerr("reading Deployment", e))? {
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
    if ns.and_then(|n| n.metadata.labels).and_then(|l| l.get("gateway").cloned()).as_deref() != Some(g.name.as_str()) {
        drift.push(format!("namespace {} lacks the label gateway={}", g.namespace, g.name));
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
        .list(&kube::api::ListParams::default().labels(&format!("meshtls.dev/gateway={name}")))
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

pub async fn delete_cluster(client: &kube::Client, g: &GatewaySpec) -> Result<(), GatewayError> {
    let routes = dynamic(client, &g.namespace, "GatewayRoute");
    let mut names: Vec<String> = g.routes.iter().map(|r| r.name.clone()).collect();
    names.extend(owned_routes(client, g).await?);
    for name in names {
        delete_ignoring_missing(&routes, &name).await.map_err(|e| kerr(&format!("deleting GatewayRoute {name}"), e))?;
    }
    delete_ignoring_missing(&dynamic(client, &g.namespace, "VirtualGateway"), &g.name)
        .await
        .map_err(|e| kerr("deleting VirtualGateway", e))?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &g.namespace);
    delete_ignoring_missing(&deployments, &g.name).await.map_err(|e| kerr("deleting Deployment", e))?;
    match label_namespace(client, &g.namespace, None).await {
        Err(e) if !is_not_found(&e) => Err(kerr("removing the namespace label", e)),
        _ => Ok(()),
    }
}

// ---- App Mesh API side ----

fn build_error(e: impl std::fmt::Display) -> GatewayError {
    GatewayError(format!("App Mesh API: invalid gateway settings: {e}"))
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
pub async fn apply_api(client: &aws_sdk_appmesh::Client, mesh: &str, g: &GatewaySpec) -> Result<(), GatewayError> {
    let spec = gateway_spec(g)?;
    let exists = match client.describe_virtual_gateway().mesh_name(mesh).virtual_gateway_name(&g.aws_name).send().await {
        Ok(_) => true,
        Err(e) if not_found(&e) => false,
        Err(e) => return Err(aerr(&format!("DescribeVirtualGateway {} in mesh {mesh}", g.aws_name), e)),
    };
    if exists {
        client
            .update_virtual_gateway()
            .mesh_name(mesh)
            .virtual_gateway_name(&g.aws_name)
            .spec(spec)
            .send()
            .await
            .map_err(|e| aerr("UpdateVirtualGateway", e))?;
    } else {
        client
            .create_virtual_gateway()
            .mesh_name(mesh)
            .virtual_gateway_name(&g.aws_name)
            .spec(spec)
            .send()
            .await
            .map_err(|e| aerr(&format!("CreateVirtualGateway {} in mesh {mesh}", g.aws_name), e))?;
    }
    let existing = api_routes(client, mesh, g).await?;
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
                .send()
                .await
                .map_err(|e| aerr("CreateGatewayRoute", e))?;
        }
    }
    for stale in existing.keys().filter(|n| !g.routes.iter().any(|r| &route_aws_name(g, r) == *n)) {
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

/// Gateway routes of the gateway, by name, with their (prefix, target) pairs.
async fn api_routes(
    client: &aws_sdk_appmesh::Client,
    mesh: &str,
    g: &GatewaySpec,
) -> Result<BTreeMap<String, (Option<String>, Option<String>)>, GatewayError> {
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
        out.insert(r.gateway_route_name, (prefix, target));
    }
    Ok(out)
}

/// What differs in the App Mesh API from `g`; empty when in sync.
pub async fn drift_api(client: &aws_sdk_appmesh::Client, mesh: &str, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let mut drift = Vec::new();
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
            Some((prefix, target))
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

pub async fn delete_api(client: &aws_sdk_appmesh::Client, mesh: &str, g: &GatewaySpec) -> Result<(), GatewayError> {
    for name in api_routes(client, mesh, g).await?.keys() {
        match client.delete_gateway_route().mesh_name(mesh).virtual_gateway_name(&g.aws_name).gateway_route_name(name).send().await {
            Err(e) if !not_found(&e) => return Err(aerr("DeleteGatewayRoute", e)),
            _ => {}
        }
    }
    match client.delete_virtual_gateway().mesh_name(mesh).virtual_gateway_name(&g.aws_name).send().await {
        Err(e) if !not_found(&e) => Err(aerr("DeleteVirtualGateway", e)),
        _ => Ok(()),
    }
}
