//! Kubernetes object-name rules, checked at plan time so mistakes never reach the API.

use tfplugin::{Attr, AttributePath, Diagnostics, Validator, Value};

/// RFC 1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, at most
/// 63 characters (namespaces, Service names).
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters (Secret and most object
/// names).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// An import ID of the form `namespace/name`, both RFC 1123 labels.
pub fn parse_namespaced_id(id: &str) -> Result<(&str, &str), tfplugin::Diagnostic> {
    id.split_once('/')
        .filter(|(ns, n)| is_dns1123_label(ns) && is_dns1123_label(n))
        .ok_or_else(|| tfplugin::Diagnostic::error("Invalid import ID", format!("{id:?} is not `namespace/name`.")))
}

/// A namespace name (or any RFC 1123 label: a Service's, a gateway's), as a schema rule.
pub fn label(what: &'static str) -> Validator {
    Validator::custom(&format!("A {what}: lowercase letters, digits and '-', at most 63 characters."), move |_, v| {
        v.as_str()
            .filter(|s| !is_dns1123_label(s))
            .map(|s| format!("{s:?} is not a valid {what}: use lowercase letters, digits and '-', at most 63 characters."))
    })
}

/// A Secret's (or another object's) name, an RFC 1123 subdomain, as a schema rule.
pub fn subdomain(what: &'static str) -> Validator {
    Validator::custom(&format!("A {what}: lowercase letters, digits, '-' and '.', at most 253 characters."), move |_, v| {
        v.as_str()
            .filter(|s| !is_dns1123_subdomain(s))
            .map(|s| format!("{s:?} is not a valid {what}: use lowercase letters, digits, '-' and '.', at most 253 characters."))
    })
}

/// The namespace rule, for a configuration without a schema validator (list resources).
pub fn check_namespace(d: &mut Diagnostics, value: Option<&str>, attr: &str) {
    if let Some(problem) = value.and_then(|v| label("namespace name").check(attr, &Value::from(v))) {
        d.error_at(AttributePath::attrs(&[attr]), "Invalid namespace", problem);
    }
}

/// An error at `path` unless the port is null, unknown or a port number (1 to 65535).
pub fn check_port(d: &mut Diagnostics, port: &Attr<i64>, path: AttributePath) {
    if let Some(p) = port.known().filter(|p| !(1..=65535).contains(*p)) {
        d.error_at(path, "Invalid port", format!("{p} is not a port number (1 to 65535)."));
    }
}

/// Why `name` is not a valid certificate DNS name, if it is not: RFC 1123 labels, with `*`
/// allowed only as the whole leftmost label of a name with at least two more labels.
pub fn dns_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 253 {
        return Some("a DNS name has 1 to 253 characters".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if *label == "*" {
            if i != 0 {
                return Some("a wildcard may only be the whole leftmost label, as in *.yelb.svc.cluster.local".into());
            }
            if labels.len() < 3 {
                return Some("a wildcard needs at least two labels after it, as in *.yelb.svc.cluster.local".into());
            }
            continue;
        }
        if label.contains('*') {
            return Some("a wildcard may only be the whole leftmost label, as in *.yelb.svc.cluster.local".into());
        }
        if label.bytes().any(|b| b.is_ascii_uppercase()) {
            return Some("use lowercase: App Mesh hostnames are lowercase".into());
        }
        if !is_dns1123_label(label) {
            return Some(format!("label {label:?} is not an RFC 1123 label (letters, digits and '-', not at either end, at most 63)"));
        }
    }
    None
}

/// True when certificate name `pattern` (possibly a `*.` wildcard) covers `host`.
pub fn dns_name_covers(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_ids_are_namespace_slash_name() {
        assert_eq!(parse_namespaced_id("yelb/yelb-nlb").ok(), Some(("yelb", "yelb-nlb")));
        for bad in ["yelb", "yelb/", "/x", "Yelb/x", "a/b/c"] {
            assert!(parse_namespaced_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports_are_bounded() {
        for (v, ok) in
            [(Attr::Known(443), true), (Attr::Known(0), false), (Attr::Known(65536), false), (Attr::Unknown, true), (Attr::Null, true)]
        {
            let mut d = Diagnostics::new();
            check_port(&mut d, &v, AttributePath::attrs(&["port"]));
            assert_eq!(d.has_errors(), !ok, "{v:?}");
        }
    }

    #[test]
    fn names_follow_rfc1123() {
        assert!(is_dns1123_label("yelb"));
        assert!(is_dns1123_subdomain("ca-key-pair.v2"));
        for bad in ["", "Yelb", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert!(!is_dns1123_subdomain("a..b"));
    }

    #[test]
    fn certificate_names_allow_only_leftmost_wildcards() {
        for ok in ["yelb-db.yelb.svc.cluster.local", "*.yelb.svc.cluster.local", "localhost"] {
            assert_eq!(dns_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "a.*.b", "*", "*.local", "a*.yelb.svc", "Yelb.local", "-a.b", "a..b", "under_score.local"] {
            assert!(dns_name_problem(bad).is_some(), "{bad}");
        }
        assert!(dns_name_covers("*.yelb.svc.cluster.local", "yelb-db.yelb.svc.cluster.local"));
        assert!(!dns_name_covers("*.yelb.svc.cluster.local", "a.b.yelb.svc.cluster.local"));
        assert!(dns_name_covers("yelb-db.yelb.svc.cluster.local", "yelb-db.yelb.svc.cluster.local"));
        assert!(!dns_name_covers("yelb-ui.yelb.svc.cluster.local", "yelb-db.yelb.svc.cluster.local"));
    }
}
