//! Provider configuration: settings unknown at plan time (a cluster made in the same run)
//! must not fail the plan, the `kubernetes` block alone reaches a cluster with no kubeconfig
//! anywhere (a token, an exec plugin), a token passed as an ephemeral value is kept out of
//! state, plans and logs, and invalid settings are diagnosed on the attribute.

use meshtls_acceptance_tests::appmesh;
use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::identity::{documented_role_for_service_account, server_ca_pem, server_url};
use meshtls_acceptance_tests::{env, for_each_cli, CliKind, Workspace, PROVIDER_ADDRESS};

/// A second provider instance whose kubeconfig path is only known once `meshtls_ca.first`
/// exists, the way a cluster created in the same configuration would feed its provider.
fn config(ns: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    meshtls = {{ source = "{PROVIDER_ADDRESS}" }}
  }}
}}

provider "meshtls" {{
  kubernetes {{
    config_path = "{kubeconfig}"
  }}
}}

provider "meshtls" {{
  alias = "late"
  kubernetes {{
    config_path = "{kubeconfig}${{substr(meshtls_ca.first.fingerprint_sha256, 0, 0)}}"
  }}
}}

resource "meshtls_ca" "first" {{
  namespace   = "{ns}"
  secret_name = "first"
  common_name = "First"
}}

resource "meshtls_ca" "second" {{
  provider    = meshtls.late
  namespace   = "{ns}"
  secret_name = "second"
  common_name = "Second"
}}
"#,
        kubeconfig = env("KUBECONFIG")
    )
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn unknown_provider_settings_defer_cluster_access_to_apply() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-late-{}", cli.name()));
        let ws = Workspace::new(cli, &config(&ns));
        ws.ok(&["init", "-input=false"]);
        // First plan: the late provider's settings are unknown, and planning still succeeds.
        assert!(ws.plan_has_changes().0);
        ws.apply();
        assert!(cluster.secret(&ns, "second").is_some(), "the late provider must create its CA at apply");
        assert!(!ws.plan_has_changes().0);
        // Replacing the first CA makes the late provider's settings unknown again, while the
        // second CA is in state: its refresh waits for apply instead of failing the plan.
        let run = ws.ok(&["plan", "-input=false", "-replace=meshtls_ca.first"]);
        assert!(run.text().contains("1 to add, 0 to change, 1 to destroy"), "{}", run.text());
        // Our own log lines reach the CLI's log, under the provider's name.
        let log = ws.trace_log();
        assert!(log.contains("provider.terraform-provider-meshtls") && log.contains("created CA Secret"), "provider log lines missing");
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(cluster.secret(&ns, "first").is_none() && cluster.secret(&ns, "second").is_none());
    });
}

/// The token's variable: ephemeral where the CLI has ephemeral values (so no plan file holds
/// it), sensitive everywhere.
fn token_variable(cli: CliKind) -> &'static str {
    match cli {
        CliKind::Terraform => "variable \"token\" {\n  type      = string\n  sensitive = true\n}\n",
        _ => "variable \"token\" {\n  type      = string\n  sensitive = true\n  ephemeral = true\n}\n",
    }
}

/// Two CAs through two providers configured by the `kubernetes` block alone: `credentials`
/// (a token, or an exec block), and the late one's host known only once the first CA exists.
fn block_config(cli: CliKind, ns: &str, credentials: &str) -> String {
    let (server, ca) = (server_url(), server_ca_pem());
    let kubernetes = |host: &str| {
        format!("  kubernetes {{\n    host                   = \"{host}\"\n    cluster_ca_certificate = <<-EOT\n{ca}    EOT\n{credentials}  }}\n")
    };
    format!(
        "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\n{variable}\nprovider \"meshtls\" {{\n{first}}}\n\nprovider \"meshtls\" {{\n  alias = \"late\"\n{late}}}\n\nresource \"meshtls_ca\" \"first\" {{\n  namespace   = \"{ns}\"\n  secret_name = \"first\"\n  common_name = \"First\"\n}}\n\nresource \"meshtls_ca\" \"second\" {{\n  provider    = meshtls.late\n  namespace   = \"{ns}\"\n  secret_name = \"second\"\n  common_name = \"Second\"\n}}\n",
        variable = token_variable(cli),
        first = kubernetes(&server),
        late = kubernetes(&format!("{server}${{substr(meshtls_ca.first.fingerprint_sha256, 0, 0)}}")),
    )
}

/// With no kubeconfig anywhere (KUBECONFIG unset, an empty home), the block reaches the API
/// server with its URL, its CA and a service account token from a TokenRequest, bound to the
/// documented `meshtls-ca` Role alone; then with an exec plugin that prints an ExecCredential.
/// The token, passed through a variable (ephemeral where the CLI has them), is found in no
/// state, plan or trace log.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn the_kubernetes_block_alone_reaches_the_cluster_with_a_token_or_an_exec_plugin() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-block-{}", cli.name()));
        documented_role_for_service_account(&ns, "meshtls-terraform", "meshtls-ca", ("create", "secrets"));
        let token = cluster.service_account_token(&ns, "meshtls-terraform", &server_url());
        let home = tempfile::tempdir().expect("an empty home");
        let with_token = block_config(cli, &ns, "    token                  = var.token\n");
        let ws = Workspace::new(cli, &with_token)
            .without_env("KUBECONFIG")
            .with_env("HOME", &home.path().display().to_string())
            .with_env("TF_VAR_token", &token);
        ws.ok(&["init", "-input=false"]);
        // The late provider's host is unknown: the plan still succeeds.
        assert!(ws.plan_has_changes().0);
        ws.apply();
        assert!(cluster.secret(&ns, "first").is_some() && cluster.secret(&ns, "second").is_some(), "{}: both CAs created", cli.name());
        assert!(!ws.plan_has_changes().0, "{}: a no-op plan reads the cluster through the token", cli.name());
        let plan_file = ws.path().join("token.tfplan");
        ws.ok(&["plan", "-input=false", &format!("-out={}", plan_file.display())]);
        let plan = ws.ok(&["show", "-json", &plan_file.display().to_string()]).stdout;
        let trace = ws.trace_log();
        assert!(trace.contains("ConfigureProvider"), "{}: the trace log holds the provider's configuration calls", cli.name());
        assert!(!ws.state_json().contains(&token), "{}: the token is in state", cli.name());
        assert!(!trace.contains(&token), "{}: the token is in the trace log", cli.name());
        if cli == CliKind::Terraform {
            // The probe's positive control: a variable that is not ephemeral is kept in the plan.
            assert!(plan.contains(&token), "terraform 1.0.3's plan JSON holds the non-ephemeral variable");
        } else {
            assert!(!plan.contains(&token), "{}: the token is in the plan", cli.name());
        }

        // The same cluster through an exec plugin: the token is read from a file at each run.
        let token_file = ws.path().join("token");
        std::fs::write(&token_file, &token).expect("token file");
        let plugin = ws.path().join("credential-plugin.sh");
        std::fs::write(
            &plugin,
            format!("#!/bin/sh\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"}}}}' \"$(cat {})\"\n", token_file.display()),
        )
        .expect("plugin");
        std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let exec = format!(
            "    exec {{\n      api_version = \"client.authentication.k8s.io/v1\"\n      command     = \"{}\"\n      args        = []\n    }}\n",
            plugin.display()
        );
        ws.write_config(&block_config(cli, &ns, &exec));
        assert!(!ws.plan_has_changes().0, "{}: a no-op plan through the exec plugin", cli.name());
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(
            cluster.secret(&ns, "first").is_none() && cluster.secret(&ns, "second").is_none(),
            "{}: destroyed through exec",
            cli.name()
        );
        // The positive control of the probe: without credentials, the cluster refuses.
        ws.write_config(&block_config(cli, &ns, ""));
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert_ne!(run.code, 0, "{}: anonymous access must fail:\n{}", cli.name(), run.text());
        assert!(cluster.secret(&ns, "first").is_none(), "{}: nothing created anonymously", cli.name());
    });
}

/// `assume_role` calls STS (moto's) with the default chain's credentials, and every App Mesh
/// call after it is signed with the role's: the moto wrapper records who signed each call.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn assume_role_signs_the_app_mesh_calls_with_the_role_s_credentials() {
    let base = env("AWS_ACCESS_KEY_ID");
    let cluster = Cluster::connect();
    // The nodes are made first, with the default chain's key, before the count starts.
    let nodes: Vec<(CliKind, String, String)> = CliKind::ALL
        .iter()
        .map(|cli| {
            let ns = cluster.fresh_namespace(&format!("acc-role-{}", cli.name()));
            let (mesh, node) = (format!("{ns}-mesh"), format!("yelb-db_{ns}"));
            appmesh::create_node(&mesh, &node, &format!("yelb-db.{ns}.svc.cluster.local"));
            (*cli, mesh, node)
        })
        .collect();
    let before = appmesh::access_keys();
    for_each_cli(|cli| {
        let Some((_, mesh, node)) = nodes.iter().find(|(c, _, _)| *c == cli) else { panic!("a node for {}", cli.name()) };
        let url = env("AWS_ENDPOINT_URL");
        let config = format!(
            "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  mesh_name = \"{mesh}\"\n  kubernetes {{\n    config_path = \"{kubeconfig}\"\n  }}\n  aws {{\n    region = \"{region}\"\n    endpoints {{\n      appmesh = \"{url}\"\n      sts     = \"{url}\"\n    }}\n    assume_role {{\n      role_arn     = \"arn:aws:iam::123456789012:role/meshtls-acc\"\n      session_name = \"meshtls-acc-{cli}\"\n      external_id  = \"acc-external-id\"\n    }}\n  }}\n}}\n\nresource \"meshtls_virtual_node_tls\" \"db\" {{\n  virtual_node_name = \"{node}\"\n  listener {{\n    mode = \"PERMISSIVE\"\n    certificate {{\n      file {{\n        certificate_chain = \"/k/tls.crt\"\n        private_key       = \"/k/tls.key\"\n      }}\n    }}\n  }}\n}}\n",
            kubeconfig = env("KUBECONFIG"),
            region = env("AWS_REGION"),
            cli = cli.name(),
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        ws.apply();
        assert!(!ws.plan_has_changes().0, "{}: a no-op plan through the role", cli.name());
        // (The node is not read back here: the fixture would sign with the default chain's key.)
        assert_eq!(ws.state_attribute("meshtls_virtual_node_tls", "api_status"), "in sync", "{}: written through the role", cli.name());
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    });
    let after = appmesh::access_keys();
    let calls = |doc: &serde_json::Value, service: &str, key: &str| doc["access_keys"][service][key].as_u64().unwrap_or(0);
    assert!(
        calls(&after, "sts", &base) >= calls(&before, "sts", &base) + 3,
        "each CLI's provider assumed the role with the default chain's key: {after}"
    );
    assert_eq!(
        calls(&after, "appmesh", &base),
        calls(&before, "appmesh", &base),
        "no App Mesh call signed with the default chain's key: {after}"
    );
    let assumed: u64 = after["access_keys"]["appmesh"]
        .as_object()
        .map(|keys| keys.iter().filter(|(k, _)| **k != base).map(|(k, v)| v.as_u64().unwrap_or(0) - calls(&before, "appmesh", k)).sum())
        .unwrap_or(0);
    assert!(assumed >= 3, "App Mesh calls signed with the role's keys: {after}");
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn invalid_provider_settings_name_the_attribute() {
    for_each_cli(|cli| {
        let ws = Workspace::new(
            cli,
            &format!(
                "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  aws {{\n    region = \"uswest2\"\n    endpoints {{\n      appmesh = \"localhost:5000\"\n    }}\n  }}\n}}\n\nresource \"meshtls_ca\" \"x\" {{\n  namespace   = \"default\"\n  common_name = \"X\"\n}}\n"
            ),
        );
        ws.ok(&["init", "-input=false"]);
        let run = ws.run(&["validate"]);
        assert_ne!(run.code, 0);
        let text = run.text();
        for expected in ["Invalid AWS region", "region = \"uswest2\"", "Invalid endpoint URL", "appmesh = \"localhost:5000\""] {
            assert!(text.contains(expected), "{} output lacks {expected:?}:\n{text}", cli.name());
        }
        // The kubernetes block's rules, each on its attribute.
        ws.write_config(&format!(
            "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  kubernetes {{\n    host                   = \"eks.example.com\"\n    cluster_ca_certificate = \"LS0tLS1CRUdJTiBDRVJU\"\n    token                  = \"t\"\n    exec {{\n      api_version = \"client.authentication.k8s.io/v1beta1\"\n      command     = \"aws\"\n    }}\n  }}\n}}\n\nresource \"meshtls_ca\" \"x\" {{\n  namespace   = \"default\"\n  common_name = \"X\"\n}}\n"
        ));
        let text = ws.run(&["validate"]).text();
        for expected in [
            "Invalid API server URL",
            "host = \"eks.example.com\"",
            "Not a PEM certificate",
            "cluster_ca_certificate = ",
            "Choose token or exec",
            "token = ",
        ] {
            assert!(text.contains(expected), "{} output lacks {expected:?}:\n{text}", cli.name());
        }
    });
}
