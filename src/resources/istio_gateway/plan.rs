//! The Istio gateway's pure decisions: validation, planning and the certificate check.

use super::*;

/// Checks on the configuration alone.
pub(super) fn validate(config: &IstioGateway) -> Diagnostics {
    let mut d = Diagnostics::new();
    for (attr, value) in [("name", &config.name), ("gateway_class", &config.gateway_class)] {
        if let Some(n) = value.as_deref().filter(|n| !is_dns1123_subdomain(n) || n.len() > 63) {
            d.error_at(
                at(attr),
                "Invalid name",
                format!("{n:?} is not a valid {attr}: lowercase letters, digits, '-' and '.', at most 63 characters."),
            );
        }
    }
    istio_revision::validate(config.istio_revision.as_deref(), &mut d);
    check_port(&mut d, &config.port, at("port"));
    if let Some(hosts) = config.hostnames.known() {
        if hosts.is_empty() {
            d.error_at(at("hostnames"), "No hostnames", "Omit hostnames to accept any host, or name at least one.");
        }
        if hosts.len() > MAX_HOSTNAMES {
            d.error_at(
                at("hostnames"),
                "Too many hostnames",
                format!("{} hostnames; at most {MAX_HOSTNAMES} (one listener each).", hosts.len()),
            );
        }
        for (i, h) in hosts.iter().enumerate() {
            if let Some(problem) = dns_name_problem(h) {
                d.error_at(
                    at("hostnames").index(i),
                    "Invalid hostname",
                    format!("{h:?}: {problem}. Use a DNS name such as yelb.example.com or *.example.com."),
                );
            }
        }
    }
    let routes = config.route.as_deref().unwrap_or_default();
    if routes.len() > MAX_ROUTES {
        d.error_at(at("route"), "Too many routes", format!("{} routes; at most {MAX_ROUTES}.", routes.len()));
    }
    for (i, r) in routes.iter().enumerate() {
        let path = |attr: &str| AttributePath::attrs(&["route"]).index(i).attr(attr);
        if let Some(p) = r.prefix.as_deref().filter(|p| !p.starts_with('/')) {
            d.error_at(path("prefix"), "Invalid prefix", format!("{p:?} must start with '/'."));
        }
        if let Some(s) = r.service.as_deref().filter(|s| !is_dns1123_label(s)) {
            d.error_at(
                path("service"),
                "Invalid Service name",
                format!("{s:?} is not a Service name: lowercase letters, digits and '-', at most 63 characters."),
            );
        }
        check_port(&mut d, &r.port, path("port"));
    }
    d
}

/// The plan's computed attributes. The controller's conditions stay as they are when nothing
/// changes, and are unknown when the apply will change something.
pub(super) fn plan(prior: Option<&IstioGateway>, config: &IstioGateway, planned: &mut IstioGateway) {
    planned.id = match (config.namespace.known(), config.name.known()) {
        (Some(ns), Some(n)) => Attr::Known(format!("{ns}/{n}")),
        _ => Attr::Unknown,
    };
    planned.status = SideStatus::InSync.into();
    planned.conditions = match prior {
        Some(p) if p.configured() == planned.configured() && p.status == planned.status => p.conditions.clone(),
        _ => Attr::Unknown,
    };
}

/// An error when the certificate served does not name every host the gateway listens for:
/// clients would fail the handshake.
pub(super) fn certificate_problem(dns_names: &[String], hostnames: &[String], namespace: &str, secret: &str) -> Option<Diagnostic> {
    let uncovered: Vec<&String> = hostnames.iter().filter(|h| !dns_names.iter().any(|n| n == *h || dns_name_covers(n, h))).collect();
    (!uncovered.is_empty()).then(|| {
        Diagnostic::error(
            "The certificate does not cover the gateway's hosts",
            format!(
                "Secret {namespace}/{secret} is for {dns_names:?}, which does not cover {uncovered:?}: clients connecting to those hosts would fail the TLS handshake. Add them to the certificate's dns_names, or fix hostnames."
            ),
        )
        .at(at("hostnames"))
    })
}

/// Why a moved state's objects are not there yet: the next plan writes them.
pub(super) const MOVED: &str = "moved: not yet written to Istio";

/// The state a `moved` block from `meshtls_gateway` gives: the same namespace, name, port
/// and certificate Secret, so the NLB Service in front and the certificate stay as they are.
/// No Gateway exists yet; the plan after the move creates it with the configured routes.
pub(super) fn moved_from_gateway(source: &serde_json::Value) -> Result<IstioGateway, Diagnostics> {
    let text = |k: &str| source[k].as_str().map(str::to_string);
    let (Some(namespace), Some(name)) = (text("namespace"), text("name")) else {
        return Err(Diagnostic::error("Cannot move the gateway", "The meshtls_gateway state has no namespace and name.").into());
    };
    // The Gateway is written by the apply after the move, under this state's id.
    let owner_id = Owner::fresh(TYPE_NAME, &format!("{namespace}/{name}")).map_or(Attr::Null, |o| o.attr());
    Ok(IstioGateway {
        id: Attr::Known(format!("{namespace}/{name}")),
        namespace: Attr::Known(namespace),
        name: Attr::Known(name),
        gateway_class: Attr::Known(DEFAULT_CLASS.into()),
        port: source["port"].as_i64().map_or(Attr::Known(8443), Attr::Known),
        hostnames: Attr::Null,
        certificate_secret: text("certificate_secret").into(),
        istio_revision: Attr::Null,
        status: Attr::Known(MOVED.into()),
        owner_id,
        conditions: Attr::Null,
        route: None,
    })
}
