//! meshtls_certificate and meshtls_certificate_info against the real CLIs and kube-apiserver.

use std::process::Command;
use std::time::Duration;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::identity::Identity as RoleIdentity;
use meshtls_acceptance_tests::mtls::{handshake, Identity};
use meshtls_acceptance_tests::wait;
use meshtls_acceptance_tests::{for_each_cli, provider_block, provider_block_with, CliKind, Workspace};
use serde_json::json;

const DB: &str = "yelb-db.yelb.svc.cluster.local";
const UI: &str = "yelb-ui.yelb.svc.cluster.local";

fn ca_block(name: &str, ns: &str, validity_days: u32) -> String {
    format!("resource \"meshtls_ca\" \"{name}\" {{\n  namespace     = \"{ns}\"\n  secret_name   = \"{name}\"\n  common_name   = \"{name} CA\"\n  validity_days = {validity_days}\n}}\n")
}

fn cert_block(name: &str, ca: &str, ns: &str, dns: &str, extra: &str) -> String {
    format!("resource \"meshtls_certificate\" \"{name}\" {{\n  ca          = meshtls_ca.{ca}.id\n  namespace   = \"{ns}\"\n  secret_name = \"{name}\"\n  dns_names   = [\"{dns}\"]\n  validity_days = 60\n  {extra}\n}}\n")
}

fn identity(cluster: &Cluster, ns: &str, name: &str) -> Identity {
    Identity {
        chain_pem: cluster.secret_text(ns, name, "tls.crt").expect("tls.crt"),
        key_pem: cluster.secret_text(ns, name, "tls.key").expect("tls.key"),
    }
}

fn secret_uid(cluster: &Cluster, ns: &str, name: &str) -> String {
    cluster.secret(ns, name).and_then(|s| s.metadata.uid).expect("the Secret exists")
}

fn openssl_verify(ws: &Workspace, ca_pem: &str, leaf_pem: &str) -> bool {
    let (ca, leaf) = (ws.path().join("verify-ca.crt"), ws.path().join("verify-leaf.crt"));
    std::fs::write(&ca, ca_pem).expect("write");
    std::fs::write(&leaf, leaf_pem).expect("write");
    Command::new("openssl").args(["verify", "-CAfile"]).arg(&ca).arg(&leaf).output().expect("openssl").status.success()
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn certificate_lifecycle() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-cert-{}", cli.name()));
        let config = format!(
            "{}\n{}\n{}\ndata \"meshtls_certificate_info\" \"db\" {{\n  secret = meshtls_certificate.db.id\n}}\n\noutput \"db_sans\" {{\n  value = data.meshtls_certificate_info.db.dns_names\n}}\n\noutput \"db_pem\" {{\n  value = data.meshtls_certificate_info.db.pem\n}}\n",
            provider_block(),
            ca_block("mesh", &ns, 365),
            cert_block("db", "mesh", &ns, DB, "secret_labels = { team = \"data\" }")
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        ws.ok(&["validate"]);
        ws.apply();

        // cert-manager's layout: ca.crt is the CA, tls.crt the leaf then the CA, tls.key the key.
        let secret = cluster.secret(&ns, "db").expect("certificate Secret");
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let ca_pem = cluster.secret_text(&ns, "mesh", "tls.crt").expect("CA");
        assert_eq!(cluster.secret_text(&ns, "db", "ca.crt").as_deref(), Some(ca_pem.as_str()));
        let chain = cluster.secret_text(&ns, "db", "tls.crt").expect("tls.crt");
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "tls.crt must hold the leaf and the CA");
        assert!(chain.ends_with(&ca_pem));
        assert!(openssl_verify(&ws, &ca_pem, &chain), "openssl must accept the leaf under the CA");
        let meta = secret.metadata;
        assert_eq!(meta.labels.as_ref().and_then(|l| l.get("team")).map(String::as_str), Some("data"));
        assert_eq!(meta.annotations.as_ref().and_then(|a| a.get("meshtls.dev/ca")).cloned(), Some(format!("{ns}/mesh")));
        let sans = ws.ok(&["output", "-json", "db_sans"]).stdout;
        assert!(sans.contains(DB), "the info data source must read the SANs: {sans}");
        // The PEM is not in the certificate's state; the data source reads it from the Secret.
        assert!(
            ws.state_attribute("meshtls_certificate", "certificate_pem").is_null()
                && ws.state_attribute("meshtls_certificate", "fingerprint_sha256").is_string(),
            "{}: no PEM in state",
            cli.name()
        );
        let pem: String = serde_json::from_str(&ws.ok(&["output", "-json", "db_pem"]).stdout).expect("db_pem is a string");
        assert!(chain.starts_with(&pem) && pem.matches("BEGIN CERTIFICATE").count() == 1, "{}: db_pem is the leaf: {pem}", cli.name());
        assert!(!ws.plan_has_changes().0, "second plan must be empty");

        // Drift: tls.crt swapped for another certificate plans a re-issue that says why.
        cluster.set_secret_key(&ns, "db", "tls.crt", &ca_pem);
        let (changes, run) = ws.plan_has_changes();
        assert!(
            changes && run.text().contains("Certificate will be re-issued") && run.text().contains("tls.crt does not start with"),
            "{}",
            run.text()
        );
        ws.apply();
        assert!(!ws.plan_has_changes().0);

        // Drift: the Secret deleted is issued again in place; a label removed is restored in
        // place.
        cluster.delete_secret(&ns, "db");
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("updated in-place") && run.text().contains("it was deleted"), "{}", run.text());
        ws.apply();
        assert!(cluster.secret(&ns, "db").is_some(), "{}: the Secret is back", cli.name());
        cluster.remove_secret_label(&ns, "db", "team");
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("updated in-place"), "{}", run.text());
        ws.apply();
        assert!(cluster
            .secret(&ns, "db")
            .and_then(|s| s.metadata.labels)
            .is_some_and(|l| l.get("team").map(String::as_str) == Some("data")));

        // Labels, annotations and the renewal window change in place: the certificate stays.
        let serial = cluster.secret_text(&ns, "db", "tls.crt").expect("tls.crt");
        ws.write_config(&config.replace(
            "secret_labels = { team = \"data\" }",
            "secret_labels = { tier = \"db\" }\n  secret_annotations = { owner = \"data-team\" }\n  renew_before_days = 20",
        ));
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("updated in-place") && !run.text().contains("must be replaced"), "{}", run.text());
        ws.apply();
        let meta = cluster.secret(&ns, "db").expect("Secret").metadata;
        let labels = meta.labels.unwrap_or_default();
        assert_eq!(labels.get("tier").map(String::as_str), Some("db"), "{}: the new label", cli.name());
        assert!(!labels.contains_key("team"), "{}: the label no longer configured is removed", cli.name());
        assert_eq!(labels.get("app.kubernetes.io/managed-by").map(String::as_str), Some("meshtls"), "{}: the marker stays", cli.name());
        let annotations = meta.annotations.unwrap_or_default();
        assert_eq!(annotations.get("owner").map(String::as_str), Some("data-team"), "{}", cli.name());
        let owner_id = ws.state_attribute("meshtls_certificate", "owner_id");
        assert_eq!(
            annotations.get("meshtls.dev/owner").cloned(),
            Some(format!("meshtls_certificate:{ns}/db#{}", owner_id.as_str().unwrap_or("no owner id in state"))),
            "{}",
            cli.name()
        );
        assert_eq!(cluster.secret_text(&ns, "db", "tls.crt").as_deref(), Some(serial.as_str()), "{}: not re-issued", cli.name());
        assert_eq!(
            ws.state_attribute("meshtls_certificate", "renew_before_days").as_f64(),
            Some(20.0),
            "{}: the window is in state",
            cli.name()
        );
        assert!(!ws.plan_has_changes().0);
        ws.write_config(&config);
        ws.apply();

        // A new DNS name and key algorithm re-issue in place: the same Secret, a new key, and
        // the data source reads the new certificate in the same apply.
        let uid = secret_uid(&cluster, &ns, "db");
        let key_before = cluster.secret_text(&ns, "db", "tls.key").expect("tls.key");
        let extra = format!("db.{ns}.svc");
        ws.write_config(&config.replace(
            &format!("dns_names   = [\"{DB}\"]"),
            &format!("dns_names   = [\"{DB}\", \"{extra}\"]\n  key_algorithm = \"RSA_2048\""),
        ));
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("updated in-place") && !run.text().contains("must be replaced"), "{}", run.text());
        assert!(run.text().contains("dns_names, key_algorithm changed"), "{}: the plan says why: {}", cli.name(), run.text());
        ws.apply();
        assert_eq!(secret_uid(&cluster, &ns, "db"), uid, "{}: the Secret is rewritten, never deleted", cli.name());
        let key_after = cluster.secret_text(&ns, "db", "tls.key").expect("tls.key");
        // An RSA 2048 key's PEM is over 1 KB, a P-256 key's about 240 bytes.
        assert!(key_after != key_before && key_after.len() > 1000, "{}: a new RSA key", cli.name());
        let sans = ws.ok(&["output", "-json", "db_sans"]).stdout;
        assert!(sans.contains(&extra), "{}: the data source read the re-issued certificate: {sans}", cli.name());
        assert!(!ws.plan_has_changes().0, "{}: the re-issued certificate plans clean", cli.name());
        ws.write_config(&config);
        ws.apply();

        // Import by namespace/secret_name: the CA is found from the Secret's annotation.
        ws.ok(&["state", "rm", "meshtls_certificate.db"]);
        ws.ok(&["import", "-input=false", "meshtls_certificate.db", &format!("{ns}/db")]);
        ws.apply();
        assert!(!ws.plan_has_changes().0, "plan after import must be empty");

        // Replacing the CA re-issues the certificate it signed, in the same Secret.
        let before = cluster.secret_text(&ns, "db", "ca.crt").expect("ca.crt");
        let uid = secret_uid(&cluster, &ns, "db");
        let run = ws.ok(&["apply", "-auto-approve", "-input=false", "-replace=meshtls_ca.mesh"]);
        assert!(run.text().contains("1 added, 1 changed, 1 destroyed"), "{}", run.text());
        assert_eq!(secret_uid(&cluster, &ns, "db"), uid, "{}: the certificate Secret is rewritten, never deleted", cli.name());
        let after = cluster.secret_text(&ns, "db", "ca.crt").expect("ca.crt");
        assert_ne!(before, after, "the certificate must be re-issued by the new CA");
        assert!(openssl_verify(&ws, &after, &cluster.secret_text(&ns, "db", "tls.crt").expect("tls.crt")));

        ws.assert_no_key_material();
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(cluster.secret(&ns, "db").is_none() && cluster.secret(&ns, "mesh").is_none());
    });
}

/// Renewal: a certificate signed by the CA with 30 days of validity, 29 of them gone, is
/// imported; with renew_before_days = 7 the next plan re-issues it in place and says why.
/// The Secret is never deleted: when the CA cannot sign at apply, the old certificate keeps
/// serving, and the next apply renews it in the same Secret.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn certificate_renews_inside_its_window() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-renew-{}", cli.name()));
        let ca_only = format!("{}\n{}", provider_block(), ca_block("mesh", &ns, 365));
        let ws = Workspace::new(cli, &ca_only);
        ws.ok(&["init", "-input=false"]);
        ws.apply();

        let ca_pem = cluster.secret_text(&ns, "mesh", "tls.crt").expect("CA");
        let ca_key = rcgen::KeyPair::from_pem(&cluster.secret_text(&ns, "mesh", "tls.key").expect("CA key")).expect("CA key");
        let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("issuer");
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec![DB.to_string()]).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, DB);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - std::time::Duration::from_secs(29 * 86400);
        params.not_after = now + std::time::Duration::from_secs(86400);
        let leaf = params.signed_by(&key, &issuer).expect("sign");
        cluster.create_tls_secret(&ns, "db", &ca_pem, &leaf.pem(), &key.serialize_pem());

        let config = format!(
            "{ca_only}\nresource \"meshtls_certificate\" \"db\" {{\n  ca                = meshtls_ca.mesh.id\n  namespace         = \"{ns}\"\n  secret_name       = \"db\"\n  dns_names         = [\"{DB}\"]\n  validity_days     = 30\n  renew_before_days = 7\n}}\n"
        );
        ws.write_config(&config);
        // Made by another tool, so the Secret does not record its CA: name it in the ID.
        ws.ok(&["import", "-input=false", "meshtls_certificate.db", &format!("{ns}/db:{ns}/mesh")]);
        let uid = secret_uid(&cluster, &ns, "db");
        let run = ws.ok(&["plan", "-input=false", "-out=renew.tfplan"]);
        let text = run.text();
        assert!(text.contains("inside its renewal window of 7 days"), "{text}");
        assert!(text.contains("updated in-place") && text.contains("0 to add, 1 to change, 0 to destroy"), "{text}");
        assert!(!text.contains("must be replaced"), "{text}");

        // The CA cannot sign when the saved plan is applied: the apply fails, and the Secret
        // still holds the old certificate and key.
        let ca_key_pem = cluster.secret_text(&ns, "mesh", "tls.key").expect("CA key");
        cluster.set_secret_key(&ns, "mesh", "tls.key", &key.serialize_pem());
        let failed = ws.run(&["apply", "-input=false", "renew.tfplan"]);
        assert_ne!(failed.code, 0, "{}: issuing with a broken CA must fail", cli.name());
        assert!(failed.text().contains("CA key does not match"), "{}: {}", cli.name(), failed.text());
        assert_eq!(secret_uid(&cluster, &ns, "db"), uid, "{}: the Secret was never deleted", cli.name());
        assert_eq!(
            cluster.secret_text(&ns, "db", "tls.crt").as_deref(),
            Some(leaf.pem().as_str()),
            "{}: the old certificate serves",
            cli.name()
        );
        assert_eq!(cluster.secret_text(&ns, "db", "tls.key"), Some(key.serialize_pem()), "{}: with its key", cli.name());

        cluster.set_secret_key(&ns, "mesh", "tls.key", &ca_key_pem);
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("updated in-place"), "{}: the renewal is still planned: {}", cli.name(), run.text());
        ws.apply();
        assert_eq!(secret_uid(&cluster, &ns, "db"), uid, "{}: renewed in the same Secret", cli.name());
        let renewed = cluster.secret_text(&ns, "db", "tls.crt").expect("renewed");
        assert_ne!(renewed, leaf.pem());
        assert!(openssl_verify(&ws, &ca_pem, &renewed), "{}: the renewed certificate chains to the CA", cli.name());
        let renewed_file = ws.path().join("renewed.crt");
        std::fs::write(&renewed_file, &renewed).expect("write");
        // -checkend N succeeds when the certificate is still valid N seconds from now.
        let still_valid =
            Command::new("openssl").args(["x509", "-noout", "-checkend", "2000000", "-in"]).arg(&renewed_file).status().expect("openssl");
        assert!(still_valid.success(), "the renewed certificate must be valid for weeks");
        assert!(!ws.plan_has_changes().0, "the renewed certificate is outside its window");
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    });
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn certificate_import_refuses_a_foreign_ca() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-foreign");
    let config = format!(
        "{}\n{}\n{}\n{}",
        provider_block(),
        ca_block("one", &ns, 365),
        ca_block("two", &ns, 365),
        cert_block("db", "one", &ns, DB, "")
    );
    let ws = Workspace::new(CliKind::Tofu, &config);
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    ws.ok(&["state", "rm", "meshtls_certificate.db"]);
    let run = ws.run(&["import", "-input=false", "meshtls_certificate.db", &format!("{ns}/db:{ns}/two")]);
    assert_ne!(run.code, 0);
    assert!(run.text().contains("does not chain to the CA") && run.text().contains(&format!("{ns}/two")), "{}", run.text());
    ws.ok(&["import", "-input=false", "meshtls_certificate.db", &format!("{ns}/db")]);
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn certificate_input_is_checked_at_plan() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-certbad-{}", cli.name()));
        let bad = format!(
            "{}\n{}\nresource \"meshtls_certificate\" \"bad\" {{\n  ca                = meshtls_ca.short.id\n  namespace         = \"{ns}\"\n  secret_name       = \"bad\"\n  dns_names         = [\"a.*.yelb.svc\", \"{DB}\", \"{DB}\"]\n  validity_days     = 10\n  renew_before_days = 10\n}}\n",
            provider_block(),
            ca_block("short", &ns, 5)
        );
        let ws = Workspace::new(cli, &bad);
        ws.ok(&["init", "-input=false"]);
        let run = ws.run(&["validate"]);
        assert_ne!(run.code, 0);
        let text = run.text();
        for expected in [
            "Invalid DNS name",
            "whole leftmost label",
            "Duplicate DNS name",
            "renew_before_days (10) must be shorter than validity_days (10)",
        ] {
            assert!(text.contains(expected), "{} lacks {expected:?}:\n{text}", cli.name());
        }
        // Valid on its own, but longer than the CA has left: caught at plan, once the CA exists.
        let outlives = format!(
            "{}\n{}\nresource \"meshtls_certificate\" \"long\" {{\n  ca            = meshtls_ca.short.id\n  namespace     = \"{ns}\"\n  secret_name   = \"long\"\n  dns_names     = [\"{DB}\"]\n  validity_days = 30\n}}\n",
            provider_block(),
            ca_block("short", &ns, 5)
        );
        ws.write_config(&format!("{}\n{}", provider_block(), ca_block("short", &ns, 5)));
        ws.apply();
        ws.write_config(&outlives);
        let run = ws.run(&["plan", "-input=false"]);
        assert_ne!(run.code, 0);
        assert!(run.text().contains("Certificate would outlive its CA") && run.text().contains("validity_days"), "{}", run.text());
        ws.write_config(&format!("{}\n{}", provider_block(), ca_block("short", &ns, 5)));
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    });
}

/// Two certificates from one CA complete a mutual-TLS handshake with hostname checks; a
/// certificate from another CA is refused.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn issued_certificates_complete_mutual_tls() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-mtls");
    let config = format!(
        "{}\n{}\n{}\n{}\n{}",
        provider_block(),
        ca_block("mesh", &ns, 365),
        ca_block("rogue", &ns, 365),
        cert_block("db", "mesh", &ns, DB, ""),
        cert_block("ui", "mesh", &ns, UI, "") + &cert_block("intruder", "rogue", &ns, UI, "")
    );
    let ws = Workspace::new(CliKind::Tofu, &config);
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let ca = cluster.secret_text(&ns, "mesh", "tls.crt").expect("CA");
    let (db, ui, intruder) = (identity(&cluster, &ns, "db"), identity(&cluster, &ns, "ui"), identity(&cluster, &ns, "intruder"));

    handshake(&db, &ca, &ui, &ca, DB).expect("ui -> db over mutual TLS");
    let wrong_name = handshake(&db, &ca, &ui, &ca, UI).expect_err("db's certificate does not cover ui's name");
    assert!(wrong_name.contains("client refused: invalid peer certificate: certificate not valid for name"), "{wrong_name}");
    let refused = handshake(&db, &ca, &intruder, &ca, DB).expect_err("a client from another CA must be refused");
    assert!(refused.contains("server refused") && refused.contains("UnknownIssuer"), "{refused}");
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn hundred_certificates_apply_in_one_run() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-count");
    let config = format!(
        "{}\n{}\nresource \"meshtls_certificate\" \"svc\" {{\n  count       = 100\n  ca          = meshtls_ca.mesh.id\n  namespace   = \"{ns}\"\n  secret_name = \"svc-${{count.index}}\"\n  dns_names   = [\"svc-${{count.index}}.{ns}.svc.cluster.local\"]\n}}\n",
        provider_block(),
        ca_block("mesh", &ns, 3650)
    );
    let ws = Workspace::new(CliKind::Tofu, &config);
    ws.ok(&["init", "-input=false"]);
    let run = ws.apply();
    assert!(run.text().contains("101 added"), "{}", run.text());
    let secrets: Vec<String> = cluster.secret_names(&ns).into_iter().filter(|n| n.starts_with("svc-")).collect();
    assert_eq!(secrets.len(), 100);
    assert!(!ws.plan_has_changes().0);
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret_names(&ns).iter().all(|n| !n.starts_with("svc-")));
}

/// restrict_secret_access: only the named service account may read the Secret, as the API
/// server's own authorizer answers; a RoleBinding deleted by hand shows in plan.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn secret_access_is_restricted_to_the_workload() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-rbac-{}", cli.name()));
        let config = format!(
            "{}\n{}\n{}",
            provider_block(),
            ca_block("mesh", &ns, 365),
            cert_block("db", "mesh", &ns, DB, "restrict_secret_access {\n    service_accounts = [\"yelb-db\"]\n  }")
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        // The authorizer sees RBAC changes through its own cache: a grant is awaited against a
        // deadline, then the answers that must stay false are checked.
        let authorized = |secret: &str, want: bool| {
            wait::until(&format!("the authorizer to answer {want} for {secret}"), Duration::from_secs(30), || {
                (cluster.service_account_can_read_secret(&ns, "yelb-db", secret) == want).then_some(())
            })
        };
        assert!(!cluster.service_account_can_read_secret(&ns, "yelb-db", "db"), "no access before apply");
        ws.apply();
        authorized("db", true);
        assert!(!cluster.service_account_can_read_secret(&ns, "yelb-ui", "db"), "another service account does not");
        assert!(!cluster.service_account_can_read_secret(&ns, "yelb-db", "mesh"), "nor does the workload read the CA Secret");
        assert!(!ws.plan_has_changes().0);

        cluster.delete_object("rbac.authorization.k8s.io", "v1", "RoleBinding", Some(&ns), "db-reader");
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("restrict_secret_access"), "{}", run.text());
        ws.apply();
        authorized("db", true);

        // The Role's rules widened by hand (every Secret in the namespace): drift, put back.
        let mut role = cluster.object("rbac.authorization.k8s.io", "v1", "Role", Some(&ns), "db-reader").expect("Role");
        role["rules"] = json!([{ "apiGroups": [""], "resources": ["secrets"], "verbs": ["get"] }]);
        let role =
            json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": role["metadata"], "rules": role["rules"] });
        cluster.replace_object(role);
        authorized("mesh", true);
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("restrict_secret_access"), "{}: the Role's rules are drift:\n{}", cli.name(), run.text());
        ws.apply();
        authorized("mesh", false);
        authorized("db", true);
        assert!(!ws.plan_has_changes().0);

        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(cluster.object("rbac.authorization.k8s.io", "v1", "Role", Some(&ns), "db-reader").is_none(), "destroy removes the Role");
    });
}

/// The documented `meshtls-certificate` Role alone is enough for a certificate whose CA,
/// another team's, is in its namespace: apply, a no-op plan and destroy, and the import of a
/// Secret cert-manager wrote, which reads its Issuer to find the CA.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn certificate_needs_only_its_documented_role() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-cert-role");
    // The platform team's CA and issuer, and a certificate, applied by the environment's admin.
    let admin = Workspace::new(
        CliKind::Tofu,
        &format!(
            "{}\nresource \"meshtls_ca\" \"mesh\" {{\n  namespace   = \"{ns}\"\n  common_name = \"Team CA\"\n  cert_manager_issuer {{\n    kind = \"Issuer\"\n    name = \"ca-issuer\"\n  }}\n}}\n\nresource \"meshtls_certificate\" \"legacy\" {{\n  ca          = meshtls_ca.mesh.id\n  namespace   = \"{ns}\"\n  secret_name = \"legacy\"\n  dns_names   = [\"legacy.{ns}.svc\"]\n}}\n",
            provider_block()
        ),
    );
    admin.ok(&["init", "-input=false"]);
    admin.apply();
    // "legacy" as cert-manager writes it: its issuer's annotations, no meshtls marker.
    admin.ok(&["state", "rm", "meshtls_certificate.legacy"]);
    cluster.strip_marker("", "v1", "Secret", Some(&ns), "legacy");
    cluster.remove_annotation("", "v1", "Secret", Some(&ns), "legacy", "meshtls.dev/ca");
    cluster.merge_patch_object(
        "",
        "v1",
        "Secret",
        Some(&ns),
        "legacy",
        json!({ "metadata": { "annotations": { "cert-manager.io/issuer-name": "ca-issuer", "cert-manager.io/issuer-kind": "Issuer" } } }),
    );

    let user = format!("cert-role-{ns}");
    let identity = RoleIdentity::documented_role(&ns, &user, "meshtls-certificate", ("create", "secrets"));
    assert!(!cluster.user_can(&user, &ns, "create", "services"), "the positive control: the user holds the one Role only");
    let certificate = |name: &str| {
        format!("resource \"meshtls_certificate\" \"{name}\" {{\n  ca          = \"{ns}/ca-key-pair\"\n  namespace   = \"{ns}\"\n  secret_name = \"{name}\"\n  dns_names   = [\"{name}.{ns}.svc\"]\n}}\n")
    };
    let config =
        format!("{}\n{}\n{}", provider_block_with(&identity.kubeconfig().display().to_string()), certificate("db"), certificate("legacy"));
    let ws = Workspace::new(CliKind::Tofu, &config);
    ws.ok(&["init", "-input=false"]);
    ws.ok(&["import", "-input=false", "meshtls_certificate.legacy", &format!("{ns}/legacy")]);
    ws.apply();
    assert!(cluster.secret(&ns, "db").is_some());
    assert!(cluster.marked("", "v1", "Secret", Some(&ns), "legacy", &format!("meshtls_certificate:{ns}/legacy")), "the import adopted it");
    assert!(!ws.plan_has_changes().0, "a no-op plan under the Role alone");
    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret(&ns, "db").is_none() && cluster.secret(&ns, "legacy").is_none());
    admin.ok(&["destroy", "-auto-approve", "-input=false"]);
}
