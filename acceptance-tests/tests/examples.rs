//! Every example is `tofu fmt`-clean and validates with every CLI; the CA example applies.

use std::path::{Path, PathBuf};
use std::process::Command;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{env, for_each_cli, repo_root, CliKind, Workspace};

/// Folders under examples/ holding .tf files directly.
fn example_dirs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut has_tf = false;
        for entry in std::fs::read_dir(dir).expect("read examples").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "tf") {
                has_tf = true;
            }
        }
        if has_tf {
            out.push(dir.to_path_buf());
        }
    }
    let mut out = Vec::new();
    walk(&repo_root().join("examples"), &mut out);
    out.sort();
    out
}

fn workspace_for(cli: CliKind, dir: &Path) -> Workspace {
    let examples = repo_root().join("examples");
    Workspace::from_tree(cli, &examples, dir.strip_prefix(&examples).expect("an example folder"))
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn examples_are_formatted() {
    let out = Command::new(env("TOFU"))
        .args(["fmt", "-check", "-recursive", "-diff"])
        .arg(repo_root().join("examples"))
        .output()
        .expect("tofu fmt");
    assert!(out.status.success(), "examples are not tofu fmt-clean:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn examples_validate() {
    let dirs = example_dirs();
    assert!(dirs.len() >= 2, "expected the provider and meshtls_ca examples, found {dirs:?}");
    for_each_cli(|cli| {
        for dir in &dirs {
            let ws = workspace_for(cli, dir);
            ws.ok(&["init", "-input=false", "-backend=false"]);
            ws.ok(&["validate"]);
        }
    });
}

/// The acceptance line: applying the CA example leaves a Secret holding a CA that
/// openssl accepts, and no key in state.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn ca_example_applies() {
    let cluster = Cluster::connect();
    cluster.create_namespace("yelb");
    let ws = workspace_for(CliKind::Tofu, &repo_root().join("examples/resources/meshtls_ca"));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let pem = cluster.secret_text("yelb", "ca-key-pair", "tls.crt").expect("tls.crt in yelb/ca-key-pair");
    let ca = ws.path().join("ca.crt");
    std::fs::write(&ca, &pem).expect("write");
    let verify = Command::new("openssl").args(["verify", "-CAfile"]).arg(&ca).arg(&ca).output().expect("openssl");
    assert!(verify.status.success(), "openssl verify: {}", String::from_utf8_lossy(&verify.stderr));
    let text =
        Command::new("openssl").args(["x509", "-noout", "-ext", "basicConstraints,keyUsage", "-in"]).arg(&ca).output().expect("openssl");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("CA:TRUE") && text.contains("Certificate Sign"), "{text}");
    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret("yelb", "ca-key-pair").is_none());
}
