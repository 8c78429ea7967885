//! The resource RPCs: state upgrades, read, plan, apply, import and moves, each decoding its
//! request against the resource's schema, calling the resource, and encoding its reply.

use tonic::{Request, Response, Status};

use super::codec::*;
use super::ProviderServer;
use crate::diag::{Diagnostic, Diagnostics};
use crate::framework::{self, Plan, PlanRequest, StateResult};
use crate::json;
use crate::proto::tfplugin6 as pb;
use crate::value::Value;

pub(super) async fn upgrade_resource_state(
    server: &ProviderServer,
    req: Request<pb::upgrade_resource_state::Request>,
) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
    let req = req.into_inner();
    tracing::debug!(rpc = "UpgradeResourceState", type_name = %req.type_name, version = req.version, "serving");
    let r = server.resource(&req.type_name)?;
    let reply = |d: Diagnostics| pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics: diagnostics_to_wire(&d) };
    let raw = req.raw_state.unwrap_or_default();
    if raw.json.is_empty() && !raw.flatmap.is_empty() {
        return Ok(Response::new(reply(
            Diagnostic::error(
                "Unsupported state format",
                "This state was written in the pre-0.12 flatmap format, which this provider never produced.",
            )
            .into(),
        )));
    }
    let state = unwrap_or_reply!(
        json::decode(&raw.json, &r.ty)
            .map_err(|e| Diagnostics::from(Diagnostic::error("Stored state does not match the schema", e.to_string()))),
        reply
    );
    let state = unwrap_or_reply!(r.imp.upgrade_state(req.version, state), reply);
    let mut diags = Diagnostics::new();
    let upgraded_state = encode(&state, &r.ty, &mut diags);
    Ok(Response::new(pb::upgrade_resource_state::Response { upgraded_state, diagnostics: diagnostics_to_wire(&diags) }))
}

pub(super) async fn read_resource(
    server: &ProviderServer,
    req: Request<pb::read_resource::Request>,
) -> Result<Response<pb::read_resource::Response>, Status> {
    let req = req.into_inner();
    tracing::debug!(rpc = "ReadResource", type_name = %req.type_name, "serving");
    let r = server.resource(&req.type_name)?;
    let reply = |d: Diagnostics| pb::read_resource::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
    let current = unwrap_or_reply!(decode(req.current_state.as_ref(), &r.ty), reply);
    let StateResult { mut state, private, mut diagnostics } =
        unwrap_or_reply!(caught("ReadResource", &req.type_name, r.imp.read(&current, &req.private)).await, reply);
    if diagnostics.has_errors() && state.is_null() {
        // A failed read must not make Terraform believe the object is gone.
        state = current;
    }
    ensure_known(&mut state, &mut diagnostics);
    let state = without_write_only(r, state);
    let new_state = encode(&state, &r.ty, &mut diagnostics);
    let new_identity = identity_of(r, &state, &mut diagnostics);
    Ok(Response::new(pb::read_resource::Response {
        new_state,
        diagnostics: diagnostics_to_wire(&diagnostics),
        private,
        deferred: None,
        new_identity,
    }))
}

pub(super) async fn plan_resource_change(
    server: &ProviderServer,
    req: Request<pb::plan_resource_change::Request>,
) -> Result<Response<pb::plan_resource_change::Response>, Status> {
    let req = req.into_inner();
    tracing::debug!(rpc = "PlanResourceChange", type_name = %req.type_name, "serving");
    let r = server.resource(&req.type_name)?;
    let reply = |d: Diagnostics| pb::plan_resource_change::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
    for (field, dv) in [("prior", &req.prior_state), ("proposed", &req.proposed_new_state), ("config", &req.config)] {
        capture("PlanResourceChange", &req.type_name, field, dv.as_ref(), &r.ty);
    }
    let refused = nested_attributes_unsupported(&r.schema.block, &req.type_name, &server.cli_version());
    if refused.has_errors() {
        return Ok(Response::new(reply(refused)));
    }
    let prior = unwrap_or_reply!(decode(req.prior_state.as_ref(), &r.ty), reply);
    let proposed = unwrap_or_reply!(decode(req.proposed_new_state.as_ref(), &r.ty), reply);
    let config = unwrap_or_reply!(decode(req.config.as_ref(), &r.ty), reply);
    // Write-only values take no part in the generic plan (the prior state never holds
    // them, so they would always differ); the resource still sees them in `config`.
    // The values are copied only when there are write-only ones to take out: with the map
    // types each value holds every entry.
    let destroying = proposed.is_null();
    let (planned, requires_replace) = if r.schema.block.has_write_only() {
        framework::plan_generic(&r.schema.block, &prior, without_write_only(r, proposed), &without_write_only(r, config.clone()))
    } else {
        framework::plan_generic(&r.schema.block, &prior, proposed, &config)
    };
    let mut plan = Plan { planned, requires_replace, private: req.prior_private.clone(), diagnostics: Diagnostics::new() };
    if !destroying {
        let modify = r.imp.modify_plan(PlanRequest { prior: &prior, config: &config, prior_private: &req.prior_private }, &mut plan);
        unwrap_or_reply!(caught("PlanResourceChange", &req.type_name, modify).await, reply);
    }
    r.schema.block.null_write_only(&mut plan.planned);
    let planned_state = encode(&plan.planned, &r.ty, &mut plan.diagnostics);
    // An identity not known until apply stays the prior one, as the CLI requires of an
    // object that is not replaced.
    let planned_identity = match identity_of(r, &plan.planned, &mut plan.diagnostics) {
        None if !plan.planned.is_null() && plan.requires_replace.is_empty() => req.prior_identity.clone(),
        identity => identity,
    };
    Ok(Response::new(pb::plan_resource_change::Response {
        planned_state,
        requires_replace: plan.requires_replace.iter().map(path_to_wire).collect(),
        planned_private: plan.private,
        diagnostics: diagnostics_to_wire(&plan.diagnostics),
        legacy_type_system: false,
        deferred: None,
        planned_identity,
    }))
}

/// What an ApplyResourceChange asks for, from the prior and planned states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    fn of(prior: &Value, planned: &Value) -> Self {
        match (prior.is_null(), planned.is_null()) {
            (true, false) => Action::Create,
            (false, true) => Action::Delete,
            _ => Action::Update,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

pub(super) async fn apply_resource_change(
    server: &ProviderServer,
    req: Request<pb::apply_resource_change::Request>,
) -> Result<Response<pb::apply_resource_change::Response>, Status> {
    let req = req.into_inner();
    let r = server.resource(&req.type_name)?;
    let reply = |d: Diagnostics| pb::apply_resource_change::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
    let prior = unwrap_or_reply!(decode(req.prior_state.as_ref(), &r.ty), reply);
    let planned = unwrap_or_reply!(decode(req.planned_state.as_ref(), &r.ty), reply);
    let config = unwrap_or_reply!(decode(req.config.as_ref(), &r.ty), reply);
    let action = Action::of(&prior, &planned);
    tracing::info!(rpc = "ApplyResourceChange", type_name = %req.type_name, action = action.name(), "applying");
    if server.stopped.load(std::sync::atomic::Ordering::SeqCst) {
        // Nothing is started once the CLI asked to stop; the prior state stays.
        let mut diagnostics = Diagnostics::new();
        diagnostics.error(
            "Stopped",
            format!("The CLI asked the provider to stop; the {} of this {} was not started.", action.name(), req.type_name),
        );
        let new_state = encode(&prior, &r.ty, &mut diagnostics);
        let new_identity = identity_of(r, &prior, &mut diagnostics);
        return Ok(Response::new(pb::apply_resource_change::Response {
            new_state,
            private: req.planned_private.clone(),
            diagnostics: diagnostics_to_wire(&diagnostics),
            legacy_type_system: false,
            new_identity,
        }));
    }
    server.provider.before_apply();
    let call = async {
        match action {
            Action::Create => r.imp.create(&planned, &config).await,
            Action::Delete => {
                let diagnostics = r.imp.delete(&prior, &req.planned_private).await;
                // A failed delete leaves the object in state, so nothing is lost track of.
                let state = if diagnostics.has_errors() { prior.clone() } else { Value::Null };
                StateResult { state, private: req.planned_private.clone(), diagnostics }
            }
            Action::Update => r.imp.update(&prior, &planned, &config, &req.planned_private).await,
        }
    };
    let StateResult { mut state, mut private, mut diagnostics } = match caught("ApplyResourceChange", &req.type_name, call).await {
        Ok(result) => result,
        // What the prior state holds stays in state.
        Err(diagnostics) => StateResult { state: prior.clone(), private: req.planned_private.clone(), diagnostics },
    };
    // A failed update keeps the prior state, and the private state beside it.
    if action == Action::Update && diagnostics.has_errors() && state.is_null() {
        state = prior;
        private = req.planned_private.clone();
    }
    ensure_known(&mut state, &mut diagnostics);
    let state = without_write_only(r, state);
    let new_state = encode(&state, &r.ty, &mut diagnostics);
    let new_identity = identity_of(r, &state, &mut diagnostics);
    Ok(Response::new(pb::apply_resource_change::Response {
        new_state,
        private,
        diagnostics: diagnostics_to_wire(&diagnostics),
        legacy_type_system: false,
        new_identity,
    }))
}

pub(super) async fn import_resource_state(
    server: &ProviderServer,
    req: Request<pb::import_resource_state::Request>,
) -> Result<Response<pb::import_resource_state::Response>, Status> {
    let req = req.into_inner();
    tracing::info!(rpc = "ImportResourceState", type_name = %req.type_name, id = %req.id, "importing");
    let r = server.resource(&req.type_name)?;
    let reply = |d: Diagnostics| pb::import_resource_state::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
    // An `import` block may name the object by identity instead of an ID.
    let id = match req.identity.as_ref().and_then(|i| i.identity_data.as_ref()) {
        Some(dv) if req.id.is_empty() => {
            let Some(ty) = r.identity_ty.as_ref() else {
                let d = Diagnostic::error("No resource identity", format!("{} cannot be imported by identity; give an ID.", req.type_name));
                return Ok(Response::new(reply(d.into())));
            };
            let identity = unwrap_or_reply!(decode(Some(dv), ty), reply);
            match r.imp.import_id(&identity) {
                Some(id) => id,
                None => {
                    let d = Diagnostic::error("Invalid identity", format!("The identity given does not name a {}.", req.type_name));
                    return Ok(Response::new(reply(d.into())));
                }
            }
        }
        _ => req.id.clone(),
    };
    let StateResult { mut state, private, mut diagnostics } =
        caught("ImportResourceState", &req.type_name, r.imp.import(&id)).await.unwrap_or_else(StateResult::failed);
    let mut imported_resources = Vec::new();
    if !diagnostics.has_errors() {
        if state.is_null() {
            diagnostics.error("Cannot import non-existent remote object", format!("No {} exists with ID {id:?}.", req.type_name));
        } else {
            ensure_known(&mut state, &mut diagnostics);
            let state = without_write_only(r, state);
            let identity = identity_of(r, &state, &mut diagnostics);
            if let Some(dv) = encode(&state, &r.ty, &mut diagnostics) {
                imported_resources.push(pb::import_resource_state::ImportedResource {
                    type_name: req.type_name.clone(),
                    state: Some(dv),
                    private,
                    identity,
                });
            }
        }
    }
    Ok(Response::new(pb::import_resource_state::Response {
        imported_resources,
        diagnostics: diagnostics_to_wire(&diagnostics),
        deferred: None,
    }))
}

pub(super) async fn move_resource_state(
    server: &ProviderServer,
    req: Request<pb::move_resource_state::Request>,
) -> Result<Response<pb::move_resource_state::Response>, Status> {
    let req = req.into_inner();
    tracing::debug!(rpc = "MoveResourceState", from = %req.source_type_name, to = %req.target_type_name, "serving");
    let r = server.resource(&req.target_type_name)?;
    let reply = |d: Diagnostics| pb::move_resource_state::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
    let raw = req.source_state.unwrap_or_default();
    let source_state: serde_json::Value = unwrap_or_reply!(
        serde_json::from_slice(&raw.json).map_err(|e| Diagnostics::from(Diagnostic::error("Unreadable source state", e.to_string()))),
        reply
    );
    let source = crate::framework::MoveSource {
        provider_address: &req.source_provider_address,
        type_name: &req.source_type_name,
        schema_version: req.source_schema_version,
        state: &source_state,
    };
    let moved = match r.imp.move_state(&source) {
        Some(moved) => moved,
        None => Err(Diagnostic::error(
            "Unsupported move",
            format!(
                "{} cannot take the state of {} ({}). Remove the moved block, and import the objects instead.",
                req.target_type_name, req.source_type_name, req.source_provider_address
            ),
        )
        .into()),
    };
    let mut state = unwrap_or_reply!(moved, reply);
    let mut diagnostics = Diagnostics::new();
    ensure_known(&mut state, &mut diagnostics);
    let state = without_write_only(r, state);
    let target_identity = identity_of(r, &state, &mut diagnostics);
    let target_state = encode(&state, &r.ty, &mut diagnostics);
    Ok(Response::new(pb::move_resource_state::Response {
        target_state,
        diagnostics: diagnostics_to_wire(&diagnostics),
        target_private: Vec::new(),
        target_identity,
    }))
}

pub(super) async fn upgrade_resource_identity(
    server: &ProviderServer,
    req: Request<pb::upgrade_resource_identity::Request>,
) -> Result<Response<pb::upgrade_resource_identity::Response>, Status> {
    let req = req.into_inner();
    tracing::debug!(rpc = "UpgradeResourceIdentity", type_name = %req.type_name, version = req.version, "serving");
    let r = server.resource(&req.type_name)?;
    let reply = |d: Diagnostics| pb::upgrade_resource_identity::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
    let Some(ty) = r.identity_ty.as_ref() else {
        return Ok(Response::new(reply(Diagnostic::error("No identity", format!("{} has no identity.", req.type_name)).into())));
    };
    let raw = req.raw_identity.unwrap_or_default();
    let stored: serde_json::Value = unwrap_or_reply!(
        serde_json::from_slice(&raw.json).map_err(|e| Diagnostics::from(Diagnostic::error("Unreadable stored identity", e.to_string()))),
        reply
    );
    let upgraded = unwrap_or_reply!(r.imp.upgrade_identity(req.version, &stored), reply);
    let mut diagnostics = Diagnostics::new();
    let identity_data = encode(&upgraded, ty, &mut diagnostics);
    Ok(Response::new(pb::upgrade_resource_identity::Response {
        upgraded_identity: identity_data.map(|dv| pb::ResourceIdentityData { identity_data: Some(dv) }),
        diagnostics: diagnostics_to_wire(&diagnostics),
    }))
}
