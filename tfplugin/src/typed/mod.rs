//! Typed resources and data sources: each declares its model (a serde struct whose fields
//! are the schema's attributes) and works on models, returning `Result`. A blanket impl
//! adapts them (see `adapter`) to the dynamic [`crate::framework::Resource`] and
//! [`crate::framework::DataSource`] traits the server calls, so
//! decoding, encoding and the keeping of partial state live here once.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::framework::{IdentitySchema, MoveSource};
use crate::schema::Schema;
use crate::value::Value;

mod adapter;
/// What a create, update, read or import leaves in state.
#[derive(Debug)]
pub struct Saved<M> {
    pub state: M,
    pub private: Vec<u8>,
    /// Warnings (errors belong in a [`Failure`]).
    pub warnings: Diagnostics,
}

impl<M> Saved<M> {
    pub fn new(state: M) -> Self {
        Saved { state, private: Vec::new(), warnings: Diagnostics::new() }
    }

    pub fn with_private(mut self, private: Vec<u8>) -> Self {
        self.private = private;
        self
    }

    pub fn warn(mut self, warnings: impl IntoIterator<Item = Diagnostic>) -> Self {
        self.warnings.push_all(warnings);
        self
    }
}

impl<M> From<M> for Saved<M> {
    fn from(state: M) -> Self {
        Saved::new(state)
    }
}

/// A failed operation. `partial` is what it did write: a create that made an object before
/// failing keeps it in state, so the next plan can see it and nothing is lost. Without it
/// a create leaves nothing in state and a read or update keeps the prior state.
#[derive(Debug)]
pub struct Failure<M> {
    pub diagnostics: Diagnostics,
    pub partial: Option<M>,
    /// Private state kept with `partial`.
    pub private: Vec<u8>,
}

impl<M> Failure<M> {
    pub fn new(diagnostics: impl Into<Diagnostics>) -> Self {
        Failure { diagnostics: diagnostics.into(), partial: None, private: Vec::new() }
    }

    /// Keeps `partial` in state along with the errors.
    pub fn keeping(mut self, partial: M) -> Self {
        self.partial = Some(partial);
        self
    }

    /// Keeps `private` beside the partial state (ignored without one).
    pub fn with_private(mut self, private: Vec<u8>) -> Self {
        self.private = private;
        self
    }
}

impl<M> From<Diagnostics> for Failure<M> {
    fn from(diagnostics: Diagnostics) -> Self {
        Failure::new(diagnostics)
    }
}

impl<M> From<Diagnostic> for Failure<M> {
    fn from(d: Diagnostic) -> Self {
        Failure::new(d)
    }
}

pub type Outcome<M> = Result<Saved<M>, Failure<M>>;

/// Turns any error into a diagnostic that says what was being done:
/// `api.get(name).await.diag("read the CA Secret")?`.
pub trait Context<T> {
    fn diag(self, doing: &str) -> Result<T, Diagnostic>;
}

impl<T, E: std::error::Error> Context<T> for Result<T, E> {
    fn diag(self, doing: &str) -> Result<T, Diagnostic> {
        self.map_err(|e| Diagnostic::error(format!("Failed to {doing}"), chain(&e)))
    }
}

/// An error and its sources, outermost first, each said once.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    text
}

pub struct TypedPlanRequest<'a, M> {
    /// None when the resource is being created.
    pub prior: Option<&'a M>,
    pub config: &'a M,
    pub prior_private: &'a [u8],
}

/// A plan being refined: the generic plan as a model, plus what else the resource decides.
#[derive(Debug)]
pub struct TypedPlan<M> {
    pub planned: M,
    /// Replacements the generic plan found (changed requires-replace attributes).
    pub requires_replace: Vec<AttributePath>,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
    replace_through: Vec<&'static str>,
}

impl<M> TypedPlan<M> {
    /// Forces replacement through the computed attribute `attribute`, which becomes
    /// unknown in the plan (what makes Terraform treat the replacement as a real change).
    pub fn replace_through(&mut self, attribute: &'static str) {
        if !self.replace_through.contains(&attribute) {
            self.replace_through.push(attribute);
        }
    }
}

/// A resource's identity as a serde type: what names its remote object. The resource sets
/// it from its state ([`TypedResource::identity`]).
pub trait Identity: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// None for a resource without identity.
    fn schema() -> Option<IdentitySchema>;
    /// The import ID that names the same object.
    fn import_id(&self) -> String;
}

/// No identity.
impl Identity for () {
    fn schema() -> Option<IdentitySchema> {
        None
    }

    fn import_id(&self) -> String {
        String::new()
    }
}

/// A resource written over its model. Only create, read, update, delete and import are
/// required; validation and plan refinement are optional capabilities.
#[async_trait]
pub trait TypedResource: Send + Sync + 'static {
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// `()` for a resource without identity.
    type Identity: Identity;

    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// The identity of the object `state` names; None while a part of it is not known, and
    /// for a resource without identity.
    fn identity(&self, _state: &Self::Model) -> Option<Self::Identity> {
        None
    }

    /// The identity's schema: its type's, unless the resource gives it a version of its own.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        <Self::Identity as Identity>::schema()
    }

    /// Checks on the configuration alone; fields may be unknown.
    async fn validate(&self, _config: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    /// Refines the generic plan.
    async fn modify_plan(&self, _request: TypedPlanRequest<'_, Self::Model>, _plan: &mut TypedPlan<Self::Model>) {}

    async fn create(&self, planned: Self::Model, config: Self::Model) -> Outcome<Self::Model>;
    /// The resource as it is now; `None` when it is gone.
    async fn read(&self, state: Self::Model, private: &[u8]) -> Result<Option<Saved<Self::Model>>, Failure<Self::Model>>;
    async fn update(&self, prior: Self::Model, planned: Self::Model, config: Self::Model, private: &[u8]) -> Outcome<Self::Model>;
    /// Ok carries warnings.
    async fn delete(&self, prior: Self::Model, private: &[u8]) -> Result<Diagnostics, Diagnostics>;
    async fn import(&self, id: &str) -> Outcome<Self::Model>;

    fn upgrade_state(&self, _from_version: i64, state: Value) -> Result<Value, Diagnostics> {
        Ok(state)
    }

    /// An identity stored at `from_version`, as the state file's JSON, rewritten into the
    /// current identity schema's attributes; the attributes it still has are kept after it.
    fn upgrade_identity(&self, _from_version: i64, raw: serde_json::Value) -> serde_json::Value {
        raw
    }

    /// Refines configuration generated from a state (`-generate-config-out`). The generic
    /// step after it drops what only the provider computes and values equal to their
    /// default; this may drop more, such as a value the provider would derive the same way.
    fn generate_config(&self, state: Self::Model) -> Self::Model {
        state
    }

    /// The model for a `moved` block's `source` of another type; None when this type takes
    /// no state from it. The CLI refreshes the result and then plans against the
    /// configuration, so what the source's objects lack shows as a change.
    fn move_from(&self, _source: &MoveSource<'_>) -> Option<Result<Self::Model, Diagnostics>> {
        None
    }
}

/// One object a typed list resource found.
#[derive(Debug, Clone)]
pub struct Found<M, I> {
    pub identity: I,
    /// One line a person can tell the object by.
    pub display_name: String,
    /// The object as an import of it would record it.
    pub resource: M,
}

/// What a list found, and warnings about what it could not look at.
#[derive(Debug)]
pub struct Listing<M, I> {
    pub found: Vec<Found<M, I>>,
    pub warnings: Diagnostics,
}

impl<M, I> Default for Listing<M, I> {
    fn default() -> Self {
        Listing { found: Vec::new(), warnings: Diagnostics::new() }
    }
}

/// A list resource written over models: the list block's `config`, and the model and
/// identity of the managed resource of the same name.
#[async_trait]
pub trait TypedListResource: Send + Sync + 'static {
    type Config: DeserializeOwned + Send + Sync + 'static;
    type Model: Serialize + Send + Sync + 'static;
    type Identity: Serialize + Send + Sync + 'static;

    fn type_name(&self) -> &'static str;
    /// The schema of the list block's `config`.
    fn schema(&self) -> Schema;
    async fn validate(&self, _config: &Self::Config) -> Diagnostics {
        Diagnostics::new()
    }
    /// At most `limit` objects, in the order to show them. Reads only.
    async fn list(&self, config: Self::Config, limit: usize) -> Result<Listing<Self::Model, Self::Identity>, Diagnostics>;
}

/// A data source written over its model.
#[async_trait]
pub trait TypedDataSource: Send + Sync + 'static {
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;

    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn validate(&self, _config: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }
    async fn read(&self, config: Self::Model) -> Outcome<Self::Model>;
}

/// A diagnostic at the attribute `name` of the model's top level.
pub fn at(name: &str) -> AttributePath {
    AttributePath::attrs(&[name])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Attr;
    use crate::framework::{ListRequest, ListResource, Plan, PlanRequest, Resource};
    use crate::schema::{Attribute, Block};
    use serde::Deserialize;

    #[derive(Debug, Clone, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Thing {
        id: Attr<String>,
        name: Attr<String>,
        names: Attr<Vec<String>>,
    }

    struct Things;

    #[async_trait]
    impl TypedResource for Things {
        type Model = Thing;
        type Identity = ();
        fn type_name(&self) -> &'static str {
            "test_thing"
        }
        fn schema(&self) -> Schema {
            Schema::new(
                0,
                Block::new("")
                    .attribute(Attribute::string("id").computed())
                    .attribute(Attribute::string("name").required())
                    .attribute(Attribute::new("names", crate::types::Type::list(crate::types::Type::String)).optional()),
            )
        }
        async fn validate(&self, config: &Thing) -> Diagnostics {
            let mut d = Diagnostics::new();
            if config.name.as_deref() == Some("") {
                d.error_at(at("name"), "Empty name", "");
            }
            d
        }
        async fn modify_plan(&self, request: TypedPlanRequest<'_, Thing>, plan: &mut TypedPlan<Thing>) {
            if request.prior.is_some_and(|p| p.name != request.config.name) {
                plan.replace_through("id");
            }
        }
        async fn create(&self, mut planned: Thing, _config: Thing) -> Outcome<Thing> {
            planned.id = Attr::Known("1".into());
            if planned.name.as_deref() == Some("half") {
                // Something was made, then the rest failed.
                return Err(Failure::new(Diagnostic::error("Failed", "")).keeping(planned));
            }
            std::fs::read("/nonexistent/file").diag("read the file")?;
            Ok(planned.into())
        }
        async fn read(&self, state: Thing, _: &[u8]) -> Result<Option<Saved<Thing>>, Failure<Thing>> {
            Ok(Some(state.into()))
        }
        async fn update(&self, _: Thing, planned: Thing, _: Thing, _: &[u8]) -> Outcome<Thing> {
            Ok(planned.into())
        }
        async fn delete(&self, _: Thing, _: &[u8]) -> Result<Diagnostics, Diagnostics> {
            Ok(Diagnostics::new())
        }
        async fn import(&self, id: &str) -> Outcome<Thing> {
            Ok(Thing { id: id.into(), name: Attr::Null, names: Attr::Null }.into())
        }
        fn move_from(&self, source: &MoveSource<'_>) -> Option<Result<Thing, Diagnostics>> {
            source.is("test", "test_old_thing").then(|| match source.state["label"].as_str() {
                Some(label) => Ok(Thing { id: Attr::Known(label.into()), name: label.into(), names: Attr::Null }),
                None => Err(Diagnostic::error("No label", "").into()),
            })
        }
    }

    #[test]
    fn a_typed_resource_takes_moved_state_from_the_types_it_knows() {
        let r: &dyn Resource = &Things;
        let state = serde_json::json!({ "label": "x" });
        let source = |provider, type_name| MoveSource { provider_address: provider, type_name, schema_version: 0, state: &state };
        let moved = r.move_state(&source("registry.terraform.io/example/test", "test_old_thing"));
        assert_eq!(moved.and_then(Result::ok), Some(thing("x".into(), "x".into())));
        assert!(r.move_state(&source("test", "test_old_thing")).is_some(), "as OpenTofu names the provider");
        assert!(r.move_state(&source("registry.terraform.io/test/other", "test_old_thing")).is_none(), "another provider's");
        assert!(r.move_state(&source("registry.terraform.io/example/test", "test_unrelated")).is_none());
        let empty = serde_json::json!({});
        let without = MoveSource { state: &empty, ..source("registry.terraform.io/example/test", "test_old_thing") };
        assert!(r.move_state(&without).is_some_and(|m| m.is_err()));
    }

    fn thing(id: Value, name: Value) -> Value {
        Value::object([("id", id), ("name", name), ("names", Value::Null)])
    }

    #[tokio::test]
    async fn a_typed_resource_serves_the_dynamic_calls() {
        let r: &dyn Resource = &Things;
        let d = r.validate(&thing(Value::Null, "".into())).await;
        assert_eq!(d.iter().next().and_then(|d| d.path.clone()), Some(at("name")));
        assert!(r.validate(&thing(Value::Null, Value::Unknown)).await.is_empty());

        let prior = thing("1".into(), "a".into());
        let config = thing(Value::Null, "b".into());
        let mut plan =
            Plan { planned: thing("1".into(), "b".into()), requires_replace: vec![], private: vec![], diagnostics: Diagnostics::new() };
        r.modify_plan(PlanRequest { prior: &prior, config: &config, prior_private: &[] }, &mut plan).await;
        assert_eq!(plan.planned, thing(Value::Unknown, "b".into()));
        assert_eq!(plan.requires_replace, vec![at("id")]);
    }

    #[tokio::test]
    async fn a_partly_known_list_is_planned_as_configured() {
        let r: &dyn Resource = &Things;
        let names = Value::List(vec!["a".into(), Value::Unknown]);
        let mut config = thing(Value::Null, "".into());
        config.set("names", names.clone());
        // Validation still runs: the empty name is reported.
        assert_eq!(r.validate(&config).await.iter().next().and_then(|d| d.path.clone()), Some(at("name")));
        let mut planned = thing(Value::Unknown, "b".into());
        planned.set("names", names.clone());
        let mut plan = Plan { planned: planned.clone(), requires_replace: vec![], private: vec![], diagnostics: Diagnostics::new() };
        r.modify_plan(PlanRequest { prior: &Value::Null, config: &planned, prior_private: &[] }, &mut plan).await;
        assert!(plan.diagnostics.is_empty(), "{:?}", plan.diagnostics);
        assert_eq!(plan.planned, planned, "the list keeps its known element");
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct ThingsWanted {
        prefix: Attr<String>,
    }

    #[derive(Debug, Serialize)]
    struct ThingId {
        id: String,
    }

    struct ThingList;

    #[async_trait]
    impl TypedListResource for ThingList {
        type Config = ThingsWanted;
        type Model = Thing;
        type Identity = ThingId;
        fn type_name(&self) -> &'static str {
            "test_thing"
        }
        fn schema(&self) -> Schema {
            Schema::new(0, Block::new("").attribute(Attribute::string("prefix").optional()))
        }
        async fn validate(&self, config: &ThingsWanted) -> Diagnostics {
            let mut d = Diagnostics::new();
            if config.prefix.as_deref() == Some("") {
                d.error_at(at("prefix"), "Empty prefix", "");
            }
            d
        }
        async fn list(&self, config: ThingsWanted, limit: usize) -> Result<Listing<Thing, ThingId>, Diagnostics> {
            let prefix = config.prefix.known().cloned().unwrap_or_default();
            let found = (0..limit + 5)
                .map(|i| Found {
                    identity: ThingId { id: format!("{prefix}{i}") },
                    display_name: format!("thing {i}"),
                    resource: Thing { id: Attr::Known(format!("{prefix}{i}")), name: "n".into(), names: Attr::Null },
                })
                .collect();
            Ok(Listing { found, warnings: Diagnostics::new() })
        }
    }

    #[tokio::test]
    async fn a_typed_list_encodes_identities_and_objects_up_to_the_limit() {
        let l: &dyn ListResource = &ThingList;
        let bad = Value::object([("prefix", Value::from(""))]);
        assert_eq!(l.validate(&bad).await.iter().next().and_then(|d| d.path.clone()), Some(at("prefix")));
        let config = Value::object([("prefix", Value::from("t"))]);
        let resource_type = TypedResource::schema(&Things).value_type();
        let identity_type = crate::types::Type::Object([("id".to_string(), crate::types::Type::String)].into());
        let request = |include_resource| ListRequest {
            config: &config,
            include_resource,
            limit: 2,
            resource_type: &resource_type,
            identity_type: &identity_type,
        };
        let bare = l.list(request(false)).await;
        assert!(bare.diagnostics.is_empty(), "{:?}", bare.diagnostics);
        assert_eq!(bare.items.len(), 2, "no more than the limit");
        assert_eq!(bare.items[1].identity, Value::object([("id", Value::from("t1"))]));
        assert_eq!(bare.items[1].display_name, "thing 1");
        assert_eq!(bare.items[1].resource, None, "objects only when asked for");
        let full = l.list(request(true)).await;
        assert_eq!(full.items[0].resource, Some(thing("t0".into(), "n".into())));
    }

    #[test]
    fn generated_configuration_leaves_out_what_the_provider_computes() {
        let r: &dyn Resource = &Things;
        let config = Resource::generate_config(r, &thing("1".into(), "a".into())).expect("generated");
        assert_eq!(config, thing(Value::Null, "a".into()));
    }

    #[tokio::test]
    async fn a_failed_create_keeps_what_it_wrote() {
        let r: &dyn Resource = &Things;
        let half = r.create(&thing(Value::Unknown, "half".into()), &thing(Value::Null, "half".into())).await;
        assert!(half.diagnostics.has_errors());
        assert_eq!(half.state, thing("1".into(), "half".into()));

        let failed = r.create(&thing(Value::Unknown, "a".into()), &thing(Value::Null, "a".into())).await;
        assert_eq!(failed.state, Value::Null);
        let d = failed.diagnostics.iter().next().expect("an error");
        assert_eq!(d.summary, "Failed to read the file");
        assert!(d.detail.contains("No such file"), "{}", d.detail);
    }
}
