//! What the resources that set mesh TLS share: the `certificate` and `trust` schema blocks,
//! their models and how they map to the backends' model, and the drift status of a side.

use serde::{Deserialize, Serialize};
use tfplugin::schema::{Attribute, Block, NestedBlock, Nesting};
use tfplugin::{Attr, AttributePath, Diagnostic, Type};

use crate::backends::appmesh::gateway::GatewayError;
use crate::backends::model::{CertificateSource, TlsMode, TrustSource, Vocabulary};
use crate::backends::{BackendError, ErrorKind, SideError};
use crate::ownership::OwnError;

/// What one side holds against the configuration. It becomes text only in the model, as
/// the `*_status` attributes users read in `plan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideStatus {
    /// The side's objects match the configuration.
    InSync,
    /// A side this resource does not manage (no `kubernetes` block, or no `aws` provider block).
    NotManaged,
    /// What differs, or what is missing.
    Drifted(String),
    /// The last apply could not write the side; why.
    ApplyFailed(String),
}

impl SideStatus {
    /// In sync when nothing differs.
    pub fn of_drift(drift: &[String]) -> Self {
        if drift.is_empty() {
            Self::InSync
        } else {
            Self::Drifted(drift.join("; "))
        }
    }

    /// Managed or not, in sync when it is.
    pub fn managed(managed: bool) -> Self {
        if managed {
            Self::InSync
        } else {
            Self::NotManaged
        }
    }

    /// The status a model holds, read back.
    pub fn of_attr(a: &Attr<String>) -> Option<Self> {
        let s = a.as_deref()?;
        Some(match s {
            "in sync" => Self::InSync,
            "not managed" => Self::NotManaged,
            _ => match (s.strip_prefix("drifted: "), s.strip_prefix("apply failed: ")) {
                (Some(d), _) => Self::Drifted(d.to_string()),
                (_, Some(f)) => Self::ApplyFailed(f.to_string()),
                _ => Self::Drifted(s.to_string()),
            },
        })
    }
}

impl std::fmt::Display for SideStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InSync => f.write_str("in sync"),
            Self::NotManaged => f.write_str("not managed"),
            Self::Drifted(what) => write!(f, "drifted: {what}"),
            Self::ApplyFailed(why) => write!(f, "apply failed: {why}"),
        }
    }
}

impl From<SideStatus> for Attr<String> {
    fn from(s: SideStatus) -> Self {
        Attr::Known(s.to_string())
    }
}

/// A warning when a listener goes from off straight to strict (named in the mesh's `words`):
/// clients and servers receive their new configuration at different moments, so some
/// requests may fail during the switch.
pub fn off_to_strict_warning(prior: Option<TlsMode>, now: Option<TlsMode>, words: &Vocabulary, path: AttributePath) -> Option<Diagnostic> {
    (prior == Some(TlsMode::Off) && now == Some(TlsMode::Strict)).then(|| {
        Diagnostic::warning(
            format!("{} to {} in one step", words.spell(TlsMode::Off), words.spell(TlsMode::Strict)),
            "Proxies receive their new configuration at different moments, so some requests may fail during the switch. Apply PERMISSIVE first, then STRICT.",
        )
        .at(path)
    })
}

/// An error met while reading a side: either what the side holds (its object is gone or
/// someone else's: drift), or a read that failed (a timeout, a refusal), which says nothing
/// about the side.
pub trait ReadError: std::fmt::Display {
    fn is_failed_read(&self) -> bool;
}

fn failed_call(e: &BackendError) -> bool {
    !e.is(ErrorKind::NotFound)
}

impl ReadError for SideError {
    fn is_failed_read(&self) -> bool {
        matches!(self, SideError::Backend(e) if failed_call(e))
    }
}

impl ReadError for GatewayError {
    fn is_failed_read(&self) -> bool {
        matches!(self, GatewayError::Backend(e) if failed_call(e))
    }
}

impl ReadError for OwnError {
    fn is_failed_read(&self) -> bool {
        matches!(self, OwnError::Kube(e) if failed_call(e))
    }
}

/// A side's status after a refresh. A read that failed keeps the prior status and warns, so
/// a timeout never shows in `plan` as a change.
pub fn refreshed_status<E: ReadError>(
    prior: &Attr<String>,
    side: &str,
    read: Result<Vec<String>, E>,
    warnings: &mut Vec<Diagnostic>,
) -> Attr<String> {
    match read {
        Ok(drift) => SideStatus::of_drift(&drift).into(),
        Err(e) if e.is_failed_read() => {
            warnings.push(Diagnostic::warning(
                format!("Could not read the {side}"),
                format!("{e}. Its status is kept as it was; the next refresh reads it again."),
            ));
            prior.clone()
        }
        Err(e) => SideStatus::Drifted(e.to_string()).into(),
    }
}

pub fn single(name: &str, block: Block) -> NestedBlock {
    NestedBlock::new(name, Nesting::Single, block)
}

pub fn certificate_block(with_acm: bool) -> Block {
    let mut b = Block::new("Where Envoy finds its certificate: exactly one of `file`, `sds`, `acm`.")
        .block(single(
            "file",
            Block::new("Files in the Envoy container, e.g. from the mounted Secret.")
                .attribute(
                    Attribute::string("certificate_chain")
                        .required()
                        .description("Path of the certificate chain, e.g. `/etc/keys/yelb/tls.crt`."),
                )
                .attribute(
                    Attribute::string("private_key").required().description("Path of the private key, e.g. `/etc/keys/yelb/tls.key`."),
                ),
        ))
        .block(single(
            "sds",
            Block::new("A secret served over Envoy's SDS.")
                .attribute(Attribute::string("secret_name").required().description("SDS secret name.")),
        ));
    if with_acm {
        b = b.block(single(
            "acm",
            Block::new("An ACM certificate.")
                .attribute(Attribute::string("certificate_arn").required().description("ARN of the ACM certificate.")),
        ));
    }
    b
}

pub fn trust_block(with_acm: bool) -> Block {
    let mut b = Block::new("What peers' certificates must chain to: exactly one of `file`, `sds`, `acm`.")
        .block(single(
            "file",
            Block::new("A CA bundle file in the Envoy container.")
                .attribute(Attribute::string("certificate_chain").required().description("Path, e.g. `/etc/keys/yelb/ca.crt`.")),
        ))
        .block(single(
            "sds",
            Block::new("A validation context served over SDS.")
                .attribute(Attribute::string("secret_name").required().description("SDS secret name.")),
        ));
    if with_acm {
        b = b.block(single(
            "acm",
            Block::new("ACM Private CAs.").attribute(
                Attribute::new("certificate_authority_arns", Type::list(Type::String))
                    .required()
                    .description("ARNs of the trusted private CAs."),
            ),
        ));
    }
    b
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateFiles {
    pub certificate_chain: Attr<String>,
    pub private_key: Attr<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdsSecret {
    pub secret_name: Attr<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmCertificate {
    pub certificate_arn: Attr<String>,
}

/// The `certificate` block. `acm` is absent from the schema where App Mesh does not take an
/// ACM certificate (a client policy), so it is left out of the value when null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    pub file: Option<CertificateFiles>,
    pub sds: Option<SdsSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acm: Option<AcmCertificate>,
}

impl CertificateConfig {
    /// How many of the exclusive sources are set; validation wants exactly one.
    pub fn sources_set(&self) -> usize {
        usize::from(self.file.is_some()) + usize::from(self.sds.is_some()) + usize::from(self.acm.is_some())
    }

    /// The source it names, once every value in it is known.
    pub fn source(&self) -> Option<CertificateSource> {
        if let Some(f) = &self.file {
            return Some(CertificateSource::File {
                certificate_chain: f.certificate_chain.known()?.clone(),
                private_key: f.private_key.known()?.clone(),
            });
        }
        if let Some(s) = &self.sds {
            return Some(CertificateSource::Sds { secret_name: s.secret_name.known()?.clone() });
        }
        let acm = self.acm.as_ref()?;
        Some(CertificateSource::Acm { certificate_arn: acm.certificate_arn.known()?.clone() })
    }

    pub fn of(source: &CertificateSource) -> CertificateConfig {
        match source {
            CertificateSource::File { certificate_chain, private_key } => CertificateConfig {
                file: Some(CertificateFiles {
                    certificate_chain: Attr::Known(certificate_chain.clone()),
                    private_key: Attr::Known(private_key.clone()),
                }),
                ..Default::default()
            },
            CertificateSource::Sds { secret_name } => {
                CertificateConfig { sds: Some(SdsSecret { secret_name: Attr::Known(secret_name.clone()) }), ..Default::default() }
            }
            CertificateSource::Acm { certificate_arn } => CertificateConfig {
                acm: Some(AcmCertificate { certificate_arn: Attr::Known(certificate_arn.clone()) }),
                ..Default::default()
            },
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustFile {
    pub certificate_chain: Attr<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmTrust {
    pub certificate_authority_arns: Attr<Vec<String>>,
}

/// The `trust` block; as with certificates, `acm` exists only where App Mesh takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    pub file: Option<TrustFile>,
    pub sds: Option<SdsSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acm: Option<AcmTrust>,
}

impl TrustConfig {
    pub fn source(&self) -> Option<TrustSource> {
        if let Some(f) = &self.file {
            return Some(TrustSource::File { certificate_chain: f.certificate_chain.known()?.clone() });
        }
        if let Some(s) = &self.sds {
            return Some(TrustSource::Sds { secret_name: s.secret_name.known()?.clone() });
        }
        let acm = self.acm.as_ref()?;
        Some(TrustSource::Acm { certificate_authority_arns: acm.certificate_authority_arns.known()?.clone() })
    }

    pub fn of(source: &TrustSource) -> TrustConfig {
        match source {
            TrustSource::File { certificate_chain } => {
                TrustConfig { file: Some(TrustFile { certificate_chain: Attr::Known(certificate_chain.clone()) }), ..Default::default() }
            }
            TrustSource::Sds { secret_name } => {
                TrustConfig { sds: Some(SdsSecret { secret_name: Attr::Known(secret_name.clone()) }), ..Default::default() }
            }
            TrustSource::Acm { certificate_authority_arns } => TrustConfig {
                acm: Some(AcmTrust { certificate_authority_arns: Attr::Known(certificate_authority_arns.clone()) }),
                ..Default::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tfplugin::bridge::check_model;

    #[test]
    fn the_block_models_match_both_forms_of_their_blocks() {
        for with_acm in [true, false] {
            check_model::<CertificateConfig>(&certificate_block(with_acm).implied_type()).unwrap();
            check_model::<TrustConfig>(&trust_block(with_acm).implied_type()).unwrap();
        }
    }

    #[test]
    fn sources_round_trip_through_their_blocks() {
        let certificates = [
            CertificateSource::File { certificate_chain: "/etc/keys/tls.crt".into(), private_key: "/etc/keys/tls.key".into() },
            CertificateSource::Sds { secret_name: "yelb".into() },
            CertificateSource::Acm { certificate_arn: "arn:aws:acm:us-west-2:123456789012:certificate/x".into() },
        ];
        for c in &certificates {
            let config = CertificateConfig::of(c);
            assert_eq!(config.sources_set(), 1);
            assert_eq!(config.source().as_ref(), Some(c));
        }
        let trusts = [
            TrustSource::File { certificate_chain: "/etc/keys/ca.crt".into() },
            TrustSource::Sds { secret_name: "ca".into() },
            TrustSource::Acm { certificate_authority_arns: vec!["arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/x".into()] },
        ];
        for t in &trusts {
            let config = TrustConfig::of(t);
            assert_eq!(config.source().as_ref(), Some(t));
        }
    }

    #[test]
    fn a_source_with_an_unknown_part_is_not_yet_a_source() {
        let half = CertificateConfig {
            file: Some(CertificateFiles { certificate_chain: "/a".into(), private_key: Attr::Unknown }),
            ..Default::default()
        };
        assert_eq!(half.source(), None);
        let two = CertificateConfig { file: Some(CertificateFiles::default()), sds: Some(SdsSecret::default()), acm: None };
        assert_eq!(two.sources_set(), 2);
    }

    #[test]
    fn drift_reads_as_a_status() {
        assert_eq!(SideStatus::of_drift(&[]), SideStatus::InSync);
        let drifted = SideStatus::of_drift(&["mode".into(), "port".into()]);
        assert_eq!(drifted.to_string(), "drifted: mode; port");
        for status in [SideStatus::InSync, SideStatus::NotManaged, drifted, SideStatus::ApplyFailed("cluster: refused".into())] {
            assert_eq!(SideStatus::of_attr(&status.clone().into()), Some(status), "read back as written");
        }
    }

    #[test]
    fn a_failed_read_keeps_the_prior_status_and_warns_but_a_missing_object_is_drift() {
        let prior: Attr<String> = SideStatus::InSync.into();
        let timeout = SideError::Backend(BackendError::new("cluster", ErrorKind::Unavailable, "reading VirtualNode yelb/api", "timed out"));
        let mut warnings = Vec::new();
        assert_eq!(refreshed_status(&prior, "cluster", Err::<Vec<String>, _>(timeout), &mut warnings), prior);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].detail.contains("timed out"), "{:?}", warnings[0]);
        let gone = SideError::NotFound { side: "cluster", what: "VirtualNode yelb/api".into() };
        let status = refreshed_status(&prior, "cluster", Err::<Vec<String>, _>(gone), &mut warnings);
        assert_eq!(status.as_deref(), Some("drifted: VirtualNode yelb/api not found on the cluster"));
        let deleted = GatewayError::Backend(BackendError::new("App Mesh API", ErrorKind::NotFound, "DescribeVirtualGateway", "gone"));
        assert!(refreshed_status(&prior, "App Mesh API", Err::<Vec<String>, _>(deleted), &mut warnings)
            .as_deref()
            .is_some_and(|s| s.starts_with("drifted: ")));
        assert_eq!(warnings.len(), 1, "only the failed read warns");
        assert_eq!(
            refreshed_status::<SideError>(&prior, "cluster", Ok(vec!["mode".into()]), &mut warnings).as_deref(),
            Some("drifted: mode")
        );
    }
}
