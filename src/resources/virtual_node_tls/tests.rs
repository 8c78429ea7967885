//! The virtual node's validation and plan decisions, and its TLS settings mapped to and from
//! the backends' model, with no cluster.

use super::*;
use crate::backends::model::{CertificateSource, TrustSource};

fn file_certificate() -> CertificateConfig {
    CertificateConfig::of(&CertificateSource::File {
        certificate_chain: "/etc/keys/yelb-db/tls.crt".into(),
        private_key: "/etc/keys/yelb-db/tls.key".into(),
    })
}

fn config() -> VirtualNodeTls {
    VirtualNodeTls {
        virtual_node_name: "yelb-db_yelb".into(),
        certificate_secret: "yelb-db".into(),
        restart_on_rotation: Attr::Known(true),
        kubernetes: Some(KubernetesTarget { namespace: "yelb".into(), virtual_node: "yelb-db".into(), deployment: "yelb-db".into() }),
        listener: Some(Listener {
            port: Attr::Known(5432),
            mode: "STRICT".into(),
            certificate: Some(file_certificate()),
            validation: Some(Validation {
                subject_alternative_names: Attr::Known(vec!["yelb-appserver.yelb.svc.cluster.local".into()]),
                trust: Some(TrustConfig::of(&TrustSource::File { certificate_chain: "/etc/keys/yelb-db/ca.crt".into() })),
            }),
        }),
        ..Default::default()
    }
}

fn with_mode(mode: &str) -> VirtualNodeTls {
    let mut c = config();
    if let Some(l) = c.listener.as_mut() {
        l.mode = mode.into();
    }
    c
}

fn planned(
    prior: Option<&VirtualNodeTls>,
    config: &VirtualNodeTls,
    provider_mesh: Attr<String>,
    aws: bool,
) -> (VirtualNodeTls, Diagnostics) {
    let mut p = config.clone();
    let d = plan(prior, config, &mut p, &provider_mesh, aws);
    (p, d)
}

fn paths(d: &Diagnostics) -> Vec<String> {
    d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect()
}

#[test]
fn a_good_configuration_passes() {
    assert!(validate(&config()).is_empty());
    assert!(validate(&with_mode("DISABLED")).is_empty());
}

#[test]
fn modes_ports_and_certificates_are_checked_where_they_are_set() {
    let lower = with_mode("strict");
    assert_eq!(crate::resources::refusals(TYPE_NAME, &lower, &validate(&lower)), ["listener.mode"]);
    let mut no_certificate = config();
    if let Some(l) = no_certificate.listener.as_mut() {
        l.certificate = None;
    }
    let d = validate(&no_certificate);
    assert_eq!(d.iter().map(|d| d.summary.as_str()).collect::<Vec<_>>(), ["STRICT needs a certificate"]);

    let mut bad = config();
    if let Some(l) = bad.listener.as_mut() {
        l.port = Attr::Known(0);
        l.certificate =
            Some(CertificateConfig { sds: Some(crate::resources::mesh_tls::SdsSecret { secret_name: "x".into() }), ..file_certificate() });
    }
    bad.client_policy =
        Some(ClientPolicy { ports: Attr::Known(vec![443, 65536]), certificate: Some(CertificateConfig::default()), ..Default::default() });
    assert_eq!(paths(&validate(&bad)), ["listener.port", "client_policy.ports[1]", "listener.certificate", "client_policy.certificate"]);
}

#[test]
fn names_and_the_mount_path_cannot_smuggle_mounts_in() {
    let good = VirtualNodeTls { mount_path: "/etc/keys/yelb-db".into(), ..config() };
    assert!(validate(&good).is_empty(), "{:?}", validate(&good));
    let bad = VirtualNodeTls {
        virtual_node_name: "yelb db".into(),
        certificate_secret: "Yelb_DB".into(),
        mount_path: "/etc/keys/a,other:/etc/passwd".into(),
        kubernetes: Some(KubernetesTarget { namespace: "Yelb".into(), virtual_node: "db,x".into(), deployment: "db:1".into() }),
        ..config()
    };
    let d = validate(&bad);
    assert_eq!(
        crate::resources::refusals(TYPE_NAME, &bad, &d),
        [
            "certificate_secret",
            "kubernetes.namespace",
            "virtual_node_name",
            "mount_path",
            "kubernetes.virtual_node",
            "kubernetes.deployment"
        ]
    );
    assert!(
        d.iter().all(|d| d.detail.contains("e.g.") || d.detail.contains("letters") || d.detail.contains("use a path")),
        "each says what is accepted: {d:?}"
    );
    for path in ["etc/keys", "/etc/keys/a b", &format!("/{}", "a".repeat(1100))] {
        let d = validate(&VirtualNodeTls { mount_path: Attr::Known(path.to_string()), ..config() });
        assert_eq!(paths(&d), ["mount_path"], "{path:?}");
    }
    let d = validate(&VirtualNodeTls { virtual_node_name: Attr::Known("n".repeat(256)), ..config() });
    assert_eq!(paths(&d), ["virtual_node_name"]);
    // Unknown values are checked once known.
    assert!(validate(&VirtualNodeTls { mount_path: Attr::Unknown, certificate_secret: Attr::Unknown, ..config() }).is_empty());
}

#[test]
fn a_resource_must_configure_something() {
    let empty = VirtualNodeTls { listener: None, client_policy: None, ..config() };
    assert_eq!(validate(&empty).iter().map(|d| d.summary.as_str()).collect::<Vec<_>>(), ["Nothing to configure"]);
}

#[test]
fn the_mesh_comes_from_the_provider_and_is_needed_only_with_aws() {
    let (p, d) = planned(None, &config(), "yelb".into(), true);
    assert!(d.is_empty());
    assert_eq!(p.mesh_name, Attr::Known("yelb".into()));
    assert_eq!(p.id, Attr::Known("yelb/yelb-db_yelb".into()));
    let (p, _) = planned(None, &config(), Attr::Unknown, true);
    assert_eq!((p.mesh_name, p.id), (Attr::Unknown, Attr::Unknown));
    let (_, d) = planned(None, &config(), Attr::Null, true);
    assert_eq!(paths(&d), ["mesh_name"]);
    let (p, d) = planned(None, &config(), Attr::Null, false);
    assert!(d.is_empty(), "the cluster side needs no mesh");
    assert_eq!(p.id, Attr::Known("yelb-db_yelb".into()), "just the node without a mesh");
}

#[test]
fn each_side_is_in_sync_when_managed_and_not_managed_otherwise() {
    let (p, _) = planned(None, &config(), "yelb".into(), true);
    assert_eq!((p.cluster_status, p.api_status), (Attr::from(SideStatus::InSync), Attr::from(SideStatus::InSync)));
    let api_only = VirtualNodeTls { kubernetes: None, ..config() };
    let (p, _) = planned(None, &api_only, "yelb".into(), true);
    assert_eq!(p.cluster_status, Attr::from(SideStatus::NotManaged));
    let (p, _) = planned(None, &config(), Attr::Null, false);
    assert_eq!(p.api_status, Attr::from(SideStatus::NotManaged));
}

#[test]
fn the_mount_path_defaults_from_the_cluster_node_then_the_mesh_node() {
    let (p, _) = planned(None, &config(), "yelb".into(), true);
    assert_eq!(p.mount_path, Attr::Known("/etc/keys/yelb-db".into()));
    let api_only = VirtualNodeTls { kubernetes: None, ..config() };
    let (p, _) = planned(None, &api_only, "yelb".into(), true);
    assert_eq!(p.mount_path, Attr::Known("/etc/keys/yelb-db_yelb".into()));
    let set = VirtualNodeTls { mount_path: "/keys".into(), ..config() };
    let (p, _) = planned(None, &set, "yelb".into(), true);
    assert_eq!(p.mount_path, Attr::Known("/keys".into()));
}

#[test]
fn disabled_straight_to_strict_is_warned_about() {
    let (_, d) = planned(Some(&with_mode("DISABLED")), &with_mode("STRICT"), "yelb".into(), true);
    assert_eq!(
        d.iter().map(|d| (d.summary.as_str(), d.severity)).collect::<Vec<_>>(),
        [("DISABLED to STRICT in one step", tfplugin::diag::Severity::Warning)]
    );
    for (from, to) in [("DISABLED", "PERMISSIVE"), ("PERMISSIVE", "STRICT"), ("STRICT", "STRICT")] {
        let (_, d) = planned(Some(&with_mode(from)), &with_mode(to), "yelb".into(), true);
        assert!(d.is_empty(), "{from} -> {to}");
    }
    let (_, d) = planned(None, &with_mode("STRICT"), "yelb".into(), true);
    assert!(d.is_empty(), "a new resource has no prior mode");
}

#[test]
fn the_fingerprint_is_read_from_the_secret_unless_configured() {
    let (p, _) = planned(None, &config(), "yelb".into(), true);
    assert_eq!(p.certificate_fingerprint, Attr::Unknown, "read from the Secret once planned against the cluster");
    let configured = VirtualNodeTls { certificate_fingerprint: "AB:CD".into(), ..config() };
    let (p, _) = planned(None, &configured, "yelb".into(), true);
    assert_eq!(p.certificate_fingerprint, Attr::Known("AB:CD".into()));
    let unmounted = VirtualNodeTls { certificate_secret: Attr::Null, ..config() };
    let (p, _) = planned(None, &unmounted, "yelb".into(), true);
    assert_eq!(p.certificate_fingerprint, Attr::Null);
}

#[test]
fn a_side_that_cannot_take_the_plan_points_at_what_to_fix() {
    let node = || AttributePath::attrs(&["kubernetes", "virtual_node"]);
    let cases = [
        (SideError::NotFound { side: "cluster", what: "VirtualNode yelb/x".into() }, Some("kubernetes.virtual_node")),
        (SideError::AmbiguousListener { side: "cluster", count: 2 }, Some("listener.port")),
        (SideError::NoListener { side: "cluster", port: None }, Some("kubernetes.virtual_node")),
        (SideError::NoListener { side: "cluster", port: Some(80) }, Some("listener.port")),
    ];
    for (e, path) in cases {
        let d = side_problem(&e, node());
        assert_eq!(d.severity, tfplugin::diag::Severity::Error, "{e}");
        assert_eq!(d.path.map(|p| p.to_string()).as_deref(), path, "{e}");
    }
    let unreadable = side_problem(
        &SideError::Backend(crate::backends::BackendError::new(
            "App Mesh API",
            crate::backends::ErrorKind::Unavailable,
            "DescribeVirtualNode",
            "throttled",
        )),
        node(),
    );
    assert_eq!(unreadable.severity, tfplugin::diag::Severity::Warning);
}

#[test]
fn the_certificate_must_cover_the_node_hostname() {
    let names = vec!["*.yelb.svc.cluster.local".to_string()];
    assert!(hostname_problem(&names, "yelb-db.yelb.svc.cluster.local", "yelb", "yelb-db").is_none());
    let d = hostname_problem(&names, "yelb-db.other.svc.cluster.local", "yelb", "yelb-db").expect("not covered");
    assert_eq!(d.path, Some(at("certificate_secret")));
}

#[test]
fn desired_tls_and_import_blocks_describe_the_same_settings() {
    let tls = config().desired_tls();
    let listener = tls.listener.as_ref().expect("listener");
    assert_eq!(listener.mode, TlsMode::Strict);
    assert_eq!(listener.subject_alternative_names, ["yelb-appserver.yelb.svc.cluster.local"]);
    let (l, c) = tls_blocks(&tls);
    let back = VirtualNodeTls { listener: l, client_policy: c, ..config() };
    assert_eq!(back.desired_tls(), tls);
    assert_eq!(back.listener.and_then(|l| l.port.known().copied()), None, "import leaves the port to the configuration");

    let policy = ClientPolicyTls { enforce: true, ports: vec![], certificate: None, trust: None, subject_alternative_names: vec![] };
    let (_, c) = tls_blocks(&NodeTls { listener: None, client_policy: Some(policy) });
    let c = c.expect("client policy");
    assert_eq!((c.ports, c.subject_alternative_names), (Attr::Null, Attr::Null), "empty lists import as unset");
}

#[test]
fn the_mount_and_rotation_annotations_follow_the_settings() {
    let mut m = VirtualNodeTls { mount_path: "/etc/keys/yelb-db".into(), certificate_fingerprint: "AB".into(), ..config() };
    let a = m.wanted_annotations();
    assert_eq!(a.get(SECRET_MOUNTS_ANNOTATION), Some(&Some("yelb-db:/etc/keys/yelb-db".to_string())));
    assert_eq!(a.get(FINGERPRINT_ANNOTATION), Some(&Some("AB".to_string())));
    m.restart_on_rotation = Attr::Known(false);
    assert!(!m.wanted_annotations().contains_key(FINGERPRINT_ANNOTATION));
    m.certificate_secret = Attr::Null;
    assert!(m.wanted_annotations().is_empty());
}

#[test]
fn import_ids_name_the_mesh_node_and_optionally_the_cluster_node() {
    assert_eq!(parse_import_id("yelb/yelb-db_yelb").ok(), Some(ImportId { mesh: "yelb", node: "yelb-db_yelb", cluster: None }));
    let full = parse_import_id("yelb/yelb-db_yelb/yelb/yelb-db").expect("valid");
    assert_eq!(full.cluster, Some(("yelb", "yelb-db")));
    for bad in ["yelb", "yelb/", "a/b/c", "a/b/c/d/e"] {
        assert!(parse_import_id(bad).is_err(), "{bad}");
    }
    let s = import_skeleton(&full);
    assert_eq!((s.id, s.mount_path), (Attr::Known("yelb/yelb-db_yelb".into()), Attr::Known("/etc/keys/yelb-db".into())));
}

fn strict_view() -> crate::backends::NodeView {
    let tls = with_mode("STRICT").desired_tls();
    crate::backends::NodeView { tls, hostname: Some(HOST_FOR_LIST.into()) }
}

const HOST_FOR_LIST: &str = "yelb-db.yelb.svc.cluster.local";

#[test]
fn a_listed_node_shows_each_side_and_whether_they_agree() {
    use list::{found, Seen};
    let both = found(
        "yelb",
        "yelb-db_yelb",
        Some(("yelb", "yelb-db")),
        &Seen::View(Box::new(strict_view())),
        &Seen::View(Box::new(strict_view())),
    );
    assert_eq!(both.display_name, "yelb-db_yelb (yelb/yelb-db): cluster STRICT, App Mesh STRICT; the sides agree");
    assert_eq!(both.identity.namespace.as_deref(), Some("yelb"));
    assert_eq!(both.identity.mesh_name.as_deref(), Some("yelb"));
    assert_eq!((both.resource.cluster_status.as_deref(), both.resource.api_status.as_deref()), (Some("in sync"), Some("in sync")));
    assert_eq!(both.resource.listener.as_ref().and_then(|l| l.mode.as_deref()), Some("STRICT"));

    // The cluster was left PERMISSIVE: the API's settings are the import's, the cluster drifts.
    let mut permissive = strict_view();
    permissive.tls.listener.as_mut().unwrap().mode = TlsMode::Permissive;
    let differ =
        found("yelb", "yelb-db_yelb", Some(("yelb", "yelb-db")), &Seen::View(Box::new(permissive)), &Seen::View(Box::new(strict_view())));
    assert!(differ.display_name.contains("cluster PERMISSIVE, App Mesh STRICT; the sides differ: "), "{}", differ.display_name);
    assert!(differ.resource.cluster_status.as_deref().is_some_and(|s| s.starts_with("drifted: ")));
    assert_eq!(differ.resource.listener.as_ref().and_then(|l| l.mode.as_deref()), Some("STRICT"));

    // Only in the API, and only on the cluster without an aws block.
    let api_only = found("yelb", "yelb-db_yelb", None, &Seen::Absent, &Seen::View(Box::new(strict_view())));
    assert_eq!(api_only.display_name, "yelb-db_yelb: cluster absent, App Mesh STRICT");
    assert!(api_only.resource.kubernetes.is_none() && api_only.identity.virtual_node.is_none());
    assert_eq!(api_only.resource.cluster_status.as_deref(), Some("not managed"));
    let cluster_only = found("yelb", "yelb-db_yelb", Some(("yelb", "yelb-db")), &Seen::View(Box::new(strict_view())), &Seen::NotRead);
    assert_eq!(cluster_only.resource.api_status.as_deref(), Some("not managed"));
    assert!(cluster_only.display_name.ends_with("App Mesh not read"), "{}", cluster_only.display_name);
}

#[test]
fn generated_configuration_leaves_out_the_default_mount_path() {
    let r = VirtualNodeTlsResource::new(crate::clients::Clients::new());
    let imported = import_skeleton(&parse_import_id("yelb/yelb-db_yelb/yelb/yelb-db").unwrap());
    assert_eq!(TypedResource::generate_config(&r, imported.clone()).mount_path, Attr::Null);
    let custom = VirtualNodeTls { mount_path: "/etc/certs".into(), ..imported };
    assert_eq!(TypedResource::generate_config(&r, custom).mount_path.as_deref(), Some("/etc/certs"));
}

fn listener(mode: &str) -> ListenerTls {
    ListenerTls { mode: APP_MESH.parse(mode).expect("an App Mesh mode"), certificate: None, trust: None, subject_alternative_names: vec![] }
}

fn client_policy(enforce: bool) -> ClientPolicyTls {
    ClientPolicyTls { enforce, ports: vec![], certificate: None, trust: None, subject_alternative_names: vec![] }
}

#[test]
fn only_the_blocks_configured_are_managed_and_the_rest_is_left_as_it_is() {
    // The listener's TLS was set by Helm; this resource configures only the client policy.
    let policy = ClientPolicy {
        enforce: Attr::Known(true),
        ports: Attr::Null,
        subject_alternative_names: Attr::Null,
        trust: Some(TrustConfig::of(&TrustSource::File { certificate_chain: "/etc/keys/yelb-db/ca.crt".into() })),
        certificate: None,
    };
    let m = VirtualNodeTls { listener: None, client_policy: Some(policy), ..config() };
    let managed = m.managed();
    assert_eq!(managed, Managed { listener: false, client_policy: true });
    let current = NodeTls { listener: Some(listener("STRICT")), client_policy: None };
    let want = m.desired_tls();
    let written = to_write(&want, &current, &current, managed, Managed::default());
    assert_eq!(written.listener, Some(listener("STRICT")), "the app's listener TLS stays");
    assert!(written.client_policy.is_some(), "the managed client policy is written");
    // Drift is judged on the managed parts only: the app's listener is not "set but should not be".
    assert!(written.only(managed).differences(&want, &APP_MESH).is_empty());
    assert!(!current.only(Managed::default()).differences(&NodeTls::default(), &APP_MESH).iter().any(|d| d.contains("listener")));
}

#[test]
fn a_block_taken_out_or_destroy_puts_back_what_was_there_before() {
    let before = NodeTls { listener: Some(listener("PERMISSIVE")), client_policy: Some(client_policy(false)) };
    let current = NodeTls { listener: Some(listener("STRICT")), client_policy: Some(client_policy(true)) };
    let was = Managed { listener: true, client_policy: true };
    let now = Managed { listener: true, client_policy: false };
    let released = released(was, now);
    assert_eq!(released, Managed { listener: false, client_policy: true });
    let want = NodeTls { listener: Some(listener("STRICT")), client_policy: None };
    let written = to_write(&want, &current, &before, now, released);
    assert_eq!(written.client_policy, Some(client_policy(false)), "the client policy meshtls stops managing goes back");
    assert_eq!(written.listener, Some(listener("STRICT")));
    // Destroy: every managed part back to before; without a record, removed.
    assert_eq!(before.over(&current, was), before);
    assert_eq!(NodeTls::default().over(&current, now), NodeTls { listener: None, client_policy: Some(client_policy(true)) });
    // The record survives the trip through private state, and an empty one writes nothing.
    let record =
        Before { sides: BTreeMap::from([("cluster".to_string(), before.clone())]), mount: Some("a:/k".into()), ..Before::started() };
    assert_eq!(Before::decode(&record.encode()), record);
    assert!(Before::default().encode().is_empty(), "a state from before records stays without one");
    assert!(Before::decode(&Before::started().encode()).recorded, "a started record survives even while empty");
    assert_eq!(Before::decode(b"not json"), Before::default());
}
