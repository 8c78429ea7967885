//! docs/guides/rotating-the-mesh-root.md, run: the guide's CA plugged into a real istiod
//! (mounted cacerts, ISTIO_MULTIROOT_MESH), two meshtls certificates beside it, and the three
//! phases, each applied and then applied again as the guide says. After every apply, every
//! leaf (the two meshtls certificates and two workload certificates istiod signs then)
//! verifies against every peer's trust bundle, and the two meshtls certificates complete a
//! mutual-TLS handshake. At the end no bundle holds the old root.

use std::time::Duration;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::istio::{self, csr_for, CaCerts, Install, Istiod, PLUG_IN_CA_SECRET};
use meshtls_acceptance_tests::mtls::{handshake, Identity};
use meshtls_acceptance_tests::{provider_block, repo_root, wait, CliKind, Workspace};

/// The guide's blocks: the CA as it runs before the rotation, then each phase's `rotation`.
fn guide_blocks() -> (String, Vec<(String, String)>) {
    let guide = std::fs::read_to_string(repo_root().join("docs/guides/rotating-the-mesh-root.md")).expect("the guide");
    let blocks: Vec<String> = guide.split("```terraform\n").skip(1).filter_map(|b| b.split("```").next()).map(str::to_string).collect();
    let ca = blocks.first().expect("the guide's CA").clone();
    let phases = blocks[1..]
        .iter()
        .map(|b| {
            let phase = b.split("phase = \"").nth(1).and_then(|p| p.split('"').next()).expect("a phase").to_string();
            (phase, b.clone())
        })
        .collect();
    (ca, phases)
}

/// The guide's CA with `rotation` (one of its phase blocks) inside it, and two certificates.
fn config(ca: &str, rotation: &str, namespace: &str) -> String {
    let ca = match rotation {
        "" => ca.to_string(),
        block => {
            let end = ca.rfind('}').expect("the CA's closing brace");
            format!("{}\n{block}}}\n", &ca[..end])
        }
    };
    let certificate = |name: &str, signer: &str| {
        format!(
            "resource \"meshtls_certificate\" \"{name}\" {{\n  ca                = meshtls_ca.{signer}.id\n  namespace         = \"{namespace}\"\n  secret_name       = \"{name}\"\n  dns_names         = [\"{name}.{namespace}.svc.cluster.local\"]\n  validity_days     = 30\n  renew_before_days = 5\n}}\n"
        )
    };
    // A team's intermediate under the root, and a certificate it signs.
    let team = format!(
        "resource \"meshtls_ca\" \"team\" {{\n  namespace     = \"{namespace}\"\n  secret_name   = \"team-ca\"\n  common_name   = \"Team Intermediate CA\"\n  validity_days = 365\n\n  parent {{\n    ca_id           = meshtls_ca.mesh.id\n    certificate_pem = meshtls_ca.mesh.certificate_pem\n  }}\n}}\n"
    );
    format!("{}\n{ca}\n{team}{}{}{}", provider_block(), certificate("db", "mesh"), certificate("ui", "mesh"), certificate("api", "team"))
}

fn fingerprints(pem: &str) -> Vec<String> {
    let mut out = Vec::new();
    for block in pem::parse_many(pem).expect("PEM") {
        use sha2::Digest;
        out.push(sha2::Sha256::digest(block.contents()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"));
    }
    out.sort();
    out
}

/// Every leaf verifies against every bundle; the two meshtls certificates handshake. Waits
/// for istiod to publish `expected_roots` first (it follows the mounted Secret).
fn everything_verifies(ws: &Workspace, cluster: &Cluster, istiod: &Istiod, ns: &str, expected_roots: &[String], when: &str) {
    let published = wait::until(&format!("istiod to publish the roots {when}"), Duration::from_secs(90), || {
        cluster.config_map_text(ns, "istio-ca-root-cert", "root-cert.pem").filter(|r| fingerprints(r) == expected_roots)
    });
    let identity = |name: &str| Identity {
        chain_pem: cluster.secret_text(ns, name, "tls.crt").expect("tls.crt"),
        key_pem: cluster.secret_text(ns, name, "tls.key").expect("tls.key"),
    };
    let bundle = |name: &str| cluster.secret_text(ns, name, "ca.crt").expect("ca.crt");
    let workload = |sa: &str| {
        let token = cluster.service_account_token(ns, sa, "istio-ca");
        let spiffe = format!("spiffe://cluster.local/ns/{ns}/sa/{sa}");
        istiod
            .create_certificate(&token, &csr_for(&spiffe), &published)
            .unwrap_or_else(|e| panic!("{when}: CreateCertificate: {e}"))
            .concat()
    };
    let leaves = [
        ("db", identity("db").chain_pem),
        ("ui", identity("ui").chain_pem),
        ("api, under the team's intermediate", identity("api").chain_pem),
        ("istio yelb-ui", workload("yelb-ui")),
        ("istio yelb-db", workload("yelb-db")),
    ];
    let bundles = [("db's ca.crt", bundle("db")), ("api's ca.crt", bundle("api")), ("istio-ca-root-cert", published.clone())];
    for (leaf, chain) in &leaves {
        for (name, roots) in &bundles {
            ws.openssl_verify_chain(roots, chain)
                .unwrap_or_else(|e| panic!("{}: {when}, {leaf} must verify against {name}: {e}", ws.cli.name()));
        }
    }
    handshake(&identity("db"), &bundle("db"), &identity("ui"), &bundle("ui"), &format!("db.{ns}.svc.cluster.local"))
        .unwrap_or_else(|e| panic!("{}: {when}, db and ui must complete mutual TLS: {e}", ws.cli.name()));
}

fn scenario(cli: CliKind) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    let ns = cluster.fresh_namespace(&format!("rotate-{}", cli.name()));
    let (ca, phases) = guide_blocks();
    assert_eq!(phases.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["trust_new", "sign_with_new", "drop_old"]);
    let ws = Workspace::new(cli, &config(&ca, "", &ns));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let old_root = fingerprints(&cluster.secret_text("istio-system", PLUG_IN_CA_SECRET, "ca.crt").expect("the root"));
    let istiod = Istiod::install(&turn, &Install { cacerts: CaCerts::Mounted, multiroot: true, ..Install::default() });
    everything_verifies(&ws, &cluster, &istiod, &ns, &old_root, "before the rotation");

    // A phase skipped is refused at plan, naming the phase due.
    ws.write_config(&config(&ca, &phases[1].1, &ns));
    let refused = ws.run(&["plan", "-input=false", "-no-color"]);
    assert!(
        refused.code != 0 && refused.text().contains("Rotation phase skipped") && refused.text().contains("trust_new"),
        "{}: {}",
        cli.name(),
        refused.text()
    );

    // The namespace runs in ambient mode: the plan that adds a root says ztunnel trusts one.
    cluster.label_namespace(&ns, "istio.io/dataplane-mode", Some("ambient"));
    let mut roots = old_root.clone();
    for (phase, block) in &phases {
        ws.write_config(&config(&ca, block, &ns));
        let (changes, plan) = ws.plan_has_changes();
        assert!(
            changes && plan.text().contains(&format!("Root rotation: {phase}")),
            "{}: the plan explains {phase}:\n{}",
            cli.name(),
            plan.text()
        );
        let ambient = plan.text().contains("ztunnel trusts a single root") && plan.text().contains(&ns);
        assert_eq!(
            ambient,
            phase == "trust_new",
            "{}: {phase}: the ambient warning comes before the second root only:\n{}",
            cli.name(),
            plan.text()
        );
        ws.apply();
        roots = fingerprints(&cluster.secret_text("istio-system", PLUG_IN_CA_SECRET, "ca.crt").expect("the bundle"));
        everything_verifies(&ws, &cluster, &istiod, &ns, &roots, &format!("after {phase}"));
        // What the CA signed follows on the next applies, as the guide says: one for its
        // certificates and the intermediate, one more for what the intermediate signed.
        for again in 1..=2 {
            ws.apply();
            everything_verifies(&ws, &cluster, &istiod, &ns, &roots, &format!("after {phase}, applied again ({again})"));
        }
        let (changes, plan) = ws.plan_has_changes();
        assert!(!changes, "{}: {phase} is complete after three applies:\n{}", cli.name(), plan.text());
        let expected = if phase == "trust_new" || phase == "sign_with_new" { 2 } else { 1 };
        assert_eq!(roots.len(), expected, "{}: {phase}: the bundle's roots", cli.name());
        for secret in ["db", "ui", "team-ca", "api"] {
            assert_eq!(
                fingerprints(&cluster.secret_text(&ns, secret, "ca.crt").expect("ca.crt")),
                roots,
                "{}: {phase}: {secret} follows",
                cli.name()
            );
        }
    }
    assert!(roots.iter().all(|r| !old_root.contains(r)), "{}: no bundle holds the old root at the end", cli.name());
    assert!(
        cluster.secret("istio-system", &format!("{PLUG_IN_CA_SECRET}-rotation")).is_none(),
        "{}: the old root's Secret is gone",
        cli.name()
    );
    ws.assert_no_key_material();
    drop(istiod);
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn root_rotation_with_opentofu() {
    scenario(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn root_rotation_with_terraform() {
    scenario(CliKind::TerraformCurrent);
}
