//! The gateway's pure decisions: validation, planning, and its mapping to and from the
//! backends' model of a gateway.

use super::*;

/// Gateway routes per gateway: App Mesh's default quota.
pub(super) const MAX_ROUTES: usize = 50;

/// Checks on the configuration alone.
pub(super) fn validate(config: &Gateway) -> Diagnostics {
    let mut d = Diagnostics::new();
    if let Some(n) = config.name.as_deref().filter(|n| !is_dns1123_label(n)) {
        d.error_at(
            at("name"),
            "Invalid name",
            format!("{n:?} is not a valid name: lowercase letters, digits and '-', at most 63 characters."),
        );
    }
    check_port(&mut d, &config.port, at("port"));
    if let Some(routes) = config.route.as_ref().filter(|r| r.len() > MAX_ROUTES) {
        d.error_at(
            at("route"),
            "Too many routes",
            format!("{} routes; at most {MAX_ROUTES}, App Mesh's default quota of gateway routes per virtual gateway.", routes.len()),
        );
    }
    for (i, r) in config.route.iter().flatten().enumerate() {
        if let Some(p) = r.prefix.as_deref().filter(|p| !p.starts_with('/')) {
            d.error_at(AttributePath::attrs(&["route"]).index(i).attr("prefix"), "Invalid prefix", format!("{p:?} must start with '/'."));
        }
    }
    d
}

/// The plan's computed attributes. `provider_mesh` is the provider's `mesh_name`; `aws` says
/// whether the App Mesh API side is managed.
pub(super) fn plan(config: &Gateway, planned: &mut Gateway, provider_mesh: &Attr<String>, aws: bool) -> Diagnostics {
    let mut d = Diagnostics::new();
    if config.mesh_name.is_null() {
        match provider_mesh {
            Attr::Null if aws => d.error_at(at("mesh_name"), "No mesh", "Set mesh_name here or in the provider block."),
            mesh => planned.mesh_name = mesh.clone(),
        }
    }
    let (name, namespace) = (config.name.known(), config.namespace.known());
    if config.aws_name.is_null() {
        // As the App Mesh controller names it.
        planned.aws_name = match (name, namespace) {
            (Some(n), Some(ns)) => Attr::Known(format!("{n}_{ns}")),
            _ => Attr::Unknown,
        };
    }
    if config.mount_path.is_null() {
        planned.mount_path = name.map_or(Attr::Unknown, |n| Attr::Known(format!("/etc/keys/{n}")));
    }
    planned.id = match (namespace, name) {
        (Some(ns), Some(n)) => Attr::Known(format!("{ns}/{n}")),
        _ => Attr::Unknown,
    };
    planned.cluster_status = SideStatus::InSync.into();
    planned.api_status = SideStatus::managed(aws).into();
    d
}

/// The gateway a (known) plan or state describes.
pub(super) fn spec_of(m: &Gateway) -> Option<GatewaySpec> {
    let name = m.name.known()?.clone();
    let mount_path = m.mount_path.known()?.clone();
    let routes = m
        .route
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| {
            Some(GatewayRoute {
                name: format!("{name}-route-{i}"),
                prefix: r.prefix.known()?.clone(),
                virtual_service: r.virtual_service.known()?.clone(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(GatewaySpec {
        namespace: m.namespace.known()?.clone(),
        aws_name: m.aws_name.known()?.clone(),
        port: *m.port.known()?,
        listener: ListenerTls {
            mode: APP_MESH.parse(m.tls_mode.known()?).ok()?,
            certificate: Some(CertificateSource::File {
                certificate_chain: format!("{mount_path}/tls.crt"),
                private_key: format!("{mount_path}/tls.key"),
            }),
            trust: None,
            subject_alternative_names: Vec::new(),
        },
        client_policy: m.client_policy.as_ref().map(|cp| ClientPolicyTls {
            enforce: cp.enforce.known().copied().unwrap_or(true),
            ports: Vec::new(),
            certificate: None,
            trust: cp.trust.as_ref().and_then(TrustConfig::source),
            subject_alternative_names: Vec::new(),
        }),
        routes,
        envoy_image: m.envoy_image.known()?.clone(),
        replicas: *m.replicas.known()?,
        certificate_secret: m.certificate_secret.known()?.clone(),
        mount_path,
        name,
    })
}

/// The state of a gateway read back for import, in sync with what was read.
pub(super) fn imported(spec: &GatewaySpec, mesh: Option<String>, aws: bool) -> Gateway {
    Gateway {
        id: Attr::Known(format!("{}/{}", spec.namespace, spec.name)),
        namespace: Attr::Known(spec.namespace.clone()),
        name: Attr::Known(spec.name.clone()),
        mesh_name: mesh.into(),
        aws_name: Attr::Known(spec.aws_name.clone()),
        port: Attr::Known(spec.port),
        tls_mode: Attr::Known(APP_MESH.spell(spec.listener.mode).to_string()),
        certificate_secret: Attr::Known(spec.certificate_secret.clone()),
        mount_path: Attr::Known(spec.mount_path.clone()),
        envoy_image: Attr::Known(spec.envoy_image.clone()),
        replicas: Attr::Known(spec.replicas),
        cluster_status: SideStatus::InSync.into(),
        api_status: SideStatus::managed(aws).into(),
        owner_id: Attr::Null,
        client_policy: spec
            .client_policy
            .as_ref()
            .map(|cp| ClientPolicy { enforce: Attr::Known(cp.enforce), trust: cp.trust.as_ref().map(TrustConfig::of) }),
        route: Some(
            spec.routes
                .iter()
                .map(|r| Route { prefix: Attr::Known(r.prefix.clone()), virtual_service: Attr::Known(r.virtual_service.clone()) })
                .collect(),
        ),
    }
}
