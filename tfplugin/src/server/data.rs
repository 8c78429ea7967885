//! The data source and list resource RPCs: a data source read, and the stream of results
//! `terraform query` asks a list resource for.

use tonic::{Request, Response, Status};

use super::codec::*;
use super::{EventStream, ProviderServer};

type ListResourceStream = EventStream<pb::list_resource::Event>;
use crate::diag::{Diagnostic, Diagnostics};
use crate::framework::{ListRequest, StateResult};
use crate::proto::tfplugin6 as pb;

pub(super) async fn read_data_source(
    server: &ProviderServer,
    req: Request<pb::read_data_source::Request>,
) -> Result<Response<pb::read_data_source::Response>, Status> {
    let req = req.into_inner();
    tracing::debug!(rpc = "ReadDataSource", type_name = %req.type_name, "serving");
    let d = server.data_source(&req.type_name)?;
    let reply = |d: Diagnostics| pb::read_data_source::Response { diagnostics: diagnostics_to_wire(&d), ..Default::default() };
    let config = unwrap_or_reply!(decode(req.config.as_ref(), &d.ty), reply);
    let StateResult { mut state, mut diagnostics, .. } =
        caught("ReadDataSource", &req.type_name, d.imp.read(&config)).await.unwrap_or_else(StateResult::failed);
    ensure_known(&mut state, &mut diagnostics);
    let state = if diagnostics.has_errors() { None } else { encode(&state, &d.ty, &mut diagnostics) };
    Ok(Response::new(pb::read_data_source::Response { state, diagnostics: diagnostics_to_wire(&diagnostics), deferred: None }))
}

pub(super) async fn list_resource(
    server: &ProviderServer,
    req: Request<pb::list_resource::Request>,
) -> Result<Response<ListResourceStream>, Status> {
    let req = req.into_inner();
    tracing::debug!(rpc = "ListResource", type_name = %req.type_name, limit = req.limit, "serving");
    let l = server.list_resource(&req.type_name)?;
    let only = |d: Diagnostics| -> Result<Response<ListResourceStream>, Status> {
        let event = pb::list_resource::Event { diagnostic: diagnostics_to_wire(&d), ..Default::default() };
        Ok(Response::new(Box::pin(futures_util::stream::iter([Ok(event)]))))
    };
    let Some((resource_type, identity_type)) = server.resources.get(&req.type_name).and_then(|r| Some((&r.ty, r.identity_ty.as_ref()?)))
    else {
        return only(
            Diagnostic::error("Bug in the provider", format!("List resource {} has no managed resource with an identity.", req.type_name))
                .into(),
        );
    };
    let config = match decode(req.config.as_ref(), &l.ty) {
        Ok(c) => c,
        Err(d) => return only(d),
    };
    // The CLI stops reading at its limit; a limit beyond any real listing bounds the work.
    let limit = usize::try_from(req.limit.clamp(0, 1_000_000)).unwrap_or(0);
    let request = ListRequest { config: &config, include_resource: req.include_resource_object, limit, resource_type, identity_type };
    let result = match caught("ListResource", &req.type_name, l.imp.list(request)).await {
        Ok(result) => result,
        Err(d) => return only(d),
    };
    let mut events = Vec::with_capacity(result.items.len() + 1);
    let mut diagnostics = result.diagnostics;
    for item in result.items {
        let mut item_diags = Diagnostics::new();
        let identity =
            encode(&item.identity, identity_type, &mut item_diags).map(|dv| pb::ResourceIdentityData { identity_data: Some(dv) });
        let resource_object = item.resource.and_then(|v| encode(&v, resource_type, &mut item_diags));
        if item_diags.has_errors() {
            diagnostics.extend(item_diags);
            continue;
        }
        events.push(pb::list_resource::Event { identity, display_name: item.display_name, resource_object, diagnostic: Vec::new() });
    }
    // Warnings and errors travel in an event of their own, after the results: the CLI stops
    // at the first error, and skips an event that has warnings but no identity.
    if !diagnostics.is_empty() {
        events.push(pb::list_resource::Event { diagnostic: diagnostics_to_wire(&diagnostics), ..Default::default() });
    }
    Ok(Response::new(Box::pin(futures_util::stream::iter(events.into_iter().map(Ok)))))
}

pub(super) async fn validate_list_resource_config(
    server: &ProviderServer,
    req: Request<pb::validate_list_resource_config::Request>,
) -> Result<Response<pb::validate_list_resource_config::Response>, Status> {
    let req = req.into_inner();
    tracing::debug!(rpc = "ValidateListResourceConfig", type_name = %req.type_name, "serving");
    let l = server.list_resource(&req.type_name)?;
    let reply = |d: Diagnostics| pb::validate_list_resource_config::Response { diagnostics: diagnostics_to_wire(&d) };
    let config = unwrap_or_reply!(decode(req.config.as_ref(), &l.ty), reply);
    Ok(Response::new(reply(unwrap_or_reply!(caught("ValidateListResourceConfig", &req.type_name, l.imp.validate(&config)).await, reply))))
}
