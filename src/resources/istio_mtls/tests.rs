//! The Istio mutual-TLS resource's validation and plan decisions, with no cluster.

use super::*;

fn config() -> IstioMtls {
    IstioMtls {
        namespace: "yelb".into(),
        deployment: "yelb-ui".into(),
        mode: "STRICT".into(),
        destination_rule: Some(DestinationRuleConfig { host: "yelb-ui.yelb.svc.cluster.local".into(), ..Default::default() }),
        ..Default::default()
    }
}

fn paths(d: &Diagnostics) -> Vec<String> {
    d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect()
}

#[test]
fn a_good_configuration_passes_and_unknowns_are_not_judged() {
    assert!(validate(&config()).is_empty());
    let namespace_wide = IstioMtls { deployment: Attr::Null, destination_rule: None, ..config() };
    assert!(validate(&namespace_wide).is_empty());
    let unknown = IstioMtls {
        namespace: Attr::Unknown,
        name: Attr::Unknown,
        deployment: Attr::Unknown,
        mode: Attr::Unknown,
        destination_rule: Some(DestinationRuleConfig { host: Attr::Unknown, subject_alternative_names: Attr::Unknown }),
        ..Default::default()
    };
    assert!(validate(&unknown).is_empty());
}

#[test]
fn each_bad_value_is_reported_at_its_attribute_with_a_fix() {
    let bad = IstioMtls {
        namespace: "Yelb".into(),
        name: "yelb_ui".into(),
        deployment: "-ui".into(),
        mode: "DISABLED".into(),
        destination_rule: Some(DestinationRuleConfig { host: "yelb ui".into(), ..Default::default() }),
        ..Default::default()
    };
    let d = validate(&bad);
    assert_eq!(paths(&d), ["namespace", "name", "deployment", "mode", "destination_rule.host"]);
    assert!(d.iter().any(|d| d.detail.contains("Istio spells it DISABLE")), "{d:?}");
    assert!(d.iter().any(|d| d.detail.contains("yelb-ui.yelb.svc.cluster.local")));
    let wildcard = IstioMtls {
        destination_rule: Some(DestinationRuleConfig { host: "*.yelb.svc.cluster.local".into(), ..Default::default() }),
        ..config()
    };
    assert!(validate(&wildcard).is_empty());
}

#[test]
fn a_selector_is_checked_and_excludes_a_deployment() {
    let labels = |pairs: &[(&str, &str)]| Attr::Known(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let both = IstioMtls { selector: labels(&[("app", "yelb-ui")]), name: "ui".into(), ..config() };
    assert_eq!(paths(&validate(&both)), ["selector"]);
    let nameless = IstioMtls { selector: labels(&[("app", "yelb-ui")]), deployment: Attr::Null, ..config() };
    assert_eq!(paths(&validate(&nameless)), ["name"]);
    let empty = IstioMtls { selector: labels(&[]), deployment: Attr::Null, name: "ui".into(), ..config() };
    let d = validate(&empty);
    assert!(d.iter().any(|d| d.summary == "Empty selector" && d.detail.contains("namespace-wide")), "{d:?}");
    let bad_labels = IstioMtls {
        selector: labels(&[("bad key!", "x"), ("app.kubernetes.io/name", "-x"), ("Not_A.Domain/k", "v")]),
        deployment: Attr::Null,
        name: "ui".into(),
        ..config()
    };
    assert_eq!(validate(&bad_labels).0.len(), 3);
    let good = IstioMtls {
        selector: labels(&[("app.kubernetes.io/name", "yelb-ui"), ("tier", "")]),
        deployment: Attr::Null,
        name: "ui".into(),
        ..config()
    };
    assert!(validate(&good).is_empty());
    let many: Vec<(String, String)> = (0..=MAX_SELECTOR_LABELS).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let too_many = IstioMtls { selector: Attr::Known(many.into_iter().collect()), deployment: Attr::Null, name: "ui".into(), ..config() };
    assert!(validate(&too_many).iter().any(|d| d.summary == "Too many labels"));
}

#[test]
fn the_name_defaults_to_the_deployment_or_to_default() {
    assert_eq!(object_name(&config()), Attr::Known("yelb-ui".into()));
    assert_eq!(object_name(&IstioMtls { deployment: Attr::Null, ..config() }), Attr::Known("default".into()));
    assert_eq!(object_name(&IstioMtls { name: "ui".into(), ..config() }), Attr::Known("ui".into()));
    assert_eq!(object_name(&IstioMtls { deployment: Attr::Unknown, ..config() }), Attr::Unknown);
}

#[test]
fn the_plan_takes_the_selector_from_the_deployment_as_read() {
    let read = BTreeMap::from([("app".to_string(), "yelb-ui".to_string())]);
    let mut planned = config();
    assert!(plan(None, &config(), &mut planned, Some(read.clone())).is_empty());
    assert_eq!(planned.id, Attr::Known("yelb/yelb-ui".into()));
    assert_eq!(planned.selector, Attr::Known(read.clone()));
    assert_eq!(planned.status, Attr::Known(IN_SYNC.into()));

    // Unreadable now: the prior value for the same Deployment, else unknown.
    let mut planned = config();
    plan(None, &config(), &mut planned, None);
    assert_eq!(planned.selector, Attr::Unknown);
    let prior = IstioMtls { selector: Attr::Known(read.clone()), ..config() };
    let mut planned = config();
    plan(Some(&prior), &config(), &mut planned, None);
    assert_eq!(planned.selector, Attr::Known(read));

    // Namespace-wide: no selector at all.
    let wide = IstioMtls { deployment: Attr::Null, ..config() };
    let mut planned = wide.clone();
    plan(None, &wide, &mut planned, None);
    assert_eq!((planned.selector, planned.id), (Attr::Null, Attr::Known("yelb/default".into())));
}

#[test]
fn disable_to_strict_in_one_step_warns() {
    let prior = IstioMtls { mode: "DISABLE".into(), ..config() };
    let mut planned = config();
    let d = plan(Some(&prior), &config(), &mut planned, None);
    assert_eq!(paths(&d), ["mode"]);
    assert!(d.iter().all(|d| d.detail.contains("PERMISSIVE first")));
    let prior = IstioMtls { mode: "PERMISSIVE".into(), ..config() };
    assert!(plan(Some(&prior), &config(), &mut config(), None).is_empty());
}

#[test]
fn the_enrollment_warning_names_every_workload_and_the_fix() {
    assert!(unenrolled_warning(&[], "yelb").is_none());
    let w = unenrolled_warning(&["Deployment yelb/yelb-db".into(), "StatefulSet yelb/redis".into()], "yelb").expect("warning");
    assert!(w.detail.contains("Deployment yelb/yelb-db, StatefulSet yelb/redis"));
    assert!(w.detail.contains("istio-injection=enabled") && w.detail.contains("PERMISSIVE"));
    assert_eq!(w.path.map(|p| p.to_string()).as_deref(), Some("mode"));
}

#[test]
fn import_reads_back_what_the_objects_say() {
    use kube::api::ObjectMeta;
    let selector = BTreeMap::from([("app".to_string(), "yelb-ui".to_string())]);
    let pa = istio::peer_authentication(ObjectMeta::default(), Some(&selector), "PERMISSIVE");
    let policy = ClientPolicyTls { enforce: true, ports: vec![], certificate: None, trust: None, subject_alternative_names: vec![] };
    let dr = istio::destination_rule(ObjectMeta::default(), "yelb-ui.yelb.svc.cluster.local", &policy);
    let state = imported(import_skeleton("yelb", "yelb-ui"), Some(&pa), Some(&dr));
    assert_eq!(state.id, Attr::Known("yelb/yelb-ui".into()));
    assert_eq!(state.mode, Attr::Known("PERMISSIVE".into()));
    assert_eq!(state.selector, Attr::Known(selector));
    let dr_config = state.destination_rule.clone().expect("destination_rule block");
    assert_eq!((dr_config.host, dr_config.subject_alternative_names), (Attr::Known("yelb-ui.yelb.svc.cluster.local".into()), Attr::Null));
    // What import records is what the resource asks for: a plan after import changes nothing.
    assert_eq!(state.desired_tls(), istio::tls_of(Some(&pa), Some(&dr)));
    let only_pa =
        imported(import_skeleton("yelb", "default"), Some(&istio::peer_authentication(ObjectMeta::default(), None, "STRICT")), None);
    assert_eq!((only_pa.selector, only_pa.destination_rule), (Attr::Null, None));
}

#[test]
fn a_virtual_node_moves_to_its_workloads_policy_written_by_the_next_apply() {
    let node = serde_json::json!({
        "id": "yelb/yelb-ui_yelb",
        "virtual_node_name": "yelb-ui_yelb",
        "kubernetes": { "namespace": "yelb", "virtual_node": "yelb-ui", "deployment": "yelb-ui" },
        "listener": { "mode": "DISABLED", "port": null },
    });
    let moved = moved_from_virtual_node(&node).expect("moved");
    assert_eq!(moved.id, Attr::Known("yelb/yelb-ui".into()));
    assert_eq!((moved.deployment.clone(), moved.mode.clone()), (Attr::Known("yelb-ui".into()), Attr::Known("DISABLE".into())));
    assert_eq!(moved.status, Attr::Known(MOVED.into()), "nothing is in Istio yet, so the plan writes it");
    // The plan after the move is an update to the configured policy.
    let mut planned = config();
    plan(Some(&moved), &config(), &mut planned, None);
    assert_eq!(planned.status, Attr::Known(IN_SYNC.into()));
    let api_only = serde_json::json!({ "virtual_node_name": "yelb-ui_yelb", "kubernetes": null });
    let refused = moved_from_virtual_node(&api_only).expect_err("no namespace");
    assert!(refused.iter().any(|d| d.detail.contains("kubernetes block")));
}
