//! The CA's pure decisions: validation, planning and drift in its Secret.

use super::*;

// ---- validation and plan ----

pub(super) fn validate(config: &CertificateAuthority) -> Diagnostics {
    let mut d = Diagnostics::new();
    if let Some(p) = &config.istio_plugin {
        if config.secret_name.as_deref() == Some(ISTIO_PLUGIN_SECRET) && config.namespace.known().map(String::as_str) == p.namespace() {
            d.error_at(
                at("istio_plugin"),
                "Already Istio's plug-in CA",
                format!(
                    "This CA's own Secret is {}/{ISTIO_PLUGIN_SECRET}, istiod's plug-in CA; drop istio_plugin.",
                    p.namespace().unwrap_or_default()
                ),
            );
        }
    }
    match &config.acm_pca {
        Some(pca) => validate_acm_pca(config, pca, &mut d),
        None if config.common_name.is_null() && config.key_pair.is_none() => {
            d.error_at(at("common_name"), "Missing common name", "Set common_name: the subject of the CA certificate.")
        }
        None => {}
    }
    if let Some(pair) = &config.key_pair {
        validate_key_pair(config, pair, &mut d);
    }
    if let (Some(renew), days) = (config.renew_before_days.known(), config.validity_days.known().copied().unwrap_or(DEFAULT_VALIDITY_DAYS))
    {
        if *renew >= days {
            d.error_at(
                at("renew_before_days"),
                "Renewal window as long as the validity",
                format!("renew_before_days ({renew}) must be shorter than validity_days ({days}), or every plan would renew the CA."),
            );
        }
        if config.key_pair.is_some() || config.acm_pca.is_some() {
            d.error_at(
                at("renew_before_days"),
                "Not renewed by meshtls",
                "meshtls renews only a CA whose key it generated and keeps: a key_pair's certificate is yours to renew, and a private CA's is ACM Private CA's. Remove renew_before_days.",
            );
        }
    }
    if let Some(issuer) = &config.cert_manager_issuer {
        validate_issuer(issuer, &mut d);
    }
    if config.rotation.is_some() && (config.parent.is_some() || config.key_pair.is_some() || config.acm_pca.is_some()) {
        d.error_at(
            at("rotation"),
            "Only a root meshtls generated rotates",
            "An intermediate is signed again by its parent as the parent rotates; a key_pair's CA or a private CA is rotated where its key is. Remove the rotation block.",
        );
    }
    if config.layout() == Some(Layout::Istio) {
        validate_istio_layout(config, &mut d);
    }
    match &config.parent {
        Some(parent) => validate_parent(config, parent, &mut d),
        None if !config.path_length.is_null() => d.error_at(
            at("path_length"),
            "Only for an intermediate",
            "path_length limits the CAs below an intermediate; this CA has no parent. Remove path_length, or add a parent block.",
        ),
        None => {}
    }
    d
}

/// Istio's four-file layout is for the Secret istiod reads its plug-in CA from, with the key
/// in it.
fn validate_istio_layout(config: &CertificateAuthority, d: &mut Diagnostics) {
    if let Some(name) = config.secret_name.as_deref().filter(|n| *n != ISTIO_PLUGIN_SECRET) {
        d.error_at(
            at("layout"),
            "istiod does not read this Secret",
            format!("istiod reads its plug-in CA in Istio's layout only from the Secret {ISTIO_PLUGIN_SECRET} in its namespace, not {name:?}. Set secret_name = \"{ISTIO_PLUGIN_SECRET}\", or drop layout for cert-manager's."),
        );
    }
    let conflicts = [
        (
            config.cert_manager_issuer.is_some(),
            "cert_manager_issuer",
            "cert-manager's CA issuer reads a kubernetes.io/tls Secret (tls.crt, tls.key)",
        ),
        (
            config.acm_pca.is_some(),
            "acm_pca",
            "istiod signs with the key in cacerts, and a CA kept in ACM Private CA has none in the cluster",
        ),
        (config.istio_plugin.is_some(), "istio_plugin", "this Secret is already istiod's plug-in CA"),
    ];
    for (_, name, why) in conflicts.into_iter().filter(|(set, _, _)| *set) {
        d.error_at(at(name), "Not with the istio layout", format!("{why}. Drop {name}, or drop layout = \"istio\"."));
    }
}

fn validate_parent(config: &CertificateAuthority, parent: &Parent, d: &mut Diagnostics) {
    if config.acm_pca.is_some() {
        d.error_at(
            at("parent"),
            "Choose a parent or a private CA",
            "An intermediate's key is kept in its cluster Secret, and acm_pca keeps a CA in ACM Private CA. Remove one of them.",
        );
    }
    if config.key_pair.is_some() {
        d.error_at(
            at("parent"),
            "Choose a parent or a key pair",
            "key_pair brings an existing CA, and parent has meshtls sign a new one. Remove one of them.",
        );
    }
    let own = config.secret_ref().map(|(ns, n)| format!("{ns}/{n}"));
    if let Some(id) = parent.ca_id.as_deref() {
        let path = AttributePath::attrs(&["parent", "ca_id"]);
        if id.split_once('/').filter(|(ns, n)| is_dns1123_label(ns) && is_dns1123_subdomain(n)).is_none() {
            d.error_at(path, "Invalid parent id", format!("{id:?} is not a CA id (`namespace/secret_name`); use meshtls_ca.<name>.id."));
        } else if own.as_deref() == Some(id) {
            d.error_at(path, "A CA cannot be its own parent", format!("{id} is this CA's own id; name the CA that signs it."));
        }
    }
    if let Some(pem) = parent.certificate_pem.as_deref() {
        let path_length = config.path_length.known().copied().unwrap_or(DEFAULT_PATH_LENGTH);
        let validity_days = config.validity_days.known().copied().unwrap_or(DEFAULT_VALIDITY_DAYS);
        for (path, problem) in parent_problems(pem, path_length, validity_days, time::OffsetDateTime::now_utc()) {
            d.push(problem.at(path));
        }
    }
}

/// What keeps a parent from signing an intermediate with `path_length` valid for
/// `validity_days` from `now`, and where: a parent that is no CA, has expired, forbids
/// another CA level, or ends before the intermediate would.
pub(super) fn parent_problems(
    parent_pem: &str,
    path_length: i64,
    validity_days: i64,
    now: time::OffsetDateTime,
) -> Vec<(AttributePath, Diagnostic)> {
    let pem_path = || AttributePath::attrs(&["parent", "certificate_pem"]);
    let info = match pki::inspect(parent_pem) {
        Ok(info) => info,
        Err(e) => {
            return vec![(
                pem_path(),
                Diagnostic::error("Invalid parent certificate", format!("parent.certificate_pem is not a PEM certificate: {e}.")),
            )]
        }
    };
    if !info.is_ca {
        return vec![(
            pem_path(),
            Diagnostic::error(
                "Parent is not a CA",
                format!("{:?} is not a CA (basicConstraints CA:FALSE): nothing it signs is trusted as a CA. Give the certificate_pem of a meshtls_ca.", info.subject),
            ),
        )];
    }
    let mut problems = Vec::new();
    if now >= info.not_after {
        problems.push((
            pem_path(),
            Diagnostic::error(
                "Parent has expired",
                format!("{:?} expired at {}. Renew or replace the parent first.", info.subject, pki::rfc3339(info.not_after)),
            ),
        ));
    }
    if let Some(limit) = info.path_len.map(i64::from).filter(|limit| *limit <= path_length) {
        let detail = match limit {
            0 => format!("{:?} has path length 0: it signs only leaves, never another CA. Sign this CA with the parent's own parent, or re-create the parent with a larger path_length.", info.subject),
            _ => format!("{:?} allows {limit} level(s) of CAs below it, so an intermediate under it has a path_length of at most {}; this one has {path_length}.", info.subject, limit - 1),
        };
        problems.push((at("path_length"), Diagnostic::error("Path length the parent forbids", detail)));
    }
    let ends = now.checked_add(time::Duration::days(validity_days.clamp(0, MAX_VALIDITY_DAYS)));
    if ends.is_none_or(|ends| ends > info.not_after) && now < info.not_after {
        problems.push((
            at("validity_days"),
            Diagnostic::error(
                "Outlives its parent",
                format!(
                    "Valid for {validity_days} days from now, this intermediate would end after its parent {:?} (valid until {}), and stop verifying then. Set validity_days to at most {}.",
                    info.subject,
                    pki::rfc3339(info.not_after),
                    (info.not_after - now).whole_days()
                ),
            ),
        ));
    }
    problems
}

/// A CA kept in ACM Private CA: adopted or created, and never a source of keys in the cluster.
fn validate_acm_pca(config: &CertificateAuthority, pca: &AcmPca, d: &mut Diagnostics) {
    if pca.arn.is_null() == pca.create.is_none() && !pca.arn.is_unknown() {
        d.error_at(
            at("acm_pca"),
            "Choose adopt or create",
            "Set exactly one of acm_pca.arn (adopt an existing private CA) or an acm_pca.create block.",
        );
    }
    if let Some(a) =
        pca.arn.as_deref().filter(|a| !(a.starts_with("arn:aws") && a.contains(":acm-pca:") && a.contains(":certificate-authority/")))
    {
        d.error_at(
            AttributePath::attrs(&["acm_pca", "arn"]),
            "Invalid private CA ARN",
            format!("{a:?} is not an ACM Private CA ARN (arn:aws:acm-pca:<region>:<account>:certificate-authority/<id>)."),
        );
    }
    if let Some(n) = pca.create.as_ref().and_then(|c| c.permanent_deletion_days.known()).filter(|n| !(7..=30).contains(*n)) {
        d.error_at(
            AttributePath::attrs(&["acm_pca", "create", "permanent_deletion_days"]),
            "Invalid deletion window",
            format!("{n}: ACM Private CA accepts 7 to 30 days."),
        );
    }
    if config.istio_plugin.is_some() {
        d.error_at(
            at("istio_plugin"),
            "No plug-in CA for Istio from a private CA",
            "istiod signs with the key of its plug-in CA; a CA kept in ACM Private CA has no key in the cluster. Drop istio_plugin, or keep the CA in the cluster.",
        );
    }
    // istiod signs workload certificates with the key in `cacerts` itself.
    if config.secret_name.as_deref() == Some(ISTIO_PLUGIN_SECRET) {
        d.error_at(
            at("acm_pca"),
            "No plug-in CA for Istio from a private CA",
            format!("Secret {ISTIO_PLUGIN_SECRET} is Istio's plug-in CA, which istiod signs with; a CA kept in ACM Private CA has no key in the cluster. Generate the CA (drop acm_pca) or give its key_pair, or use another secret_name."),
        );
    }
    if config.cert_manager_issuer.is_some() {
        d.error_at(
            at("cert_manager_issuer"),
            "No CA issuer for a private CA",
            "A cert-manager CA issuer needs the CA key in the cluster; with acm_pca there is none. Use cert-manager's AWSPCAIssuer instead.",
        );
    }
}

fn validate_issuer(issuer: &IssuerBlock, d: &mut Diagnostics) {
    if let Some(kind) = issuer.kind.as_deref().filter(|k| IssuerKind::parse(k).is_none()) {
        d.error_at(
            AttributePath::attrs(&["cert_manager_issuer", "kind"]),
            "Invalid issuer kind",
            format!("{kind:?} is not an issuer kind; use \"Issuer\" or \"ClusterIssuer\"."),
        );
    }
    if let Some(name) = issuer.name.as_deref().filter(|n| !is_dns1123_subdomain(n)) {
        d.error_at(
            AttributePath::attrs(&["cert_manager_issuer", "name"]),
            "Invalid issuer name",
            format!("{name:?} is not a valid object name: use lowercase letters, digits, '-' and '.'."),
        );
    }
}

/// The attributes a `key_pair`'s certificate decides.
const DERIVED: [&str; 4] = ["common_name", "organization", "validity_days", "key_algorithm"];

fn key_path() -> AttributePath {
    AttributePath::attrs(&["key_pair", "private_key_pem_wo"])
}

fn certificate_path() -> AttributePath {
    AttributePath::attrs(&["key_pair", "certificate_pem"])
}

fn validate_key_pair(config: &CertificateAuthority, pair: &KeyPair, d: &mut Diagnostics) {
    if config.acm_pca.is_some() {
        d.error_at(
            at("key_pair"),
            "Choose a key pair or a private CA",
            "Set key_pair (a CA key kept in the cluster) or acm_pca (a key kept in ACM Private CA), not both.",
        );
    }
    let set = [&config.common_name, &config.organization]
        .into_iter()
        .map(|a| !a.is_null())
        .chain([!config.validity_days.is_null(), !config.key_algorithm.is_null()]);
    for (name, set) in DERIVED.iter().zip(set) {
        if set {
            d.error_at(
                at(name),
                "Decided by the key pair",
                format!(
                    "With key_pair, the CA certificate decides {name}. Remove {name}, or remove key_pair to have meshtls generate the CA."
                ),
            );
        }
    }
    if let Some(v) = pair.private_key_pem_wo_version.known().filter(|v| **v < 0) {
        d.error_at(
            AttributePath::attrs(&["key_pair", "private_key_pem_wo_version"]),
            "Invalid key version",
            format!("{v}: use a whole number from 0 up, and raise it to write a new key pair."),
        );
    }
    let now = time::OffsetDateTime::now_utc();
    match (pair.certificate_pem.as_deref(), pair.private_key_pem_wo.as_deref()) {
        (Some(cert), Some(key)) => d.push_all(key_pair_problem(cert, key, now).map(|(path, e)| e.at(path))),
        (Some(cert), None) => d.push_all(given_certificate(cert, now).err().map(|(path, e)| e.at(path))),
        _ => {}
    }
}

/// The certificate of a `key_pair`, if it can be a CA now.
pub(super) fn given_certificate(pem: &str, now: time::OffsetDateTime) -> Result<pki::CertificateInfo, (AttributePath, Diagnostic)> {
    let bad = |summary: &str, detail: String| Err((certificate_path(), Diagnostic::error(summary, detail)));
    let info = match pki::inspect(pem) {
        Ok(info) => info,
        Err(e) => return bad("Invalid CA certificate", format!("key_pair.certificate_pem is not a PEM certificate: {e}.")),
    };
    if !info.is_ca {
        return bad(
            "Not a CA certificate",
            format!(
                "{:?} is not a CA (basicConstraints CA:FALSE). Give the CA's certificate, e.g. one made with `openssl req -x509`.",
                info.subject
            ),
        );
    }
    if now < info.not_before || now >= info.not_after {
        return bad(
            "CA certificate not valid now",
            format!(
                "{:?} is valid from {} to {}. Give a CA certificate that is valid now.",
                info.subject,
                pki::rfc3339(info.not_before),
                pki::rfc3339(info.not_after)
            ),
        );
    }
    if info.key_algorithm.is_none() {
        return bad("Unsupported CA key", format!("The certificate's key is none of {}.", KeyAlgorithm::NAMES.join(", ")));
    }
    Ok(info)
}

/// What is wrong with a `key_pair`, if anything, and where. The key is never quoted.
pub(super) fn key_pair_problem(
    certificate_pem: &str,
    private_key_pem: &str,
    now: time::OffsetDateTime,
) -> Option<(AttributePath, Diagnostic)> {
    let info = match given_certificate(certificate_pem, now) {
        Ok(info) => info,
        Err(problem) => return Some(problem),
    };
    if pki::key_matches(private_key_pem, &info) {
        return None;
    }
    Some((
        key_path(),
        Diagnostic::error(
            "Key does not match the certificate",
            "key_pair.private_key_pem_wo is not a PEM private key (PKCS#8, PKCS#1 or SEC1) of key_pair.certificate_pem. Give the key the certificate was made with.",
        ),
    ))
}

/// Plans what a `key_pair`'s certificate says: known at plan when the certificate is.
fn plan_key_pair(pair: &KeyPair, planned: &mut CertificateAuthority) {
    let info = pair.certificate_pem.as_deref().and_then(|pem| Some((pem, pki::inspect(pem).ok()?)));
    match info {
        Some((pem, info)) => {
            planned.common_name = info.common_name.clone().into();
            planned.organization = info.organization.clone().into();
            planned.validity_days = Attr::Known((info.not_after - info.not_before).whole_days());
            planned.key_algorithm = info.key_algorithm.map(KeyAlgorithm::name).map(String::from).into();
            planned.certificate_pem = Attr::Known(pem.to_string());
            planned.fingerprint_sha256 = Attr::Known(info.fingerprint_sha256);
            planned.serial_number = Attr::Known(info.serial_hex);
            planned.not_after = Attr::Known(pki::rfc3339(info.not_after));
        }
        None => {
            for attr in [&mut planned.common_name, &mut planned.organization, &mut planned.key_algorithm, &mut planned.certificate_pem] {
                *attr = Attr::Unknown;
            }
            planned.validity_days = Attr::Unknown;
        }
    }
}

/// Whether `path` is an attribute the key pair decides that has not changed after all: the
/// generic plan filled in its default before the certificate was read.
pub(super) fn derived_unchanged(path: &AttributePath, prior: &CertificateAuthority, planned: &CertificateAuthority) -> bool {
    let same = |name: &str| match name {
        "common_name" => prior.common_name == planned.common_name,
        "organization" => prior.organization == planned.organization,
        "validity_days" => prior.validity_days == planned.validity_days,
        "key_algorithm" => prior.key_algorithm == planned.key_algorithm,
        _ => false,
    };
    DERIVED.iter().any(|name| *path == at(name) && same(name))
}

/// The plan's decisions. A private CA must be ACTIVE (a prior status of anything else is
/// drift to repair); a Secret deleted out of band is written again from the private CA; a
/// Secret changed out of band replaces the CA. Returns whether the CA is replaced.
pub(super) fn plan(
    prior: Option<&CertificateAuthority>,
    config: &CertificateAuthority,
    planned: &mut CertificateAuthority,
    note: &DriftNote,
    d: &mut Diagnostics,
) -> bool {
    match &config.acm_pca {
        None => {
            planned.pca_status = Attr::Null;
            planned.pca_arn = Attr::Null;
        }
        Some(pca) => {
            planned.pca_status = Attr::Known(ACTIVE.into());
            if let Attr::Known(arn) = &pca.arn {
                planned.pca_arn = Attr::Known(arn.clone());
            }
        }
    }
    if let Some(pair) = &config.key_pair {
        plan_key_pair(pair, planned);
    }
    let Some(prior) = prior else { return false };
    let id = prior.id.as_deref().unwrap_or_default();
    if note.secret_missing {
        d.push(Diagnostic::warning(
            "CA Secret deleted outside Terraform",
            format!(
                "Secret {id} is gone. Apply writes it again from the ACM Private CA {}, which is kept; certificates it signed stay valid.",
                prior.pca_arn.as_deref().unwrap_or_default()
            ),
        ));
        planned.certificate_pem = Attr::Unknown;
    }
    if note.drift.is_empty() {
        return false;
    }
    d.push(Diagnostic::warning(
        "CA Secret changed outside Terraform",
        format!(
            "Secret {id}: {}. The CA will be replaced with a new key and certificate; certificates it signed must be re-issued.",
            note.drift.join("; ")
        ),
    ));
    for attr in
        [&mut planned.certificate_pem, &mut planned.fingerprint_sha256, &mut planned.serial_number, &mut planned.not_after, &mut planned.id]
    {
        *attr = Attr::Unknown;
    }
    planned.days_remaining = Attr::Unknown;
    true
}

/// Why the plan renews the CA in place, if it does: a CA whose key meshtls keeps (generated,
/// not a `key_pair` nor in ACM Private CA) whose `validity_days` changed, or which is inside
/// its `renew_before_days` window. Renewal keeps the key and subject, so nothing it signed is
/// re-issued.
pub(super) fn renewal_reason(
    prior: &CertificateAuthority,
    config: &CertificateAuthority,
    planned: &CertificateAuthority,
    now: time::OffsetDateTime,
) -> Option<String> {
    if config.key_pair.is_some() || config.acm_pca.is_some() || prior.certificate_pem.is_null() {
        return None;
    }
    let id = prior.id.as_deref().unwrap_or_default();
    let days = planned.validity_days.known().copied().unwrap_or(DEFAULT_VALIDITY_DAYS);
    if prior.validity_days.known() != Some(&days) {
        return Some(format!(
            "validity_days changed to {days}: CA {id} is renewed in place, valid for {days} days from this apply, with the same key and subject"
        ));
    }
    let not_after = time::OffsetDateTime::parse(prior.not_after.as_deref()?, &time::format_description::well_known::Rfc3339).ok()?;
    let window = config.renew_before_days.known().copied()?;
    let inside = now.checked_add(time::Duration::days(window.clamp(0, MAX_VALIDITY_DAYS))).is_none_or(|t| t >= not_after);
    inside.then(|| {
        format!(
            "CA {id} expires at {}, inside its renewal window of {window} days: it is renewed in place, valid for {days} days from this apply, with the same key and subject",
            pki::rfc3339(not_after)
        )
    })
}

/// Why an intermediate is signed again by its parent in place, if it is: the parent is the
/// same CA (`ca_id`) with a new certificate, renewed (the same key) or rotated to a new root.
/// The intermediate keeps its key and its Secret, so istiod never finds `cacerts` missing;
/// only another parent replaces it.
pub(super) fn parent_renewed(prior: &CertificateAuthority, planned: &CertificateAuthority) -> Option<String> {
    let (old, new) = (prior.parent.as_ref()?, planned.parent.as_ref()?);
    if old.ca_id != new.ca_id && !new.ca_id.is_unknown() {
        return None;
    }
    let parent = old.ca_id.as_deref().unwrap_or_default();
    let id = prior.id.as_deref().unwrap_or_default();
    if new.certificate_pem.is_unknown() {
        // The parent is renewed (or signs anew) in this same apply.
        return Some(format!(
            "its parent {parent}'s certificate changes in this apply: CA {id} is signed again by it, keeping its own key"
        ));
    }
    let (was, is) = (pki::inspect(old.certificate_pem.as_deref()?).ok()?, pki::inspect(new.certificate_pem.as_deref()?).ok()?);
    if was.fingerprint_sha256 == is.fingerprint_sha256 {
        return None;
    }
    let how = if was.public_key == is.public_key && was.subject == is.subject {
        "was renewed with the same key"
    } else {
        "signs with a new root"
    };
    Some(format!(
        "its parent {parent} {how} (valid until {}): CA {id} is signed again by it, keeping its own key",
        pki::rfc3339(is.not_after)
    ))
}

/// Plans a renewal of `prior` in place, if one is due (see `renewal_reason` and
/// `parent_renewed`): only when nothing else replaces the CA. Returns whether it does.
pub(super) fn plan_renewal_of(
    prior: &CertificateAuthority,
    config: &CertificateAuthority,
    plan: &mut TypedPlan<CertificateAuthority>,
) -> bool {
    // validity_days alone does not replace a CA meshtls keeps, nor a parent's new certificate.
    let parent_renewed = parent_renewed(prior, &plan.planned);
    let renewable =
        |path: &AttributePath| *path == at("validity_days") || (parent_renewed.is_some() && path.0.first() == at("parent").0.first());
    if !plan.requires_replace.iter().all(renewable) {
        return false;
    }
    let Some(reason) = parent_renewed.or_else(|| renewal_reason(prior, config, &plan.planned, time::OffsetDateTime::now_utc())) else {
        return false;
    };
    plan.requires_replace.clear();
    plan_renewal(&mut plan.planned);
    plan.diagnostics.push(Diagnostic::warning(
        "CA will be renewed",
        format!("{reason}. Everything it signed keeps verifying, and nothing is re-issued; certificates and istiod take the renewed certificate into their trust bundles on their next apply."),
    ));
    true
}

/// What a renewal makes unknown until apply: the new certificate and what it says.
pub(super) fn plan_renewal(planned: &mut CertificateAuthority) {
    for attr in [&mut planned.certificate_pem, &mut planned.fingerprint_sha256, &mut planned.serial_number, &mut planned.not_after] {
        *attr = Attr::Unknown;
    }
    planned.days_remaining = Attr::Unknown;
}

/// The warning for a plan that replaces a CA plugged into istiod, if this one does. istiod
/// reloads a mounted `cacerts` only when its root stays the same (a new intermediate); a new
/// root is refused until istiod restarts, and a remote istiod reads `cacerts` only at start.
/// Either way istiod keeps signing with the old CA, which the new root does not vouch for.
pub(super) fn plugin_replaced(prior: Option<&CertificateAuthority>, config: &CertificateAuthority, replaced: bool) -> Option<Diagnostic> {
    let ns = config.istio_plugin.as_ref().and_then(IstioPlugin::namespace)?;
    prior.and_then(|p| p.istio_plugin.as_ref())?;
    replaced.then(|| {
        Diagnostic::warning(
            "istiod keeps the old CA until it restarts",
            format!(
                "This plan replaces the CA plugged into istiod ({ns}/{ISTIO_PLUGIN_SECRET}) with a new root. istiod does not take a new root while it runs: it keeps signing workload certificates with the old CA until it restarts (e.g. `kubectl -n {ns} rollout restart deployment/istiod`), and then signs with the new one, which proxies holding only the old root do not trust until they fetch it again. Plan the restart and a workload rollout with the apply, or keep the CA and rotate its root instead (a rotation block; see the guide \"Rotating the mesh root\"), which no hop notices."
            ),
        )
        .at(at("istio_plugin"))
    })
}

/// The warning for a CA in state that expires within `warn_before_days` of `now`, or has
/// expired: every certificate it signed stops verifying then, istiod's too when it is
/// plugged in, and a replaced CA is a new root its peers do not trust yet.
pub(super) fn expiry_warning(prior: &CertificateAuthority, warn_before_days: i64, now: time::OffsetDateTime) -> Option<Diagnostic> {
    let not_after = time::OffsetDateTime::parse(prior.not_after.as_deref()?, &time::format_description::well_known::Rfc3339).ok()?;
    let window = time::Duration::days(warn_before_days.clamp(0, MAX_VALIDITY_DAYS));
    if now.checked_add(window).is_some_and(|t| t < not_after) {
        return None;
    }
    let id = prior.id.as_deref().unwrap_or_default();
    let plugged = prior.istio_plugin.as_ref().and_then(IstioPlugin::namespace).map(|ns| {
        format!(" istiod signs with it ({ns}/{ISTIO_PLUGIN_SECRET}), so every workload certificate of the mesh stops verifying too.")
    });
    let when = match (not_after - now).whole_days() {
        _ if not_after <= now => "has expired".to_string(),
        0 => "expires within a day".to_string(),
        1 => "expires in 1 day".to_string(),
        d => format!("expires in {d} days"),
    };
    Some(
        Diagnostic::warning(
            format!("CA {id} {when}"),
            format!(
                "CA {id} is valid until {}; every certificate it signed stops verifying then.{} Replace it well before: a new CA is a new root, which peers trust only once they have it, and every certificate it signed must be issued again. `warn_before_days` ({warn_before_days}) sets when this warning starts.",
                pki::rfc3339(not_after),
                plugged.unwrap_or_default()
            ),
        )
        .at(at("not_after")),
    )
}

/// An update keeps what only a create sets: computed values the plan left unknown are the
/// prior state's.
pub(super) fn kept_from(mut planned: CertificateAuthority, prior: &CertificateAuthority) -> CertificateAuthority {
    for (attr, was) in [
        (&mut planned.id, &prior.id),
        (&mut planned.certificate_pem, &prior.certificate_pem),
        (&mut planned.fingerprint_sha256, &prior.fingerprint_sha256),
        (&mut planned.serial_number, &prior.serial_number),
        (&mut planned.not_after, &prior.not_after),
        (&mut planned.pca_arn, &prior.pca_arn),
        (&mut planned.common_name, &prior.common_name),
        (&mut planned.organization, &prior.organization),
    ] {
        if attr.is_unknown() {
            *attr = was.clone();
        }
    }
    if planned.days_remaining.is_unknown() {
        planned.days_remaining = prior.days_remaining.clone();
    }
    if planned.trust_bundle_pem.is_unknown() {
        planned.trust_bundle_pem = prior.trust_bundle_pem.clone();
    }
    if planned.pca_arn.is_null() {
        planned.pca_status = Attr::Null;
    }
    planned
}

/// Why the Secret no longer holds what meshtls wrote in `layout`, if it does not.
pub(super) fn secret_drift(observed: &tls_secret::ObservedSecret, certificate_pem: &str, layout: Layout) -> Vec<String> {
    let mut drift = Vec::new();
    if observed.secret_type.as_deref() != Some(layout.secret_type()) {
        drift.push(format!("its type is {:?}, not {}", observed.secret_type.as_deref().unwrap_or(""), layout.secret_type()));
    }
    if observed.layout != layout {
        drift.push(format!("its files are laid out as {:?}, not {layout:?}", observed.layout));
    }
    drift.extend(observed.layout_drift.iter().cloned());
    // A CA signs with tls.crt and tls.key; ca.crt may be absent (`kubectl create secret tls`
    // writes none), but one that names another root is drift.
    drift.extend(tls_secret::ca_files_drift(observed.tls_crt.as_deref(), observed.ca_crt.as_deref(), certificate_pem));
    if !pki::inspect(certificate_pem).is_ok_and(|info| observed.key_fits(&info)) {
        drift.push("tls.key is not the private key of the CA certificate".to_string());
    }
    drift
}
