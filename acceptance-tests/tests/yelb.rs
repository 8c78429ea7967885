//! The whole runbook as one configuration: examples/yelb (which uses the mesh-tls module)
//! applied to the Yelb fixture with each CLI, then destroyed, leaving only the fixture.

use std::process::Command;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::identity::Identity;
use meshtls_acceptance_tests::{appmesh, env, repo_root, CliKind, Workspace};

const NODES: [(&str, &str); 4] = [
    ("yelb-ui", "yelb-ui_yelb"),
    ("yelb-appserver", "yelb-appserver_yelb"),
    ("yelb-db", "yelb-db_yelb"),
    ("redis-server", "redis-server_yelb"),
];

fn apply_fixture() {
    let status = Command::new(repo_root().join("examples/yelb/fixture/apply.sh"))
        .env("AWS_DEFAULT_REGION", env("AWS_REGION"))
        .status()
        .expect("fixture");
    assert!(status.success(), "the Yelb fixture must apply");
}

/// examples/yelb with the module beside it, as `../modules/mesh-tls` expects.
fn workspace(cli: CliKind) -> Workspace {
    Workspace::from_tree(cli, &repo_root().join("examples"), std::path::Path::new("yelb"))
}

/// Everything the fixture made that meshtls touches, to compare before and after.
fn snapshot(cluster: &Cluster) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (k8s, aws) in NODES {
        out.insert(
            format!("cluster/{k8s}"),
            cluster.object("appmesh.k8s.aws", "v1beta2", "VirtualNode", Some("yelb"), k8s).expect("VirtualNode")["spec"].clone(),
        );
        out.insert(format!("api/{aws}"), appmesh::node_spec("yelb", aws));
        out.insert(
            format!("pods/{k8s}"),
            cluster.object("apps", "v1", "Deployment", Some("yelb"), k8s).expect("Deployment")["spec"]["template"]["metadata"].clone(),
        );
    }
    let ns = cluster.object("", "v1", "Namespace", None, "yelb").expect("namespace");
    out.insert("namespace-labels".into(), ns["metadata"]["labels"].clone());
    serde_json::Value::Object(out)
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn yelb_walkthrough_applies_and_leaves_only_the_fixture() {
    let cluster = Cluster::connect();
    apply_fixture();
    let before = snapshot(&cluster);
    // One CLI after the other: the example's names are fixed, as a user's would be.
    for cli in CliKind::ALL {
        let ws = workspace(cli);
        ws.ok(&["init", "-input=false"]);
        ws.ok(&["validate"]);
        ws.apply();
        assert!(!ws.plan_has_changes().0, "{}: second plan must be empty", cli.name());

        for (k8s, aws) in NODES {
            let vn = cluster.object("appmesh.k8s.aws", "v1beta2", "VirtualNode", Some("yelb"), k8s).expect("VirtualNode");
            assert_eq!(vn["spec"]["listeners"][0]["tls"]["mode"], "STRICT", "{k8s} on the cluster");
            assert_eq!(appmesh::node_spec("yelb", aws)["listeners"][0]["tls"]["mode"], "STRICT", "{aws} in the App Mesh API");
        }
        let gw = cluster.object("appmesh.k8s.aws", "v1beta2", "VirtualGateway", Some("yelb"), "yelb-gw").expect("VirtualGateway");
        assert_eq!(gw["spec"]["listeners"][0]["tls"]["mode"], "STRICT");
        assert_eq!(gw["spec"]["listeners"][0]["portMapping"]["port"], 8443);
        assert!(cluster.object("appmesh.k8s.aws", "v1beta2", "GatewayRoute", Some("yelb"), "yelb-gw-route-0").is_some());
        let deploy = cluster.object("apps", "v1", "Deployment", Some("yelb"), "yelb-gw").expect("gateway Deployment");
        assert_eq!(deploy["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"], "yelb-gw-tls");
        assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"], true);
        let ns = cluster.object("", "v1", "Namespace", None, "yelb").expect("namespace");
        assert_eq!(ns["metadata"]["labels"]["gateway"], "yelb-gw");
        let svc = cluster.object("", "v1", "Service", Some("yelb"), "yelb-gw").expect("NLB Service");
        assert_eq!(svc["spec"]["type"], "LoadBalancer");
        assert_eq!(svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"], "nlb");
        // Import of the gateway reads it back: the next apply changes no resource (Terraform
        // 1.0 only refreshes the outputs then).
        ws.ok(&["state", "rm", "meshtls_gateway.yelb"]);
        ws.ok(&["import", "-input=false", "meshtls_gateway.yelb", "yelb/yelb-gw"]);
        let run = ws.apply();
        assert!(
            run.text().contains("0 added, 0 changed, 0 destroyed"),
            "{}: import must match the configuration: {}",
            cli.name(),
            run.text()
        );
        let outputs = ws.ok(&["output", "-json", "tls_status"]).stdout;
        assert_eq!(outputs.matches("in sync").count(), 10, "every node and the gateway in sync on both sides: {outputs}");

        // TLS at the NLB with an ACM certificate: the annotations follow.
        let arn = "arn:aws:acm:us-west-2:123456789012:certificate/0b1e4c5d-1111-2222-3333-444455556666";
        ws.ok(&["apply", "-auto-approve", "-input=false", &format!("-var=lb_certificate_arn={arn}")]);
        let svc = cluster.object("", "v1", "Service", Some("yelb"), "yelb-gw").expect("NLB Service");
        assert_eq!(svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"], arn);
        assert_eq!(svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-backend-protocol"], "ssl");
        assert_eq!(svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"], "443");

        // An in-place change of the gateway: one more Envoy replica.
        let main_tf = ws.path().join("main.tf");
        let tf = std::fs::read_to_string(&main_tf).expect("main.tf");
        std::fs::write(
            &main_tf,
            tf.replacen("  port               = 8443\n", "  port               = 8443\n  replicas           = 2\n", 1),
        )
        .expect("main.tf");
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("meshtls_gateway.yelb will be updated in-place"), "{}: {}", cli.name(), run.text());
        ws.ok(&["apply", "-auto-approve", "-input=false", &format!("-var=lb_certificate_arn={arn}")]);
        let deploy = cluster.object("apps", "v1", "Deployment", Some("yelb"), "yelb-gw").expect("gateway Deployment");
        assert_eq!(deploy["spec"]["replicas"], 2, "{}: the update must reach the Deployment", cli.name());

        // Drift in the App Mesh API: the gateway's TLS disabled there is planned back and repaired.
        appmesh::disable_gateway_tls("yelb", "yelb-gw_yelb");
        let (changes, run) = ws.ok_plan(&[&format!("-var=lb_certificate_arn={arn}")]);
        assert!(changes && run.text().contains("api_status") && run.text().contains("drifted"), "{}: {}", cli.name(), run.text());
        ws.ok(&["apply", "-auto-approve", "-input=false", &format!("-var=lb_certificate_arn={arn}")]);
        assert_eq!(appmesh::gateway_spec("yelb", "yelb-gw_yelb")["listeners"][0]["tls"]["mode"], "STRICT", "{}", cli.name());

        // Drift on the NLB Service: an annotation removed out of band is planned back.
        cluster.remove_annotation("", "v1", "Service", Some("yelb"), "yelb-gw", "service.beta.kubernetes.io/aws-load-balancer-ssl-cert");
        let (changes, run) = ws.ok_plan(&[&format!("-var=lb_certificate_arn={arn}")]);
        assert!(changes && run.text().contains("meshtls_nlb_service.yelb will be updated in-place"), "{}: {}", cli.name(), run.text());
        ws.ok(&["apply", "-auto-approve", "-input=false", &format!("-var=lb_certificate_arn={arn}")]);
        let svc = cluster.object("", "v1", "Service", Some("yelb"), "yelb-gw").expect("NLB Service");
        assert_eq!(svc["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"], arn, "{}", cli.name());
        let (changes, _) = ws.ok_plan(&[&format!("-var=lb_certificate_arn={arn}")]);
        assert!(!changes, "{}: every repair converged", cli.name());

        // Drift on the gateway shows in plan: its GatewayRoute object deleted out of band.
        cluster.delete_object("appmesh.k8s.aws", "v1beta2", "GatewayRoute", Some("yelb"), "yelb-gw-route-0");
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("GatewayRoute yelb-gw-route-0 is missing"), "{}", run.text());

        ws.ok(&["destroy", "-auto-approve", "-input=false", &format!("-var=lb_certificate_arn={arn}")]);
        assert_eq!(snapshot(&cluster), before, "{}: destroy must leave exactly the fixture", cli.name());
        assert!(cluster.object("appmesh.k8s.aws", "v1beta2", "VirtualGateway", Some("yelb"), "yelb-gw").is_none());
        assert!(cluster.object("", "v1", "Service", Some("yelb"), "yelb-gw").is_none());
        assert!(cluster.secret("yelb", "ca-key-pair").is_none());
    }

    // The whole example as an identity bound only to the Roles docs/security.md documents,
    // with no `list` on Secrets: apply, a no-op plan, import and destroy, with each CLI.
    for cli in CliKind::ALL {
        let user = format!("meshtls-lp-yelb-{}", cli.name());
        let identity = Identity::documented("yelb", &user);
        assert!(!cluster.user_can(&user, "yelb", "list", "secrets"), "the documented identity must not list Secrets");
        let ws = workspace(cli).with_env("KUBECONFIG", &identity.kubeconfig().display().to_string());
        ws.ok(&["init", "-input=false"]);
        ws.apply();
        assert!(!ws.plan_has_changes().0, "{}: least privilege: the no-op plan must pass and be empty", cli.name());
        ws.ok(&["state", "rm", "meshtls_gateway.yelb", "meshtls_nlb_service.yelb"]);
        ws.ok(&["import", "-input=false", "meshtls_gateway.yelb", "yelb/yelb-gw"]);
        ws.ok(&["import", "-input=false", "meshtls_nlb_service.yelb", "yelb/yelb-gw"]);
        let run = ws.apply();
        assert!(
            run.text().contains("0 added, 0 changed, 0 destroyed"),
            "{}: least privilege: import must match: {}",
            cli.name(),
            run.text()
        );
        ws.assert_no_key_material();
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert_eq!(snapshot(&cluster), before, "{}: least privilege: destroy must leave exactly the fixture", cli.name());
    }
}
