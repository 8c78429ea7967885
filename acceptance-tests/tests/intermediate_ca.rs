//! Intermediate CAs (`meshtls_ca` with a `parent`) against the real CLIs, kube-apiserver and
//! istiod: the chain in the Secret, leaves that verify against the root alone, the checks plan
//! makes against the parent, and istiod signing workload certificates with an intermediate.

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::istio::{self, csr_for, CaCerts, Istiod};
use meshtls_acceptance_tests::{for_each_cli, provider_block, same_pem, unrelated_root, CliKind, Workspace};

/// A root and an intermediate under it in `namespace`, with the intermediate's Secret named
/// `intermediate_secret` in `intermediate_namespace` in the given `layout`, then `extra`.
fn root_and_intermediate(namespace: &str, intermediate_namespace: &str, intermediate_secret: &str, extra: &str) -> String {
    intermediate_in(namespace, intermediate_namespace, intermediate_secret, "tls", extra)
}

fn intermediate_in(namespace: &str, intermediate_namespace: &str, intermediate_secret: &str, layout: &str, extra: &str) -> String {
    format!(
        r#"{provider}
resource "meshtls_ca" "root" {{
  namespace     = "{namespace}"
  secret_name   = "root-ca"
  common_name   = "Mesh Root CA"
  validity_days = 60
}}

resource "meshtls_ca" "cluster_a" {{
  namespace     = "{intermediate_namespace}"
  secret_name   = "{intermediate_secret}"
  common_name   = "Cluster A Intermediate CA"
  validity_days = 30
  layout        = "{layout}"

  parent {{
    ca_id           = meshtls_ca.root.id
    certificate_pem = meshtls_ca.root.certificate_pem
  }}
}}

output "root_pem" {{
  value = meshtls_ca.root.certificate_pem
}}

output "intermediate_pem" {{
  value = meshtls_ca.cluster_a.certificate_pem
}}
{extra}"#,
        provider = provider_block()
    )
}

fn leaf(namespace: &str) -> String {
    format!(
        r#"
resource "meshtls_certificate" "db" {{
  ca            = meshtls_ca.cluster_a.id
  namespace     = "{namespace}"
  secret_name   = "db"
  dns_names     = ["yelb-db.{namespace}.svc.cluster.local"]
  validity_days     = 20
  renew_before_days = 5
}}
"#
    )
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn an_intermediate_signs_leaves_that_verify_against_the_root() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-int-{}", cli.name()));
        let ws = Workspace::new(cli, &root_and_intermediate(&ns, &ns, "cluster-a-ca", &leaf(&ns)));
        ws.ok(&["init", "-input=false"]);
        ws.ok(&["validate"]);
        ws.apply();
        let root = ws.ok(&["output", "-raw", "root_pem"]).stdout;
        let intermediate = ws.ok(&["output", "-raw", "intermediate_pem"]).stdout;

        // The intermediate's Secret: tls.crt the intermediate then the root, ca.crt the root.
        let tls_crt = cluster.secret_text(&ns, "cluster-a-ca", "tls.crt").expect("tls.crt");
        assert_eq!(tls_crt.matches("BEGIN CERTIFICATE").count(), 2, "{}: the intermediate and its root:\n{tls_crt}", cli.name());
        assert!(tls_crt.starts_with(intermediate.trim()), "{}: tls.crt starts with the intermediate in state", cli.name());
        assert_eq!(cluster.secret_text(&ns, "cluster-a-ca", "ca.crt").map(|c| c.trim().to_string()), Some(root.trim().to_string()));
        ws.openssl_verify_chain(&root, &tls_crt).unwrap_or_else(|e| panic!("{}: the intermediate chains to the root: {e}", cli.name()));
        let text = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-ext", "basicConstraints"])
            .stdin(
                std::fs::File::open({
                    let path = ws.path().join("intermediate.crt");
                    std::fs::write(&path, &intermediate).expect("write");
                    path
                })
                .expect("open"),
            )
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("CA:TRUE, pathlen:0"), "{}: an intermediate that signs only leaves:\n{text}", cli.name());

        // A leaf it signs carries the chain, and its ca.crt is the root: peers that trust only
        // the root verify it, and an unrelated root does not.
        let chain = cluster.secret_text(&ns, "db", "tls.crt").expect("the leaf's tls.crt");
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3, "{}: leaf, intermediate and root", cli.name());
        assert_eq!(cluster.secret_text(&ns, "db", "ca.crt").map(|c| c.trim().to_string()), Some(root.trim().to_string()));
        ws.openssl_verify_chain(&root, &chain).unwrap_or_else(|e| panic!("{}: the leaf verifies against the root: {e}", cli.name()));
        assert!(ws.openssl_verify_chain(&unrelated_root(), &chain).is_err(), "{}: an unrelated root must not vouch for it", cli.name());
        let (changes, plan) = ws.plan_has_changes();
        assert!(!changes, "{}: a plan right after apply must be empty:\n{}", cli.name(), plan.text());
        ws.assert_no_key_material();

        // ca.crt changed to another root is drift that replaces the intermediate.
        cluster.set_secret_key(&ns, "cluster-a-ca", "ca.crt", &unrelated_root());
        let (changes, plan) = ws.plan_has_changes();
        assert!(changes && plan.text().contains("ca.crt does not hold the root"), "{}: drift in ca.crt:\n{}", cli.name(), plan.text());
        ws.apply();
        assert!(!ws.plan_has_changes().0, "{}: repaired", cli.name());

        // The intermediate has path length 0, so a CA under it is refused at plan, at the
        // attribute; and one outliving its parent too.
        let grandchild = r#"
resource "meshtls_ca" "under_a" {
  namespace   = "NS"
  secret_name = "under-a"
  common_name = "Too deep"
  validity_days = 10

  parent {
    ca_id           = meshtls_ca.cluster_a.id
    certificate_pem = meshtls_ca.cluster_a.certificate_pem
  }
}

resource "meshtls_ca" "long" {
  namespace     = "NS"
  secret_name   = "long"
  common_name   = "Outlives the root"
  validity_days = 365

  parent {
    ca_id           = meshtls_ca.root.id
    certificate_pem = meshtls_ca.root.certificate_pem
  }
}
"#
        .replace("NS", &ns);
        ws.write_config(&root_and_intermediate(&ns, &ns, "cluster-a-ca", &format!("{}{grandchild}", leaf(&ns))));
        let refused = ws.run(&["plan", "-input=false", "-no-color"]);
        let text = refused.text();
        assert_ne!(refused.code, 0, "{}: plan must refuse", cli.name());
        for needle in ["Path length the parent forbids", "path_length", "Outlives its parent", "validity_days"] {
            assert!(text.contains(needle), "{}: plan must say {needle:?}:\n{text}", cli.name());
        }
        ws.write_config(&root_and_intermediate(&ns, &ns, "cluster-a-ca", &leaf(&ns)));
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(cluster.secret(&ns, "cluster-a-ca").is_none() && cluster.secret(&ns, "root-ca").is_none(), "{}: destroyed", cli.name());
    });
}

/// istiod with an intermediate as its plug-in CA (`cacerts` in `layout`, written by meshtls
/// under a root that stays in another namespace, taken as `cacerts` says): the root is what
/// it publishes, and a workload certificate it signs verifies against that root and not
/// against an unrelated one.
fn istiod_scenario(cli: CliKind, layout: &str, cacerts: CaCerts) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    let ns = cluster.fresh_namespace(&format!("int-istio-{}", cli.name()));
    let ws = Workspace::new(cli, &intermediate_in(&ns, "istio-system", "cacerts", layout, ""));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let root = ws.ok(&["output", "-raw", "root_pem"]).stdout;
    let intermediate = ws.ok(&["output", "-raw", "intermediate_pem"]).stdout;
    let secret = cluster.secret("istio-system", "cacerts").expect("cacerts");
    let mut keys: Vec<String> = secret.data.clone().unwrap_or_default().into_keys().collect();
    keys.sort();
    match layout {
        "istio" => {
            assert_eq!(secret.type_.as_deref(), Some("Opaque"));
            assert_eq!(keys, ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"], "{}: Istio's four files", cli.name());
            let ca_cert = cluster.secret_text("istio-system", "cacerts", "ca-cert.pem").unwrap_or_default();
            assert!(same_pem(&ca_cert, &intermediate), "{}: ca-cert.pem is the intermediate", cli.name());
        }
        _ => assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"], "{}: cert-manager's three files", cli.name()),
    }
    let istiod = Istiod::start_with(&turn, cacerts);
    let published = meshtls_acceptance_tests::wait::until("istiod to publish its root", std::time::Duration::from_secs(60), || {
        cluster.config_map_text(&ns, "istio-ca-root-cert", "root-cert.pem")
    });
    assert_eq!(published.trim(), root.trim(), "{}: istiod publishes the root, not the intermediate", cli.name());
    let spiffe = format!("spiffe://cluster.local/ns/{ns}/sa/yelb-ui");
    let token = cluster.service_account_token(&ns, "yelb-ui", "istio-ca");
    let chain = istiod.create_certificate(&token, &csr_for(&spiffe), &root).unwrap_or_else(|e| panic!("{}: {e}", cli.name()));
    let leaf = chain.first().expect("a certificate chain");
    let sent = chain.concat();
    assert!(
        same_pem(chain.get(1).map(String::as_str).unwrap_or_default(), &intermediate),
        "{}: istiod signs with the intermediate and sends it after the leaf: {chain:?}",
        cli.name()
    );
    ws.openssl_verify_chain(&root, &sent)
        .unwrap_or_else(|e| panic!("{}: the workload certificate verifies against the root: {e}", cli.name()));
    assert!(ws.openssl_verify_chain(&unrelated_root(), &sent).is_err(), "{}: not against an unrelated root", cli.name());
    assert!(
        ws.openssl_verify(&root, leaf).is_err(),
        "{}: without the intermediate the leaf does not verify (positive control)",
        cli.name()
    );
    let (changes, plan) = ws.plan_has_changes();
    assert!(!changes, "{}: in sync while istiod runs:\n{}", cli.name(), plan.text());
    ws.assert_no_key_material();
    if layout == "istio" && cli == CliKind::TerraformCurrent {
        // `terraform query` audits istiod's cacerts in Istio's layout with its expiry, and
        // the root, in their namespaces.
        let list = |namespace: &str| {
            format!(
                "list \"meshtls_ca\" \"{namespace}\" {{\n  provider = meshtls\n  config {{\n    namespace = \"{namespace}\"\n  }}\n}}\n"
            )
        };
        std::fs::write(ws.path().join("audit.tfquery.hcl"), format!("{}{}", list("istio-system"), list(&ns))).expect("write the queries");
        let text = ws.ok(&["query"]).text();
        for (secret, subject, days) in
            [("istio-system/cacerts".to_string(), "Cluster A Intermediate CA", 29), (format!("{ns}/root-ca"), "Mesh Root CA", 59)]
        {
            let line = format!("{secret}: CA \"{subject}\", {days} days left");
            assert!(text.contains(&line), "{} lists {line:?}:\n{text}", cli.name());
        }
        std::fs::remove_file(ws.path().join("audit.tfquery.hcl")).expect("remove the queries");
    }
    if layout == "istio" {
        // A cert-chain.pem changed outside Terraform is drift, and apply writes it back.
        cluster.set_secret_key("istio-system", "cacerts", "cert-chain.pem", &root);
        let (changes, plan) = ws.plan_has_changes();
        assert!(changes && plan.text().contains("cert-chain.pem does not start with ca-cert.pem"), "{}:\n{}", cli.name(), plan.text());
    }
    drop(istiod);
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret("istio-system", "cacerts").is_none(), "{}: cacerts is gone with the intermediate", cli.name());
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istiod_signs_with_an_intermediate_with_opentofu() {
    istiod_scenario(CliKind::Tofu, "tls", CaCerts::Remote);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istiod_signs_with_an_intermediate_with_terraform() {
    istiod_scenario(CliKind::TerraformCurrent, "tls", CaCerts::Remote);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istiod_mounts_an_intermediate_in_istios_layout_with_opentofu() {
    istiod_scenario(CliKind::Tofu, "istio", CaCerts::Mounted);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istiod_reads_an_intermediate_in_istios_layout_with_terraform() {
    istiod_scenario(CliKind::TerraformCurrent, "istio", CaCerts::Remote);
}
