//! docs/guides/one-root-many-clusters.md, run: a real second kube-apiserver and etcd beside
//! the environment's, an istiod in each, and the guide's configuration with a provider alias
//! per cluster. Each cluster's
//! istiod signs with its own meshtls intermediate under one root kept in cluster A; a
//! workload certificate from either verifies against the other cluster's published root.

use meshtls_acceptance_tests::cluster::{Cluster, SecondCluster};
use meshtls_acceptance_tests::istio::{self, csr_for, Install, Istiod};
use std::path::Path;

use meshtls_acceptance_tests::{env, repo_root, same_pem, unrelated_root, CliKind, Workspace};

/// Where the guide's root is kept.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Root {
    /// In a Secret of cluster A: the guide's first configuration.
    Secret,
    /// In ACM Private CA (moto): the guide's root of "With the root in ACM Private CA", and an
    /// `aws` block for each alias.
    AcmPca,
}

/// The configuration of docs/guides/one-root-many-clusters.md, run as the guide gives it:
/// its kubeconfig (contexts `east` and `west`) is the two clusters', and its root's namespace
/// this run's own. Outputs are added for the checks.
fn guide_configuration(kubeconfig: &str, namespace: &str, root: Root) -> String {
    let guide = std::fs::read_to_string(repo_root().join("docs/guides/one-root-many-clusters.md")).expect("the guide");
    let blocks: Vec<&str> = guide.split("```terraform\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    let mut config = blocks.first().expect("the guide's configuration").to_string();
    if root == Root::AcmPca {
        let secret_root = config.split("resource \"meshtls_ca\" \"root\"").nth(1).and_then(|r| r.split("\n}\n").next()).expect("the root");
        let pca_root = blocks.get(1).expect("the guide's ACM Private CA root");
        config = config.replace(&format!("resource \"meshtls_ca\" \"root\"{secret_root}\n}}\n"), pca_root);
        let region = env("AWS_REGION");
        config = config.replace("  kubernetes {\n", &format!("  aws {{\n    region = \"{region}\"\n  }}\n  kubernetes {{\n"));
        assert!(config.contains("acm_pca {") && config.matches("aws {").count() == 2, "the ACM Private CA variant:\n{config}");
    }
    let config = config.replace("~/.kube/config", kubeconfig).replace("\"mesh-root\"", &format!("\"{namespace}\""));
    let outputs = ["root", "east", "west"].map(|n| format!("output \"{n}_pem\" {{\n  value = meshtls_ca.{n}.certificate_pem\n}}\n"));
    format!("{config}\n{}", outputs.concat())
}

/// One kubeconfig with both clusters, as contexts `east` (the environment's) and `west` (the
/// second one), the way a platform team's kubeconfig names its clusters.
fn merged_kubeconfig(ws: &Workspace, a: &Path, b: &Path) -> String {
    use kube::config::Kubeconfig;
    let named = |path: &Path, name: &str| {
        let mut k = Kubeconfig::read_from(path).expect("kubeconfig");
        k.clusters.truncate(1);
        k.auth_infos.truncate(1);
        k.contexts.truncate(1);
        k.clusters[0].name = name.into();
        k.auth_infos[0].name = name.into();
        k.contexts[0].name = name.into();
        if let Some(context) = k.contexts[0].context.as_mut() {
            context.cluster = name.into();
            context.user = Some(name.into());
        }
        k
    };
    let (east, west) = (named(a, "east"), named(b, "west"));
    let merged = Kubeconfig {
        clusters: [east.clusters, west.clusters].concat(),
        auth_infos: [east.auth_infos, west.auth_infos].concat(),
        contexts: [east.contexts, west.contexts].concat(),
        current_context: Some("east".into()),
        ..Default::default()
    };
    // JSON is YAML: kubeconfig readers take it as it is.
    let path = ws.path().join("kubeconfig");
    std::fs::write(&path, serde_json::to_string_pretty(&merged).expect("JSON")).expect("write kubeconfig");
    path.display().to_string()
}

/// A workload certificate from `istiod`, asked for as a sidecar in `cluster` asks: the chain,
/// leaf first, all in one PEM text.
fn workload_chain(istiod: &Istiod, cluster: &Cluster, namespace: &str, root: &str) -> Vec<String> {
    let spiffe = format!("spiffe://cluster.local/ns/{namespace}/sa/yelb-ui");
    let token = cluster.service_account_token(namespace, "yelb-ui", "istio-ca");
    istiod.create_certificate(&token, &csr_for(&spiffe), root).unwrap_or_else(|e| panic!("CreateCertificate: {e}"))
}

fn published_root(cluster: &Cluster, namespace: &str) -> String {
    meshtls_acceptance_tests::wait::until("istiod to publish its root", std::time::Duration::from_secs(60), || {
        cluster.config_map_text(namespace, "istio-ca-root-cert", "root-cert.pem")
    })
}

fn scenario(cli: CliKind, root_kind: Root) {
    let turn = istio::exclusive();
    let second = SecondCluster::start();
    let (a, b) = (Cluster::connect(), second.connect());
    let ns = a.fresh_namespace(&format!("two-{}", cli.name()));
    b.create_namespace(&ns);
    let ws = Workspace::new(cli, "");
    let kubeconfig = merged_kubeconfig(&ws, Path::new(&env("KUBECONFIG")), &second.kubeconfig);
    ws.write_config(&guide_configuration(&kubeconfig, &ns, root_kind));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let root = ws.ok(&["output", "-raw", "root_pem"]).stdout;
    let (int_a, int_b) = (ws.ok(&["output", "-raw", "east_pem"]).stdout, ws.ok(&["output", "-raw", "west_pem"]).stdout);
    assert!(!same_pem(&int_a, &int_b), "{}: an intermediate per cluster", cli.name());
    // The root's key stays in cluster A: cluster B holds only its own intermediate.
    assert!(b.secret(&ns, "mesh-root-ca").is_none(), "{}: no root Secret in cluster B", cli.name());
    let b_ca = b.secret_text("istio-system", "cacerts", "ca-cert.pem").unwrap_or_default();
    assert!(same_pem(&b_ca, &int_b), "{}: cluster B's cacerts holds its intermediate", cli.name());
    assert_eq!(b.secret_text("istio-system", "cacerts", "root-cert.pem").map(|r| r.trim().to_string()), Some(root.trim().to_string()));
    if root_kind == Root::AcmPca {
        // ACM Private CA's subordinate template makes a CA that signs only leaves.
        let text = ws.openssl_text(&int_b);
        for extension in
            ["CA:TRUE, pathlen:0", "Certificate Sign, CRL Sign", "X509v3 Authority Key Identifier", "X509v3 Subject Key Identifier"]
        {
            assert!(text.contains(extension), "{}: the subordinate CA has {extension:?}:\n{text}", cli.name());
        }
        assert!(a.secret_text(&ns, "mesh-root-ca", "tls.key").is_none(), "{}: no root key in any cluster", cli.name());
    }

    let istiod_a = Istiod::install(&turn, &Install::default());
    let install_b = Install { instance: Some(("b".into(), second.kubeconfig.clone())), ..Install::default() };
    let istiod_b = Istiod::install(&turn, &install_b);
    let (root_in_a, root_in_b) = (published_root(&a, &ns), published_root(&b, &ns));
    assert_eq!(root_in_a.trim(), root.trim(), "{}: cluster A publishes the shared root", cli.name());
    assert_eq!(root_in_b.trim(), root.trim(), "{}: cluster B publishes the shared root", cli.name());

    // Each istiod signs with its own intermediate; each chain verifies against the other
    // cluster's published root, and neither against an unrelated root.
    let chain_a = workload_chain(&istiod_a, &a, &ns, &root);
    let chain_b = workload_chain(&istiod_b, &b, &ns, &root);
    assert!(same_pem(chain_a.get(1).map(String::as_str).unwrap_or_default(), &int_a), "{}: A signs with A's intermediate", cli.name());
    assert!(same_pem(chain_b.get(1).map(String::as_str).unwrap_or_default(), &int_b), "{}: B signs with B's intermediate", cli.name());
    ws.openssl_verify_chain(&root_in_b, &chain_a.concat()).unwrap_or_else(|e| panic!("{}: A's workload in B: {e}", cli.name()));
    ws.openssl_verify_chain(&root_in_a, &chain_b.concat()).unwrap_or_else(|e| panic!("{}: B's workload in A: {e}", cli.name()));
    let other = unrelated_root();
    assert!(ws.openssl_verify_chain(&other, &chain_a.concat()).is_err(), "{}: an unrelated root does not vouch for A's", cli.name());
    assert!(ws.openssl_verify_chain(&other, &chain_b.concat()).is_err(), "{}: nor for B's", cli.name());

    let (changes, plan) = ws.plan_has_changes();
    assert!(!changes, "{}: in sync across both clusters:\n{}", cli.name(), plan.text());
    ws.remember_key(&b.secret_text("istio-system", "cacerts", "ca-key.pem").expect("cluster B's intermediate key"));
    ws.assert_no_key_material();
    drop((istiod_a, istiod_b));
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(
        a.secret("istio-system", "cacerts").is_none() && b.secret("istio-system", "cacerts").is_none(),
        "{}: both intermediates gone",
        cli.name()
    );
    assert!(a.secret(&ns, "mesh-root-ca").is_none(), "{}: the root is gone", cli.name());
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn one_root_two_clusters_with_opentofu() {
    scenario(CliKind::Tofu, Root::Secret);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn one_root_two_clusters_with_terraform() {
    scenario(CliKind::TerraformCurrent, Root::Secret);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn one_private_ca_root_two_clusters_with_opentofu() {
    scenario(CliKind::Tofu, Root::AcmPca);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn one_private_ca_root_two_clusters_with_terraform() {
    scenario(CliKind::TerraformCurrent, Root::AcmPca);
}
