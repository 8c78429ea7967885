//! examples/yelb-istio through its whole life on a real istiod, as yelb.rs takes examples/yelb
//! through App Mesh's: from the fixture alone, apply; a no-op plan; drift on every kind of
//! object it writes, shown in one plan and repaired by one apply; a policy imported back
//! after `state rm`; `istioctl analyze` with nothing to say; and a destroy that leaves exactly
//! what was there before (every object of every kind it touches, compared by name and
//! content).

use std::path::Path;
use std::time::Duration;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::istio::{self, Istiod};
use meshtls_acceptance_tests::yelb::{fixture, rewrite};
use meshtls_acceptance_tests::{repo_root, wait, CliKind, Workspace};
use serde_json::json;

const SERVICES: [&str; 4] = ["yelb-ui", "yelb-appserver", "yelb-db", "redis-server"];
const KINDS: [(&str, &str, &str); 10] = [
    ("", "v1", "Secret"),
    ("", "v1", "ConfigMap"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("apps", "v1", "Deployment"),
    ("cert-manager.io", "v1", "Issuer"),
    ("security.istio.io", "v1", "PeerAuthentication"),
    ("networking.istio.io", "v1", "DestinationRule"),
    ("gateway.networking.k8s.io", "v1", "Gateway"),
    ("gateway.networking.k8s.io", "v1", "HTTPRoute"),
];

/// Every object of the kinds meshtls writes in `ns` (and the namespace's labels), without
/// what the API server and istiod keep changing, and without istiod's own objects: those
/// belong to a Gateway, and with no garbage collector running here they outlive it.
fn snapshot(cluster: &Cluster, ns: &str) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (g, v, k) in KINDS {
        for mut o in cluster.objects(g, v, k, ns) {
            let name = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
            // istiod writes its root and its CRL into every namespace.
            if o["metadata"]["ownerReferences"].is_array() || name == "istio-ca-root-cert" || name == "istio-ca-crl" {
                continue;
            }
            if let Some(meta) = o["metadata"].as_object_mut() {
                for volatile in ["resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"] {
                    meta.remove(volatile);
                }
            }
            if let Some(obj) = o.as_object_mut() {
                obj.remove("status");
            }
            out.insert(format!("{k}/{name}"), o);
        }
    }
    let namespace = cluster.object("", "v1", "Namespace", None, ns).expect("namespace");
    out.insert("namespace-labels".into(), namespace["metadata"]["labels"].clone());
    serde_json::Value::Object(out)
}

fn lifecycle(cli: CliKind) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    let ns = cluster.fresh_namespace(&format!("yelb-istio-{}", cli.name()));
    fixture(&ns);
    cluster.label_namespace(&ns, "istio-injection", Some("enabled"));
    let before = snapshot(&cluster, &ns);
    let cacerts_before = cluster.secret("istio-system", "cacerts");
    assert!(cacerts_before.is_none(), "no plug-in CA is left from another scenario");

    let ws = Workspace::from_tree(cli, &repo_root().join("examples"), Path::new("yelb-istio"));
    let tree = ws.path().parent().expect("the examples tree").to_path_buf();
    rewrite(&tree.join("yelb-istio/main.tf"), &ns);
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    assert!(!ws.plan_has_changes().0, "{}: a plan right after apply must be empty", cli.name());

    // istiod, with the example's CA plugged in, holds every policy.
    let istiod = Istiod::start(&turn);
    for service in SERVICES {
        istiod.wait_for_config("PeerAuthentication", &ns, service, |c| c["spec"]["mtls"]["mode"] == "STRICT");
        istiod.wait_for_config("DestinationRule", &ns, service, |c| c["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL");
    }
    istiod.wait_for_config("PeerAuthentication", &ns, "default", |c| c["spec"]["mtls"]["mode"] == "STRICT");
    wait::until("istiod's gateway Service", Duration::from_secs(60), || cluster.object("", "v1", "Service", Some(&ns), "yelb-gw-istio"));
    if let Err(problems) = istio::analyzed_clean(&ns, Duration::from_secs(60)) {
        panic!("{}: istioctl analyze:\n{}", cli.name(), problems.join("\n"));
    }

    // Drift on every kind, all at once: one plan names each, one apply repairs them all.
    let (pa, dr, gw) = (
        ("security.istio.io", "v1", "PeerAuthentication"),
        ("networking.istio.io", "v1", "DestinationRule"),
        ("gateway.networking.k8s.io", "v1", "Gateway"),
    );
    cluster.merge_patch_object(pa.0, pa.1, pa.2, Some(&ns), "yelb-ui", json!({ "spec": { "mtls": { "mode": "PERMISSIVE" } } }));
    cluster.delete_object(dr.0, dr.1, dr.2, Some(&ns), "yelb-db");
    let mut gateway = cluster.object(gw.0, gw.1, gw.2, Some(&ns), "yelb-gw").expect("Gateway");
    gateway["spec"]["listeners"][0]["port"] = json!(9443);
    cluster.merge_patch_object(gw.0, gw.1, gw.2, Some(&ns), "yelb-gw", json!({ "spec": { "listeners": gateway["spec"]["listeners"] } }));
    cluster.merge_patch_object(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        Some(&ns),
        "yelb-gw",
        json!({ "spec": { "rules": [{ "backendRefs": [{ "name": "elsewhere", "port": 80 }] }] } }),
    );
    cluster.delete_object("", "v1", "Service", Some(&ns), "yelb-gw");
    cluster.delete_secret(&ns, "yelb-appserver-tls");
    cluster.set_secret_key("istio-system", "cacerts", "ca.crt", "not the CA");
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes, "{}: drift must show", cli.name());
    for shown in [
        "listener TLS mode is PERMISSIVE (want STRICT)",
        "client policy TLS is missing",
        "HTTPS:9443",
        "elsewhere:80",
        "meshtls_nlb_service.yelb will be created",
        "module.mesh_tls.meshtls_certificate.svc[\"app\"] will be updated in-place",
        "meshtls_ca.yelb will be updated in-place",
    ] {
        assert!(text.contains(shown), "{}: the plan must show {shown:?}:\n{text}", cli.name());
    }
    ws.apply();
    assert!(!ws.plan_has_changes().0, "{}: repaired", cli.name());
    istiod.wait_for_config("PeerAuthentication", &ns, "yelb-ui", |c| c["spec"]["mtls"]["mode"] == "STRICT");
    istiod.wait_for_config("DestinationRule", &ns, "yelb-db", |c| c["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL");
    let ca = cluster.secret_text(&ns, "ca-key-pair", "tls.crt").expect("the CA");
    assert_eq!(cluster.secret_text("istio-system", "cacerts", "ca.crt").map(|c| c.trim().to_string()), Some(ca.trim().to_string()));
    assert!(cluster.secret_text(&ns, "yelb-appserver-tls", "tls.crt").is_some(), "the certificate is issued again");

    // Import: a policy dropped from state is taken back, and the plan is empty again.
    let address = "module.mesh_tls.meshtls_istio_mtls.svc[\"db\"]";
    ws.ok(&["state", "rm", address]);
    ws.ok(&["import", "-input=false", address, &format!("{ns}/yelb-db")]);
    ws.apply();
    assert!(!ws.plan_has_changes().0, "{}: after import and apply, nothing to change", cli.name());

    ws.assert_nothing_orphaned(&cluster, &ns);
    ws.assert_no_key_material();
    drop(istiod);
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    let after = snapshot(&cluster, &ns);
    if after != before {
        let keys = |v: &serde_json::Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        panic!("{}: destroy must leave exactly what was there before: before {:?}, after {:?}", cli.name(), keys(&before), keys(&after));
    }
    assert!(cluster.secret("istio-system", "cacerts").is_none(), "{}: the plug-in copy goes with the CA", cli.name());
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn yelb_on_istio_with_opentofu() {
    lifecycle(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn yelb_on_istio_with_terraform() {
    lifecycle(CliKind::TerraformCurrent);
}
