//! The certificate's pure decisions: validation, re-issue and renewal, the CA's lifetime,
//! drift in its Secret, and import.

use super::*;

// ---- validation ----

pub(super) fn validate(config: &Certificate) -> Diagnostics {
    let mut d = Diagnostics::new();
    if let Some(ca) = config.ca.as_deref() {
        if !ca.split_once('/').is_some_and(|(ns, n)| is_dns1123_label(ns) && is_dns1123_subdomain(n)) {
            d.error_at(
                at("ca"),
                "Invalid CA reference",
                format!("{ca:?} is not a CA id (`namespace/secret_name`); use meshtls_ca.<name>.id."),
            );
        }
    }
    // meshtls's own keys: a user value would disown the Secret or point it at another CA.
    for (attr, map, reserved) in [
        ("secret_labels", &config.secret_labels, &[MANAGED_BY_LABEL][..]),
        ("secret_annotations", &config.secret_annotations, &[OWNER_ANNOTATION, CA_ANNOTATION][..]),
    ] {
        for key in map.known().into_iter().flat_map(BTreeMap::keys).filter(|k| reserved.contains(&k.as_str())) {
            d.error_at(
                at(attr).key(key),
                "Reserved key",
                format!("{key:?} is set by meshtls to mark the Secret as its own; remove it from {attr}."),
            );
        }
    }
    if let Some(names) = config.dns_names.known() {
        check_dns_names(&mut d, names);
    }
    if let Some(accounts) = config.restrict_secret_access.as_ref().and_then(|r| r.service_accounts.known()) {
        let path = || AttributePath::attrs(&["restrict_secret_access", "service_accounts"]);
        if accounts.is_empty() {
            d.error_at(path(), "No service accounts", "Name at least one service account, e.g. the workload's.");
        }
        for (i, sa) in accounts.iter().enumerate().filter(|(_, sa)| !is_dns1123_subdomain(sa)) {
            d.error_at(path().index(i), "Invalid service account name", format!("{sa:?} is not a valid service account name."));
        }
    }
    // Both ranges are the schema's validators; the renewal window is judged against the
    // validity here.
    match (config.renew_before_days.known().copied(), config.validity_days.known().copied()) {
        // A validity out of range is the validator's to name, not a window problem.
        (Some(r), Some(v)) if r >= v && (1..=MAX_VALIDITY_DAYS).contains(&v) => d.error_at(
            at("renew_before_days"),
            "Renewal window as long as the validity",
            format!("renew_before_days ({r}) must be shorter than validity_days ({v}), or every plan would re-issue the certificate."),
        ),
        _ => {}
    }
    if let Some(usages) = config.usages.known() {
        if usages.is_empty() {
            d.error_at(at("usages"), "No usages", "Give at least one of server_auth, client_auth.");
        }
        for (i, u) in usages.iter().enumerate().filter(|(_, u)| Usage::parse(u).is_none()) {
            d.error_at(at("usages").index(i), "Unknown usage", format!("{u:?} is not a usage; use {}.", Usage::NAMES.join(" or ")));
        }
    }
    d
}

pub(super) fn check_dns_names(d: &mut Diagnostics, names: &[String]) {
    // One certificate per service: hundreds of names mean a mistake, and each name more
    // would be checked and reported.
    if names.len() > MAX_DNS_NAMES {
        return d.error_at(
            at("dns_names"),
            "Too many DNS names",
            format!("{} names given; a certificate takes at most {MAX_DNS_NAMES}. Issue one certificate per service, or use a wildcard such as `*.yelb.svc.cluster.local`.", names.len()),
        );
    }
    if names.is_empty() {
        d.error_at(
            at("dns_names"),
            "No DNS names",
            "Give at least one DNS name: the name clients use, e.g. yelb-db.yelb.svc.cluster.local.",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(problem) = dns_name_problem(name) {
            d.error_at(at("dns_names").index(i), "Invalid DNS name", format!("{name:?}: {problem}."));
        }
        if !seen.insert(name) {
            d.error_at(at("dns_names").index(i), "Duplicate DNS name", format!("{name:?} appears more than once; list each name once."));
        }
    }
}

// ---- plan decisions ----

/// The common name defaults to the first DNS name.
pub(super) fn default_common_name(config: &Certificate, planned: &mut Certificate) {
    if config.common_name.is_null() && planned.common_name.is_unknown() {
        if let Some(first) = config.dns_names.known().and_then(|n| n.first()) {
            planned.common_name = Attr::Known(first.clone());
        }
    }
}

/// True once `now` is within `renew_before_days` of `not_after`. Checked arithmetic: a window
/// past the end of time counts as reached, never as a panic.
pub(super) fn inside_renewal_window(now: OffsetDateTime, renew_before_days: i64, not_after: OffsetDateTime) -> bool {
    let window = time::Duration::seconds(renew_before_days.max(0).saturating_mul(86_400));
    now.checked_add(window).is_none_or(|t| t >= not_after)
}

pub(super) fn parse_time(v: &Attr<String>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.as_deref()?, &time::format_description::well_known::Rfc3339).ok()
}

/// Why the certificate in state must be re-issued: its Secret changed outside Terraform
/// (`drift`, found by refresh), or its renewal window has opened.
pub(super) fn reissue_reasons(prior: &Certificate, renew_before_days: i64, drift: &[String], now: OffsetDateTime) -> Vec<String> {
    let id = prior.id.as_deref().unwrap_or_default();
    let mut reasons = Vec::new();
    if !drift.is_empty() {
        reasons.push(format!("Secret {id} changed outside Terraform: {}", drift.join("; ")));
    }
    if let Some(not_after) = parse_time(&prior.not_after).filter(|t| inside_renewal_window(now, renew_before_days, *t)) {
        reasons.push(format!(
            "the certificate in {id} expires at {}, inside its renewal window of {renew_before_days} days; it will be re-issued in place",
            pki::rfc3339(not_after)
        ));
    }
    reasons
}

/// The plan's checks against the signing CA: a replaced CA re-issues what it signed (the
/// reason), and a certificate being issued may not outlive its CA (the error).
pub(super) fn ca_decisions(
    ca_id: &str,
    ca: &pki::CertificateInfo,
    prior_ca_fingerprint: Option<&str>,
    issuing: bool,
    validity_days: i64,
    now: OffsetDateTime,
) -> (Option<String>, Option<Diagnostic>) {
    let replaced = prior_ca_fingerprint.is_some_and(|fp| fp != ca.fingerprint_sha256);
    let reason = replaced.then(|| format!("CA {ca_id} was replaced; certificates it signed are re-issued"));
    let left = ca.not_after - now;
    let error = ((issuing || replaced) && time::Duration::days(validity_days) > left).then(|| {
        Diagnostic::error(
            "Certificate would outlive its CA",
            format!(
                "validity_days = {validity_days} exceeds the {} days CA {ca_id} has left (it expires at {}). Shorten validity_days or renew the CA.",
                left.whole_days(),
                pki::rfc3339(ca.not_after)
            ),
        )
        .at(at("validity_days"))
    });
    (reason, error)
}

/// What a certificate that stays as it is takes from its CA as the CA is now: the CA's
/// fingerprint after a renewal, and its trust bundle. A warning says what changes in place.
pub(super) fn follow_trust(prior: &Certificate, ca: &ca_store::Ca, planned: &mut Certificate) -> Option<Diagnostic> {
    let id = prior.id.as_deref().unwrap_or_default();
    let mut what = Vec::new();
    if prior.ca_fingerprint_sha256.as_deref().is_some_and(|fp| fp != ca.info.fingerprint_sha256) {
        planned.ca_fingerprint_sha256 = Attr::Known(ca.info.fingerprint_sha256.clone());
        what.push("its CA was renewed with the same key, so the chain in tls.crt takes the renewed CA certificate");
    }
    let bundle = pki::fingerprints(ca.trust_pem());
    if prior.ca_bundle_fingerprints.known() != Some(&bundle) {
        planned.ca_bundle_fingerprints = Attr::Known(bundle);
        what.push("ca.crt takes the CA's trust bundle as it is now");
    }
    (!what.is_empty()).then(|| {
        Diagnostic::warning(
            "Certificate's trust follows its CA",
            format!("{id}: {}. The certificate and its key stay: nothing is re-issued.", what.join("; ")),
        )
    })
}

/// The settings that decide what the certificate says, where the plan differs from what
/// it was issued with. Each change re-issues it in place.
pub(super) fn changed_settings(prior: &Certificate, planned: &Certificate) -> Vec<&'static str> {
    [
        ("ca", prior.ca != planned.ca),
        ("dns_names", prior.dns_names != planned.dns_names),
        ("common_name", prior.common_name != planned.common_name),
        ("validity_days", prior.validity_days != planned.validity_days),
        ("key_algorithm", prior.key_algorithm != planned.key_algorithm),
        ("usages", prior.usages != planned.usages),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// The plan's reason for a re-issue that changed settings ask for.
pub(super) fn settings_reason(changed: &[&str]) -> Option<String> {
    (!changed.is_empty()).then(|| format!("{} changed; the certificate is re-issued in place, in the same Secret", changed.join(", ")))
}

/// A re-issue: everything the new certificate will say is unknown until apply. The `id`
/// stays: the same Secret is rewritten.
pub(super) fn plan_reissue(planned: &mut Certificate) {
    for attr in [
        &mut planned.serial_number,
        &mut planned.fingerprint_sha256,
        &mut planned.not_before,
        &mut planned.not_after,
        &mut planned.ca_fingerprint_sha256,
    ] {
        *attr = Attr::Unknown;
    }
    planned.ca_bundle_fingerprints = Attr::Unknown;
}

// ---- reading back ----

/// Why the Secret no longer holds what meshtls wrote, if it does not.
pub(super) fn secret_drift(observed: &tls_secret::ObservedSecret, state: &Certificate) -> Vec<String> {
    let mut drift = Vec::new();
    if observed.secret_type.as_deref() != Some(TLS_SECRET_TYPE) {
        drift.push(format!("its type is {:?}, not {TLS_SECRET_TYPE}", observed.secret_type.as_deref().unwrap_or("")));
    }
    let leaf = observed.tls_crt.as_deref().and_then(|p| pki::inspect(p).ok());
    if leaf.as_ref().map(|i| i.fingerprint_sha256.as_str()) != state.fingerprint_sha256.as_deref() {
        drift.push("tls.crt does not start with the certificate in state".into());
    }
    // ca.crt holds the root the chain ends in (the issuing CA itself when it is a root, or
    // when tls.crt carries no chain).
    let trusted = pki::fingerprints(observed.ca_crt.as_deref().unwrap_or_default());
    let chain_root = observed.tls_crt.as_deref().map(pki::fingerprints).and_then(|f| f.get(1..).and_then(<[String]>::last).cloned());
    let issuing = state.ca_fingerprint_sha256.as_deref().map(str::to_string);
    if ![issuing, chain_root].iter().flatten().any(|f| trusted.contains(f)) {
        drift.push("ca.crt does not hold the issuing CA's root".into());
    }
    if !leaf.as_ref().is_some_and(|info| observed.key_fits(info)) {
        drift.push("tls.key is not the private key of the certificate".into());
    }
    drift
}

/// The values in the cluster of the keys the configuration manages; the rest are not ours.
pub(super) fn observed_subset(
    managed: &Attr<BTreeMap<String, String>>,
    actual: &BTreeMap<String, String>,
) -> Attr<BTreeMap<String, String>> {
    managed.as_ref().map(|keys| keys.keys().filter_map(|k| Some((k.clone(), actual.get(k)?.clone()))).collect())
}

/// Label or annotation changes as a merge patch: removed keys map to None.
pub(super) fn metadata_patch(
    prior: &Attr<BTreeMap<String, String>>,
    planned: &Attr<BTreeMap<String, String>>,
) -> BTreeMap<String, Option<String>> {
    let (old, new) = (prior.known().cloned().unwrap_or_default(), planned.known().cloned().unwrap_or_default());
    let mut patch: BTreeMap<String, Option<String>> = old.keys().filter(|k| !new.contains_key(*k)).map(|k| (k.clone(), None)).collect();
    patch.extend(new.into_iter().map(|(k, v)| (k, Some(v))));
    patch
}

/// `namespace/secret_name`, optionally `:ca_namespace/ca_secret_name` for a Secret that does
/// not record its CA.
pub(super) fn parse_import_id(id: &str) -> Result<(&str, &str, Option<&str>), Diagnostic> {
    let (secret_ref, ca_ref) = id.split_once(':').map_or((id, None), |(s, c)| (s, Some(c)));
    let (namespace, secret_name) =
        secret_ref.split_once('/').filter(|(ns, n)| is_dns1123_label(ns) && is_dns1123_subdomain(n)).ok_or_else(|| {
            Diagnostic::error(
                "Invalid import ID",
                format!("{id:?} is not of the form `namespace/secret_name` (or `namespace/secret_name:ca_namespace/ca_secret_name`)."),
            )
        })?;
    Ok((namespace, secret_name, ca_ref))
}

/// The state of an imported certificate: what the certificate says, and the defaults.
pub(super) fn imported(
    namespace: &str,
    secret_name: &str,
    ca_id: &str,
    leaf: &pki::CertificateInfo,
    key_algorithm: KeyAlgorithm,
) -> Certificate {
    Certificate {
        id: Attr::Known(format!("{namespace}/{secret_name}")),
        ca: ca_id.into(),
        namespace: namespace.into(),
        secret_name: secret_name.into(),
        dns_names: Attr::Known(leaf.dns_names.clone()),
        common_name: leaf.common_name.clone().into(),
        validity_days: Attr::Known((leaf.not_after - leaf.not_before).whole_days()),
        renew_before_days: Attr::Known(DEFAULT_RENEW_BEFORE_DAYS),
        key_algorithm: key_algorithm.name().into(),
        // A certificate without extended key usages may serve either way: both, as by default.
        usages: Attr::Known(if leaf.usages.is_empty() {
            Usage::NAMES.iter().map(|u| u.to_string()).collect()
        } else {
            leaf.usages.iter().map(|u| u.name().to_string()).collect()
        }),
        ..Default::default()
    }
}
