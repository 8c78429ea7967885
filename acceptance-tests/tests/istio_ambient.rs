//! Ambient mode on a real istiod (`PILOT_ENABLE_AMBIENT`): examples/yelb-istio with
//! `dataplane_mode = "ambient"` in a namespace labelled `istio.io/dataplane-mode=ambient`.
//! - Plan of the sidecar variant there warns that its DestinationRules do nothing without a
//!   waypoint (the control); the ambient variant writes none and plans with no such warning.
//! - istiod derives ztunnel's view from the Pods (no kubelet runs here: each Pod's IP is
//!   reported through `pods/status`, as a kubelet would, with ambient's redirection
//!   annotation as the CNI plugin writes it). /debug/ambientz shows every Yelb workload, and
//!   STRICT reaches each as istiod's converted static STRICT policy, which ztunnel enforces.
//! - istiod logs no warning or error about the namespace, and `istioctl analyze` finds nothing.

use std::path::Path;
use std::time::Duration;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::istio::{self, Install, Istiod};
use meshtls_acceptance_tests::yelb::{fixture, rewrite};
use meshtls_acceptance_tests::{repo_root, wait, CliKind, Workspace};
use serde_json::json;

const WORKLOADS: [&str; 4] = ["yelb-ui", "yelb-appserver", "yelb-db", "redis-server"];
/// The policy istiod derives for ztunnel from a STRICT PeerAuthentication.
const STATIC_STRICT: &str = "istio-system/istio_converted_static_strict";

/// A running Pod of each Yelb Deployment, as the kubelet would report it.
fn pods(cluster: &Cluster, ns: &str) {
    // No controller-manager makes the namespace's default ServiceAccount.
    cluster.apply_object(json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "default", "namespace": ns } }));
    for (i, name) in WORKLOADS.iter().enumerate() {
        let deployment = cluster.object("apps", "v1", "Deployment", Some(ns), name).expect("the fixture's Deployment");
        let template = &deployment["spec"]["template"];
        let pod = format!("{name}-0");
        cluster.apply_object(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": pod, "namespace": ns,
                "labels": template["metadata"]["labels"],
                // What istio-cni writes once it has redirected the pod's traffic to ztunnel.
                "annotations": { "ambient.istio.io/redirection": "enabled" }
            },
            "spec": template["spec"],
        }));
        let ip = format!("10.244.7.{}", 10 + i);
        cluster.report_pod_status(
            ns,
            &pod,
            json!({ "phase": "Running", "podIP": ip, "podIPs": [{ "ip": ip }], "conditions": [{ "type": "Ready", "status": "True" }] }),
        );
    }
}

/// Whether ambientz shows istiod's static STRICT policy on workload `w`.
fn strict(w: &serde_json::Value) -> bool {
    w["authorizationPolicies"].as_array().is_some_and(|p| p.iter().any(|p| p.as_str() == Some(STATIC_STRICT)))
}

/// ambientz's workloads in `ns`, by name.
fn ambient_workloads(istiod: &Istiod, ns: &str) -> Option<Vec<serde_json::Value>> {
    let view = istiod.ambientz().ok()?;
    let workloads = view["workloads"].as_array()?;
    Some(workloads.iter().filter(|w| w["namespace"] == ns).cloned().collect())
}

fn scenario(cli: CliKind) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    let ns = cluster.fresh_namespace(&format!("ambient-{}", cli.name()));
    fixture(&ns);
    cluster.label_namespace(&ns, "istio.io/dataplane-mode", Some("ambient"));

    let ws = Workspace::from_tree(cli, &repo_root().join("examples"), Path::new("yelb-istio"));
    let tree = ws.path().parent().expect("the examples tree").to_path_buf();
    rewrite(&tree.join("yelb-istio/main.tf"), &ns);
    rewrite(&tree.join("modules/mesh-tls-istio/main.tf"), &ns);
    ws.ok(&["init", "-input=false"]);

    // The sidecar variant, here: its DestinationRules would do nothing, and plan says so.
    let (_, plan) = ws.ok_plan(&["-var", "dataplane_mode=sidecar"]);
    let text = plan.text();
    assert!(
        text.contains("A DestinationRule does nothing in ambient mode without a waypoint")
            && text.contains(&format!("ztunnel serves Deployment {ns}/")),
        "{}: the control must warn:\n{text}",
        cli.name()
    );
    // The ambient variant: no DestinationRule, nothing to warn about, every workload served.
    std::fs::write(ws.path().join("terraform.tfvars"), "dataplane_mode = \"ambient\"\n").expect("tfvars");
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes, "{text}");
    assert!(!text.contains("DestinationRule does nothing") && !text.contains("without a sidecar"), "{}: {text}", cli.name());
    ws.apply();
    assert!(!ws.plan_has_changes().0, "{}: a plan right after apply must be empty", cli.name());
    for name in WORKLOADS {
        assert!(cluster.object("networking.istio.io", "v1", "DestinationRule", Some(&ns), name).is_none(), "no DestinationRule {name}");
        let pa = cluster.object("security.istio.io", "v1", "PeerAuthentication", Some(&ns), name).expect("PeerAuthentication");
        assert_eq!(pa["spec"]["mtls"]["mode"], "STRICT");
    }

    // istiod with ambient on, signing with the example's CA, and the pods ztunnel would serve.
    let istiod = Istiod::install(&turn, &Install { ambient: true, ..Default::default() });
    pods(&cluster, &ns);
    let workloads = wait::until("istiod to derive ztunnel's view of Yelb with STRICT", Duration::from_secs(60), || {
        let workloads = ambient_workloads(&istiod, &ns)?;
        (workloads.len() == WORKLOADS.len() && workloads.iter().all(strict)).then_some(workloads)
    });
    for w in &workloads {
        assert_eq!(w["trustDomain"].as_str().unwrap_or("cluster.local"), "cluster.local", "{w}");
    }
    if let Err(problems) = istio::analyzed_clean(&ns, Duration::from_secs(60)) {
        panic!("{}: istioctl analyze:\n{}", cli.name(), problems.join("\n"));
    }
    let complaints = istiod.complaints_about(&[&ns]);
    assert!(complaints.is_empty(), "{}: istiod complains about the ambient namespace:\n{}", cli.name(), complaints.join("\n"));

    // PERMISSIVE on one service: istiod drops the static STRICT policy from its workload only.
    let (g, v, k) = ("security.istio.io", "v1", "PeerAuthentication");
    cluster.merge_patch_object(g, v, k, Some(&ns), "yelb-db", json!({ "spec": { "mtls": { "mode": "PERMISSIVE" } } }));
    wait::until("istiod to drop STRICT from yelb-db's workload", Duration::from_secs(60), || {
        let workloads = ambient_workloads(&istiod, &ns)?;
        let db = workloads.iter().find(|w| w["name"] == "yelb-db-0")?;
        (!strict(db)).then_some(())
    });
    let (changes, plan) = ws.plan_has_changes();
    assert!(changes && plan.text().contains("PERMISSIVE"), "{}: a weakened policy is drift:\n{}", cli.name(), plan.text());
    ws.apply();
    wait::until("istiod to enforce STRICT on yelb-db again", Duration::from_secs(60), || {
        let workloads = ambient_workloads(&istiod, &ns)?;
        let db = workloads.iter().find(|w| w["name"] == "yelb-db-0")?;
        strict(db).then_some(())
    });

    drop(istiod);
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    ws.assert_nothing_orphaned(&cluster, &ns);
    ws.assert_no_key_material();
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn ambient_with_opentofu() {
    scenario(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn ambient_with_terraform() {
    scenario(CliKind::TerraformCurrent);
}
