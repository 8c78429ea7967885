//! The typed calls on one object meshtls owns: read with its claim, create or replace,
//! patch, delete and adopt, each conditioned on what was read and run under the one
//! conflict-retry policy.

use std::fmt::Debug;

use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Claim, Deleted, ObjectRef, OwnError, Owner, FIELD_MANAGER};
use crate::clients::error::{retry_conflicts, BackendError, ErrorKind};
use crate::clients::read_cache::{ReadCache, Scope};

/// The typed calls on one object of kind `K`, as one resource.
pub struct Owned<'a, K: Resource> {
    api: Api<K>,
    object: ObjectRef,
    owner: &'a Owner,
}

impl<'a, K> Owned<'a, K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    pub fn new(api: Api<K>, namespace: Option<&str>, name: &str, owner: &'a Owner) -> Self {
        let kind = K::kind(&K::DynamicType::default()).into_owned();
        Owned { api, object: ObjectRef::new(&kind, namespace, name), owner }
    }
}

impl<'a, K> Owned<'a, K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    /// For kinds whose type is known only at run time (`DynamicObject`).
    pub fn with_kind(api: Api<K>, object: ObjectRef, owner: &'a Owner) -> Self {
        Owned { api, object, owner }
    }

    fn kube(&self, source: kube::Error) -> OwnError {
        OwnError::Kube(BackendError::kube("cluster", self.object.to_string(), source))
    }

    /// A failed write, where an object gone since it was read counts as changed: the next
    /// round reads it again.
    fn raced_if_gone(&self, source: kube::Error) -> OwnError {
        let mut e = BackendError::kube("cluster", self.object.to_string(), source);
        if e.is(ErrorKind::NotFound) {
            e.kind = ErrorKind::Conflict;
        }
        OwnError::Kube(e)
    }

    /// Runs one read-modify-write round under the conflict policy; rounds that keep racing
    /// end as `Contended`.
    async fn rounds<T, Fut>(&self, round: impl FnMut() -> Fut) -> Result<T, OwnError>
    where
        Fut: std::future::Future<Output = Result<T, OwnError>>,
    {
        retry_conflicts(round, OwnError::raced).await.map_err(|e| {
            if e.raced() {
                OwnError::Contended { object: self.object.clone() }
            } else {
                e
            }
        })
    }

    fn not_ours(&self, claim: Claim) -> OwnError {
        OwnError::NotOurs { object: self.object.clone(), claim }
    }

    /// The object, fresh from the server, and whose it is.
    pub async fn get(&self) -> Result<Option<(K, Claim)>, OwnError> {
        let found = self.api.get_opt(&self.object.name).await.map_err(|e| self.kube(e))?;
        Ok(self.claimed(found))
    }

    /// The object and whose it is, read through `cache` (for refresh and plan: one list of a
    /// namespace's objects serves every resource; see `read_cache`). Only objects carrying
    /// meshtls's label are listed; any other is read with a GET.
    pub async fn get_cached(&self, cache: &ReadCache, dyntype: &K::DynamicType) -> Result<Option<(K, Claim)>, OwnError>
    where
        K: Send + Sync + 'static,
    {
        let namespace = self.object.namespace.clone().unwrap_or_default();
        let found =
            cache.get_opt(&self.api, dyntype, Scope::Managed, &namespace, &self.object.name, |_| {}).await.map_err(|e| self.kube(e))?;
        Ok(self.claimed(found))
    }

    /// The object found, with whose it is.
    fn claimed(&self, found: Option<K>) -> Option<(K, Claim)> {
        found.map(|o| {
            let claim = self.owner.claim(o.meta());
            (o, claim)
        })
    }

    /// The object when it is this resource's; `None` when it is absent or someone else's.
    pub async fn get_ours(&self) -> Result<Option<K>, OwnError> {
        Ok(self.get().await?.and_then(|(o, claim)| (claim == Claim::Ours).then_some(o)))
    }

    /// Fails when an object of this name exists that is not this resource's, so a create
    /// can refuse before it writes anything.
    pub async fn check_free(&self) -> Result<(), OwnError> {
        match self.get().await? {
            Some((_, claim)) if claim != Claim::Ours => Err(self.not_ours(claim)),
            _ => Ok(()),
        }
    }

    /// Creates `desired` with the marker, or, when this resource's object of that name
    /// exists, replaces it with `update(existing, desired)`. Refuses an object that is not
    /// this resource's. Returns the object as the server now holds it.
    pub async fn ensure(&self, mut desired: K, update: impl Fn(&mut K, &K)) -> Result<K, OwnError> {
        self.owner.mark(desired.meta_mut());
        desired.meta_mut().name = Some(self.object.name.clone());
        let post = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        self.rounds(|| async {
            match self.get().await? {
                // Created in the meantime (AlreadyExists): the next round looks at it.
                None => self.api.create(&post, &desired).await.map_err(|e| self.kube(e)),
                Some((_, claim)) if claim != Claim::Ours => Err(self.not_ours(claim)),
                Some((existing, _)) => {
                    let mut next = existing.clone();
                    update(&mut next, &desired);
                    self.owner.mark(next.meta_mut());
                    if serde_json::to_value(&next).ok() == serde_json::to_value(&existing).ok() {
                        return Ok(existing);
                    }
                    // `next` keeps the resourceVersion read above: a concurrent change fails
                    // the replace with a conflict instead of being overwritten.
                    self.api.replace(&self.object.name, &post, &next).await.map_err(|e| self.raced_if_gone(e))
                }
            }
        })
        .await
    }

    /// Merges `patch` into this resource's object, conditioned on the version read, so the
    /// object cannot change hands in between. Refuses an object that is not this resource's;
    /// `Ok(false)` when it does not exist.
    pub async fn patch(&self, patch: &serde_json::Value) -> Result<bool, OwnError> {
        self.rounds(|| async {
            let Some((existing, claim)) = self.get().await? else { return Ok(false) };
            if claim != Claim::Ours {
                return Err(self.not_ours(claim));
            }
            let mut patch = patch.clone();
            patch["metadata"]["resourceVersion"] = existing.meta().resource_version.clone().into();
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
            match self.api.patch(&self.object.name, &params, &Patch::Merge(&patch)).await {
                Ok(_) => Ok(true),
                Err(e) => match self.kube(e) {
                    e if e.kind() == Some(ErrorKind::NotFound) => Ok(false),
                    e => Err(e),
                },
            }
        })
        .await
    }

    /// Deletes this resource's object; leaves someone else's in place and says so.
    pub async fn delete(&self) -> Result<Deleted, OwnError> {
        self.rounds(|| async {
            let Some((existing, claim)) = self.get().await? else { return Ok(Deleted::Gone) };
            if claim != Claim::Ours {
                tracing::warn!(object = %self.object, ?claim, "not deleting an object meshtls does not own");
                return Ok(Deleted::LeftAlone { object: self.object.clone(), claim });
            }
            let meta = existing.meta();
            let params = DeleteParams {
                preconditions: Some(Preconditions { uid: meta.uid.clone(), resource_version: meta.resource_version.clone() }),
                ..Default::default()
            };
            // Changed or replaced since it was read (a conflict): the next round looks again.
            match self.api.delete(&self.object.name, &params).await {
                Ok(_) => Ok(Deleted::Gone),
                Err(e) => match self.kube(e) {
                    e if e.kind() == Some(ErrorKind::NotFound) => Ok(Deleted::Gone),
                    e => Err(e),
                },
            }
        })
        .await
    }

    /// Import: marks the object as this resource's, whoever made it. `None` when it does not
    /// exist. One another meshtls resource (or state) held is noted for
    /// [`Owner::takeover_warnings`].
    pub async fn adopt(&self) -> Result<Option<K>, OwnError> {
        if let Some((_, claim @ (Claim::OtherResource(_) | Claim::OtherState { .. }))) = self.get().await? {
            if let Ok(mut taken) = self.owner.taken_over.lock() {
                taken.push((self.object.clone(), claim));
            }
        }
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        match self.api.patch(&self.object.name, &params, &Patch::Merge(&self.owner.marker_patch())).await {
            Ok(o) => Ok(Some(o)),
            Err(e) => match self.kube(e) {
                e if e.kind() == Some(ErrorKind::NotFound) => Ok(None),
                e => Err(e),
            },
        }
    }
}
