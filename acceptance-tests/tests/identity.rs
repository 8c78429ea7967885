//! Resource identity with Terraform 1.16 and OpenTofu 1.12: the identity is in state after
//! apply, an `import` block by identity adopts an object and then plans clean, and an
//! identity that names nothing is refused. Terraform 1.0.3 sends no identity, which every
//! other scenario covers.

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{provider_block, CliKind, Workspace};

fn ca(namespace: &str) -> String {
    format!(
        r#"resource "meshtls_ca" "ca" {{
  namespace   = "{namespace}"
  secret_name = "mesh-ca"
  common_name = "identity CA"
}}
"#
    )
}

fn import_by_identity(namespace: &str, secret_name: &str) -> String {
    format!(
        r#"import {{
  to = meshtls_ca.ca
  identity = {{
    namespace   = "{namespace}"
    secret_name = "{secret_name}"
  }}
}}
"#
    )
}

/// The identity the state records for the one resource in it.
fn identity_in_state(ws: &Workspace) -> serde_json::Value {
    let state: serde_json::Value = serde_json::from_str(&ws.state_json()).expect("state JSON");
    state["resources"][0]["instances"][0]["identity"].clone()
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn import_by_identity_with_terraform() {
    import_by_identity_with(CliKind::TerraformCurrent);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn import_by_identity_with_opentofu() {
    import_by_identity_with(CliKind::Tofu);
}

fn import_by_identity_with(cli: CliKind) {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace(&format!("acc-identity-{}", cli.name()));
    let ws = Workspace::new(cli, &format!("{}\n{}", provider_block(), ca(&ns)));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    assert_eq!(
        identity_in_state(&ws),
        serde_json::json!({ "namespace": ns, "secret_name": "mesh-ca" }),
        "the identity is recorded beside the state"
    );

    // Forgotten by Terraform, found again by identity.
    ws.ok(&["state", "rm", "meshtls_ca.ca"]);
    ws.write_config(&format!("{}\n{}\n{}", provider_block(), ca(&ns), import_by_identity(&ns, "mesh-ca")));
    let (_, run) = ws.ok_plan(&[]);
    assert!(run.text().contains("will be imported"), "the plan imports the CA:\n{}", run.text());
    ws.apply();
    assert!(ws.state_json().contains("identity CA"), "the imported state holds the CA certificate");
    assert_eq!(identity_in_state(&ws)["secret_name"], "mesh-ca");
    assert!(!ws.plan_has_changes().0, "an imported CA plans clean");

    // An identity that names no CA Secret is refused, and nothing enters state.
    let other = Workspace::new(cli, &format!("{}\n{}\n{}", provider_block(), ca(&ns), import_by_identity(&ns, "absent")));
    other.ok(&["init", "-input=false"]);
    let run = other.run(&["plan", "-input=false"]);
    assert_ne!(run.code, 0, "importing an identity that names nothing must fail");
    assert!(run.text().contains("Secret not found"), "the refusal names the missing Secret:\n{}", run.text());

    // The import block has done its work and goes; the CA stays managed.
    ws.write_config(&format!(
        "{}
{}",
        provider_block(),
        ca(&ns)
    ));
    assert!(!ws.plan_has_changes().0, "the imported CA stays in state without its import block");
    ws.assert_no_key_material();
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret(&ns, "mesh-ca").is_none(), "destroy removes the imported CA");
}
