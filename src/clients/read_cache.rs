//! Reads coalesced within one provider process. The CLI refreshes and plans every resource
//! in one process; with hundreds of services in a namespace, one GET per resource per phase
//! would make plans slow and could draw throttling. So the second read of a kind in a
//! namespace lists them all (paginated), and every later read is served from that list; the
//! same App Mesh node read twice (refresh, then plan) is described once.
//!
//! Only reads before the process's first apply are cached: once it starts changing objects,
//! every read goes to the server again. The exception is a value [`ReadCache::kept`] holds:
//! read once, then kept in step by the writer itself with every change it makes, for views
//! that each of N applies would otherwise read whole (N objects each time).
//!
//! Kinds meshtls creates (Secrets above all) are listed by its managed-by label only
//! ([`Scope::Managed`]), so other applications' Secrets are never held in memory. Kinds it
//! changes but does not create (VirtualNodes, Deployments) are listed whole. A name the list
//! does not hold is read with a GET (it may be absent, or not carry the label), and an
//! identity that may not list a kind is served with GETs too: `list` is never required.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kube::api::ListParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use super::error::ErrorKind;
use crate::ownership::{MANAGED_BY, MANAGED_BY_LABEL};

/// Small enough that one page's response and its parsed objects stay a few megabytes.
const PAGE_SIZE: u32 = 100;

type Listed = Arc<dyn Any + Send + Sync>;

/// Which objects of a kind a list may bring into memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Only those carrying meshtls's managed-by label: for kinds meshtls creates.
    Managed,
    /// All of them: for kinds meshtls changes but others create.
    All,
}

#[derive(Default)]
struct KindInNamespace {
    read_once: AtomicBool,
    /// `None` when the list was refused (403): every read of the kind is a GET.
    list: OnceCell<Option<Listed>>,
}

pub struct ReadCache {
    caching: AtomicBool,
    kube: Mutex<HashMap<(String, String, Scope), Arc<KindInNamespace>>>,
    memo: Mutex<HashMap<(&'static str, String), Listed>>,
    kept: Mutex<HashMap<(&'static str, String), Listed>>,
}

/// A kept value: None until first read.
type Kept<T> = tokio::sync::Mutex<Option<T>>;

impl Default for ReadCache {
    fn default() -> Self {
        ReadCache { caching: AtomicBool::new(true), kube: Mutex::default(), memo: Mutex::default(), kept: Mutex::default() }
    }
}

impl ReadCache {
    /// From now on every read goes to the server, and what was cached is dropped.
    pub fn stop_caching(&self) {
        if self.caching.swap(false, Ordering::SeqCst) {
            self.kube.lock().map(|mut m| m.clear()).ok();
            self.memo.lock().map(|mut m| m.clear()).ok();
        }
    }

    /// False once the process has started applying (see [`ReadCache::stop_caching`]).
    pub fn caching(&self) -> bool {
        self.caching.load(Ordering::SeqCst)
    }

    /// The object `name` of `api` (which is scoped to `namespace`), or None when it does
    /// not exist. A listed object is held only as `keep` leaves it (a Secret without its
    /// private key), which is what a read through the list returns too.
    pub async fn get_opt<K>(
        &self,
        api: &Api<K>,
        dyntype: &K::DynamicType,
        scope: Scope,
        namespace: &str,
        name: &str,
        keep: fn(&mut K),
    ) -> Result<Option<K>, kube::Error>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        if !self.caching() {
            return api.get_opt(name).await;
        }
        let key = (format!("{}/{}", K::api_version(dyntype), K::plural(dyntype)), namespace.to_string(), scope);
        let entry = {
            let Ok(mut kinds) = self.kube.lock() else { return api.get_opt(name).await };
            kinds.entry(key).or_default().clone()
        };
        // One resource of a kind in a namespace: a GET is cheaper than listing them all.
        if !entry.read_once.swap(true, Ordering::SeqCst) {
            return api.get_opt(name).await;
        }
        let listed = entry
            .list
            .get_or_try_init(|| async {
                match list(api, scope, keep).await {
                    Ok(objects) => {
                        tracing::debug!(kind = %K::kind(dyntype), namespace, count = objects.len(), "listed for reads in this run");
                        Ok(Some(Arc::new(objects) as Listed))
                    }
                    Err(e) if ErrorKind::of_kube(&e) == ErrorKind::Forbidden => {
                        tracing::debug!(kind = %K::kind(dyntype), namespace, "list forbidden; reading objects one by one");
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        match listed.as_ref().and_then(|l| l.downcast_ref::<HashMap<String, K>>()).and_then(|m| m.get(name)) {
            Some(found) => Ok(Some(found.clone())),
            None => api.get_opt(name).await,
        }
    }

    /// `read()` once per key while caching, however many callers ask at once: the first
    /// reads and the others wait for its result (a namespace's view read by N policies in
    /// one plan is read once, not once per policy that asked before it was done). The result
    /// is kept only when it succeeded; a failed read leaves the next caller to try again.
    pub async fn memo<T, E, F, Fut>(&self, kind: &'static str, key: String, read: F) -> Result<T, E>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        if !self.caching() {
            return read().await;
        }
        let cell = self.memo.lock().ok().and_then(|mut m| {
            let entry = m.entry((kind, key)).or_insert_with(|| Arc::new(OnceCell::<T>::new()) as Listed).clone();
            entry.downcast::<OnceCell<T>>().ok()
        });
        match cell {
            Some(cell) => cell.get_or_try_init(read).await.cloned(),
            // The key holds a value of another type: read without caching.
            None => read().await,
        }
    }

    /// Drops every kept value: each run reads them again (a process serving many runs sees
    /// other clients' changes made between them).
    pub fn forget_kept(&self) {
        self.kept.lock().map(|mut k| k.clear()).ok();
    }

    fn kept_cell<T: Send + 'static>(&self, kind: &'static str, key: String) -> Option<Arc<Kept<T>>> {
        let mut kept = self.kept.lock().ok()?;
        let entry = kept.entry((kind, key)).or_insert_with(|| Arc::new(Kept::<T>::const_new(None)) as Listed).clone();
        entry.downcast::<Kept<T>>().ok()
    }

    /// `look(value)`, where the value is read once per process with `read()` and from then on
    /// kept in step by [`ReadCache::keep`], whether or not reads are still cached. Only for
    /// values whose every change in this process goes through `keep`: another client's change
    /// made meanwhile is not seen until the next process reads again. A failed read is not
    /// kept; concurrent callers wait for the one read.
    pub async fn kept<T, E, F, Fut, R>(&self, kind: &'static str, key: String, read: F, look: impl FnOnce(&T) -> R) -> Result<R, E>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let Some(cell) = self.kept_cell::<T>(kind, key) else {
            // The key holds a value of another type: read without keeping.
            return Ok(look(&read().await?));
        };
        let mut slot = cell.lock().await;
        let value = match slot.take() {
            Some(value) => value,
            None => read().await?,
        };
        let seen = look(&value);
        *slot = Some(value);
        Ok(seen)
    }

    /// Applies a change this process made to every kept value of `kind` that was read, with
    /// its key.
    pub async fn keep_every<T: Send + 'static>(&self, kind: &'static str, change: impl Fn(&str, &mut T)) {
        let cells: Vec<(String, Listed)> = match self.kept.lock() {
            Ok(kept) => kept.iter().filter(|((k, _), _)| *k == kind).map(|((_, key), cell)| (key.clone(), cell.clone())).collect(),
            Err(_) => return,
        };
        for (key, cell) in cells {
            if let Ok(cell) = cell.downcast::<Kept<T>>() {
                if let Some(value) = cell.lock().await.as_mut() {
                    change(&key, value);
                }
            }
        }
    }

    /// Applies a change this process made to the kept value, if one was read.
    pub async fn keep<T: Send + 'static>(&self, kind: &'static str, key: String, change: impl FnOnce(&mut T)) {
        if let Some(cell) = self.kept_cell::<T>(kind, key) {
            if let Some(value) = cell.lock().await.as_mut() {
                change(value);
            }
        }
    }
}

/// Every object of the kind in `scope`, by name, paginated.
async fn list<K>(api: &Api<K>, scope: Scope, keep: fn(&mut K)) -> Result<HashMap<String, K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut objects: HashMap<String, K> = HashMap::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    if scope == Scope::Managed {
        params = params.labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    }
    loop {
        let page = api.list(&params).await?;
        objects.extend(page.items.into_iter().filter_map(|mut o| {
            // Field ownership is never read from a cached object, and it is often most of an
            // object's size.
            o.meta_mut().managed_fields = None;
            keep(&mut o);
            Some((o.meta().name.clone()?, o))
        }));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(objects),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test]
    async fn a_read_is_reused_until_the_first_apply() {
        let cache = ReadCache::default();
        let calls = AtomicUsize::new(0);
        let read = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(7)
        };
        assert_eq!(cache.memo("node", "m/a".into(), read).await, Ok(7));
        assert_eq!(cache.memo("node", "m/a".into(), read).await, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the second read is served from the cache");
        cache.memo("node", "m/b".into(), read).await.ok();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "another key is read");
        cache.stop_caching();
        cache.memo("node", "m/a".into(), read).await.ok();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "after the first apply every read goes out");
    }

    #[tokio::test]
    async fn callers_at_once_share_one_read() {
        let cache = Arc::new(ReadCache::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let ask = |cache: &Arc<ReadCache>, calls: &Arc<AtomicUsize>| {
            let (cache, calls) = (cache.clone(), calls.clone());
            async move {
                let read = || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Still reading when the other callers ask.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    Ok::<_, ()>(7)
                };
                cache.memo("view", "yelb".into(), read).await
            }
        };
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..10 {
            callers.spawn(ask(&cache, &calls));
        }
        while let Some(answer) = callers.join_next().await {
            assert_eq!(answer.ok(), Some(Ok(7)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "ten callers at once, one read");
        // The positive control: without the cache, each caller reads.
        cache.stop_caching();
        for _ in 0..3 {
            callers.spawn(ask(&cache, &calls));
        }
        while callers.join_next().await.is_some() {}
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_kept_value_is_read_once_and_follows_the_writers_changes() {
        let cache = ReadCache::default();
        let calls = AtomicUsize::new(0);
        let read = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(vec![1])
        };
        cache.keep("view", "yelb".into(), |v: &mut Vec<i32>| v.push(9)).await;
        cache.stop_caching();
        assert_eq!(cache.kept("view", "yelb".into(), read, Vec::clone).await, Ok(vec![1]), "a change before the read is not invented");
        cache.keep("view", "yelb".into(), |v: &mut Vec<i32>| v.push(2)).await;
        assert_eq!(cache.kept("view", "yelb".into(), read, Vec::clone).await, Ok(vec![1, 2]));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "read once, though reads are no longer cached");
        // The positive control: another key is read.
        cache.kept("view", "other".into(), read, Vec::len).await.ok();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let failing = || async { Err::<Vec<i32>, ()>(()) };
        assert_eq!(cache.kept("view", "gone".into(), failing, Vec::len).await, Err(()));
        assert_eq!(cache.kept("view", "gone".into(), read, Vec::len).await, Ok(1), "a failed read is not kept");
        cache.forget_kept();
        assert_eq!(cache.kept("view", "yelb".into(), read, Vec::clone).await, Ok(vec![1]), "read again after a new run's configure");
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let cache = ReadCache::default();
        let failing = || async { Err::<u8, &str>("unreachable") };
        assert_eq!(cache.memo("node", "m/a".into(), failing).await, Err("unreachable"));
        assert_eq!(cache.memo("node", "m/a".into(), || async { Ok::<u8, &str>(1) }).await, Ok(1));
    }
}
