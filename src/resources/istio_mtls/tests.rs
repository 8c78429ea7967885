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
    assert_eq!(crate::resources::refusals(TYPE_NAME, &bad, &d), ["namespace", "name", "deployment", "mode", "destination_rule.host"]);
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
    // The proposed plan carries the drift refresh found; the plan promises what apply writes.
    let mut planned = IstioMtls { status: "PeerAuthentication sets portLevelMtls".into(), ..config() };
    assert!(plan(None, &config(), &mut planned, Some(read.clone())).is_empty());
    assert_eq!(planned.id, Attr::Known("yelb/yelb-ui".into()));
    assert_eq!(planned.selector, Attr::Known(read.clone()));
    assert_eq!(planned.status, Attr::from(SideStatus::InSync), "drift is planned away");

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
    assert!(unenrolled_warning(&[], "yelb", None).is_none());
    let w = unenrolled_warning(&["Deployment yelb/yelb-db".into(), "StatefulSet yelb/redis".into()], "yelb", None).expect("warning");
    assert!(w.detail.contains("Deployment yelb/yelb-db, StatefulSet yelb/redis"));
    assert!(w.detail.contains("istio-injection=enabled") && w.detail.contains("PERMISSIVE"));
    assert_eq!(w.path.map(|p| p.to_string()).as_deref(), Some("mode"));
    // With a revision, the fix names that revision's label.
    let w = unenrolled_warning(&["Deployment yelb/yelb-db".into()], "yelb", Some("canary")).expect("warning");
    assert!(w.detail.contains("sidecar of Istio revision \"canary\"") && w.detail.contains("istio.io/rev=canary"), "{}", w.detail);
}

#[test]
fn a_destination_rule_over_ambient_workloads_without_a_waypoint_is_a_warning() {
    let none = BTreeMap::new();
    let w = ambient_destination_rule_warning(&["Deployment yelb/yelb-ui".into()], &none).expect("warning");
    assert_eq!(w.path.map(|p| p.to_string()).as_deref(), Some("destination_rule"));
    assert!(w.detail.contains("Deployment yelb/yelb-ui") && w.detail.contains("istioctl waypoint apply"), "{}", w.detail);
    let waypoint = BTreeMap::from([(istio::USE_WAYPOINT_LABEL.to_string(), "waypoint".to_string())]);
    assert!(ambient_destination_rule_warning(&["Deployment yelb/yelb-ui".into()], &waypoint).is_none());
    assert!(ambient_destination_rule_warning(&[], &none).is_none(), "no ambient workload, nothing to say");
}

#[test]
fn an_istio_revision_must_be_a_revision_name() {
    assert!(validate(&IstioMtls { istio_revision: "canary".into(), ..config() }).is_empty());
    assert_eq!(paths(&validate(&IstioMtls { istio_revision: "1.24.2".into(), ..config() })), ["istio_revision"]);
}

#[test]
fn import_reads_back_what_the_objects_say() {
    use kube::api::ObjectMeta;
    let selector = BTreeMap::from([("app".to_string(), "yelb-ui".to_string())]);
    let pa = istio::peer_authentication(ObjectMeta::default(), Some(&selector), TlsMode::Permissive);
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
        imported(import_skeleton("yelb", "default"), Some(&istio::peer_authentication(ObjectMeta::default(), None, TlsMode::Strict)), None);
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
    assert_eq!(planned.status, Attr::from(SideStatus::InSync));
    let api_only = serde_json::json!({ "virtual_node_name": "yelb-ui_yelb", "kubernetes": null });
    let refused = moved_from_virtual_node(&api_only).expect_err("no namespace");
    assert!(refused.iter().any(|d| d.detail.contains("kubernetes block")));
}

fn view_with(policies: Vec<istio::Policy>) -> istio::MeshView {
    let workload = |name: &str| istio::Workload {
        kind: "Deployment",
        name: name.into(),
        labels: BTreeMap::from([("app".to_string(), name.to_string())]),
        annotations: BTreeMap::new(),
    };
    istio::MeshView { workloads: vec![workload("yelb-ui"), workload("yelb-db")], policies, mesh: Some(vec![]), ..Default::default() }
}

#[test]
fn a_more_specific_weaker_policy_is_drift_and_enforce_makes_it_an_error() {
    let namespace_wide =
        IstioMtls { name: "default".into(), deployment: Attr::Null, selector: Attr::Null, mode: "STRICT".into(), ..config() };
    let own = planned_policy(&namespace_wide, None).expect("a policy");
    // Alone, it makes every workload STRICT. Created, the value waits for apply (other
    // policies of the same apply may decide); unchanged since refresh, it stays known.
    let mut planned = namespace_wide.clone();
    let alone = covered_modes(&view_with(vec![]), &own);
    assert!(plan_effective(&mut planned, None, &alone).is_none());
    assert_eq!(planned.effective_modes, Attr::Unknown);
    let prior = IstioMtls { effective_modes: Attr::Known(described(&alone)), ..namespace_wide.clone() };
    let mut planned = prior.clone();
    assert!(plan_effective(&mut planned, Some(&prior), &alone).is_none());
    let modes = planned.effective_modes.known().cloned().expect("known on a no-op plan");
    assert_eq!(modes.get("Deployment/yelb-ui").map(String::as_str), Some("STRICT (PeerAuthentication yelb/default)"));
    assert_eq!(modes.len(), 2);
    let mut changed = IstioMtls { enforce: Attr::Known(true), ..prior.clone() };
    plan_effective(&mut changed, Some(&prior), &alone);
    assert_eq!(changed.effective_modes, Attr::Unknown, "an update recomputes it at apply");

    // Another team's policy selecting yelb-ui more specifically turns it PERMISSIVE.
    let legacy = istio::Policy {
        namespace: "yelb".into(),
        name: "legacy".into(),
        selector: Some(BTreeMap::from([("app".to_string(), "yelb-ui".to_string())])),
        mode: Some(TlsMode::Permissive),
        ports: BTreeMap::new(),
        created: "1".into(),
        managed: false,
    };
    let predicted = covered_modes(&view_with(vec![legacy.clone()]), &own);
    let mut planned = namespace_wide.clone();
    let warning = plan_effective(&mut planned, Some(&prior), &predicted).expect("a warning");
    assert_eq!(planned.effective_modes, Attr::Unknown, "the plan is not clean while a workload is weaker");
    assert_eq!(warning.severity, tfplugin::diag::Severity::Warning);
    assert!(warning.detail.contains("Deployment/yelb-ui: PERMISSIVE (PeerAuthentication yelb/legacy)"), "{}", warning.detail);
    let mut enforced = IstioMtls { enforce: Attr::Known(true), ..namespace_wide.clone() };
    assert_eq!(plan_effective(&mut enforced, Some(&prior), &predicted).map(|d| d.severity), Some(tfplugin::diag::Severity::Error));

    // A stronger policy is no problem: a PERMISSIVE namespace with one STRICT workload.
    let permissive = IstioMtls { mode: "PERMISSIVE".into(), ..namespace_wide.clone() };
    let strict_ui = istio::Policy { mode: Some(TlsMode::Strict), ..legacy };
    let own = planned_policy(&permissive, None).expect("a policy");
    let mut planned = permissive.clone();
    assert!(plan_effective(&mut planned, None, &covered_modes(&view_with(vec![strict_ui.clone()]), &own)).is_none());

    // A weaker policy meshtls manages is declared in some configuration: shown, not a hole.
    let ours_permissive = istio::Policy { mode: Some(TlsMode::Permissive), managed: true, ..strict_ui };
    let own = planned_policy(&namespace_wide, None).expect("a policy");
    let predicted = covered_modes(&view_with(vec![ours_permissive]), &own);
    let prior = IstioMtls { effective_modes: Attr::Known(described(&predicted)), ..namespace_wide.clone() };
    let mut planned = prior.clone();
    assert!(plan_effective(&mut planned, Some(&prior), &predicted).is_none());
    assert!(planned.effective_modes.known().is_some_and(|m| m["Deployment/yelb-ui"].starts_with("PERMISSIVE")));
}

#[test]
fn a_stored_identity_upgrades_whether_its_own_or_the_moved_virtual_node_s() {
    let r = IstioMtlsResource::new(crate::clients::Clients::new());
    let own = serde_json::json!({ "namespace": "yelb", "name": "yelb-ui" });
    let upgraded = tfplugin::Resource::upgrade_identity(&r, 0, &own).expect("its own");
    assert_eq!(format!("{upgraded:?}"), format!("{:?}", tfplugin::Resource::upgrade_identity(&r, 0, &own).expect("again")));
    assert!(format!("{upgraded:?}").contains("yelb-ui"));
    // What OpenTofu keeps after a moved block from meshtls_virtual_node_tls.
    let moved =
        serde_json::json!({ "mesh_name": "yelb", "virtual_node_name": "yelb-ui_yelb", "namespace": "yelb", "virtual_node": "yelb-ui" });
    assert_eq!(format!("{:?}", tfplugin::Resource::upgrade_identity(&r, 0, &moved).expect("moved")), format!("{upgraded:?}"));
    let no_node = serde_json::json!({ "mesh_name": "m", "virtual_node_name": "x", "namespace": "yelb", "virtual_node": null });
    assert!(format!("{:?}", tfplugin::Resource::upgrade_identity(&r, 0, &no_node).expect("namespace-wide")).contains("default"));
    assert!(
        tfplugin::Resource::upgrade_identity(&r, 0, &serde_json::json!({ "mesh_name": "m" })).is_err(),
        "no namespace: nothing names the policy"
    );
}
