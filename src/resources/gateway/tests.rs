//! The gateway's validation and plan decisions, and its mapping to and from the backends'
//! model, with no cluster.

use super::plan::MAX_ROUTES;
use super::*;
use crate::backends::model::TrustSource;

fn config() -> Gateway {
    Gateway {
        namespace: "yelb".into(),
        name: "yelb-gw".into(),
        port: Attr::Known(8443),
        tls_mode: "STRICT".into(),
        certificate_secret: "yelb-gw-tls".into(),
        envoy_image: DEFAULT_ENVOY_IMAGE.into(),
        replicas: Attr::Known(1),
        route: Some(vec![Route { prefix: "/".into(), virtual_service: "yelb-ui".into() }]),
        ..Default::default()
    }
}

fn planned(provider_mesh: Attr<String>, aws: bool) -> (Gateway, Diagnostics) {
    let mut planned = config();
    let d = plan(&config(), &mut planned, &provider_mesh, aws);
    (planned, d)
}

fn paths(d: &Diagnostics) -> Vec<String> {
    d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect()
}

#[test]
fn routes_are_bounded_by_app_meshs_quota() {
    let route = |i: usize| Route { prefix: format!("/r{i}").as_str().into(), virtual_service: "yelb-ui".into() };
    let at_quota = Gateway { route: Some((0..MAX_ROUTES).map(route).collect()), ..config() };
    assert!(validate(&at_quota).is_empty());
    let over = Gateway { route: Some((0..=MAX_ROUTES).map(route).collect()), ..config() };
    let d = validate(&over);
    assert_eq!(d.iter().map(|d| d.summary.as_str()).collect::<Vec<_>>(), ["Too many routes"]);
    assert_eq!(d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect::<Vec<_>>(), ["route"]);
}

#[test]
fn a_good_configuration_passes() {
    assert!(validate(&config()).is_empty());
    let unknown = Gateway { namespace: Attr::Unknown, name: Attr::Unknown, port: Attr::Unknown, route: None, ..config() };
    assert!(validate(&unknown).is_empty());
}

#[test]
fn each_bad_value_is_reported_at_its_attribute() {
    let bad = Gateway {
        namespace: "Yelb".into(),
        name: "yelb_gw".into(),
        certificate_secret: "Bad Secret".into(),
        tls_mode: "strict".into(),
        port: Attr::Known(70000),
        replicas: Attr::Known(1001),
        route: Some(vec![
            Route { prefix: "/".into(), virtual_service: "ui".into() },
            Route { prefix: "api".into(), virtual_service: "x".into() },
        ]),
        ..config()
    };
    let refused = |c: &Gateway| crate::resources::refusals(TYPE_NAME, c, &validate(c));
    assert_eq!(refused(&bad), ["namespace", "tls_mode", "certificate_secret", "replicas", "name", "port", "route[1].prefix"]);
    assert!(refused(&Gateway { replicas: Attr::Known(0), ..config() }).is_empty(), "zero replicas is a scale-down");
    assert_eq!(refused(&Gateway { replicas: Attr::Known(-1), ..config() }), ["replicas"]);
}

#[test]
fn the_mesh_comes_from_the_provider_and_is_needed_only_with_aws() {
    let (p, d) = planned("yelb".into(), true);
    assert!(d.is_empty());
    assert_eq!(p.mesh_name, Attr::Known("yelb".into()));
    let (p, d) = planned(Attr::Unknown, true);
    assert!(d.is_empty());
    assert_eq!(p.mesh_name, Attr::Unknown, "known once the provider's mesh is");
    let (_, d) = planned(Attr::Null, true);
    assert_eq!(paths(&d), ["mesh_name"]);
    let (p, d) = planned(Attr::Null, false);
    assert!(d.is_empty(), "the cluster side needs no mesh");
    assert_eq!(p.mesh_name, Attr::Null);
    assert_eq!(p.api_status, Attr::from(SideStatus::NotManaged));
    // A mesh set on the resource wins.
    let own = Gateway { mesh_name: "other".into(), ..config() };
    let mut p = own.clone();
    assert!(plan(&own, &mut p, &"yelb".into(), true).is_empty());
    assert_eq!(p.mesh_name, Attr::Known("other".into()));
}

#[test]
fn names_and_paths_default_from_the_gateway_name() {
    let (p, _) = planned("yelb".into(), true);
    assert_eq!(p.aws_name, Attr::Known("yelb-gw_yelb".into()), "as the App Mesh controller names it");
    assert_eq!(p.mount_path, Attr::Known("/etc/keys/yelb-gw".into()));
    assert_eq!(p.id, Attr::Known("yelb/yelb-gw".into()));
    assert_eq!((p.cluster_status, p.api_status), (Attr::from(SideStatus::InSync), Attr::from(SideStatus::InSync)));
    let set = Gateway { aws_name: "gw".into(), mount_path: "/keys".into(), ..config() };
    let mut p = set.clone();
    plan(&set, &mut p, &"yelb".into(), true);
    assert_eq!((p.aws_name, p.mount_path), (Attr::Known("gw".into()), Attr::Known("/keys".into())));
    let unknown = Gateway { name: Attr::Unknown, ..config() };
    let mut p = unknown.clone();
    plan(&unknown, &mut p, &"yelb".into(), true);
    assert_eq!((p.aws_name, p.mount_path, p.id), (Attr::Unknown, Attr::Unknown, Attr::Unknown));
}

#[test]
fn the_spec_serves_the_mounted_secret_and_names_routes_by_position() {
    let (p, _) = planned("yelb".into(), true);
    let with_policy = Gateway {
        client_policy: Some(ClientPolicy {
            enforce: Attr::Null,
            trust: Some(TrustConfig::of(&TrustSource::File { certificate_chain: "/etc/keys/yelb-gw/ca.crt".into() })),
        }),
        ..p
    };
    let spec = spec_of(&with_policy).expect("known");
    assert_eq!(
        spec.listener.certificate,
        Some(CertificateSource::File {
            certificate_chain: "/etc/keys/yelb-gw/tls.crt".into(),
            private_key: "/etc/keys/yelb-gw/tls.key".into()
        })
    );
    assert_eq!(spec.routes[0].name, "yelb-gw-route-0");
    let policy = spec.client_policy.expect("client policy");
    assert!(policy.enforce, "enforced unless set false");
    assert_eq!(policy.trust, Some(TrustSource::File { certificate_chain: "/etc/keys/yelb-gw/ca.crt".into() }));
    assert_eq!(spec_of(&config()), None, "aws_name and mount_path are not known before the plan");
}

#[test]
fn an_imported_gateway_describes_the_same_spec() {
    let (p, _) = planned("yelb".into(), true);
    let spec = spec_of(&p).expect("known");
    let state = imported(&spec, Some("yelb".into()), true);
    assert_eq!(spec_of(&state), Some(spec.clone()));
    assert_eq!(state.id, Attr::Known("yelb/yelb-gw".into()));
    assert_eq!(imported(&spec, None, false).api_status, Attr::from(SideStatus::NotManaged));
}

#[test]
fn a_listed_gateway_shows_each_side_and_whether_they_agree() {
    use list::{found, ApiSeen};
    let (p, _) = planned("yelb".into(), true);
    let spec = spec_of(&p).expect("known");
    let agree = found(&spec, true, Some("yelb".into()), &ApiSeen::Tls(Some(spec.listener.clone())));
    assert_eq!(
        agree.display_name,
        format!("yelb/yelb-gw ({}): cluster STRICT, App Mesh STRICT; the sides agree (managed by meshtls)", spec.aws_name)
    );
    assert_eq!(agree.resource, imported(&spec, Some("yelb".into()), true));
    let disabled = ListenerTls { mode: TlsMode::Off, ..spec.listener.clone() };
    let differ = found(&spec, false, Some("yelb".into()), &ApiSeen::Tls(Some(disabled)));
    assert!(differ.display_name.ends_with("cluster STRICT, App Mesh DISABLED; the sides differ"), "{}", differ.display_name);
    assert!(differ.resource.api_status.as_deref().is_some_and(|s| s.starts_with("drifted: ")));
    let absent = found(&spec, false, Some("yelb".into()), &ApiSeen::Absent);
    assert!(absent.display_name.contains("App Mesh absent"));
    assert_eq!(found(&spec, false, None, &ApiSeen::NotRead).resource.api_status, Attr::from(SideStatus::NotManaged));
}
