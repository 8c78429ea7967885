//! A real istiod for the Istio scenarios: started by the environment's `istiod.sh` against the
//! local kube-apiserver (after the plug-in CA exists, as in a cluster), and asked what it
//! holds through its debug endpoint, its log, and its CA service, the way a sidecar asks for
//! its certificate.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::{env, repo_root, wait};

/// One istiod per environment: it reads `istio-system/cacerts` and writes every namespace's
/// `istio-ca-root-cert`. A scenario that plugs in a CA and runs istiod holds this throughout.
static ISTIOD: Mutex<()> = Mutex::new(());

/// The environment's Istio control plane, for one scenario at a time.
pub struct IstioTurn {
    _held: MutexGuard<'static, ()>,
}

/// The Secret of the meshtls CA the scenarios plug into istiod (as a copy, `cacerts`).
pub const PLUG_IN_CA_SECRET: &str = "mesh-root-ca";

/// A scenario that fails leaves its plug-in CA behind; the next one must start without it.
impl Drop for IstioTurn {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let cluster = crate::cluster::Cluster::connect();
            cluster.remove_secret("istio-system", "cacerts");
            cluster.remove_secret("istio-system", PLUG_IN_CA_SECRET);
            cluster.remove_secret("istio-system", &format!("{PLUG_IN_CA_SECRET}-rotation"));
        }
    }
}

/// Waits for the other Istio scenarios, then returns this one's turn.
pub fn exclusive() -> IstioTurn {
    IstioTurn { _held: ISTIOD.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) }
}

/// The CA service's messages (istio.io/api security/v1alpha1/ca.proto), the fields used.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IstioCertificateRequest {
    #[prost(string, tag = "1")]
    pub csr: String,
    #[prost(int64, tag = "3")]
    pub validity_duration: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IstioCertificateResponse {
    #[prost(string, repeated, tag = "1")]
    pub cert_chain: Vec<String>,
}

/// A running istiod.
pub struct Istiod {
    http: String,
    secure_grpc: String,
    namespace: String,
    log: PathBuf,
    cacerts_dir: PathBuf,
    volume_log: PathBuf,
    stop_on_drop: bool,
    /// How it was started, so drop stops the same istiod.
    install: Install,
}

/// How istiod takes its plug-in CA, the `cacerts` Secret (see istiod.sh).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaCerts {
    /// Read from the API server once, at start (`USE_REMOTE_CERTS`).
    Remote,
    /// A folder kept in step with the Secret as the kubelet keeps a Secret volume, as a
    /// Helm-installed istiod has it mounted.
    Mounted,
}

/// How istiod is installed: istiod.sh's settings.
#[derive(Clone, Debug)]
pub struct Install {
    pub cacerts: CaCerts,
    /// The revision istiod runs as (the chart's `revision`); `default` unless set.
    pub revision: String,
    /// Ambient mode on (`PILOT_ENABLE_AMBIENT`): istiod serves ztunnel as well as sidecars.
    pub ambient: bool,
    /// Roots may change while istiod runs (`ISTIO_MULTIROOT_MESH`), as a rotation needs.
    pub multiroot: bool,
    /// Another istiod beside the environment's (`ISTIOD_INSTANCE`), in the cluster of its own
    /// kubeconfig: the second cluster's.
    pub instance: Option<(String, PathBuf)>,
}

impl Default for Install {
    fn default() -> Self {
        Install { cacerts: CaCerts::Remote, revision: "default".into(), ambient: false, multiroot: false, instance: None }
    }
}

fn script(action: &str, install: &Install) -> std::process::Output {
    let mode = match install.cacerts {
        CaCerts::Remote => "remote",
        CaCerts::Mounted => "mounted",
    };
    let mut command = Command::new(repo_root().join("acceptance-tests/env/istiod.sh"));
    command
        .arg(action)
        .env("ISTIOD_CACERTS", mode)
        .env("ISTIOD_REVISION", &install.revision)
        .env("ISTIOD_AMBIENT", if install.ambient { "true" } else { "false" })
        .env("ISTIOD_MULTIROOT", if install.multiroot { "true" } else { "false" });
    if let Some((instance, kubeconfig)) = &install.instance {
        command.env("ISTIOD_INSTANCE", instance).env("KUBECONFIG", kubeconfig);
    }
    command.output().expect("run istiod.sh")
}

impl Istiod {
    /// Starts istiod, during `_turn`; its plug-in CA (`istio-system/cacerts`) should exist by
    /// now. Stopped on drop.
    pub fn start(turn: &IstioTurn) -> Istiod {
        Istiod::start_with(turn, CaCerts::Remote)
    }

    /// Starts (or restarts) istiod taking `cacerts` the given way. Stopped on drop.
    pub fn start_with(turn: &IstioTurn, cacerts: CaCerts) -> Istiod {
        Istiod::install(turn, &Install { cacerts, ..Default::default() })
    }

    /// Starts (or restarts) istiod installed as `install` says, as the `istiod` chart installs
    /// it (a revision's mesh-config ConfigMap included). Stopped on drop.
    pub fn install(_turn: &IstioTurn, install: &Install) -> Istiod {
        let out = script("start", install);
        assert!(out.status.success(), "istiod did not start: {}", String::from_utf8_lossy(&out.stderr));
        let name = install.instance.as_ref().map_or("istiod.env".to_string(), |(instance, _)| format!("istiod-{instance}.env"));
        let mut istiod = Istiod::from_env_file(&PathBuf::from(env("MESHTLS_ENV_DIR")).join(name));
        istiod.stop_on_drop = true;
        istiod.install = install.clone();
        istiod
    }

    /// The folder istiod reads its plug-in CA from (ROOT_CA_DIR).
    pub fn cacerts_dir(&self) -> &std::path::Path {
        &self.cacerts_dir
    }

    /// What the mounted-volume refresher did, one line per change (`CaCerts::Mounted` only).
    /// A log that cannot be read fails the scenario rather than reading as "nothing happened".
    pub fn volume_log(&self) -> String {
        std::fs::read_to_string(&self.volume_log).unwrap_or_else(|e| panic!("the cacerts volume's log {}: {e}", self.volume_log.display()))
    }

    /// The istiod the environment runs now (started with `istiod.sh start`), left running.
    pub fn running() -> Istiod {
        Istiod::from_env_file(&PathBuf::from(env("MESHTLS_ENV_DIR")).join("istiod.env"))
    }

    fn from_env_file(env_file: &std::path::Path) -> Istiod {
        let text = std::fs::read_to_string(env_file).unwrap_or_else(|e| panic!("{}: {e}; is istiod running?", env_file.display()));
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {key}=")))
                .map(|v| v.trim_matches('\'').to_string())
                .unwrap_or_else(|| panic!("{key} missing from {}", env_file.display()))
        };
        Istiod {
            http: value("ISTIOD_HTTP"),
            secure_grpc: value("ISTIOD_SECURE_GRPC"),
            namespace: value("ISTIOD_NAMESPACE"),
            log: PathBuf::from(value("ISTIOD_LOG")),
            cacerts_dir: PathBuf::from(value("ISTIOD_CACERTS_DIR")),
            volume_log: PathBuf::from(value("ISTIOD_VOLUME_LOG")),
            stop_on_drop: false,
            install: Install::default(),
        }
    }

    /// Every configuration object istiod holds now (its `/debug/configz`). An istiod that
    /// does not answer is an error, never an empty list: a wait for istiod to drop an object
    /// must not pass because istiod is down.
    pub fn configs(&self) -> Result<Vec<serde_json::Value>, String> {
        let url = format!("{}/debug/configz", self.http);
        let body =
            ureq::get(&url).call().map_err(|e| format!("{url}: {e}"))?.body_mut().read_to_string().map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_str(&body).map_err(|e| format!("{url}: not a list of objects: {e}"))
    }

    /// The object of `kind` istiod holds under `namespace/name`, once it holds one for which
    /// `ready` is true.
    pub fn wait_for_config(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        wait::until(&format!("istiod to hold {kind} {namespace}/{name}"), Duration::from_secs(60), || {
            self.configs()
                .ok()?
                .into_iter()
                .find(|c| c["kind"] == kind && c["metadata"]["namespace"] == namespace && c["metadata"]["name"] == name && ready(c))
        })
    }

    /// What istiod derived for ambient mode (its `/debug/ambientz`): workloads, services and
    /// the policies each workload gets. An istiod that does not answer is an error.
    pub fn ambientz(&self) -> Result<serde_json::Value, String> {
        let url = format!("{}/debug/ambientz", self.http);
        let body =
            ureq::get(&url).call().map_err(|e| format!("{url}: {e}"))?.body_mut().read_to_string().map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_str(&body).map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// Whether istiod holds an object of `kind` under `namespace/name`; an error when istiod
    /// does not answer.
    pub fn holds(&self, kind: &str, namespace: &str, name: &str) -> Result<bool, String> {
        Ok(self.configs()?.iter().any(|c| c["kind"] == kind && c["metadata"]["namespace"] == namespace && c["metadata"]["name"] == name))
    }

    /// istiod's log; a log that cannot be read fails the scenario rather than reading as quiet.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| panic!("istiod's log {}: {e}", self.log.display()))
    }

    /// istiod's warning and error lines that mention any of `needles`. Its positive control:
    /// the log must hold istiod's own tab-separated level field (its `info` lines), or the
    /// filter below could match nothing because the format changed.
    pub fn complaints_about(&self, needles: &[&str]) -> Vec<String> {
        let log = self.log();
        assert!(
            log.lines().any(|l| l.contains("\tinfo\t")),
            "istiod's log {} has no `\\tinfo\\t` lines: its format changed, so warnings could not be found",
            self.log.display()
        );
        log.lines()
            .filter(|l| l.contains("\twarn\t") || l.contains("\terror\t"))
            .filter(|l| needles.iter().any(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// Asks istiod's CA service for a workload certificate, as a sidecar does: the CSR over its
    /// secure gRPC port (whose serving certificate must chain to `root_pem`), authenticated
    /// with a service account token. Returns the certificate chain, leaf first.
    pub fn create_certificate(&self, token: &str, csr_pem: &str, root_pem: &str) -> Result<Vec<String>, String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(self.create_certificate_async(token, csr_pem, root_pem))
    }

    async fn create_certificate_async(&self, token: &str, csr_pem: &str, root_pem: &str) -> Result<Vec<String>, String> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        for der in pem::parse_many(root_pem).map_err(|e| e.to_string())? {
            roots.add(der.contents().to_vec().into()).map_err(|e| e.to_string())?;
        }
        let mut tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
        let (addr, server) = (self.secure_grpc.clone(), format!("istiod.{}.svc", self.namespace));
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).map_err(|e| e.to_string())?;
        let channel = endpoint
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let (connector, addr, server) = (connector.clone(), addr.clone(), server.clone());
                async move {
                    let tcp = tokio::net::TcpStream::connect(addr).await?;
                    let name = rustls::pki_types::ServerName::try_from(server).map_err(std::io::Error::other)?;
                    let stream = connector.connect(name, tcp).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| format!("connecting to istiod's secure gRPC port: {e:?}"))?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.map_err(|e| e.to_string())?;
        let mut request = tonic::Request::new(IstioCertificateRequest { csr: csr_pem.into(), validity_duration: 3600 });
        let bearer = format!("Bearer {token}").parse().map_err(|e| format!("{e}"))?;
        request.metadata_mut().insert("authorization", bearer);
        let path = http::uri::PathAndQuery::from_static("/istio.v1.auth.IstioCertificateService/CreateCertificate");
        let response = grpc
            .unary::<_, IstioCertificateResponse, _>(request, path, tonic_prost::ProstCodec::default())
            .await
            .map_err(|status| format!("CreateCertificate: {status}"))?;
        Ok(response.into_inner().cert_chain)
    }
}

impl Drop for Istiod {
    fn drop(&mut self) {
        if self.stop_on_drop {
            let _ = script("stop", &self.install);
        }
    }
}

/// A sidecar's certificate request: a fresh key and a CSR naming `spiffe_id`.
pub fn csr_for(spiffe_id: &str) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.subject_alt_names = vec![rcgen::SanType::URI(spiffe_id.try_into().expect("SPIFFE ID"))];
    let key = rcgen::KeyPair::generate().expect("key");
    params.serialize_request(&key).expect("CSR").pem().expect("PEM")
}

/// A Deployment of Yelb's image `name` whose pods carry `labels`, as Yelb's manifests write
/// one (no kubelet runs it here: what matters is its pod template).
pub fn deployment(cluster: &crate::cluster::Cluster, namespace: &str, name: &str, labels: serde_json::Value) {
    cluster.apply_object(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": labels },
                "spec": { "containers": [{ "name": name, "image": format!("mreferre/{name}:0.7") }] }
            }
        }
    }));
}

/// One message of `istioctl analyze`.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub code: String,
    pub level: String,
    pub message: String,
    pub origin: String,
}

impl std::fmt::Display for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}: {}", self.level, self.code, self.origin, self.message)
    }
}

/// Every message of `istioctl analyze` (built from the same istio.io/istio as istiod) for
/// `namespace` on the environment's cluster, Info included.
pub fn analyze(namespace: &str) -> Vec<Analysis> {
    // Asked of tools.sh once per process: `analyzed_clean` calls this in a polling loop.
    static ISTIOCTL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let istioctl = ISTIOCTL.get_or_init(|| {
        let out = Command::new(repo_root().join("acceptance-tests/env/tools.sh")).args(["path", "istioctl"]).output().expect("tools.sh");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    });
    let out = Command::new(istioctl)
        .args(["analyze", "--kubeconfig", &env("KUBECONFIG"), "-n", namespace, "-o", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{istioctl}: {e}; is it built (tools.sh istio)?"));
    assert!(out.status.success(), "istioctl analyze failed: {}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("istioctl analyze printed no JSON list ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    let text = |m: &serde_json::Value, k: &str| m[k].as_str().unwrap_or_else(|| panic!("an analysis without {k}: {m}")).to_string();
    list.iter()
        .map(|m| Analysis { code: text(m, "code"), level: text(m, "level"), message: text(m, "message"), origin: text(m, "origin") })
        .collect()
}

/// The warnings and errors of `analysis`, less what this environment cannot avoid: no load
/// balancer controller runs, so no gateway gets an address (IST0171, AddressNotAssigned).
pub fn problems(analysis: &[Analysis]) -> Vec<String> {
    analysis
        .iter()
        .filter(|a| a.level == "Warning" || a.level == "Error")
        .filter(|a| !(a.code == "IST0171" && a.message.contains("reason=AddressNotAssigned")))
        .map(ToString::to_string)
        .collect()
}

/// Waits for `istioctl analyze` of `namespace` to find no problems (see [`problems`]), as
/// istiod finishes what it makes (a gateway's Service, then its status); the problems last
/// seen when `timeout` passes.
pub fn analyzed_clean(namespace: &str, timeout: std::time::Duration) -> Result<(), Vec<String>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let found = problems(&analyze(namespace));
        if found.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(found);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
