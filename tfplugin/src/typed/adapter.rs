//! The blanket impls that adapt typed resources, list resources and data sources to the
//! dynamic traits the server calls: decoding, encoding and the keeping of partial state, once.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;
use crate::bridge::{coarsen, from_value, restore, to_value, BridgeError};
use crate::framework::{
    generate_config_generic, DataSource, IdentitySchema, ListRequest, ListResource, ListResult, Listed, MoveSource, Plan, PlanRequest,
    Resource, StateResult,
};
use crate::types::Type;
use crate::value::Value;

fn decode<M: DeserializeOwned>(value: &Value, what: &str) -> Result<M, Diagnostics> {
    from_value(value).map_err(|e: BridgeError| e.diagnostic(&format!("reading the {what}")).into())
}

fn encode<M: Serialize>(model: &M, ty: &Type, what: &str) -> Result<Value, Diagnostic> {
    to_value(model, ty).map_err(|e| e.diagnostic(&format!("writing the {what}")))
}

/// A configuration its model cannot hold. With the schema test in place every value of the
/// schema's type fits except a number outside its field's range (a port of 1.5 or 1e30), so
/// that is what the diagnostic says. A model that cannot hold a not-yet-known value is
/// checked again at plan.
fn rejected(config: &Value, e: &BridgeError) -> Diagnostics {
    if !config.is_wholly_known() {
        return Diagnostics::new();
    }
    let d = Diagnostic::error("Invalid value", format!("{e}. Use a whole number in the attribute's range."));
    if e.path.0.is_empty() { d } else { d.at(e.path.clone()) }.into()
}

/// Builds the dynamic result: on failure the partial model if any, else null (the server
/// then keeps the prior state of a read or update).
fn to_result<M: Serialize>(outcome: Outcome<M>, ty: &Type) -> StateResult {
    match outcome {
        Ok(Saved { state, private, mut warnings }) => match encode(&state, ty, "new state") {
            Ok(state) => StateResult { state, private, diagnostics: warnings },
            Err(d) => {
                warnings.push(d);
                StateResult::failed(warnings)
            }
        },
        Err(Failure { mut diagnostics, partial, private }) => {
            let (state, private) = match partial.map(|p| encode(&p, ty, "partial state")) {
                Some(Ok(v)) => (v, private),
                Some(Err(d)) => {
                    diagnostics.push(d);
                    (Value::Null, Vec::new())
                }
                None => (Value::Null, Vec::new()),
            };
            StateResult { state, private, diagnostics }
        }
    }
}

#[async_trait]
impl<R: TypedResource> Resource for R {
    fn type_name(&self) -> &'static str {
        TypedResource::type_name(self)
    }

    fn schema(&self) -> Schema {
        TypedResource::schema(self)
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        match from_value::<R::Model>(&coarsen(config).0) {
            Ok(model) => TypedResource::validate(self, &model).await,
            Err(e) => rejected(config, &e),
        }
    }

    async fn modify_plan(&self, request: PlanRequest<'_>, plan: &mut Plan) {
        // Lists not all of whose elements are known reach the model as unknown, and are put
        // back as they were wherever the resource left them so.
        let (coarse_planned, coarsened) = coarsen(&plan.planned);
        let read = || -> Result<(Option<R::Model>, R::Model, R::Model), Diagnostics> {
            let prior = if request.prior.is_null() { None } else { Some(decode(request.prior, "prior state")?) };
            Ok((prior, decode(&coarsen(request.config).0, "configuration")?, decode(&coarse_planned, "plan")?))
        };
        let (prior, config, planned) = match read() {
            Ok(models) => models,
            // A configuration with unknowns the model cannot hold yet keeps the generic plan.
            Err(_) if !request.config.is_wholly_known() => return,
            Err(d) => return plan.diagnostics.extend(d),
        };
        let mut typed = TypedPlan {
            planned,
            requires_replace: std::mem::take(&mut plan.requires_replace),
            private: std::mem::take(&mut plan.private),
            diagnostics: Diagnostics::new(),
            replace_through: Vec::new(),
        };
        let typed_request = TypedPlanRequest { prior: prior.as_ref(), config: &config, prior_private: request.prior_private };
        TypedResource::modify_plan(self, typed_request, &mut typed).await;
        plan.private = typed.private;
        plan.requires_replace = typed.requires_replace;
        plan.diagnostics.extend(typed.diagnostics);
        match encode(&typed.planned, &TypedResource::schema(self).value_type(), "plan") {
            Ok(mut planned) => {
                restore(&mut planned, &plan.planned, &coarsened);
                plan.planned = planned;
            }
            Err(d) => plan.diagnostics.push(d),
        }
        for attribute in typed.replace_through {
            plan.replace_through(attribute);
        }
    }

    async fn create(&self, planned: &Value, config: &Value) -> StateResult {
        let models = decode(planned, "plan").and_then(|p| Ok((p, decode(config, "configuration")?)));
        match models {
            Ok((planned, config)) => {
                to_result(TypedResource::create(self, planned, config).await, &TypedResource::schema(self).value_type())
            }
            Err(d) => StateResult::failed(d),
        }
    }

    async fn read(&self, state: &Value, private: &[u8]) -> StateResult {
        let ty = TypedResource::schema(self).value_type();
        let state = match decode(state, "state") {
            Ok(s) => s,
            Err(d) => return StateResult::failed(d),
        };
        match TypedResource::read(self, state, private).await {
            Ok(None) => StateResult::ok(Value::Null, Vec::new()),
            Ok(Some(saved)) => to_result(Ok(saved), &ty),
            Err(failure) => to_result(Err(failure), &ty),
        }
    }

    async fn update(&self, prior: &Value, planned: &Value, config: &Value, private: &[u8]) -> StateResult {
        let models = decode(prior, "prior state").and_then(|p| Ok((p, decode(planned, "plan")?, decode(config, "configuration")?)));
        match models {
            Ok((prior, planned, config)) => {
                to_result(TypedResource::update(self, prior, planned, config, private).await, &TypedResource::schema(self).value_type())
            }
            Err(d) => StateResult::failed(d),
        }
    }

    async fn delete(&self, prior: &Value, private: &[u8]) -> Diagnostics {
        match decode(prior, "prior state") {
            Ok(prior) => TypedResource::delete(self, prior, private).await.unwrap_or_else(|errors| errors),
            Err(d) => d,
        }
    }

    async fn import(&self, id: &str) -> StateResult {
        to_result(TypedResource::import(self, id).await, &TypedResource::schema(self).value_type())
    }

    fn upgrade_state(&self, from_version: i64, state: Value) -> Result<Value, Diagnostics> {
        TypedResource::upgrade_state(self, from_version, state)
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        TypedResource::identity_schema(self)
    }

    fn identity(&self, state: &Value) -> Option<Value> {
        let schema = TypedResource::identity_schema(self)?;
        if state.is_null() {
            return None;
        }
        let model: R::Model = from_value(&coarsen(state).0).ok()?;
        to_value(&TypedResource::identity(self, &model)?, &schema.value_type()).ok()
    }

    fn upgrade_identity(&self, from_version: i64, raw: &serde_json::Value) -> Result<Value, Diagnostics> {
        let schema = TypedResource::identity_schema(self)
            .ok_or_else(|| Diagnostics::from(Diagnostic::error("No identity", "This resource type has no identity to upgrade.")))?;
        crate::framework::keep_schema_attributes(&schema, &TypedResource::upgrade_identity(self, from_version, raw.clone()))
    }

    fn import_id(&self, identity: &Value) -> Option<String> {
        from_value::<R::Identity>(identity).ok().map(|i| i.import_id())
    }

    fn move_state(&self, source: &MoveSource<'_>) -> Option<Result<Value, Diagnostics>> {
        let moved = TypedResource::move_from(self, source)?;
        Some(moved.and_then(|m| encode(&m, &TypedResource::schema(self).value_type(), "moved state").map_err(Diagnostics::from)))
    }

    fn generate_config(&self, state: &Value) -> Result<Value, Diagnostics> {
        let schema = TypedResource::schema(self);
        let refined = TypedResource::generate_config(self, decode(state, "state")?);
        let config = encode(&refined, &schema.value_type(), "generated configuration")?;
        Ok(generate_config_generic(&schema.block, &config))
    }
}

#[async_trait]
impl<L: TypedListResource> ListResource for L {
    fn type_name(&self) -> &'static str {
        TypedListResource::type_name(self)
    }

    fn schema(&self) -> Schema {
        TypedListResource::schema(self)
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        match from_value::<L::Config>(&coarsen(config).0) {
            Ok(model) => TypedListResource::validate(self, &model).await,
            Err(e) => rejected(config, &e),
        }
    }

    async fn list(&self, request: ListRequest<'_>) -> ListResult {
        let config = match decode::<L::Config>(request.config, "list configuration") {
            Ok(c) => c,
            Err(diagnostics) => return ListResult { items: Vec::new(), diagnostics },
        };
        let Listing { found, warnings: mut diagnostics } = match TypedListResource::list(self, config, request.limit).await {
            Ok(listing) => listing,
            Err(diagnostics) => return ListResult { items: Vec::new(), diagnostics },
        };
        let mut items = Vec::with_capacity(found.len().min(request.limit));
        for f in found.into_iter().take(request.limit) {
            let identity = match encode(&f.identity, request.identity_type, "identity") {
                Ok(v) => v,
                Err(d) => {
                    diagnostics.push(d);
                    continue;
                }
            };
            let resource = match request.include_resource.then(|| encode(&f.resource, request.resource_type, "listed object")) {
                Some(Err(d)) => {
                    diagnostics.push(d);
                    continue;
                }
                Some(Ok(v)) => Some(v),
                None => None,
            };
            items.push(Listed { identity, display_name: f.display_name, resource });
        }
        ListResult { items, diagnostics }
    }
}

#[async_trait]
impl<D: TypedDataSource> DataSource for D {
    fn type_name(&self) -> &'static str {
        TypedDataSource::type_name(self)
    }

    fn schema(&self) -> Schema {
        TypedDataSource::schema(self)
    }

    async fn validate(&self, config: &Value) -> Diagnostics {
        match from_value::<D::Model>(&coarsen(config).0) {
            Ok(model) => TypedDataSource::validate(self, &model).await,
            Err(e) => rejected(config, &e),
        }
    }

    async fn read(&self, config: &Value) -> StateResult {
        match decode(config, "configuration") {
            Ok(config) => to_result(TypedDataSource::read(self, config).await, &TypedDataSource::schema(self).value_type()),
            Err(d) => StateResult::failed(d),
        }
    }
}
