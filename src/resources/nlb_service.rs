//! `meshtls_nlb_service`: the network load balancer in front of the gateway, as a Service of
//! type LoadBalancer with the AWS load balancer annotations for TLS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use serde_json::json;
use tfplugin::schema::{Attribute, Block, Schema};
use tfplugin::{AttributePath, Diagnostic, Diagnostics, Plan, PlanRequest, Resource, StateResult, Value};

use crate::clients::{client_error, Clients};
use crate::names::{check_port, is_dns1123_label};
use crate::ownership::{Owned, Owner};
use crate::resources::virtual_node_tls::s;

/// Longest wait for the load balancer's hostname: an hour covers any NLB provisioning.
const MAX_WAIT_SECONDS: i64 = 3600;

pub const TYPE_NAME: &str = "meshtls_nlb_service";
const PREFIX: &str = "service.beta.kubernetes.io/aws-load-balancer-";

pub struct NlbServiceResource {
    clients: Arc<Clients>,
}

impl NlbServiceResource {
    pub fn new(clients: Arc<Clients>) -> Self {
        NlbServiceResource { clients }
    }
}

/// arn:<partition>:acm:<region>:<12-digit account>:certificate/<id>
pub fn acm_arn_problem(arn: &str) -> Option<&'static str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return Some("an ARN has the form arn:aws:acm:<region>:<account>:certificate/<id>");
    }
    if parts[2] != "acm" {
        return Some("it is not an ACM ARN (the service must be `acm`)");
    }
    if parts[3].is_empty() || !parts[3].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Some("the region part is missing or malformed");
    }
    if parts[4].len() != 12 || !parts[4].chars().all(|c| c.is_ascii_digit()) {
        return Some("the account part must be 12 digits");
    }
    match parts[5].strip_prefix("certificate/") {
        Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => None,
        _ => Some("the resource part must be certificate/<id>"),
    }
}

/// The annotations the configuration asks for.
fn annotations(v: &Value) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([(format!("{PREFIX}type"), "nlb".to_string())]);
    if s(v, &["tls_termination"]).as_deref() == Some("nlb") {
        if let Some(arn) = s(v, &["acm_certificate_arn"]) {
            a.insert(format!("{PREFIX}ssl-cert"), arn);
        }
        a.insert(format!("{PREFIX}backend-protocol"), "ssl".into());
        a.insert(format!("{PREFIX}ssl-ports"), v.get("port").as_i64().unwrap_or(443).to_string());
    }
    a
}

fn service_body(v: &Value) -> Option<serde_json::Value> {
    Some(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": s(v, &["name"])?, "namespace": s(v, &["namespace"])?, "annotations": annotations(v) },
        "spec": {
            "type": "LoadBalancer",
            "selector": { "app": s(v, &["gateway"])? },
            "ports": [{ "name": "https", "port": v.get("port").as_i64()?, "targetPort": v.get("target_port").as_i64()?, "protocol": "TCP" }]
        }
    }))
}

/// The owner of the Service: the resource's id, `namespace/name`.
fn owner(namespace: &str, name: &str) -> Owner {
    Owner::new(TYPE_NAME, &format!("{namespace}/{name}"))
}

fn service<'a>(client: &kube::Client, owner: &'a Owner, namespace: &str, name: &str) -> Owned<'a, Service> {
    Owned::new(Api::namespaced(client.clone(), namespace), Some(namespace), name, owner)
}

/// Brings meshtls's Service in line with `desired`: the load-balancer annotations meshtls
/// writes are replaced, others kept; type, selector and ports are set, keeping the node port
/// the cluster allocated for a port that stays, so the load balancer is not rebuilt.
fn merge_service(existing: &mut Service, desired: &Service) {
    let annotations = existing.metadata.annotations.get_or_insert_with(Default::default);
    annotations.retain(|k, _| !k.starts_with(PREFIX));
    annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
    let (Some(have), Some(want)) = (existing.spec.as_mut(), desired.spec.as_ref()) else {
        existing.spec = desired.spec.clone();
        return;
    };
    let old_ports = have.ports.clone().unwrap_or_default();
    have.type_ = want.type_.clone();
    have.selector = want.selector.clone();
    have.ports = want.ports.clone().map(|ports| {
        ports
            .into_iter()
            .map(|mut p| {
                p.node_port = old_ports.iter().find(|o| o.port == p.port).and_then(|o| o.node_port);
                p
            })
            .collect()
    });
}

fn hostname_of(svc: &Service) -> Option<String> {
    svc.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?.iter().find_map(|i| i.hostname.clone().or_else(|| i.ip.clone()))
}

#[async_trait]
impl Resource for NlbServiceResource {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("A Service of type LoadBalancer in front of a `meshtls_gateway`, annotated for an AWS network load balancer: TLS terminated at the NLB with an ACM certificate, or passed through to the gateway.")
                .attribute(Attribute::string("id").computed().use_state_for_unknown().description("`namespace/name`."))
                .attribute(Attribute::string("namespace").required().requires_replace().description("Namespace of the Service (the gateway's)."))
                .attribute(Attribute::string("name").required().requires_replace().description("Name of the Service."))
                .attribute(Attribute::string("gateway").required().description("The gateway's name: the Service selects pods labelled `app=<gateway>`."))
                .attribute(Attribute::number("port").default(443i64).description("Port the load balancer listens on. Defaults to 443."))
                .attribute(Attribute::number("target_port").default(8443i64).description("The gateway's listener port. Defaults to 8443."))
                .attribute(Attribute::string("tls_termination").default("nlb").description("`nlb` (default): the NLB terminates TLS with `acm_certificate_arn` and re-encrypts to the gateway. `gateway`: a plain TCP NLB passes TLS through to the gateway."))
                .attribute(Attribute::string("acm_certificate_arn").optional().description("ACM certificate for the NLB's TLS listener; required with `tls_termination = \"nlb\"`."))
                .attribute(Attribute::bool("wait_for_load_balancer").default(false).description("Wait at apply until the load balancer's hostname is known. Off by default."))
                .attribute(Attribute::number("wait_timeout_seconds").default(600i64).description("How long to wait for the hostname, 1 to 3600 seconds. Defaults to 600."))
                .attribute(Attribute::string("hostname").computed().description("The load balancer's DNS name from the Service's status; null until AWS provisions it.")),
        )
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let at = |n: &str| AttributePath::attrs(&[n]);
        for attr in ["namespace", "name", "gateway"] {
            if let Some(v) = config.get(attr).as_str().filter(|v| !is_dns1123_label(v)) {
                d.error_at(
                    at(attr),
                    "Invalid name",
                    format!("{v:?} is not a valid {attr}: lowercase letters, digits and '-', at most 63 characters."),
                );
            }
        }
        if let Value::Number(n) = config.get("wait_timeout_seconds") {
            if !n.as_i64().is_some_and(|t| (1..=MAX_WAIT_SECONDS).contains(&t)) {
                d.error_at(
                    at("wait_timeout_seconds"),
                    "Invalid timeout",
                    format!("wait_timeout_seconds must be a whole number from 1 to {MAX_WAIT_SECONDS}; got {n}."),
                );
            }
        }
        for attr in ["port", "target_port"] {
            check_port(&mut d, config.get(attr), at(attr));
        }
        let termination = config.get("tls_termination").as_str();
        if let Some(t) = termination.filter(|t| !["nlb", "gateway"].contains(t)) {
            d.error_at(at("tls_termination"), "Invalid TLS termination", format!("{t:?}: use \"nlb\" or \"gateway\"."));
        }
        match config.get("acm_certificate_arn") {
            Value::String(arn) => {
                if let Some(problem) = acm_arn_problem(arn) {
                    d.error_at(
                        at("acm_certificate_arn"),
                        "Invalid ACM certificate ARN",
                        format!("{arn:?}: {problem}, e.g. arn:aws:acm:us-west-2:123456789012:certificate/0b1e4c5d-..."),
                    );
                }
            }
            Value::Null if termination.unwrap_or("nlb") == "nlb" => d.error_at(
                at("acm_certificate_arn"),
                "ACM certificate needed",
                "TLS terminated at the NLB needs acm_certificate_arn; or set tls_termination = \"gateway\" to pass TLS through.",
            ),
            _ => {}
        }
        d
    }

    async fn modify_plan(&self, request: PlanRequest<'_>, plan: &mut Plan) {
        plan.planned.set(
            "id",
            match (s(request.config, &["namespace"]), s(request.config, &["name"])) {
                (Some(ns), Some(n)) => format!("{ns}/{n}").into(),
                _ => Value::Unknown,
            },
        );
        // Known only after the Service exists; afterwards refresh keeps it current.
        plan.planned.set("hostname", if request.prior.is_null() { Value::Unknown } else { request.prior.get("hostname").clone() });
    }

    async fn create(&self, planned: &Value, _config: &Value) -> StateResult {
        self.update(&Value::Null, planned, &Value::Null, &[]).await
    }

    async fn read(&self, state: &Value, private: &[u8]) -> StateResult {
        if self.clients.cluster_unknown() {
            return StateResult::ok(state.clone(), private.to_vec());
        }
        let (Some(ns), Some(name)) = (s(state, &["namespace"]), s(state, &["name"])) else {
            return StateResult::ok(state.clone(), private.to_vec());
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult { state: state.clone(), private: private.to_vec(), diagnostics: client_error(e) },
        };
        // A Service that is gone, or is someone else's, plans a create (which then refuses).
        let owner = owner(&ns, &name);
        let svc = match service(&client, &owner, &ns, &name).get_ours().await {
            Ok(Some(svc)) => svc,
            Ok(None) => return StateResult::ok(Value::Null, Vec::new()),
            Err(e) => {
                return StateResult {
                    state: state.clone(),
                    private: private.to_vec(),
                    diagnostics: e.diagnostic("read the Service", "").into(),
                }
            }
        };
        // Report what the Service is now, so any change made outside Terraform is a diff.
        let mut new_state = state.clone();
        let have = svc.metadata.annotations.clone().unwrap_or_default();
        let spec = svc.spec.clone().unwrap_or_default();
        let port = spec.ports.as_ref().and_then(|p| p.first());
        if let Some(p) = port {
            new_state.set("port", Value::from(i64::from(p.port)));
            if let Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(t)) = &p.target_port {
                new_state.set("target_port", Value::from(i64::from(*t)));
            }
        }
        if let Some(app) = spec.selector.as_ref().and_then(|s| s.get("app")) {
            new_state.set("gateway", app.as_str().into());
        }
        new_state.set("acm_certificate_arn", Value::opt_string(have.get(&format!("{PREFIX}ssl-cert")).cloned()));
        let passthrough = !have.contains_key(&format!("{PREFIX}backend-protocol"));
        new_state.set("tls_termination", if passthrough { "gateway" } else { "nlb" }.into());
        new_state.set("hostname", Value::opt_string(hostname_of(&svc)));
        StateResult::ok(new_state, private.to_vec())
    }

    async fn update(&self, prior: &Value, planned: &Value, _config: &Value, _private: &[u8]) -> StateResult {
        let (Some(body), Some(ns), Some(name)) = (service_body(planned), s(planned, &["namespace"]), s(planned, &["name"])) else {
            return StateResult::failed(
                Diagnostic::error("Incomplete configuration", "meshtls_nlb_service needs known values at apply time.").into(),
            );
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        let owner = owner(&ns, &name);
        let owned = service(&client, &owner, &ns, &name);
        let applied = match serde_json::from_value::<Service>(body) {
            Ok(desired) => owned.ensure(desired, merge_service).await,
            Err(e) => return StateResult::failed(Diagnostic::error("Bug in the provider", format!("building the Service: {e}")).into()),
        };
        let svc = match applied {
            Ok(svc) => svc,
            // A refused or failed write leaves what the prior state says.
            Err(e) => {
                return StateResult {
                    state: if prior.is_null() { Value::Null } else { prior.clone() },
                    private: Vec::new(),
                    diagnostics: e
                        .diagnostic("apply the Service", &format!("terraform import <address> {ns}/{name}"))
                        .at(AttributePath::attrs(&["name"]))
                        .into(),
                }
            }
        };
        let api: Api<Service> = Api::namespaced(client.clone(), &ns);
        let mut state = planned.clone();
        let mut hostname = hostname_of(&svc);
        if hostname.is_none() && planned.get("wait_for_load_balancer").as_bool() == Some(true) {
            let timeout =
                Duration::from_secs(planned.get("wait_timeout_seconds").as_i64().unwrap_or(600).clamp(1, MAX_WAIT_SECONDS) as u64);
            let deadline = tokio::time::Instant::now() + timeout;
            while hostname.is_none() && tokio::time::Instant::now() < deadline && !self.clients.stopping() {
                tokio::time::sleep(Duration::from_secs(5).min(timeout)).await;
                hostname = api.get_opt(&name).await.ok().flatten().as_ref().and_then(hostname_of);
            }
            if hostname.is_none() {
                state.set("hostname", Value::Null);
                return StateResult {
                    state,
                    private: Vec::new(),
                    diagnostics: Diagnostic::error(
                        "Load balancer not ready",
                        format!("Service {ns}/{name} got no load balancer hostname within {}s. Is the AWS Load Balancer Controller running? Set wait_for_load_balancer = false to skip waiting.", timeout.as_secs()),
                    )
                    .into(),
                };
            }
        }
        state.set("hostname", Value::opt_string(hostname));
        StateResult::ok(state, Vec::new())
    }

    async fn delete(&self, prior: &Value, _private: &[u8]) -> Diagnostics {
        let (Some(ns), Some(name)) = (s(prior, &["namespace"]), s(prior, &["name"])) else { return Diagnostics::new() };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return client_error(e),
        };
        let owner = owner(&ns, &name);
        match service(&client, &owner, &ns, &name).delete().await {
            Ok(deleted) => Diagnostics(deleted.warning().into_iter().collect()),
            Err(e) => e.diagnostic("delete the Service", "").into(),
        }
    }

    async fn import(&self, id: &str) -> StateResult {
        let Some((ns, name)) = id.split_once('/').filter(|(ns, n)| is_dns1123_label(ns) && is_dns1123_label(n)) else {
            return StateResult::failed(Diagnostic::error("Invalid import ID", format!("{id:?} is not `namespace/name`.")).into());
        };
        let client = match self.clients.kube().await {
            Ok(c) => c,
            Err(e) => return StateResult::failed(client_error(e)),
        };
        // Import adopts the Service: from here on meshtls manages it.
        let owner = owner(ns, name);
        match service(&client, &owner, ns, name).adopt().await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return StateResult::failed(
                    Diagnostic::error("Cannot import: Service not found", format!("No Service {ns}/{name} exists.")).into(),
                )
            }
            Err(e) => return StateResult::failed(e.diagnostic("import the Service", "").into()),
        }
        let skeleton = Value::object([
            ("id", Value::from(id)),
            ("namespace", ns.into()),
            ("name", name.into()),
            ("wait_for_load_balancer", false.into()),
            ("wait_timeout_seconds", Value::from(600i64)),
        ]);
        self.read(&skeleton, &[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_keeps_foreign_annotations_and_allocated_node_ports() {
        use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
        let port = |port: i32, node_port: Option<i32>| ServicePort { port, node_port, ..Default::default() };
        let mut existing = Service {
            metadata: kube::api::ObjectMeta {
                annotations: Some(BTreeMap::from([
                    (format!("{PREFIX}ssl-cert"), "arn:old".to_string()),
                    ("team".to_string(), "a".to_string()),
                ])),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                ports: Some(vec![port(443, Some(31000))]),
                cluster_ip: Some("10.0.0.7".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let desired = Service {
            metadata: kube::api::ObjectMeta {
                annotations: Some(BTreeMap::from([(format!("{PREFIX}type"), "nlb".to_string())])),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ports: Some(vec![port(443, None), port(8443, None)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        merge_service(&mut existing, &desired);
        let a = existing.metadata.annotations.clone().unwrap_or_default();
        assert!(!a.contains_key(&format!("{PREFIX}ssl-cert")), "an annotation meshtls no longer writes is removed");
        assert_eq!(a.get("team").map(String::as_str), Some("a"));
        let spec = existing.spec.expect("spec");
        assert_eq!(spec.cluster_ip.as_deref(), Some("10.0.0.7"));
        let ports = spec.ports.expect("ports");
        assert_eq!((ports[0].node_port, ports[1].node_port), (Some(31000), None));
    }

    #[test]
    fn acm_arns_are_checked() {
        assert_eq!(acm_arn_problem("arn:aws:acm:us-west-2:123456789012:certificate/0b1e4c5d-1111-2222-3333-444455556666"), None);
        assert_eq!(acm_arn_problem("arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/abc-123"), None);
        for bad in [
            "",
            "arn:aws:iam::123456789012:role/x",
            "arn:aws:acm:us-west-2:1234:certificate/x",
            "arn:aws:acm:us-west-2:123456789012:key/x",
            "arn:aws:acm::123456789012:certificate/x",
        ] {
            assert!(acm_arn_problem(bad).is_some(), "{bad}");
        }
    }
}
