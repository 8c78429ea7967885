//! The App Mesh API side of a virtual node: DescribeVirtualNode, then UpdateVirtualNode with
//! only the TLS fields changed. The rest of the spec is carried over untouched.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_appmesh::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_appmesh::types as am;

use super::APP_MESH;
use crate::backends::model::{CertificateSource, ClientPolicyTls, ListenerTls, NodeTls, TrustSource};
use crate::backends::{with_retries, BackendError, ErrorKind, MeshSide, NodeView, SideError};
use crate::clients::read_cache::ReadCache;

pub const SIDE: &str = "App Mesh API";

pub struct ApiVirtualNode {
    pub client: aws_sdk_appmesh::Client,
    pub cache: Arc<ReadCache>,
    pub mesh: String,
    pub node: String,
}

/// A failed call, classified once by its error code (see `clients::error`); `missing` names
/// what a NotFound means is absent.
fn api_error<E>(doing: String, missing: String, e: SdkError<E>) -> SideError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let e = BackendError::aws(SIDE, doing, e);
    if e.is(ErrorKind::NotFound) {
        SideError::NotFound { side: SIDE, what: missing }
    } else {
        SideError::Backend(e)
    }
}

fn unusable(what: String, why: &str) -> SideError {
    SideError::Backend(BackendError::invalid(SIDE, what, why))
}

fn certificate_from(c: Option<&am::ListenerTlsCertificate>) -> Option<CertificateSource> {
    match c? {
        am::ListenerTlsCertificate::File(f) => {
            Some(CertificateSource::File { certificate_chain: f.certificate_chain.clone(), private_key: f.private_key.clone() })
        }
        am::ListenerTlsCertificate::Sds(s) => Some(CertificateSource::Sds { secret_name: s.secret_name.clone() }),
        am::ListenerTlsCertificate::Acm(a) => Some(CertificateSource::Acm { certificate_arn: a.certificate_arn.clone() }),
        _ => None,
    }
}

fn client_certificate_from(c: Option<&am::ClientTlsCertificate>) -> Option<CertificateSource> {
    match c? {
        am::ClientTlsCertificate::File(f) => {
            Some(CertificateSource::File { certificate_chain: f.certificate_chain.clone(), private_key: f.private_key.clone() })
        }
        am::ClientTlsCertificate::Sds(s) => Some(CertificateSource::Sds { secret_name: s.secret_name.clone() }),
        _ => None,
    }
}

fn sans_from(s: Option<&am::SubjectAlternativeNames>) -> Vec<String> {
    s.and_then(|s| s.r#match()).map(|m| m.exact().to_vec()).unwrap_or_default()
}

/// None when its mode is not one App Mesh documents: it reads as absent, which is drift.
fn listener_from(t: &am::ListenerTls) -> Option<ListenerTls> {
    let trust = t.validation().and_then(|v| v.trust()).and_then(|tr| match tr {
        am::ListenerTlsValidationContextTrust::File(f) => Some(TrustSource::File { certificate_chain: f.certificate_chain.clone() }),
        am::ListenerTlsValidationContextTrust::Sds(s) => Some(TrustSource::Sds { secret_name: s.secret_name.clone() }),
        _ => None,
    });
    Some(ListenerTls {
        mode: APP_MESH.parse(t.mode().as_str()).ok()?,
        certificate: certificate_from(t.certificate()),
        trust,
        subject_alternative_names: sans_from(t.validation().and_then(|v| v.subject_alternative_names())),
    })
}

fn client_policy_from(t: &am::ClientPolicyTls) -> ClientPolicyTls {
    let trust = t.validation().and_then(|v| v.trust()).and_then(|tr| match tr {
        am::TlsValidationContextTrust::File(f) => Some(TrustSource::File { certificate_chain: f.certificate_chain.clone() }),
        am::TlsValidationContextTrust::Sds(s) => Some(TrustSource::Sds { secret_name: s.secret_name.clone() }),
        am::TlsValidationContextTrust::Acm(a) => {
            Some(TrustSource::Acm { certificate_authority_arns: a.certificate_authority_arns.clone() })
        }
        _ => None,
    });
    ClientPolicyTls {
        enforce: t.enforce().unwrap_or(true),
        ports: t.ports().iter().map(|p| i64::from(*p)).collect(),
        certificate: client_certificate_from(t.certificate()),
        trust,
        subject_alternative_names: sans_from(t.validation().and_then(|v| v.subject_alternative_names())),
    }
}

fn build_error(e: impl std::fmt::Display) -> SideError {
    SideError::Backend(BackendError::invalid(SIDE, "invalid TLS settings", e.to_string()))
}

fn sans_to(sans: &[String]) -> Result<Option<am::SubjectAlternativeNames>, SideError> {
    if sans.is_empty() {
        return Ok(None);
    }
    let matchers = am::SubjectAlternativeNameMatchers::builder().set_exact(Some(sans.to_vec())).build().map_err(build_error)?;
    Ok(Some(am::SubjectAlternativeNames::builder().r#match(matchers).build()))
}

fn file_certificate(chain: &str, key: &str) -> Result<am::ListenerTlsFileCertificate, SideError> {
    am::ListenerTlsFileCertificate::builder().certificate_chain(chain).private_key(key).build().map_err(build_error)
}

fn sds_certificate(secret: &str) -> Result<am::ListenerTlsSdsCertificate, SideError> {
    am::ListenerTlsSdsCertificate::builder().secret_name(secret).build().map_err(build_error)
}

fn listener_to(l: &ListenerTls) -> Result<am::ListenerTls, SideError> {
    let certificate = match &l.certificate {
        Some(CertificateSource::File { certificate_chain, private_key }) => {
            Some(am::ListenerTlsCertificate::File(file_certificate(certificate_chain, private_key)?))
        }
        Some(CertificateSource::Sds { secret_name }) => Some(am::ListenerTlsCertificate::Sds(sds_certificate(secret_name)?)),
        Some(CertificateSource::Acm { certificate_arn }) => Some(am::ListenerTlsCertificate::Acm(
            am::ListenerTlsAcmCertificate::builder().certificate_arn(certificate_arn).build().map_err(build_error)?,
        )),
        None => None,
    };
    let trust = match &l.trust {
        Some(TrustSource::File { certificate_chain }) => Some(am::ListenerTlsValidationContextTrust::File(
            am::TlsValidationContextFileTrust::builder().certificate_chain(certificate_chain).build().map_err(build_error)?,
        )),
        Some(TrustSource::Sds { secret_name }) => Some(am::ListenerTlsValidationContextTrust::Sds(
            am::TlsValidationContextSdsTrust::builder().secret_name(secret_name).build().map_err(build_error)?,
        )),
        Some(TrustSource::Acm { .. }) => return Err(build_error("a listener's validation cannot trust ACM certificate authorities")),
        None => None,
    };
    let validation = match trust {
        Some(t) => Some(
            am::ListenerTlsValidationContext::builder()
                .trust(t)
                .set_subject_alternative_names(sans_to(&l.subject_alternative_names)?)
                .build(),
        ),
        None => None,
    };
    am::ListenerTls::builder()
        .mode(am::ListenerTlsMode::from(APP_MESH.spell(l.mode)))
        .set_certificate(certificate)
        .set_validation(validation)
        .build()
        .map_err(build_error)
}

fn client_policy_to(c: &ClientPolicyTls) -> Result<am::ClientPolicyTls, SideError> {
    let certificate = match &c.certificate {
        Some(CertificateSource::File { certificate_chain, private_key }) => {
            Some(am::ClientTlsCertificate::File(file_certificate(certificate_chain, private_key)?))
        }
        Some(CertificateSource::Sds { secret_name }) => Some(am::ClientTlsCertificate::Sds(sds_certificate(secret_name)?)),
        Some(CertificateSource::Acm { .. }) => return Err(build_error("a client policy certificate cannot come from ACM")),
        None => None,
    };
    let trust = match &c.trust {
        Some(TrustSource::File { certificate_chain }) => Some(am::TlsValidationContextTrust::File(
            am::TlsValidationContextFileTrust::builder().certificate_chain(certificate_chain).build().map_err(build_error)?,
        )),
        Some(TrustSource::Sds { secret_name }) => Some(am::TlsValidationContextTrust::Sds(
            am::TlsValidationContextSdsTrust::builder().secret_name(secret_name).build().map_err(build_error)?,
        )),
        Some(TrustSource::Acm { certificate_authority_arns }) => Some(am::TlsValidationContextTrust::Acm(
            am::TlsValidationContextAcmTrust::builder()
                .set_certificate_authority_arns(Some(certificate_authority_arns.clone()))
                .build()
                .map_err(build_error)?,
        )),
        None => None,
    };
    let validation =
        am::TlsValidationContext::builder().set_trust(trust).set_subject_alternative_names(sans_to(&c.subject_alternative_names)?).build();
    Ok(am::ClientPolicyTls::builder()
        .enforce(c.enforce)
        .set_ports((!c.ports.is_empty()).then(|| c.ports.iter().map(|p| *p as i32).collect()))
        .set_certificate(certificate)
        .validation(validation)
        .build())
}

/// The index of the listener on `port`, or of the only listener.
pub fn pick_listener(ports: &[Option<i64>], port: Option<i64>, side: &'static str) -> Result<usize, SideError> {
    match port {
        Some(p) => ports.iter().position(|lp| *lp == Some(p)).ok_or(SideError::NoListener { side, port: Some(p) }),
        None if ports.len() == 1 => Ok(0),
        None if ports.is_empty() => Err(SideError::NoListener { side, port: None }),
        None => Err(SideError::AmbiguousListener { side, count: ports.len() }),
    }
}

impl ApiVirtualNode {
    fn what(&self) -> String {
        format!("virtual node {} in mesh {}", self.node, self.mesh)
    }

    async fn describe(&self) -> Result<am::VirtualNodeData, SideError> {
        let out = self.client.describe_virtual_node().mesh_name(&self.mesh).virtual_node_name(&self.node).send().await;
        match out {
            Ok(o) => o.virtual_node.ok_or_else(|| unusable(self.what(), "DescribeVirtualNode returned no node")),
            Err(e) => Err(api_error(format!("DescribeVirtualNode {}", self.what()), self.what(), e)),
        }
    }
}

#[async_trait]
impl MeshSide for ApiVirtualNode {
    fn name(&self) -> &'static str {
        SIDE
    }

    async fn read(&self, port: Option<i64>) -> Result<NodeView, SideError> {
        let key = format!("{}/{}", self.mesh, self.node);
        let node = self.cache.memo("appmesh-virtual-node", key, || with_retries(|| self.describe())).await?;
        let spec = node.spec.ok_or_else(|| unusable(self.what(), "the node has no spec"))?;
        let listeners = spec.listeners.clone().unwrap_or_default();
        let ports: Vec<Option<i64>> = listeners.iter().map(|l| l.port_mapping.as_ref().map(|p| i64::from(p.port))).collect();
        let idx = pick_listener(&ports, port, SIDE)?;
        let tls = NodeTls {
            listener: listeners[idx].tls.as_ref().and_then(listener_from),
            client_policy: spec
                .backend_defaults
                .as_ref()
                .and_then(|b| b.client_policy.as_ref())
                .and_then(|c| c.tls.as_ref())
                .map(client_policy_from),
        };
        let hostname = spec.service_discovery.as_ref().and_then(|sd| sd.as_dns().ok()).map(|d| d.hostname.clone());
        Ok(NodeView { tls, hostname })
    }

    async fn write(&self, port: Option<i64>, tls: &NodeTls) -> Result<(), SideError> {
        let listener_tls = tls.listener.as_ref().map(listener_to).transpose()?;
        let client_policy_tls = tls.client_policy.as_ref().map(client_policy_to).transpose()?;
        with_retries(|| async {
            let node = self.describe().await?;
            let mut spec = node.spec.ok_or_else(|| unusable(self.what(), "the node has no spec"))?;
            let mut listeners = spec.listeners.take().unwrap_or_default();
            let ports: Vec<Option<i64>> = listeners.iter().map(|l| l.port_mapping.as_ref().map(|p| i64::from(p.port))).collect();
            let idx = pick_listener(&ports, port, SIDE)?;
            listeners[idx].tls = listener_tls.clone();
            spec.listeners = Some(listeners);
            let mut defaults = spec.backend_defaults.take().unwrap_or_else(|| am::BackendDefaults::builder().build());
            let mut policy = defaults.client_policy.take().unwrap_or_else(|| am::ClientPolicy::builder().build());
            policy.tls = client_policy_tls.clone();
            // Parents that only held what meshtls added go away with it.
            defaults.client_policy = policy.tls.is_some().then_some(policy);
            spec.backend_defaults = defaults.client_policy.is_some().then_some(defaults);
            self.client
                .update_virtual_node()
                .mesh_name(&self.mesh)
                .virtual_node_name(&self.node)
                .spec(spec)
                .send()
                .await
                .map_err(|e| api_error(format!("UpdateVirtualNode {}", self.what()), self.what(), e))?;
            Ok(())
        })
        .await
    }
}

/// The names of every virtual node in `mesh`, page by page (for `terraform query`).
pub async fn list_node_names(client: &aws_sdk_appmesh::Client, mesh: &str) -> Result<Vec<String>, SideError> {
    let mut names = Vec::new();
    let mut pages = client.list_virtual_nodes().mesh_name(mesh).limit(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => names.extend(page.virtual_nodes().iter().map(|n| n.virtual_node_name().to_string())),
            Err(e) => return Err(api_error(format!("listing the virtual nodes of mesh {mesh}"), format!("mesh {mesh}"), e)),
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_conversion_round_trips() {
        let l = ListenerTls {
            mode: crate::backends::model::TlsMode::Strict,
            certificate: Some(CertificateSource::File { certificate_chain: "/k/tls.crt".into(), private_key: "/k/tls.key".into() }),
            trust: Some(TrustSource::File { certificate_chain: "/k/ca.crt".into() }),
            subject_alternative_names: vec!["a.b.svc".into()],
        };
        assert_eq!(listener_from(&listener_to(&l).unwrap()), Some(l));
        let c = ClientPolicyTls {
            enforce: true,
            ports: vec![80],
            certificate: None,
            trust: Some(TrustSource::File { certificate_chain: "/k/ca.crt".into() }),
            subject_alternative_names: vec![],
        };
        assert_eq!(client_policy_from(&client_policy_to(&c).unwrap()), c);
    }

    #[test]
    fn listener_choice_needs_a_port_when_ambiguous() {
        assert_eq!(pick_listener(&[Some(80)], None, SIDE).unwrap(), 0);
        assert!(matches!(pick_listener(&[Some(80), Some(81)], None, SIDE), Err(SideError::AmbiguousListener { count: 2, .. })));
        assert_eq!(pick_listener(&[Some(80), Some(81)], Some(81), SIDE).unwrap(), 1);
        assert!(matches!(pick_listener(&[], None, SIDE), Err(SideError::NoListener { .. })));
    }
}
