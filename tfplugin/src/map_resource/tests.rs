//! `MapOf` over a small in-memory resource that records every call it gets.

use std::sync::Mutex;

use super::*;
use crate::schema::{AttributeType, NestedBlock};

/// Objects by name, as a remote service holds them; `bad` cannot be created or updated,
/// and `stuck` cannot be deleted.
#[derive(Default)]
struct Store {
    objects: Mutex<BTreeMap<String, String>>,
    calls: Mutex<Vec<String>>,
}

impl Store {
    fn call(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }

    fn calls(&self) -> Vec<String> {
        let mut calls = std::mem::take(&mut *self.calls.lock().unwrap());
        calls.sort();
        calls
    }
}

#[async_trait]
impl Resource for Store {
    fn type_name(&self) -> &'static str {
        "test_object"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            2,
            Block::new("An object.")
                .attribute(Attribute::string("id").computed())
                .attribute(Attribute::string("name").required().requires_replace())
                .attribute(Attribute::string("size").default("small"))
                .block(NestedBlock::new("opt", Nesting::Single, Block::new("Options.").attribute(Attribute::string("x").optional()))),
        )
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        if config.get("size").as_str() == Some("huge") {
            return Diagnostic::error("Too big", "Use small or large.").at(AttributePath::attrs(&["size"])).into();
        }
        Diagnostics::new()
    }

    async fn modify_plan(&self, _request: PlanRequest<'_>, plan: &mut Plan) {
        plan.private = b"planned".to_vec();
    }

    async fn create(&self, planned: &Value, _config: &Value) -> StateResult {
        let name = planned.get("name").as_str().unwrap_or_default().to_string();
        self.call(format!("create {name}"));
        if name == "bad" {
            return StateResult::failed(Diagnostic::error("Refused", "bad").into());
        }
        let size = planned.get("size").as_str().unwrap_or_default().to_string();
        self.objects.lock().unwrap().insert(name.clone(), size);
        let mut state = planned.clone();
        state.set("id", Value::string(format!("id-{name}")));
        StateResult::ok(state, b"made".to_vec())
    }

    async fn read(&self, state: &Value, private: &[u8]) -> StateResult {
        let name = state.get("name").as_str().unwrap_or_default();
        match self.objects.lock().unwrap().get(name) {
            None => StateResult::ok(Value::Null, Vec::new()),
            Some(size) => {
                let mut state = state.clone();
                state.set("size", Value::string(size.clone()));
                StateResult::ok(state, private.to_vec())
            }
        }
    }

    async fn update(&self, _prior: &Value, planned: &Value, _config: &Value, private: &[u8]) -> StateResult {
        let name = planned.get("name").as_str().unwrap_or_default().to_string();
        self.call(format!("update {name} {}", String::from_utf8_lossy(private)));
        if planned.get("size").as_str() == Some("bad") {
            return StateResult::failed(Diagnostic::error("Refused", "bad size").into());
        }
        self.objects.lock().unwrap().insert(name, planned.get("size").as_str().unwrap_or_default().into());
        StateResult::ok(planned.clone(), private.to_vec())
    }

    async fn delete(&self, prior: &Value, _private: &[u8]) -> Diagnostics {
        let name = prior.get("name").as_str().unwrap_or_default().to_string();
        self.call(format!("delete {name}"));
        if name == "stuck" {
            return Diagnostic::error("Refused", "stuck").into();
        }
        self.objects.lock().unwrap().remove(&name);
        Diagnostics::new()
    }

    /// Imports an object that exists, by its name.
    async fn import(&self, id: &str) -> StateResult {
        let Some(size) = self.objects.lock().unwrap().get(id).cloned() else {
            return StateResult::failed(Diagnostic::error("Not found", id).into());
        };
        let state = Value::object([
            ("id", Value::string(format!("id-{id}"))),
            ("name", Value::string(id)),
            ("size", Value::string(size)),
            ("opt", Value::Null),
        ]);
        StateResult::ok(state, Vec::new())
    }
}

fn map(store: &Arc<Store>) -> MapOf {
    MapOf::new(store.clone(), "test_objects", "objects", "Many objects.")
}

fn config(entries: &[(&str, &str, Option<&str>)]) -> Value {
    let entries = entries.iter().map(|(key, name, size)| {
        let v =
            Value::object([("id", Value::Null), ("name", Value::string(*name)), ("size", Value::opt_string(*size)), ("opt", Value::Null)]);
        (key.to_string(), v)
    });
    Value::object([("objects", Value::Map(entries.collect()))])
}

/// A plan as the server makes it: the generic plan of the map, then `MapOf`'s.
async fn plan(m: &MapOf, prior: &Value, config: &Value, private: &[u8]) -> Plan {
    let schema = m.schema();
    let proposed = proposed_new(&schema.block, prior, config);
    let (planned, requires_replace) = plan_generic(&schema.block, prior, proposed, config);
    let mut plan = Plan { planned, requires_replace, private: private.to_vec(), diagnostics: Diagnostics::new() };
    m.modify_plan(PlanRequest { prior, config, prior_private: private }, &mut plan).await;
    plan
}

/// A map created from `config`, as a plan and an apply make it.
async fn created(m: &MapOf, config: &Value) -> StateResult {
    m.create(&plan(m, &Value::Null, config, &[]).await.planned, config).await
}

fn entry<'v>(value: &'v Value, key: &str) -> &'v Value {
    value.get("objects").as_entries().and_then(|m| m.get(key)).unwrap_or(&Value::Null)
}

#[test]
fn the_schema_is_one_required_map_of_the_inner_schema_as_nested_attributes() {
    let store = Arc::new(Store::default());
    let schema = map(&store).schema();
    assert_eq!(schema.version, 2, "entries keep the inner state's version");
    let objects = schema.block.attribute_named("objects").expect("the map attribute");
    assert!(objects.required && schema.block.blocks.is_empty());
    let AttributeType::Nested { nesting: Nesting::Map, attributes } = &objects.ty else { panic!("a map of nested attributes") };
    let names: Vec<&str> = attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "size", "opt"]);
    let opt = &attributes[3];
    assert!(
        opt.optional && matches!(&opt.ty, AttributeType::Nested { nesting: Nesting::Single, .. }),
        "a block becomes a nested attribute"
    );
    assert_eq!(opt.value_type(), store.schema().block.blocks[0].block.implied_type(), "values keep their shape");
    assert!(objects.description.contains("`test_object`"));
}

#[tokio::test]
async fn validate_runs_the_inner_checks_per_entry_at_the_entry_path() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let d = m.validate(&config(&[("a", "a", Some("huge")), ("b", "b", None)])).await;
    let paths: Vec<String> = d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect();
    assert_eq!(paths, [r#"objects["a"].size"#]);
    assert!(m.validate(&config(&[("a", "a", Some("large"))])).await.is_empty(), "positive control");
}

#[tokio::test]
async fn a_new_map_plans_each_entry_as_a_create_and_applies_it() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let cfg = config(&[("a", "a", None), ("b", "b", Some("large"))]);
    let p = plan(&m, &Value::Null, &cfg, &[]).await;
    assert!(p.diagnostics.is_empty() && p.requires_replace.is_empty());
    assert!(entry(&p.planned, "a").get("id").is_unknown(), "computed values are unknown until the create");
    assert_eq!(entry(&p.planned, "a").get("size").as_str(), Some("small"), "the inner default applies");
    let result = m.create(&p.planned, &cfg).await;
    assert!(result.diagnostics.is_empty(), "{:?}", result.diagnostics);
    assert_eq!(store.calls(), ["create a", "create b"]);
    assert_eq!(entry(&result.state, "b").get("id").as_str(), Some("id-b"));
    assert_eq!(Private::decode(&result.private).entry("a"), b"made", "each entry keeps its private bytes");
}

#[tokio::test]
async fn an_update_touches_only_the_entries_that_change() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let cfg = config(&[("a", "a", None), ("b", "b", None), ("c", "c", None)]);
    let first = created(&m, &cfg).await;
    store.calls();
    // a unchanged, b resized, c gone, d new, and e renamed (its name requires a replacement).
    let cfg = config(&[("a", "a", None), ("b", "b", Some("large")), ("d", "d", None)]);
    let p = plan(&m, &first.state, &cfg, &first.private).await;
    assert_eq!(entry(&p.planned, "a"), entry(&first.state, "a"), "an unchanged entry plans no change");
    assert!(entry(&p.planned, "c").is_null());
    let result = m.update(&first.state, &p.planned, &cfg, &p.private).await;
    assert!(result.diagnostics.is_empty());
    assert_eq!(store.calls(), ["create d", "delete c", "update b planned"], "the inner plan's private bytes reach its update");
    assert_eq!(store.objects.lock().unwrap().get("b").map(String::as_str), Some("large"));
    assert!(entry(&result.state, "c").is_null() && !entry(&result.state, "d").is_null());
}

#[tokio::test]
async fn a_replacement_inside_the_map_deletes_and_creates_that_entry_only() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let cfg = config(&[("a", "a", None), ("b", "b", None)]);
    let first = created(&m, &cfg).await;
    store.calls();
    let cfg = config(&[("a", "a2", None), ("b", "b", None)]);
    let p = plan(&m, &first.state, &cfg, &first.private).await;
    assert!(p.requires_replace.is_empty(), "the map itself is never replaced");
    assert!(entry(&p.planned, "a").get("id").is_unknown(), "the replaced entry is planned as a create");
    let result = m.update(&first.state, &p.planned, &cfg, &p.private).await;
    assert_eq!(store.calls(), ["create a2", "delete a"]);
    assert_eq!(entry(&result.state, "a").get("id").as_str(), Some("id-a2"));
}

#[tokio::test]
async fn a_failed_entry_is_named_and_the_others_land() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let cfg = config(&[("a", "a", None), ("z", "bad", None)]);
    let result = created(&m, &cfg).await;
    let paths: Vec<String> = result.diagnostics.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect();
    assert_eq!(paths, [r#"objects["z"]"#], "the failure is at its entry");
    assert_eq!(result.diagnostics.0[0].summary, r#"Refused (objects["z"])"#, "and names it, for CLIs that show only the expression");
    assert!(!entry(&result.state, "a").is_null(), "what was created stays in state");
    assert!(entry(&result.state, "z").is_null(), "what was not is not recorded");
    // A failed update keeps that entry's prior state.
    let cfg = config(&[("a", "a", Some("bad"))]);
    let p = plan(&m, &result.state, &cfg, &result.private).await;
    let updated = m.update(&result.state, &p.planned, &cfg, &p.private).await;
    assert!(updated.diagnostics.has_errors());
    assert_eq!(entry(&updated.state, "a"), entry(&result.state, "a"));
}

#[tokio::test]
async fn read_reports_drift_per_entry_and_drops_what_is_gone() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let cfg = config(&[("a", "a", None), ("b", "b", None)]);
    let created = created(&m, &cfg).await;
    store.objects.lock().unwrap().insert("a".into(), "large".into());
    store.objects.lock().unwrap().remove("b");
    let read = m.read(&created.state, &created.private).await;
    assert_eq!(entry(&read.state, "a").get("size").as_str(), Some("large"), "drift shows under its key");
    assert!(entry(&read.state, "b").is_null(), "a deleted object leaves the map, so plan creates it again");
    assert_eq!(Private::decode(&read.private).entry("a"), b"made");
}

#[tokio::test]
async fn a_failed_delete_keeps_its_entry_for_the_next_destroy() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let cfg = config(&[("a", "a", None), ("s", "stuck", None)]);
    let created = created(&m, &cfg).await;
    let d = m.delete(&created.state, &created.private).await;
    assert!(d.has_errors());
    assert_eq!(d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect::<Vec<_>>(), [r#"objects["s"]"#]);
    assert!(!store.objects.lock().unwrap().contains_key("a"), "the others are deleted");
}

#[test]
fn proposed_values_keep_prior_computed_values_the_configuration_leaves_null() {
    let store = Store::default();
    let block = store.schema().block;
    let prior = Value::object([
        ("id", Value::string("id-a")),
        ("name", Value::string("a")),
        ("size", Value::string("large")),
        ("opt", Value::Null),
    ]);
    let cfg = Value::object([("id", Value::Null), ("name", Value::string("a")), ("size", Value::Null), ("opt", Value::Null)]);
    let proposed = proposed_new(&block, &prior, &cfg);
    assert_eq!(proposed.get("id").as_str(), Some("id-a"));
    assert_eq!(proposed.get("size").as_str(), Some("large"), "optional and computed: the prior value");
    assert_eq!(proposed_new(&block, &Value::Null, &cfg).get("id"), &Value::Null);
}

#[test]
fn private_bytes_survive_a_round_trip_and_foreign_bytes_carry_nothing() {
    let mut p = Private::default();
    p.set_entry("a", b"\x00\xffbytes");
    p.replace.insert("a".into());
    let back = Private::decode(&p.encode());
    assert_eq!(back, p);
    assert_eq!(Private::decode(b"not json"), Private::default());
    assert!(Private::default().encode().is_empty());
}

#[tokio::test]
async fn import_takes_each_entry_by_the_inner_import_id() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let bad = m.import("a=x,a=y").await;
    assert!(bad.diagnostics.has_errors() && bad.state.is_null(), "a key given twice is refused");
    assert!(m.import("just-an-id").await.diagnostics.has_errors());
    store.objects.lock().unwrap().insert("x".into(), "large".into());
    let imported = m.import("a=x, b=y").await;
    assert!(imported.state.is_null(), "one entry not found: nothing is recorded");
    assert_eq!(
        imported.diagnostics.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect::<Vec<_>>(),
        [r#"objects["b"]"#]
    );
    let imported = m.import("a=x").await;
    assert!(imported.diagnostics.is_empty());
    assert_eq!(entry(&imported.state, "a").get("size").as_str(), Some("large"));
}

#[tokio::test]
async fn an_entry_not_known_until_apply_is_planned_unknown_and_checked_later() {
    let store = Arc::new(Store::default());
    let m = map(&store);
    let mut cfg = config(&[("a", "a", Some("huge"))]);
    if let Some(Value::Map(entries)) = cfg.get_mut("objects") {
        entries.insert("b".into(), Value::Unknown);
    }
    let d = m.validate(&cfg).await;
    assert_eq!(d.iter().filter_map(|d| d.path.as_ref().map(ToString::to_string)).collect::<Vec<_>>(), [r#"objects["a"].size"#]);
    let p = plan(&m, &Value::Null, &cfg, &[]).await;
    assert!(entry(&p.planned, "b").is_unknown());
    assert!(!entry(&p.planned, "a").is_unknown(), "positive control: a known entry is planned");
}
