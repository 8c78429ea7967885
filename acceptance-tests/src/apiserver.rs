//! A second kube-apiserver on the environment's etcd, owned by one scenario, so it can be
//! killed, restarted or started with throttling flags without disturbing the others.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{env, wait};

/// Who the scenario's kubeconfig authenticates as.
#[derive(Clone, Copy)]
pub enum User {
    /// system:masters, which the API server never throttles.
    Admin,
    /// An ordinary user bound to cluster-admin, subject to max-requests-inflight.
    Throttled,
}

pub struct ApiServer {
    child: Option<Child>,
    args: Vec<String>,
    port: u16,
    dir: tempfile::TempDir,
}

fn pki() -> PathBuf {
    PathBuf::from(env("MESHTLS_ENV_DIR")).join("pki")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn openssl(args: &[&str]) {
    let ok = Command::new("openssl").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().expect("openssl");
    assert!(ok.success(), "openssl {args:?}");
}

/// A client certificate for the user `user`, signed by the environment's CA, written into
/// `dir` as `user.crt` and `user.key`.
pub fn user_cert(dir: &Path, user: &str) -> (PathBuf, PathBuf) {
    let (key, csr, crt, ext) = (dir.join("user.key"), dir.join("user.csr"), dir.join("user.crt"), dir.join("user.ext"));
    std::fs::write(&ext, "extendedKeyUsage=clientAuth\n").expect("ext file");
    let s = |p: &Path| p.display().to_string();
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &format!("/O=meshtls-acc/CN={user}"),
        "-keyout",
        &s(&key),
        "-out",
        &s(&csr),
    ]);
    let (ca_crt, ca_key) = (pki().join("ca.crt"), pki().join("ca.key"));
    // A serial of its own rather than the CA's serial file, which scenarios signing at the
    // same time would write at once.
    let serial = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(user.as_bytes());
        format!("0x{:016x}", h.finish() >> 1)
    };
    openssl(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca_crt),
        "-CAkey",
        &s(&ca_key),
        "-set_serial",
        &serial,
        "-days",
        "1",
        "-extfile",
        &s(&ext),
        "-out",
        &s(&crt),
    ]);
    (crt, key)
}

/// A kubeconfig for `server` that authenticates with a client certificate.
pub fn write_kubeconfig(path: &Path, server: &str, crt: &Path, key: &Path) {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    client-certificate: {}\n    client-key: {}\ncontexts:\n- name: c\n  context: {{ cluster: c, user: u }}\ncurrent-context: c\n",
            pki().join("ca.crt").display(),
            crt.display(),
            key.display()
        ),
    )
    .expect("kubeconfig");
}

impl ApiServer {
    pub fn start(extra_flags: &[&str], user: User) -> ApiServer {
        let dir = tempfile::Builder::new().prefix("meshtls-apiserver-").tempdir().expect("temp dir");
        let common = std::fs::read_to_string(PathBuf::from(env("MESHTLS_ENV_DIR")).join("kube-apiserver.args"))
            .expect("kube-apiserver.args: the fault scenarios need the local control plane");
        let port = free_port();
        let mut args: Vec<String> = common.lines().map(str::to_string).collect();
        args.extend([
            "--secure-port".into(),
            port.to_string(),
            "--audit-log-path".into(),
            dir.path().join("audit.log").display().to_string(),
        ]);
        args.extend(extra_flags.iter().map(|f| f.to_string()));
        let (crt, key) = match user {
            User::Admin => (pki().join("admin.crt"), pki().join("admin.key")),
            User::Throttled => user_cert(dir.path(), "meshtls-throttled"),
        };
        write_kubeconfig(&dir.path().join("kubeconfig"), &format!("https://127.0.0.1:{port}"), &crt, &key);
        let mut server = ApiServer { child: None, args, port, dir };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let log = std::fs::File::options().create(true).append(true).open(self.dir.path().join("apiserver.log")).expect("log file");
        let child = Command::new(env("MESHTLS_KUBE_APISERVER"))
            .args(&self.args)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start kube-apiserver");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let url = format!("https://127.0.0.1:{}/readyz", self.port);
        let pki = pki();
        wait::until("the second kube-apiserver to be ready", Duration::from_secs(120), || {
            Command::new("curl")
                .args(["-sf", "--cacert"])
                .arg(pki.join("ca.crt"))
                .arg("--cert")
                .arg(pki.join("admin.crt"))
                .arg("--key")
                .arg(pki.join("admin.key"))
                .arg(&url)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .ok()
                .filter(|s| s.success())
                .map(|_| ())
        });
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// SIGKILL: no graceful shutdown, open connections just break.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// HTTP status codes of every request in this server's audit log.
    pub fn audit_codes(&self) -> Vec<u16> {
        let log = std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["stage"] == "ResponseComplete" || e["stage"] == "Panic")
            .filter_map(|e| e["responseStatus"]["code"].as_u64().map(|c| c as u16))
            .collect()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.kill();
    }
}
