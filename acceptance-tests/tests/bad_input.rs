//! Bad input from configuration and from the cluster: every case ends in a diagnostic that
//! names the problem and the fix, never in a provider crash.

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::{for_each_cli, provider_block, Run, Workspace};
use serde_json::json;

/// The CLI reports a plugin crash with these words; a provider panic prints the other.
fn assert_no_crash(ws: &Workspace, run: &Run) {
    let text = run.text();
    assert!(!text.contains("plugin crashed") && !text.contains("panicked"), "{}: the provider crashed:\n{text}", ws.cli.name());
    assert!(!ws.trace_log().contains("panicked at"), "{}: the provider panicked", ws.cli.name());
}

fn fails_with(ws: &Workspace, args: &[&str], phrases: &[&str]) {
    let run = ws.run(args);
    assert_ne!(run.code, 0, "{} {args:?} must fail", ws.cli.name());
    assert_no_crash(ws, &run);
    let text = run.text();
    for phrase in phrases {
        assert!(text.contains(phrase), "{} {args:?}: expected {phrase:?} in:\n{text}", ws.cli.name());
    }
}

const NOT_PEM: &str = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn malformed_secrets_are_refused_at_import() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-bad-{}", cli.name()));
        let config = format!(
            "{}\nresource \"meshtls_ca\" \"ca\" {{\n  namespace   = \"{ns}\"\n  common_name = \"Bad Input CA\"\n}}\n\nresource \"meshtls_certificate\" \"imported\" {{\n  ca          = meshtls_ca.ca.id\n  namespace   = \"{ns}\"\n  secret_name = \"imported\"\n  dns_names   = [\"imported.{ns}.svc.cluster.local\"]\n}}\n\nresource \"meshtls_ca\" \"imported\" {{\n  namespace   = \"{ns}\"\n  secret_name = \"imported-ca\"\n  common_name = \"Imported CA\"\n}}\n",
            provider_block()
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        ws.ok(&["apply", "-auto-approve", "-input=false", "-target=meshtls_ca.ca"]);
        let ca_crt = cluster.secret_text(&ns, "ca-key-pair", "tls.crt").expect("CA certificate");
        let ca_id = format!("{ns}/ca-key-pair");

        // Not a certificate, though it looks like one.
        cluster.create_tls_secret(&ns, "garbled", &ca_crt, NOT_PEM, "not a key");
        fails_with(
            &ws,
            &["import", "-input=false", "meshtls_certificate.imported", &format!("{ns}/garbled:{ca_id}")],
            &["tls.crt is not a certificate"],
        );

        // A certificate in a Secret of another type.
        cluster.apply_object(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": { "name": "opaque", "namespace": ns },
            "stringData": { "ca.crt": ca_crt, "tls.crt": ca_crt }
        }));
        fails_with(
            &ws,
            &["import", "-input=false", "meshtls_certificate.imported", &format!("{ns}/opaque:{ca_id}")],
            &["not a TLS Secret", "Opaque"],
        );

        // An import ID that is not one.
        fails_with(
            &ws,
            &["import", "-input=false", "meshtls_certificate.imported", "no-slash"],
            &["Invalid import ID", "namespace/secret_name"],
        );

        // A CA whose Secret holds no certificate.
        cluster.create_tls_secret(&ns, "garbled-ca", NOT_PEM, NOT_PEM, "not a key");
        let run = ws.run(&["import", "-input=false", "meshtls_ca.imported", &format!("{ns}/garbled-ca")]);
        assert_ne!(run.code, 0, "{}: importing a garbled CA must fail", cli.name());
        assert_no_crash(&ws, &run);

        // Nothing was recorded by the failed imports.
        let listed = ws.ok(&["state", "list"]).stdout;
        assert_eq!(listed.trim(), "meshtls_ca.ca", "{}: failed imports leave nothing in state", cli.name());
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    });
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn bad_configuration_is_refused_at_validate_and_plan() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-badcfg-{}", cli.name()));
        // 5000 names, built without a literal: range() stops at 1024 elements.
        let huge = format!(
            "{}\nresource \"meshtls_certificate\" \"huge\" {{\n  ca          = \"{ns}/ca-key-pair\"\n  namespace   = \"{ns}\"\n  secret_name = \"huge\"\n  dns_names   = flatten([for a in range(50) : [for b in range(100) : \"svc-${{a}}-${{b}}.{ns}.svc.cluster.local\"]])\n}}\n",
            provider_block()
        );
        let ws = Workspace::new(cli, &huge);
        ws.ok(&["init", "-input=false"]);
        fails_with(&ws, &["validate"], &["Too many DNS names", "5000 names given", "wildcard"]);

        let invalid = format!(
            "{}\nresource \"meshtls_certificate\" \"bad\" {{\n  ca          = \"{ns}/ca-key-pair\"\n  namespace   = \"Not_A_Namespace\"\n  secret_name = \"bad\"\n  dns_names   = [\"under_score..example\", \"{}.example.com\"]\n}}\n",
            provider_block(),
            "a".repeat(70)
        );
        ws.write_config(&invalid);
        fails_with(&ws, &["validate"], &["Invalid DNS name", "under_score..example", "namespace"]);

        // A VirtualNode without listeners: there is nothing to put TLS on.
        cluster.apply_object(json!({
            "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
            "metadata": { "name": "no-listeners", "namespace": ns },
            "spec": { "podSelector": { "matchLabels": { "app": "x" } } }
        }));
        let no_listener = format!(
            "{}\nresource \"meshtls_virtual_node_tls\" \"x\" {{\n  virtual_node_name = \"no-listeners_{ns}\"\n\n  kubernetes {{\n    namespace    = \"{ns}\"\n    virtual_node = \"no-listeners\"\n  }}\n\n  listener {{\n    mode = \"STRICT\"\n    certificate {{\n      file {{\n        certificate_chain = \"/etc/keys/x/tls.crt\"\n        private_key       = \"/etc/keys/x/tls.key\"\n      }}\n    }}\n  }}\n}}\n",
            provider_block()
        );
        ws.write_config(&no_listener);
        fails_with(&ws, &["plan", "-input=false"], &["Virtual node has no listener", "add one"]);

        // An intermediate whose parent is a service's certificate, and Istio's layout on a
        // Secret istiod never reads: both named at their attribute.
        let leaf = rcgen::CertificateParams::new(vec!["svc.example".to_string()])
            .expect("params")
            .self_signed(&rcgen::KeyPair::generate().expect("key"))
            .expect("certificate")
            .pem();
        let bad_ca = format!(
            "{}\nresource \"meshtls_ca\" \"intermediate\" {{\n  namespace   = \"{ns}\"\n  secret_name = \"team-ca\"\n  common_name = \"Team CA\"\n\n  parent {{\n    ca_id           = \"{ns}/root\"\n    certificate_pem = <<-EOT\n{leaf}    EOT\n  }}\n}}\n\nresource \"meshtls_ca\" \"istio\" {{\n  namespace   = \"istio-system\"\n  secret_name = \"not-cacerts\"\n  common_name = \"Mesh CA\"\n  layout      = \"istio\"\n}}\n",
            provider_block()
        );
        ws.write_config(&bad_ca);
        fails_with(
            &ws,
            &["plan", "-input=false"],
            &["Parent is not a CA", "certificate_pem = <<-EOT", "istiod does not read this Secret", "layout = \"istio\""],
        );
        assert!(cluster.object("appmesh.k8s.aws", "v1beta2", "VirtualNode", Some(&ns), "no-listeners").expect("node")["spec"]["listeners"]
            .is_null());
    });
}

/// Every number is bounded at validate, whatever else is still unknown.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn numbers_out_of_range_are_refused_at_validate() {
    for_each_cli(|cli| {
        let config = format!(
            r#"{}
variable "days" {{
  type = number
}}

resource "meshtls_certificate" "c" {{
  ca                = "yelb/ca-key-pair"
  namespace         = "yelb"
  secret_name       = "c"
  dns_names         = ["c.yelb.svc.cluster.local"]
  validity_days     = var.days
  renew_before_days = 3000000
}}

resource "meshtls_gateway" "gw" {{
  namespace          = "yelb"
  name               = "gw"
  certificate_secret = "gw-tls"
  mount_path         = "/etc/keys/gw"
  port               = 70000
  replicas           = 5000
  route {{
    prefix          = "/"
    virtual_service = "ui"
  }}
}}

resource "meshtls_nlb_service" "lb" {{
  namespace            = "yelb"
  name                 = "lb"
  gateway              = "gw"
  target_port          = 0
  wait_timeout_seconds = -5
}}

resource "meshtls_virtual_node_tls" "n" {{
  virtual_node_name = "n_yelb"
  kubernetes {{
    namespace    = "yelb"
    virtual_node = "n"
  }}
  listener {{
    mode = "DISABLED"
    port = 99999
  }}
}}
"#,
            provider_block()
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        fails_with(
            &ws,
            &["validate"],
            &[
                "renew_before_days must be a whole number from 0 to 36499; got 3000000",
                "70000 is not a port number",
                "replicas must be a whole number from 0 to 1000; got 5000",
                "0 is not a port number",
                "wait_timeout_seconds must be a whole number from 1 to 3600; got -5",
                "99999 is not a port number",
            ],
        );
    });
}
