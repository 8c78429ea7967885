//! The Istio gateway's model: one field per schema attribute and block, and the gateway it
//! stands for.

use super::*;

/// The resource's model: one field per schema attribute and block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IstioGateway {
    pub id: Attr<String>,
    pub namespace: Attr<String>,
    pub name: Attr<String>,
    pub gateway_class: Attr<String>,
    pub port: Attr<i64>,
    pub hostnames: Attr<Vec<String>>,
    pub certificate_secret: Attr<String>,
    pub istio_revision: Attr<String>,
    pub status: Attr<String>,
    pub owner_id: Attr<String>,
    pub conditions: Attr<String>,
    pub route: Option<Vec<Route>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub prefix: Attr<String>,
    pub service: Attr<String>,
    pub port: Attr<i64>,
}

impl IstioGateway {
    /// The gateway as the backend builds it; None until every part is known.
    pub(super) fn spec(&self) -> Option<IstioGatewaySpec> {
        let routes = self
            .route
            .iter()
            .flatten()
            .map(|r| Some(IstioRoute { prefix: r.prefix.known()?.clone(), service: r.service.known()?.clone(), port: *r.port.known()? }))
            .collect::<Option<Vec<_>>>()?;
        Some(IstioGatewaySpec {
            namespace: self.namespace.known()?.clone(),
            name: self.name.known()?.clone(),
            gateway_class: self.gateway_class.known()?.clone(),
            port: *self.port.known()?,
            hostnames: match &self.hostnames {
                Attr::Known(h) => h.clone(),
                Attr::Null => Vec::new(),
                Attr::Unknown => return None,
            },
            certificate_secret: self.certificate_secret.known()?.clone(),
            routes,
            revision: match &self.istio_revision {
                Attr::Known(r) => Some(r.clone()),
                Attr::Null => None,
                Attr::Unknown => return None,
            },
        })
    }

    /// The same without what the controller reports, to tell whether a plan changes anything.
    pub(super) fn configured(&self) -> IstioGateway {
        IstioGateway { status: Attr::Null, conditions: Attr::Null, ..self.clone() }
    }
}

/// The state a gateway's objects stand for, after import.
pub(super) fn imported(spec: &IstioGatewaySpec, conditions: Option<String>) -> IstioGateway {
    IstioGateway {
        id: Attr::Known(format!("{}/{}", spec.namespace, spec.name)),
        namespace: Attr::Known(spec.namespace.clone()),
        name: Attr::Known(spec.name.clone()),
        gateway_class: Attr::Known(spec.gateway_class.clone()),
        port: Attr::Known(spec.port),
        hostnames: if spec.hostnames.is_empty() { Attr::Null } else { Attr::Known(spec.hostnames.clone()) },
        certificate_secret: if spec.certificate_secret.is_empty() { Attr::Null } else { Attr::Known(spec.certificate_secret.clone()) },
        istio_revision: spec.revision.clone().into(),
        status: SideStatus::InSync.into(),
        owner_id: Attr::Null,
        conditions: conditions.into(),
        route: (!spec.routes.is_empty()).then(|| {
            spec.routes
                .iter()
                .map(|r| Route {
                    prefix: Attr::Known(r.prefix.clone()),
                    service: Attr::Known(r.service.clone()),
                    port: Attr::Known(r.port),
                })
                .collect()
        }),
    }
}
