//! Ctrl-C in the middle of an apply: the CLI sends StopProvider, meshtls starts nothing new,
//! and everything it did create is in state: nothing orphaned, nothing duplicated.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{for_each_cli, provider_block, wait, Workspace};

// RSA 4096 keys take long enough to generate that the interrupt lands mid-apply.
const COUNT: usize = 30;

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn interrupted_apply_leaves_nothing_untracked() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-sigint-{}", cli.name()));
        let config = format!(
            "{}\nresource \"meshtls_ca\" \"ca\" {{\n  namespace     = \"{ns}\"\n  common_name   = \"Interrupt CA\"\n  key_algorithm = \"RSA_2048\"\n}}\n\nresource \"meshtls_certificate\" \"svc\" {{\n  count         = {COUNT}\n  ca            = meshtls_ca.ca.id\n  namespace     = \"{ns}\"\n  secret_name   = \"svc-${{count.index}}\"\n  dns_names     = [\"svc-${{count.index}}.{ns}.svc.cluster.local\"]\n  key_algorithm = \"RSA_4096\"\n}}\n",
            provider_block()
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        let mut apply = ws
            .command(&["apply", "-auto-approve", "-input=false", "-no-color", "-parallelism=2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the interrupt reaches it as a terminal's Ctrl-C does:
            // to the CLI and its plugins alike.
            .process_group(0)
            .spawn()
            .expect("start apply");
        let svc_secrets = || cluster.secret_names(&ns).into_iter().filter(|n| n.starts_with("svc-")).count();
        // Interrupt once the certificates are being issued.
        wait::until("the first certificate Secret", Duration::from_secs(60), || (svc_secrets() > 0).then_some(()));
        let group = format!("-{}", apply.id());
        let sent = std::process::Command::new("kill").args(["-INT", "--", &group]).status().expect("kill -INT");
        assert!(sent.success());
        let status = wait::until("the interrupted apply to exit", Duration::from_secs(120), || apply.try_wait().expect("wait"));
        assert!(!status.success(), "{}: an interrupted apply exits non-zero", cli.name());

        // Everything created is tracked: one state entry per Secret, and not all were made.
        let in_state = ws.ok(&["state", "list"]).stdout.lines().filter(|l| l.starts_with("meshtls_certificate.svc[")).count();
        let secrets = svc_secrets();
        assert_eq!(in_state, secrets, "{}: every certificate Secret must be in state, and only those", cli.name());
        assert!(secrets < COUNT, "{}: the interrupt must have stopped the apply early ({secrets} of {COUNT})", cli.name());

        // Running apply again converges; destroy cleans up everything.
        ws.apply();
        assert_eq!(svc_secrets(), COUNT);
        assert!(!ws.plan_has_changes().0);
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert_eq!(svc_secrets(), 0, "destroy must leave no certificate Secret behind");
        assert!(cluster.secret(&ns, "ca-key-pair").is_none());
    });
}
