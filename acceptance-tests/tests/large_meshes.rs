//! The layouts docs/guides/large-meshes.md recommends for large meshes, run.
//! - Services written with one `for_each` per resource type are moved into
//!   examples/modules/mesh-service (one module instance per service) with the guide's `moved`
//!   blocks. No certificate is re-issued, drift on one service still shows in plan under its
//!   own module instance and is repaired, and destroy leaves every node as the fixture made it.
//! - The map types (`meshtls_certificate_map` feeding `meshtls_virtual_node_tls_map`), with
//!   every CLI: both sides are set, drift on one service shows under its key and is repaired,
//!   a service leaving the map is undone alone, and destroy restores the rest.
//! - A `for_each` configuration moved into the map types with the guide's `removed` and
//!   `import` blocks: one apply, no certificate re-issued, the TLS kept, the next plan empty.
//! - `meshtls_istio_mtls_map` on Istio, as the documented least-privilege identity: a foreign
//!   PeerAuthentication of an entry's name is refused at plan under that key before anything
//!   is written, a policy weakened by hand shows under its key and is repaired, and destroy
//!   removes what the map made and nothing else.

use std::collections::BTreeMap;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::identity::Identity;
use meshtls_acceptance_tests::istio::deployment;
use meshtls_acceptance_tests::{appmesh, provider_block_for_mesh, provider_block_with, repo_root, CliKind, Workspace};
use serde_json::json;

const SERVICES: [&str; 3] = ["svc-a", "svc-b", "svc-c"];

fn services() -> String {
    SERVICES.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
}

/// The configuration as it grows naturally: one `for_each` per resource type, each virtual
/// node indexing the certificates.
fn flat(mesh: &str, ns: &str) -> String {
    format!(
        r#"{provider}
locals {{
  services = toset([{services}])
}}

resource "meshtls_ca" "mesh" {{
  namespace   = "{ns}"
  common_name = "Mesh CA"
}}

resource "meshtls_certificate" "svc" {{
  for_each    = local.services
  ca          = meshtls_ca.mesh.id
  namespace   = "{ns}"
  secret_name = "${{each.key}}-tls"
  dns_names   = ["${{each.key}}.{ns}.svc.cluster.local"]
}}

resource "meshtls_virtual_node_tls" "svc" {{
  for_each                = local.services
  virtual_node_name       = "${{each.key}}_{ns}"
  certificate_secret      = meshtls_certificate.svc[each.key].secret_name
  certificate_fingerprint = meshtls_certificate.svc[each.key].fingerprint_sha256
  mount_path              = "/etc/keys/mesh"

  kubernetes {{
    namespace    = "{ns}"
    virtual_node = each.key
    deployment   = each.key
  }}

  listener {{
    mode = "STRICT"
    certificate {{
      file {{
        certificate_chain = "/etc/keys/mesh/tls.crt"
        private_key       = "/etc/keys/mesh/tls.key"
      }}
    }}
  }}

  client_policy {{
    enforce = true
    trust {{
      file {{
        certificate_chain = "/etc/keys/mesh/ca.crt"
      }}
    }}
  }}
}}
"#,
        provider = provider_block_for_mesh(mesh),
        services = services()
    )
}

/// The same services, one module instance each, as the guide writes it.
fn per_service(mesh: &str, ns: &str) -> String {
    format!(
        r#"{provider}
locals {{
  services = toset([{services}])
}}

resource "meshtls_ca" "mesh" {{
  namespace   = "{ns}"
  common_name = "Mesh CA"
}}

module "svc" {{
  source   = "./mesh-service"
  for_each = local.services

  namespace    = "{ns}"
  ca_id        = meshtls_ca.mesh.id
  aws_name     = "${{each.key}}_{ns}"
  virtual_node = each.key
  deployment   = each.key
  hostname     = "${{each.key}}.{ns}.svc.cluster.local"
}}
"#,
        provider = provider_block_for_mesh(mesh),
        services = services()
    )
}

/// The same services with the map types: one instance each, the virtual nodes fed from the
/// certificates by one `for` expression (the guide's configuration).
fn maps(mesh: &str, ns: &str, services: &[&str]) -> String {
    let guide = std::fs::read_to_string(repo_root().join("docs/guides/large-meshes.md")).expect("the guide");
    let config = guide_block(&guide, "resource \"meshtls_certificate_map\"").expect("the guide has the map configuration");
    let services = services.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    format!(
        "{provider}\nlocals {{\n  namespace = \"{ns}\"\n  services  = toset([{services}])\n}}\n\nresource \"meshtls_ca\" \"mesh\" {{\n  namespace   = local.namespace\n  common_name = \"Mesh CA\"\n}}\n\n{config}",
        provider = provider_block_for_mesh(mesh),
    )
}

/// The guide's Istio map configuration for `services` in `ns`, under `provider`.
fn istio_map(provider: &str, ns: &str, services: &[&str]) -> String {
    let guide = std::fs::read_to_string(repo_root().join("docs/guides/large-meshes.md")).expect("the guide");
    let config = guide_block(&guide, "resource \"meshtls_istio_mtls_map\"").expect("the guide has the Istio map configuration");
    let services = services.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    format!("{provider}\nlocals {{\n  namespace = \"{ns}\"\n  services  = toset([{services}])\n}}\n\n{config}")
}

/// The guide's code block in `language` that contains `marker`.
fn guide_code(guide: &str, language: &str, marker: &str) -> Option<String> {
    guide
        .split(&format!("```{language}\n"))
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(code, _)| code.to_string()))
        .find(|c| c.contains(marker))
}

/// The guide's ```terraform block that contains `marker`.
fn guide_block(guide: &str, marker: &str) -> Option<String> {
    guide_code(guide, "terraform", marker)
}

/// The types of the resource instances in `ws`'s state, in state order.
fn resource_types(ws: &Workspace) -> Vec<String> {
    let state: serde_json::Value = serde_json::from_str(&ws.state_json()).expect("state is JSON");
    state["resources"].as_array().into_iter().flatten().filter_map(|r| r["type"].as_str().map(String::from)).collect()
}

/// The guide's step that writes the `moved` blocks: its shell loop over `state list`, run as
/// the guide gives it, with `terraform` standing for the CLI under test.
fn write_moved_blocks(cli: CliKind, ws: &Workspace) -> String {
    let guide = std::fs::read_to_string(repo_root().join("docs/guides/large-meshes.md")).expect("the guide");
    let script = guide_script(&guide).expect("the guide has a ```shell block writing moved.tf");
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script.replace("terraform state list", "\"$CLI\" state list")])
        .current_dir(ws.path())
        .env("CLI", cli.binary())
        .output()
        .expect("bash");
    assert!(out.status.success(), "the guide's loop fails: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(ws.path().join("moved.tf")).expect("the loop writes moved.tf")
}

/// The guide's shell block that ends in `> moved.tf`.
fn guide_script(guide: &str) -> Option<String> {
    guide_code(guide, "shell", "> moved.tf")
}

/// One service's pair of moves.
fn moved_pair(key: &str) -> String {
    format!(
        "moved {{\n  from = meshtls_certificate.svc[\"{key}\"]\n  to   = module.svc[\"{key}\"].meshtls_certificate.this\n}}\n\nmoved {{\n  from = meshtls_virtual_node_tls.svc[\"{key}\"]\n  to   = module.svc[\"{key}\"].meshtls_virtual_node_tls.this\n}}\n"
    )
}

fn setup(cluster: &Cluster, mesh: &str, ns: &str) {
    cluster.apply_object(json!({ "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": { "name": mesh }, "spec": { "namespaceSelector": { "matchLabels": { "mesh": mesh } } } }));
    for svc in SERVICES {
        let host = format!("{svc}.{ns}.svc.cluster.local");
        cluster.apply_object(json!({
            "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
            "metadata": { "name": svc, "namespace": ns },
            "spec": {
                "awsName": format!("{svc}_{ns}"),
                "podSelector": { "matchLabels": { "app": svc } },
                "listeners": [{ "portMapping": { "port": 8080, "protocol": "http" } }],
                "serviceDiscovery": { "dns": { "hostname": host } }
            }
        }));
        cluster.apply_object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": svc, "namespace": ns },
            "spec": {
                "selector": { "matchLabels": { "app": svc } },
                "template": { "metadata": { "labels": { "app": svc } }, "spec": { "containers": [{ "name": "app", "image": "app:1" }] } }
            }
        }));
        appmesh::create_node(mesh, &format!("{svc}_{ns}"), &host);
    }
}

/// Each service's certificate as the cluster holds it.
fn certificates(cluster: &Cluster, ns: &str) -> BTreeMap<&'static str, String> {
    SERVICES.iter().map(|&s| (s, cluster.secret_text(ns, &format!("{s}-tls"), "tls.crt").expect("tls.crt"))).collect()
}

/// Both sides of every node, as they are now.
fn nodes(cluster: &Cluster, mesh: &str, ns: &str) -> Vec<(serde_json::Value, serde_json::Value)> {
    SERVICES
        .iter()
        .map(|&s| {
            let vn = cluster.object("appmesh.k8s.aws", "v1beta2", "VirtualNode", Some(ns), s).expect("VirtualNode")["spec"].clone();
            (vn, appmesh::node_spec(mesh, &format!("{s}_{ns}")))
        })
        .collect()
}

fn move_into_modules(cli: CliKind) {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace(&format!("acc-large-{}", cli.name()));
    let mesh = format!("{ns}-mesh");
    setup(&cluster, &mesh, &ns);
    let before = nodes(&cluster, &mesh, &ns);

    let ws = Workspace::new(cli, &flat(&mesh, &ns));
    let module_dir = ws.path().join("mesh-service");
    std::fs::create_dir(&module_dir).expect("module dir");
    std::fs::copy(repo_root().join("examples/modules/mesh-service/main.tf"), module_dir.join("main.tf")).expect("copy the module");
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let issued = certificates(&cluster, &ns);
    assert!(!ws.plan_has_changes().0, "{}: the flat layout plans clean", cli.name());

    // The move: the module configuration and the moved blocks, in one plan that only moves.
    let moved = write_moved_blocks(cli, &ws);
    for svc in SERVICES {
        assert!(moved.contains(&moved_pair(svc)), "{}: moved.tf moves {svc}'s two resources:\n{moved}", cli.name());
    }
    ws.write_config(&per_service(&mesh, &ns));
    ws.ok(&["init", "-input=false"]);
    let plan = ws.ok(&["plan", "-input=false"]);
    assert!(
        plan.text().contains("has moved to module.svc[\"svc-b\"].meshtls_virtual_node_tls.this")
            && (plan.text().contains("0 to add, 0 to change, 0 to destroy") || plan.text().contains("No changes")),
        "{}: the move plans nothing but moves:\n{}",
        cli.name(),
        plan.text()
    );
    ws.apply();
    assert_eq!(certificates(&cluster, &ns), issued, "{}: no certificate is re-issued by the move", cli.name());
    assert!(!ws.plan_has_changes().0, "{}: the module layout plans clean", cli.name());
    let state: serde_json::Value = serde_json::from_str(&ws.state_json()).expect("state is JSON");
    let modules: Vec<&str> = state["resources"].as_array().into_iter().flatten().filter_map(|r| r["module"].as_str()).collect();
    for svc in SERVICES {
        let module = format!("module.svc[\"{svc}\"]");
        assert_eq!(modules.iter().filter(|m| **m == module).count(), 2, "{}: {svc}'s two resources in {module}: {modules:?}", cli.name());
    }

    // Drift on one service's App Mesh side shows under its own module instance.
    appmesh::disable_tls(&mesh, &format!("svc-b_{ns}"));
    let (changes, run) = ws.plan_has_changes();
    assert!(
        changes
            && run.text().contains("module.svc[\"svc-b\"].meshtls_virtual_node_tls.this will be updated in-place")
            && run.text().contains("listener TLS is missing")
            && !run.text().contains("module.svc[\"svc-a\"].meshtls_virtual_node_tls.this will be"),
        "{}: drift on svc-b alone:\n{}",
        cli.name(),
        run.text()
    );
    ws.apply();
    assert_eq!(appmesh::node_spec(&mesh, &format!("svc-b_{ns}"))["listeners"][0]["tls"]["mode"], "STRICT", "{}: repaired", cli.name());
    assert!(!ws.plan_has_changes().0, "{}", cli.name());

    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert_eq!(nodes(&cluster, &mesh, &ns), before, "{}: destroy leaves every node as the fixture made it", cli.name());
    assert!(cluster.managed_secret_names(&ns).is_empty(), "{}: destroy deletes the certificates", cli.name());
}

fn map_types(cli: CliKind) {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace(&format!("acc-maps-{}", cli.name()));
    let mesh = format!("{ns}-mesh");
    setup(&cluster, &mesh, &ns);
    let before = nodes(&cluster, &mesh, &ns);

    let ws = Workspace::new(cli, &maps(&mesh, &ns, &SERVICES));
    ws.ok(&["init", "-input=false"]);
    if cli == CliKind::Terraform {
        // Terraform 1.0 crashes planning nested attributes: refused at plan, nothing written.
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(run.code != 0 && run.text().contains("Terraform 1.1 or later needed"), "{}", run.text());
        assert!(!run.text().contains("TERRAFORM CRASH"), "{}", run.text());
        assert_eq!(nodes(&cluster, &mesh, &ns), before, "nothing was written");
        assert!(cluster.managed_secret_names(&ns).is_empty(), "not even the CA, planned in the same run");
        return;
    }
    ws.apply();
    let issued = certificates(&cluster, &ns);
    for (svc, (vn, node)) in SERVICES.iter().zip(nodes(&cluster, &mesh, &ns)) {
        assert_eq!(vn["listeners"][0]["tls"]["mode"], "STRICT", "{}: {svc}'s VirtualNode", cli.name());
        assert_eq!(node["listeners"][0]["tls"]["mode"], "STRICT", "{}: {svc}'s App Mesh node", cli.name());
    }
    assert_eq!(
        resource_types(&ws),
        ["meshtls_ca", "meshtls_certificate_map", "meshtls_virtual_node_tls_map"],
        "{}: three instances in all",
        cli.name()
    );
    assert!(!ws.plan_has_changes().0, "{}: the map layout plans clean", cli.name());

    // Drift on one service's App Mesh side shows under its key alone.
    appmesh::disable_tls(&mesh, &format!("svc-b_{ns}"));
    let (changes, run) = ws.plan_has_changes();
    assert!(
        changes
            && run.text().contains("meshtls_virtual_node_tls_map.svc will be updated in-place")
            && run.text().contains("\"svc-b\" = {")
            && run.text().contains("listener TLS is missing")
            && !run.text().contains("meshtls_certificate_map.svc will be"),
        "{}: drift on svc-b alone:\n{}",
        cli.name(),
        run.text()
    );
    ws.apply();
    assert_eq!(appmesh::node_spec(&mesh, &format!("svc-b_{ns}"))["listeners"][0]["tls"]["mode"], "STRICT", "{}: repaired", cli.name());
    assert_eq!(certificates(&cluster, &ns), issued, "{}: a repair re-issues nothing", cli.name());
    assert!(!ws.plan_has_changes().0, "{}", cli.name());

    // svc-c leaves the map: its node is restored and its Secret deleted; the others stay.
    ws.write_config(&maps(&mesh, &ns, &SERVICES[..2]));
    ws.apply();
    assert_eq!(nodes(&cluster, &mesh, &ns)[2], before[2], "{}: svc-c is as the fixture made it", cli.name());
    let secrets = cluster.managed_secret_names(&ns);
    assert!(
        !secrets.contains(&"svc-c-tls".to_string()) && secrets.contains(&"svc-b-tls".to_string()),
        "{}: svc-c's Secret alone is deleted: {secrets:?}",
        cli.name()
    );
    assert!(!ws.plan_has_changes().0, "{}", cli.name());

    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert_eq!(nodes(&cluster, &mesh, &ns), before, "{}: destroy leaves every node as the fixture made it", cli.name());
    assert!(cluster.managed_secret_names(&ns).is_empty(), "{}: destroy deletes the certificates", cli.name());
}

fn migrate_into_maps(cli: CliKind) {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace(&format!("acc-to-maps-{}", cli.name()));
    let mesh = format!("{ns}-mesh");
    setup(&cluster, &mesh, &ns);
    let ws = Workspace::new(cli, &flat(&mesh, &ns));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let issued = certificates(&cluster, &ns);
    let configured = nodes(&cluster, &mesh, &ns);

    let guide = std::fs::read_to_string(repo_root().join("docs/guides/large-meshes.md")).expect("the guide");
    let migration = guide_block(&guide, "removed {").expect("the guide has the removed and import blocks");
    let config = maps(&mesh, &ns, &SERVICES).replacen("locals {", &format!("locals {{\n  mesh      = \"{mesh}\""), 1);
    ws.write_config(&format!("{config}\n{migration}"));
    let plan = ws.ok(&["plan", "-input=false"]);
    let text = plan.text();
    assert!(
        text.contains("meshtls_certificate_map.svc: Preparing import") || text.contains("will be imported"),
        "{}: the maps are imported:\n{text}",
        cli.name()
    );
    assert!(!text.contains("will be destroyed") && !text.contains("must be replaced"), "{}: nothing is destroyed:\n{text}", cli.name());
    ws.apply();
    assert_eq!(certificates(&cluster, &ns), issued, "{}: no certificate is re-issued by the move", cli.name());
    assert_eq!(nodes(&cluster, &mesh, &ns), configured, "{}: every node keeps its TLS", cli.name());
    ws.write_config(&config);
    assert!(!ws.plan_has_changes().0, "{}: without the blocks, the maps plan clean", cli.name());
    assert_eq!(resource_types(&ws), ["meshtls_ca", "meshtls_certificate_map", "meshtls_virtual_node_tls_map"], "{}", cli.name());
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.managed_secret_names(&ns).is_empty(), "{}: destroy deletes the certificates", cli.name());
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn migrating_into_the_map_types_with_opentofu() {
    migrate_into_maps(CliKind::Tofu);
}

// `removed` blocks and expressions in `import` IDs need Terraform 1.7 or later.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn migrating_into_the_map_types_with_terraform() {
    migrate_into_maps(CliKind::TerraformCurrent);
}

const PEER_AUTHENTICATION: (&str, &str, &str) = ("security.istio.io", "v1", "PeerAuthentication");
const DESTINATION_RULE: (&str, &str, &str) = ("networking.istio.io", "v1", "DestinationRule");

fn policy(cluster: &Cluster, (g, v, k): (&str, &str, &str), ns: &str, name: &str) -> Option<serde_json::Value> {
    cluster.object(g, v, k, Some(ns), name)
}

fn istio_map_type(cli: CliKind) {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace(&format!("acc-istio-map-{}", cli.name()));
    cluster.label_namespace(&ns, "istio-injection", Some("enabled"));
    for svc in SERVICES.iter().chain(&["svc-d"]) {
        deployment(&cluster, &ns, svc, json!({ "app": svc }));
    }
    // Someone else's policy with svc-c's name, and one the map has nothing to do with.
    for name in ["svc-c", "keep"] {
        cluster.apply_object(json!({
            "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": { "name": name, "namespace": ns },
            "spec": { "selector": { "matchLabels": { "app": name } }, "mtls": { "mode": "PERMISSIVE" } }
        }));
    }
    let identity = Identity::documented(&ns, &format!("istio-map-{}", cli.name()));
    let provider = provider_block_with(&identity.kubeconfig().display().to_string());
    // One policy more, planned again in the apply run after the map's writes.
    let late = "resource \"meshtls_istio_mtls\" \"late\" {\n  namespace  = local.namespace\n  deployment = \"svc-d\"\n  depends_on = [meshtls_istio_mtls_map.svc]\n}\n";
    let ws = Workspace::new(cli, &format!("{}\n{late}", istio_map(&provider, &ns, &SERVICES)));
    ws.ok(&["init", "-input=false"]);
    let refused = ws.run(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        refused.code != 0
            && refused.text().contains(&format!("PeerAuthentication {ns}/svc-c already exists"))
            && refused.text().contains("services[\"svc-c\"]"),
        "{}: the foreign policy is refused under its key:\n{}",
        cli.name(),
        refused.text()
    );
    assert!(policy(&cluster, PEER_AUTHENTICATION, &ns, "svc-a").is_none(), "{}: refused at plan, nothing is written", cli.name());
    cluster.delete_object("security.istio.io", "v1", "PeerAuthentication", Some(&ns), "svc-c");

    // Planned apart, so what the apply run itself lists is counted. The CLI plans each
    // resource again while applying: the map before anything is written, which lists the
    // namespace's policies twice (its view and the read cache), and `late` after the map's
    // writes. From the first write on, every plan and write reads the view kept in step with
    // them: one list more in all, not one per entry or per resource (which made large applies
    // quadratic, and would be 2 + 3 + 2 here).
    ws.ok(&["plan", "-input=false", "-out=tfplan"]);
    let listed = || Cluster::requests("list", "peerauthentications", &ns);
    let before = listed();
    ws.ok(&["apply", "-input=false", "tfplan"]);
    let lists = listed() - before;
    assert!(
        (1..=3).contains(&lists),
        "{}: {lists} lists of the namespace's PeerAuthentications in one apply of three entries and one policy",
        cli.name()
    );
    for svc in SERVICES {
        let pa = policy(&cluster, PEER_AUTHENTICATION, &ns, svc).unwrap_or_else(|| panic!("{}: {svc}'s PeerAuthentication", cli.name()));
        assert_eq!(pa["spec"]["mtls"]["mode"], "STRICT");
        assert_eq!(pa["spec"]["selector"]["matchLabels"]["app"], svc);
        let dr = policy(&cluster, DESTINATION_RULE, &ns, svc).unwrap_or_else(|| panic!("{}: {svc}'s DestinationRule", cli.name()));
        assert_eq!(dr["spec"]["trafficPolicy"]["tls"]["mode"], "ISTIO_MUTUAL");
    }
    assert!(!ws.plan_has_changes().0, "{}: the map plans clean", cli.name());

    // Weakened by hand: drift under svc-b's key alone, and repaired.
    cluster.merge_patch_object(
        "security.istio.io",
        "v1",
        "PeerAuthentication",
        Some(&ns),
        "svc-b",
        json!({ "spec": { "mtls": { "mode": "PERMISSIVE" } } }),
    );
    let (changes, run) = ws.plan_has_changes();
    let text = run.text();
    assert!(changes && text.contains("\"svc-b\" = {") && text.contains("PERMISSIVE"), "{}: drift on svc-b:\n{text}", cli.name());
    ws.apply();
    assert_eq!(
        policy(&cluster, PEER_AUTHENTICATION, &ns, "svc-b").expect("svc-b")["spec"]["mtls"]["mode"],
        "STRICT",
        "{}: repaired",
        cli.name()
    );
    assert!(!ws.plan_has_changes().0, "{}", cli.name());

    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    for svc in SERVICES {
        assert!(
            policy(&cluster, PEER_AUTHENTICATION, &ns, svc).is_none() && policy(&cluster, DESTINATION_RULE, &ns, svc).is_none(),
            "{}: {svc}",
            cli.name()
        );
    }
    assert!(policy(&cluster, PEER_AUTHENTICATION, &ns, "keep").is_some(), "{}: someone else's policy stays", cli.name());
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_map_type_with_opentofu() {
    istio_map_type(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_map_type_with_terraform() {
    istio_map_type(CliKind::TerraformCurrent);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn map_types_with_every_cli() {
    meshtls_acceptance_tests::for_each_cli(map_types);
}

// `moved` blocks need Terraform 1.1 or later, so Terraform 1.0.3 does not run this.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn moving_into_per_service_modules_with_opentofu() {
    move_into_modules(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn moving_into_per_service_modules_with_terraform() {
    move_into_modules(CliKind::TerraformCurrent);
}

#[test]
fn the_guide_writes_a_pair_of_moves_per_key() {
    let guide = std::fs::read_to_string(repo_root().join("docs/guides/large-meshes.md")).expect("the guide");
    let script = guide_script(&guide).expect("the guide's loop");
    assert!(script.contains("terraform state list"), "the test runs it with the CLI under test in place of terraform");
    assert!(script.replace("$key", "svc-a").contains(&moved_pair("svc-a")), "the loop prints what the test expects:\n{script}");
}
