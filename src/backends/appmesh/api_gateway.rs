//! The App Mesh API side of a gateway: the virtual gateway and its gateway routes, each
//! tagged as the gateway's.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_appmesh::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_appmesh::types as am;

use super::gateway::{GatewayError, GatewayRoute, GatewaySide, GatewaySpec};
use super::APP_MESH;
use crate::backends::model::{CertificateSource, ClientPolicyTls, ListenerTls, TrustSource};
use crate::backends::{BackendError, ErrorKind};
use crate::ownership::{Claim, Deleted, ObjectRef, OwnError, Owner, OWNER_TAG};

mod spec;
use spec::*;

/// The gateway in one mesh of the App Mesh API, as `owner`'s. `in_state` says the gateway
/// is already in Terraform state, so the untagged objects it made before meshtls tagged them
/// are its own.
pub struct ApiGateway<'a> {
    pub client: &'a aws_sdk_appmesh::Client,
    pub owner: &'a Owner,
    pub mesh: &'a str,
    pub in_state: bool,
}

#[async_trait]
impl GatewaySide for ApiGateway<'_> {
    fn place(&self) -> &'static str {
        "in the App Mesh API"
    }

    async fn apply(&self, g: &GatewaySpec) -> Result<(), GatewayError> {
        apply_api(self.client, self.owner, self.mesh, g, self.in_state).await
    }

    async fn check_free(&self, g: &GatewaySpec) -> Result<(), GatewayError> {
        let existing = api_routes(self.client, self.mesh, g).await?;
        check_api_free(self.client, self.owner, self.mesh, g, &existing, self.in_state).await.map(|_| ())
    }

    async fn drift(&self, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
        drift_api(self.client, self.owner, self.mesh, g).await
    }

    async fn adopt(&self, g: &GatewaySpec) -> Result<(), GatewayError> {
        adopt_api(self.client, self.owner, self.mesh, g).await
    }

    async fn delete(&self, g: &GatewaySpec) -> Result<Vec<tfplugin::Diagnostic>, GatewayError> {
        delete_api(self.client, self.owner, self.mesh, g).await
    }
}

fn aerr<E>(what: &str, e: SdkError<E>) -> GatewayError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    GatewayError::Backend(BackendError::aws("App Mesh API", what, e))
}

fn not_found<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    ErrorKind::of_aws(e) == ErrorKind::NotFound
}

/// Whose an App Mesh API object is, from its tags. `untagged_is_ours` covers objects meshtls
/// created before it tagged them: the gateway is in state, so they are its own.
async fn api_claim(client: &aws_sdk_appmesh::Client, arn: &str, owner: &Owner, untagged_is_ours: bool) -> Result<Claim, GatewayError> {
    let tags = client.list_tags_for_resource().resource_arn(arn).send().await.map_err(|e| aerr("ListTagsForResource", e))?;
    // The last one: TagResource replaces a key's value in AWS, but some App Mesh emulators
    // append a second tag of the same key instead.
    let tag = tags.tags.iter().rev().find(|t| t.key == OWNER_TAG).map(|t| t.value.as_str());
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

/// Refuses, before anything is written, a virtual gateway or gateway route of the gateway's
/// names that is not its own; returns the virtual gateway's ARN when it exists.
async fn check_api_free(
    client: &aws_sdk_appmesh::Client,
    owner: &Owner,
    mesh: &str,
    g: &GatewaySpec,
    existing: &BTreeMap<String, ApiRoute>,
    in_state: bool,
) -> Result<Option<String>, GatewayError> {
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
    Ok(gateway_arn)
}

/// Creates or updates the virtual gateway and its routes in the App Mesh API, and deletes
/// routes the gateway no longer has. Objects of those names that are not the gateway's are
/// refused (a gateway already in state, `in_state`, owns the untagged ones it made earlier).
async fn apply_api(
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
    let gateway_arn = check_api_free(client, owner, mesh, g, &existing, in_state).await?;
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
    // Every page: a route on a later one would otherwise be neither compared nor deleted.
    let mut listed = Vec::new();
    let mut next: Option<String> = None;
    // Bounded: 100 pages of up to 100 routes, far past App Mesh's quota per gateway.
    for _ in 0..100 {
        let page = match client
            .list_gateway_routes()
            .mesh_name(mesh)
            .virtual_gateway_name(&g.aws_name)
            .set_next_token(next.clone())
            .limit(100)
            .send()
            .await
        {
            Ok(l) => l,
            Err(e) if not_found(&e) => return Ok(BTreeMap::new()),
            Err(e) => return Err(aerr("ListGatewayRoutes", e)),
        };
        listed.extend(page.gateway_routes);
        next = page.next_token.filter(|t| !t.is_empty());
        if next.is_none() {
            break;
        }
    }
    let mut out = BTreeMap::new();
    for r in listed {
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
async fn adopt_api(client: &aws_sdk_appmesh::Client, owner: &Owner, mesh: &str, g: &GatewaySpec) -> Result<(), GatewayError> {
    let tag = owner_tag(owner)?;
    let arns = api_gateway_arn(client, mesh, g).await?.into_iter().chain(api_routes(client, mesh, g).await?.into_values().map(|r| r.arn));
    for arn in arns {
        client.tag_resource().resource_arn(arn).tags(tag.clone()).send().await.map_err(|e| aerr("TagResource", e))?;
    }
    Ok(())
}

/// What differs in the App Mesh API from `g`; empty when in sync.
async fn drift_api(client: &aws_sdk_appmesh::Client, owner: &Owner, mesh: &str, g: &GatewaySpec) -> Result<Vec<String>, GatewayError> {
    let mut drift = Vec::new();
    if let Some(arn) = api_gateway_arn(client, mesh, g).await? {
        if let c @ (Claim::Foreign | Claim::OtherResource(_) | Claim::OtherState { .. }) = api_claim(client, &arn, owner, true).await? {
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
    if listener.and_then(|l| l.tls.as_ref()).and_then(listener_from).as_ref() != Some(&want_listener) {
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
async fn delete_api(
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

/// The listener TLS of every virtual gateway in `mesh`, by App Mesh name (for `terraform
/// query`); `None` for a gateway whose listener has no TLS.
pub async fn list_listener_tls(
    client: &aws_sdk_appmesh::Client,
    mesh: &str,
) -> Result<BTreeMap<String, Option<ListenerTls>>, GatewayError> {
    let mut names = Vec::new();
    let mut pages = client.list_virtual_gateways().mesh_name(mesh).limit(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aerr(&format!("ListVirtualGateways in mesh {mesh}"), e))?;
        names.extend(page.virtual_gateways().iter().map(|g| g.virtual_gateway_name().to_string()));
    }
    let mut out = BTreeMap::new();
    for name in names {
        let described = client
            .describe_virtual_gateway()
            .mesh_name(mesh)
            .virtual_gateway_name(&name)
            .send()
            .await
            .map_err(|e| aerr(&format!("DescribeVirtualGateway {name} in mesh {mesh}"), e))?;
        let tls = described
            .virtual_gateway
            .and_then(|g| g.spec)
            .and_then(|s| s.listeners.into_iter().next())
            .and_then(|l| l.tls)
            .and_then(|t| listener_from(&t));
        out.insert(name, tls);
    }
    Ok(out)
}
