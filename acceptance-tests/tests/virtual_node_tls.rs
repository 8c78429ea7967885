//! meshtls_virtual_node_tls on both sides: the VirtualNode object in kube-apiserver and the
//! App Mesh API in moto, with the Deployment's pod template carrying the Secret mount.

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::identity::Identity;
use meshtls_acceptance_tests::{appmesh, env, for_each_cli, provider_block_for_mesh, provider_block_with, Workspace, PROVIDER_ADDRESS};
use serde_json::json;

const HOST: &str = "yelb-db.yelb.svc.cluster.local";

fn provider(mesh: &str) -> String {
    provider_block_for_mesh(mesh)
}

fn config(mesh: &str, ns: &str, dns_name: &str) -> String {
    format!(
        r#"{provider}
resource "meshtls_ca" "mesh" {{
  namespace   = "{ns}"
  common_name = "Mesh CA"
}}

resource "meshtls_certificate" "db" {{
  ca          = meshtls_ca.mesh.id
  namespace   = "{ns}"
  secret_name = "yelb-tls-db"
  dns_names   = ["{dns_name}"]
}}

resource "meshtls_virtual_node_tls" "db" {{
  virtual_node_name       = "yelb-db_{ns}"
  certificate_secret      = meshtls_certificate.db.secret_name
  certificate_fingerprint = meshtls_certificate.db.fingerprint_sha256
  mount_path              = "/etc/keys/yelb"

  kubernetes {{
    namespace    = "{ns}"
    virtual_node = "yelb-db"
    deployment   = "yelb-db"
  }}

  listener {{
    mode = "STRICT"
    certificate {{
      file {{
        certificate_chain = "/etc/keys/yelb/tls.crt"
        private_key       = "/etc/keys/yelb/tls.key"
      }}
    }}
  }}

  client_policy {{
    enforce = true
    trust {{
      file {{
        certificate_chain = "/etc/keys/yelb/ca.crt"
      }}
    }}
  }}
}}
"#,
        provider = provider(mesh)
    )
}

/// The runbook's starting point: mesh, node and Deployment on the cluster, the same node in
/// the App Mesh API.
fn setup(cluster: &Cluster, mesh: &str, ns: &str) {
    cluster.apply_object(json!({ "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "Mesh", "metadata": { "name": mesh }, "spec": { "namespaceSelector": { "matchLabels": { "mesh": mesh } } } }));
    cluster.apply_object(json!({
        "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
        "metadata": { "name": "yelb-db", "namespace": ns },
        "spec": {
            "awsName": format!("yelb-db_{ns}"),
            "podSelector": { "matchLabels": { "app": "yelb-db" } },
            "listeners": [{ "portMapping": { "port": 5432, "protocol": "tcp" } }],
            "serviceDiscovery": { "dns": { "hostname": HOST } },
            "backends": [{ "virtualService": { "virtualServiceRef": { "name": "redis-server" } } }]
        }
    }));
    cluster.apply_object(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "yelb-db", "namespace": ns },
        "spec": {
            "selector": { "matchLabels": { "app": "yelb-db" } },
            "template": {
                // The app mounts a Secret of its own: meshtls's entry goes beside it.
                "metadata": { "labels": { "app": "yelb-db" }, "annotations": { "team": "data", "appmesh.k8s.aws/secretMounts": "app-config:/etc/app" } },
                "spec": { "containers": [{ "name": "db", "image": "postgres:16" }] }
            }
        }
    }));
    appmesh::create_node(mesh, &format!("yelb-db_{ns}"), HOST);
}

fn vn(cluster: &Cluster, ns: &str) -> serde_json::Value {
    cluster.object("appmesh.k8s.aws", "v1beta2", "VirtualNode", Some(ns), "yelb-db").expect("VirtualNode")["spec"].clone()
}

fn pod_annotations(cluster: &Cluster, ns: &str) -> serde_json::Value {
    cluster.object("apps", "v1", "Deployment", Some(ns), "yelb-db").expect("Deployment")["spec"]["template"]["metadata"]["annotations"]
        .clone()
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn virtual_node_tls_on_both_sides() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-vn-{}", cli.name()));
        let mesh = format!("{ns}-mesh");
        let node = format!("yelb-db_{ns}");
        setup(&cluster, &mesh, &ns);
        let (vn_before, api_before, pods_before) = (vn(&cluster, &ns), appmesh::node_spec(&mesh, &node), pod_annotations(&cluster, &ns));

        let ws = Workspace::new(cli, &config(&mesh, &ns, HOST));
        ws.ok(&["init", "-input=false"]);
        ws.apply();

        let spec = vn(&cluster, &ns);
        assert_eq!(spec["listeners"][0]["tls"]["mode"], "STRICT");
        assert_eq!(spec["listeners"][0]["tls"]["certificate"]["file"]["certificateChain"], "/etc/keys/yelb/tls.crt");
        assert_eq!(
            spec["backendDefaults"]["clientPolicy"]["tls"]["validation"]["trust"]["file"]["certificateChain"],
            "/etc/keys/yelb/ca.crt"
        );
        assert_eq!(spec["listeners"][0]["portMapping"]["port"], 5432, "the rest of the node is untouched");
        let api = appmesh::node_spec(&mesh, &node);
        assert_eq!(api["listeners"][0]["tls"]["mode"], "STRICT");
        assert_eq!(
            api["listeners"][0]["healthCheck"], api_before["listeners"][0]["healthCheck"],
            "UpdateVirtualNode must keep the other fields"
        );
        assert_eq!(api["backends"], api_before["backends"]);
        let pods = pod_annotations(&cluster, &ns);
        assert_eq!(
            pods["appmesh.k8s.aws/secretMounts"],
            "app-config:/etc/app,yelb-tls-db:/etc/keys/yelb",
            "{}: merged with the app's",
            cli.name()
        );
        assert_eq!(pods["team"], "data");
        let fingerprint = pods["meshtls.dev/certificate-fingerprint"].as_str().expect("fingerprint annotation").to_string();
        assert!(!ws.plan_has_changes().0, "second plan must be empty");

        // Drift on the App Mesh API side shows in plan, names the side, and apply restores it.
        appmesh::disable_tls(&mesh, &node);
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("api_status") && run.text().contains("listener TLS is missing"), "{}", run.text());
        ws.apply();
        assert_eq!(appmesh::node_spec(&mesh, &node)["listeners"][0]["tls"]["mode"], "STRICT");
        assert!(!ws.plan_has_changes().0);

        // Drift on the cluster side: the VirtualNode's listener TLS removed by hand.
        let mut obj = cluster.object("appmesh.k8s.aws", "v1beta2", "VirtualNode", Some(&ns), "yelb-db").expect("VirtualNode");
        obj["spec"]["listeners"][0].as_object_mut().expect("listener").remove("tls");
        obj["metadata"] = json!({ "name": "yelb-db", "namespace": ns });
        obj.as_object_mut().expect("object").remove("status");
        cluster.apply_object(obj);
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("cluster_status") && run.text().contains("drifted"), "{}", run.text());
        ws.apply();
        assert_eq!(vn(&cluster, &ns)["listeners"][0]["tls"]["mode"], "STRICT");
        assert!(!ws.plan_has_changes().0);

        // An in-place change of the TLS mode reaches both sides, and back.
        let strict = ws.path().join("main.tf");
        let tf = std::fs::read_to_string(&strict).expect("main.tf");
        assert!(tf.contains("mode = \"STRICT\""), "the scenario's configuration sets STRICT");
        std::fs::write(&strict, tf.replacen("mode = \"STRICT\"", "mode = \"PERMISSIVE\"", 1)).expect("main.tf");
        let (changes, run) = ws.plan_has_changes();
        assert!(changes && run.text().contains("updated in-place") && !run.text().contains("must be replaced"), "{}", run.text());
        ws.apply();
        assert_eq!(vn(&cluster, &ns)["listeners"][0]["tls"]["mode"], "PERMISSIVE", "{}: the cluster side", cli.name());
        assert_eq!(appmesh::node_spec(&mesh, &node)["listeners"][0]["tls"]["mode"], "PERMISSIVE", "{}: the App Mesh side", cli.name());
        assert!(!ws.plan_has_changes().0);
        std::fs::write(&strict, tf).expect("main.tf");
        ws.apply();
        assert_eq!(vn(&cluster, &ns)["listeners"][0]["tls"]["mode"], "STRICT");
        assert_eq!(appmesh::node_spec(&mesh, &node)["listeners"][0]["tls"]["mode"], "STRICT");

        // Re-issuing the certificate changes the pod template's fingerprint in the same apply.
        ws.ok(&["apply", "-auto-approve", "-input=false", "-replace=meshtls_certificate.db"]);
        let rotated = pod_annotations(&cluster, &ns)["meshtls.dev/certificate-fingerprint"].as_str().expect("fingerprint").to_string();
        assert_ne!(rotated, fingerprint, "a re-issued certificate must roll the pods");
        assert!(!ws.plan_has_changes().0);

        // Import by mesh/virtual_node/namespace/name reads the TLS settings back.
        ws.ok(&["state", "rm", "meshtls_virtual_node_tls.db"]);
        ws.ok(&["import", "-input=false", "meshtls_virtual_node_tls.db", &format!("{mesh}/{node}/{ns}/yelb-db")]);
        let state = ws.state_json();
        assert!(state.contains("/etc/keys/yelb/tls.crt") && state.contains("STRICT"), "imported state lacks the TLS settings");
        ws.apply();
        assert!(!ws.plan_has_changes().0, "plan after import and apply must be empty");

        // Imported, the node's TLS and mount were there before this resource: destroy leaves
        // them as they were at import, and removes only meshtls's own annotation.
        let (vn_imported, api_imported, mut pods_imported) =
            (vn(&cluster, &ns), appmesh::node_spec(&mesh, &node), pod_annotations(&cluster, &ns));
        ws.assert_no_key_material();
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert_eq!(vn(&cluster, &ns), vn_imported, "{}: destroy after import leaves the VirtualNode's TLS", cli.name());
        assert_eq!(appmesh::node_spec(&mesh, &node), api_imported, "{}: and the App Mesh node's", cli.name());
        pods_imported.as_object_mut().map(|a| a.remove("meshtls.dev/certificate-fingerprint"));
        assert_eq!(pod_annotations(&cluster, &ns), pods_imported, "{}: the mount stays; the fingerprint goes", cli.name());
        assert_ne!(vn(&cluster, &ns), vn_before, "the import kept TLS that setup did not have");
        let app_mount = pods_before["appmesh.k8s.aws/secretMounts"].as_str().expect("the app's own mount");
        let mounts = pod_annotations(&cluster, &ns)["appmesh.k8s.aws/secretMounts"].as_str().unwrap_or_default().to_string();
        assert!(mounts.split(',').any(|m| m == app_mount), "{}: the app's own mount entry survives: {mounts}", cli.name());
    });
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn certificate_must_cover_the_node_hostname() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-vnhost-{}", cli.name()));
        let mesh = format!("{ns}-mesh");
        setup(&cluster, &mesh, &ns);
        let wrong = "yelb-ui.yelb.svc.cluster.local";
        let ws = Workspace::new(cli, &config(&mesh, &ns, wrong));
        ws.ok(&["init", "-input=false"]);
        // The certificate exists before the node's TLS is planned against it.
        ws.ok(&["apply", "-auto-approve", "-input=false", "-target=meshtls_certificate.db"]);
        let run = ws.run(&["plan", "-input=false"]);
        assert_ne!(run.code, 0, "plan must fail");
        let text = run.text();
        assert!(text.contains("Certificate does not cover the node's hostname") && text.contains(wrong) && text.contains(HOST), "{text}");
        ws.ok(&["destroy", "-auto-approve", "-input=false", "-target=meshtls_ca.mesh"]);
    });
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn virtual_node_tls_checks_at_plan() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-vncheck-{}", cli.name()));
        let mesh = format!("{ns}-mesh");
        setup(&cluster, &mesh, &ns);
        let node_block = |name: &str, mode: &str, certificate: bool| {
            let cert = if certificate {
                "certificate {\n      file {\n        certificate_chain = \"/k/tls.crt\"\n        private_key = \"/k/tls.key\"\n      }\n    }"
            } else {
                ""
            };
            format!("{}\nresource \"meshtls_virtual_node_tls\" \"db\" {{\n  virtual_node_name = \"{name}\"\n  listener {{\n    mode = \"{mode}\"\n    {cert}\n  }}\n}}\n", provider(&mesh))
        };

        // STRICT without a certificate is refused at validate.
        let ws = Workspace::new(cli, &node_block(&format!("yelb-db_{ns}"), "STRICT", false));
        ws.ok(&["init", "-input=false"]);
        let run = ws.run(&["validate"]);
        assert!(run.code != 0 && run.text().contains("STRICT needs a certificate"), "{}", run.text());

        // A node that does not exist is an error naming the mesh, the node and the side.
        ws.write_config(&node_block("no-such-node", "STRICT", true));
        let run = ws.run(&["plan", "-input=false"]);
        assert!(run.code != 0, "plan must fail");
        let text = run.text();
        assert!(
            text.contains("Virtual node not found")
                && text.contains("no-such-node")
                && text.contains(&mesh)
                && text.contains("App Mesh API"),
            "{text}"
        );

        // A certificate_secret that holds no certificate is an error at plan, naming the
        // attribute, rather than a fingerprint left unknown until apply fails on it.
        cluster.apply_object(json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": { "name": "not-tls", "namespace": ns }, "data": { "password": "c2VjcmV0" }
        }));
        let mounted = format!(
            "{}\nresource \"meshtls_virtual_node_tls\" \"db\" {{\n  virtual_node_name = \"yelb-db_{ns}\"\n  certificate_secret = \"not-tls\"\n  mount_path = \"/k\"\n  kubernetes {{\n    namespace = \"{ns}\"\n    virtual_node = \"yelb-db\"\n    deployment = \"yelb-db\"\n  }}\n  listener {{\n    mode = \"STRICT\"\n    certificate {{\n      file {{\n        certificate_chain = \"/k/tls.crt\"\n        private_key = \"/k/tls.key\"\n      }}\n    }}\n  }}\n}}\n",
            provider(&mesh)
        );
        ws.write_config(&mounted);
        let run = ws.run(&["plan", "-input=false"]);
        let text = run.text();
        assert!(
            run.code != 0 && text.contains("Cannot read the certificate Secret") && text.contains("has no tls.crt"),
            "{}: {text}",
            cli.name()
        );
        assert!(text.contains("certificate_secret"), "{}: the diagnostic names the attribute: {text}", cli.name());
        assert!(!text.contains("unknown values"), "{text}");

        // DISABLED then STRICT in one step: allowed, with a warning recommending PERMISSIVE.
        ws.write_config(&node_block(&format!("yelb-db_{ns}"), "DISABLED", true));
        ws.apply();
        ws.write_config(&node_block(&format!("yelb-db_{ns}"), "STRICT", true));
        let (changes, run) = ws.plan_has_changes();
        assert!(
            changes && run.text().contains("DISABLED to STRICT in one step") && run.text().contains("PERMISSIVE first"),
            "{}",
            run.text()
        );
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    });
}

/// ECS/EC2 meshes have no cluster side, and a cluster may be managed without AWS credentials:
/// with no `aws` block only the VirtualNode object changes, and the API side stays untouched.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn virtual_node_tls_cluster_side_only() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-vnk8s-{}", cli.name()));
        let mesh = format!("{ns}-mesh");
        setup(&cluster, &mesh, &ns);
        let api_before = appmesh::node_spec(&mesh, &format!("yelb-db_{ns}"));
        let config = format!(
            "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  kubernetes {{\n    config_path = \"{}\"\n  }}\n}}\n\nresource \"meshtls_virtual_node_tls\" \"db\" {{\n  virtual_node_name = \"yelb-db_{ns}\"\n  kubernetes {{\n    namespace    = \"{ns}\"\n    virtual_node = \"yelb-db\"\n  }}\n  listener {{\n    mode = \"PERMISSIVE\"\n    certificate {{\n      sds {{\n        secret_name = \"yelb-db\"\n      }}\n    }}\n  }}\n}}\n\noutput \"api\" {{\n  value = meshtls_virtual_node_tls.db.api_status\n}}\n",
            env("KUBECONFIG")
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        ws.apply();
        assert_eq!(vn(&cluster, &ns)["listeners"][0]["tls"]["mode"], "PERMISSIVE");
        assert_eq!(ws.ok(&["output", "-raw", "api"]).stdout, "not managed");
        assert_eq!(appmesh::node_spec(&mesh, &format!("yelb-db_{ns}")), api_before, "the API side must not be touched");
        assert!(!ws.plan_has_changes().0);
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(vn(&cluster, &ns)["listeners"][0].get("tls").is_none());
    });
}

/// TLS meshtls did not add stays: the listener's TLS was set by the application (Helm, say)
/// and the resource configures only the client policy. Apply and a no-op plan leave the
/// listener alone, drift on it is not meshtls's to report, and destroy puts the client policy
/// back as it was and keeps the listener's TLS.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn virtual_node_tls_leaves_tls_it_does_not_manage() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-vnown-{}", cli.name()));
        let mesh = format!("{ns}-mesh");
        setup(&cluster, &mesh, &ns);
        let helm_tls = json!({ "mode": "STRICT", "certificate": { "sds": { "secretName": "helm-cert" } } });
        let mut listeners = vn(&cluster, &ns)["listeners"].clone();
        listeners[0]["tls"] = helm_tls.clone();
        cluster.merge_patch_object(
            "appmesh.k8s.aws",
            "v1beta2",
            "VirtualNode",
            Some(&ns),
            "yelb-db",
            json!({ "spec": { "listeners": listeners } }),
        );
        let config = format!(
            "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  kubernetes {{\n    config_path = \"{}\"\n  }}\n}}\n\nresource \"meshtls_virtual_node_tls\" \"db\" {{\n  virtual_node_name = \"yelb-db_{ns}\"\n  kubernetes {{\n    namespace    = \"{ns}\"\n    virtual_node = \"yelb-db\"\n  }}\n  client_policy {{\n    enforce = true\n    trust {{\n      sds {{\n        secret_name = \"mesh-ca\"\n      }}\n    }}\n  }}\n}}\n",
            env("KUBECONFIG")
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        ws.apply();
        let node = vn(&cluster, &ns);
        assert_eq!(node["listeners"][0]["tls"], helm_tls, "{}: the application's listener TLS stays", cli.name());
        assert_eq!(node["backendDefaults"]["clientPolicy"]["tls"]["enforce"], true, "{}: {node}", cli.name());
        assert!(!ws.plan_has_changes().0, "{}: TLS meshtls does not manage is not drift", cli.name());

        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        let node = vn(&cluster, &ns);
        assert_eq!(node["listeners"][0]["tls"], helm_tls, "{}: destroy keeps the application's listener TLS", cli.name());
        assert!(node["backendDefaults"]["clientPolicy"].get("tls").is_none(), "{}: the client policy is as before: {node}", cli.name());
    });
}

/// The documented `meshtls-virtual-node-tls` Role alone is enough: apply, a no-op plan and
/// destroy of a node's TLS, reading its certificate Secret, as a user bound to nothing else.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn virtual_node_tls_needs_only_its_documented_role() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-vn-role");
    let mesh = format!("{ns}-mesh");
    setup(&cluster, &mesh, &ns);
    let made = rcgen::generate_simple_self_signed(vec![HOST.to_string()]).expect("certificate");
    let crt = made.cert.pem();
    cluster.create_tls_secret(&ns, "yelb-tls-db", &crt, &crt, &made.signing_key.serialize_pem());
    let user = format!("vn-role-{ns}");
    let identity = Identity::documented_role(&ns, &user, "meshtls-virtual-node-tls", ("get", "secrets"));
    assert!(!cluster.user_can(&user, &ns, "create", "secrets"), "the positive control: the user holds the one Role only");
    let config = format!(
        "{}\nresource \"meshtls_virtual_node_tls\" \"db\" {{\n  virtual_node_name  = \"yelb-db_{ns}\"\n  certificate_secret = \"yelb-tls-db\"\n  mount_path         = \"/etc/keys/yelb\"\n  kubernetes {{\n    namespace    = \"{ns}\"\n    virtual_node = \"yelb-db\"\n    deployment   = \"yelb-db\"\n  }}\n  listener {{\n    mode = \"STRICT\"\n    certificate {{\n      file {{\n        certificate_chain = \"/etc/keys/yelb/tls.crt\"\n        private_key       = \"/etc/keys/yelb/tls.key\"\n      }}\n    }}\n  }}\n}}\n",
        provider_block_with(&identity.kubeconfig().display().to_string())
    );
    let ws = Workspace::new(meshtls_acceptance_tests::CliKind::Tofu, &config);
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    assert_eq!(vn(&cluster, &ns)["listeners"][0]["tls"]["mode"], "STRICT");
    assert!(pod_annotations(&cluster, &ns)["appmesh.k8s.aws/secretMounts"]
        .as_str()
        .is_some_and(|m| m.contains("yelb-tls-db:/etc/keys/yelb")));
    assert!(!ws.plan_has_changes().0, "a no-op plan under the Role alone");
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(vn(&cluster, &ns)["listeners"][0].get("tls").is_none(), "destroy puts the listener back as it was");
}
