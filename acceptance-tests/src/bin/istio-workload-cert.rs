//! Asks the running istiod for a workload certificate the way a sidecar does, and prints the
//! chain it returns (leaf first): `istio-workload-cert NAMESPACE SERVICE_ACCOUNT`. The demo
//! uses it to show a certificate istiod signed with the meshtls CA. Source .meshtls-env
//! first; istiod must be running (acceptance-tests/env/istiod.sh start).

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::istio::{csr_for, Istiod};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [namespace, service_account] = args.as_slice() else {
        eprintln!("usage: istio-workload-cert NAMESPACE SERVICE_ACCOUNT");
        std::process::exit(2);
    };
    let cluster = Cluster::connect();
    let istiod = Istiod::running();
    // istiod's serving certificate chains to its plug-in CA, which the client trusts.
    let Some(root) = cluster.secret_text("istio-system", "cacerts", "ca.crt") else {
        eprintln!("istio-workload-cert: no plug-in CA (istio-system/cacerts)");
        std::process::exit(1);
    };
    let token = cluster.service_account_token(namespace, service_account, "istio-ca");
    let spiffe = format!("spiffe://cluster.local/ns/{namespace}/sa/{service_account}");
    match istiod.create_certificate(&token, &csr_for(&spiffe), &root) {
        Ok(chain) => chain.iter().for_each(|pem| print!("{pem}")),
        Err(e) => {
            eprintln!("istio-workload-cert: {e}");
            std::process::exit(1);
        }
    }
}
