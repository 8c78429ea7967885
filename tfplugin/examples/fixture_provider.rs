//! terraform-provider-fixture: the smallest provider that exercises what tfplugin decodes
//! from the CLIs (a provider block with a nested block, a resource with optional, computed
//! and nested values), so tfplugin's own tests capture real CLI values without any
//! particular provider's schema. It keeps nothing outside Terraform's state.
//!
//! `tests/fixtures/capture.sh` runs it under tofu and terraform with `TFPLUGIN_CAPTURE_DIR`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tfplugin::{
    Attr, Attribute, Block, ConfigureRequest, Diagnostics, NestedBlock, Nesting, Outcome, Provider, Resource, Saved, Schema, Type,
    TypedResource, Validator,
};

/// A thing the provider "creates": its `serial` is computed, so a second thing that refers
/// to it plans with unknown values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Thing {
    id: Attr<String>,
    name: Attr<String>,
    size: Attr<i64>,
    labels: Attr<BTreeMap<String, String>>,
    serial: Attr<String>,
    shape: Option<Shape>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shape {
    kind: Attr<String>,
    sides: Attr<i64>,
}

struct ThingResource;

#[async_trait]
impl TypedResource for ThingResource {
    type Model = Thing;
    type Identity = ();

    fn type_name(&self) -> &'static str {
        "fixture_thing"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("A thing kept in state only.")
                .attribute(Attribute::string("id").computed())
                .attribute(Attribute::string("name").required().validator(Validator::length_range(1, 63)))
                .attribute(Attribute::number("size").optional().default(3).validator(Validator::int_range(1, 100)))
                .attribute(Attribute::new("labels", Type::map(Type::String)).optional())
                .attribute(Attribute::string("serial").computed())
                .block(NestedBlock::new(
                    "shape",
                    Nesting::Single,
                    Block::new("An optional single block.")
                        .attribute(Attribute::string("kind").required().validator(Validator::one_of(&["square", "circle"])))
                        .attribute(Attribute::number("sides").optional()),
                )),
        )
    }

    async fn create(&self, mut planned: Thing, _config: Thing) -> Outcome<Thing> {
        let name = planned.name.known().cloned().unwrap_or_default();
        planned.id = Attr::Known(name.clone());
        planned.serial = Attr::Known(format!("serial-{name}"));
        Ok(Saved::new(planned))
    }

    async fn read(&self, state: Thing, _private: &[u8]) -> Result<Option<Saved<Thing>>, tfplugin::Failure<Thing>> {
        Ok(Some(Saved::new(state)))
    }

    async fn update(&self, _prior: Thing, planned: Thing, _config: Thing, _private: &[u8]) -> Outcome<Thing> {
        Ok(Saved::new(planned))
    }

    async fn delete(&self, _prior: Thing, _private: &[u8]) -> Result<Diagnostics, Diagnostics> {
        Ok(Diagnostics::new())
    }

    async fn import(&self, id: &str) -> Outcome<Thing> {
        Ok(Saved::new(Thing { id: Attr::Known(id.into()), name: Attr::Known(id.into()), ..Default::default() }))
    }
}

struct Fixture;

#[async_trait]
impl Provider for Fixture {
    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("A provider for tfplugin's own tests.")
                .attribute(Attribute::string("region").optional())
                .attribute(Attribute::string("token").optional().sensitive())
                .block(NestedBlock::new(
                    "endpoints",
                    Nesting::Single,
                    Block::new("Where the provider would connect.")
                        .attribute(Attribute::string("primary").optional())
                        .attribute(Attribute::string("secondary").optional()),
                )),
        )
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(ThingResource)]
    }

    async fn configure(&self, _request: ConfigureRequest) -> Diagnostics {
        Diagnostics::new()
    }
}

fn main() -> std::process::ExitCode {
    tfplugin::plugin::main(
        Fixture,
        tfplugin::ServeOptions {
            address: "registry.terraform.io/tfplugin/fixture",
            binary_name: "terraform-provider-fixture",
            version: "0.0.1",
            held_log_targets: &[],
        },
    )
}
