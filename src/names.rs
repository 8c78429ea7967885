//! Kubernetes object-name rules, checked at plan time so mistakes never reach the API.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc1123() {
        assert!(is_dns1123_label("yelb"));
        assert!(is_dns1123_subdomain("ca-key-pair.v2"));
        for bad in ["", "Yelb", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert!(!is_dns1123_subdomain("a..b"));
    }
}
