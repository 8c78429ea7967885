//! The gateway's objects on the cluster as meshtls writes them (VirtualGateway, GatewayRoutes, the Envoy Deployment), and how each is merged into what exists.

use super::*;

pub(super) fn gateway_object(g: &GatewaySpec) -> crd_kinds::VirtualGateway {
    let spec = VirtualGatewaySpec {
        aws_name: Some(g.aws_name.clone()),
        namespace_selector: LabelSelector { match_labels: BTreeMap::from([(NAMESPACE_LABEL.to_string(), g.name.clone())]) },
        pod_selector: LabelSelector { match_labels: BTreeMap::from([("app".to_string(), g.name.clone())]) },
        listeners: vec![GatewayListener {
            port_mapping: PortMapping { port: g.port, protocol: "http".into() },
            tls: Some(crd::listener_tls(&g.listener)),
        }],
        backend_defaults: g
            .client_policy
            .as_ref()
            .map(|cp| BackendDefaults { client_policy: ClientPolicy { tls: Some(crd::client_policy_tls(cp)) } }),
        other: BTreeMap::new(),
    };
    let metadata = ObjectMeta { name: Some(g.name.clone()), namespace: Some(g.namespace.clone()), ..Default::default() };
    crd_kinds::object("VirtualGateway", metadata, spec)
}

pub(super) fn route_object(g: &GatewaySpec, r: &GatewayRoute) -> crd_kinds::GatewayRoute {
    let metadata = ObjectMeta {
        name: Some(r.name.clone()),
        namespace: Some(g.namespace.clone()),
        labels: Some(BTreeMap::from([(ROUTE_LABEL.to_string(), g.name.clone())])),
        ..Default::default()
    };
    let spec = GatewayRouteSpec {
        aws_name: Some(format!("{}_{}", r.name, g.namespace)),
        http_route: Some(HttpRoute::to_service(&r.prefix, &r.virtual_service)),
        other: BTreeMap::new(),
    };
    crd_kinds::object("GatewayRoute", metadata, spec)
}

/// Labels a GatewayRoute with its gateway's name.
pub(super) const ROUTE_LABEL: &str = "meshtls.dev/gateway";

pub(super) fn deployment_object(g: &GatewaySpec) -> Result<Deployment, GatewayError> {
    let app = || BTreeMap::from([("app".to_string(), g.name.clone())]);
    let port = i32::try_from(g.port).map_err(|_| GatewayError::Invalid(format!("port {} is out of range", g.port)))?;
    let replicas = i32::try_from(g.replicas).map_err(|_| GatewayError::Invalid(format!("{} replicas is out of range", g.replicas)))?;
    Ok(Deployment {
        metadata: ObjectMeta {
            name: Some(g.name.clone()),
            namespace: Some(g.namespace.clone()),
            labels: Some(app()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: PodLabelSelector { match_labels: Some(app()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(app()), ..Default::default() }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "envoy".into(),
                        image: Some(g.envoy_image.clone()),
                        ports: Some(vec![ContainerPort { container_port: port, ..Default::default() }]),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "tls".into(),
                            mount_path: g.mount_path.clone(),
                            read_only: Some(true),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "tls".into(),
                        secret: Some(SecretVolumeSource { secret_name: Some(g.certificate_secret.clone()), ..Default::default() }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Sets what meshtls writes in an existing VirtualGateway, keeping the spec fields it does
/// not write (the App Mesh controller's `meshRef`, say) and labels others set.
pub(super) fn merge_gateway(existing: &mut crd_kinds::VirtualGateway, desired: &crd_kinds::VirtualGateway) {
    let other = std::mem::take(&mut existing.spec.other);
    existing.spec = VirtualGatewaySpec { other, ..desired.spec.clone() };
    merge_labels(&mut existing.metadata, &desired.metadata);
}

pub(super) fn merge_route(existing: &mut crd_kinds::GatewayRoute, desired: &crd_kinds::GatewayRoute) {
    let other = std::mem::take(&mut existing.spec.other);
    existing.spec = GatewayRouteSpec { other, ..desired.spec.clone() };
    merge_labels(&mut existing.metadata, &desired.metadata);
}

pub(super) fn merge_labels(existing: &mut ObjectMeta, desired: &ObjectMeta) {
    existing.labels.get_or_insert_with(Default::default).extend(desired.labels.clone().unwrap_or_default());
}
