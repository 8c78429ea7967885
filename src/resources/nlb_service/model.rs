//! The NLB Service's model: one field per schema attribute, and what an apply works from.

use super::*;

/// The resource's model: one field per schema attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NlbService {
    pub id: Attr<String>,
    pub namespace: Attr<String>,
    pub name: Attr<String>,
    pub gateway: Attr<String>,
    pub port: Attr<i64>,
    pub target_port: Attr<i64>,
    pub tls_termination: Attr<String>,
    pub acm_certificate_arn: Attr<String>,
    pub wait_for_load_balancer: Attr<bool>,
    pub wait_timeout_seconds: Attr<i64>,
    pub hostname: Attr<String>,
    pub owner_id: Attr<String>,
}

/// Where TLS ends: at the NLB (with an ACM certificate) or at the gateway (passed through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Termination {
    Nlb,
    Gateway,
}

impl Termination {
    pub(super) fn parse(s: &str) -> Option<Termination> {
        match s {
            "nlb" => Some(Termination::Nlb),
            "gateway" => Some(Termination::Gateway),
            _ => None,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Termination::Nlb => "nlb",
            Termination::Gateway => "gateway",
        }
    }
}

/// What an apply works from: the plan with everything it needs known and checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Desired {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) gateway: String,
    pub(super) port: i32,
    pub(super) target_port: i32,
    pub(super) termination: Termination,
    pub(super) acm_certificate_arn: Option<String>,
    /// How long to wait for the load balancer's hostname, if at all.
    pub(super) wait: Option<Duration>,
}

impl Desired {
    pub(super) fn of(m: &NlbService) -> Result<Desired, Diagnostic> {
        let incomplete = || Diagnostic::error("Incomplete configuration", "meshtls_nlb_service needs known values at apply time.");
        let port = |p: &Attr<i64>| p.known().and_then(|p| i32::try_from(*p).ok());
        let wait = match (m.wait_for_load_balancer.known(), m.wait_timeout_seconds.known()) {
            (Some(true), Some(t)) => Some(Duration::from_secs(t.clamp(&1, &MAX_WAIT_SECONDS).unsigned_abs())),
            (Some(true), None) => return Err(incomplete()),
            _ => None,
        };
        Ok(Desired {
            namespace: m.namespace.known().ok_or_else(incomplete)?.clone(),
            name: m.name.known().ok_or_else(incomplete)?.clone(),
            gateway: m.gateway.known().ok_or_else(incomplete)?.clone(),
            port: port(&m.port).ok_or_else(incomplete)?,
            target_port: port(&m.target_port).ok_or_else(incomplete)?,
            termination: m.tls_termination.as_deref().and_then(Termination::parse).ok_or_else(incomplete)?,
            acm_certificate_arn: m.acm_certificate_arn.known().cloned(),
            wait,
        })
    }
}
