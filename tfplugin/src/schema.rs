//! Schemas: what a provider, resource or data source accepts and records.

use crate::diag::{AttributePath, Step};
use crate::diag::{Diagnostic, Diagnostics};
use crate::types::Type;
use crate::validator::Validator;
use crate::value::Value;

/// What happens to an attribute's planned value beyond Terraform's defaults, as a value that
/// does its own work on an update's plan ([`PlanModifier::modify`]).
#[derive(Debug, Clone, PartialEq)]
pub enum PlanModifier {
    /// A change to this attribute replaces the resource.
    RequiresReplace,
    /// A computed attribute keeps its prior value instead of becoming unknown on update.
    UseStateForUnknown,
}

/// One attribute's values in an update's plan.
pub struct Planning<'a> {
    pub path: AttributePath,
    pub config: &'a Value,
    pub prior: &'a Value,
    /// What the plan holds so far; a modifier may change it.
    pub planned: &'a mut Value,
    /// Set when the change replaces the resource.
    pub requires_replace: bool,
}

impl PlanModifier {
    /// Runs once the default plan is made, on an update that changes something.
    pub fn modify(&self, p: &mut Planning<'_>) {
        match self {
            PlanModifier::RequiresReplace => p.requires_replace |= p.planned != p.prior,
            PlanModifier::UseStateForUnknown => {
                if p.config.is_null() && p.planned.is_unknown() {
                    *p.planned = p.prior.clone();
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
    /// Like Single, but the block is never null: an absent block is an object of nulls.
    Group,
}

/// How an attribute is typed: a plain type, or nested attributes (`attr = { ... }`).
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeType {
    Plain(Type),
    Nested { nesting: Nesting, attributes: Vec<Attribute> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub ty: AttributeType,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub write_only: bool,
    pub deprecated: bool,
    /// Planned when the configuration leaves the attribute null (the attribute must be
    /// optional and computed, as Terraform only lets providers fill in computed values).
    pub default: Option<Value>,
    pub plan_modifiers: Vec<PlanModifier>,
    /// Rules the configured value must keep, checked before the resource's own validate.
    pub validators: Vec<Validator>,
}

impl Attribute {
    pub fn new(name: &str, ty: Type) -> Self {
        Attribute {
            name: name.to_string(),
            ty: AttributeType::Plain(ty),
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecated: false,
            default: None,
            plan_modifiers: Vec::new(),
            validators: Vec::new(),
        }
    }

    pub fn string(name: &str) -> Self {
        Self::new(name, Type::String)
    }
    pub fn number(name: &str) -> Self {
        Self::new(name, Type::Number)
    }
    pub fn bool(name: &str) -> Self {
        Self::new(name, Type::Bool)
    }

    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        let mut a = Self::new(name, Type::Dynamic);
        a.ty = AttributeType::Nested { nesting, attributes };
        a
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }
    /// Optional with a default: also computed, so the default can be planned.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.optional = true;
        self.computed = true;
        self.default = Some(value.into());
        self
    }
    pub fn requires_replace(mut self) -> Self {
        self.plan_modifiers.push(PlanModifier::RequiresReplace);
        self
    }
    pub fn use_state_for_unknown(mut self) -> Self {
        self.plan_modifiers.push(PlanModifier::UseStateForUnknown);
        self
    }

    /// Adds a rule the configured value must keep; its sentence is added to the description.
    pub fn validator(mut self, v: Validator) -> Self {
        self.validators.push(v);
        self
    }

    /// The description with a sentence per validator, as the schema states it.
    pub fn full_description(&self) -> String {
        let rules = self.validators.iter().map(Validator::describe);
        std::iter::once(self.description.clone()).chain(rules).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
    }

    pub fn has_modifier(&self, m: &PlanModifier) -> bool {
        self.plan_modifiers.contains(m)
    }

    pub fn value_type(&self) -> Type {
        match &self.ty {
            AttributeType::Plain(t) => t.clone(),
            AttributeType::Nested { nesting, attributes } => {
                let obj = Type::Object(attributes.iter().map(|a| (a.name.clone(), a.value_type())).collect());
                wrap(*nesting, obj)
            }
        }
    }
}

fn wrap(nesting: Nesting, obj: Type) -> Type {
    match nesting {
        Nesting::Single | Nesting::Group => obj,
        Nesting::List => Type::list(obj),
        Nesting::Set => Type::set(obj),
        Nesting::Map => Type::map(obj),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NestedBlock {
    pub type_name: String,
    pub block: Block,
    pub nesting: Nesting,
    pub min_items: i64,
    pub max_items: i64,
    /// A change anywhere in the block replaces the resource.
    pub requires_replace: bool,
}

impl NestedBlock {
    /// An optional block without item limits. (For Single nesting the CLIs require
    /// min_items == max_items: both 0 for an optional block.)
    pub fn new(type_name: &str, nesting: Nesting, block: Block) -> Self {
        NestedBlock { type_name: type_name.to_string(), block, nesting, min_items: 0, max_items: 0, requires_replace: false }
    }

    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    pub description: String,
    pub deprecated: bool,
}

impl Block {
    pub fn new(description: &str) -> Self {
        Block { description: description.to_string(), ..Default::default() }
    }

    pub fn attribute(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }

    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }

    /// The object type of values conforming to this block.
    pub fn implied_type(&self) -> Type {
        let mut attrs: std::collections::BTreeMap<String, Type> =
            self.attributes.iter().map(|a| (a.name.clone(), a.value_type())).collect();
        for b in &self.blocks {
            attrs.insert(b.type_name.clone(), wrap(b.nesting, b.block.implied_type()));
        }
        Type::Object(attrs)
    }

    pub fn attribute_named(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Every validator's verdict on `value`, a configuration of this block, with the path of
    /// each attribute that breaks one (in nested blocks too).
    pub fn validate_values(&self, value: &Value) -> Diagnostics {
        let mut out = Diagnostics::new();
        self.visit_validators(value, &mut Vec::new(), &mut out);
        out
    }

    fn visit_validators(&self, value: &Value, path: &mut Vec<Step>, out: &mut Diagnostics) {
        for a in self.attributes.iter().filter(|a| !a.validators.is_empty()) {
            let v = value.get(&a.name);
            path.push(Step::Attribute(a.name.clone()));
            // The first rule broken is the one to fix; the next would repeat it.
            if let Some(problem) = a.validators.iter().find_map(|r| r.check(&a.name, v)) {
                out.push(Diagnostic::error(format!("Invalid {}", a.name), problem).at(AttributePath(path.clone())));
            }
            path.pop();
        }
        for b in &self.blocks {
            path.push(Step::Attribute(b.type_name.clone()));
            match value.get(&b.type_name) {
                Value::List(items) | Value::Set(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Step::Index(i as i64));
                        b.block.visit_validators(item, path, out);
                        path.pop();
                    }
                }
                Value::Map(items) => {
                    for (k, item) in items {
                        path.push(Step::Key(k.clone()));
                        b.block.visit_validators(item, path, out);
                        path.pop();
                    }
                }
                Value::Null | Value::Unknown => {}
                single => b.block.visit_validators(single, path, out),
            }
            path.pop();
        }
    }

    /// The paths of the write-only attributes `value` sets, in this block and the blocks
    /// nested in it.
    pub fn write_only_paths(&self, value: &Value) -> Vec<AttributePath> {
        let mut out = Vec::new();
        self.visit_write_only(value, &mut Vec::new(), &mut |path, v| {
            if !v.is_null() {
                out.push(AttributePath(path.to_vec()));
            }
        });
        out
    }

    /// Sets every write-only attribute in `value` to null: what a plan or state must hold,
    /// since the CLI never stores them.
    /// Whether any attribute, here or in a nested block, is write-only.
    pub fn has_write_only(&self) -> bool {
        self.attributes.iter().any(|a| a.write_only) || self.blocks.iter().any(|b| b.block.has_write_only())
    }

    pub fn null_write_only(&self, value: &mut Value) {
        for a in self.attributes.iter().filter(|a| a.write_only) {
            if let Some(v) = value.get_mut(&a.name) {
                *v = Value::Null;
            }
        }
        for b in &self.blocks {
            let Some(nested) = value.get_mut(&b.type_name) else { continue };
            match nested {
                Value::List(items) | Value::Set(items) => items.iter_mut().for_each(|i| b.block.null_write_only(i)),
                Value::Map(items) => items.values_mut().for_each(|i| b.block.null_write_only(i)),
                other => b.block.null_write_only(other),
            }
        }
    }

    fn visit_write_only(&self, value: &Value, path: &mut Vec<Step>, f: &mut dyn FnMut(&[Step], &Value)) {
        for a in self.attributes.iter().filter(|a| a.write_only) {
            path.push(Step::Attribute(a.name.clone()));
            f(path, value.get(&a.name));
            path.pop();
        }
        for b in &self.blocks {
            path.push(Step::Attribute(b.type_name.clone()));
            match value.get(&b.type_name) {
                Value::List(items) | Value::Set(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Step::Index(i as i64));
                        b.block.visit_write_only(item, path, f);
                        path.pop();
                    }
                }
                Value::Map(items) => {
                    for (k, item) in items {
                        path.push(Step::Key(k.clone()));
                        b.block.visit_write_only(item, path, f);
                        path.pop();
                    }
                }
                other => b.block.visit_write_only(other, path, f),
            }
            path.pop();
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Self {
        Schema { version, block }
    }

    pub fn value_type(&self) -> Type {
        self.block.implied_type()
    }
}

pub(crate) mod wire {
    //! Conversion to the protocol's schema messages.
    use super::*;
    use crate::proto::tfplugin6 as pb;

    fn nesting_block(n: Nesting) -> i32 {
        use pb::schema::nested_block::NestingMode as M;
        (match n {
            Nesting::Single => M::Single,
            Nesting::List => M::List,
            Nesting::Set => M::Set,
            Nesting::Map => M::Map,
            Nesting::Group => M::Group,
        }) as i32
    }

    fn nesting_object(n: Nesting) -> i32 {
        use pb::schema::object::NestingMode as M;
        (match n {
            Nesting::Single | Nesting::Group => M::Single,
            Nesting::List => M::List,
            Nesting::Set => M::Set,
            Nesting::Map => M::Map,
        }) as i32
    }

    fn attribute(a: &Attribute) -> pb::schema::Attribute {
        let (ty, nested_type) = match &a.ty {
            AttributeType::Plain(t) => (t.to_json_bytes(), None),
            AttributeType::Nested { nesting, attributes } => {
                #[allow(deprecated)]
                let obj = pb::schema::Object {
                    attributes: attributes.iter().map(attribute).collect(),
                    nesting: nesting_object(*nesting),
                    min_items: 0,
                    max_items: 0,
                };
                (Vec::new(), Some(obj))
            }
        };
        pb::schema::Attribute {
            name: a.name.clone(),
            r#type: ty,
            nested_type,
            description: a.full_description(),
            required: a.required,
            optional: a.optional,
            computed: a.computed,
            sensitive: a.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: a.deprecated,
            write_only: a.write_only,
            deprecation_message: String::new(),
        }
    }

    pub(crate) fn block(b: &Block, version: i64) -> pb::schema::Block {
        pb::schema::Block {
            version,
            attributes: b.attributes.iter().map(attribute).collect(),
            block_types: b
                .blocks
                .iter()
                .map(|nb| pb::schema::NestedBlock {
                    type_name: nb.type_name.clone(),
                    block: Some(block(&nb.block, 0)),
                    nesting: nesting_block(nb.nesting),
                    min_items: nb.min_items,
                    max_items: nb.max_items,
                })
                .collect(),
            description: b.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: b.deprecated,
            deprecation_message: String::new(),
        }
    }

    pub(crate) fn schema(s: &Schema) -> pb::Schema {
        pb::Schema { version: s.version, block: Some(block(&s.block, s.version)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_type_covers_blocks_and_nested_attributes() {
        let b = Block::new("")
            .attribute(Attribute::string("name").required())
            .attribute(Attribute::nested("tags", Nesting::Map, vec![Attribute::string("v").optional()]))
            .block(NestedBlock::new("k", Nesting::Single, Block::new("").attribute(Attribute::string("p").optional())))
            .block(NestedBlock::new("r", Nesting::List, Block::new("").attribute(Attribute::bool("x").optional())));
        let expected = Type::object([
            ("name", Type::String),
            ("tags", Type::map(Type::object([("v", Type::String)]))),
            ("k", Type::object([("p", Type::String)])),
            ("r", Type::list(Type::object([("x", Type::Bool)]))),
        ]);
        assert_eq!(b.implied_type(), expected);
    }

    #[test]
    fn write_only_values_are_found_and_nulled_in_nested_blocks() {
        let block = Block::new("")
            .attribute(Attribute::string("name").optional())
            .attribute(Attribute::string("token").optional().write_only())
            .block(NestedBlock::new("key", Nesting::Single, Block::new("").attribute(Attribute::string("pem").optional().write_only())))
            .block(NestedBlock::new("items", Nesting::List, Block::new("").attribute(Attribute::string("secret").optional().write_only())));
        let mut value = Value::object([
            ("name", Value::from("a")),
            ("token", Value::Null),
            ("key", Value::object([("pem", Value::from("KEY"))])),
            ("items", Value::List(vec![Value::object([("secret", Value::Null)]), Value::object([("secret", Value::from("S"))])])),
        ]);
        let paths: Vec<String> = block.write_only_paths(&value).iter().map(|p| p.to_string()).collect();
        assert_eq!(paths, ["key.pem", "items[1].secret"]);
        block.null_write_only(&mut value);
        assert!(block.write_only_paths(&value).is_empty());
        assert_eq!(value.get("name"), &Value::from("a"), "other attributes stay");
    }

    #[test]
    fn default_makes_attribute_optional_and_computed() {
        let a = Attribute::string("algo").default("ECDSA_P256");
        assert!(a.optional && a.computed && !a.required);
    }
}
