//! `istio_revision`, shared by the Istio resources: which istiod revision (of a canary or
//! revision-based install) serves what the resource covers. Checked at validate for its form
//! and at plan against the cluster, so a typo never writes a Gateway no istiod programs.

use tfplugin::schema::Attribute;
use tfplugin::{at, Diagnostic, Diagnostics};

use crate::backends::istio::{self, DEFAULT_REVISION, ROOT_NAMESPACE};
use crate::clients::read_cache::ReadCache;
use crate::names::is_dns1123_label;

pub const ATTRIBUTE: &str = "istio_revision";

/// The schema attribute; `what` says what the revision serves in this resource.
pub fn attribute(what: &str) -> Attribute {
    Attribute::string(ATTRIBUTE).optional().description(&format!(
        "The istiod revision (`istio.io/rev`) that serves {what}, for revision-based installs, e.g. `1-24-2` or `canary`; `default` is the one `istio-injection=enabled` names. Plan checks that it is installed: the ConfigMap `istio-<revision>` (`istio` for `default`) that Istio's `istiod` chart writes in `{ROOT_NAMESPACE}`. Unset: any revision."
    ))
}

/// The form of a revision: a Kubernetes label value that can also end a ConfigMap name.
pub fn validate(revision: Option<&str>, d: &mut Diagnostics) {
    if let Some(r) = revision.filter(|r| !is_dns1123_label(r) || r.len() > 63 - "istio-".len()) {
        d.push(
            Diagnostic::error(
                "Invalid Istio revision",
                format!("{r:?} is not an Istio revision: lowercase letters, digits and '-', at most 57 characters, as `istioctl tag list` shows them (e.g. `1-24-2`)."),
            )
            .at(at(ATTRIBUTE)),
        );
    }
}

/// At plan: an error when `revision` is not installed; a warning when that cannot be read.
pub async fn check_installed(client: &kube::Client, cache: &ReadCache, revision: &str) -> Option<Diagnostic> {
    let config_map = istio::revision_config_map(revision);
    match istio::revision_installed(client, cache, revision).await {
        Ok(true) => None,
        Ok(false) => Some(
            Diagnostic::error(
                "Unknown Istio revision",
                format!(
                    "No istiod revision {revision:?} is installed: the ConfigMap {ROOT_NAMESPACE}/{config_map} that its `istiod` chart writes does not exist. Set istio_revision to an installed revision (`kubectl get configmap -n {ROOT_NAMESPACE} -l istio.io/rev` lists them), use {DEFAULT_REVISION:?}, or leave it out for any revision."
                ),
            )
            .at(at(ATTRIBUTE)),
        ),
        Err(e) => Some(
            Diagnostic::warning(
                "Could not check the Istio revision",
                format!("Reading ConfigMap {ROOT_NAMESPACE}/{config_map} failed: {e}. Grant `get` on it (docs/security.md) so plan can check the revision."),
            )
            .at(at(ATTRIBUTE)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_is_a_short_label() {
        for good in ["default", "canary", "1-24-2"] {
            let mut d = Diagnostics::new();
            validate(Some(good), &mut d);
            assert!(d.is_empty(), "{good}");
        }
        for bad in ["1.24.2", "Canary", "-x", "", &"a".repeat(58)] {
            let mut d = Diagnostics::new();
            validate(Some(bad), &mut d);
            assert_eq!(d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect::<Vec<_>>(), [ATTRIBUTE], "{bad}");
        }
        let mut d = Diagnostics::new();
        validate(None, &mut d);
        assert!(d.is_empty());
    }

    #[test]
    fn each_revision_has_the_config_map_istiods_chart_writes() {
        assert_eq!(istio::revision_config_map("default"), "istio");
        assert_eq!(istio::revision_config_map("canary"), "istio-canary");
    }
}
