//! Renewing a CA meshtls keeps, against the real CLIs and kube-apiserver: the root's
//! validity changes, plan says it is renewed in place and why, and apply gives it a new
//! certificate for the same key. Nothing it signed is re-issued; each certificate takes the
//! renewed root into its chain and `ca.crt` in place on the next apply, an intermediate under
//! it is signed again with its own key, and every leaf verifies against the renewed root
//! throughout.

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{for_each_cli, provider_block, same_pem, unrelated_root, Workspace};

fn config(namespace: &str, root_days: i64, renew_before: &str) -> String {
    format!(
        r#"{provider}
resource "meshtls_ca" "root" {{
  namespace     = "{namespace}"
  secret_name   = "root-ca"
  common_name   = "Mesh Root CA"
  validity_days = {root_days}
  {renew_before}
}}

resource "meshtls_ca" "cluster" {{
  namespace     = "{namespace}"
  secret_name   = "cluster-ca"
  common_name   = "Cluster Intermediate CA"
  validity_days = 20

  parent {{
    ca_id           = meshtls_ca.root.id
    certificate_pem = meshtls_ca.root.certificate_pem
  }}
}}

resource "meshtls_certificate" "db" {{
  ca                = meshtls_ca.root.id
  namespace         = "{namespace}"
  secret_name       = "db"
  dns_names         = ["yelb-db.{namespace}.svc.cluster.local"]
  validity_days     = 10
  renew_before_days = 2
}}

resource "meshtls_certificate" "ui" {{
  ca                = meshtls_ca.cluster.id
  namespace         = "{namespace}"
  secret_name       = "ui"
  dns_names         = ["yelb-ui.{namespace}.svc.cluster.local"]
  validity_days     = 10
  renew_before_days = 2
}}

output "root" {{
  value = meshtls_ca.root.certificate_pem
}}

output "days_remaining" {{
  value = meshtls_ca.root.days_remaining
}}

output "fingerprints" {{
  value = [meshtls_certificate.db.fingerprint_sha256, meshtls_certificate.ui.fingerprint_sha256]
}}
"#,
        provider = provider_block()
    )
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn a_renewed_root_keeps_every_leaf_verifying_with_no_reissue() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-renew-{}", cli.name()));
        let ws = Workspace::new(cli, &config(&ns, 30, ""));
        ws.ok(&["init", "-input=false"]);
        ws.apply();
        let old_root = ws.ok(&["output", "-raw", "root"]).stdout;
        let leaves = ws.ok(&["output", "-json", "fingerprints"]).stdout;
        let key = |name: &str| cluster.secret_text(&ns, name, "tls.key").expect("key");
        let (root_key, intermediate_key) = (key("root-ca"), key("cluster-ca"));
        let intermediate = cluster.secret_text(&ns, "cluster-ca", "tls.crt").expect("intermediate");
        // A window shorter than what is left renews nothing (its positive control follows).
        ws.write_config(&config(&ns, 30, "renew_before_days = 29"));
        let (_, plan) = ws.plan_has_changes();
        assert!(!plan.text().contains("CA will be renewed"), "{}: 30 days left, outside a 29-day window:\n{}", cli.name(), plan.text());
        ws.apply();
        assert!(same_pem(&ws.ok(&["output", "-raw", "root"]).stdout, &old_root), "{}: not renewed", cli.name());

        // A longer validity renews the root in place, and the plan says so and why.
        ws.write_config(&config(&ns, 90, ""));
        let (changes, plan) = ws.plan_has_changes();
        let text = plan.text();
        assert!(changes, "{}: a renewal is a change", cli.name());
        for needle in ["CA will be renewed", "validity_days changed to 90", "same key and subject", "nothing is re-issued"] {
            assert!(text.contains(needle), "{}: the plan says {needle:?}:\n{text}", cli.name());
        }
        assert!(
            !text.contains("must be replaced") && !text.contains("to destroy") || text.contains("0 to destroy"),
            "{}: nothing replaced:\n{text}",
            cli.name()
        );
        ws.apply();
        let root = ws.ok(&["output", "-raw", "root"]).stdout;
        assert!(!same_pem(&root, &old_root), "{}: a new root certificate", cli.name());
        assert_eq!(ws.ok(&["output", "-raw", "days_remaining"]).stdout, "89", "{}: whole days left of 90", cli.name());
        assert_eq!((key("root-ca"), key("cluster-ca")), (root_key, intermediate_key), "{}: every CA keeps its key", cli.name());
        assert_eq!(ws.ok(&["output", "-json", "fingerprints"]).stdout, leaves, "{}: no certificate is re-issued", cli.name());
        // Every leaf still verifies against the renewed root with the root copy it has.
        for leaf in ["db", "ui"] {
            let chain = cluster.secret_text(&ns, leaf, "tls.crt").expect("tls.crt");
            ws.openssl_verify_chain(&root, &chain)
                .unwrap_or_else(|e| panic!("{}: {leaf} verifies right after the renewal: {e}", cli.name()));
        }
        // The next plan takes the renewed root into each certificate's chain and ca.crt, in
        // place, and says so: nothing is re-issued.
        let (changes, plan) = ws.plan_has_changes();
        let text = plan.text();
        assert!(
            changes && text.contains("Certificate's trust follows its CA") && !text.contains("Certificate will be re-issued"),
            "{}:\n{text}",
            cli.name()
        );
        ws.apply();
        assert_eq!(ws.ok(&["output", "-json", "fingerprints"]).stdout, leaves, "{}: still no certificate re-issued", cli.name());
        let renewed_intermediate = cluster.secret_text(&ns, "cluster-ca", "tls.crt").expect("intermediate");
        assert_ne!(renewed_intermediate, intermediate, "{}: the intermediate is signed again by the renewed root", cli.name());
        for (leaf, chain_len) in [("db", 2), ("ui", 3)] {
            let chain = cluster.secret_text(&ns, leaf, "tls.crt").expect("tls.crt");
            let ca_crt = cluster.secret_text(&ns, leaf, "ca.crt").expect("ca.crt");
            assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), chain_len, "{}: {leaf}'s chain", cli.name());
            assert!(same_pem(&ca_crt, &root), "{}: {leaf}'s ca.crt is the renewed root", cli.name());
            assert!(chain.trim_end().ends_with(root.trim_end()), "{}: {leaf}'s chain ends with the renewed root", cli.name());
            ws.openssl_verify_chain(&root, &chain)
                .unwrap_or_else(|e| panic!("{}: {leaf} verifies against the renewed root: {e}", cli.name()));
            ws.openssl_verify_chain(&old_root, &chain).unwrap_or_else(|e| panic!("{}: and still against the old one: {e}", cli.name()));
            assert!(ws.openssl_verify_chain(&unrelated_root(), &chain).is_err(), "{}: not against an unrelated root", cli.name());
        }
        let (changes, plan) = ws.plan_has_changes();
        assert!(!changes, "{}: in sync after the renewal:\n{}", cli.name(), plan.text());

        // A window as long as the validity is refused at plan, at the attribute.
        ws.write_config(&config(&ns, 90, "renew_before_days = 91"));
        let refused = ws.run(&["plan", "-input=false", "-no-color"]);
        assert!(refused.text().contains("Renewal window as long as the validity"), "{}: {}", cli.name(), refused.text());
        ws.write_config(&config(&ns, 90, "renew_before_days = 89"));
        let (_, plan) = ws.plan_has_changes();
        assert!(!plan.text().contains("CA will be renewed"), "{}: 90 days left, outside an 89-day window:\n{}", cli.name(), plan.text());
        ws.assert_no_key_material();
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    });
}
