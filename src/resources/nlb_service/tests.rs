//! The NLB Service's validation and plan decisions, and its Service built and read back, with
//! no cluster.

use super::*;
fn config() -> NlbService {
    NlbService {
        namespace: "yelb".into(),
        name: "yelb-nlb".into(),
        gateway: "yelb-gateway".into(),
        port: Attr::Known(443),
        target_port: Attr::Known(8443),
        tls_termination: "nlb".into(),
        acm_certificate_arn: "arn:aws:acm:us-west-2:123456789012:certificate/0b1e4c5d-1111".into(),
        wait_for_load_balancer: Attr::Known(false),
        wait_timeout_seconds: Attr::Known(600),
        ..Default::default()
    }
}

fn paths(d: &Diagnostics) -> Vec<String> {
    d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect()
}

#[test]
fn a_good_configuration_passes_and_unknowns_are_not_judged() {
    assert!(validate(&config()).is_empty());
    let unknown = NlbService {
        namespace: Attr::Unknown,
        name: Attr::Unknown,
        gateway: Attr::Unknown,
        port: Attr::Unknown,
        target_port: Attr::Unknown,
        tls_termination: Attr::Unknown,
        acm_certificate_arn: Attr::Unknown,
        wait_timeout_seconds: Attr::Unknown,
        ..Default::default()
    };
    assert!(validate(&unknown).is_empty());
}

#[test]
fn each_bad_value_is_reported_at_its_attribute() {
    let bad = NlbService {
        namespace: "Yelb".into(),
        name: "-nlb".into(),
        gateway: "gw_1".into(),
        port: Attr::Known(0),
        target_port: Attr::Known(65536),
        tls_termination: "edge".into(),
        acm_certificate_arn: "arn:aws:iam::123456789012:role/x".into(),
        wait_timeout_seconds: Attr::Known(-5),
        ..config()
    };
    let refused = |c: &NlbService| crate::resources::refusals(TYPE_NAME, c, &validate(c));
    assert_eq!(
        refused(&bad),
        ["namespace", "name", "gateway", "tls_termination", "wait_timeout_seconds", "port", "target_port", "acm_certificate_arn"]
    );
    let too_long = NlbService { wait_timeout_seconds: Attr::Known(3601), ..config() };
    assert_eq!(refused(&too_long), ["wait_timeout_seconds"]);
}

#[test]
fn nlb_termination_needs_a_certificate_and_passthrough_does_not() {
    let missing = NlbService { acm_certificate_arn: Attr::Null, ..config() };
    assert_eq!(validate(&missing).iter().map(|d| d.summary.as_str()).collect::<Vec<_>>(), ["ACM certificate needed"]);
    // Null termination is the default, nlb.
    let default = NlbService { tls_termination: Attr::Null, ..missing.clone() };
    assert_eq!(paths(&validate(&default)), ["acm_certificate_arn"]);
    let passthrough = NlbService { tls_termination: "gateway".into(), ..missing };
    assert!(validate(&passthrough).is_empty());
}

#[test]
fn the_plan_computes_the_id_and_keeps_the_hostname_once_known() {
    let mut planned = config();
    plan(None, &config(), &mut planned);
    assert_eq!(planned.id, Attr::Known("yelb/yelb-nlb".into()));
    assert_eq!(planned.hostname, Attr::Unknown, "unknown until the Service exists");

    let prior = NlbService { hostname: "abc.elb.amazonaws.com".into(), ..config() };
    plan(Some(&prior), &config(), &mut planned);
    assert_eq!(planned.hostname, Attr::Known("abc.elb.amazonaws.com".into()));

    let unknown_name = NlbService { name: Attr::Unknown, ..config() };
    plan(None, &unknown_name, &mut planned);
    assert_eq!(planned.id, Attr::Unknown);
}

#[test]
fn the_service_carries_tls_annotations_only_when_the_nlb_terminates() {
    let nlb = Desired::of(&config()).expect("complete");
    let svc = service_of(&nlb);
    let a = svc.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(a.get(&format!("{PREFIX}ssl-ports")).map(String::as_str), Some("443"));
    assert_eq!(a.get(&format!("{PREFIX}backend-protocol")).map(String::as_str), Some("ssl"));
    let spec = svc.spec.expect("spec");
    assert_eq!(spec.selector.unwrap_or_default().get("app").map(String::as_str), Some("yelb-gateway"));
    assert_eq!(spec.ports.unwrap_or_default()[0].target_port, Some(IntOrString::Int(8443)));

    let passthrough = Desired::of(&NlbService { tls_termination: "gateway".into(), ..config() }).expect("complete");
    let a = service_of(&passthrough).metadata.annotations.unwrap_or_default();
    assert_eq!(a.keys().collect::<Vec<_>>(), [&format!("{PREFIX}type")]);
}

#[test]
fn apply_needs_known_values_and_bounds_the_wait() {
    assert!(Desired::of(&NlbService { gateway: Attr::Unknown, ..config() }).is_err());
    assert!(Desired::of(&NlbService { port: Attr::Known(1 << 40), ..config() }).is_err());
    let waiting = NlbService { wait_for_load_balancer: Attr::Known(true), wait_timeout_seconds: Attr::Known(99_999), ..config() };
    assert_eq!(Desired::of(&waiting).expect("complete").wait, Some(Duration::from_secs(3600)));
    assert_eq!(Desired::of(&config()).expect("complete").wait, None);
}

#[test]
fn read_reports_what_the_service_is_now() {
    let mut svc = service_of(&Desired::of(&NlbService { tls_termination: "gateway".into(), ..config() }).expect("complete"));
    if let Some(spec) = svc.spec.as_mut() {
        spec.ports = Some(vec![ServicePort { port: 8080, target_port: Some(IntOrString::Int(9443)), ..Default::default() }]);
    }
    svc.status = Some(k8s_openapi::api::core::v1::ServiceStatus {
        load_balancer: Some(k8s_openapi::api::core::v1::LoadBalancerStatus {
            ingress: Some(vec![k8s_openapi::api::core::v1::LoadBalancerIngress {
                hostname: Some("abc.elb.amazonaws.com".into()),
                ..Default::default()
            }]),
        }),
        ..Default::default()
    });
    let state = observed(config(), &svc);
    assert_eq!((state.port, state.target_port), (Attr::Known(8080), Attr::Known(9443)));
    assert_eq!(state.tls_termination, Attr::Known("gateway".into()));
    assert_eq!(state.acm_certificate_arn, Attr::Null, "the certificate annotation was removed");
    assert_eq!(state.hostname, Attr::Known("abc.elb.amazonaws.com".into()));
}

#[test]
fn an_update_keeps_foreign_annotations_and_allocated_node_ports() {
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    let port = |port: i32, node_port: Option<i32>| ServicePort { port, node_port, ..Default::default() };
    let mut existing = Service {
        metadata: kube::api::ObjectMeta {
            annotations: Some(BTreeMap::from([
                (format!("{PREFIX}ssl-cert"), "arn:old".to_string()),
                (format!("{PREFIX}scheme"), "internal".to_string()),
                (format!("{PREFIX}ssl-negotiation-policy"), "ELBSecurityPolicy-TLS13-1-2-2021-06".to_string()),
                ("team".to_string(), "a".to_string()),
            ])),
            ..Default::default()
        },
        spec: Some(ServiceSpec { ports: Some(vec![port(443, Some(31000))]), cluster_ip: Some("10.0.0.7".into()), ..Default::default() }),
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
    assert_eq!(a.get(&format!("{PREFIX}scheme")).map(String::as_str), Some("internal"), "AWS annotations meshtls does not set stay");
    assert!(a.contains_key(&format!("{PREFIX}ssl-negotiation-policy")));
    assert_eq!(a.get(&format!("{PREFIX}type")).map(String::as_str), Some("nlb"));
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

#[test]
fn import_starts_from_the_id_and_the_defaults_read_does_not_observe() {
    let skeleton = import_skeleton("yelb", "yelb-nlb");
    assert_eq!(skeleton.id, Attr::Known("yelb/yelb-nlb".into()));
    assert_eq!((skeleton.wait_for_load_balancer, skeleton.wait_timeout_seconds), (Attr::Known(false), Attr::Known(600)));
}
