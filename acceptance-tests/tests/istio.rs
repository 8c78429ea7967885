//! Mutual TLS on a real istiod: a `meshtls_ca` plugged in as istiod's CA signs the workload
//! certificate a sidecar would ask for over istiod's CA service, and `meshtls_istio_mtls`
//! writes PeerAuthentications and DestinationRules that the API server accepts under Istio's
//! own CRD schemas and istiod reads without complaint. Drift on each object is shown and
//! repaired, a hand-made policy is refused and then imported, and destroy removes only what
//! meshtls made. The mesh side runs as an identity bound only to the RBAC docs/security.md
//! documents; the plug-in CA, in istio-system, as the platform team.

use std::process::Command;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::identity::Identity;
use meshtls_acceptance_tests::istio::{self, csr_for, deployment, Istiod, PLUG_IN_CA_SECRET};
use meshtls_acceptance_tests::{provider_block, provider_block_with, CliKind, Workspace};
use serde_json::json;

const SECURITY: (&str, &str, &str) = ("security.istio.io", "v1", "PeerAuthentication");
const NETWORKING: (&str, &str, &str) = ("networking.istio.io", "v1", "DestinationRule");

fn plug_in_ca() -> String {
    format!(
        r#"{provider}
resource "meshtls_ca" "mesh" {{
  namespace     = "istio-system"
  secret_name   = "{PLUG_IN_CA_SECRET}"
  common_name   = "Mesh Root CA"
  key_algorithm = "ECDSA_P256"

  istio_plugin {{
    namespace = "istio-system"
  }}
}}
"#,
        provider = provider_block()
    )
}

fn mesh(provider: &str, namespace: &str, legacy: bool) -> String {
    let legacy = if legacy {
        format!(
            r#"
resource "meshtls_istio_mtls" "legacy" {{
  namespace = "{namespace}"
  name      = "legacy"
  selector  = {{ app = "legacy" }}
}}
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{provider}
resource "meshtls_istio_mtls" "namespace" {{
  namespace = "{namespace}"
}}

resource "meshtls_istio_mtls" "ui" {{
  namespace  = "{namespace}"
  deployment = "yelb-ui"

  destination_rule {{
    host = "yelb-ui.{namespace}.svc.cluster.local"
  }}
}}
{legacy}"#
    )
}

/// A PeerAuthentication made by hand: no meshtls marker.
fn hand_made_policy(cluster: &Cluster, namespace: &str, name: &str) {
    cluster.apply_object(json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "selector": { "matchLabels": { "app": name } }, "mtls": { "mode": "PERMISSIVE" } }
    }));
}

fn object(cluster: &Cluster, (g, v, k): (&str, &str, &str), namespace: &str, name: &str) -> Option<serde_json::Value> {
    cluster.object(g, v, k, Some(namespace), name)
}

/// The URIs of a PEM certificate's subjectAltName, as openssl prints them.
fn uri_sans(ws: &Workspace, pem: &str) -> String {
    std::fs::write(ws.path().join("san.crt"), pem).expect("write certificate");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in", "san.crt"])
        .current_dir(ws.path())
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scenario(cli: CliKind) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    let ns = cluster.fresh_namespace(&format!("istio-{}", cli.name()));
    // Injection is on for the namespace; yelb-db opts out, as a workload not yet migrated would.
    cluster.label_namespace(&ns, "istio-injection", Some("enabled"));
    deployment(&cluster, &ns, "yelb-ui", json!({ "app": "yelb-ui" }));
    deployment(&cluster, &ns, "yelb-db", json!({ "app": "yelb-db", "sidecar.istio.io/inject": "false" }));

    // The platform team plugs the CA in before istiod starts, as Istio's guide says.
    let ca_ws = Workspace::new(cli, &plug_in_ca());
    ca_ws.ok(&["init", "-input=false"]);
    ca_ws.apply();
    let ca_pem = ca_ws.state_attribute("meshtls_ca", "certificate_pem").as_str().expect("CA certificate in state").to_string();

    // A plug-in copy changed outside Terraform is written back in place: the same Secret,
    // never deleted, so istiod restarting meanwhile never finds `cacerts` missing.
    let uid = |cluster: &Cluster| cluster.secret("istio-system", "cacerts").and_then(|s| s.metadata.uid).expect("cacerts exists");
    let before = uid(&cluster);
    cluster.set_secret_key("istio-system", "cacerts", "ca.crt", "not the CA");
    let (changes, plan) = ca_ws.plan_has_changes();
    assert!(changes, "{}: a changed plug-in copy is drift:\n{}", cli.name(), plan.text());
    ca_ws.apply();
    assert_eq!(uid(&cluster), before, "{}: cacerts is rewritten in place, never deleted and created again", cli.name());
    let copy = cluster.secret_text("istio-system", "cacerts", "ca.crt").unwrap_or_default();
    assert_eq!(copy.trim(), ca_pem.trim(), "{}: the copy holds the CA again", cli.name());
    assert!(!ca_ws.plan_has_changes().0);

    // The service team, with only the documented Roles in its namespace.
    let identity = Identity::documented(&ns, &format!("istio-{}", cli.name()));
    let provider = provider_block_with(&identity.kubeconfig().display().to_string());
    let ws = Workspace::new(cli, &mesh(&provider, &ns, false));
    ws.ok(&["init", "-input=false"]);
    let (changes, plan) = ws.plan_has_changes();
    assert!(changes);
    let text = plan.text();
    assert!(
        text.contains("STRICT mutual TLS over workloads without a sidecar") && text.contains(&format!("Deployment {ns}/yelb-db")),
        "{}: the plan must name the workload STRICT would cut off:\n{text}",
        cli.name()
    );
    assert!(!text.contains(&format!("Deployment {ns}/yelb-ui")), "yelb-ui has a sidecar:\n{text}");
    ws.apply();
    assert!(!ws.plan_has_changes().0, "{}: a plan right after apply must be empty", cli.name());
    let pa = object(&cluster, SECURITY, &ns, "yelb-ui").expect("PeerAuthentication yelb-ui");
    assert_eq!(pa["spec"]["selector"]["matchLabels"], json!({ "app": "yelb-ui" }), "the Deployment's selector");
    // The marker names the resource and this state's owner id.
    let state: serde_json::Value = serde_json::from_str(&ws.state_json()).expect("state");
    let owner_id = state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["instances"].as_array().cloned().unwrap_or_default())
        .find(|i| i["attributes"]["id"] == format!("{ns}/yelb-ui"))
        .map(|i| i["attributes"]["owner_id"].clone())
        .unwrap_or_default();
    assert!(owner_id.as_str().is_some_and(|id| id.len() == 24), "an owner id in state: {owner_id}");
    assert_eq!(
        pa["metadata"]["annotations"]["meshtls.dev/owner"],
        format!("meshtls_istio_mtls:{ns}/yelb-ui#{}", owner_id.as_str().unwrap_or(""))
    );

    // istiod, with the meshtls CA as its plug-in CA.
    let istiod = Istiod::start(&turn);
    let log = istiod.log();
    assert!(
        log.contains("Using kubernetes.io/tls secret type for signing ca files") && log.contains("Use local CA certificate"),
        "istiod must sign with the plugged-in meshtls CA:\n{log}"
    );
    let root =
        meshtls_acceptance_tests::wait::until("istiod to publish its root in the namespace", std::time::Duration::from_secs(60), || {
            cluster.config_map_text(&ns, "istio-ca-root-cert", "root-cert.pem")
        });
    assert_eq!(root.trim(), ca_pem.trim(), "every namespace's istio-ca-root-cert is the meshtls CA");

    // A workload certificate, asked for the way a sidecar asks: a CSR to the CA service,
    // with a token the API server issued for the workload's service account.
    let spiffe = format!("spiffe://cluster.local/ns/{ns}/sa/yelb-ui");
    let token = cluster.service_account_token(&ns, "yelb-ui", "istio-ca");
    let chain = istiod.create_certificate(&token, &csr_for(&spiffe), &ca_pem).unwrap_or_else(|e| panic!("{}: {e}", cli.name()));
    let leaf = chain.first().expect("a certificate chain");
    ws.openssl_verify(&ca_pem, leaf).unwrap_or_else(|e| panic!("the workload certificate must chain to the meshtls CA: {e}"));
    assert!(uri_sans(&ws, leaf).contains(&spiffe), "the certificate names the workload");
    // Someone else's CA does not vouch for it: the check above can fail.
    let other = pki_other_ca();
    assert!(ws.openssl_verify(&other, leaf).is_err(), "openssl verify must fail against another CA");
    let forged = istiod.create_certificate("not-a-token", &csr_for(&spiffe), &ca_pem);
    assert!(forged.is_err(), "istiod must refuse a request without a valid token");

    // istiod holds each object as written, and says nothing against them.
    istiod.wait_for_config("PeerAuthentication", &ns, "default", |c| c["spec"]["mtls"]["mode"] == "STRICT");
    istiod.wait_for_config("PeerAuthentication", &ns, "yelb-ui", |c| c["spec"]["selector"]["matchLabels"]["app"] == "yelb-ui");
    istiod.wait_for_config("DestinationRule", &ns, "yelb-ui", |c| c["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL");

    // Drift on each kind: the mode loosened, the DestinationRule deleted.
    let (g, v, k) = SECURITY;
    cluster.merge_patch_object(g, v, k, Some(&ns), "yelb-ui", json!({ "spec": { "mtls": { "mode": "PERMISSIVE" } } }));
    let (g, v, k) = NETWORKING;
    cluster.delete_object(g, v, k, Some(&ns), "yelb-ui");
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes, "{}: drift must show in plan", cli.name());
    assert!(text.contains("listener TLS mode is PERMISSIVE (want STRICT)") && text.contains("client policy TLS is missing"), "{text}");
    ws.apply();
    assert!(!ws.plan_has_changes().0);
    assert_eq!(object(&cluster, SECURITY, &ns, "yelb-ui").expect("PeerAuthentication")["spec"]["mtls"]["mode"], "STRICT");
    istiod.wait_for_config("PeerAuthentication", &ns, "yelb-ui", |c| c["spec"]["mtls"]["mode"] == "STRICT");
    istiod.wait_for_config("DestinationRule", &ns, "yelb-ui", |c| c["spec"]["host"] == format!("yelb-ui.{ns}.svc.cluster.local"));

    // A port-level DISABLE patched into meshtls's own STRICT policy opens a plaintext port
    // while the mode still reads STRICT: drift, named in plan, and removed by apply.
    let (g, v, k) = SECURITY;
    cluster.merge_patch_object(g, v, k, Some(&ns), "yelb-ui", json!({ "spec": { "portLevelMtls": { "8080": { "mode": "DISABLE" } } } }));
    istiod.wait_for_config("PeerAuthentication", &ns, "yelb-ui", |c| c["spec"]["portLevelMtls"]["8080"]["mode"] == "DISABLE");
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes && text.contains("PeerAuthentication sets portLevelMtls"), "{}: a weakened policy is drift:\n{text}", cli.name());
    ws.apply();
    assert!(!ws.plan_has_changes().0);
    let pa = object(&cluster, SECURITY, &ns, "yelb-ui").expect("PeerAuthentication");
    assert!(pa["spec"].get("portLevelMtls").is_none() && pa["spec"]["mtls"]["mode"] == "STRICT", "{}: {pa}", cli.name());
    istiod.wait_for_config("PeerAuthentication", &ns, "yelb-ui", |c| c["spec"].get("portLevelMtls").is_none());

    // Another team's policy selecting yelb-db more specifically turns it PERMISSIVE under
    // meshtls's namespace-wide STRICT: the mesh enforces less than the plan says, so the plan
    // is not clean, and it names the workload and the policy. Gone again, the plan is clean.
    cluster.apply_object(json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": { "name": "team-db", "namespace": ns },
        "spec": { "selector": { "matchLabels": { "app": "yelb-db" } }, "mtls": { "mode": "PERMISSIVE" } }
    }));
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(
        changes
            && text.contains("Mutual TLS weakened by another policy")
            && text.contains(&format!("Deployment/yelb-db: PERMISSIVE (PeerAuthentication {ns}/team-db)")),
        "{}: a more specific, weaker policy is drift:\n{text}",
        cli.name()
    );
    cluster.delete_object(g, v, k, Some(&ns), "team-db");
    assert!(!ws.plan_has_changes().0, "{}: without it, STRICT holds again", cli.name());

    // A hand-made policy of the same name is refused, with how to import it; imported, it is
    // meshtls's and takes the configuration.
    hand_made_policy(&cluster, &ns, "legacy");
    hand_made_policy(&cluster, &ns, "keep");
    ws.write_config(&mesh(&provider, &ns, true));
    let refused = ws.run(&["plan", "-input=false"]);
    let text = refused.text();
    assert_ne!(refused.code, 0, "a foreign PeerAuthentication must be refused");
    assert!(
        text.contains(&format!("PeerAuthentication {ns}/legacy already exists"))
            && text.contains(&format!("terraform import <address> {ns}/legacy")),
        "{text}"
    );
    ws.ok(&["import", "-input=false", "meshtls_istio_mtls.legacy", &format!("{ns}/legacy")]);
    let (changes, plan) = ws.plan_has_changes();
    assert!(changes && plan.text().contains("PERMISSIVE"), "the imported policy records its mode:\n{}", plan.text());
    ws.apply();
    assert!(!ws.plan_has_changes().0);
    assert_eq!(object(&cluster, SECURITY, &ns, "legacy").expect("legacy")["spec"]["mtls"]["mode"], "STRICT");

    let complaints = istiod.complaints_about(&[&ns]);
    assert!(complaints.is_empty(), "istiod complained about the objects meshtls wrote:\n{}", complaints.join("\n"));
    ws.assert_no_key_material();
    ca_ws.assert_no_key_material();

    // Destroy removes what meshtls made or adopted, and nothing else.
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    for name in ["default", "yelb-ui", "legacy"] {
        assert!(object(&cluster, SECURITY, &ns, name).is_none(), "PeerAuthentication {name} must be gone");
    }
    assert!(object(&cluster, NETWORKING, &ns, "yelb-ui").is_none());
    assert!(object(&cluster, SECURITY, &ns, "keep").is_some(), "a hand-made policy survives destroy");
    meshtls_acceptance_tests::wait::until("istiod to drop the deleted policy", std::time::Duration::from_secs(60), || {
        (istiod.holds("PeerAuthentication", &ns, "yelb-ui") == Ok(false)).then_some(())
    });
    drop(istiod);
    ca_ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.secret("istio-system", "cacerts").is_none());
}

const GATEWAY_API: (&str, &str, &str) = ("gateway.networking.k8s.io", "v1", "Gateway");
const HTTP_ROUTE: (&str, &str, &str) = ("gateway.networking.k8s.io", "v1", "HTTPRoute");

/// The platform team's part: the plug-in CA, and the gateway's certificate from it.
fn platform(namespace: &str) -> String {
    format!(
        r#"{ca}
resource "meshtls_certificate" "gateway" {{
  ca          = meshtls_ca.mesh.id
  namespace   = "{namespace}"
  secret_name = "yelb-gw-tls"
  dns_names   = ["yelb.example.com"]
}}
"#,
        ca = plug_in_ca()
    )
}

/// The service team's part: the gateway and the NLB in front of it.
fn ingress(provider: &str, namespace: &str, hostnames: &str, legacy: bool) -> String {
    let legacy = if legacy {
        format!(
            r#"
resource "meshtls_istio_gateway" "legacy" {{
  namespace          = "{namespace}"
  name               = "legacy-gw"
  certificate_secret = "yelb-gw-tls"
}}
"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{provider}
resource "meshtls_istio_gateway" "yelb" {{
  namespace          = "{namespace}"
  name               = "yelb-gw"
  port               = 443
  hostnames          = {hostnames}
  certificate_secret = "yelb-gw-tls"

  route {{
    prefix  = "/"
    service = "yelb-ui"
    port    = 80
  }}
}}

resource "meshtls_nlb_service" "yelb" {{
  namespace       = "{namespace}"
  name            = "yelb-gw-nlb"
  gateway         = meshtls_istio_gateway.yelb.name
  port            = 443
  target_port     = meshtls_istio_gateway.yelb.port
  tls_termination = "gateway"
}}
{legacy}"#
    )
}

/// A Gateway made by hand: no meshtls marker.
fn hand_made_gateway(cluster: &Cluster, namespace: &str, name: &str) {
    cluster.apply_object(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": { "name": name, "namespace": namespace },
        "spec": { "gatewayClassName": "istio", "listeners": [{ "name": "http", "port": 8080, "protocol": "HTTP" }] }
    }));
}

/// The condition of `kind` in a list of Gateway API conditions, as (status, reason).
fn condition(conditions: &serde_json::Value, kind: &str) -> Option<(String, String)> {
    conditions
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| (c["status"].as_str().unwrap_or_default().to_string(), c["reason"].as_str().unwrap_or_default().to_string()))
}

fn is_true(conditions: &serde_json::Value, kind: &str) -> bool {
    condition(conditions, kind).is_some_and(|(status, _)| status == "True")
}

fn gateway_scenario(cli: CliKind) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    let ns = cluster.fresh_namespace(&format!("istio-gw-{}", cli.name()));
    cluster.apply_object(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "yelb-ui", "namespace": ns },
        "spec": { "selector": { "app": "yelb-ui" }, "ports": [{ "port": 80, "targetPort": 80 }] }
    }));
    let platform_ws = Workspace::new(cli, &platform(&ns));
    platform_ws.ok(&["init", "-input=false"]);
    platform_ws.apply();
    let ca_pem = platform_ws.state_attribute("meshtls_ca", "certificate_pem").as_str().expect("CA").to_string();
    let istiod = Istiod::start(&turn);

    let identity = Identity::documented(&ns, &format!("istio-gw-{}", cli.name()));
    let provider = provider_block_with(&identity.kubeconfig().display().to_string());
    // A host the certificate does not name is refused at plan.
    let ws = Workspace::new(cli, &ingress(&provider, &ns, r#"["yelb.example.com", "admin.example.com"]"#, false));
    ws.ok(&["init", "-input=false"]);
    let refused = ws.run(&["plan", "-input=false"]);
    let text = refused.text();
    assert!(
        refused.code != 0 && text.contains("The certificate does not cover the gateway's hosts") && text.contains("admin.example.com"),
        "{}: an uncovered host must fail the plan:\n{text}",
        cli.name()
    );
    ws.write_config(&ingress(&provider, &ns, r#"["yelb.example.com"]"#, false));
    ws.apply();

    // istiod takes the Gateway: accepted, the certificate Secret and the backend resolved, and
    // its own Deployment and Service made for it, with the pods the NLB selects.
    let gateway = meshtls_acceptance_tests::wait::until("istiod to accept the Gateway", std::time::Duration::from_secs(60), || {
        let g = object(&cluster, GATEWAY_API, &ns, "yelb-gw")?;
        let listener = g["status"]["listeners"].as_array()?.first()?.clone();
        (is_true(&g["status"]["conditions"], "Accepted") && is_true(&listener["conditions"], "ResolvedRefs")).then_some(g)
    });
    assert_eq!(gateway["status"]["listeners"][0]["attachedRoutes"], 1, "the HTTPRoute is attached");
    meshtls_acceptance_tests::wait::until("istiod to accept the HTTPRoute", std::time::Duration::from_secs(60), || {
        let r = object(&cluster, HTTP_ROUTE, &ns, "yelb-gw")?;
        let parent = r["status"]["parents"].as_array()?.first()?.clone();
        (is_true(&parent["conditions"], "Accepted") && is_true(&parent["conditions"], "ResolvedRefs")).then_some(())
    });
    let deployment =
        meshtls_acceptance_tests::wait::until("istiod to create the gateway Deployment", std::time::Duration::from_secs(60), || {
            cluster.object("apps", "v1", "Deployment", Some(&ns), "yelb-gw-istio")
        });
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    // istiod writes the Deployment and the Service one after the other.
    let istio_service =
        meshtls_acceptance_tests::wait::until("istiod to create the gateway Service", std::time::Duration::from_secs(60), || {
            cluster.object("", "v1", "Service", Some(&ns), "yelb-gw-istio")
        });
    assert_eq!(istio_service["spec"]["type"], "ClusterIP", "the NLB Service is the only load balancer");
    let nlb = cluster.object("", "v1", "Service", Some(&ns), "yelb-gw-nlb").expect("the NLB Service");
    assert_eq!(nlb["spec"]["type"], "LoadBalancer");
    for (key, value) in nlb["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&pod_labels[key], value, "the NLB selects the gateway's pods ({key})");
    }
    assert_eq!(nlb["spec"]["ports"][0]["targetPort"], 443);

    // Istio's analyzer finds nothing wrong with what meshtls wrote and istiod made from it:
    // no annotation misplaced on istiod's objects (IST0107), no port conflict between the
    // two Services over the gateway's pods (IST0137).
    if let Err(problems) = istio::analyzed_clean(&ns, std::time::Duration::from_secs(60)) {
        panic!("{}: istioctl analyze:\n{}", cli.name(), problems.join("\n"));
    }
    // Its positive control: a third Service over the same pods, the same pod port through
    // another Service port, is the conflict the analyzer reports.
    cluster.apply_object(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "conflicting", "namespace": ns },
        "spec": { "selector": nlb["spec"]["selector"], "ports": [{ "name": "https", "port": 8443, "targetPort": 443 }] }
    }));
    let problems = istio::problems(&istio::analyze(&ns));
    assert!(problems.iter().any(|p| p.contains("IST0137")), "{}: the analyzer must see a port conflict: {problems:?}", cli.name());
    cluster.delete_object("", "v1", "Service", Some(&ns), "conflicting");
    // The certificate served chains to the CA istiod signs the mesh with.
    let served = cluster.secret_text(&ns, "yelb-gw-tls", "tls.crt").expect("gateway certificate");
    platform_ws.openssl_verify(&ca_pem, &served).unwrap_or_else(|e| panic!("the gateway certificate must chain to the mesh CA: {e}"));

    // A refresh records what istiod reported, and plans nothing.
    ws.ok(&["refresh", "-input=false"]);
    let conditions = ws.state_attribute("meshtls_istio_gateway", "conditions");
    assert!(conditions.as_str().is_some_and(|c| c.contains("gateway Accepted=True") && c.contains("ResolvedRefs=True")), "{conditions}");
    assert!(!ws.plan_has_changes().0, "{}: nothing to change after apply", cli.name());

    // Drift on each object: the listener's port, the route's backend.
    let (g, v, k) = GATEWAY_API;
    let mut changed = object(&cluster, GATEWAY_API, &ns, "yelb-gw").expect("Gateway");
    changed["spec"]["listeners"][0]["port"] = json!(9443);
    cluster.merge_patch_object(g, v, k, Some(&ns), "yelb-gw", json!({ "spec": { "listeners": changed["spec"]["listeners"] } }));
    let (g, v, k) = HTTP_ROUTE;
    cluster.merge_patch_object(
        g,
        v,
        k,
        Some(&ns),
        "yelb-gw",
        json!({ "spec": { "rules": [{ "backendRefs": [{ "name": "elsewhere", "port": 80 }] }] } }),
    );
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes && text.contains("HTTPS:9443") && text.contains("elsewhere:80"), "{}: drift must show:\n{text}", cli.name());
    ws.apply();
    assert!(!ws.plan_has_changes().0);
    assert_eq!(object(&cluster, GATEWAY_API, &ns, "yelb-gw").expect("Gateway")["spec"]["listeners"][0]["port"], 443);
    let route = object(&cluster, HTTP_ROUTE, &ns, "yelb-gw").expect("HTTPRoute");
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["name"], "yelb-ui");

    // A field the configuration does not set is drift too, and apply removes it.
    let (g, v, k) = GATEWAY_API;
    cluster.merge_patch_object(g, v, k, Some(&ns), "yelb-gw", json!({ "spec": { "infrastructure": { "labels": { "team": "edge" } } } }));
    let (changes, plan) = ws.plan_has_changes();
    assert!(changes && plan.text().contains("infrastructure.labels"), "{}: {}", cli.name(), plan.text());
    ws.apply();
    assert!(!ws.plan_has_changes().0);
    let gateway = object(&cluster, GATEWAY_API, &ns, "yelb-gw").expect("Gateway");
    assert!(gateway["spec"]["infrastructure"]["labels"].get("team").is_none(), "{}: {gateway}", cli.name());

    // A hand-made Gateway of the same name is refused with how to import it, then imported.
    hand_made_gateway(&cluster, &ns, "legacy-gw");
    hand_made_gateway(&cluster, &ns, "keep-gw");
    ws.write_config(&ingress(&provider, &ns, r#"["yelb.example.com"]"#, true));
    let refused = ws.run(&["plan", "-input=false"]);
    let text = refused.text();
    assert!(
        refused.code != 0
            && text.contains(&format!("Gateway {ns}/legacy-gw already exists"))
            && text.contains(&format!("terraform import <address> {ns}/legacy-gw")),
        "{text}"
    );
    ws.ok(&["import", "-input=false", "meshtls_istio_gateway.legacy", &format!("{ns}/legacy-gw")]);
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(
        changes && text.contains("port = 8080 -> 8443") && text.contains("+ certificate_secret"),
        "the imported Gateway records what it was, and plans into shape:\n{text}"
    );
    ws.apply();
    assert!(!ws.plan_has_changes().0);
    let legacy = object(&cluster, GATEWAY_API, &ns, "legacy-gw").expect("legacy Gateway");
    assert_eq!(legacy["spec"]["listeners"][0]["protocol"], "HTTPS");

    let complaints = istiod.complaints_about(&[&ns]);
    assert!(complaints.is_empty(), "istiod complained about the gateway objects:\n{}", complaints.join("\n"));
    ws.assert_no_key_material();
    platform_ws.assert_no_key_material();

    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    for name in ["yelb-gw", "legacy-gw"] {
        assert!(object(&cluster, GATEWAY_API, &ns, name).is_none(), "Gateway {name} must be gone");
    }
    assert!(object(&cluster, HTTP_ROUTE, &ns, "yelb-gw").is_none());
    assert!(cluster.object("", "v1", "Service", Some(&ns), "yelb-gw-nlb").is_none());
    assert!(object(&cluster, GATEWAY_API, &ns, "keep-gw").is_some(), "a hand-made Gateway survives destroy");
    drop(istiod);
    platform_ws.ok(&["destroy", "-auto-approve", "-input=false"]);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_gateway_with_opentofu() {
    gateway_scenario(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_gateway_with_terraform() {
    gateway_scenario(CliKind::TerraformCurrent);
}

/// Another CA's certificate, for a check that must fail.
fn pki_other_ca() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("CA").pem()
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_with_opentofu() {
    scenario(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_with_terraform() {
    scenario(CliKind::TerraformCurrent);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_with_terraform_1_0() {
    scenario(CliKind::Terraform);
}
