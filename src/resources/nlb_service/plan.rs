//! The NLB Service's pure decisions: validation, planning, and the Service it asks for and
//! reads back.

use super::*;

/// Checks on the configuration alone: names, bounds, the ARN, and that NLB termination
/// has its certificate.
pub(super) fn validate(config: &NlbService) -> Diagnostics {
    let mut d = Diagnostics::new();
    check_port(&mut d, &config.port, at("port"));
    check_port(&mut d, &config.target_port, at("target_port"));
    match &config.acm_certificate_arn {
        Attr::Known(arn) => {
            if let Some(problem) = acm_arn_problem(arn) {
                d.error_at(
                    at("acm_certificate_arn"),
                    "Invalid ACM certificate ARN",
                    format!("{arn:?}: {problem}, e.g. arn:aws:acm:us-west-2:123456789012:certificate/0b1e4c5d-..."),
                );
            }
        }
        Attr::Null if config.tls_termination.as_deref().unwrap_or("nlb") == "nlb" => d.error_at(
            at("acm_certificate_arn"),
            "ACM certificate needed",
            "TLS terminated at the NLB needs acm_certificate_arn; or set tls_termination = \"gateway\" to pass TLS through.",
        ),
        _ => {}
    }
    d
}

/// The plan's computed attributes: the id from namespace and name; the hostname is known
/// only after the Service exists, and afterwards refresh keeps it current.
pub(super) fn plan(prior: Option<&NlbService>, config: &NlbService, planned: &mut NlbService) {
    planned.id = match (config.namespace.known(), config.name.known()) {
        (Some(ns), Some(n)) => Attr::Known(format!("{ns}/{n}")),
        _ => Attr::Unknown,
    };
    planned.hostname = prior.map_or(Attr::Unknown, |p| p.hostname.clone());
}

/// The annotations the configuration asks for.
pub(super) fn annotations(d: &Desired) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([(format!("{PREFIX}type"), "nlb".to_string())]);
    if d.termination == Termination::Nlb {
        if let Some(arn) = &d.acm_certificate_arn {
            a.insert(format!("{PREFIX}ssl-cert"), arn.clone());
        }
        a.insert(format!("{PREFIX}backend-protocol"), "ssl".into());
        a.insert(format!("{PREFIX}ssl-ports"), d.port.to_string());
    }
    a
}

pub(super) fn service_of(d: &Desired) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(d.name.clone()),
            namespace: Some(d.namespace.clone()),
            annotations: Some(annotations(d)),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            selector: Some(BTreeMap::from([("app".to_string(), d.gateway.clone())])),
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: d.port,
                target_port: Some(IntOrString::Int(d.target_port)),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The state as the Service says it is now, so any change made outside Terraform is a diff.
pub(super) fn observed(mut state: NlbService, svc: &Service) -> NlbService {
    let have = svc.metadata.annotations.clone().unwrap_or_default();
    let spec = svc.spec.clone().unwrap_or_default();
    if let Some(p) = spec.ports.as_ref().and_then(|p| p.first()) {
        state.port = Attr::Known(i64::from(p.port));
        if let Some(IntOrString::Int(t)) = &p.target_port {
            state.target_port = Attr::Known(i64::from(*t));
        }
    }
    if let Some(app) = spec.selector.as_ref().and_then(|s| s.get("app")) {
        state.gateway = Attr::Known(app.clone());
    }
    state.acm_certificate_arn = have.get(&format!("{PREFIX}ssl-cert")).cloned().into();
    let passthrough = !have.contains_key(&format!("{PREFIX}backend-protocol"));
    state.tls_termination = Attr::Known(if passthrough { Termination::Gateway } else { Termination::Nlb }.name().to_string());
    state.hostname = hostname_of(svc).into();
    state
}

/// What import knows before the first read: the id, and the defaults read does not observe.
pub(super) fn import_skeleton(namespace: &str, name: &str) -> NlbService {
    NlbService {
        id: Attr::Known(format!("{namespace}/{name}")),
        namespace: namespace.into(),
        name: name.into(),
        wait_for_load_balancer: Attr::Known(false),
        wait_timeout_seconds: Attr::Known(600),
        ..Default::default()
    }
}
