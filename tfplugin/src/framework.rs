//! The provider-facing API: a provider and its resources implement these traits; the
//! server turns protocol calls into calls on them, and does the generic parts of planning.

use std::sync::Arc;

use async_trait::async_trait;

use crate::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::schema::{AttributeType, Block, Planning, Schema};
use crate::types::Type;
use crate::value::Value;

pub struct ConfigureRequest {
    pub terraform_version: String,
    /// The provider block's value; any part may be unknown when it depends on resources
    /// not yet created.
    pub config: Value,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    fn resources(&self) -> Vec<Arc<dyn Resource>>;
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        Vec::new()
    }
    /// List resources for `terraform query`, each named after the managed resource type
    /// whose objects it finds.
    fn list_resources(&self) -> Vec<Arc<dyn ListResource>> {
        Vec::new()
    }
    /// Checks on the provider configuration that need no remote service.
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    async fn configure(&self, request: ConfigureRequest) -> Diagnostics;
    /// The CLI asked to stop (Ctrl-C): in-flight work should wind down soon.
    fn stop(&self) {}
    /// Called before each ApplyResourceChange: from here on this process changes remote
    /// objects, so anything cached from reads may be stale.
    fn before_apply(&self) {}
}

/// The result of an operation that produces state. A non-null `state` is recorded even when
/// `diagnostics` holds errors, so a partly created object is never lost.
#[derive(Debug, Default)]
pub struct StateResult {
    pub state: Value,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

impl StateResult {
    pub fn ok(state: Value, private: Vec<u8>) -> Self {
        StateResult { state, private, diagnostics: Diagnostics::new() }
    }

    pub fn failed(diagnostics: Diagnostics) -> Self {
        StateResult { state: Value::Null, private: Vec::new(), diagnostics }
    }
}

pub struct PlanRequest<'a> {
    /// Null when the resource is being created.
    pub prior: &'a Value,
    pub config: &'a Value,
    pub prior_private: &'a [u8],
}

/// A plan being built. The server fills it with the generic result (defaults, unknown
/// computed values, replacements from schema modifiers) before the resource refines it.
#[derive(Debug)]
pub struct Plan {
    pub planned: Value,
    pub requires_replace: Vec<AttributePath>,
    pub private: Vec<u8>,
    pub diagnostics: Diagnostics,
}

impl Plan {
    /// Forces replacement through `attribute`, which must be computed: it becomes unknown,
    /// which is what makes Terraform treat the replacement as a real change.
    pub fn replace_through(&mut self, attribute: &str) {
        self.planned.set(attribute, Value::Unknown);
        let path = AttributePath::attrs(&[attribute]);
        if !self.requires_replace.contains(&path) {
            self.requires_replace.push(path);
        }
    }
}

/// A resource's identity (plugin protocol 6.9 and later): the attributes that name its remote
/// object. The CLI keeps it in state beside the resource, and `import` blocks may give it
/// instead of an ID.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySchema {
    pub version: i64,
    pub attributes: Vec<IdentityAttribute>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IdentityAttribute {
    pub name: String,
    pub ty: Type,
    /// An import by identity must give it; otherwise it may.
    pub required_for_import: bool,
    pub description: String,
}

impl IdentityAttribute {
    pub fn required(name: &str, description: &str) -> Self {
        IdentityAttribute { name: name.into(), ty: Type::String, required_for_import: true, description: description.into() }
    }

    pub fn optional(name: &str, description: &str) -> Self {
        IdentityAttribute { required_for_import: false, ..IdentityAttribute::required(name, description) }
    }
}

impl IdentitySchema {
    pub fn new(attributes: Vec<IdentityAttribute>) -> Self {
        IdentitySchema { version: 0, attributes }
    }

    pub fn value_type(&self) -> Type {
        Type::Object(self.attributes.iter().map(|a| (a.name.clone(), a.ty.clone())).collect())
    }
}

#[async_trait]
pub trait Resource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// Checks on the configuration alone (values may be unknown).
    async fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }

    /// Refines the generic plan: more checks, forced replacements, planned values.
    async fn modify_plan(&self, _request: PlanRequest<'_>, _plan: &mut Plan) {}

    async fn create(&self, planned: &Value, config: &Value) -> StateResult;
    /// Returns the resource as it is now; a null state means it is gone.
    async fn read(&self, state: &Value, private: &[u8]) -> StateResult;
    async fn update(&self, prior: &Value, planned: &Value, config: &Value, private: &[u8]) -> StateResult;
    async fn delete(&self, prior: &Value, private: &[u8]) -> Diagnostics;
    /// Builds a state from an import ID; the server reads it right after.
    async fn import(&self, id: &str) -> StateResult;

    /// Upgrades state stored under an older schema version (already decoded with the
    /// current schema's type, extra attributes dropped).
    fn upgrade_state(&self, _from_version: i64, state: Value) -> Result<Value, Diagnostics> {
        Ok(state)
    }

    /// None for a resource without identity.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }

    /// The identity of the object `state` describes; None while a part of it is not known.
    fn identity(&self, _state: &Value) -> Option<Value> {
        None
    }

    /// The import ID that names the same object as `identity`.
    fn import_id(&self, _identity: &Value) -> Option<String> {
        None
    }

    /// An identity stored at `from_version` (below the schema's), as the state file holds it
    /// (JSON), in the current identity schema. By default the attributes the schema still has
    /// are kept.
    fn upgrade_identity(&self, _from_version: i64, raw: &serde_json::Value) -> Result<Value, Diagnostics> {
        let Some(schema) = self.identity_schema() else {
            return Err(Diagnostic::error("No identity", "This resource type has no identity to upgrade.").into());
        };
        keep_schema_attributes(&schema, raw)
    }

    /// Configuration for the object `state` describes (an import's or a list result's), for
    /// `-generate-config-out`. It must plan with no changes against that state.
    fn generate_config(&self, state: &Value) -> Result<Value, Diagnostics> {
        Ok(generate_config_generic(&self.schema().block, state))
    }

    /// A `moved` block from another resource type to this one: the state for `source`, or
    /// None when this type takes no state from `source`'s (the server then refuses the move).
    fn move_state(&self, _source: &MoveSource<'_>) -> Option<Result<Value, Diagnostics>> {
        None
    }
}

/// The state a `moved` block moves, as the CLI hands it over: the source's own JSON, in the
/// source type's schema (which may be another provider's).
#[derive(Debug, Clone, Copy)]
pub struct MoveSource<'a> {
    /// e.g. `registry.terraform.io/meshtls/meshtls`, or `meshtls`.
    pub provider_address: &'a str,
    pub type_name: &'a str,
    pub schema_version: i64,
    pub state: &'a serde_json::Value,
}

impl MoveSource<'_> {
    /// Whether the source is `type_name` of the provider of type `provider` (`meshtls`). The
    /// CLIs say the provider differently: Terraform gives its full address
    /// (`registry.terraform.io/meshtls/meshtls`), OpenTofu its type alone, so the last part
    /// of the address is compared.
    pub fn is(&self, provider: &str, type_name: &str) -> bool {
        self.type_name == type_name && self.provider_address.rsplit('/').next() == Some(provider)
    }
}

/// What a list resource is asked for. The types are those of the managed resource of the
/// same name, which every result is an object of.
pub struct ListRequest<'a> {
    /// The list block's `config`.
    pub config: &'a Value,
    /// Whether the CLI wants each result's full object (it does to generate configuration).
    pub include_resource: bool,
    /// The CLI reads no more results than this.
    pub limit: usize,
    pub resource_type: &'a Type,
    pub identity_type: &'a Type,
}

/// One object a list resource found.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub identity: Value,
    /// One line a person can tell the object by.
    pub display_name: String,
    /// The object as an import of it would record it; None unless asked for.
    pub resource: Option<Value>,
}

#[derive(Debug, Default)]
pub struct ListResult {
    pub items: Vec<Listed>,
    pub diagnostics: Diagnostics,
}

/// Finds existing objects of one managed resource type, for `terraform query`. Listing
/// reads only: it never changes what it finds.
#[async_trait]
pub trait ListResource: Send + Sync {
    fn type_name(&self) -> &'static str;
    /// The schema of the list block's `config`.
    fn schema(&self) -> Schema;
    async fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    async fn list(&self, request: ListRequest<'_>) -> ListResult;
}

/// `raw`'s attributes that `schema` has, decoded against it; a missing one is an error.
pub fn keep_schema_attributes(schema: &IdentitySchema, raw: &serde_json::Value) -> Result<Value, Diagnostics> {
    if let Some(a) = schema.attributes.iter().find(|a| a.required_for_import && raw.get(&a.name).is_none_or(serde_json::Value::is_null)) {
        return Err(Diagnostic::error(
            "Unreadable stored identity",
            format!("The identity in state has no `{}`, which the current identity schema requires.", a.name),
        )
        .into());
    }
    let kept: serde_json::Map<String, serde_json::Value> =
        schema.attributes.iter().filter_map(|a| Some((a.name.clone(), raw.get(&a.name)?.clone()))).collect();
    let bytes = serde_json::to_vec(&kept).unwrap_or_default();
    crate::json::decode(&bytes, &schema.value_type()).map_err(|e| {
        Diagnostic::error("Unreadable stored identity", format!("The identity in state does not fit the current identity schema: {e}."))
            .into()
    })
}

/// Configuration from a state, by the schema alone: what only the provider computes is
/// left out, and so are values equal to their default and write-only values (never in a
/// state). Nested blocks get the same treatment.
pub fn generate_config_generic(block: &Block, state: &Value) -> Value {
    let Value::Object(attrs) = state else { return state.clone() };
    let mut out = attrs.clone();
    for a in &block.attributes {
        let Some(v) = out.get_mut(&a.name) else { continue };
        let read_only = a.computed && !a.optional;
        if read_only || a.write_only || a.default.as_ref() == Some(&*v) {
            *v = Value::Null;
        }
    }
    for b in &block.blocks {
        let Some(v) = out.get_mut(&b.type_name) else { continue };
        *v = match std::mem::take(v) {
            Value::List(items) => Value::List(items.iter().map(|i| generate_config_generic(&b.block, i)).collect()),
            Value::Set(items) => Value::Set(items.iter().map(|i| generate_config_generic(&b.block, i)).collect()),
            Value::Map(items) => Value::Map(items.iter().map(|(k, i)| (k.clone(), generate_config_generic(&b.block, i))).collect()),
            single => generate_config_generic(&b.block, &single),
        };
    }
    Value::Object(out)
}

#[async_trait]
pub trait DataSource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::new()
    }
    async fn read(&self, config: &Value) -> StateResult;
}

/// Terraform-plugin-framework's planning rules, applied to the top level of a resource:
/// defaults fill null optional+computed attributes; computed attributes the configuration
/// leaves null become unknown on create, and on update unless they use prior state or the
/// resource does not change; requires-replace attributes that change force replacement.
pub fn plan_generic(block: &Block, prior: &Value, proposed: Value, config: &Value) -> (Value, Vec<AttributePath>) {
    if proposed.is_null() {
        return (Value::Null, Vec::new());
    }
    let mut planned = proposed;
    // Configuration is the source of truth for what it sets. Terraform 1.0 proposes a
    // single nested block's prior value even when the configuration dropped the block, and
    // then rejects that same plan, so absent blocks and non-computed attributes are taken
    // from the configuration.
    for b in &block.blocks {
        if config.get(&b.type_name).is_null() {
            planned.set(&b.type_name, Value::Null);
        }
    }
    // Nested attributes are left as proposed: the CLI proposes their computed parts from the
    // prior state, which the configuration does not hold (and Terraform 1.0, whose proposals
    // this corrects, does not take them).
    for a in block.attributes.iter().filter(|a| !a.computed && matches!(a.ty, AttributeType::Plain(_))) {
        // Compared first: copying a large value that is already as configured costs memory.
        if planned.get(&a.name) != config.get(&a.name) {
            planned.set(&a.name, config.get(&a.name).clone());
        }
    }
    for a in &block.attributes {
        if a.computed && config.get(&a.name).is_null() {
            if let Some(default) = &a.default {
                planned.set(&a.name, default.clone());
            } else if prior.is_null() {
                planned.set(&a.name, Value::Unknown);
            }
        }
    }
    let mut replace = Vec::new();
    if !prior.is_null() && planned != *prior {
        // A computed attribute the configuration leaves alone may change with the update.
        for a in &block.attributes {
            if a.computed && a.default.is_none() && config.get(&a.name).is_null() {
                planned.set(&a.name, Value::Unknown);
            }
        }
        for a in block.attributes.iter().filter(|a| !a.plan_modifiers.is_empty()) {
            let mut value = planned.get(&a.name).clone();
            let mut p = Planning {
                path: AttributePath::attrs(&[&a.name]),
                config: config.get(&a.name),
                prior: prior.get(&a.name),
                planned: &mut value,
                requires_replace: false,
            };
            for m in &a.plan_modifiers {
                m.modify(&mut p);
            }
            if p.requires_replace {
                replace.push(p.path);
            }
            planned.set(&a.name, value);
        }
        for b in block.blocks.iter().filter(|b| b.requires_replace) {
            if planned.get(&b.type_name) != prior.get(&b.type_name) {
                replace.push(AttributePath::attrs(&[&b.type_name]));
            }
        }
    }
    (planned, replace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attribute;

    fn block() -> Block {
        Block::new("")
            .attribute(Attribute::string("id").computed().use_state_for_unknown())
            .attribute(Attribute::string("name").required().requires_replace())
            .attribute(Attribute::string("algo").default("P256").requires_replace())
            .attribute(Attribute::string("label").optional())
            .attribute(Attribute::string("revision").computed())
    }

    fn obj(id: Value, name: &str, algo: Value, label: Value, revision: Value) -> Value {
        Value::object([("id", id), ("name", name.into()), ("algo", algo), ("label", label), ("revision", revision)])
    }

    #[test]
    fn create_plans_defaults_and_unknowns() {
        let config = obj(Value::Null, "a", Value::Null, Value::Null, Value::Null);
        let (planned, replace) = plan_generic(&block(), &Value::Null, config.clone(), &config);
        assert_eq!(planned, obj(Value::Unknown, "a", "P256".into(), Value::Null, Value::Unknown));
        assert!(replace.is_empty());
    }

    #[test]
    fn unchanged_resource_plans_prior_state() {
        let prior = obj("x".into(), "a", "P256".into(), Value::Null, "1".into());
        let config = obj(Value::Null, "a", Value::Null, Value::Null, Value::Null);
        // Terraform proposes prior values for computed attributes the config leaves null.
        let proposed = prior.clone();
        let (planned, replace) = plan_generic(&block(), &prior, proposed.clone(), &config);
        assert_eq!(planned, prior);
        assert!(replace.is_empty());
    }

    #[test]
    fn update_keeps_state_for_marked_attributes_only() {
        let prior = obj("x".into(), "a", "P256".into(), Value::Null, "1".into());
        let config = obj(Value::Null, "a", Value::Null, "new".into(), Value::Null);
        let proposed = obj("x".into(), "a", "P256".into(), "new".into(), "1".into());
        let (planned, replace) = plan_generic(&block(), &prior, proposed.clone(), &config);
        assert_eq!(planned, obj("x".into(), "a", "P256".into(), "new".into(), Value::Unknown));
        assert!(replace.is_empty());
    }

    #[test]
    fn dropped_block_plans_null_even_if_proposed_keeps_it() {
        let b = Block::new("").attribute(Attribute::string("name").required()).block(crate::schema::NestedBlock::new(
            "issuer",
            crate::schema::Nesting::Single,
            Block::new("").attribute(Attribute::string("kind").required()),
        ));
        let prior = Value::object([("name", "a".into()), ("issuer", Value::object([("kind", "Issuer".into())]))]);
        let config = Value::object([("name", "a".into()), ("issuer", Value::Null)]);
        let (planned, _) = plan_generic(&b, &prior, prior.clone(), &config);
        assert_eq!(planned, config);
    }

    #[test]
    fn a_nested_attribute_keeps_its_proposed_computed_parts() {
        let entry = vec![Attribute::string("name").required(), Attribute::string("id").computed()];
        let b = Block::new("")
            .attribute(Attribute::nested("entries", crate::schema::Nesting::Map, entry).required())
            .attribute(Attribute::string("label").optional());
        let entries = |id: Value| Value::Map([("a".to_string(), Value::object([("name", "a".into()), ("id", id)]))].into());
        let prior = Value::object([("entries", entries("x".into())), ("label", "old".into())]);
        let config = Value::object([("entries", entries(Value::Null)), ("label", "new".into())]);
        // As the CLI proposes: computed parts from the prior state, the rest as configured.
        let proposed = Value::object([("entries", entries("x".into())), ("label", "new".into())]);
        let (planned, _) = plan_generic(&b, &prior, proposed.clone(), &config);
        assert_eq!(planned.get("entries"), &entries("x".into()), "not replaced by the configuration's null id");
        // The positive control: a plain attribute is taken from the configuration.
        let stale = Value::object([("entries", entries("x".into())), ("label", "old".into())]);
        assert_eq!(plan_generic(&b, &prior, stale, &config).0.get("label"), &Value::from("new"));
    }

    #[test]
    fn changed_immutable_attribute_requires_replace() {
        let prior = obj("x".into(), "a", "P256".into(), Value::Null, "1".into());
        let config = obj(Value::Null, "b", "P384".into(), Value::Null, Value::Null);
        let proposed = obj("x".into(), "b", "P384".into(), Value::Null, "1".into());
        let (_, replace) = plan_generic(&block(), &prior, proposed.clone(), &config);
        assert_eq!(replace, vec![AttributePath::attrs(&["name"]), AttributePath::attrs(&["algo"])]);
    }
}
