//! The Istio mutual-TLS resource's pure decisions: validation, planning, the enrollment
//! warning, and import.

use super::*;
use crate::backends::appmesh::APP_MESH;

/// Keys and values of Kubernetes labels: what the API server accepts.
fn label_problem(key: &str, value: &str) -> Option<String> {
    let (prefix, name) = key.rsplit_once('/').map_or((None, key), |(p, n)| (Some(p), n));
    let name_ok = |s: &str, empty_ok: bool| {
        (empty_ok && s.is_empty())
            || (s.len() <= 63
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
    };
    if prefix.is_some_and(|p| !is_dns1123_subdomain(p)) {
        return Some(format!("the prefix of label key {key:?} must be a DNS subdomain, e.g. app.kubernetes.io/name"));
    }
    if !name_ok(name, false) {
        return Some(format!("label key {key:?}: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"));
    }
    if !name_ok(value, true) {
        return Some(format!(
            "label value {value:?} of {key:?}: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    None
}

/// Checks on the configuration alone.
pub(super) fn validate(config: &IstioMtls) -> Diagnostics {
    let mut d = Diagnostics::new();
    for attr in ["name", "deployment"] {
        let value = if attr == "name" { &config.name } else { &config.deployment };
        if let Some(v) = value.as_deref().filter(|v| !is_dns1123_label(v)) {
            d.error_at(
                at(attr),
                "Invalid name",
                format!("{v:?} is not a valid {attr}: lowercase letters, digits and '-', at most 63 characters."),
            );
        }
    }
    istio_revision::validate(config.istio_revision.as_deref(), &mut d);
    if let Some(m) = config.mode.as_deref() {
        match istio::ISTIO.parse(m) {
            Err(e) => d.error_at(at("mode"), "Invalid mTLS mode", e.to_string()),
            // Istio's word for inheriting: a policy meshtls writes says what it enforces.
            Ok(TlsMode::Inherited) => d.error_at(
                at("mode"),
                "Invalid mTLS mode",
                format!("{m:?} inherits the mode of the namespace or mesh; set what this policy enforces: STRICT, PERMISSIVE or DISABLE."),
            ),
            Ok(_) => {}
        }
    }
    match config.selector.known() {
        Some(s) if s.is_empty() => d.error_at(
            at("selector"),
            "Empty selector",
            "An empty selector would select every workload; omit selector (and deployment) for a namespace-wide policy.",
        ),
        Some(s) if s.len() > MAX_SELECTOR_LABELS => {
            d.error_at(at("selector"), "Too many labels", format!("A selector of {} labels; at most {MAX_SELECTOR_LABELS}.", s.len()))
        }
        Some(s) => {
            for (k, v) in s {
                if let Some(problem) = label_problem(k, v) {
                    d.error_at(at("selector"), "Invalid label", problem);
                }
            }
        }
        None => {}
    }
    if !config.selector.is_null() && !config.deployment.is_null() {
        d.error_at(
            at("selector"),
            "Choose deployment or selector",
            "The policy selects either a Deployment's pods (deployment) or pods by label (selector), not both.",
        );
    }
    if config.selector.known().is_some() && config.name.is_null() {
        d.error_at(at("name"), "Name needed", "A policy that selects by label needs a name; set name, e.g. to the workload's.");
    }
    if let Some(dr) = &config.destination_rule {
        if let Some(problem) = dr.host.as_deref().and_then(host_problem) {
            d.error_at(AttributePath::attrs(&["destination_rule", "host"]), "Invalid host", problem);
        }
        if let Some(sans) = dr.subject_alternative_names.known() {
            if sans.len() > MAX_SANS {
                d.error_at(
                    AttributePath::attrs(&["destination_rule", "subject_alternative_names"]),
                    "Too many names",
                    format!("{} names; at most {MAX_SANS}.", sans.len()),
                );
            }
        }
    }
    d
}

/// A DestinationRule host: a service's DNS name (a leading `*.` allowed), or a short name.
fn host_problem(host: &str) -> Option<String> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    (!is_dns1123_subdomain(name)).then(|| {
        format!("{host:?} is not a service host: use its DNS name, e.g. yelb-ui.yelb.svc.cluster.local (or *.yelb.svc.cluster.local).")
    })
}

/// The name the objects take: the configured one, else the Deployment's, else `default` (the
/// name Istio's documentation gives a namespace-wide policy).
pub(super) fn object_name(config: &IstioMtls) -> Attr<String> {
    match (&config.name, &config.deployment) {
        (Attr::Null, Attr::Null) => Attr::Known(NAMESPACE_WIDE_NAME.into()),
        (Attr::Null, deployment) => deployment.clone(),
        (name, _) => name.clone(),
    }
}

/// The plan's computed attributes. `deployment_selector` is the Deployment's pod selector as
/// read now: `None` when it could not be read (the plan then keeps the prior value, or
/// leaves it unknown).
pub(super) fn plan(
    prior: Option<&IstioMtls>,
    config: &IstioMtls,
    planned: &mut IstioMtls,
    deployment_selector: Option<BTreeMap<String, String>>,
) -> Diagnostics {
    let mut d = Diagnostics::new();
    planned.name = object_name(config);
    planned.id = match (config.namespace.known(), planned.name.known()) {
        (Some(ns), Some(name)) => Attr::Known(format!("{ns}/{name}")),
        _ => Attr::Unknown,
    };
    planned.selector = match (&config.selector, &config.deployment) {
        (Attr::Null, Attr::Null) => Attr::Null,
        (Attr::Null, _) => match deployment_selector {
            Some(s) => Attr::Known(s),
            None => prior.filter(|p| p.deployment == config.deployment).map_or(Attr::Unknown, |p| p.selector.clone()),
        },
        (s, _) => s.clone(),
    };
    planned.status = SideStatus::InSync.into();
    d.push_all(off_to_strict_warning(prior.and_then(IstioMtls::tls_mode), config.tls_mode(), &istio::ISTIO, at("mode")));
    d
}

/// The warning for a STRICT policy over workloads no proxy serves: they can no longer call
/// meshed services that require mutual TLS, and nothing enforces the policy for them.
pub(super) fn unenrolled_warning(workloads: &[String], namespace: &str, revision: Option<&str>) -> Option<Diagnostic> {
    if workloads.is_empty() {
        return None;
    }
    let (sidecar, enroll) = match revision {
        None => (
            "Istio sidecar".to_string(),
            "label the namespace `istio-injection=enabled` (or `istio.io/dataplane-mode=ambient`), or the pod template `sidecar.istio.io/inject: \"true\"`".to_string(),
        ),
        Some(r) => (
            format!("sidecar of Istio revision {r:?}"),
            format!("label the namespace `istio.io/rev={r}` (or `istio.io/dataplane-mode=ambient`), or the pod template `istio.io/rev: {r}`"),
        ),
    };
    Some(
        Diagnostic::warning(
            "STRICT mutual TLS over workloads without a sidecar",
            format!(
                "No {sidecar}, ambient enrollment or gateway proxy would serve {}: they have no proxy to send or enforce mutual TLS, so STRICT services refuse their plaintext calls. Enroll them first: {enroll}, and roll the pods; or plan PERMISSIVE until they are enrolled. Namespace: {namespace}.",
                workloads.join(", ")
            ),
        )
        .at(at("mode")),
    )
}

/// A DestinationRule over workloads in ambient mode does nothing unless a waypoint serves
/// them: ztunnel carries mutual TLS (HBONE) on its own and reads no DestinationRule. Said at
/// plan, naming the workloads, when the namespace names no waypoint (`istio.io/use-waypoint`).
pub(super) fn ambient_destination_rule_warning(ambient: &[String], namespace_labels: &BTreeMap<String, String>) -> Option<Diagnostic> {
    if ambient.is_empty() || namespace_labels.contains_key(istio::USE_WAYPOINT_LABEL) {
        return None;
    }
    Some(
        Diagnostic::warning(
            "A DestinationRule does nothing in ambient mode without a waypoint",
            format!(
                "ztunnel serves {}: it carries mutual TLS between workloads itself and reads no DestinationRule, so ISTIO_MUTUAL here changes nothing, and the PeerAuthentication alone decides what is accepted. Remove the destination_rule block, or deploy a waypoint (`istioctl waypoint apply -n <namespace> --enroll-namespace`, which labels the namespace `{}`) if the service needs layer-7 policy.",
                ambient.join(", "),
                istio::USE_WAYPOINT_LABEL
            ),
        )
        .at(at("destination_rule")),
    )
}

/// `namespace/name` as an import ID.
pub(super) fn import_skeleton(namespace: &str, name: &str) -> IstioMtls {
    IstioMtls { id: Attr::Known(format!("{namespace}/{name}")), namespace: namespace.into(), name: name.into(), ..Default::default() }
}

/// The state that the objects found stand for, after import.
pub(super) fn imported(mut state: IstioMtls, pa: Option<&PeerAuthentication>, dr: Option<&DestinationRule>) -> IstioMtls {
    let tls = istio::tls_of(pa, dr);
    state.mode = tls.listener.map(|l| istio::ISTIO.spell(l.mode).to_string()).into();
    state.selector = pa.and_then(|pa| pa.spec.selector.as_ref()).map(|s| s.match_labels.clone()).into();
    state.destination_rule = dr.map(|dr| DestinationRuleConfig {
        host: Attr::Known(dr.spec.host.clone()),
        subject_alternative_names: tls.client_policy.map(|c| c.subject_alternative_names).filter(|s| !s.is_empty()).into(),
    });
    state.status = SideStatus::InSync.into();
    state
}

/// Why a moved state's objects are not there yet: the next plan writes them.
pub(super) const MOVED: &str = "moved: not yet written to Istio";

/// The state a `moved` block from `meshtls_virtual_node_tls` gives: the same workload (the
/// node's namespace and Deployment) and its listener's mode, in Istio's spelling. Nothing is
/// written to Istio yet, so the plan after the move creates the policy.
pub(super) fn moved_from_virtual_node(source: &serde_json::Value) -> Result<IstioMtls, Diagnostics> {
    let cluster = &source["kubernetes"];
    let Some(namespace) = cluster["namespace"].as_str() else {
        return Err(Diagnostic::error(
            "Cannot move a virtual node without its cluster side",
            "This meshtls_virtual_node_tls has no kubernetes block, so nothing says which namespace and workload it was. Remove the moved block and create the Istio policy, or give the virtual node a kubernetes block first.",
        )
        .into());
    };
    let deployment = cluster["deployment"].as_str();
    let name = deployment.or(cluster["virtual_node"].as_str()).unwrap_or(NAMESPACE_WIDE_NAME);
    let mode = source["listener"]["mode"].as_str().and_then(|m| APP_MESH.parse(m).ok()).map(|m| istio::ISTIO.spell(m));
    Ok(IstioMtls {
        id: Attr::Known(format!("{namespace}/{name}")),
        namespace: namespace.into(),
        name: name.into(),
        deployment: deployment.map(str::to_string).into(),
        selector: Attr::Null,
        mode: mode.map(str::to_string).into(),
        enforce: Attr::Known(false),
        istio_revision: Attr::Null,
        status: Attr::Known(MOVED.into()),
        // The policy objects are written by the apply after the move, under this state's id.
        owner_id: Owner::fresh(TYPE_NAME, &format!("{namespace}/{name}")).map_or(Attr::Null, |o| o.attr()),
        // Nothing in Istio yet: the plan after the move works it out.
        effective_modes: Attr::Null,
        destination_rule: None,
    })
}

// ---- the modes Istio enforces ----

/// The policy `m` plans, as Istio will weigh it: `created` is the existing object's creation
/// time, or None for one still to be created (the newest then).
pub(super) fn planned_policy(m: &IstioMtls, created: Option<String>) -> Option<istio::Policy> {
    Some(istio::Policy {
        namespace: m.namespace.known()?.clone(),
        name: m.name.known()?.clone(),
        selector: match &m.selector {
            Attr::Known(s) if !s.is_empty() => Some(s.clone()),
            Attr::Unknown => return None,
            _ => None,
        },
        mode: m.tls_mode(),
        ports: BTreeMap::new(),
        created: created.unwrap_or_else(|| "9999".into()),
        managed: true,
    })
}

/// The mode Istio enforces on each workload `own` covers, with `own` in place of whatever the
/// view holds under its name.
pub(super) fn covered_modes(view: &istio::MeshView, own: &istio::Policy) -> BTreeMap<String, istio::Effective> {
    view.workloads
        .iter()
        .filter(|w| istio::selects(own.selector.as_ref(), &w.labels))
        .map(|w| (format!("{}/{}", w.kind, w.name), istio::effective(view, Some(own), &w.labels)))
        .collect()
}

/// The modes as state records them.
pub(super) fn described(modes: &BTreeMap<String, istio::Effective>) -> BTreeMap<String, String> {
    modes.iter().map(|(w, e)| (w.clone(), e.describe())).collect()
}

/// Plans `effective_modes`. When Istio will enforce at least `mode` on every covered workload
/// and nothing else changes, it stays as refresh read it (a no-op plan stays clean). When this
/// resource changes, it is unknown: other policies written in the same apply may change what
/// decides. When a workload would get less than `mode`, it is unknown too, with a warning (an
/// error with `enforce`) naming the workloads and the weaker policies: a weakened mode is
/// drift, and every plan shows it until that policy is gone.
pub(super) fn plan_effective(
    planned: &mut IstioMtls,
    prior: Option<&IstioMtls>,
    predicted: &BTreeMap<String, istio::Effective>,
) -> Option<Diagnostic> {
    let want = planned.tls_mode();
    let weaker_than_wanted = |m: &TlsMode| m.strength() < want.and_then(TlsMode::strength);
    // A weaker policy of meshtls's own is declared in a configuration and shown by its plan;
    // only one nobody's plan shows is a hole.
    let weaker: Vec<String> = predicted
        .iter()
        .filter(|(_, e)| e.foreign && (weaker_than_wanted(&e.mode) || e.ports.iter().any(|(_, m)| weaker_than_wanted(m))))
        .map(|(w, e)| format!("{w}: {}", e.describe()))
        .collect();
    if weaker.is_empty() {
        let unchanged = prior.is_some_and(|prior| {
            let mut same = planned.clone();
            same.effective_modes = prior.effective_modes.clone();
            same == *prior && prior.effective_modes.known() == Some(&described(predicted))
        });
        planned.effective_modes = if unchanged { Attr::Known(described(predicted)) } else { Attr::Unknown };
        return None;
    }
    planned.effective_modes = Attr::Unknown;
    let detail = format!(
        "Istio will not enforce {} on {}. A more specific or older PeerAuthentication decides for these workloads (Istio applies the workload policy over the namespace's, and the oldest of several). Change or remove that policy, or import it into meshtls; `plan` shows this as drift until then.",
        want.map_or("its mode", |m| istio::ISTIO.spell(m)),
        weaker.join("; ")
    );
    let enforce = planned.enforce.known().copied().unwrap_or(false);
    Some(
        if enforce {
            Diagnostic::error("Mutual TLS weakened by another policy", detail)
        } else {
            Diagnostic::warning("Mutual TLS weakened by another policy", detail)
        }
        .at(at("mode")),
    )
}
