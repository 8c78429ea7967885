//! The Istio side of a mesh gateway, in the Gateway API: a Gateway of class `istio` that
//! terminates TLS with a meshtls certificate Secret, and an HTTPRoute to the mesh's services.
//! istiod turns the Gateway into an Envoy Deployment and a Service of its own; meshtls asks
//! for a ClusterIP Service and labels the pods `app=<gateway>`, so `meshtls_nlb_service`
//! fronts the gateway exactly as it fronts the App Mesh one. Behind the gateway, istiod's
//! auto mTLS encrypts every hop to the meshed services with Istio's certificates.
//!
//! Both objects are meshtls's own, written and deleted only while they carry its marker; the
//! Deployment and Service are istiod's (owned by the Gateway, collected with it).

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use kube::Api;

use super::crd::Kind;
use super::gateway_api::{
    self, BackendRef, Condition, Gateway, GatewaySpec, HttpRoute, HttpRouteSpec, Infrastructure, Listener, ListenerTls, ParentRef,
    PathMatch, RouteMatch, RouteRule, SecretRef, Status, GATEWAY, HTTP_ROUTE,
};
use super::REVISION_LABEL;
use crate::ownership::{Claim, ObjectRef, OwnError, Owned, Owner};

/// The Gateway annotation that sets the type of istiod's Service for it.
pub const SERVICE_TYPE_ANNOTATION: &str = "networking.istio.io/service-type";
pub const DEFAULT_CLASS: &str = "istio";

#[derive(Debug, Clone, PartialEq)]
pub struct IstioRoute {
    pub prefix: String,
    /// A Service in the gateway's namespace, and its port.
    pub service: String,
    pub port: i64,
}

/// Everything an Istio gateway is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct IstioGatewaySpec {
    pub namespace: String,
    pub name: String,
    pub gateway_class: String,
    pub port: i64,
    /// One HTTPS listener per host; none: one listener for any host.
    pub hostnames: Vec<String>,
    pub certificate_secret: String,
    pub routes: Vec<IstioRoute>,
    /// The istiod revision that programs the gateway (its `istio.io/rev` label); None: the
    /// default revision's, as Istio decides without the label.
    pub revision: Option<String>,
}

/// The gateway's objects on the cluster, as `owner`'s.
pub struct IstioGateway<'a> {
    pub client: &'a kube::Client,
    pub owner: &'a Owner,
    pub namespace: String,
    pub name: String,
}

/// The objects found under the gateway's name, and whose each is.
#[derive(Debug, Default)]
pub struct Found {
    pub gateway: Option<(Gateway, Claim)>,
    pub route: Option<(HttpRoute, Claim)>,
}

impl Found {
    pub fn ours(&self) -> (Option<&Gateway>, Option<&HttpRoute>) {
        let mine = |c: &Claim| *c == Claim::Ours;
        (self.gateway.as_ref().filter(|(_, c)| mine(c)).map(|(o, _)| o), self.route.as_ref().filter(|(_, c)| mine(c)).map(|(o, _)| o))
    }
}

impl<'a> IstioGateway<'a> {
    fn owned<P>(&self, kind: Kind) -> Owned<'a, kube::core::Object<P, Status>>
    where
        P: Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        let api = Api::namespaced_with(self.client.clone(), &self.namespace, &kind.api_resource());
        Owned::with_kind(api, ObjectRef::new(kind.kind, Some(&self.namespace), &self.name), self.owner)
    }

    fn gateway(&self) -> Owned<'a, Gateway> {
        self.owned(GATEWAY)
    }

    fn route(&self) -> Owned<'a, HttpRoute> {
        self.owned(HTTP_ROUTE)
    }

    pub async fn found(&self) -> Result<Found, OwnError> {
        Ok(Found { gateway: self.gateway().get().await?, route: self.route().get().await? })
    }

    /// Creates or updates both objects; refuses ones of the same names that are not meshtls's.
    /// A gateway without routes has no HTTPRoute (the API requires a rule): meshtls's is removed.
    /// Writes the gateway's objects. `prior_revision` is the revision label meshtls wrote
    /// before, removed if the spec no longer asks for one; anyone else's label stays.
    pub async fn apply(&self, spec: &IstioGatewaySpec, prior_revision: Option<&str>) -> Result<(Gateway, Option<HttpRoute>), OwnError> {
        let gateway = self.gateway().ensure(gateway_object(spec), |have, want| merge_gateway(have, want, prior_revision)).await?;
        let route = if spec.routes.is_empty() {
            if let Some(w) = self.route().delete().await?.warning() {
                tracing::info!(warning = %w.detail, "left in place");
            }
            None
        } else {
            Some(self.route().ensure(route_object(spec), merge_route).await?)
        };
        Ok((gateway, route))
    }

    /// Import: marks both objects as meshtls's. None when there is no Gateway.
    pub async fn adopt(&self) -> Result<Option<(Gateway, Option<HttpRoute>)>, OwnError> {
        let Some(gateway) = self.gateway().adopt().await? else { return Ok(None) };
        let route = self.route().adopt().await?;
        Ok(Some((gateway, route)))
    }

    /// Deletes meshtls's objects; warnings name those left in place.
    pub async fn delete(&self) -> Result<Vec<tfplugin::Diagnostic>, OwnError> {
        let mut warnings = Vec::new();
        for deleted in [self.route().delete().await?, self.gateway().delete().await?] {
            warnings.extend(deleted.warning());
        }
        Ok(warnings)
    }
}

fn meta(spec: &IstioGatewaySpec) -> ObjectMeta {
    ObjectMeta { name: Some(spec.name.clone()), namespace: Some(spec.namespace.clone()), ..Default::default() }
}

/// The listener names: `https` for one, `https-<n>` for one per host.
fn listener_name(index: usize, count: usize) -> String {
    if count <= 1 {
        "https".into()
    } else {
        format!("https-{index}")
    }
}

pub fn gateway_object(spec: &IstioGatewaySpec) -> Gateway {
    let hosts: Vec<Option<String>> =
        if spec.hostnames.is_empty() { vec![None] } else { spec.hostnames.iter().cloned().map(Some).collect() };
    let listeners = hosts
        .iter()
        .enumerate()
        .map(|(i, host)| Listener {
            name: listener_name(i, hosts.len()),
            port: spec.port,
            protocol: "HTTPS".into(),
            hostname: host.clone(),
            tls: Some(ListenerTls {
                mode: Some("Terminate".into()),
                certificate_refs: vec![SecretRef { kind: Some("Secret".into()), name: spec.certificate_secret.clone() }],
            }),
            allowed_routes: Some(serde_json::json!({ "namespaces": { "from": "Same" } })),
        })
        .collect();
    let mut metadata = meta(spec);
    // istiod's Service stays inside the cluster: the NLB Service is meshtls_nlb_service's.
    metadata.annotations = Some(BTreeMap::from([(SERVICE_TYPE_ANNOTATION.to_string(), "ClusterIP".to_string())]));
    // Only the named revision's istiod deploys and programs a labelled Gateway.
    metadata.labels = spec.revision.as_ref().map(|r| BTreeMap::from([(REVISION_LABEL.to_string(), r.clone())]));
    gateway_api::object(
        GATEWAY,
        metadata,
        GatewaySpec {
            gateway_class_name: spec.gateway_class.clone(),
            infrastructure: Some(Infrastructure {
                labels: BTreeMap::from([("app".to_string(), spec.name.clone())]),
                // Without it, istiod copies the Gateway's annotations (the service-type one
                // among them) onto the Deployment and Service it makes, where Istio's analyzer
                // calls them misplaced (IST0107).
                annotations: Some(BTreeMap::new()),
                other: BTreeMap::new(),
            }),
            listeners,
            other: BTreeMap::new(),
        },
    )
}

pub fn route_object(spec: &IstioGatewaySpec) -> HttpRoute {
    let rules = spec
        .routes
        .iter()
        .map(|r| RouteRule {
            matches: vec![RouteMatch { path: Some(PathMatch { match_type: Some("PathPrefix".into()), value: Some(r.prefix.clone()) }) }],
            backend_refs: vec![BackendRef { name: r.service.clone(), port: Some(r.port) }],
        })
        .collect();
    gateway_api::object(
        HTTP_ROUTE,
        meta(spec),
        HttpRouteSpec {
            parent_refs: vec![ParentRef { name: spec.name.clone() }],
            hostnames: spec.hostnames.clone(),
            rules,
            other: BTreeMap::new(),
        },
    )
}

/// `want`'s spec replaces the existing one whole: what someone added to the spec goes (see
/// [`differences`]). Labels and annotations beside meshtls's stay; the revision label meshtls
/// wrote (`prior_revision`) goes when no longer wanted.
fn merge_gateway(have: &mut Gateway, want: &Gateway, prior_revision: Option<&str>) {
    have.spec = want.spec.clone();
    let annotations = want.metadata.annotations.clone().unwrap_or_default();
    have.metadata.annotations.get_or_insert_with(Default::default).extend(annotations);
    let labels = have.metadata.labels.get_or_insert_with(Default::default);
    match want.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)) {
        Some(revision) => {
            labels.insert(REVISION_LABEL.to_string(), revision.clone());
        }
        None if prior_revision.is_some() && labels.get(REVISION_LABEL).map(String::as_str) == prior_revision => {
            labels.remove(REVISION_LABEL);
        }
        None => {}
    }
    if labels.is_empty() {
        have.metadata.labels = None;
    }
}

fn merge_route(have: &mut HttpRoute, want: &HttpRoute) {
    have.spec = want.spec.clone();
}

/// The spec the two objects stand for, as import records it.
pub fn spec_of(namespace: &str, name: &str, gateway: &Gateway, route: Option<&HttpRoute>) -> IstioGatewaySpec {
    let listeners = &gateway.spec.listeners;
    IstioGatewaySpec {
        namespace: namespace.into(),
        name: name.into(),
        gateway_class: gateway.spec.gateway_class_name.clone(),
        port: listeners.first().map_or(0, |l| l.port),
        hostnames: listeners.iter().filter_map(|l| l.hostname.clone()).collect(),
        certificate_secret: listeners
            .iter()
            .find_map(|l| l.tls.as_ref()?.certificate_refs.first().map(|r| r.name.clone()))
            .unwrap_or_default(),
        revision: gateway.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)).cloned(),
        routes: route
            .map(|r| {
                r.spec
                    .rules
                    .iter()
                    .filter_map(|rule| {
                        let prefix = rule.matches.first().and_then(|m| m.path.as_ref()?.value.clone()).unwrap_or_else(|| "/".into());
                        let backend = rule.backend_refs.first()?;
                        Some(IstioRoute { prefix, service: backend.name.clone(), port: backend.port.unwrap_or(0) })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// What differs between the objects found and `want`; empty when in sync. An object that is
/// not meshtls's counts as missing, and says whose it is.
pub fn differences(found: &Found, want: &IstioGatewaySpec) -> Vec<String> {
    let mut out = Vec::new();
    let wants_route = !want.routes.is_empty();
    for (kind, claim, wanted) in
        [("Gateway", found.gateway.as_ref().map(|(_, c)| c), true), ("HTTPRoute", found.route.as_ref().map(|(_, c)| c), wants_route)]
    {
        match claim {
            None if wanted => out.push(format!("{kind} {}/{} is missing", want.namespace, want.name)),
            None => {}
            Some(Claim::Ours) if !wanted => {
                out.push(format!("{kind} {}/{} is there but the gateway has no routes", want.namespace, want.name))
            }
            Some(c) if *c != Claim::Ours => out.push(format!("{kind} {}/{} {}", want.namespace, want.name, c.describe())),
            Some(_) => {}
        }
    }
    let (gateway, route) = found.ours();
    if let Some(g) = gateway {
        let have = spec_of(&want.namespace, &want.name, g, None);
        if have.gateway_class != want.gateway_class {
            out.push(format!("gateway class is {:?} (want {:?})", have.gateway_class, want.gateway_class));
        }
        let want_listeners = gateway_object(want).spec.listeners;
        if g.spec.listeners != want_listeners {
            out.push(format!("listeners differ: {} (want {})", describe_listeners(&g.spec.listeners), describe_listeners(&want_listeners)));
        }
        let app = g.spec.infrastructure.as_ref().and_then(|i| i.labels.get("app"));
        if app != Some(&want.name) {
            out.push(format!("the gateway's pods are not labelled app={} for the load balancer", want.name));
        }
        if let Some(revision) = &want.revision {
            let labelled = g.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL));
            if labelled != Some(revision) {
                out.push(format!(
                    "Gateway is labelled {REVISION_LABEL}={labelled:?} (want {revision:?}), so another istiod revision serves it"
                ));
            }
        }
        let service_type = g.metadata.annotations.as_ref().and_then(|a| a.get(SERVICE_TYPE_ANNOTATION));
        if service_type.map(String::as_str) != Some("ClusterIP") {
            out.push(format!("annotation {SERVICE_TYPE_ANNOTATION} is {service_type:?} (want \"ClusterIP\")"));
        }
        let infrastructure = g.spec.infrastructure.clone().unwrap_or_default();
        let extra_labels: Vec<_> = infrastructure.labels.keys().filter(|k| k.as_str() != "app").collect();
        if !extra_labels.is_empty() {
            out.push(format!("Gateway sets infrastructure.labels {extra_labels:?}, which the configuration does not set"));
        }
        match &infrastructure.annotations {
            None => out.push(
                "Gateway has no infrastructure.annotations, so istiod copies its own annotations onto the gateway's Deployment and Service"
                    .into(),
            ),
            Some(a) if !a.is_empty() => out.push(format!(
                "Gateway sets infrastructure.annotations {:?}, which the configuration does not set",
                a.keys().collect::<Vec<_>>()
            )),
            Some(_) => {}
        }
        out.extend(unset_fields("Gateway", "", &g.spec.other));
        out.extend(unset_fields("Gateway", "infrastructure.", &infrastructure.other));
    }
    if let Some(r) = route.filter(|_| wants_route) {
        let want_route = route_object(want);
        if r.spec.rules != want_route.spec.rules
            || r.spec.hostnames != want_route.spec.hostnames
            || r.spec.parent_refs != want_route.spec.parent_refs
        {
            let have = spec_of(&want.namespace, &want.name, &gateway_object(want), Some(r));
            out.push(format!("routes differ: {} (want {})", describe_routes(&have.routes), describe_routes(&want.routes)));
        }
        out.extend(unset_fields("HTTPRoute", "", &r.spec.other));
    }
    out
}

/// Spec fields of meshtls's objects that the configuration does not set: meshtls owns the
/// whole spec of what it creates, so each is drift, and apply removes it.
fn unset_fields(kind: &str, prefix: &str, fields: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
    fields.keys().map(|key| format!("{kind} sets {prefix}{key}, which the configuration does not set")).collect()
}

fn describe_listeners(listeners: &[Listener]) -> String {
    listeners
        .iter()
        .map(|l| {
            let cert = l
                .tls
                .as_ref()
                .and_then(|t| t.certificate_refs.first())
                .map_or("no certificate".into(), |r| format!("certificate {}", r.name));
            format!("{} {}:{} host {} {cert}", l.name, l.protocol, l.port, l.hostname.as_deref().unwrap_or("*"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_routes(routes: &[IstioRoute]) -> String {
    if routes.is_empty() {
        return "none".into();
    }
    routes.iter().map(|r| format!("{} -> {}:{}", r.prefix, r.service, r.port)).collect::<Vec<_>>().join(", ")
}

fn conditions_text(conditions: &[Condition]) -> String {
    conditions
        .iter()
        .map(|c| match (&c.status[..], &c.reason) {
            ("True", _) | (_, None) => format!("{}={}", c.condition_type, c.status),
            (_, Some(reason)) => format!("{}={} ({reason})", c.condition_type, c.status),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The controller's conditions on the Gateway, its listeners and the route, in one line;
/// None before the controller has reported on the current generation.
pub fn conditions(gateway: &Gateway, route: Option<&HttpRoute>) -> Option<String> {
    let status = gateway.status.as_ref()?;
    let current =
        |c: &[Condition]| c.iter().all(|c| c.observed_generation.is_none() || c.observed_generation == gateway.metadata.generation);
    if status.conditions.is_empty() || !current(&status.conditions) {
        return None;
    }
    let mut parts = vec![format!("gateway {}", conditions_text(&status.conditions))];
    for l in &status.listeners {
        parts.push(format!("listener {} {}", l.name.as_deref().unwrap_or("?"), conditions_text(&l.conditions)));
    }
    if let Some(parent) = route.and_then(|r| r.status.as_ref()).and_then(|s| s.parents.first()) {
        parts.push(format!("route {}", conditions_text(&parent.conditions)));
    }
    Some(parts.join("; "))
}

/// Conditions that say the controller refused something, as `what: message`: the Gateway or
/// route not accepted, a reference (the certificate Secret, a backend Service) unresolved.
/// `Programmed=False` alone is not one: it only waits for the gateway's pods.
pub fn refusals(gateway: &Gateway, route: Option<&HttpRoute>) -> Vec<String> {
    let bad = |c: &Condition| c.status == "False" && matches!(c.condition_type.as_str(), "Accepted" | "ResolvedRefs");
    let mut out = Vec::new();
    let describe = |what: String, c: &Condition| format!("{what} {}: {}", c.condition_type, c.message.clone().unwrap_or_default());
    if let Some(s) = &gateway.status {
        out.extend(s.conditions.iter().filter(|c| bad(c)).map(|c| describe("Gateway".into(), c)));
        for l in &s.listeners {
            out.extend(
                l.conditions.iter().filter(|c| bad(c)).map(|c| describe(format!("listener {}", l.name.as_deref().unwrap_or("?")), c)),
            );
        }
    }
    if let Some(s) = route.and_then(|r| r.status.as_ref()) {
        for p in &s.parents {
            out.extend(p.conditions.iter().filter(|c| bad(c)).map(|c| describe("HTTPRoute".into(), c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> IstioGatewaySpec {
        IstioGatewaySpec {
            namespace: "yelb".into(),
            name: "yelb-gw".into(),
            gateway_class: DEFAULT_CLASS.into(),
            port: 8443,
            hostnames: vec!["yelb.example.com".into()],
            certificate_secret: "yelb-gw-tls".into(),
            routes: vec![IstioRoute { prefix: "/".into(), service: "yelb-ui".into(), port: 80 }],
            revision: None,
        }
    }

    fn found(g: Gateway, r: HttpRoute) -> Found {
        Found { gateway: Some((g, Claim::Ours)), route: Some((r, Claim::Ours)) }
    }

    #[test]
    fn the_objects_say_what_the_gateway_is() {
        let g = serde_json::to_value(gateway_object(&spec())).unwrap_or_default();
        assert_eq!(g["apiVersion"], "gateway.networking.k8s.io/v1");
        assert_eq!(g["metadata"]["annotations"][SERVICE_TYPE_ANNOTATION], "ClusterIP");
        assert_eq!(g["spec"]["infrastructure"]["labels"]["app"], "yelb-gw");
        assert_eq!(g["spec"]["infrastructure"]["annotations"], serde_json::json!({}), "istiod copies none of the Gateway's annotations");
        let l = &g["spec"]["listeners"][0];
        assert_eq!((l["name"].as_str(), l["port"].as_i64(), l["protocol"].as_str()), (Some("https"), Some(8443), Some("HTTPS")));
        assert_eq!(l["hostname"], "yelb.example.com");
        assert_eq!(l["tls"]["mode"], "Terminate");
        assert_eq!(l["tls"]["certificateRefs"][0]["name"], "yelb-gw-tls");
        let r = serde_json::to_value(route_object(&spec())).unwrap_or_default();
        assert_eq!(r["spec"]["parentRefs"][0]["name"], "yelb-gw");
        assert_eq!(r["spec"]["rules"][0]["matches"][0]["path"], serde_json::json!({ "type": "PathPrefix", "value": "/" }));
        assert_eq!(r["spec"]["rules"][0]["backendRefs"][0], serde_json::json!({ "name": "yelb-ui", "port": 80 }));
        // Any host: one listener without a hostname; several: one listener each.
        let any = gateway_object(&IstioGatewaySpec { hostnames: vec![], ..spec() });
        assert_eq!((any.spec.listeners.len(), any.spec.listeners[0].hostname.clone()), (1, None));
        let two = gateway_object(&IstioGatewaySpec { hostnames: vec!["a.example.com".into(), "b.example.com".into()], ..spec() });
        assert_eq!(two.spec.listeners.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["https-0", "https-1"]);
    }

    #[test]
    fn what_the_objects_say_reads_back_and_drift_is_named() {
        let want = spec();
        let (g, r) = (gateway_object(&want), route_object(&want));
        assert_eq!(spec_of("yelb", "yelb-gw", &g, Some(&r)), want);
        assert!(differences(&found(g.clone(), r.clone()), &want).is_empty());

        let mut moved = g.clone();
        moved.spec.listeners[0].port = 9443;
        let mut rerouted = r.clone();
        rerouted.spec.rules[0].backend_refs[0].name = "elsewhere".into();
        let d = differences(&found(moved, rerouted), &want);
        assert!(d.iter().any(|d| d.contains("https HTTPS:9443 host yelb.example.com certificate yelb-gw-tls")), "{d:?}");
        assert!(d.iter().any(|d| d.contains("/ -> elsewhere:80") && d.contains("want / -> yelb-ui:80")), "{d:?}");

        let foreign = Found { gateway: Some((g, Claim::Foreign)), route: None };
        let d = differences(&foreign, &want);
        assert!(d.contains(&"Gateway yelb/yelb-gw was not created by meshtls".to_string()), "{d:?}");
        assert!(d.contains(&"HTTPRoute yelb/yelb-gw is missing".to_string()), "{d:?}");
        // Without routes there is no HTTPRoute to miss; meshtls's own left over is drift.
        let routeless = IstioGatewaySpec { routes: vec![], ..want.clone() };
        let g = gateway_object(&routeless);
        assert!(differences(&Found { gateway: Some((g.clone(), Claim::Ours)), route: None }, &routeless).is_empty());
        let d = differences(&Found { gateway: Some((g, Claim::Ours)), route: Some((route_object(&want), Claim::Ours)) }, &routeless);
        assert_eq!(d, ["HTTPRoute yelb/yelb-gw is there but the gateway has no routes"]);
    }

    #[test]
    fn fields_others_add_to_the_spec_are_drift_and_a_merge_removes_them() {
        let want = gateway_object(&spec());
        let mut have = want.clone();
        have.spec.other.insert("addresses".into(), serde_json::json!([{ "value": "10.0.0.9" }]));
        have.spec.infrastructure.get_or_insert_with(Default::default).labels.insert("team".into(), "edge".into());
        have.spec.infrastructure.get_or_insert_with(Default::default).annotations =
            Some(BTreeMap::from([("team".to_string(), "edge".to_string())]));
        have.metadata.annotations.get_or_insert_with(Default::default).insert("team".into(), "edge".into());
        let mut route = route_object(&spec());
        route.spec.other.insert("timeouts".into(), serde_json::json!({ "request": "1s" }));
        let d = differences(&Found { gateway: Some((have.clone(), Claim::Ours)), route: Some((route.clone(), Claim::Ours)) }, &spec());
        assert_eq!(
            d,
            [
                r#"Gateway sets infrastructure.labels ["team"], which the configuration does not set"#,
                r#"Gateway sets infrastructure.annotations ["team"], which the configuration does not set"#,
                "Gateway sets addresses, which the configuration does not set",
                "HTTPRoute sets timeouts, which the configuration does not set",
            ]
        );
        have.spec.listeners[0].port = 1;
        merge_gateway(&mut have, &want, None);
        merge_route(&mut route, &route_object(&spec()));
        assert_eq!((&have.spec, &route.spec), (&want.spec, &route_object(&spec()).spec), "the whole spec is meshtls's");
        assert_eq!(have.metadata.annotations.as_ref().and_then(|a| a.get("team")).map(String::as_str), Some("edge"), "metadata stays");
        assert!(differences(&Found { gateway: Some((have, Claim::Ours)), route: Some((route, Claim::Ours)) }, &spec()).is_empty());
    }

    #[test]
    fn a_revision_labels_the_gateway_and_meshtls_removes_only_its_own_label() {
        let canary = IstioGatewaySpec { revision: Some("canary".into()), ..spec() };
        let want = gateway_object(&canary);
        let label = |g: &Gateway| g.metadata.labels.as_ref().and_then(|l| l.get(REVISION_LABEL)).cloned();
        assert_eq!(label(&want).as_deref(), Some("canary"));
        assert_eq!(label(&gateway_object(&spec())), None, "no revision, no label: the default revision's");
        assert_eq!(spec_of("yelb", "yelb-gw", &want, Some(&route_object(&canary))), canary, "import reads it back");
        // Another revision's label is drift, and apply writes the wanted one.
        let mut have = want.clone();
        have.metadata.labels.get_or_insert_with(Default::default).insert(REVISION_LABEL.into(), "stable".into());
        let d =
            differences(&Found { gateway: Some((have.clone(), Claim::Ours)), route: Some((route_object(&canary), Claim::Ours)) }, &canary);
        assert!(d.iter().any(|d| d.contains("istio.io/rev=Some(\"stable\") (want \"canary\")")), "{d:?}");
        merge_gateway(&mut have, &want, None);
        assert_eq!(label(&have).as_deref(), Some("canary"));
        // Dropping istio_revision removes the label meshtls wrote, never someone else's.
        let plain = gateway_object(&spec());
        let mut ours = want.clone();
        merge_gateway(&mut ours, &plain, Some("canary"));
        assert_eq!(label(&ours), None);
        let mut theirs = want.clone();
        theirs.metadata.labels.get_or_insert_with(Default::default).insert(REVISION_LABEL.into(), "theirs".into());
        merge_gateway(&mut theirs, &plain, Some("canary"));
        assert_eq!(label(&theirs).as_deref(), Some("theirs"));
        assert!(differences(&Found { gateway: Some((theirs, Claim::Ours)), route: Some((route_object(&spec()), Claim::Ours)) }, &spec())
            .is_empty());
    }

    fn condition(t: &str, status: &str, reason: &str, generation: i64) -> Condition {
        Condition {
            condition_type: t.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(format!("{t} says {reason}")),
            observed_generation: Some(generation),
        }
    }

    #[test]
    fn the_controllers_conditions_are_summed_up_and_refusals_picked_out() {
        let mut g = gateway_object(&spec());
        g.metadata.generation = Some(2);
        assert_eq!(conditions(&g, None), None, "nothing reported yet");
        g.status = Some(Status { conditions: vec![condition("Accepted", "True", "Accepted", 1)], ..Default::default() });
        assert_eq!(conditions(&g, None), None, "a report on an older generation is not one");
        g.status = Some(Status {
            conditions: vec![condition("Accepted", "True", "Accepted", 2), condition("Programmed", "False", "AddressNotAssigned", 2)],
            listeners: vec![gateway_api::NamedStatus {
                name: Some("https".into()),
                conditions: vec![condition("ResolvedRefs", "False", "InvalidCertificateRef", 2)],
            }],
            parents: vec![],
        });
        assert_eq!(
            conditions(&g, None).as_deref(),
            Some("gateway Accepted=True Programmed=False (AddressNotAssigned); listener https ResolvedRefs=False (InvalidCertificateRef)")
        );
        assert_eq!(refusals(&g, None), ["listener https ResolvedRefs: ResolvedRefs says InvalidCertificateRef"]);
    }
}
