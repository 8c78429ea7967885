//! A revision-based Istio install: a real istiod running as revision `canary`, as the
//! `istiod` chart installs a canary beside (or instead of) the default revision.
//! - `istio_revision` on the gateway labels its Gateway, and only then does the canary istiod
//!   deploy it; a Gateway without the label, in the same apply, gets nothing from it.
//! - `istio_revision` on a policy names, at plan, the workloads another revision's sidecar
//!   serves, which plan without a revision counts as enrolled.
//! - A revision that is not installed is refused at plan, at the attribute.
//!
//! The service team runs as an identity bound only to the RBAC docs/security.md documents.

use std::time::Duration;

use meshtls_acceptance_tests::cluster::Cluster;
use meshtls_acceptance_tests::identity::Identity;
use meshtls_acceptance_tests::istio::{self, deployment, Install, Istiod};
use meshtls_acceptance_tests::{provider_block_with, wait, CliKind, Workspace};
use serde_json::json;

fn config(provider: &str, ns: &str, revision: Option<&str>) -> String {
    let revision = revision.map(|r| format!("istio_revision = \"{r}\"")).unwrap_or_default();
    format!(
        r#"{provider}
resource "meshtls_istio_mtls" "namespace" {{
  namespace = "{ns}"
  {revision}
}}

resource "meshtls_istio_gateway" "canary" {{
  namespace          = "{ns}"
  name               = "canary-gw"
  certificate_secret = "canary-gw-tls"
  {revision}
}}

resource "meshtls_istio_gateway" "plain" {{
  namespace          = "{ns}"
  name               = "plain-gw"
  certificate_secret = "plain-gw-tls"
}}
"#
    )
}

fn scenario(cli: CliKind) {
    let cluster = Cluster::connect();
    let turn = istio::exclusive();
    let ns = cluster.fresh_namespace(&format!("istio-rev-{}", cli.name()));
    // Mid-migration: yelb-ui still on the stable revision, yelb-db moved to the canary.
    deployment(&cluster, &ns, "yelb-ui", json!({ "app": "yelb-ui", "istio.io/rev": "stable" }));
    deployment(&cluster, &ns, "yelb-db", json!({ "app": "yelb-db", "istio.io/rev": "canary" }));
    let istiod = Istiod::install(&turn, &Install { revision: "canary".into(), ..Default::default() });
    let configmap = cluster.object("", "v1", "ConfigMap", Some("istio-system"), "istio-canary").expect("the revision's ConfigMap");
    assert_eq!(configmap["metadata"]["labels"]["istio.io/rev"], "canary");

    let identity = Identity::documented(&ns, &format!("istio-rev-{}", cli.name()));
    let provider = provider_block_with(&identity.kubeconfig().display().to_string());
    let unenrolled = format!("Deployment {ns}/yelb-ui");

    // Without a revision, any sidecar counts: nothing to warn about (the control).
    let ws = Workspace::new(cli, &config(&provider, &ns, None));
    ws.ok(&["init", "-input=false"]);
    let (_, plan) = ws.plan_has_changes();
    assert!(!plan.text().contains(&unenrolled), "{}: any revision's sidecar serves yelb-ui:\n{}", cli.name(), plan.text());

    // A revision that is not installed: refused at plan, naming the attribute and the fix.
    ws.write_config(&config(&provider, &ns, Some("nope")));
    let run = ws.run(&["plan", "-input=false", "-no-color"]);
    let text = run.text();
    assert!(run.code != 0, "{}: an unknown revision must fail the plan:\n{text}", cli.name());
    assert!(
        text.contains("Unknown Istio revision") && text.contains("istio_revision") && text.contains("istio-system/istio-nope"),
        "{}: {text}",
        cli.name()
    );

    // The canary: yelb-ui, on the stable revision's sidecar, is named; yelb-db is not.
    ws.write_config(&config(&provider, &ns, Some("canary")));
    let (changes, plan) = ws.plan_has_changes();
    let text = plan.text();
    assert!(changes && text.contains(&unenrolled) && text.contains("sidecar of Istio revision \"canary\""), "{}: {text}", cli.name());
    assert!(!text.contains(&format!("Deployment {ns}/yelb-db")), "yelb-db has the canary's sidecar:\n{text}");
    ws.apply();
    assert!(!ws.plan_has_changes().0, "{}: a plan right after apply must be empty", cli.name());

    // Only the labelled Gateway is the canary istiod's: it deploys that one.
    let gateway = cluster.object("gateway.networking.k8s.io", "v1", "Gateway", Some(&ns), "canary-gw").expect("Gateway");
    assert_eq!(gateway["metadata"]["labels"]["istio.io/rev"], "canary");
    let deployed = wait::until("the canary istiod to deploy its gateway", Duration::from_secs(60), || {
        cluster.object("apps", "v1", "Deployment", Some(&ns), "canary-gw-istio")
    });
    assert_eq!(deployed["spec"]["template"]["metadata"]["annotations"]["istio.io/rev"], "canary", "the canary made it");
    assert!(
        cluster.object("apps", "v1", "Deployment", Some(&ns), "plain-gw-istio").is_none(),
        "{}: a Gateway without the label is the default revision's, which does not run",
        cli.name()
    );

    // Another revision's label on the Gateway is drift, and apply puts the canary's back.
    cluster.merge_patch_object(
        "gateway.networking.k8s.io",
        "v1",
        "Gateway",
        Some(&ns),
        "canary-gw",
        json!({ "metadata": { "labels": { "istio.io/rev": "stable" } } }),
    );
    let (changes, plan) = ws.plan_has_changes();
    assert!(changes && plan.text().contains("another istiod revision serves it"), "{}: {}", cli.name(), plan.text());
    ws.apply();
    let gateway = cluster.object("gateway.networking.k8s.io", "v1", "Gateway", Some(&ns), "canary-gw").expect("Gateway");
    assert_eq!(gateway["metadata"]["labels"]["istio.io/rev"], "canary");

    // Dropping the revision removes the label meshtls wrote.
    ws.write_config(&config(&provider, &ns, None));
    ws.apply();
    let gateway = cluster.object("gateway.networking.k8s.io", "v1", "Gateway", Some(&ns), "canary-gw").expect("Gateway");
    assert!(gateway["metadata"]["labels"]["istio.io/rev"].is_null(), "{gateway}");

    drop(istiod);
    ws.ok(&["destroy", "-auto-approve", "-input=false"]);
    assert!(cluster.object("gateway.networking.k8s.io", "v1", "Gateway", Some(&ns), "canary-gw").is_none());
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_revisions_with_opentofu() {
    scenario(CliKind::Tofu);
}

#[test]
#[ignore = "needs the acceptance environment: make testacc"]
fn istio_revisions_with_terraform() {
    scenario(CliKind::TerraformCurrent);
}
