//! `terraform query` with Terraform 1.16 on a Yelb secured by hand, as the runbook does it
//! (examples/yelb/fixture/secure_by_hand.py): the list resources report every node with its
//! TLS mode on both sides and every certificate with days left, change nothing, and the
//! configuration `-generate-config-out` writes imports everything and then plans clean. The
//! gateway list tells when the two sides of a gateway disagree.

use std::process::Command;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{appmesh, env, provider_block_for_mesh, repo_root, CliKind, Workspace};

const SERVICES: [&str; 4] = ["redis-server", "yelb-appserver", "yelb-db", "yelb-ui"];

fn hand_secured_yelb(namespace: &str) {
    let fixture = repo_root().join("examples/yelb/fixture");
    let apply =
        Command::new(fixture.join("apply.sh")).arg(namespace).env("AWS_DEFAULT_REGION", env("AWS_REGION")).status().expect("fixture");
    assert!(apply.success(), "the Yelb fixture must apply in {namespace}");
    let secure = Command::new(env("MESHTLS_PYTHON"))
        .arg(fixture.join("secure_by_hand.py"))
        .args(["--namespace", namespace])
        .env("AWS_DEFAULT_REGION", env("AWS_REGION"))
        .status()
        .expect("secure_by_hand.py");
    assert!(secure.success(), "securing Yelb by hand must work");
}

fn queries(namespace: &str) -> String {
    ["meshtls_ca", "meshtls_certificate", "meshtls_virtual_node_tls", "meshtls_gateway"]
        .iter()
        .map(|t| format!("list \"{t}\" \"all\" {{\n  provider = meshtls\n  config {{\n    namespace = \"{namespace}\"\n  }}\n}}\n"))
        .collect()
}

fn gateway(namespace: &str) -> String {
    format!(
        r#"
resource "meshtls_certificate" "gateway" {{
  ca          = "{namespace}/ca-key-pair"
  namespace   = "{namespace}"
  secret_name = "yelb-gw-tls"
  dns_names   = ["yelb-gw.{namespace}.svc.cluster.local"]
}}

resource "meshtls_gateway" "yelb" {{
  namespace          = "{namespace}"
  name               = "yelb-gw"
  port               = 8443
  certificate_secret = meshtls_certificate.gateway.secret_name

  route {{
    prefix          = "/"
    virtual_service = "yelb-ui"
  }}
}}
"#
    )
}

/// The results of `terraform query` for one list block: each starts with the block's address
/// (without a terminal the CLI does not always break lines between them).
fn results(text: &str, list: &str) -> Vec<String> {
    let prefix = format!("{list}.all ");
    text.split("list.").filter(|r| r.starts_with(&prefix)).map(|r| r.split("Warning:").next().unwrap_or(r).trim().to_string()).collect()
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn query_audits_a_hand_secured_yelb_and_its_generated_configuration_adopts_it() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-query");
    hand_secured_yelb(&ns);
    let ws = Workspace::new(CliKind::TerraformCurrent, &provider_block_for_mesh(&ns));
    std::fs::write(ws.path().join("audit.tfquery.hcl"), queries(&ns)).expect("write the queries");
    ws.ok(&["init", "-input=false"]);

    let text = ws.ok(&["query"]).text();
    let nodes = results(&text, "meshtls_virtual_node_tls");
    assert_eq!(nodes.len(), 4, "every virtual node is listed:\n{text}");
    for svc in SERVICES {
        let line =
            nodes.iter().find(|l| l.contains(&format!("{svc}_{ns} ({ns}/{svc})"))).unwrap_or_else(|| panic!("{svc} listed:\n{text}"));
        assert!(line.contains("cluster STRICT, App Mesh STRICT; the sides agree"), "{svc}'s mode on both sides: {line}");
    }
    let certificates = results(&text, "meshtls_certificate");
    assert_eq!(certificates.len(), 4, "every certificate Secret is listed, the CA's apart:\n{text}");
    for svc in SERVICES {
        let line = certificates.iter().find(|l| l.contains(&format!("{ns}/{svc}-tls:"))).unwrap_or_else(|| panic!("{svc}-tls:\n{text}"));
        assert!(line.contains(&format!("{svc}.{ns}.svc.cluster.local")), "names: {line}");
        assert!(line.contains("issuer Issuer ca-issuer"), "issuer: {line}");
        assert!(line.contains("89 days left") || line.contains("90 days left"), "days left: {line}");
    }
    let cas = results(&text, "meshtls_ca");
    assert_eq!(cas.len(), 1, "{text}");
    assert!(cas[0].contains("CA \"App Mesh Examples CA\"") && cas[0].contains("Issuer ca-issuer signs with it"), "{}", cas[0]);
    assert!(cluster.managed_secret_names(&ns).is_empty(), "a query marks nothing as meshtls's");

    // Configuration for all of it: imported, then nothing to change.
    ws.ok(&["query", "-generate-config-out=generated.tf"]);
    let generated = std::fs::read_to_string(ws.path().join("generated.tf")).expect("generated configuration");
    assert_eq!(generated.matches("import {").count(), 9, "an import block per object:\n{generated}");
    let (changes, run) = ws.plan_has_changes();
    assert!(changes && run.text().contains("Plan: 9 to import, 0 to add, 0 to change, 0 to destroy."), "{}", run.text());
    ws.apply();
    assert!(!ws.plan_has_changes().0, "the adopted Yelb plans clean");
    let mut managed = cluster.managed_secret_names(&ns);
    managed.sort();
    assert_eq!(managed.len(), 5, "the CA and the four certificate Secrets are meshtls's now: {managed:?}");
    let again = ws.ok(&["query"]).text();
    assert!(results(&again, "meshtls_certificate").iter().all(|l| l.contains("managed by meshtls")), "{again}");

    // A gateway meshtls makes is listed with both sides; a change in the App Mesh API shows.
    let generated_and_gateway = format!("{generated}\n{}", gateway(&ns));
    std::fs::write(ws.path().join("generated.tf"), generated_and_gateway).expect("add the gateway");
    ws.apply();
    let listed = results(&ws.ok(&["query"]).text(), "meshtls_gateway");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains("cluster STRICT, App Mesh STRICT; the sides agree (managed by meshtls)"), "{}", listed[0]);
    appmesh::disable_gateway_tls(&ns, &format!("yelb-gw_{ns}"));
    let listed = results(&ws.ok(&["query"]).text(), "meshtls_gateway");
    assert!(listed[0].contains("cluster STRICT, App Mesh DISABLED; the sides differ"), "{}", listed[0]);

    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.managed_secret_names(&ns).is_empty(), "destroy removes what was adopted");
}
