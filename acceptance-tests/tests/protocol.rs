//! `--debug` reattach driven by tofu against the real cluster.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{provider_binary, provider_block, wait, CliKind, Workspace};

struct Plugin(Child);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn debug_mode_reattaches_from_tofu() {
    let cluster = Cluster::connect();
    let ns = &cluster.fresh_namespace("acc-debug");
    let mut child =
        Command::new(provider_binary()).arg("--debug").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start --debug");
    let stdout = child.stdout.take().expect("stdout");
    let _plugin = Plugin(child);
    let mut reader = BufReader::new(stdout);
    let reattach = wait::until("the TF_REATTACH_PROVIDERS line", Duration::from_secs(30), || {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        line.trim().strip_prefix("TF_REATTACH_PROVIDERS='").map(|v| v.trim_end_matches('\'').to_string())
    });
    let parsed: serde_json::Value = serde_json::from_str(&reattach).expect("reattach JSON");
    assert_eq!(parsed["registry.terraform.io/meshtls/meshtls"]["ProtocolVersion"], 6);

    let config =
        format!("{}\nresource \"meshtls_ca\" \"debug\" {{\n  namespace   = \"{ns}\"\n  common_name = \"Debug CA\"\n}}\n", provider_block());
    let ws = Workspace::new(CliKind::Tofu, &config);
    let run = |args: &[&str]| {
        let out = ws.command(args).env("TF_REATTACH_PROVIDERS", &reattach).output().expect("tofu");
        assert!(out.status.success(), "tofu {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    };
    run(&["init", "-input=false", "-no-color"]);
    run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(cluster.secret(ns, "ca-key-pair").is_some(), "the reattached provider must have created the Secret");
    // The same server serves a second command: debug mode outlives each CLI run.
    run(&["destroy", "-auto-approve", "-input=false", "-no-color"]);
    assert!(cluster.secret(ns, "ca-key-pair").is_none());
}
