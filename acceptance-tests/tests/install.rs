//! Installing meshtls the way users install providers: `make release`'s archives served by a
//! provider network mirror over HTTPS, `init` with every CLI recording the archive's hash in
//! the lock file, a second `init` from that lock file getting the same binary, and an archive
//! changed after the lock file was written refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use meshtls_acceptance_tests::{for_each_cli, provider_binary, wait, CliKind, Workspace, PROVIDER_ADDRESS, PROVIDER_VERSION};
use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `make release`'s packaging step, run on the binary the suite built.
fn release(out: &Path) {
    let status = Command::new("python3")
        .arg(repo().join(".ci/release.py"))
        .args(["--binary".as_ref(), provider_binary().as_os_str(), "--out".as_ref(), out.as_os_str()])
        .status()
        .expect("run release.py");
    assert!(status.success(), "release.py failed");
}

/// The mirror process, stopped on drop.
struct Mirror {
    child: Child,
    state: PathBuf,
    port: u16,
}

impl Mirror {
    fn start(dist: &Path, state: &Path) -> Mirror {
        let child = Command::new("python3")
            .arg(repo().join("acceptance-tests/env/provider_mirror.py"))
            .args([dist, state])
            .spawn()
            .expect("start the mirror");
        let port = wait::until("the mirror to listen", Duration::from_secs(60), || {
            std::fs::read_to_string(state.join("port")).ok().and_then(|p| p.trim().parse().ok())
        });
        Mirror { child, state: state.to_path_buf(), port }
    }

    /// Rebuilds the mirror's index from the release folder (SIGHUP), so it vouches for
    /// whatever archive is there now.
    fn reload(&self) {
        let index = self.state.join(format!("www/{PROVIDER_ADDRESS}/{PROVIDER_VERSION}.json"));
        let before = std::fs::read_to_string(&index).expect("mirror index");
        let status = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status().expect("kill -HUP");
        assert!(status.success());
        wait::until("the mirror to rebuild its index", Duration::from_secs(30), || {
            std::fs::read_to_string(&index).ok().filter(|now| *now != before)
        });
    }

    fn workspace(&self, cli: CliKind) -> Workspace {
        let config = format!("terraform {{\n  required_providers {{\n    meshtls = {{\n      source  = \"{PROVIDER_ADDRESS}\"\n      version = \"{PROVIDER_VERSION}\"\n    }}\n  }}\n}}\n");
        let ws = Workspace::new(cli, &config).with_env("SSL_CERT_FILE", &self.state.join("ca.pem").to_string_lossy());
        ws.set_cli_config(&format!(
            "provider_installation {{\n  network_mirror {{\n    url = \"https://127.0.0.1:{}/\"\n  }}\n}}\n",
            self.port
        ));
        ws
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The provider binary `init` installed in the workspace.
fn installed(ws: &Workspace) -> Vec<u8> {
    let path = ws.path().join(format!(
        ".terraform/providers/{PROVIDER_ADDRESS}/{PROVIDER_VERSION}/linux_amd64/terraform-provider-meshtls_v{PROVIDER_VERSION}"
    ));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lock_file(ws: &Workspace) -> String {
    std::fs::read_to_string(ws.path().join(".terraform.lock.hcl")).expect("lock file")
}

/// The `h1:` hash the mirror gives for the linux_amd64 archive.
fn mirror_hash(mirror: &Mirror) -> String {
    let index = std::fs::read_to_string(mirror.state.join(format!("www/{PROVIDER_ADDRESS}/{PROVIDER_VERSION}.json"))).expect("index");
    let doc: serde_json::Value = serde_json::from_str(&index).expect("index JSON");
    doc["archives"]["linux_amd64"]["hashes"][0].as_str().expect("h1 hash").to_string()
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn init_installs_from_a_mirror_and_the_lock_file_pins_the_archive() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dist = tmp.path().join("dist");
    release(&dist);
    let sums = std::fs::read_to_string(dist.join(format!("terraform-provider-meshtls_{PROVIDER_VERSION}_SHA256SUMS"))).expect("SHA256SUMS");
    let zip_name = format!("terraform-provider-meshtls_{PROVIDER_VERSION}_linux_amd64.zip");
    let zip = std::fs::read(dist.join(&zip_name)).expect("archive");
    assert!(sums.contains(&format!("{}  {zip_name}", sha256_hex(&zip))), "SHA256SUMS names the archive by its hash:\n{sums}");
    for signed in ["_SHA256SUMS.sig", "_signing-key.asc", "_manifest.json"] {
        assert!(dist.join(format!("terraform-provider-meshtls_{PROVIDER_VERSION}{signed}")).exists(), "{signed} is part of the release");
    }
    let mirror = Mirror::start(&dist, &tmp.path().join("mirror"));
    let hash = mirror_hash(&mirror);
    let built = std::fs::read(provider_binary()).expect("provider binary");

    let locks = std::sync::Mutex::new(Vec::new());
    for_each_cli(|cli| {
        let ws = mirror.workspace(cli);
        ws.ok(&["init", "-input=false"]);
        let lock = lock_file(&ws);
        assert!(
            lock.contains(PROVIDER_ADDRESS) && lock.contains(&hash),
            "{}: the lock file records the archive's hash:\n{lock}",
            cli.name()
        );
        assert!(installed(&ws) == built, "{}: init installed the binary that was released", cli.name());
        // Another directory with the lock file committed gets the same binary.
        let again = mirror.workspace(cli);
        std::fs::write(again.path().join(".terraform.lock.hcl"), &lock).expect("lock file");
        again.ok(&["init", "-input=false"]);
        assert!(installed(&again) == built, "{}: the second init installed the same binary", cli.name());
        assert_eq!(lock_file(&again), lock, "{}: the lock file is unchanged", cli.name());
        locks.lock().expect("locks").push((cli, lock));
    });

    // The archive changes after the lock files were written, and the mirror vouches for the
    // new one: only the lock file stands between it and the machines that init.
    let mut changed = built.clone();
    changed.extend_from_slice(b"\0changed after release");
    let changed_binary = tmp.path().join("changed");
    std::fs::write(&changed_binary, &changed).expect("changed binary");
    let repack = Command::new("python3")
        .args(["-c", "import sys; sys.path.insert(0, sys.argv[1]); import release; open(sys.argv[2], 'wb').write(release.zip_bytes(sys.argv[3], sys.argv[4]))"])
        .arg(repo().join(".ci"))
        .arg(dist.join(&zip_name))
        .arg(&changed_binary)
        .arg(format!("terraform-provider-meshtls_v{PROVIDER_VERSION}"))
        .status()
        .expect("repack");
    assert!(repack.success());
    mirror.reload();
    assert_ne!(mirror_hash(&mirror), hash, "positive control: the mirror now serves another archive");
    let locks = locks.into_inner().expect("locks");
    for_each_cli(|cli| {
        let ws = mirror.workspace(cli);
        let lock = &locks.iter().find(|(c, _)| *c == cli).expect("this CLI's lock file").1;
        std::fs::write(ws.path().join(".terraform.lock.hcl"), lock).expect("lock file");
        let run = ws.run(&["init", "-input=false"]);
        assert_ne!(run.code, 0, "{}: init must refuse the changed archive", cli.name());
        assert!(
            run.text().contains("checksums previously recorded in the dependency lock file"),
            "{}: the CLI says why:\n{}",
            cli.name(),
            run.text()
        );
        // Without the lock file the same mirror installs it: the refusal is the lock file's.
        let fresh = mirror.workspace(cli);
        fresh.ok(&["init", "-input=false"]);
    });
}
