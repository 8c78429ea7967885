//! The Istio side of a service's mutual TLS: a PeerAuthentication says what the workload's
//! sidecars accept (STRICT: mutual TLS only), and an optional DestinationRule says what
//! callers send it (ISTIO_MUTUAL). Istio hands certificates to every proxy itself, over SDS,
//! signed by its CA (a `meshtls_ca` plugged in as `cacerts`), so unlike App Mesh this side
//! has no certificate or trust paths: those parts of [`NodeTls`] are always empty here.
//!
//! Both objects are meshtls's own: created with its marker, changed and deleted only while
//! they carry it. Also here: which workloads a STRICT policy would cut off because no sidecar
//! or ambient enrollment would serve them.

pub mod crd;
mod enrollment;
pub mod gateway;
pub mod gateway_api;
pub mod plugin_ca;
mod policies;

pub use enrollment::*;
pub use policies::*;

use std::collections::BTreeMap;

use async_trait::async_trait;
use kube::api::ObjectMeta;
use kube::core::{NotUsed, Object};
use kube::Api;

use self::crd::{
    ClientTls, DestinationRule, DestinationRuleSpec, Kind, Mtls, PeerAuthentication, PeerAuthenticationSpec, TrafficPolicy,
    WorkloadSelector, DESTINATION_RULE, PEER_AUTHENTICATION,
};
use crate::backends::model::{ClientPolicyTls, ListenerTls, NodeTls, TlsMode, Vocabulary};
use crate::backends::{BackendError, MeshSide, NodeView, SideError};
use crate::clients::read_cache::ReadCache;
use crate::ownership::{Claim, Deleted, ObjectRef, OwnError, Owned, Owner};

const SIDE: &str = "Istio";
/// The client TLS mode that uses the certificates Istio issues.
pub const ISTIO_MUTUAL: &str = "ISTIO_MUTUAL";
/// PeerAuthentication's mutual-TLS modes.
pub const ISTIO: Vocabulary =
    Vocabulary { mesh: "Istio", strict: "STRICT", permissive: "PERMISSIVE", off: "DISABLE", inherited: Some("UNSET") };

/// One workload's (or one namespace's) mutual TLS, as `owner`'s objects named `name`.
pub struct IstioWorkload<'a> {
    pub client: &'a kube::Client,
    /// Serves refresh and plan: a namespace of N policies reads them in a list or two.
    pub cache: &'a ReadCache,
    pub owner: &'a Owner,
    pub namespace: String,
    pub name: String,
    /// The workload's pod labels; None covers the whole namespace.
    pub selector: Option<BTreeMap<String, String>>,
    /// The DestinationRule's host, when callers are to be told to use mutual TLS.
    pub host: Option<String>,
}

/// What the cluster holds under the workload's name, and whose each object is.
#[derive(Debug, Default)]
pub struct Found {
    pub peer_authentication: Option<(PeerAuthentication, Claim)>,
    pub destination_rule: Option<(DestinationRule, Claim)>,
}

fn kube_error(e: OwnError) -> SideError {
    SideError::from(e)
}

impl<'a> IstioWorkload<'a> {
    fn owned<P>(&self, kind: Kind) -> Owned<'a, Object<P, NotUsed>>
    where
        P: Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        let api = Api::namespaced_with(self.client.clone(), &self.namespace, &kind.api_resource());
        Owned::with_kind(api, ObjectRef::new(kind.kind, Some(&self.namespace), &self.name), self.owner)
    }

    fn peer_authentication(&self) -> Owned<'a, PeerAuthentication> {
        self.owned(PEER_AUTHENTICATION)
    }

    fn destination_rule(&self) -> Owned<'a, DestinationRule> {
        self.owned(DESTINATION_RULE)
    }

    /// Both objects, through the read cache (fresh from the server once an apply began).
    pub async fn found(&self) -> Result<Found, SideError> {
        Ok(Found {
            peer_authentication: self
                .peer_authentication()
                .get_cached(self.cache, &PEER_AUTHENTICATION.api_resource())
                .await
                .map_err(kube_error)?,
            destination_rule: self.destination_rule().get_cached(self.cache, &DESTINATION_RULE.api_resource()).await.map_err(kube_error)?,
        })
    }

    /// What differs from `want` (and from this side's selector and host); empty when in sync.
    /// An object that is not meshtls's counts as missing, and says whose it is.
    pub async fn drift(&self, want: &NodeTls) -> Result<Vec<String>, SideError> {
        let found = self.found().await?;
        let mut out = Vec::new();
        for (kind, claim) in [
            (PEER_AUTHENTICATION.kind, found.peer_authentication.as_ref().map(|(_, c)| c)),
            (DESTINATION_RULE.kind, found.destination_rule.as_ref().map(|(_, c)| c)),
        ] {
            if let Some(claim) = claim.filter(|c| **c != Claim::Ours) {
                out.push(format!("{kind} {}/{} {}", self.namespace, self.name, claim.describe()));
            }
        }
        let (pa, dr) = ours(&found);
        out.extend(tls_of(pa, dr).differences(want, &ISTIO));
        out.extend(unset_fields(pa, dr));
        if let Some(pa) = pa {
            let have = pa.spec.selector.as_ref().map(|s| &s.match_labels);
            if have != self.selector.as_ref() {
                out.push(format!("PeerAuthentication selector is {} (want {})", labels(have), labels(self.selector.as_ref())));
            }
        }
        if let (Some(dr), Some(host)) = (dr, &self.host) {
            if &dr.spec.host != host {
                out.push(format!("DestinationRule host is {:?} (want {host:?})", dr.spec.host));
            }
        }
        Ok(out)
    }

    /// Import: marks whichever of the two objects exist as meshtls's. False when neither does.
    pub async fn adopt(&self) -> Result<bool, SideError> {
        let pa = self.peer_authentication().adopt().await.map_err(kube_error)?;
        if let Some(pa) = &pa {
            policies::record_written(self.cache, pa).await;
        }
        let dr = self.destination_rule().adopt().await.map_err(kube_error)?;
        Ok(pa.is_some() || dr.is_some())
    }

    /// Deletes meshtls's objects; warnings name those left in place.
    pub async fn delete(&self) -> Result<Vec<tfplugin::Diagnostic>, SideError> {
        let mut warnings = Vec::new();
        let pa = self.peer_authentication().delete().await.map_err(kube_error)?;
        self.deleted_peer_authentication(&pa).await;
        for deleted in [pa, self.destination_rule().delete().await.map_err(kube_error)?] {
            warnings.extend(deleted.warning());
        }
        Ok(warnings)
    }

    /// Keeps the applied views in step with a PeerAuthentication meshtls deleted.
    async fn deleted_peer_authentication(&self, deleted: &Deleted) {
        if matches!(deleted, Deleted::Gone) {
            policies::record_deleted(self.cache, &self.namespace, &self.name).await;
        }
    }

    fn metadata(&self) -> ObjectMeta {
        ObjectMeta { name: Some(self.name.clone()), namespace: Some(self.namespace.clone()), ..Default::default() }
    }
}

/// The objects of `found` that are meshtls's.
pub fn ours(found: &Found) -> (Option<&PeerAuthentication>, Option<&DestinationRule>) {
    let mine = |c: &Claim| *c == Claim::Ours;
    (
        found.peer_authentication.as_ref().filter(|(_, c)| mine(c)).map(|(o, _)| o),
        found.destination_rule.as_ref().filter(|(_, c)| mine(c)).map(|(o, _)| o),
    )
}

fn labels(l: Option<&BTreeMap<String, String>>) -> String {
    match l {
        None => "the whole namespace".into(),
        Some(l) => format!("{{{}}}", l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")),
    }
}

/// A PeerAuthentication's own mode; one it does not set, or sets to a word Istio does not
/// know, is inherited.
pub fn mode_of(pa: &PeerAuthentication) -> TlsMode {
    pa.spec.mtls.as_ref().and_then(|m| m.mode.as_deref()).and_then(|m| ISTIO.parse(m).ok()).unwrap_or(TlsMode::Inherited)
}

/// The TLS the two objects stand for, in mesh-neutral terms.
pub fn tls_of(pa: Option<&PeerAuthentication>, dr: Option<&DestinationRule>) -> NodeTls {
    let listener = pa.map(|pa| ListenerTls { mode: mode_of(pa), certificate: None, trust: None, subject_alternative_names: Vec::new() });
    let client_policy = dr.and_then(|dr| dr.spec.traffic_policy.as_ref()?.tls.as_ref()).map(|tls| ClientPolicyTls {
        enforce: tls.mode.as_deref() == Some(ISTIO_MUTUAL),
        ports: Vec::new(),
        certificate: None,
        trust: None,
        subject_alternative_names: tls.subject_alt_names.clone(),
    });
    NodeTls { listener, client_policy }
}

/// The PeerAuthentication for `mode`: the namespace's, or the selected workload's.
pub fn peer_authentication(meta: ObjectMeta, selector: Option<&BTreeMap<String, String>>, mode: TlsMode) -> PeerAuthentication {
    PEER_AUTHENTICATION.object(
        meta,
        PeerAuthenticationSpec {
            selector: selector.map(|s| WorkloadSelector { match_labels: s.clone() }),
            mtls: Some(Mtls { mode: Some(ISTIO.spell(mode).into()) }),
            other: BTreeMap::new(),
        },
    )
}

/// The DestinationRule that has callers of `host` use Istio's mutual TLS.
pub fn destination_rule(meta: ObjectMeta, host: &str, c: &ClientPolicyTls) -> DestinationRule {
    DESTINATION_RULE.object(
        meta,
        DestinationRuleSpec {
            host: host.into(),
            traffic_policy: Some(TrafficPolicy {
                tls: Some(ClientTls {
                    mode: Some(if c.enforce { ISTIO_MUTUAL } else { "DISABLE" }.into()),
                    subject_alt_names: c.subject_alternative_names.clone(),
                    other: BTreeMap::new(),
                }),
                other: BTreeMap::new(),
            }),
            other: BTreeMap::new(),
        },
    )
}

/// Fields of meshtls's objects that the configuration does not set. meshtls owns the whole
/// spec of what it creates: a `portLevelMtls: {8080: DISABLE}` patched into its STRICT
/// policy opens a plaintext port, so every such field is drift, and apply removes it.
pub fn unset_fields(pa: Option<&PeerAuthentication>, dr: Option<&DestinationRule>) -> Vec<String> {
    let mut out = Vec::new();
    let mut name = |kind: &str, prefix: &str, fields: &BTreeMap<String, serde_json::Value>| {
        for (key, value) in fields {
            out.push(format!("{kind} sets {prefix}{key} = {}, which the configuration does not set", compact(value)));
        }
    };
    if let Some(pa) = pa {
        name(PEER_AUTHENTICATION.kind, "", &pa.spec.other);
    }
    if let Some(dr) = dr {
        name(DESTINATION_RULE.kind, "", &dr.spec.other);
        if let Some(policy) = &dr.spec.traffic_policy {
            name(DESTINATION_RULE.kind, "trafficPolicy.", &policy.other);
            if let Some(tls) = &policy.tls {
                name(DESTINATION_RULE.kind, "trafficPolicy.tls.", &tls.other);
            }
        }
    }
    out
}

/// A value as one short line of JSON, for a drift note.
fn compact(value: &serde_json::Value) -> String {
    const MAX: usize = 120;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// `want` replaces the spec of meshtls's existing object whole: fields someone added are
/// removed (see [`unset_fields`]). Labels and annotations beside meshtls's stay.
fn merge_peer_authentication(have: &mut PeerAuthentication, want: &PeerAuthentication) {
    have.spec = want.spec.clone();
}

fn merge_destination_rule(have: &mut DestinationRule, want: &DestinationRule) {
    have.spec = want.spec.clone();
}

#[async_trait]
impl MeshSide for IstioWorkload<'_> {
    fn name(&self) -> &'static str {
        SIDE
    }

    /// The objects meshtls owns; one that is someone else's reads as absent.
    async fn read(&self, _port: Option<i64>) -> Result<NodeView, SideError> {
        let found = self.found().await?;
        let (pa, dr) = ours(&found);
        Ok(NodeView { tls: tls_of(pa, dr), hostname: self.host.clone() })
    }

    /// Creates, updates or deletes the two objects so they say `tls`. Refuses objects of the
    /// same name that are not meshtls's.
    async fn write(&self, _port: Option<i64>, tls: &NodeTls) -> Result<(), SideError> {
        match &tls.listener {
            Some(l) => {
                let want = peer_authentication(self.metadata(), self.selector.as_ref(), l.mode);
                let written = self.peer_authentication().ensure(want, merge_peer_authentication).await.map_err(kube_error)?;
                policies::record_written(self.cache, &written).await;
            }
            None => {
                let deleted = self.peer_authentication().delete().await.map_err(kube_error)?;
                self.deleted_peer_authentication(&deleted).await;
                left_alone(deleted)?
            }
        }
        match (&tls.client_policy, &self.host) {
            (Some(c), Some(host)) => {
                let want = destination_rule(self.metadata(), host, c);
                self.destination_rule().ensure(want, merge_destination_rule).await.map_err(kube_error)?;
            }
            (Some(_), None) => {
                return Err(SideError::Backend(BackendError::invalid(SIDE, "the DestinationRule", "it needs a host")));
            }
            (None, _) => left_alone(self.destination_rule().delete().await.map_err(kube_error)?)?,
        }
        Ok(())
    }
}

/// Removing settings meets someone else's object: it is theirs to keep, and not an error.
fn left_alone(deleted: Deleted) -> Result<(), SideError> {
    if let Deleted::LeftAlone { object, claim } = &deleted {
        tracing::info!(%object, ?claim, "left in place");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_objects_stand_for_mesh_tls_and_back() {
        let meta = ObjectMeta { name: Some("yelb-ui".into()), ..Default::default() };
        let sel = labels(&[("app", "yelb-ui")]);
        let pa = peer_authentication(meta.clone(), Some(&sel), TlsMode::Strict);
        let policy = ClientPolicyTls {
            enforce: true,
            ports: vec![],
            certificate: None,
            trust: None,
            subject_alternative_names: vec!["spiffe://cluster.local/ns/yelb/sa/yelb-ui".into()],
        };
        let dr = destination_rule(meta, "yelb-ui.yelb.svc.cluster.local", &policy);
        let tls = tls_of(Some(&pa), Some(&dr));
        assert_eq!(tls.listener.as_ref().map(|l| l.mode), Some(TlsMode::Strict));
        assert_eq!(tls.client_policy.as_ref(), Some(&policy));
        let json = serde_json::to_value(&dr).unwrap_or_default();
        assert_eq!(json["spec"]["trafficPolicy"]["tls"]["mode"], "ISTIO_MUTUAL");
        assert_eq!(json["apiVersion"], "networking.istio.io/v1");
        let json = serde_json::to_value(&pa).unwrap_or_default();
        assert_eq!(json["spec"]["selector"]["matchLabels"]["app"], "yelb-ui");
        assert_eq!(json["spec"]["mtls"]["mode"], "STRICT");
        // A namespace-wide policy has no selector at all.
        let all = peer_authentication(ObjectMeta::default(), None, TlsMode::Permissive);
        assert!(serde_json::to_value(&all).unwrap_or_default()["spec"].get("selector").is_none());
        assert_eq!(tls_of(None, None), NodeTls::default());
    }

    #[test]
    fn every_field_the_configuration_does_not_set_is_drift_and_apply_removes_it() {
        let meta = ObjectMeta::default();
        let strict = peer_authentication(meta.clone(), None, TlsMode::Strict);
        let policy = ClientPolicyTls { enforce: true, ports: vec![], certificate: None, trust: None, subject_alternative_names: vec![] };
        let rule = destination_rule(meta.clone(), "new", &policy);
        assert!(unset_fields(Some(&strict), Some(&rule)).is_empty(), "what meshtls writes is all set by the configuration");

        // A port-level DISABLE inside meshtls's own STRICT policy: a plaintext port.
        let mut have = peer_authentication(meta.clone(), None, TlsMode::Strict);
        have.spec.other.insert("portLevelMtls".into(), serde_json::json!({ "8080": { "mode": "DISABLE" } }));
        assert_eq!(
            unset_fields(Some(&have), None),
            [r#"PeerAuthentication sets portLevelMtls = {"8080":{"mode":"DISABLE"}}, which the configuration does not set"#]
        );
        assert!(tls_of(Some(&have), None).differences(&tls_of(Some(&strict), None), &ISTIO).is_empty(), "the mode alone reads STRICT");
        merge_peer_authentication(&mut have, &strict);
        assert_eq!(have.spec, strict.spec, "apply writes the whole spec");
        // A mode set to UNSET inherits, whatever the namespace says: drift from STRICT.
        let mut unset = strict.clone();
        unset.spec.mtls = Some(Mtls { mode: Some("UNSET".into()) });
        assert_eq!(
            tls_of(Some(&unset), None).differences(&tls_of(Some(&strict), None), &ISTIO),
            ["listener TLS mode is UNSET (want STRICT)"]
        );

        let mut have = destination_rule(meta.clone(), "old", &policy);
        if let Some(p) = have.spec.traffic_policy.as_mut() {
            p.other.insert("portLevelSettings".into(), serde_json::json!([{ "port": { "number": 8080 }, "tls": { "mode": "DISABLE" } }]));
            if let Some(t) = p.tls.as_mut() {
                t.other.insert("sni".into(), serde_json::json!("x".repeat(300)));
            }
        }
        let notes = unset_fields(None, Some(&have));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("DestinationRule sets trafficPolicy.portLevelSettings = [{"), "{notes:?}");
        assert!(
            notes[1].starts_with("DestinationRule sets trafficPolicy.tls.sni = ") && notes[1].chars().count() < 220,
            "bounded: {notes:?}"
        );
        merge_destination_rule(&mut have, &rule);
        assert_eq!(have.spec, rule.spec);
        assert!(unset_fields(None, Some(&have)).is_empty());
    }
}
