//! A resource type that manages a map of another type's objects as one resource instance.
//!
//! With `for_each`, N objects are N instances, and every reference from one `for_each`
//! resource into another (`a[each.key].x`) makes the CLI decode all N instances of the
//! first for each instance of the second: N² work per phase. [`MapOf`] keeps the same
//! objects under one instance, keyed like `for_each`, so a reference is decoded once and the
//! CLI's work grows with N. Each entry is planned, applied, read and deleted by the wrapped
//! resource, exactly as one of its own instances, so nothing about an object changes but
//! where its state lives; what differs on one shows in `plan` as a change of that key.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::framework::{plan_generic, Plan, PlanRequest, Resource, StateResult};
use crate::schema::{Attribute, Block, Nesting, Schema};
use crate::value::Value;

/// A map of `inner`'s objects under one resource instance.
pub struct MapOf {
    inner: Arc<dyn Resource>,
    inner_schema: Schema,
    type_name: &'static str,
    attribute: &'static str,
    description: String,
    /// How many entries are applied, read or deleted at once: as many as the CLI's own
    /// default parallelism, which the wrapped resource is written for.
    parallelism: usize,
}

/// What the private state holds per entry: the wrapped resource's own private bytes, and
/// which entries the plan replaces (deleted, then created).
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
struct Private {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    entries: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    replace: BTreeSet<String>,
}

impl Private {
    fn decode(bytes: &[u8]) -> Private {
        // Empty or foreign bytes (a state written before) carry nothing per entry.
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    fn encode(&self) -> Vec<u8> {
        if *self == Private::default() {
            return Vec::new();
        }
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn entry(&self, key: &str) -> Vec<u8> {
        self.entries.get(key).and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()).unwrap_or_default()
    }

    fn set_entry(&mut self, key: &str, bytes: &[u8]) {
        if bytes.is_empty() {
            self.entries.remove(key);
        } else {
            self.entries.insert(key.to_string(), base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
}

impl MapOf {
    /// `type_name` manages a map, in `attribute`, of what `inner` manages one of.
    pub fn new(inner: Arc<dyn Resource>, type_name: &'static str, attribute: &'static str, description: &str) -> Self {
        let inner_schema = inner.schema();
        MapOf { inner, inner_schema, type_name, attribute, description: description.to_string(), parallelism: 10 }
    }

    fn root(&self, key: &str) -> AttributePath {
        AttributePath::attrs(&[self.attribute]).key(key)
    }

    /// The entries of `value`'s map; empty when it is null or unknown.
    fn entries<'v>(&self, value: &'v Value) -> BTreeMap<&'v str, &'v Value> {
        value.get(self.attribute).as_entries().map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect()).unwrap_or_default()
    }

    fn with_entries(&self, entries: BTreeMap<String, Value>) -> Value {
        Value::object([(self.attribute, Value::Map(entries))])
    }

    /// Runs `f` on every key, `parallelism` at a time, in key order in the result.
    async fn each<'a, F, Fut, T>(&'a self, keys: Vec<String>, f: F) -> Vec<(String, T)>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = (String, T)> + 'a,
    {
        let mut done: Vec<(String, T)> = stream::iter(keys.into_iter().map(f)).buffer_unordered(self.parallelism).collect().await;
        done.sort_by(|a, b| a.0.cmp(&b.0));
        done
    }

    /// One entry's plan, by the wrapped resource, as if it were one of its instances.
    async fn plan_entry(&self, prior: &Value, config: &Value, private: &[u8]) -> Plan {
        let proposed = proposed_new(&self.inner_schema.block, prior, config);
        let (planned, requires_replace) = plan_generic(&self.inner_schema.block, prior, proposed, config);
        let mut plan = Plan { planned, requires_replace, private: private.to_vec(), diagnostics: Diagnostics::new() };
        self.inner.modify_plan(PlanRequest { prior, config, prior_private: private }, &mut plan).await;
        plan
    }

    /// Applies one entry: what it holds afterwards (None when it is gone), its private
    /// bytes and diagnostics.
    async fn apply_entry(&self, prior: Option<&Value>, planned: Option<&Value>, config: &Value, private: Vec<u8>, replace: bool) -> Entry {
        match (prior, planned) {
            (None, None) => Entry::gone(Diagnostics::new()),
            (Some(prior), None) => self.delete_entry(prior, &private).await,
            (None, Some(planned)) => Entry::of(self.inner.create(planned, config).await, None),
            (Some(prior), Some(planned)) if replace => {
                let deleted = self.delete_entry(prior, &private).await;
                if deleted.diagnostics.has_errors() {
                    return deleted;
                }
                let mut created = Entry::of(self.inner.create(planned, config).await, None);
                let mut diagnostics = deleted.diagnostics;
                diagnostics.extend(created.diagnostics);
                created.diagnostics = diagnostics;
                created
            }
            (Some(prior), Some(planned)) if prior == planned => {
                Entry { state: Some(prior.clone()), private, diagnostics: Diagnostics::new() }
            }
            (Some(prior), Some(planned)) => {
                let result = self.inner.update(prior, planned, config, &private).await;
                Entry::of(result, Some((prior, private)))
            }
        }
    }

    async fn delete_entry(&self, prior: &Value, private: &[u8]) -> Entry {
        let diagnostics = self.inner.delete(prior, private).await;
        if diagnostics.has_errors() {
            // A failed delete keeps the object in state, so nothing is lost track of.
            return Entry { state: Some(prior.clone()), private: private.to_vec(), diagnostics };
        }
        Entry::gone(diagnostics)
    }

    /// Applies every entry of `prior` and `planned` and assembles the new state.
    async fn apply(&self, prior: &Value, planned: &Value, config: &Value, private: &[u8]) -> StateResult {
        let prior_private = Private::decode(private);
        let (prior_entries, planned_entries, config_entries) = (self.entries(prior), self.entries(planned), self.entries(config));
        let keys: Vec<String> =
            prior_entries.keys().chain(planned_entries.keys()).map(|k| k.to_string()).collect::<BTreeSet<_>>().into_iter().collect();
        let done = self
            .each(keys, |key| {
                let (p, n) = (prior_entries.get(key.as_str()).copied(), planned_entries.get(key.as_str()).copied());
                let config = config_entries.get(key.as_str()).copied().unwrap_or(&Value::Null);
                let (entry_private, replace) = (prior_private.entry(&key), prior_private.replace.contains(&key));
                async move {
                    let entry = self.apply_entry(p, n, config, entry_private, replace).await;
                    (key, entry)
                }
            })
            .await;
        self.assemble(done)
    }

    fn assemble(&self, done: Vec<(String, Entry)>) -> StateResult {
        let (mut entries, mut private, mut diagnostics) = (BTreeMap::new(), Private::default(), Diagnostics::new());
        for (key, entry) in done {
            diagnostics.extend(under(entry.diagnostics, &self.root(&key)));
            if let Some(state) = entry.state {
                private.set_entry(&key, &entry.private);
                entries.insert(key, state);
            }
        }
        StateResult { state: self.with_entries(entries), private: private.encode(), diagnostics }
    }
}

/// One entry after a call: its state, or None when the object is gone.
struct Entry {
    state: Option<Value>,
    private: Vec<u8>,
    diagnostics: Diagnostics,
}

impl Entry {
    fn gone(diagnostics: Diagnostics) -> Entry {
        Entry { state: None, private: Vec::new(), diagnostics }
    }

    /// The wrapped resource's result; a failed update with nothing to show keeps `prior`,
    /// as the server does for a resource of its own.
    fn of(result: StateResult, prior: Option<(&Value, Vec<u8>)>) -> Entry {
        let StateResult { state, private, diagnostics } = result;
        match (state.is_null(), prior) {
            (false, _) => Entry { state: Some(state), private, diagnostics },
            (true, Some((prior, prior_private))) if diagnostics.has_errors() => {
                Entry { state: Some(prior.clone()), private: prior_private, diagnostics }
            }
            (true, _) => Entry::gone(diagnostics),
        }
    }
}

/// `diagnostics` of one entry, placed under `root`: at the entry itself when they name no
/// attribute of it. The CLIs show a path inside a `for` expression as the whole expression,
/// so the summary names the entry too.
fn under(diagnostics: Diagnostics, root: &AttributePath) -> Diagnostics {
    Diagnostics(
        diagnostics
            .0
            .into_iter()
            .map(|mut d| {
                d.summary = format!("{} ({root})", d.summary);
                let mut path = root.clone();
                if let Some(inner) = d.path.take() {
                    path.0.extend(inner.0);
                }
                d.path = Some(path);
                d
            })
            .collect(),
    )
}

/// What the CLI proposes for an object of `block` given its prior state and configuration:
/// configured values, and the prior values of computed attributes the configuration leaves
/// null (Terraform's rule, applied here per entry since the CLI applies it to the map).
pub fn proposed_new(block: &Block, prior: &Value, config: &Value) -> Value {
    if config.is_null() || config.is_unknown() {
        return config.clone();
    }
    let mut out = BTreeMap::new();
    for a in &block.attributes {
        let c = config.get(&a.name);
        let v = if a.computed && c.is_null() { prior.get(&a.name).clone() } else { c.clone() };
        out.insert(a.name.clone(), v);
    }
    for b in &block.blocks {
        let (c, p) = (config.get(&b.type_name), prior.get(&b.type_name));
        let v = match (b.nesting, c) {
            (Nesting::Single | Nesting::Group, Value::Object(_)) => proposed_new(&b.block, p, c),
            (Nesting::List, Value::List(items)) => {
                let prior_items = p.as_elements().unwrap_or_default();
                Value::List(
                    items.iter().enumerate().map(|(i, c)| proposed_new(&b.block, prior_items.get(i).unwrap_or(&Value::Null), c)).collect(),
                )
            }
            (Nesting::Map, Value::Map(items)) => {
                let prior_items = p.as_entries();
                Value::Map(
                    items
                        .iter()
                        .map(|(k, c)| (k.clone(), proposed_new(&b.block, prior_items.and_then(|m| m.get(k)).unwrap_or(&Value::Null), c)))
                        .collect(),
                )
            }
            // Set elements have no identity to match a prior one by.
            _ => c.clone(),
        };
        out.insert(b.type_name.clone(), v);
    }
    Value::Object(out)
}

/// `block` as nested attributes, the only form an attribute's object may take: its nested
/// blocks become nested attributes of the same nesting, so values keep their shape.
pub fn as_attributes(block: &Block) -> Vec<Attribute> {
    let mut out = block.attributes.clone();
    for b in &block.blocks {
        let mut a =
            Attribute::nested(&b.type_name, if b.nesting == Nesting::Group { Nesting::Single } else { b.nesting }, as_attributes(&b.block));
        a.description = b.block.description.clone();
        if b.min_items > 0 {
            a.required = true;
        } else {
            a.optional = true;
        }
        out.push(a);
    }
    out
}

#[async_trait]
impl Resource for MapOf {
    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn schema(&self) -> Schema {
        let mut entries = Attribute::nested(self.attribute, Nesting::Map, as_attributes(&self.inner_schema.block)).required();
        entries.description = format!(
            "{} Each entry is planned, applied and read as a `{}` of its own would be; its key names it in `plan` and in diagnostics.",
            self.inner_schema.block.description,
            self.inner.type_name()
        );
        Schema::new(self.inner_schema.version, Block::new(&self.description).attribute(entries))
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        let mut out = Diagnostics::new();
        // An entry not known yet is checked at plan, once it is.
        for (key, entry) in self.entries(config).into_iter().filter(|(_, e)| !e.is_unknown()) {
            let mut own = self.inner_schema.block.validate_values(entry);
            own.extend(self.inner.validate(entry).await);
            out.extend(under(own, &self.root(key)));
        }
        out
    }

    async fn modify_plan(&self, request: PlanRequest<'_>, plan: &mut Plan) {
        let config = request.config.get(self.attribute);
        if !matches!(config, Value::Map(_)) {
            return;
        }
        let prior_private = Private::decode(request.prior_private);
        let (prior_entries, config_entries) = (self.entries(request.prior), self.entries(request.config));
        let keys: Vec<String> = config_entries.keys().map(|k| k.to_string()).collect();
        let planned = self
            .each(keys, |key| {
                let prior = prior_entries.get(key.as_str()).copied().unwrap_or(&Value::Null);
                let config = config_entries.get(key.as_str()).copied().unwrap_or(&Value::Null);
                let private = prior_private.entry(&key);
                async move {
                    if config.is_unknown() {
                        // Its whole value comes from something not known until apply.
                        let entry =
                            Plan { planned: Value::Unknown, requires_replace: Vec::new(), private, diagnostics: Diagnostics::new() };
                        return (key, (entry, false));
                    }
                    let mut entry = self.plan_entry(prior, config, &private).await;
                    let replaced = !prior.is_null() && !entry.requires_replace.is_empty();
                    if replaced {
                        // Replaced within the map: planned as the create that follows the delete.
                        let diagnostics = std::mem::take(&mut entry.diagnostics);
                        entry = self.plan_entry(&Value::Null, config, &[]).await;
                        entry.diagnostics.0.splice(0..0, diagnostics.0);
                    }
                    (key, (entry, replaced))
                }
            })
            .await;
        let (mut entries, mut private) = (BTreeMap::new(), Private::default());
        for (key, (entry, replaced)) in planned {
            plan.diagnostics.extend(under(entry.diagnostics, &self.root(&key)));
            if replaced {
                private.replace.insert(key.clone());
                private.set_entry(&key, &prior_private.entry(&key));
            } else {
                private.set_entry(&key, &entry.private);
            }
            entries.insert(key, entry.planned);
        }
        // Entries leaving the map keep their private bytes until their delete.
        for key in prior_entries.keys().filter(|k| !entries.contains_key(**k)) {
            private.set_entry(key, &prior_private.entry(key));
        }
        plan.planned.set(self.attribute, Value::Map(entries));
        plan.private = private.encode();
    }

    async fn create(&self, planned: &Value, config: &Value) -> StateResult {
        self.apply(&Value::Null, planned, config, &[]).await
    }

    async fn read(&self, state: &Value, private: &[u8]) -> StateResult {
        let private = Private::decode(private);
        let entries = self.entries(state);
        let keys = entries.keys().map(|k| k.to_string()).collect();
        let done = self
            .each(keys, |key| {
                let prior = entries[key.as_str()];
                let entry_private = private.entry(&key);
                async move {
                    let result = self.inner.read(prior, &entry_private).await;
                    // A failed read must not make the CLI believe the object is gone.
                    let entry = Entry::of(result, Some((prior, entry_private)));
                    (key, entry)
                }
            })
            .await;
        self.assemble(done)
    }

    async fn update(&self, prior: &Value, planned: &Value, config: &Value, private: &[u8]) -> StateResult {
        self.apply(prior, planned, config, private).await
    }

    async fn delete(&self, prior: &Value, private: &[u8]) -> Diagnostics {
        self.apply(prior, &Value::Null, &Value::Null, private).await.diagnostics
    }

    /// `key=id,key=id`: each object imported by the wrapped resource under its key.
    async fn import(&self, id: &str) -> StateResult {
        let pairs: Option<Vec<(String, String)>> = id
            .split(',')
            .map(|pair| pair.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
            .map(|pair| pair.filter(|(k, v)| !k.is_empty() && !v.is_empty()))
            .collect();
        let Some(pairs) = pairs.filter(|p| p.iter().map(|(k, _)| k).collect::<BTreeSet<_>>().len() == p.len()) else {
            return StateResult::failed(
                Diagnostic::error(
                    "Invalid import ID",
                    format!(
                        "Expected `<key>=<{} import ID>` pairs with distinct keys, separated by commas, e.g. `a=<id>,b=<id>`; got {id:?}.",
                        self.inner.type_name()
                    ),
                )
                .into(),
            );
        };
        let ids: BTreeMap<String, String> = pairs.into_iter().collect();
        let done = self
            .each(ids.keys().cloned().collect(), |key| {
                let id = ids[&key].clone();
                async move {
                    let entry = Entry::of(self.inner.import(&id).await, None);
                    (key, entry)
                }
            })
            .await;
        let mut result = self.assemble(done);
        if result.diagnostics.has_errors() {
            // All or nothing: an import that names an object it cannot adopt records none.
            result.state = Value::Null;
        }
        result
    }

    fn upgrade_state(&self, from_version: i64, mut state: Value) -> Result<Value, Diagnostics> {
        let Some(Value::Map(entries)) = state.get_mut(self.attribute) else { return Ok(state) };
        let mut problems = Diagnostics::new();
        for (key, entry) in entries.iter_mut() {
            match self.inner.upgrade_state(from_version, std::mem::take(entry)) {
                Ok(upgraded) => *entry = upgraded,
                Err(d) => problems.extend(under(d, &AttributePath::attrs(&[self.attribute]).key(key))),
            }
        }
        if problems.has_errors() {
            return Err(problems);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests;
