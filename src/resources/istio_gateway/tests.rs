//! The Istio gateway's validation and plan decisions, with no cluster.

use super::*;

fn config() -> IstioGateway {
    IstioGateway {
        namespace: "yelb".into(),
        name: "yelb-gw".into(),
        gateway_class: "istio".into(),
        port: Attr::Known(8443),
        hostnames: Attr::Known(vec!["yelb.example.com".into()]),
        certificate_secret: "yelb-gw-tls".into(),
        route: Some(vec![Route { prefix: "/".into(), service: "yelb-ui".into(), port: Attr::Known(80) }]),
        ..Default::default()
    }
}

fn paths(d: &Diagnostics) -> Vec<String> {
    d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect()
}

#[test]
fn a_good_configuration_passes_and_unknowns_are_not_judged() {
    assert!(validate(&config()).is_empty());
    assert!(validate(&IstioGateway { hostnames: Attr::Null, route: None, ..config() }).is_empty());
    let unknown = IstioGateway {
        namespace: Attr::Unknown,
        name: Attr::Unknown,
        port: Attr::Unknown,
        hostnames: Attr::Unknown,
        certificate_secret: Attr::Unknown,
        route: Some(vec![Route { prefix: Attr::Unknown, service: Attr::Unknown, port: Attr::Unknown }]),
        ..config()
    };
    assert!(validate(&unknown).is_empty());
}

#[test]
fn each_bad_value_is_reported_at_its_attribute() {
    let bad = IstioGateway {
        namespace: "Yelb".into(),
        name: "Yelb GW".into(),
        port: Attr::Known(0),
        hostnames: Attr::Known(vec!["yelb.example.com".into(), "bad host".into()]),
        certificate_secret: "Bad_Secret".into(),
        route: Some(vec![Route { prefix: "ui".into(), service: "yelb_ui".into(), port: Attr::Known(70000) }]),
        ..config()
    };
    let d = validate(&bad);
    assert_eq!(
        crate::resources::refusals(TYPE_NAME, &bad, &d),
        ["namespace", "certificate_secret", "name", "port", "hostnames[1]", "route[0].prefix", "route[0].service", "route[0].port"]
    );
    assert!(d.iter().any(|d| d.detail.contains("yelb.example.com or *.example.com")));
    let none = IstioGateway { hostnames: Attr::Known(vec![]), ..config() };
    assert_eq!(paths(&validate(&none)), ["hostnames"]);
    let many = IstioGateway { hostnames: Attr::Known((0..=MAX_HOSTNAMES).map(|i| format!("h{i}.example.com")).collect()), ..config() };
    assert!(validate(&many).iter().any(|d| d.summary == "Too many hostnames"));
}

#[test]
fn the_plan_keeps_the_controllers_report_only_when_nothing_changes() {
    let prior = IstioGateway {
        id: "yelb/yelb-gw".into(),
        status: SideStatus::InSync.into(),
        conditions: "gateway Accepted=True".into(),
        ..config()
    };
    let mut planned = config();
    plan(Some(&prior), &config(), &mut planned);
    assert_eq!(planned, prior, "a no-op plan");
    let moved = IstioGateway { port: Attr::Known(9443), ..config() };
    let mut planned = moved.clone();
    plan(Some(&prior), &moved, &mut planned);
    assert_eq!(planned.conditions, Attr::Unknown);
    let drifted = IstioGateway { status: "drifted: HTTPRoute yelb/yelb-gw is missing".into(), ..prior };
    let mut planned = config();
    plan(Some(&drifted), &config(), &mut planned);
    assert_eq!((planned.status, planned.conditions), (Attr::from(SideStatus::InSync), Attr::Unknown));
    let mut planned = config();
    plan(None, &config(), &mut planned);
    assert_eq!(planned.id, Attr::Known("yelb/yelb-gw".into()));
}

#[test]
fn a_certificate_must_cover_every_host() {
    let hosts = vec!["yelb.example.com".to_string(), "api.example.com".to_string()];
    assert!(certificate_problem(&["*.example.com".into()], &hosts, "yelb", "gw").is_none());
    let d = certificate_problem(&["yelb.example.com".into()], &hosts, "yelb", "gw").expect("uncovered");
    assert!(d.detail.contains("[\"api.example.com\"]") && d.detail.contains("dns_names"), "{}", d.detail);
    assert_eq!(d.path.map(|p| p.to_string()).as_deref(), Some("hostnames"));
}

#[test]
fn import_records_what_the_objects_say_and_plans_clean() {
    let spec = config().spec().expect("known");
    let state = imported(&spec, Some("gateway Accepted=True".into()));
    assert_eq!(state.spec(), Some(spec));
    let mut planned = state.clone();
    plan(Some(&state), &state, &mut planned);
    assert_eq!(planned, state);
    let any_host = imported(&IstioGatewaySpec { hostnames: vec![], routes: vec![], ..config().spec().expect("known") }, None);
    assert_eq!((any_host.hostnames, any_host.route), (Attr::Null, None));
}

#[test]
fn an_app_mesh_gateway_moves_keeping_its_name_port_and_certificate() {
    let gateway = serde_json::json!({
        "namespace": "yelb", "name": "yelb-gw", "port": 8443, "certificate_secret": "yelb-gw-tls",
        "route": [{ "prefix": "/", "virtual_service": "yelb-ui" }],
    });
    let moved = moved_from_gateway(&gateway).expect("moved");
    assert_eq!(moved.id, Attr::Known("yelb/yelb-gw".into()));
    assert_eq!((moved.port.clone(), moved.certificate_secret.clone()), (Attr::Known(8443), Attr::Known("yelb-gw-tls".into())));
    assert_eq!((moved.status.clone(), moved.route.clone()), (Attr::Known(MOVED.into()), None));
    let mut planned = config();
    plan(Some(&moved), &config(), &mut planned);
    assert_eq!(planned.conditions, Attr::Unknown, "the move plans an update");
    assert!(moved_from_gateway(&serde_json::json!({})).is_err());
}
