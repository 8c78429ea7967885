//! The steps of docs/guides/leaving-app-mesh.md, run: the App Mesh Yelb (examples/yelb)
//! applied, its CA plugged into a real istiod in place, STRICT written for the namespace
//! before any workload is enrolled, the configuration switched to examples/yelb-istio with
//! the guide's `moved` blocks (MoveResourceState across types), the App Mesh leftovers
//! removed, the gateway moved to the NLB's port. Between every two steps a probe asserts that
//! Istio enforces STRICT on every Yelb workload. No certificate is re-issued: every
//! fingerprint is the same at the end, and the last plan is empty.

use std::path::Path;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::istio::{self, Istiod};
use meshtls_acceptance_tests::yelb::{fixture, renamed, rewrite};
use meshtls_acceptance_tests::{repo_root, wait, CliKind, Workspace};

/// The first `terraform` block of the guide's section whose heading starts with `heading`.
fn guide_block(heading: &str) -> String {
    let guide = std::fs::read_to_string(repo_root().join("docs/guides/leaving-app-mesh.md")).expect("the guide");
    let section = guide.split("\n## ").find(|s| s.starts_with(heading)).unwrap_or_else(|| panic!("the guide has a section {heading:?}"));
    let block = section.split("```terraform\n").nth(1).and_then(|b| b.split("```").next());
    block.unwrap_or_else(|| panic!("the guide's {heading:?} has a terraform block")).to_string()
}

/// The guide's step 1: the CA also written as istiod's plug-in CA.
const PLUG_IN: &str = "  cert_manager_issuer {\n    kind = \"Issuer\"\n    name = \"ca-issuer\"\n  }\n\n  istio_plugin {\n    namespace = \"istio-system\"\n  }\n}";

/// The probe between steps: what Istio enforces on each Yelb workload, as meshtls works it
/// out from every PeerAuthentication that applies (a refresh, then every
/// `meshtls_istio_mtls`'s `effective_modes`). Ok when each is STRICT; else which is not.
fn strict_everywhere(ws: &Workspace) -> Result<(), String> {
    ws.ok(&["refresh", "-input=false"]);
    let state: serde_json::Value = serde_json::from_str(&ws.state_json()).expect("state");
    let mut modes = std::collections::BTreeMap::new();
    for resource in state["resources"].as_array().into_iter().flatten().filter(|r| r["type"] == "meshtls_istio_mtls") {
        for instance in resource["instances"].as_array().into_iter().flatten() {
            for (workload, mode) in instance["attributes"]["effective_modes"].as_object().into_iter().flatten() {
                modes.insert(workload.clone(), mode.as_str().unwrap_or_default().to_string());
            }
        }
    }
    let weaker: Vec<String> = ["yelb-ui", "yelb-appserver", "yelb-db", "redis-server"]
        .iter()
        .map(|w| format!("Deployment/{w}"))
        .filter_map(|w| match modes.get(&w) {
            Some(mode) if mode.starts_with("STRICT") && !mode.contains(", port") => None,
            Some(mode) => Some(format!("{w}: {mode}")),
            None => Some(format!("{w}: no policy")),
        })
        .collect();
    if weaker.is_empty() {
        Ok(())
    } else {
        Err(weaker.join("; "))
    }
}

fn fingerprints(ws: &Workspace) -> serde_json::Value {
    serde_json::from_str(&ws.ok(&["output", "-json", "certificates"]).stdout).expect("certificates output")
}

fn migrate(cli: CliKind) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    // A namespace of this run's own, so nothing an interrupted run left is in the way.
    let ns = cluster.fresh_namespace(&format!("mig-{}", cli.name()));
    fixture(&ns);

    // Before: the App Mesh runbook, applied.
    let ws = Workspace::from_tree(cli, &repo_root().join("examples"), Path::new("yelb"));
    let tree = ws.path().parent().expect("the examples tree").to_path_buf();
    rewrite(&tree.join("yelb/main.tf"), &ns);
    rewrite(&tree.join("yelb-istio/main.tf"), &ns);
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let before = fingerprints(&ws);
    assert_eq!(before.as_object().map(|o| o.len()), Some(5), "four services and the gateway: {before}");

    // Step 1: the same CA, plugged into Istio in place.
    let main_tf = ws.path().join("main.tf");
    let text = std::fs::read_to_string(&main_tf).expect("main.tf");
    let plugged = text.replacen("  cert_manager_issuer {\n    kind = \"Issuer\"\n    name = \"ca-issuer\"\n  }\n}", PLUG_IN, 1);
    assert_ne!(plugged, text, "the CA block is where the guide says");
    std::fs::write(&main_tf, plugged).expect("main.tf");
    let (changes, plan) = ws.plan_has_changes();
    assert!(
        changes && plan.text().contains("0 to add, 1 to change, 0 to destroy"),
        "{}: step 1 changes the CA in place:\n{}",
        cli.name(),
        plan.text()
    );
    ws.apply();
    let ca = cluster.secret_text(&ns, "ca-key-pair", "ca.crt").expect("the CA");
    let plug_in = cluster.secret_text("istio-system", "cacerts", "tls.crt").expect("istio-system/cacerts");
    assert_eq!(plug_in.trim(), ca.trim(), "istiod's plug-in CA is the App Mesh CA");
    let istiod = Istiod::start(&turn);
    assert!(istiod.log().contains("Use local CA certificate"), "istiod signs with the plug-in CA");
    // The probe's positive control: nothing in Istio covers the workloads yet.
    assert!(strict_everywhere(&ws).is_err(), "{}: before step 2 no policy covers Yelb", cli.name());

    // Step 2: STRICT for the namespace before any workload has a sidecar, from the guide's
    // block. The plan names the workloads it cannot cover yet.
    let strict = guide_block("Step 2");
    assert!(
        std::fs::read_to_string(tree.join("yelb-istio/main.tf")).expect("yelb-istio").contains(&renamed(&strict, &ns)),
        "the guide's policy is the example's"
    );
    std::fs::write(ws.path().join("strict.tf"), renamed(&strict, &ns)).expect("strict.tf");
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(
        changes
            && text.contains("1 to add, 0 to change, 0 to destroy")
            && text.contains("without a sidecar")
            && text.contains(&format!("Deployment {ns}/yelb-db")),
        "{}: step 2 adds the policy and names the workloads not enrolled yet:\n{text}",
        cli.name()
    );
    ws.apply();
    istiod.wait_for_config("PeerAuthentication", &ns, "default", |c| c["spec"]["mtls"]["mode"] == "STRICT");
    strict_everywhere(&ws).unwrap_or_else(|e| panic!("{}: after step 2: {e}", cli.name()));

    // Step 3: the workloads enrolled in Istio (the namespace labelled; the pods rolled).
    cluster.label_namespace(&ns, "istio-injection", Some("enabled"));
    strict_everywhere(&ws).unwrap_or_else(|e| panic!("{}: after step 3: {e}", cli.name()));

    // Step 4: the Istio configuration, with the guide's moved blocks. The namespace policy
    // is in examples/yelb-istio at the same address.
    std::fs::remove_file(ws.path().join("strict.tf")).expect("strict.tf");
    std::fs::write(&main_tf, std::fs::read_to_string(tree.join("yelb-istio/main.tf")).expect("yelb-istio")).expect("main.tf");
    std::fs::write(ws.path().join("moved.tf"), guide_block("Step 4")).expect("moved.tf");
    // The guide's step 4: the App Mesh gateway's port, kept while both gateways take traffic.
    std::fs::write(ws.path().join("terraform.tfvars"), "gateway_port = 8443\n").expect("terraform.tfvars");
    ws.ok(&["init", "-input=false"]);
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes, "{}: the move plans the Istio objects", cli.name());
    assert!(
        text.contains("0 to destroy") && !text.contains("must be replaced"),
        "{}: nothing is destroyed or replaced:\n{text}",
        cli.name()
    );
    assert!(text.contains("(moved from module.mesh_tls.meshtls_virtual_node_tls.svc[\"ui\"])"), "{text}");
    assert!(text.contains("(moved from meshtls_gateway.yelb)"), "{text}");
    for certificate in ["svc[\"ui\"]", "svc[\"app\"]", "svc[\"db\"]", "svc[\"redis\"]", "gateway"] {
        assert!(!text.contains(&format!("meshtls_certificate.{certificate} will be")), "{certificate} must stay as it is:\n{text}");
    }
    assert!(!text.contains("without a sidecar"), "every workload is enrolled:\n{text}");
    assert!(!text.contains("meshtls_istio_mtls.namespace will be"), "{}: step 2's policy stays as it is:\n{text}", cli.name());
    ws.apply();
    assert_eq!(fingerprints(&ws), before, "{}: no certificate was re-issued", cli.name());
    strict_everywhere(&ws).unwrap_or_else(|e| panic!("{}: after step 4: {e}", cli.name()));

    // Istio holds it all: a STRICT policy per service and the gateway, behind the same NLB.
    for service in ["yelb-ui", "yelb-appserver", "yelb-db", "redis-server"] {
        istiod.wait_for_config("PeerAuthentication", &ns, service, |c| c["spec"]["mtls"]["mode"] == "STRICT");
        istiod.wait_for_config("DestinationRule", &ns, service, |c| c["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL");
    }
    wait::until("istiod to accept the Istio gateway", std::time::Duration::from_secs(60), || {
        let g = cluster.object("gateway.networking.k8s.io", "v1", "Gateway", Some(&ns), "yelb-gw")?;
        g["status"]["conditions"].as_array()?.iter().any(|c| c["type"] == "Accepted" && c["status"] == "True").then_some(())
    });
    let gateway_pods = wait::until("istiod's gateway Deployment", std::time::Duration::from_secs(60), || {
        cluster.object("apps", "v1", "Deployment", Some(&ns), "yelb-gw-istio")
    })["spec"]["template"]["metadata"]["labels"]
        .clone();
    let nlb = cluster.object("", "v1", "Service", Some(&ns), "yelb-gw").expect("the NLB Service");
    assert_eq!(nlb["spec"]["selector"]["app"], gateway_pods["app"], "the same NLB Service now fronts the Istio gateway");

    // Step 5: what App Mesh leaves behind, removed as the guide says.
    for (kind, name) in [("VirtualGateway", "yelb-gw"), ("GatewayRoute", "yelb-gw-route-0")] {
        cluster.delete_object("appmesh.k8s.aws", "v1beta2", kind, Some(&ns), name);
    }
    cluster.delete_object("apps", "v1", "Deployment", Some(&ns), "yelb-gw");
    strict_everywhere(&ws).unwrap_or_else(|e| panic!("{}: after step 5: {e}", cli.name()));
    let (changes, plan) = ws.plan_has_changes();
    assert!(!changes, "{}: after the move, the plan is empty:\n{}", cli.name(), plan.text());
    assert!(cluster.secret_text(&ns, "ca-key-pair", "tls.crt").is_some_and(|c| c.trim() == ca.trim()), "the same CA throughout");

    // Step 6: the gateway on the NLB's port, in place; Istio's analyzer then has nothing to say.
    let nlb = cluster.object("", "v1", "Service", Some(&ns), "yelb-gw").expect("the NLB Service");
    assert_eq!(nlb["spec"]["ports"][0]["targetPort"], 8443, "the App Mesh gateway's port until step 6");
    std::fs::remove_file(ws.path().join("terraform.tfvars")).expect("terraform.tfvars");
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes && text.contains("0 to add, 2 to change, 0 to destroy"), "{}: step 6 changes two ports in place:\n{text}", cli.name());
    ws.apply();
    let nlb = cluster.object("", "v1", "Service", Some(&ns), "yelb-gw").expect("the NLB Service");
    assert_eq!(nlb["spec"]["ports"][0]["targetPort"], 443);
    strict_everywhere(&ws).unwrap_or_else(|e| panic!("{}: after step 6: {e}", cli.name()));
    wait::until("istiod's gateway Service on 443", std::time::Duration::from_secs(60), || {
        let svc = cluster.object("", "v1", "Service", Some(&ns), "yelb-gw-istio")?;
        svc["spec"]["ports"].as_array()?.iter().any(|p| p["port"] == 443).then_some(())
    });
    if let Err(problems) = istio::analyzed_clean(&ns, std::time::Duration::from_secs(60)) {
        panic!("{}: istioctl analyze after step 6:\n{}", cli.name(), problems.join("\n"));
    }

    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret("istio-system", "cacerts").is_none(), "the plug-in copy goes with the CA");
    drop(istiod);
    cluster.label_namespace(&ns, "istio-injection", None);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn leaving_app_mesh_with_opentofu() {
    migrate(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn leaving_app_mesh_with_terraform() {
    migrate(CliKind::TerraformCurrent);
}

#[test]
fn the_rename_follows_the_fixture() {
    let text = "resource \"meshtls_ca\" \"yelb\" {\nnamespace = \"yelb\"\naws_name = \"yelb-ui_yelb\"\nhostname = \"yelb-ui.yelb.svc.cluster.local\"\nsecret_name = \"yelb-gw-tls\"";
    let out = renamed(text, "mig-x");
    assert_eq!(out, "resource \"meshtls_ca\" \"yelb\" {\nnamespace = \"mig-x\"\naws_name = \"yelb-ui_mig-x\"\nhostname = \"yelb-ui.mig-x.svc.cluster.local\"\nsecret_name = \"yelb-gw-tls\"");
}
