//! meshtls_ca against the real CLIs and kube-apiserver: create, no-op plan, drift of the
//! Secret and the issuer, import, validation, key-material scan, destroy.

use std::process::Command;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{for_each_cli, provider_block, CliKind, Workspace};

const CM: (&str, &str) = ("cert-manager.io", "v1");

fn config(namespace: &str, extra: &str) -> String {
    format!(
        r#"{provider}
resource "meshtls_ca" "test" {{
  namespace     = "{namespace}"
  secret_name   = "ca-key-pair"
  common_name   = "App Mesh Examples CA"
  organization  = "meshtls acceptance"
  validity_days = 30
  {extra}
}}

output "fingerprint" {{
  value = meshtls_ca.test.fingerprint_sha256
}}
"#,
        provider = provider_block()
    )
}

fn issuer(cluster: &Cluster, namespace: &str) -> Option<serde_json::Value> {
    cluster.object(CM.0, CM.1, "Issuer", Some(namespace), "ca-issuer")
}

/// `openssl verify` accepts the CA certificate as its own trust anchor, and it carries
/// CA:TRUE and keyCertSign.
fn assert_openssl_accepts_ca(ws: &Workspace, pem: &str) {
    let path = ws.path().join("ca.crt");
    std::fs::write(&path, pem).expect("write ca.crt");
    let verify = Command::new("openssl").args(["verify", "-CAfile"]).arg(&path).arg(&path).output().expect("openssl");
    assert!(verify.status.success(), "openssl verify: {}", String::from_utf8_lossy(&verify.stderr));
    let text = Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(&path).output().expect("openssl");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("CA:TRUE"), "no CA:TRUE in\n{text}");
    assert!(text.contains("Certificate Sign"), "no keyCertSign in\n{text}");
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn ca_lifecycle() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-ca-{}", cli.name()));
        let issuer_block = "cert_manager_issuer {\n    kind = \"Issuer\"\n    name = \"ca-issuer\"\n  }";
        let ws = Workspace::new(cli, &config(&ns, issuer_block));

        ws.ok(&["init", "-input=false"]);
        ws.ok(&["validate"]);
        assert!(ws.plan_has_changes().0, "first plan must propose the CA");
        ws.apply();

        // The Secret in cert-manager's layout, holding a real CA, and the issuer pointing at it.
        let secret = cluster.secret(&ns, "ca-key-pair").expect("CA Secret created");
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let tls_crt = cluster.secret_text(&ns, "ca-key-pair", "tls.crt").expect("tls.crt");
        assert_eq!(cluster.secret_text(&ns, "ca-key-pair", "ca.crt").as_deref(), Some(tls_crt.as_str()));
        assert!(cluster.secret_text(&ns, "ca-key-pair", "tls.key").is_some_and(|k| k.contains("PRIVATE KEY")));
        assert_openssl_accepts_ca(&ws, &tls_crt);
        let iss = issuer(&cluster, &ns).expect("Issuer created");
        assert_eq!(iss["spec"]["ca"]["secretName"], "ca-key-pair");
        let fingerprint = ws.ok(&["output", "-raw", "fingerprint"]).stdout;
        assert_eq!(fingerprint.len(), 95, "SHA-256 as colon-separated hex: {fingerprint}");

        assert!(!ws.plan_has_changes().0, "second plan must be empty");
        ws.assert_no_key_material();

        // Drift: a different key in tls.key plans a replacement and says why.
        let other_key = rcgen::KeyPair::generate().expect("key").serialize_pem();
        cluster.set_secret_key(&ns, "ca-key-pair", "tls.key", &other_key);
        let (changes, run) = ws.plan_has_changes();
        assert!(changes, "an altered Secret must show in plan");
        let text = run.text();
        assert!(text.contains("CA Secret changed outside Terraform"), "no drift warning:\n{text}");
        assert!(text.contains("tls.key is not the private key"), "warning does not say what changed:\n{text}");
        assert!(text.contains("must be replaced") || text.contains("forces replacement"), "no replacement planned:\n{text}");
        ws.apply();
        assert!(!ws.plan_has_changes().0, "apply must converge after drift");
        let new_fingerprint = ws.ok(&["output", "-raw", "fingerprint"]).stdout;
        assert_ne!(new_fingerprint, fingerprint, "the CA must have been replaced");

        // Drift: the Secret deleted, its key with it, plans the CA's replacement, which
        // removes the issuer it left and makes both anew.
        cluster.delete_secret(&ns, "ca-key-pair");
        let (changes, run) = ws.plan_has_changes();
        let text = run.text();
        assert!(
            changes
                && text.contains("the CA Secret was deleted")
                && (text.contains("must be replaced") || text.contains("forces replacement")),
            "a deleted Secret must plan the CA's replacement:\n{text}"
        );
        ws.apply();
        assert!(cluster.secret(&ns, "ca-key-pair").is_some());
        assert!(
            cluster.marked(CM.0, CM.1, "Issuer", Some(&ns), "ca-issuer", &format!("meshtls_ca:{ns}/ca-key-pair")),
            "the issuer made anew"
        );
        assert!(!ws.plan_has_changes().0, "apply must converge after the Secret was deleted");

        // Drift: the issuer deleted plans an in-place update that restores it.
        cluster.delete_object(CM.0, CM.1, "Issuer", Some(&ns), "ca-issuer");
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("updated in-place"), "a deleted issuer must plan an update:\n{}", run.text());
        ws.apply();
        assert!(issuer(&cluster, &ns).is_some(), "apply must restore the issuer");

        // Import: forget the resource and import it. The CA alone leaves its issuer marked as
        // the forgotten state's, so the apply refuses it and says how to import both.
        ws.ok(&["state", "rm", "meshtls_ca.test"]);
        ws.ok(&["import", "-input=false", "meshtls_ca.test", &format!("{ns}/ca-key-pair")]);
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(
            run.code != 0 && run.text().contains(&format!("{ns}/ca-key-pair:Issuer/ca-issuer")),
            "{}: the issuer of another state must be refused with the import that takes it:\n{}",
            cli.name(),
            run.text()
        );
        ws.ok(&["state", "rm", "meshtls_ca.test"]);
        ws.ok(&["import", "-input=false", "meshtls_ca.test", &format!("{ns}/ca-key-pair:Issuer/ca-issuer")]);
        let state = ws.state_json();
        assert!(state.contains("App Mesh Examples CA"), "imported state lacks the certificate's subject");
        ws.apply();
        assert!(!ws.plan_has_changes().0, "plan after import and apply must be empty");

        // Removing the issuer from the configuration deletes it and keeps the CA.
        ws.write_config(&config(&ns, ""));
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("updated in-place"), "dropping the issuer must plan an update:\n{}", run.text());
        ws.apply();
        assert!(issuer(&cluster, &ns).is_none(), "the issuer must be deleted");
        assert!(cluster.secret(&ns, "ca-key-pair").is_some(), "the CA must stay");
        assert!(!ws.plan_has_changes().0, "plan after removing the issuer must be empty");

        ws.assert_no_key_material();
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(cluster.secret(&ns, "ca-key-pair").is_none(), "destroy must delete the Secret");
        assert!(issuer(&cluster, &ns).is_none(), "destroy must delete the Issuer");
    });
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn ca_rejects_bad_input_at_validate() {
    for_each_cli(|cli| {
        let ws = Workspace::new(cli, &config("Bad_Namespace", "key_algorithm = \"DSA_1024\""));
        ws.ok(&["init", "-input=false"]);
        let run = ws.run(&["validate"]);
        assert_ne!(run.code, 0, "validate must fail");
        let text = run.text();
        for expected in ["Invalid key_algorithm", "`ECDSA_P256`, `ECDSA_P384`", "Invalid namespace", "key_algorithm", "namespace"] {
            assert!(text.contains(expected), "{} validate output lacks {expected:?}:\n{text}", cli.name());
        }
    });
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn ca_refuses_to_overwrite_an_existing_secret() {
    let cluster = Cluster::connect();
    let ns = &cluster.fresh_namespace("acc-ca-exists");
    let ws = Workspace::new(CliKind::Tofu, &config(ns, ""));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let other = Workspace::new(CliKind::Tofu, &config(ns, ""));
    other.ok(&["init", "-input=false"]);
    let run = other.run(&["apply", "-auto-approve", "-input=false"]);
    assert_ne!(run.code, 0);
    assert!(run.text().contains("CA Secret already exists") && run.text().contains("import"), "{}", run.text());
    assert!(!other.state_json().contains("meshtls_ca"), "a refused create must leave nothing in state");
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
}
