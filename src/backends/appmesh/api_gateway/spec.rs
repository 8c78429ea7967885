//! The App Mesh API's shapes of a gateway: its spec, its routes' specs and its owner tag, built from a [`GatewaySpec`] and read back.

use super::*;

pub(super) fn build_error(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Backend(BackendError::invalid("App Mesh API", "invalid gateway settings", e.to_string()))
}

pub(super) fn listener_to(l: &ListenerTls) -> Result<am::VirtualGatewayListenerTls, GatewayError> {
    let certificate = match &l.certificate {
        Some(CertificateSource::File { certificate_chain, private_key }) => Some(am::VirtualGatewayListenerTlsCertificate::File(
            am::VirtualGatewayListenerTlsFileCertificate::builder()
                .certificate_chain(certificate_chain)
                .private_key(private_key)
                .build()
                .map_err(build_error)?,
        )),
        Some(CertificateSource::Sds { secret_name }) => Some(am::VirtualGatewayListenerTlsCertificate::Sds(
            am::VirtualGatewayListenerTlsSdsCertificate::builder().secret_name(secret_name).build().map_err(build_error)?,
        )),
        Some(CertificateSource::Acm { certificate_arn }) => Some(am::VirtualGatewayListenerTlsCertificate::Acm(
            am::VirtualGatewayListenerTlsAcmCertificate::builder().certificate_arn(certificate_arn).build().map_err(build_error)?,
        )),
        None => None,
    };
    am::VirtualGatewayListenerTls::builder()
        .mode(am::VirtualGatewayListenerTlsMode::from(APP_MESH.spell(l.mode)))
        .set_certificate(certificate)
        .build()
        .map_err(build_error)
}

/// None when its mode is not one App Mesh documents: it reads as absent, which is drift.
pub(super) fn listener_from(t: &am::VirtualGatewayListenerTls) -> Option<ListenerTls> {
    let certificate = match t.certificate() {
        Some(am::VirtualGatewayListenerTlsCertificate::File(f)) => {
            Some(CertificateSource::File { certificate_chain: f.certificate_chain.clone(), private_key: f.private_key.clone() })
        }
        Some(am::VirtualGatewayListenerTlsCertificate::Sds(s)) => Some(CertificateSource::Sds { secret_name: s.secret_name.clone() }),
        Some(am::VirtualGatewayListenerTlsCertificate::Acm(a)) => {
            Some(CertificateSource::Acm { certificate_arn: a.certificate_arn.clone() })
        }
        _ => None,
    };
    Some(ListenerTls { mode: APP_MESH.parse(t.mode().as_str()).ok()?, certificate, trust: None, subject_alternative_names: Vec::new() })
}

pub(super) fn client_policy_to(c: &ClientPolicyTls) -> Result<am::VirtualGatewayClientPolicyTls, GatewayError> {
    let trust = match &c.trust {
        Some(TrustSource::File { certificate_chain }) => Some(am::VirtualGatewayTlsValidationContextTrust::File(
            am::VirtualGatewayTlsValidationContextFileTrust::builder().certificate_chain(certificate_chain).build().map_err(build_error)?,
        )),
        Some(TrustSource::Sds { secret_name }) => Some(am::VirtualGatewayTlsValidationContextTrust::Sds(
            am::VirtualGatewayTlsValidationContextSdsTrust::builder().secret_name(secret_name).build().map_err(build_error)?,
        )),
        Some(TrustSource::Acm { certificate_authority_arns }) => Some(am::VirtualGatewayTlsValidationContextTrust::Acm(
            am::VirtualGatewayTlsValidationContextAcmTrust::builder()
                .set_certificate_authority_arns(Some(certificate_authority_arns.clone()))
                .build()
                .map_err(build_error)?,
        )),
        None => None,
    };
    Ok(am::VirtualGatewayClientPolicyTls::builder()
        .enforce(c.enforce)
        .set_ports((!c.ports.is_empty()).then(|| c.ports.iter().map(|p| *p as i32).collect()))
        .validation(am::VirtualGatewayTlsValidationContext::builder().set_trust(trust).build())
        .build())
}

pub(super) fn client_policy_from(t: &am::VirtualGatewayClientPolicyTls) -> ClientPolicyTls {
    let trust = t.validation().and_then(|v| v.trust()).and_then(|tr| match tr {
        am::VirtualGatewayTlsValidationContextTrust::File(f) => Some(TrustSource::File { certificate_chain: f.certificate_chain.clone() }),
        am::VirtualGatewayTlsValidationContextTrust::Sds(s) => Some(TrustSource::Sds { secret_name: s.secret_name.clone() }),
        am::VirtualGatewayTlsValidationContextTrust::Acm(a) => {
            Some(TrustSource::Acm { certificate_authority_arns: a.certificate_authority_arns.clone() })
        }
        _ => None,
    });
    ClientPolicyTls {
        enforce: t.enforce().unwrap_or(true),
        ports: t.ports().iter().map(|p| i64::from(*p)).collect(),
        certificate: None,
        trust,
        subject_alternative_names: Vec::new(),
    }
}

pub(super) fn gateway_spec(g: &GatewaySpec) -> Result<am::VirtualGatewaySpec, GatewayError> {
    let listener = am::VirtualGatewayListener::builder()
        .port_mapping(
            am::VirtualGatewayPortMapping::builder()
                .port(g.port as i32)
                .protocol(am::VirtualGatewayPortProtocol::Http)
                .build()
                .map_err(build_error)?,
        )
        .tls(listener_to(&g.listener)?)
        .build();
    let defaults = match &g.client_policy {
        Some(cp) => Some(
            am::VirtualGatewayBackendDefaults::builder()
                .client_policy(am::VirtualGatewayClientPolicy::builder().tls(client_policy_to(cp)?).build())
                .build(),
        ),
        None => None,
    };
    am::VirtualGatewaySpec::builder().listeners(listener).set_backend_defaults(defaults).build().map_err(build_error)
}

pub(super) fn route_spec(g: &GatewaySpec, r: &GatewayRoute) -> Result<am::GatewayRouteSpec, GatewayError> {
    let target = am::GatewayRouteTarget::builder()
        .virtual_service(
            am::GatewayRouteVirtualService::builder()
                .virtual_service_name(g.virtual_service_dns(&r.virtual_service))
                .build()
                .map_err(build_error)?,
        )
        .build();
    let route = am::HttpGatewayRoute::builder()
        .r#match(am::HttpGatewayRouteMatch::builder().prefix(&r.prefix).build())
        .action(am::HttpGatewayRouteAction::builder().target(target).build())
        .build();
    Ok(am::GatewayRouteSpec::builder().http_route(route).build())
}

pub(super) fn route_aws_name(g: &GatewaySpec, r: &GatewayRoute) -> String {
    format!("{}_{}", r.name, g.namespace)
}

/// Creates or updates the gateway and its routes in the App Mesh API.
pub(super) fn owner_tag(owner: &Owner) -> Result<am::TagRef, GatewayError> {
    am::TagRef::builder().key(OWNER_TAG).value(owner.to_string()).build().map_err(build_error)
}
