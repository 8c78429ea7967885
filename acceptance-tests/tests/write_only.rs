//! The write-only CA key: an openssl-made key pair (the runbook's `ca.key` and `ca.crt`)
//! given to `meshtls_ca` is written to its Secret and signs certificates, yet appears in no
//! state, saved plan or trace log; a new version replaces it. OpenTofu takes it too, and
//! Terraform 1.0.3, which has no write-only arguments, is refused before it could store it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{provider_block, CliKind, Workspace};

/// The runbook's two openssl commands, run in `dir`: `ca.key` (0600) and `ca.crt`.
fn openssl_ca(dir: &Path, common_name: &str) -> (String, String) {
    openssl_ca_for(dir, common_name, 3650)
}

/// The same, valid for `days`.
fn openssl_ca_for(dir: &Path, common_name: &str, days: u32) -> (String, String) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["genrsa", "-out", "ca.key", "2048"]);
    std::fs::set_permissions(dir.join("ca.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod ca.key");
    run(&["req", "-x509", "-new", "-key", "ca.key", "-subj", &format!("/CN={common_name}"), "-days", &days.to_string(), "-out", "ca.crt"]);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("read openssl output");
    (read("ca.key"), read("ca.crt"))
}

fn config(namespace: &str, version: u32) -> String {
    format!(
        r#"{provider}
resource "meshtls_ca" "ca" {{
  namespace = "{namespace}"
  key_pair {{
    certificate_pem            = file("${{path.module}}/ca.crt")
    private_key_pem_wo         = file("${{path.module}}/ca.key")
    private_key_pem_wo_version = {version}
  }}
}}

resource "meshtls_certificate" "db" {{
  ca          = meshtls_ca.ca.id
  namespace   = "{namespace}"
  secret_name = "yelb-db-tls"
  dns_names   = ["yelb-db.{namespace}.svc.cluster.local"]
}}
"#,
        provider = provider_block()
    )
}

/// The leaf in `secret` verifies against `ca_crt` with openssl.
fn assert_signed_by(ws: &Workspace, cluster: &Cluster, namespace: &str, secret: &str, ca_crt: &str) {
    let leaf = cluster.secret_text(namespace, secret, "tls.crt").expect("certificate Secret");
    std::fs::write(ws.path().join("leaf.crt"), leaf).expect("write leaf");
    std::fs::write(ws.path().join("anchor.crt"), ca_crt).expect("write anchor");
    let out =
        Command::new("openssl").args(["verify", "-CAfile", "anchor.crt", "leaf.crt"]).current_dir(ws.path()).output().expect("openssl");
    assert!(out.status.success(), "the certificate does not chain to the given CA: {}", String::from_utf8_lossy(&out.stdout));
}

fn same_pem(a: &str, b: &str) -> bool {
    a.trim() == b.trim()
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn a_write_only_ca_key_reaches_the_secret_and_nothing_else() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-wo");
    let ws = Workspace::new(CliKind::TerraformCurrent, &config(&ns, 1));
    let (key, crt) = openssl_ca(ws.path(), "App Mesh Examples CA");
    ws.ok(&["init", "-input=false"]);
    ws.apply();

    assert!(same_pem(&cluster.secret_text(&ns, "ca-key-pair", "tls.key").expect("CA Secret"), &key), "the given key is in the Secret");
    assert!(same_pem(&cluster.secret_text(&ns, "ca-key-pair", "tls.crt").expect("CA Secret"), &crt));
    assert_signed_by(&ws, &cluster, &ns, "yelb-db-tls", &crt);
    assert_eq!(ws.state_attribute("meshtls_ca", "common_name"), "App Mesh Examples CA", "the certificate decides the subject");
    let kept = ws.state_attribute("meshtls_ca", "key_pair");
    assert!(kept["certificate_pem"].as_str().is_some_and(|c| same_pem(c, &crt)), "state keeps the certificate: {kept}");
    assert_eq!(kept["private_key_pem_wo_version"], 1);
    assert!(kept.get("private_key_pem_wo").is_some_and(serde_json::Value::is_null), "and never the key: {kept}");
    assert!(!ws.state_json().contains(key.lines().nth(3).expect("key body")), "the key is not in state");
    assert!(!ws.plan_has_changes().0, "a given key pair plans clean: the key is never compared");
    // State, a saved plan as JSON and the trace log of every run hold no key (the Secret's
    // tls.key, the given key, is among the keys scanned for).
    ws.assert_no_key_material();

    // A new key pair under a new version replaces the CA.
    std::fs::remove_file(ws.path().join("ca.key")).expect("remove old key");
    let (new_key, new_crt) = openssl_ca(ws.path(), "App Mesh Examples CA 2");
    ws.write_config(&config(&ns, 2));
    let (changes, run) = ws.plan_has_changes();
    assert!(changes && run.text().contains("must be replaced"), "a new version replaces the CA:\n{}", run.text());
    ws.apply();
    assert!(same_pem(&cluster.secret_text(&ns, "ca-key-pair", "tls.key").expect("CA Secret"), &new_key), "the new key is written");
    assert_eq!(ws.state_attribute("meshtls_ca", "common_name"), "App Mesh Examples CA 2");
    // Certificates signed by the old CA are re-issued by the next apply.
    ws.apply();
    assert_signed_by(&ws, &cluster, &ns, "yelb-db-tls", &new_crt);
    assert!(!ws.plan_has_changes().0);
    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret(&ns, "ca-key-pair").is_none(), "destroy removes the CA Secret meshtls wrote");
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn opentofu_takes_a_write_only_ca_key_too() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-wo-tofu");
    let ws = Workspace::new(CliKind::Tofu, &config(&ns, 1));
    let (key, crt) = openssl_ca(ws.path(), "App Mesh Examples CA");
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    assert!(same_pem(&cluster.secret_text(&ns, "ca-key-pair", "tls.key").expect("CA Secret"), &key));
    assert_signed_by(&ws, &cluster, &ns, "yelb-db-tls", &crt);
    assert!(!ws.plan_has_changes().0);
    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn a_cli_without_write_only_arguments_is_refused_the_key() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-wo-old");
    let ws = Workspace::new(CliKind::Terraform, &config(&ns, 1));
    openssl_ca(ws.path(), "App Mesh Examples CA");
    ws.ok(&["init", "-input=false"]);
    let run = ws.run(&["plan", "-input=false"]);
    assert_ne!(run.code, 0, "Terraform 1.0.3 must not plan a write-only key it would store");
    assert!(run.text().contains("Write-only argument not supported by this CLI"), "the refusal says why:\n{}", run.text());
    assert!(run.text().contains("key_pair"), "and names the argument:\n{}", run.text());
    assert!(cluster.secret(&ns, "ca-key-pair").is_none(), "nothing was written");
    assert!(!ws.path().join("terraform.tfstate").exists() || !ws.state_json().contains("PRIVATE KEY"));
}

/// A CA near its expiry: every plan says so from `warn_before_days` on, and not before.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn a_ca_near_its_expiry_warns_at_every_plan() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-expiry");
    // The CA alone: a certificate would be refused for outliving it.
    let ca_only = |extra: &str| {
        format!(
            "{}\nresource \"meshtls_ca\" \"ca\" {{\n  namespace = \"{ns}\"\n{extra}\n  key_pair {{\n    certificate_pem            = file(\"${{path.module}}/ca.crt\")\n    private_key_pem_wo         = file(\"${{path.module}}/ca.key\")\n    private_key_pem_wo_version = 1\n  }}\n}}\n",
            provider_block()
        )
    };
    let ws = Workspace::new(CliKind::Tofu, &ca_only(""));
    openssl_ca_for(ws.path(), "Short-lived CA", 20);
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(!changes, "a warning changes nothing:\n{text}");
    assert!(
        text.contains(&format!("CA {ns}/ca-key-pair expires in 19 days"))
            || text.contains(&format!("CA {ns}/ca-key-pair expires in 20 days")),
        "{text}"
    );
    // Ten days' notice: nothing to say yet.
    ws.write_config(&ca_only("  warn_before_days = 10"));
    let (_, plan) = ws.plan_has_changes();
    assert!(!plan.text().contains("expires in"), "{}", plan.text());
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
}
