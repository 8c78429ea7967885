//! Schemas: what a provider, resource or data source accepts and records.

use crate::types::Type;
use crate::value::Value;

/// What happens to an attribute's planned value beyond Terraform's defaults.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanModifier {
    /// A change to this attribute replaces the resource.
    RequiresReplace,
    /// A computed attribute keeps its prior value instead of becoming unknown on update.
    UseStateForUnknown,
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
            description: a.description.clone(),
            required: a.required,
            optional: a.optional,
            computed: a.computed,
            sensitive: a.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: a.deprecated,
            write_only: a.write_only,
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
    fn default_makes_attribute_optional_and_computed() {
        let a = Attribute::string("algo").default("ECDSA_P256");
        assert!(a.optional && a.computed && !a.required);
    }
}
