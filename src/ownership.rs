//! Ownership: meshtls changes and deletes only the Kubernetes objects it created or was told
//! to import. Each carries a marker, the `app.kubernetes.io/managed-by: meshtls` label and an
//! annotation naming the resource that owns it. Every write and delete reads the object from
//! the server first (never from the read cache), checks the marker, and sends the change
//! conditioned on the resourceVersion (or UID) it read, so an object replaced in between by
//! someone else is not touched.
//!
//! Writes are a plain create, or a replace of an object meshtls owns: never a forced
//! server-side apply, which would take fields over from whichever manager owns them.

use std::fmt::{self, Debug, Display};

use kube::api::ObjectMeta;

use crate::clients::error::{BackendError, ErrorKind};

mod owned;
pub use owned::Owned;

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "meshtls";
/// Names the owning resource as `<resource type>:<id>`.
pub const OWNER_ANNOTATION: &str = "meshtls.dev/owner";
/// The same, as the tag on AWS objects (App Mesh, ACM Private CA).
pub const OWNER_TAG: &str = OWNER_ANNOTATION;
pub const FIELD_MANAGER: &str = "meshtls";

/// The resource an object belongs to: its type and id, and the owner id its state holds.
///
/// Two Terraform states can hold resources of the same type and id (two teams, each with a
/// namespace-wide policy for one namespace). The owner id, random and written at create or
/// import, tells their objects apart: the marker carries it as `<type>:<id>#<owner id>`.
#[derive(Clone, Debug)]
pub struct Owner {
    resource: String,
    /// None for a state written before owner ids: it owns only objects that carry none.
    id: Option<String>,
    /// Objects an import took over from another meshtls resource or state, to warn of.
    taken_over: std::sync::Arc<std::sync::Mutex<Vec<(ObjectRef, Claim)>>>,
}

/// Characters of an owner id: 96 random bits in hex.
const OWNER_ID_BYTES: usize = 12;

impl Owner {
    /// An owner as a state written before owner ids knows itself.
    pub fn new(resource_type: &str, id: &str) -> Owner {
        Owner { resource: format!("{resource_type}:{id}"), id: None, taken_over: Default::default() }
    }

    /// A new owner, for a create or an import: a fresh random owner id.
    pub fn fresh(resource_type: &str, id: &str) -> Result<Owner, OwnerIdError> {
        let mut bytes = [0u8; OWNER_ID_BYTES];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| OwnerIdError)?;
        let id_hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Owner { id: Some(id_hex), ..Owner::new(resource_type, id) })
    }

    /// The owner a resource's `owner_id` attribute stands for: a known id is the state's; an
    /// unknown one (a create) becomes a fresh id; null is a state from before owner ids.
    pub fn of_attr(resource_type: &str, id: &str, owner_id: &tfplugin::Attr<String>) -> Result<Owner, OwnerIdError> {
        match owner_id {
            tfplugin::Attr::Known(owner_id) => Ok(Owner { id: Some(owner_id.clone()), ..Owner::new(resource_type, id) }),
            tfplugin::Attr::Unknown => Owner::fresh(resource_type, id),
            tfplugin::Attr::Null => Ok(Owner::new(resource_type, id)),
        }
    }

    /// The state's `owner_id` attribute.
    pub fn attr(&self) -> tfplugin::Attr<String> {
        self.id.clone().map_or(tfplugin::Attr::Null, tfplugin::Attr::Known)
    }

    /// Warnings for every object an import of this owner took over from another meshtls
    /// resource or Terraform state: that one no longer manages it, and says so at its next plan.
    pub fn takeover_warnings(&self) -> Vec<tfplugin::Diagnostic> {
        let taken = self.taken_over.lock().map(|t| t.clone()).unwrap_or_default();
        taken
            .into_iter()
            .map(|(object, claim)| {
                tfplugin::Diagnostic::warning(
                    format!("{object} taken over"),
                    format!("{object} {} until this import. It is now this resource's; the other one will refuse to change or delete it. Remove that one from its configuration (a `removed` block with `destroy = false`, or `terraform state rm`).", claim.describe().replacen("belongs", "belonged", 1)),
                )
            })
            .collect()
    }

    /// The marker's value, as written in the owner annotation or tag.
    pub fn marker(&self) -> String {
        match &self.id {
            Some(id) => format!("{}#{id}", self.resource),
            None => self.resource.clone(),
        }
    }

    /// Puts the marker on `meta`, keeping every other label and annotation.
    pub fn mark(&self, meta: &mut ObjectMeta) {
        meta.labels.get_or_insert_with(Default::default).insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        meta.annotations.get_or_insert_with(Default::default).insert(OWNER_ANNOTATION.into(), self.marker());
    }

    /// The marker as a merge patch of `metadata`.
    pub fn marker_patch(&self) -> serde_json::Value {
        serde_json::json!({ "metadata": {
            "labels": { MANAGED_BY_LABEL: MANAGED_BY },
            "annotations": { OWNER_ANNOTATION: self.marker() },
        }})
    }

    /// Whose object `meta` is, from this resource's point of view.
    pub fn claim(&self, meta: &ObjectMeta) -> Claim {
        let label = meta.labels.as_ref().and_then(|l| l.get(MANAGED_BY_LABEL));
        if label.map(String::as_str) != Some(MANAGED_BY) {
            return Claim::Foreign;
        }
        // Without the annotation: written by meshtls before objects named their owner.
        self.claim_recorded(meta.annotations.as_ref().and_then(|a| a.get(OWNER_ANNOTATION)).map(String::as_str), Claim::Ours)
    }

    /// Whose an object is, from the owner it records (an annotation, a tag); `unrecorded`
    /// when it records none.
    pub fn claim_recorded(&self, recorded: Option<&str>, unrecorded: Claim) -> Claim {
        let Some(recorded) = recorded else { return unrecorded };
        let (resource, owner_id) = match recorded.split_once('#') {
            Some((resource, id)) => (resource, Some(id)),
            None => (recorded, None),
        };
        if resource != self.resource {
            return Claim::OtherResource(resource.to_string());
        }
        // A state with an owner id owns only what carries it; a state from before owner
        // ids owns only what carries none.
        if owner_id == self.id.as_deref() {
            Claim::Ours
        } else {
            Claim::OtherState { resource: resource.to_string(), owner_id: owner_id.map(str::to_string) }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the system's random number generator failed, so no owner id could be made")]
pub struct OwnerIdError;

impl From<OwnerIdError> for tfplugin::Diagnostic {
    fn from(e: OwnerIdError) -> Self {
        tfplugin::Diagnostic::error("Failed to make an owner id", e.to_string())
    }
}

impl<M> From<OwnerIdError> for tfplugin::Failure<M> {
    fn from(e: OwnerIdError) -> Self {
        tfplugin::Failure::new(tfplugin::Diagnostic::from(e))
    }
}

impl Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.marker())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Created (or imported) by this resource.
    Ours,
    /// Created by another meshtls resource, perhaps in another state.
    OtherResource(String),
    /// Created by a resource of the same type and id in another Terraform state (or, without
    /// an owner id, by one written before owner ids).
    OtherState { resource: String, owner_id: Option<String> },
    /// Not created by meshtls.
    Foreign,
}

impl Claim {
    /// Completes "… exists and …".
    pub fn describe(&self) -> String {
        match self {
            Claim::Ours => "is managed by this resource".into(),
            Claim::OtherResource(owner) => format!("belongs to another meshtls resource ({owner})"),
            Claim::OtherState { resource, owner_id: Some(id) } => {
                format!("belongs to {resource} of another Terraform state (owner id {id}, not this state's)")
            }
            Claim::OtherState { resource, owner_id: None } => {
                format!("belongs to {resource} of another Terraform state (it records no owner id, so it predates owner ids)")
            }
            Claim::Foreign => "was not created by meshtls".into(),
        }
    }
}

/// An object by kind and name, for messages: `Issuer yelb/ca-issuer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef { kind: kind.into(), namespace: namespace.map(str::to_string), name: name.into() }
    }
}

impl Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OwnError {
    #[error("{object} exists and {}", claim.describe())]
    NotOurs { object: ObjectRef, claim: Claim },
    #[error(transparent)]
    Kube(BackendError),
    #[error("{object} kept changing while meshtls wrote it; try again")]
    Contended { object: ObjectRef },
}

impl OwnError {
    /// The object changed between meshtls's read and its write: read again and retry.
    fn raced(&self) -> bool {
        matches!(self, OwnError::Kube(e) if e.is(ErrorKind::Conflict) || e.is(ErrorKind::AlreadyExists))
    }

    /// Someone else's object stays a refusal (`Err`); anything else is a failed call to the
    /// cluster, and a write that kept racing is a conflict.
    pub fn into_backend(self) -> Result<BackendError, Box<OwnError>> {
        match self {
            OwnError::Kube(e) => Ok(e),
            OwnError::Contended { object } => Ok(BackendError {
                side: "cluster",
                kind: ErrorKind::Conflict,
                what: object.to_string(),
                hint: "",
                source: "it kept changing while meshtls wrote it; try again".into(),
            }),
            e @ OwnError::NotOurs { .. } => Err(Box::new(e)),
        }
    }

    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            OwnError::Kube(e) => Some(e.kind),
            _ => None,
        }
    }

    /// The diagnostic for a failed write. `import` is how to bring the object under this
    /// resource instead (a command line), for when it is someone else's.
    pub fn diagnostic(&self, action: &str, import: &str) -> tfplugin::Diagnostic {
        match self {
            OwnError::NotOurs { object, claim } => tfplugin::Diagnostic::error(
                format!("{object} already exists"),
                format!(
                    "{object} exists and {}, so meshtls will not change or delete it. Choose another name, or, to manage this object with meshtls, import it: `{import}`.",
                    claim.describe()
                ),
            ),
            other => tfplugin::Diagnostic::error(format!("Failed to {action}"), other.to_string()),
        }
    }
}

/// The plan-time refusal of every object found under a resource's name that is not its own:
/// `found` pairs each kind with the claim on the object of that kind, if one exists. Each
/// diagnostic names the object and says how to import it (`import`, a command line), so a
/// create is refused before anything is written.
pub fn refusals<'a>(
    found: impl IntoIterator<Item = (&'a str, Option<&'a Claim>)>,
    namespace: &str,
    name: &str,
    action: &str,
    import: &str,
) -> Vec<tfplugin::Diagnostic> {
    found
        .into_iter()
        .filter_map(|(kind, claim)| claim.filter(|c| **c != Claim::Ours).map(|c| (kind, c)))
        .map(|(kind, claim)| {
            OwnError::NotOurs { object: ObjectRef::new(kind, Some(namespace), name), claim: claim.clone() }.diagnostic(action, import)
        })
        .collect()
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted now, or already gone.
    Gone,
    /// Someone else's object of that name, left in place.
    LeftAlone { object: ObjectRef, claim: Claim },
}

impl Deleted {
    /// A warning for an object left in place, naming it.
    pub fn warning(&self) -> Option<tfplugin::Diagnostic> {
        match self {
            Deleted::Gone => None,
            Deleted::LeftAlone { object, claim } => Some(tfplugin::Diagnostic::warning(
                format!("{object} left in place"),
                format!("{object} exists and {}, so destroy did not delete it.", claim.describe()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn meta(label: Option<&str>, owner: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            labels: label.map(|l| BTreeMap::from([(MANAGED_BY_LABEL.to_string(), l.to_string())])),
            annotations: owner.map(|o| BTreeMap::from([(OWNER_ANNOTATION.to_string(), o.to_string())])),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_marker_makes_an_object_ours() {
        let owner = Owner::new("meshtls_ca", "yelb/ca-key-pair");
        assert_eq!(owner.claim(&meta(None, None)), Claim::Foreign);
        assert_eq!(owner.claim(&meta(Some("helm"), Some("meshtls_ca:yelb/ca-key-pair"))), Claim::Foreign);
        assert_eq!(owner.claim(&meta(Some("meshtls"), Some("meshtls_ca:yelb/ca-key-pair"))), Claim::Ours);
        assert_eq!(owner.claim(&meta(Some("meshtls"), None)), Claim::Ours, "written before objects named their owner");
        assert_eq!(owner.claim(&meta(Some("meshtls"), Some("meshtls_ca:other/ca"))), Claim::OtherResource("meshtls_ca:other/ca".into()));
    }

    #[test]
    fn a_recorded_owner_decides_and_an_unrecorded_one_falls_back() {
        let owner = Owner::new("meshtls_gateway", "yelb/gw");
        assert_eq!(owner.claim_recorded(Some("meshtls_gateway:yelb/gw"), Claim::Foreign), Claim::Ours);
        assert_eq!(
            owner.claim_recorded(Some("meshtls_gateway:yelb/other"), Claim::Ours),
            Claim::OtherResource("meshtls_gateway:yelb/other".into())
        );
        assert_eq!(owner.claim_recorded(None, Claim::Foreign), Claim::Foreign);
        assert_eq!(owner.claim_recorded(None, Claim::Ours), Claim::Ours);
    }

    #[test]
    fn the_owner_id_tells_two_states_apart() {
        let ours = Owner::fresh("meshtls_istio_mtls", "yelb/default").expect("owner id");
        let theirs = Owner::fresh("meshtls_istio_mtls", "yelb/default").expect("owner id");
        assert_ne!(ours.attr(), theirs.attr());
        assert_eq!(ours.attr().known().map(String::len), Some(2 * OWNER_ID_BYTES));
        let mut m = ObjectMeta::default();
        theirs.mark(&mut m);
        assert!(matches!(ours.claim(&m), Claim::OtherState { owner_id: Some(_), .. }), "{:?}", ours.claim(&m));
        assert_eq!(theirs.claim(&m), Claim::Ours);
        // The state reads its owner id back from its attribute.
        let again = Owner::of_attr("meshtls_istio_mtls", "yelb/default", &theirs.attr()).expect("owner");
        assert_eq!(again.claim(&m), Claim::Ours);
        // A state from before owner ids owns only unmarked-by-id objects, and a new state
        // does not take those over.
        let legacy = Owner::new("meshtls_istio_mtls", "yelb/default");
        assert!(matches!(legacy.claim(&m), Claim::OtherState { .. }));
        let mut old = ObjectMeta::default();
        legacy.mark(&mut old);
        assert_eq!(legacy.claim(&old), Claim::Ours);
        assert_eq!(ours.claim(&old), Claim::OtherState { resource: "meshtls_istio_mtls:yelb/default".into(), owner_id: None });
        assert!(ours.claim(&old).describe().contains("another Terraform state"), "{}", ours.claim(&old).describe());
        // Another resource stays another resource, whatever its owner id.
        let other = Owner::fresh("meshtls_istio_mtls", "yelb/db").expect("owner id");
        let mut m = ObjectMeta::default();
        other.mark(&mut m);
        assert_eq!(ours.claim(&m), Claim::OtherResource("meshtls_istio_mtls:yelb/db".into()));
    }

    #[test]
    fn an_import_that_takes_an_object_over_warns() {
        let owner = Owner::fresh("meshtls_nlb_service", "yelb/edge").expect("owner");
        assert!(owner.takeover_warnings().is_empty());
        let object = ObjectRef::new("Service", Some("yelb"), "edge");
        let claim = Claim::OtherState { resource: "meshtls_nlb_service:yelb/edge".into(), owner_id: Some("00ff".into()) };
        owner.taken_over.lock().expect("lock").push((object, claim));
        let warnings = owner.takeover_warnings();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].summary, "Service yelb/edge taken over");
        assert!(
            warnings[0].detail.contains("belonged to meshtls_nlb_service:yelb/edge of another Terraform state"),
            "{}",
            warnings[0].detail
        );
        assert!(warnings[0].detail.contains("removed"), "says what to do with the other one: {}", warnings[0].detail);
        // Clones share the record, as the calls of one import do.
        assert_eq!(owner.clone().takeover_warnings().len(), 1);
    }

    #[test]
    fn marking_keeps_other_labels() {
        let owner = Owner::new("meshtls_certificate", "yelb/db");
        let mut m = ObjectMeta { labels: Some(BTreeMap::from([("team".to_string(), "a".to_string())])), ..Default::default() };
        owner.mark(&mut m);
        assert_eq!(owner.claim(&m), Claim::Ours);
        assert_eq!(m.labels.as_ref().and_then(|l| l.get("team")).map(String::as_str), Some("a"));
        assert_eq!(owner.marker_patch()["metadata"]["annotations"][OWNER_ANNOTATION], "meshtls_certificate:yelb/db");
    }

    #[test]
    fn a_refusal_names_the_object_and_how_to_import_it() {
        let e = OwnError::NotOurs { object: ObjectRef::new("Issuer", Some("yelb"), "team-issuer"), claim: Claim::Foreign };
        let d = e.diagnostic("create the issuer", "terraform import meshtls_ca.x yelb/ca-key-pair:Issuer/team-issuer");
        assert_eq!(d.summary, "Issuer yelb/team-issuer already exists");
        assert!(d.detail.contains("was not created by meshtls"), "{}", d.detail);
        assert!(d.detail.contains("terraform import meshtls_ca.x yelb/ca-key-pair:Issuer/team-issuer"), "{}", d.detail);
        let left =
            Deleted::LeftAlone { object: ObjectRef::new("Secret", Some("a"), "b"), claim: Claim::Foreign }.warning().expect("warning");
        assert!(left.detail.contains("Secret a/b exists and was not created by meshtls"), "{}", left.detail);
        assert!(Deleted::Gone.warning().is_none());
    }
}
