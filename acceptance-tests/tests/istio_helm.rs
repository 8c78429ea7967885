//! istiod as Helm installs it: `cacerts` mounted as a Secret volume that the kubelet keeps in
//! step with the Secret (here secret_volume.py, with the kubelet's atomic layout), watched by
//! istiod. meshtls's plug-in copy must suit that istiod through the CA's life:
//! - repaired in place, so the volume never loses its files and istiod reloads the repair;
//! - replaced with a new root only with a plan warning that istiod keeps the old CA until it
//!   restarts, which is what istiod does; after the restart it signs with the new CA.

use std::time::Duration;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::istio::{self, csr_for, CaCerts, Istiod, PLUG_IN_CA_SECRET};
use meshtls_acceptance_tests::{provider_block, wait, CliKind, Workspace};

fn plug_in_ca(common_name: &str) -> String {
    format!(
        r#"{provider}
resource "meshtls_ca" "mesh" {{
  namespace     = "istio-system"
  secret_name   = "{PLUG_IN_CA_SECRET}"
  common_name   = "{common_name}"
  key_algorithm = "ECDSA_P256"

  istio_plugin {{}}
}}
"#,
        provider = provider_block()
    )
}

/// A workload certificate from istiod's CA service, for a service account of `ns`; `trust` is
/// the root istiod's serving certificate must chain to.
fn workload_certificate(cluster: &Cluster, istiod: &Istiod, ns: &str, trust: &str) -> String {
    let token = cluster.service_account_token(ns, "app", "istio-ca");
    let chain = istiod
        .create_certificate(&token, &csr_for(&format!("spiffe://cluster.local/ns/{ns}/sa/app")), trust)
        .unwrap_or_else(|e| panic!("istiod's CA service: {e}"));
    chain.first().cloned().expect("a certificate chain")
}

/// Waits for istiod's log to hold `line`, as istiod writes it after the volume changed.
fn wait_for_log(istiod: &Istiod, line: &str) {
    wait::until(&format!("istiod to log {line:?}"), Duration::from_secs(30), || istiod.log().contains(line).then_some(()));
}

fn scenario(cli: CliKind) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    let ns = cluster.fresh_namespace(&format!("istio-helm-{}", cli.name()));

    let ws = Workspace::new(cli, &plug_in_ca("Mesh Root CA"));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let first = ws.state_attribute("meshtls_ca", "certificate_pem").as_str().expect("CA certificate in state").to_string();

    let istiod = Istiod::start_with(&turn, CaCerts::Mounted);
    // The files are the kubelet's: symlinks through `..data`, which the refresher swaps.
    let key = istiod.cacerts_dir().join("tls.key");
    let link = std::fs::read_link(&key).unwrap_or_else(|e| panic!("{}: {e}", key.display()));
    assert_eq!(link, std::path::Path::new("..data/tls.key"), "a Secret volume's file");
    let log = istiod.log();
    assert!(
        log.contains("Use local CA certificate") && log.contains("Added cacerts files watcher"),
        "istiod must sign with the mounted CA:\n{log}"
    );
    let leaf = workload_certificate(&cluster, &istiod, &ns, &first);
    ws.openssl_verify(&first, &leaf).unwrap_or_else(|e| panic!("{}: signed by the meshtls CA: {e}", cli.name()));

    // The copy changed outside Terraform: istiod sees the volume change and refuses the foreign
    // root; apply writes the copy back in place, the volume never loses its files, and istiod
    // takes the repaired files as they are (the same root).
    cluster.set_secret_key("istio-system", "cacerts", "ca.crt", "not the CA");
    wait_for_log(&istiod, "Multi root is disabled, updating new ROOT-CA not supported");
    ws.apply();
    wait_for_log(&istiod, "Istiod has detected the newly added intermediate CA and updated its key and certs accordingly");
    let volume = istiod.volume_log();
    assert!(volume.lines().filter(|l| l.starts_with("wrote")).count() >= 3, "the volume took each version:\n{volume}");
    assert!(!volume.contains("Secret missing"), "{}: the repair never removed cacerts:\n{volume}", cli.name());
    let leaf = workload_certificate(&cluster, &istiod, &ns, &first);
    ws.openssl_verify(&first, &leaf).unwrap_or_else(|e| panic!("{}: still the meshtls CA after the repair: {e}", cli.name()));

    // A new root: plan says istiod keeps the old CA until it restarts, and it does.
    ws.write_config(&plug_in_ca("Mesh Root CA 2"));
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes && text.contains("istiod keeps the old CA until it restarts") && text.contains("rollout restart"), "{text}");
    ws.apply();
    let second = ws.state_attribute("meshtls_ca", "certificate_pem").as_str().expect("CA certificate in state").to_string();
    assert_ne!(first.trim(), second.trim(), "the CA was replaced");
    wait::until("the volume to hold the new CA", Duration::from_secs(30), || {
        let files = std::fs::read_to_string(istiod.cacerts_dir().join("ca.crt")).ok()?;
        (files.trim() == second.trim()).then_some(())
    });
    let refusals = |istiod: &Istiod| istiod.log().matches("updating new ROOT-CA not supported").count();
    wait::until("istiod to refuse the new root while it runs", Duration::from_secs(30), || (refusals(&istiod) >= 2).then_some(()));
    let leaf = workload_certificate(&cluster, &istiod, &ns, &first);
    ws.openssl_verify(&first, &leaf).unwrap_or_else(|e| panic!("{}: the running istiod keeps the old CA: {e}", cli.name()));
    assert!(ws.openssl_verify(&second, &leaf).is_err(), "a certificate from the old CA does not chain to the new one");

    // The restart the warning asks for: istiod signs with the new CA and publishes its root.
    drop(istiod);
    let istiod = Istiod::start_with(&turn, CaCerts::Mounted);
    let leaf = workload_certificate(&cluster, &istiod, &ns, &second);
    ws.openssl_verify(&second, &leaf).unwrap_or_else(|e| panic!("{}: signed by the new meshtls CA after the restart: {e}", cli.name()));
    wait::until("istiod to publish the new root in the namespace", Duration::from_secs(60), || {
        let root = cluster.config_map_text(&ns, "istio-ca-root-cert", "root-cert.pem")?;
        (root.trim() == second.trim()).then_some(())
    });

    drop(istiod);
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret("istio-system", "cacerts").is_none(), "destroy removes the plug-in copy");
    ws.assert_no_key_material();
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn helm_installed_istiod_with_opentofu() {
    scenario(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn helm_installed_istiod_with_terraform() {
    scenario(CliKind::TerraformCurrent);
}
