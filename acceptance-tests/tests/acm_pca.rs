//! meshtls_ca backed by ACM Private CA (moto), and certificates issued through it.

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::mtls::{handshake, Identity};
use meshtls_acceptance_tests::{acmpca, env, for_each_cli, Workspace, PROVIDER_ADDRESS};

const DB: &str = "yelb-db.yelb.svc.cluster.local";
const UI: &str = "yelb-ui.yelb.svc.cluster.local";

/// Held by every scenario here: the fault one injects moto's next failure of an ACM PCA call,
/// which another scenario's call must not meet.
static PCA: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pca_lock() -> std::sync::MutexGuard<'static, ()> {
    PCA.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn provider() -> String {
    format!(
        "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  kubernetes {{\n    config_path = \"{}\"\n  }}\n  aws {{\n    region = \"{}\"\n    endpoints {{\n      acmpca = \"{}\"\n    }}\n  }}\n}}\n",
        env("KUBECONFIG"),
        env("AWS_REGION"),
        env("AWS_ENDPOINT_URL")
    )
}

fn certs(ns: &str) -> String {
    [("db", DB), ("ui", UI)]
        .iter()
        .map(|(name, dns)| format!("resource \"meshtls_certificate\" \"{name}\" {{\n  ca            = meshtls_ca.pca.id\n  namespace     = \"{ns}\"\n  secret_name   = \"{name}\"\n  dns_names     = [\"{dns}\"]\n  validity_days = 90\n}}\n"))
        .collect()
}

fn identity(cluster: &Cluster, ns: &str, name: &str) -> Identity {
    Identity {
        chain_pem: cluster.secret_text(ns, name, "tls.crt").expect("tls.crt"),
        key_pem: cluster.secret_text(ns, name, "tls.key").expect("tls.key"),
    }
}

/// Create mode: meshtls creates the root CA in ACM PCA, issues through it, and deletes it.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn private_ca_created_by_meshtls() {
    let _pca = pca_lock();
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-pca-{}", cli.name()));
        let config = format!(
            "{}\nresource \"meshtls_ca\" \"pca\" {{\n  namespace     = \"{ns}\"\n  secret_name   = \"root\"\n  common_name   = \"Private Root {ns}\"\n  validity_days = 365\n  acm_pca {{\n    create {{\n      permanent_deletion_days = 7\n    }}\n  }}\n}}\n\noutput \"arn\" {{\n  value = meshtls_ca.pca.pca_arn\n}}\n{}",
            provider(),
            certs(&ns)
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        ws.apply();
        let arn = ws.ok(&["output", "-raw", "arn"]).stdout;
        assert_eq!(acmpca::status(&arn), "ACTIVE");

        // No CA key in the cluster: the CA Secret holds only ca.crt.
        let root = cluster.secret(&ns, "root").expect("CA Secret");
        let data = root.data.expect("data");
        assert_eq!(data.keys().collect::<Vec<_>>(), vec!["ca.crt"], "the private CA's Secret holds only ca.crt");
        let ca_pem = cluster.secret_text(&ns, "root", "ca.crt").expect("ca.crt");
        let db_chain = cluster.secret_text(&ns, "db", "tls.crt").expect("tls.crt");
        if let Err(e) = ws.openssl_verify(&ca_pem, &db_chain) {
            panic!("certificates issued through the private CA chain to it: {e}");
        }
        assert!(!ws.plan_has_changes().0, "second plan must be empty");

        // The real mutual-TLS check, with certificates issued by ACM PCA.
        handshake(&identity(&cluster, &ns, "db"), &ca_pem, &identity(&cluster, &ns, "ui"), &ca_pem, DB)
            .expect("mutual TLS with PCA-issued certificates");

        // Disabled out of band: shows in plan, and apply re-enables the CA meshtls created.
        acmpca::disable(&arn);
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("pca_status") && run.text().contains("DISABLED"), "{}", run.text());
        ws.apply();
        assert_eq!(acmpca::status(&arn), "ACTIVE");

        ws.assert_no_key_material();
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert_eq!(acmpca::status(&arn), "DELETED", "destroy must delete the private CA meshtls created");
        assert!(cluster.secret(&ns, "root").is_none() && cluster.secret(&ns, "db").is_none());
    });
}

/// Adopt mode: an existing private CA is used, a disabled one shows in plan, and destroy
/// leaves it in place.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn private_ca_adopted() {
    let _pca = pca_lock();
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-pcaadopt-{}", cli.name()));
        let arn = acmpca::create_root(&format!("Adopted {ns}"));
        let config = format!("{}\nresource \"meshtls_ca\" \"pca\" {{\n  namespace   = \"{ns}\"\n  secret_name = \"root\"\n  acm_pca {{\n    arn = \"{arn}\"\n  }}\n}}\n{}", provider(), certs(&ns));
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        ws.apply();
        let state = ws.state_json();
        assert!(state.contains(&format!("Adopted {ns}")), "the common name is read from the adopted CA");
        let ca_pem = cluster.secret_text(&ns, "root", "ca.crt").expect("ca.crt");
        assert!(ws.openssl_verify(&ca_pem, &cluster.secret_text(&ns, "ui", "tls.crt").expect("tls.crt")).is_ok());
        assert!(!ws.plan_has_changes().0);

        acmpca::disable(&arn);
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("DISABLED"), "a disabled CA must show in plan:\n{}", run.text());
        // meshtls does not re-enable a CA it did not create, and says so.
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(run.code != 0 && run.text().contains("does not re-enable a private CA it did not create"), "{}", run.text());

        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert_eq!(acmpca::status(&arn), "DISABLED", "destroy must leave an adopted CA in place");
    });
}

fn created_ca(ns: &str, secret: &str, cn: &str) -> String {
    format!(
        "{}\nresource \"meshtls_ca\" \"pca\" {{\n  namespace     = \"{ns}\"\n  secret_name   = \"{secret}\"\n  common_name   = \"{cn}\"\n  validity_days = 365\n  acm_pca {{\n    create {{\n      permanent_deletion_days = 7\n    }}\n  }}\n}}\n\noutput \"arn\" {{\n  value = meshtls_ca.pca.pca_arn\n}}\n",
        provider()
    )
}

/// The private CA ARN in state, tainted or not.
fn state_arn(ws: &Workspace) -> Option<String> {
    ws.state_attribute("meshtls_ca", "pca_arn").as_str().map(str::to_string)
}

/// Every private CA AWS would bill for is the one in state: a pre-existing Secret refuses before
/// a CA is created, a failure after CreateCertificateAuthority keeps the CA in state (tainted)
/// and the next apply replaces it, and a CA Secret deleted out of band is written again from
/// the same CA.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn private_ca_faults_leave_no_ca_unknown_to_state() {
    let _pca = pca_lock();
    // One CLI after the other: the injected fault is moto's, met by the next caller.
    for cli in meshtls_acceptance_tests::CliKind::ALL {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-pca-faults-{}", cli.name()));
        let cn = format!("Private Root {ns}");
        let ws = Workspace::new(cli, &created_ca(&ns, "team-root", &cn));
        ws.ok(&["init", "-input=false"]);

        // A Secret of that name meshtls did not create: refused before any CA exists.
        cluster.create_tls_secret(&ns, "team-root", "team ca", "team crt", "team key");
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(
            run.code != 0 && run.text().contains(&format!("Secret {ns}/team-root exists and was not created by meshtls")),
            "{}",
            run.text()
        );
        assert!(acmpca::live(&cn).is_empty(), "a refused CA must not be created in ACM PCA");
        assert_eq!(cluster.secret_text(&ns, "team-root", "tls.key").as_deref(), Some("team key"), "the team's Secret must be untouched");

        // A failure after CreateCertificateAuthority: the CA is in state, tainted.
        ws.write_config(&created_ca(&ns, "root", &cn));
        acmpca::fail_next("ImportCertificateAuthorityCertificate", 1);
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(run.code != 0 && run.text().contains("Failed to activate the ACM Private CA"), "{}", run.text());
        let first = state_arn(&ws).expect("the created CA's ARN is in state");
        let state: serde_json::Value = serde_json::from_str(&ws.state_json()).expect("state");
        let instance = &state["resources"][0]["instances"][0];
        assert_eq!(instance["status"], "tainted", "the half-made CA must be tainted: {instance}");
        assert_eq!(acmpca::live(&cn), vec![first.clone()], "the only live CA is the one in state");

        // The next apply replaces it: one live CA, the one in state.
        ws.apply();
        let second = state_arn(&ws).expect("ARN in state");
        assert_ne!(second, first);
        assert_eq!(acmpca::status(&first), "DELETED", "the tainted CA must be deleted");
        assert_eq!(acmpca::live(&cn), vec![second.clone()]);

        // The answer to CreateCertificateAuthority lost after the CA was made: the CA is found
        // by its owner tag and carried on with, so no CA exists that state does not know.
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(acmpca::live(&cn).is_empty());
        acmpca::lose_next_answer("CreateCertificateAuthority", 1);
        ws.apply();
        let second = state_arn(&ws).expect("ARN in state");
        assert_eq!(acmpca::live(&cn), vec![second.clone()], "{}: the CA whose answer was lost is the one in state", cli.name());
        assert_eq!(acmpca::status(&second), "ACTIVE");

        // The same, and the look-up that follows fails too: the apply fails with no CA in
        // state. The next apply (under a new owner id) finds the CA by its resource's tag
        // and carries on with it, so there is still a single CA.
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(acmpca::live(&cn).is_empty());
        acmpca::lose_next_answer("CreateCertificateAuthority", 1);
        acmpca::fail_after("ListCertificateAuthorities", 1, 1);
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(run.code != 0 && run.text().contains("Failed to create the ACM Private CA"), "{}", run.text());
        assert_eq!(state_arn(&ws), None, "{}: no answer, no ARN in state", cli.name());
        let lost = acmpca::live(&cn);
        assert_eq!(lost.len(), 1, "{}: the CA was made: {lost:?}", cli.name());
        ws.apply();
        let second = state_arn(&ws).expect("ARN in state");
        assert_eq!(acmpca::live(&cn), vec![second.clone()], "{}: the earlier apply's CA is the one in state", cli.name());
        assert_eq!(lost, vec![second.clone()]);
        assert_eq!(acmpca::status(&second), "ACTIVE");

        // A wrong region answers "not found" for a CA that exists: refresh fails and says so,
        // and the CA stays in state instead of being planned anew.
        let config = created_ca(&ns, "root", &cn);
        let region = env("AWS_REGION");
        let elsewhere = if region == "eu-west-3" { "ap-south-1" } else { "eu-west-3" };
        ws.write_config(&config.replace(&format!("region = \"{region}\""), &format!("region = \"{elsewhere}\"")));
        let run = ws.run(&["plan", "-input=false"]);
        assert!(run.code != 0 && run.text().contains("ACM Private CA not found") && run.text().contains("aws.region"), "{}", run.text());
        assert_eq!(state_arn(&ws).as_deref(), Some(second.as_str()), "{}: the CA stays in state", cli.name());
        ws.write_config(&config);
        assert!(!ws.plan_has_changes().0, "{}: back in its region, the CA plans clean", cli.name());

        // The CA Secret deleted out of band: written again from the same CA, no second CA.
        let ca_crt = cluster.secret_text(&ns, "root", "ca.crt").expect("ca.crt");
        cluster.delete_secret(&ns, "root");
        let (changes, plan) = ws.plan_has_changes();
        assert!(changes && plan.text().contains("CA Secret deleted outside Terraform"), "{}", plan.text());
        assert!(!plan.text().contains("must be replaced"), "a missing Secret must not replace the CA:\n{}", plan.text());
        ws.apply();
        assert_eq!(cluster.secret_text(&ns, "root", "ca.crt").as_deref(), Some(ca_crt.as_str()), "the Secret holds the same CA again");
        assert_eq!(state_arn(&ws).as_deref(), Some(second.as_str()));
        assert_eq!(acmpca::live(&cn), vec![second.clone()]);
        assert!(!ws.plan_has_changes().0, "plan after the Secret was written again must be empty");

        ws.assert_no_key_material();
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert_eq!(acmpca::status(&second), "DELETED");
        assert!(acmpca::live(&cn).is_empty());
        assert_eq!(cluster.secret_text(&ns, "team-root", "tls.key").as_deref(), Some("team key"), "destroy leaves the team's Secret");
    }
}
