//! Ownership against the real CLIs and kube-apiserver: objects of the names meshtls would use
//! that it did not create are refused at apply, come through apply and destroy unchanged, and
//! are managed (and destroyed) only once imported; and everything works as an identity bound
//! only to the RBAC docs/security.md documents, with no `list` on Secrets.

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::identity::Identity;
use meshtls_acceptance_tests::{
    appmesh, env, for_each_cli, provider_block, provider_block_with, state_attribute, CliKind, Workspace, PROVIDER_ADDRESS,
};
use serde_json::json;

const CM: (&str, &str) = ("cert-manager.io", "v1");
const RBAC: (&str, &str) = ("rbac.authorization.k8s.io", "v1");

fn ca(ns: &str, issuer: &str) -> String {
    format!(
        "resource \"meshtls_ca\" \"mesh\" {{\n  namespace   = \"{ns}\"\n  secret_name = \"ca-key-pair\"\n  common_name = \"Ownership CA\"\n  validity_days = 365\n  cert_manager_issuer {{\n    kind = \"Issuer\"\n    name = \"{issuer}\"\n  }}\n}}\n"
    )
}

fn cert(name: &str, ns: &str, extra: &str) -> String {
    format!(
        "resource \"meshtls_certificate\" \"{name}\" {{\n  ca            = meshtls_ca.mesh.id\n  namespace     = \"{ns}\"\n  secret_name   = \"{name}\"\n  dns_names     = [\"{name}.{ns}.svc.cluster.local\"]\n  validity_days = 60\n  {extra}\n}}\n"
    )
}

const RESTRICT: &str = "restrict_secret_access {\n    service_accounts = [\"db\"]\n  }";

/// The parts of an object someone else owns that meshtls must never change.
fn fingerprint(obj: &serde_json::Value) -> serde_json::Value {
    json!({
        "uid": obj["metadata"]["uid"],
        "labels": obj["metadata"]["labels"],
        "annotations": obj["metadata"]["annotations"],
        "spec": obj["spec"], "rules": obj["rules"], "subjects": obj["subjects"], "data": obj["data"],
    })
}

struct Foreign<'a> {
    cluster: &'a Cluster,
    objects: Vec<((&'static str, &'static str, &'static str), String, serde_json::Value)>,
}

impl<'a> Foreign<'a> {
    /// Creates `obj` as another team would (no meshtls marker) and remembers it.
    fn create(&mut self, gvk: (&'static str, &'static str, &'static str), ns: &str, obj: serde_json::Value) {
        let name = obj["metadata"]["name"].as_str().expect("name").to_string();
        self.cluster.apply_object(obj);
        let found = self.cluster.object(gvk.0, gvk.1, gvk.2, Some(ns), &name).expect("foreign object created");
        self.objects.push((gvk, name, fingerprint(&found)));
    }

    /// Every foreign object still exists, exactly as it was made.
    fn assert_untouched(&self, ns: &str, when: &str) {
        for ((group, version, kind), name, before) in &self.objects {
            let now = self.cluster.object(group, version, kind, Some(ns), name);
            let now = now.unwrap_or_else(|| panic!("{when}: {kind} {ns}/{name}, not meshtls's, was deleted"));
            assert_eq!(&fingerprint(&now), before, "{when}: {kind} {ns}/{name}, not meshtls's, was changed");
        }
    }
}

fn team_meta(name: &str, ns: &str) -> serde_json::Value {
    json!({ "name": name, "namespace": ns, "labels": { "team": "platform" }, "annotations": { "owner": "platform-team" } })
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn objects_meshtls_did_not_create_are_refused_and_survive_destroy() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-own-{}", cli.name()));
        let mut foreign = Foreign { cluster: &cluster, objects: Vec::new() };
        foreign.create(
            (CM.0, CM.1, "Issuer"),
            &ns,
            json!({ "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": team_meta("team-issuer", &ns), "spec": { "selfSigned": {} } }),
        );
        foreign.create(
            (RBAC.0, RBAC.1, "Role"),
            &ns,
            json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": team_meta("db-reader", &ns),
                    "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"] }] }),
        );
        foreign.create(
            (RBAC.0, RBAC.1, "RoleBinding"),
            &ns,
            json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": team_meta("db-reader", &ns),
                    "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "db-reader" },
                    "subjects": [{ "kind": "ServiceAccount", "name": "team", "namespace": ns }] }),
        );
        foreign.create(
            ("", "v1", "Secret"),
            &ns,
            json!({ "apiVersion": "v1", "kind": "Secret", "metadata": team_meta("team-secret", &ns), "type": "Opaque", "data": { "token": "c2VjcmV0" } }),
        );

        // An issuer of that name: refused before anything is written.
        let ws = Workspace::new(cli, &format!("{}\n{}", provider_block(), ca(&ns, "team-issuer")));
        ws.ok(&["init", "-input=false"]);
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        let text = run.text();
        assert_ne!(run.code, 0, "{}: apply over a foreign issuer must fail", cli.name());
        for expected in [
            &format!("Issuer {ns}/team-issuer already exists") as &str,
            "was not created by meshtls",
            &format!("terraform import <address> {ns}/ca-key-pair:Issuer/team-issuer"),
        ] {
            assert!(text.contains(expected), "{}: the refusal lacks {expected:?}:\n{text}", cli.name());
        }
        assert!(cluster.secret(&ns, "ca-key-pair").is_none(), "{}: a refused CA must write no Secret", cli.name());
        assert!(ws.state_secrets().is_empty(), "{}: a refused CA must leave nothing in state", cli.name());
        foreign.assert_untouched(&ns, "after the refused CA");

        // The same for a ClusterIssuer, which is cluster-scoped.
        let cluster_issuer = format!("team-{ns}");
        cluster.apply_object(json!({ "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": { "name": cluster_issuer, "labels": { "team": "platform" } }, "spec": { "selfSigned": {} } }));
        let before = cluster.object(CM.0, CM.1, "ClusterIssuer", None, &cluster_issuer).map(|o| fingerprint(&o));
        ws.write_config(&format!(
            "{}\n{}",
            provider_block(),
            ca(&ns, &cluster_issuer).replace("kind = \"Issuer\"", "kind = \"ClusterIssuer\"")
        ));
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(
            run.code != 0 && run.text().contains(&format!("ClusterIssuer {cluster_issuer} already exists")),
            "{}: apply over a foreign ClusterIssuer must fail:\n{}",
            cli.name(),
            run.text()
        );
        assert!(cluster.secret(&ns, "ca-key-pair").is_none(), "{}: a refused CA must write no Secret", cli.name());
        assert_eq!(cluster.object(CM.0, CM.1, "ClusterIssuer", None, &cluster_issuer).map(|o| fingerprint(&o)), before, "{}", cli.name());
        cluster.delete_object(CM.0, CM.1, "ClusterIssuer", None, &cluster_issuer);

        // A Role and RoleBinding of the name restrict_secret_access uses, and a Secret of a
        // certificate's name: each certificate is refused, the CA is created.
        ws.write_config(&format!(
            "{}\n{}\n{}\n{}",
            provider_block(),
            ca(&ns, "ca-issuer"),
            cert("db", &ns, RESTRICT),
            cert("team-secret", &ns, "")
        ));
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        let text = run.text();
        assert_ne!(run.code, 0, "{}: apply over foreign objects must fail", cli.name());
        for expected in [
            &format!("Role {ns}/db-reader already exists") as &str,
            "certificate Secret already exists",
            &format!("Secret {ns}/team-secret exists and was not created by meshtls"),
        ] {
            assert!(text.contains(expected), "{}: the refusal lacks {expected:?}:\n{text}", cli.name());
        }
        assert!(cluster.secret(&ns, "db").is_none(), "{}: a refused certificate must write no Secret", cli.name());
        assert_eq!(ws.state_secrets(), vec![(ns.clone(), "ca-key-pair".to_string())], "{}", cli.name());
        foreign.assert_untouched(&ns, "after the refused certificates");

        // meshtls's own issuer replaced out of band by someone else's: plan proposes to
        // restore it, apply refuses to take it over.
        ws.write_config(&format!("{}\n{}\n{}", provider_block(), ca(&ns, "ca-issuer"), cert("db", &ns, "")));
        ws.apply();
        assert!(cluster.marked(CM.0, CM.1, "Issuer", Some(&ns), "ca-issuer", &format!("meshtls_ca:{ns}/ca-key-pair")));
        assert!(cluster.marked("", "v1", "Secret", Some(&ns), "db", &format!("meshtls_certificate:{ns}/db")));
        cluster.delete_object(CM.0, CM.1, "Issuer", Some(&ns), "ca-issuer");
        foreign.create(
            (CM.0, CM.1, "Issuer"),
            &ns,
            json!({ "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": team_meta("ca-issuer", &ns), "spec": { "selfSigned": {} } }),
        );
        let (changes, plan) = ws.plan_has_changes();
        assert!(
            changes && plan.text().contains("updated in-place"),
            "{}: a foreign issuer must plan a restore:\n{}",
            cli.name(),
            plan.text()
        );
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(
            run.code != 0 && run.text().contains(&format!("Issuer {ns}/ca-issuer already exists")),
            "{}: apply must refuse to take over the issuer:\n{}",
            cli.name(),
            run.text()
        );
        foreign.assert_untouched(&ns, "after the refused takeover");

        // Destroy deletes what meshtls created and nothing else.
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(ws.state_secrets().is_empty(), "{}: destroy must empty the state", cli.name());
        assert!(
            cluster.secret(&ns, "ca-key-pair").is_none() && cluster.secret(&ns, "db").is_none(),
            "{}: destroy must delete meshtls's Secrets",
            cli.name()
        );
        foreign.assert_untouched(&ns, "after destroy");
        ws.assert_no_key_material();
    });
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn destroy_leaves_an_object_that_changed_hands() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-own-destroy");
    let ws = Workspace::new(CliKind::Tofu, &format!("{}\n{}\n{}", provider_block(), ca(&ns, "ca-issuer"), cert("db", &ns, RESTRICT)));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    // Another team takes the Role over (strips meshtls's marker) after meshtls made it.
    cluster.strip_marker(RBAC.0, RBAC.1, "Role", Some(&ns), "db-reader");
    let before = cluster.object(RBAC.0, RBAC.1, "Role", Some(&ns), "db-reader").map(|o| fingerprint(&o));
    let run = ws.ok(&["destroy", "-auto-approve", "-input=false", "-refresh=false"]);
    let text = run.text();
    assert!(
        text.contains(&format!("Role {ns}/db-reader left in place")) && text.contains("was not created by meshtls"),
        "no warning:\n{text}"
    );
    assert_eq!(
        cluster.object(RBAC.0, RBAC.1, "Role", Some(&ns), "db-reader").map(|o| fingerprint(&o)),
        before,
        "the Role must be untouched"
    );
    assert!(cluster.object(RBAC.0, RBAC.1, "RoleBinding", Some(&ns), "db-reader").is_none(), "meshtls's RoleBinding must be deleted");
    assert!(cluster.object(CM.0, CM.1, "Issuer", Some(&ns), "ca-issuer").is_none(), "meshtls's Issuer must be deleted");
    assert!(cluster.secret(&ns, "db").is_none() && cluster.secret(&ns, "ca-key-pair").is_none());
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn import_adopts_objects_made_by_hand() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-adopt-{}", cli.name()));
        let config = format!("{}\n{}\n{}", provider_block(), ca(&ns, "ca-issuer"), cert("db", &ns, RESTRICT));
        let made = Workspace::new(cli, &config);
        made.ok(&["init", "-input=false"]);
        made.apply();
        let fingerprints = made.state_json();
        // The objects as the runbook makes them by hand: no meshtls marker.
        let objects = [
            ("", "v1", "Secret", "ca-key-pair"),
            ("", "v1", "Secret", "db"),
            (CM.0, CM.1, "Issuer", "ca-issuer"),
            (RBAC.0, RBAC.1, "Role", "db-reader"),
            (RBAC.0, RBAC.1, "RoleBinding", "db-reader"),
        ];
        for (g, v, k, n) in objects {
            cluster.strip_marker(g, v, k, Some(&ns), n);
        }
        drop(made);

        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        assert!(run.code != 0 && run.text().contains("was not created by meshtls"), "{}: must refuse:\n{}", cli.name(), run.text());
        for (g, v, k, n) in objects {
            let obj = cluster.object(g, v, k, Some(&ns), n);
            assert!(
                obj.as_ref().is_some_and(|o| o["metadata"]["labels"]["app.kubernetes.io/managed-by"].is_null()),
                "{}: {k} {n} must survive the refused apply unmarked",
                cli.name()
            );
        }

        ws.ok(&["import", "-input=false", "meshtls_ca.mesh", &format!("{ns}/ca-key-pair:Issuer/ca-issuer")]);
        ws.ok(&["import", "-input=false", "meshtls_certificate.db", &format!("{ns}/db")]);
        let ca_owner = format!("meshtls_ca:{ns}/ca-key-pair");
        let db_owner = format!("meshtls_certificate:{ns}/db");
        for (g, v, k, n) in objects {
            let owner = if k == "Secret" && n == "ca-key-pair" || k == "Issuer" { &ca_owner } else { &db_owner };
            assert!(cluster.marked(g, v, k, Some(&ns), n, owner), "{}: import must mark {k} {n} as {owner}", cli.name());
        }
        let (changes, plan) = ws.plan_has_changes();
        assert!(!plan.text().contains("must be replaced"), "{}: import must not plan a replacement:\n{}", cli.name(), plan.text());
        if changes {
            ws.apply();
        }
        assert!(!ws.plan_has_changes().0, "{}: plan after import must be empty", cli.name());
        for ty in ["meshtls_ca", "meshtls_certificate"] {
            let kept = state_attribute(&fingerprints, ty, "fingerprint_sha256");
            assert!(kept.is_string(), "{}: {ty} had a fingerprint before", cli.name());
            assert_eq!(ws.state_attribute(ty, "fingerprint_sha256"), kept, "{}: {ty} must keep its certificate", cli.name());
        }
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        for (g, v, k, n) in objects {
            assert!(cluster.object(g, v, k, Some(&ns), n).is_none(), "{}: destroy must delete the imported {k} {n}", cli.name());
        }
        ws.assert_no_key_material();
    });
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn the_documented_least_privilege_identity_is_enough() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-rbac-{}", cli.name()));
        let user = format!("meshtls-lp-{}", cli.name());
        let identity = Identity::documented(&ns, &user);
        assert!(!cluster.user_can(&user, &ns, "list", "secrets"), "the documented identity must not list Secrets");
        let provider = provider_block_with(&identity.kubeconfig().display().to_string());
        // The PEM, which state does not keep, read as the same identity.
        let pem = "data \"meshtls_certificate_info\" \"app\" {\n  secret = meshtls_certificate.app.id\n}\n\noutput \"app_pem\" {\n  value = data.meshtls_certificate_info.app.pem\n}\n";
        let config = format!(
            "{provider}\n{}\n{}\n{}\n{}\n{pem}",
            ca(&ns, "ca-issuer"),
            cert("db", &ns, RESTRICT),
            cert("app", &ns, ""),
            cert("ui", &ns, "")
        );
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        ws.apply();
        let app_pem = ws.ok(&["output", "-json", "app_pem"]).stdout;
        let leaf = cluster.secret_text(&ns, "app", "tls.crt").expect("tls.crt");
        let app_pem: String = serde_json::from_str(&app_pem).expect("app_pem is a string");
        assert!(leaf.starts_with(&app_pem) && app_pem.contains("BEGIN CERTIFICATE"), "{}: the data source reads the leaf", cli.name());
        assert!(!ws.plan_has_changes().0, "{}: the no-op plan must pass and be empty", cli.name());
        ws.ok(&["state", "rm", "meshtls_certificate.ui"]);
        ws.ok(&["import", "-input=false", "meshtls_certificate.ui", &format!("{ns}/ui")]);
        assert!(!ws.plan_has_changes().0, "{}: plan after import must be empty", cli.name());
        ws.assert_no_key_material();
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(cluster.managed_secret_names(&ns).is_empty(), "{}: destroy must delete every Secret", cli.name());
        assert!(cluster.object(CM.0, CM.1, "Issuer", Some(&ns), "ca-issuer").is_none());
    });
}

fn gateway_config(ns: &str) -> String {
    format!(
        r#"{provider}
resource "meshtls_gateway" "gw" {{
  namespace          = "{ns}"
  name               = "gw"
  certificate_secret = "gw-tls"
  mount_path         = "/etc/keys/gw"
  route {{
    prefix          = "/"
    virtual_service = "ui"
  }}
}}

resource "meshtls_nlb_service" "lb" {{
  namespace              = "{ns}"
  name                   = "gw-lb"
  gateway                = meshtls_gateway.gw.name
  tls_termination        = "gateway"
  wait_for_load_balancer = false
}}
"#,
        provider = provider_block()
    )
}

/// Applies and expects a refusal naming `object`, with the import hint.
fn assert_refused(ws: &Workspace, object: &str) {
    let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
    let text = run.text();
    assert!(
        run.code != 0 && text.contains(&format!("{object} already exists")) && text.contains("terraform import"),
        "{}: apply must refuse {object}:\n{text}",
        ws.cli.name()
    );
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn gateway_and_service_names_meshtls_did_not_create_are_refused() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-own-gw-{}", cli.name()));
        let mut foreign = Foreign { cluster: &cluster, objects: Vec::new() };
        let mesh = ("appmesh.k8s.aws", "v1beta2");
        foreign.create(
            (mesh.0, mesh.1, "VirtualGateway"),
            &ns,
            json!({ "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualGateway", "metadata": team_meta("gw", &ns),
                    "spec": { "podSelector": { "matchLabels": { "app": "team-gw" } }, "listeners": [{ "portMapping": { "port": 80, "protocol": "http" } }] } }),
        );
        foreign.create(
            ("apps", "v1", "Deployment"),
            &ns,
            json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": team_meta("gw", &ns),
                    "spec": { "replicas": 0, "selector": { "matchLabels": { "app": "team" } },
                              "template": { "metadata": { "labels": { "app": "team" } }, "spec": { "containers": [{ "name": "c", "image": "team:1" }] } } } }),
        );
        foreign.create(
            ("", "v1", "Service"),
            &ns,
            json!({ "apiVersion": "v1", "kind": "Service", "metadata": team_meta("gw-lb", &ns),
                    "spec": { "selector": { "app": "team" }, "ports": [{ "name": "http", "port": 80 }] } }),
        );
        cluster.apply_object(
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns, "labels": { "gateway": "team-gw" } } }),
        );

        let ws = Workspace::new(cli, &gateway_config(&ns));
        ws.ok(&["init", "-input=false"]);
        // Each object in turn: refused, nothing of the gateway written, the others untouched.
        assert_refused(&ws, &format!("VirtualGateway {ns}/gw"));
        // A destroy now deletes nothing that is not meshtls's.
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        foreign.assert_untouched(&ns, "after a destroy following the refusal");
        assert!(
            cluster.object(mesh.0, mesh.1, "GatewayRoute", Some(&ns), "gw-route-0").is_none(),
            "{}: a refused gateway writes nothing",
            cli.name()
        );
        foreign.assert_untouched(&ns, "after the refused VirtualGateway");
        foreign.objects.retain(|((_, _, kind), _, _)| *kind != "VirtualGateway");
        cluster.delete_object(mesh.0, mesh.1, "VirtualGateway", Some(&ns), "gw");

        foreign.create(
            (mesh.0, mesh.1, "GatewayRoute"),
            &ns,
            json!({ "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "GatewayRoute", "metadata": team_meta("gw-route-0", &ns),
                    "spec": { "httpRoute": { "match": { "prefix": "/team" }, "action": { "target": { "virtualService": { "virtualServiceRef": { "name": "team" } } } } } } }),
        );
        assert_refused(&ws, &format!("GatewayRoute {ns}/gw-route-0"));
        assert!(
            cluster.object(mesh.0, mesh.1, "VirtualGateway", Some(&ns), "gw").is_none(),
            "{}: a refused gateway writes nothing",
            cli.name()
        );
        foreign.assert_untouched(&ns, "after the refused GatewayRoute");
        foreign.objects.retain(|((_, _, kind), _, _)| *kind != "GatewayRoute");
        cluster.delete_object(mesh.0, mesh.1, "GatewayRoute", Some(&ns), "gw-route-0");

        assert_refused(&ws, &format!("Deployment {ns}/gw"));
        assert!(
            cluster.object(mesh.0, mesh.1, "VirtualGateway", Some(&ns), "gw").is_none(),
            "{}: a refused gateway writes nothing",
            cli.name()
        );
        foreign.assert_untouched(&ns, "after the refused Deployment");
        foreign.objects.retain(|((_, _, kind), _, _)| *kind != "Deployment");
        cluster.delete_object("apps", "v1", "Deployment", Some(&ns), "gw");

        assert_refused(&ws, &format!("Namespace label {ns} gateway=team-gw"));
        let label = |c: &Cluster| c.object("", "v1", "Namespace", None, &ns).expect("namespace")["metadata"]["labels"]["gateway"].clone();
        assert_eq!(label(&cluster), "team-gw", "{}: the hand-set label must stay", cli.name());
        cluster.label_namespace(&ns, "gateway", None);

        // The gateway is created; the Service of that name is someone else's.
        assert_refused(&ws, &format!("Service {ns}/gw-lb"));
        assert!(cluster.marked(mesh.0, mesh.1, "VirtualGateway", Some(&ns), "gw", &format!("meshtls_gateway:{ns}/gw")), "{}", cli.name());
        assert!(
            cluster.marked(mesh.0, mesh.1, "GatewayRoute", Some(&ns), "gw-route-0", &format!("meshtls_gateway:{ns}/gw")),
            "{}",
            cli.name()
        );
        assert!(cluster.marked("apps", "v1", "Deployment", Some(&ns), "gw", &format!("meshtls_gateway:{ns}/gw")), "{}", cli.name());
        assert_eq!(label(&cluster), "gw", "{}: meshtls labels the namespace for its gateway", cli.name());
        foreign.assert_untouched(&ns, "after the refused Service");

        // Imported, the Service is meshtls's: apply brings it in line, keeping the team's
        // annotation; destroy removes it with the gateway, and the namespace label.
        ws.ok(&["import", "-input=false", "meshtls_nlb_service.lb", &format!("{ns}/gw-lb")]);
        ws.apply();
        assert!(!ws.plan_has_changes().0, "{}: plan after import and apply must be empty", cli.name());
        let svc = cluster.object("", "v1", "Service", Some(&ns), "gw-lb").expect("Service");
        assert_eq!(svc["spec"]["type"], "LoadBalancer", "{}", cli.name());
        assert_eq!(svc["metadata"]["annotations"]["owner"], "platform-team", "{}: annotations meshtls does not write stay", cli.name());
        assert!(cluster.marked("", "v1", "Service", Some(&ns), "gw-lb", &format!("meshtls_nlb_service:{ns}/gw-lb")), "{}", cli.name());
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        for (g, v, k, n) in [
            (mesh.0, mesh.1, "VirtualGateway", "gw"),
            (mesh.0, mesh.1, "GatewayRoute", "gw-route-0"),
            ("apps", "v1", "Deployment", "gw"),
            ("", "v1", "Service", "gw-lb"),
        ] {
            assert!(cluster.object(g, v, k, Some(&ns), n).is_none(), "{}: destroy must delete {k} {n}", cli.name());
        }
        assert!(label(&cluster).is_null(), "{}: destroy must remove the namespace label meshtls set", cli.name());
    });
}

/// A virtual gateway of the gateway's name in the App Mesh API, made outside meshtls: apply
/// refuses it before writing anything on either side, and neither the refused apply nor
/// destroy changes it.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn an_app_mesh_gateway_meshtls_did_not_create_is_refused() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-own-am-{}", cli.name()));
        let mesh = format!("{ns}-mesh");
        let aws_name = format!("gw_{ns}");
        appmesh::create_gateway(&mesh, &aws_name);
        let before = appmesh::gateway_spec(&mesh, &aws_name);
        let provider = format!(
        "terraform {{\n  required_providers {{\n    meshtls = {{ source = \"{PROVIDER_ADDRESS}\" }}\n  }}\n}}\n\nprovider \"meshtls\" {{\n  mesh_name = \"{mesh}\"\n  kubernetes {{\n    config_path = \"{}\"\n  }}\n  aws {{\n    region = \"{}\"\n  }}\n}}\n",
        env("KUBECONFIG"),
        env("AWS_REGION")
    );
        let config = gateway_config(&ns).replacen(&provider_block(), &provider, 1);
        let ws = Workspace::new(cli, &config);
        ws.ok(&["init", "-input=false"]);
        let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
        let text = run.text();
        assert!(
            run.code != 0
                && text.contains(&format!("App Mesh virtual gateway {mesh}/{aws_name} already exists"))
                && text.contains("was not created by meshtls"),
            "apply must refuse the App Mesh gateway:\n{text}"
        );
        assert_eq!(appmesh::gateway_spec(&mesh, &aws_name), before, "the refused apply must not change it");
        // Refused before either side was written: nothing on the cluster either.
        for (g, v, k) in [("appmesh.k8s.aws", "v1beta2", "VirtualGateway"), ("apps", "v1", "Deployment")] {
            assert!(cluster.object(g, v, k, Some(&ns), "gw").is_none(), "{}: the refused apply wrote {k} gw", cli.name());
        }
        let namespace = cluster.object("", "v1", "Namespace", None, &ns).expect("namespace");
        assert!(namespace["metadata"]["labels"].get("gateway").is_none(), "{}: the refused apply labelled the namespace", cli.name());
        let listed = ws.run(&["state", "list"]).stdout;
        assert!(!listed.contains("meshtls_"), "{}: nothing was written, so nothing is in state: {listed}", cli.name());
        let run = ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert_eq!(appmesh::gateway_spec(&mesh, &aws_name), before, "destroy must leave it as it was:\n{}", run.text());
    });
}

/// A gateway made by hand, as the runbook does it (VirtualGateway, GatewayRoute, Envoy
/// Deployment, namespace label): import adopts every piece, apply changes nothing, and
/// destroy removes them all.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn a_gateway_made_by_hand_is_imported_whole() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-own-gwimp-{}", cli.name()));
        let mesh = ("appmesh.k8s.aws", "v1beta2");
        // What meshtls itself would write, made by hand: no marker anywhere.
        let made = Workspace::new(cli, &gateway_config(&ns));
        made.ok(&["init", "-input=false"]);
        made.apply();
        let objects = [
            (mesh.0, mesh.1, "VirtualGateway", "gw"),
            (mesh.0, mesh.1, "GatewayRoute", "gw-route-0"),
            ("apps", "v1", "Deployment", "gw"),
            ("", "v1", "Service", "gw-lb"),
        ];
        for (g, v, k, n) in objects {
            cluster.strip_marker(g, v, k, Some(&ns), n);
        }
        cluster.remove_annotation("", "v1", "Namespace", None, &ns, "meshtls.dev/gateway-label-owner");
        drop(made);

        let ws = Workspace::new(cli, &gateway_config(&ns));
        ws.ok(&["init", "-input=false"]);
        assert_refused(&ws, &format!("VirtualGateway {ns}/gw"));
        ws.ok(&["import", "-input=false", "meshtls_gateway.gw", &format!("{ns}/gw")]);
        ws.ok(&["import", "-input=false", "meshtls_nlb_service.lb", &format!("{ns}/gw-lb")]);
        for (g, v, k, n) in objects {
            let owner = if k == "Service" { format!("meshtls_nlb_service:{ns}/gw-lb") } else { format!("meshtls_gateway:{ns}/gw") };
            assert!(cluster.marked(g, v, k, Some(&ns), n, &owner), "{}: import must mark {k} {n}", cli.name());
        }
        let namespace = cluster.object("", "v1", "Namespace", None, &ns).expect("namespace");
        assert_eq!(
            namespace["metadata"]["annotations"]["meshtls.dev/gateway-label-owner"],
            format!("meshtls_gateway:{ns}/gw#{}", ws.state_attribute("meshtls_gateway", "owner_id").as_str().unwrap_or("no owner id")),
            "{}",
            cli.name()
        );
        let (changes, plan) = ws.plan_has_changes();
        assert!(!plan.text().contains("must be replaced"), "{}: import must not plan a replacement:\n{}", cli.name(), plan.text());
        if changes {
            ws.apply();
        }
        assert!(!ws.plan_has_changes().0, "{}: plan after import must be empty", cli.name());
        ws.ok(&["destroy", "-auto-approve", "-input=false"]);
        for (g, v, k, n) in objects {
            assert!(cluster.object(g, v, k, Some(&ns), n).is_none(), "{}: destroy must delete the imported {k} {n}", cli.name());
        }
        let namespace = cluster.object("", "v1", "Namespace", None, &ns).expect("namespace");
        assert!(namespace["metadata"]["labels"]["gateway"].is_null(), "{}: destroy removes the adopted label", cli.name());
    });
}

/// Two Terraform states, each with a resource of the same type and id (two teams, one
/// namespace): the second is refused before it writes anything, and its destroy deletes
/// nothing of the first's. Imported into the second, the object is taken over with a warning,
/// and the first state leaves it alone from then on.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn a_second_state_with_the_same_resource_is_refused() {
    for_each_cli(|cli| {
        let cluster = Cluster::connect();
        let ns = cluster.fresh_namespace(&format!("acc-own-states-{}", cli.name()));
        let config = format!(
            "{}\nresource \"meshtls_nlb_service\" \"edge\" {{\n  namespace       = \"{ns}\"\n  name            = \"edge\"\n  gateway         = \"gw\"\n  tls_termination = \"gateway\"\n}}\n",
            provider_block()
        );
        let first = Workspace::new(cli, &config);
        first.ok(&["init", "-input=false"]);
        first.apply();
        let made = cluster.object("", "v1", "Service", Some(&ns), "edge").expect("the first state's Service");
        let owner_id = first.state_attribute("meshtls_nlb_service", "owner_id");
        assert!(owner_id.as_str().is_some_and(|id| !id.is_empty()), "{}: an owner id in state: {owner_id}", cli.name());

        let second = Workspace::new(cli, &config);
        second.ok(&["init", "-input=false"]);
        let run = second.run(&["apply", "-auto-approve", "-input=false"]);
        let text = run.text();
        assert!(
            run.code != 0 && text.contains(&format!("Service {ns}/edge already exists")) && text.contains("another Terraform state"),
            "{}: the second state must be refused:\n{text}",
            cli.name()
        );
        let untouched = |when: &str| {
            let now = cluster.object("", "v1", "Service", Some(&ns), "edge").unwrap_or_else(|| panic!("{when}: the Service is gone"));
            assert_eq!(fingerprint(&now), fingerprint(&made), "{}: {when}: the first state's Service changed", cli.name());
        };
        untouched("after the refused apply");
        second.ok(&["destroy", "-auto-approve", "-input=false"]);
        untouched("after the second state's destroy");

        assert!(!first.plan_has_changes().0, "{}: the first state still plans clean", cli.name());

        // Moved between states: the second imports it, and is told whose it was.
        let run = second.ok(&["import", "-input=false", "meshtls_nlb_service.edge", &format!("{ns}/edge")]);
        let text = run.text();
        assert!(
            text.contains(&format!("Service {ns}/edge taken over")) && text.contains("another Terraform state"),
            "{}: an import that takes an object over says so:\n{text}",
            cli.name()
        );
        assert!(!second.plan_has_changes().0, "{}: the second state now manages it", cli.name());
        // The first state no longer finds it its own: it would create one (and be refused),
        // and its destroy leaves it in place.
        let (changes, plan) = first.plan_has_changes();
        assert!(changes && plan.text().contains("will be created"), "{}: {}", cli.name(), plan.text());
        first.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(cluster.object("", "v1", "Service", Some(&ns), "edge").is_some(), "{}: the first state's destroy leaves it", cli.name());
        second.ok(&["destroy", "-auto-approve", "-input=false"]);
        assert!(cluster.object("", "v1", "Service", Some(&ns), "edge").is_none(), "{}: its new owner destroys it", cli.name());
    });
}

/// A root rotation keeps its second root in `<secret_name>-rotation`. Someone else's Secret of
/// that name is refused when the rotation starts, before anything is written, and comes
/// through the refused apply and destroy unchanged; the CA keeps signing with its root.
#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn a_rotation_secret_meshtls_did_not_create_is_refused_and_survives() {
    let cluster = Cluster::connect();
    let ns = cluster.fresh_namespace("acc-own-rotation");
    let ca = |rotation: &str| {
        format!(
            "{}\nresource \"meshtls_ca\" \"mesh\" {{\n  namespace   = \"{ns}\"\n  secret_name = \"ca-key-pair\"\n  common_name = \"Ownership CA\"\n{rotation}}}\n",
            provider_block()
        )
    };
    let ws = Workspace::new(CliKind::Tofu, &ca(""));
    ws.ok(&["init", "-input=false"]);
    ws.apply();
    let root = cluster.secret_text(&ns, "ca-key-pair", "tls.crt").expect("the CA's certificate");
    let mut foreign = Foreign { cluster: &cluster, objects: Vec::new() };
    foreign.create(
        ("", "v1", "Secret"),
        &ns,
        json!({ "apiVersion": "v1", "kind": "Secret", "metadata": team_meta("ca-key-pair-rotation", &ns), "type": "Opaque", "data": { "token": "c2VjcmV0" } }),
    );

    ws.write_config(&ca("  rotation {\n    phase = \"trust_new\"\n  }\n"));
    let run = ws.run(&["apply", "-auto-approve", "-input=false"]);
    let text = run.text();
    assert!(
        run.code != 0 && text.contains(&format!("{ns}/ca-key-pair-rotation")) && text.contains("was not created by meshtls"),
        "the rotation must be refused:\n{text}"
    );
    foreign.assert_untouched(&ns, "after the refused rotation");
    assert_eq!(cluster.secret_text(&ns, "ca-key-pair", "tls.crt").as_deref(), Some(root.as_str()), "the CA keeps its root");

    ws.write_config(&ca(""));
    assert!(!ws.plan_has_changes().0, "without the rotation, nothing changed");
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    foreign.assert_untouched(&ns, "after destroy");
    assert!(cluster.secret(&ns, "ca-key-pair").is_none(), "meshtls's own Secret is deleted");
}
