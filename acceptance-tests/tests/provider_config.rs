//! Provider configuration: settings unknown at plan time (a cluster made in the same run)
//! must not fail the plan, and invalid settings are diagnosed on the attribute.

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{env, for_each_cli, Workspace, PROVIDER_ADDRESS};

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
    });
}
