//! Harness for the acceptance scenarios: each runs the real `tofu` and `terraform` binaries
//! against the local control plane and moto started by `acceptance-tests/env/env-up.sh`
//! (see `make testacc`), with the provider installed from a filesystem mirror so that
//! `init` runs exactly as it does for users.

pub mod acmpca;
pub mod apiserver;
pub mod appmesh;
pub mod cluster;
pub mod identity;
pub mod istio;
pub mod mtls;
pub mod toxiproxy;
pub mod wait;
pub mod yelb;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/meshtls/meshtls";
pub const PROVIDER_VERSION: &str = "0.1.0";

/// Reads a variable the environment file exports, with a clear message when the
/// environment is not running.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the acceptance environment with `make env-up` and `source .meshtls-env`, or run `make testacc`")
    })
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("acceptance-tests lives in the repository").to_path_buf()
}

/// The provider binary under test: MESHTLS_PROVIDER_BIN, else the workspace's debug build.
pub fn provider_binary() -> PathBuf {
    std::env::var_os("MESHTLS_PROVIDER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/terraform-provider-meshtls"))
}

/// Writes a filesystem mirror holding the provider, and a CLI config that installs from it,
/// into `dir`; returns the config's path. The mirror links to the build instead of copying
/// it: a debug build is hundreds of megabytes, and every workspace has its own mirror.
fn write_cli_config(dir: &Path) -> PathBuf {
    let mirror = dir.join("mirror");
    let platform = mirror.join(format!("{PROVIDER_ADDRESS}/{PROVIDER_VERSION}/linux_amd64"));
    std::fs::create_dir_all(&platform).expect("mirror dir");
    let bin = provider_binary();
    assert!(bin.exists(), "provider binary {} not built: run `cargo build` first", bin.display());
    let bin = bin.canonicalize().expect("provider binary path");
    std::os::unix::fs::symlink(&bin, platform.join(format!("terraform-provider-meshtls_v{PROVIDER_VERSION}"))).expect("link provider");
    let config = dir.join("cli.tfrc");
    std::fs::write(
        &config,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"{PROVIDER_ADDRESS}\"]\n  }}\n}}\n",
            mirror.display()
        ),
    )
    .expect("cli config");
    config
}

/// The CLIs every scenario runs with: OpenTofu 1.12, the current Terraform (1.16) and the
/// oldest Terraform meshtls supports (1.0.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliKind {
    /// OpenTofu 1.12.
    Tofu,
    /// Terraform 1.16, the newest whose source the Go module proxy serves.
    TerraformCurrent,
    /// Terraform 1.0.3.
    Terraform,
}

impl CliKind {
    pub const ALL: [CliKind; 3] = [CliKind::Tofu, CliKind::TerraformCurrent, CliKind::Terraform];

    /// Also a part of namespace names, so a DNS label.
    pub fn name(self) -> &'static str {
        match self {
            CliKind::Tofu => "tofu",
            CliKind::TerraformCurrent => "terraform116",
            CliKind::Terraform => "terraform",
        }
    }

    pub fn binary(self) -> PathBuf {
        PathBuf::from(env(match self {
            CliKind::Tofu => "TOFU",
            CliKind::TerraformCurrent => "TERRAFORM_CURRENT",
            CliKind::Terraform => "TERRAFORM",
        }))
    }
}

/// The result of one CLI command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Both streams with every run of whitespace collapsed to one space: the CLIs wrap
    /// diagnostics at the terminal width, so phrases are matched on this.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr).split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// A working directory with one configuration, driven by one CLI. Every command logs at
/// trace level into the directory, so scenarios can scan the logs for key material.
pub struct Workspace {
    pub cli: CliKind,
    dir: tempfile::TempDir,
    /// Where the CLI runs: `work/` in the temp dir, or a folder inside a copied tree; the
    /// temp dir itself holds the provider mirror, the CLI config and the trace log.
    workdir: PathBuf,
    cli_config: PathBuf,
    /// Environment for every command, on top of the test process's (a KUBECONFIG, say).
    env: Vec<(String, String)>,
    /// Variables of the test process's environment unset for every command.
    unset: Vec<String>,
    /// The private keys of every Secret this workspace's state has named, as PEM: the scan
    /// at teardown looks for each of them in every encoding.
    keys: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

impl Workspace {
    pub fn new(cli: CliKind, config: &str) -> Workspace {
        let dir = tempfile::Builder::new().prefix(&format!("meshtls-acc-{}-", cli.name())).tempdir().expect("temp dir");
        let workdir = dir.path().join("work");
        std::fs::create_dir(&workdir).expect("work dir");
        let cli_config = write_cli_config(dir.path());
        let ws = Workspace { cli, dir, workdir, cli_config, env: Vec::new(), unset: Vec::new(), keys: Default::default() };
        ws.write_config(config);
        ws
    }

    /// A copy of the tree at `root`, with the CLI running in `root/subdir`, so relative
    /// module sources (`../modules/...`) resolve as they do in the repository.
    pub fn from_tree(cli: CliKind, root: &Path, subdir: &Path) -> Workspace {
        let dir = tempfile::Builder::new().prefix(&format!("meshtls-acc-{}-", cli.name())).tempdir().expect("temp dir");
        copy_tree(root, &dir.path().join("tree"));
        let workdir = dir.path().join("tree").join(subdir);
        let cli_config = write_cli_config(dir.path());
        Workspace { cli, dir, workdir, cli_config, env: Vec::new(), unset: Vec::new(), keys: Default::default() }
    }

    pub fn path(&self) -> &Path {
        &self.workdir
    }

    /// Sets an environment variable for every command this workspace runs.
    pub fn with_env(mut self, key: &str, value: &str) -> Workspace {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Unsets an environment variable (the test process's KUBECONFIG, say) for every command.
    pub fn without_env(mut self, key: &str) -> Workspace {
        self.unset.push(key.into());
        self
    }

    /// Replaces the CLI configuration (where providers are installed from).
    pub fn set_cli_config(&self, text: &str) {
        std::fs::write(&self.cli_config, text).expect("cli config");
    }

    pub fn write_config(&self, config: &str) {
        std::fs::write(self.path().join("main.tf"), config).expect("write main.tf");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.cli.binary());
        cmd.args(args)
            .current_dir(self.path())
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_LOG", "trace")
            .env("TF_LOG_PATH", self.dir.path().join("cli-trace.log"))
            .env("CHECKPOINT_DISABLE", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        for key in &self.unset {
            cmd.env_remove(key);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut full: Vec<&str> = args.to_vec();
        if !matches!(args.first(), Some(&"output") | Some(&"state")) {
            full.push("-no-color");
        }
        let changes = matches!(args.first(), Some(&("apply" | "destroy" | "import")));
        if changes {
            self.collect_keys();
        }
        let output = self.command(&full).output().unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.cli.name()));
        if changes {
            self.collect_keys();
        }
        Run::from(output)
    }

    /// Runs a command that must succeed, and returns its output.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{} {args:?} failed:\n{}", self.cli.name(), run.text());
        run
    }

    /// `plan -detailed-exitcode`: true when changes are planned, false when there are none.
    pub fn plan_has_changes(&self) -> (bool, Run) {
        self.ok_plan(&[])
    }

    /// `plan -detailed-exitcode` with extra arguments: whether changes are planned.
    pub fn ok_plan(&self, extra: &[&str]) -> (bool, Run) {
        let mut args = vec!["plan", "-detailed-exitcode", "-input=false"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        match run.code {
            0 => (false, run),
            2 => (true, run),
            _ => panic!("{} plan failed:\n{}", self.cli.name(), run.text()),
        }
    }

    pub fn apply(&self) -> Run {
        self.ok(&["apply", "-auto-approve", "-input=false"])
    }

    /// `openssl verify` of `leaf` against `anchor` (both PEM), in this workspace's folder.
    pub fn openssl_verify(&self, anchor: &str, leaf: &str) -> Result<(), String> {
        std::fs::write(self.path().join("leaf.crt"), leaf).expect("write leaf");
        self.openssl_verify_with(anchor, &["leaf.crt"])
    }

    /// `openssl verify` of the first certificate of `chain` against `anchor`, with the rest
    /// of `chain` as the intermediates it may use (as a TLS peer sends them).
    pub fn openssl_verify_chain(&self, anchor: &str, chain: &str) -> Result<(), String> {
        std::fs::write(self.path().join("chain.crt"), chain).expect("write chain");
        self.openssl_verify_with(anchor, &["-untrusted", "chain.crt", "chain.crt"])
    }

    fn openssl_verify_with(&self, anchor: &str, args: &[&str]) -> Result<(), String> {
        std::fs::write(self.path().join("anchor.crt"), anchor).expect("write anchor");
        let out = Command::new("openssl")
            .args(["verify", "-CAfile", "anchor.crt"])
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("openssl");
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// `openssl x509 -text` of a PEM certificate.
    pub fn openssl_text(&self, pem: &str) -> String {
        std::fs::write(self.path().join("inspect.crt"), pem).expect("write certificate");
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in", "inspect.crt"])
            .current_dir(self.path())
            .output()
            .expect("openssl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The CLI's trace log (TF_LOG=trace) of every command run so far.
    pub fn trace_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cli-trace.log")).unwrap_or_default()
    }

    /// The state file; fails when the CLI wrote none, so a check of what state holds cannot
    /// pass for want of a state.
    pub fn state_json(&self) -> String {
        self.state_file().unwrap_or_else(|| panic!("{}: no state file was written in {}", self.cli.name(), self.path().display()))
    }

    fn state_file(&self) -> Option<String> {
        std::fs::read_to_string(self.path().join("terraform.tfstate")).ok()
    }

    /// An attribute of the first instance of a resource type in state (null when absent).
    pub fn state_attribute(&self, resource_type: &str, attribute: &str) -> serde_json::Value {
        state_attribute(&self.state_json(), resource_type, attribute)
    }

    /// (namespace, secret_name) of every CA and certificate in state, tainted ones included.
    pub fn state_secrets(&self) -> Vec<(String, String)> {
        secrets_in(&self.state_json())
    }

    /// Nothing orphaned, nothing duplicated: the Secrets meshtls manages in `namespace` are
    /// exactly those in state, each once.
    pub fn assert_nothing_orphaned(&self, cluster: &cluster::Cluster, namespace: &str) {
        let in_state: Vec<String> = self.state_secrets().into_iter().filter(|(ns, _)| ns == namespace).map(|(_, n)| n).collect();
        let mut deduped = in_state.clone();
        deduped.dedup();
        assert_eq!(in_state, deduped, "{}: a Secret is in state twice", self.cli.name());
        let mut in_cluster = cluster.managed_secret_names(namespace);
        in_cluster.sort();
        assert_eq!(in_cluster, in_state, "{}: the Secrets meshtls manages in {namespace} differ from those in state", self.cli.name());
    }

    /// Adds a key the scan must not find, from a Secret the state names in another cluster
    /// (the environment's own cluster's are found by themselves).
    pub fn remember_key(&self, pem: &str) {
        self.keys.borrow_mut().insert(pem.to_string());
    }

    /// Remembers the private key of every Secret the state names that the cluster holds now.
    fn collect_keys(&self) {
        let secrets = self.state_file().map(|s| secrets_in(&s)).unwrap_or_default();
        if secrets.is_empty() {
            return;
        }
        let cluster = cluster::Cluster::connect();
        let mut keys = self.keys.borrow_mut();
        // A CA's key is under Istio's name in its four-file layout, and a rotating root's other
        // key is in `<secret_name>-rotation`.
        for (ns, name) in secrets.iter().flat_map(|(ns, name)| [(ns.clone(), name.clone()), (ns.clone(), format!("{name}-rotation"))]) {
            for entry in ["tls.key", "ca-key.pem"] {
                if let Some(key) = cluster.secret_text(&ns, &name, entry) {
                    keys.insert(key);
                }
            }
        }
    }

    /// Fails when private-key material appears in the CLI's trace log (which holds the
    /// provider's stderr too), the state, or a saved plan rendered as JSON: the PEM marker,
    /// and each key this workspace's Secrets held as its PEM body, base64 of its DER, and its
    /// DER as hex.
    pub fn assert_no_key_material(&self) {
        let plan_file = self.path().join("scan.tfplan");
        self.ok(&["plan", "-input=false", &format!("-out={}", plan_file.display())]);
        let plan_json = self.ok(&["show", "-json", &plan_file.display().to_string()]).stdout;
        self.scan(&plan_json);
    }

    fn scan(&self, plan_json: &str) {
        let log = self.trace_log();
        assert!(!log.is_empty(), "the trace log was not written");
        self.collect_keys();
        let needles = key_needles(&self.keys.borrow());
        for (what, text) in [("trace log", &log), ("state", &self.state_file().unwrap_or_default()), ("plan JSON", &plan_json.to_string())]
        {
            assert!(!text.contains("PRIVATE KEY"), "{} {what} contains private key PEM", self.cli.name());
            for (encoding, needle) in &needles {
                assert!(!text.contains(needle.as_str()), "{} {what} contains a private key ({encoding})", self.cli.name());
            }
        }
    }
}

/// What each key looks like where it could leak: base64 of its PEM (a Secret's data on the
/// wire), a line of its PEM body, and a span of its private part as base64 of the DER and as
/// hex. The span starts at a multiple of three bytes, so its base64 is a substring of the
/// whole DER's.
fn key_needles(keys: &std::collections::BTreeSet<String>) -> Vec<(&'static str, String)> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut needles = Vec::new();
    for pem_text in keys {
        let Ok(block) = pem::parse(pem_text.as_bytes()) else { continue };
        let der = block.contents();
        needles.push(("base64 of the PEM", b64.encode(pem_text.as_bytes()).chars().take(48).collect()));
        // The private part: an EC key's scalar follows a short header, an RSA key's CRT
        // coefficient ends it. (The public parts are in the certificate, so not matched.)
        let start = if der.len() < 200 { 36 } else { (der.len() - 40) / 3 * 3 };
        if let Some(span) = der.get(start..start + 24) {
            needles.push(("base64 of the DER", b64.encode(span)));
            needles.push(("DER as hex", span.iter().map(|b| format!("{b:02x}")).collect()));
        }
        if let Some(line) = pem_text.lines().nth(2).filter(|l| l.len() >= 48) {
            needles.push(("PEM body", line.to_string()));
        }
    }
    needles
}

/// The shared teardown of every scenario: the key-material scan of whatever this workspace
/// ran, so no scenario can leave it out.
impl Drop for Workspace {
    fn drop(&mut self) {
        if std::thread::panicking() || self.trace_log().is_empty() {
            return;
        }
        self.scan("");
    }
}

/// An attribute of the first instance of a resource type in a state file's text, tainted or
/// not; null when absent.
pub fn state_attribute(state_text: &str, resource_type: &str, attribute: &str) -> serde_json::Value {
    let state: serde_json::Value = serde_json::from_str(state_text).unwrap_or_default();
    let resource = state["resources"].as_array().into_iter().flatten().find(|r| r["type"] == resource_type);
    resource.map(|r| r["instances"][0]["attributes"][attribute].clone()).unwrap_or_default()
}

/// (namespace, secret_name) of every CA and certificate in a state file's text.
fn secrets_in(state_text: &str) -> Vec<(String, String)> {
    let state: serde_json::Value = serde_json::from_str(state_text).unwrap_or_default();
    let mut found = Vec::new();
    for resource in state["resources"].as_array().into_iter().flatten() {
        if !matches!(resource["type"].as_str(), Some("meshtls_ca" | "meshtls_certificate")) || resource["mode"] != "managed" {
            continue;
        }
        for instance in resource["instances"].as_array().into_iter().flatten() {
            let a = &instance["attributes"];
            if let (Some(ns), Some(name)) = (a["namespace"].as_str(), a["secret_name"].as_str()) {
                found.push((ns.to_string(), name.to_string()));
            }
        }
    }
    found.sort();
    found
}

/// Runs `f` once per supported CLI, each on its own thread, and fails if any run failed.
pub fn for_each_cli(f: impl Fn(CliKind) + Sync) {
    std::thread::scope(|s| {
        let handles: Vec<_> = CliKind::ALL
            .iter()
            .map(|&cli| {
                (
                    cli,
                    s.spawn({
                        let f = &f;
                        move || f(cli)
                    }),
                )
            })
            .collect();
        let failed: Vec<&str> = handles.into_iter().filter_map(|(cli, h)| h.join().is_err().then_some(cli.name())).collect();
        assert!(failed.is_empty(), "scenario failed with {failed:?}");
    });
}

/// Whether two PEM certificates are the same, whatever their line breaks.
pub fn same_pem(a: &str, b: &str) -> bool {
    let body = |p: &str| p.lines().filter(|l| !l.starts_with("-----")).collect::<String>();
    !a.trim().is_empty() && body(a) == body(b)
}

/// A root no scenario's CA has anything to do with, named as meshtls roots are, for checks
/// that must fail.
pub fn unrelated_root() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "Mesh Root CA");
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("CA").pem()
}

/// The provider block every scenario uses: the kubeconfig from the environment, passed
/// explicitly so the `kubernetes` block is exercised.
pub fn provider_block() -> String {
    provider_block_with(&env("KUBECONFIG"))
}

/// The provider block for both sides of `mesh`: the cluster and the App Mesh API (moto).
pub fn provider_block_for_mesh(mesh: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  mesh_name = \"{mesh}\"\n  kubernetes {{\n    config_path = \"{}\"\n  }}\n  aws {{\n    region = \"{}\"\n    endpoints {{\n      appmesh = \"{}\"\n    }}\n  }}\n}}\n",
        env("KUBECONFIG"),
        env("AWS_REGION"),
        env("AWS_ENDPOINT_URL")
    )
}

/// The provider block, reaching the cluster through another kubeconfig (a proxy, a second
/// API server).
pub fn provider_block_with(kubeconfig: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  kubernetes {{\n    config_path = \"{kubeconfig}\"\n  }}\n}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_of_a_key_is_found_and_its_certificate_is_not() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        for alg in [&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ECDSA_P384_SHA384] {
            let key = rcgen::KeyPair::generate_for(alg).expect("key");
            let pem_text = key.serialize_pem();
            let der = key.serialize_der();
            let cert = rcgen::CertificateParams::new(vec!["a.example".into()]).expect("params").self_signed(&key).expect("cert");
            let needles = key_needles(&std::collections::BTreeSet::from([pem_text.clone()]));
            assert_eq!(needles.len(), 4);
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            let haystacks = [b64.encode(&der), b64.encode(pem_text.as_bytes()), hex, pem_text.clone()];
            for (encoding, needle) in &needles {
                assert!(haystacks.iter().any(|h| h.contains(needle.as_str())), "{encoding} not found in any encoding of the key");
                for public in [cert.pem(), b64.encode(cert.der()), cert.der().iter().map(|b| format!("{b:02x}")).collect::<String>()] {
                    assert!(!public.contains(needle.as_str()), "{encoding} matches the certificate");
                }
            }
        }
    }
}
