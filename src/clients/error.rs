//! One error for every call meshtls makes to a cluster or to AWS: where it happened (the
//! side), what kind of failure it is, and its source. The kind is classified once, here, from
//! the code and reason the API answers (kube-core's `Status` predicates, the AWS error code),
//! never from message text, so retries and diagnostics decide on the kind alone.

use std::error::Error as StdError;

use aws_sdk_appmesh::error::{ProvideErrorMetadata, SdkError};

pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong, as far as a caller can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    /// A create met an object of that name.
    AlreadyExists,
    /// The object changed between the read and the write: worth a fresh read and another try.
    Conflict,
    Forbidden,
    /// The API refused what was sent, or answered something meshtls cannot use.
    Invalid,
    /// Throttled, timed out or unreachable, after the client's own retries.
    Unavailable,
    Other,
}

impl ErrorKind {
    /// From the API server's `Status`: its reason first, its code where the reason is not one
    /// Kubernetes defines (kube-core's predicates).
    pub fn of_kube(e: &kube::Error) -> Self {
        match e {
            kube::Error::Api(s) if s.is_not_found() => Self::NotFound,
            kube::Error::Api(s) if s.is_already_exists() => Self::AlreadyExists,
            kube::Error::Api(s) if s.is_conflict() => Self::Conflict,
            kube::Error::Api(s) if s.is_forbidden() => Self::Forbidden,
            kube::Error::Api(s) if s.is_invalid() || s.code == 400 => Self::Invalid,
            kube::Error::Api(s) if s.code == 429 || s.code >= 500 => Self::Unavailable,
            kube::Error::Api(_) => Self::Other,
            kube::Error::HyperError(_) | kube::Error::Service(_) => Self::Unavailable,
            _ => Self::Other,
        }
    }

    /// From the error code AWS answers; a request that got no answer is unavailable.
    pub fn of_aws<E: ProvideErrorMetadata>(e: &SdkError<E, impl std::fmt::Debug>) -> Self {
        match e {
            SdkError::ServiceError(s) => Self::of_aws_code(s.err().code()),
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => Self::Unavailable,
            _ => Self::Other,
        }
    }

    pub fn of_aws_code(code: Option<&str>) -> Self {
        match code.unwrap_or_default() {
            "NotFoundException" | "ResourceNotFoundException" => Self::NotFound,
            "ConflictException" => Self::Conflict,
            "ForbiddenException" | "AccessDeniedException" => Self::Forbidden,
            "BadRequestException"
            | "ValidationException"
            | "InvalidArgsException"
            | "InvalidRequestException"
            | "InvalidStateException"
            | "MalformedCSRException"
            | "InvalidPolicyException" => Self::Invalid,
            "TooManyRequestsException" | "ThrottlingException" | "ServiceUnavailableException" | "InternalServerErrorException" => {
                Self::Unavailable
            }
            _ => Self::Other,
        }
    }
}

/// A failed call to one side, with what meshtls was doing and the error that says why.
#[derive(Debug, thiserror::Error)]
#[error("{side}: {what}: {source}{}", if hint.is_empty() { String::new() } else { format!(". {hint}") })]
pub struct BackendError {
    /// "cluster", "App Mesh API", "ACM Private CA": shown to users.
    pub side: &'static str,
    pub kind: ErrorKind,
    /// What meshtls was doing, e.g. "updating VirtualNode yelb/api".
    pub what: String,
    /// What the user can do about it; empty when the message says enough.
    pub hint: &'static str,
    #[source]
    pub source: BoxError,
}

impl BackendError {
    pub fn kube(side: &'static str, what: impl Into<String>, e: kube::Error) -> Self {
        Self { side, kind: ErrorKind::of_kube(&e), what: what.into(), hint: "", source: Box::new(e) }
    }

    /// The service error's code and message as the source, since the SDK's own display of a
    /// service error is only "service error".
    pub fn aws<E, R>(side: &'static str, what: impl Into<String>, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let kind = ErrorKind::of_aws(&e);
        let source: BoxError = match e {
            SdkError::ServiceError(s) => {
                let err = s.into_err();
                let (code, message) = (err.code().unwrap_or("error").to_string(), err.message().unwrap_or_default().to_string());
                Box::new(AwsAnswer { code, message, source: Box::new(err) })
            }
            other => Box::new(other),
        };
        Self { side, kind, what: what.into(), hint: "", source }
    }

    /// A failure with no underlying error: `why` says it.
    pub fn new(side: &'static str, kind: ErrorKind, what: impl Into<String>, why: impl Into<String>) -> Self {
        Self { side, kind, what: what.into(), hint: "", source: why.into().into() }
    }

    /// An answer meshtls cannot use, or settings it cannot send.
    pub fn invalid(side: &'static str, what: impl Into<String>, why: impl Into<String>) -> Self {
        Self::new(side, ErrorKind::Invalid, what, why)
    }

    pub fn with_hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }
}

/// The one policy for conflicts: runs `op` (a read, or a read-modify-write) again when it
/// fails with an error `conflict` accepts, with bounded, jittered exponential backoff.
/// Throttling and passing failures are retried below, once: by the Kubernetes client's retry
/// layer and the AWS SDK's retry strategy, so no failure is retried by two budgets at once.
pub async fn retry_conflicts<T, E, F, Fut>(mut op: F, conflict: impl Fn(&E) -> bool) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    use backon::{ExponentialBuilder, Retryable};
    let policy = ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(100))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_max_times(6)
        .with_jitter();
    (|| op()).retry(policy).when(|e| conflict(e)).notify(|e, d| tracing::info!(error = %e, delay = ?d, "retrying on a conflict")).await
}

/// What AWS answered: its code and message, with the SDK's error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{code} {message}")]
pub struct AwsAnswer {
    pub code: String,
    pub message: String,
    #[source]
    source: BoxError,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("m", reason).with_code(code).boxed())
    }

    #[test]
    fn kube_failures_are_classified_by_reason_then_code() {
        assert_eq!(ErrorKind::of_kube(&status(409, "AlreadyExists")), ErrorKind::AlreadyExists);
        assert_eq!(ErrorKind::of_kube(&status(409, "Conflict")), ErrorKind::Conflict);
        assert_eq!(ErrorKind::of_kube(&status(404, "NotFound")), ErrorKind::NotFound);
        assert_eq!(ErrorKind::of_kube(&status(403, "Forbidden")), ErrorKind::Forbidden);
        assert_eq!(ErrorKind::of_kube(&status(422, "Invalid")), ErrorKind::Invalid);
        assert_eq!(ErrorKind::of_kube(&status(503, "ServiceUnavailable")), ErrorKind::Unavailable);
        assert_eq!(ErrorKind::of_kube(&status(418, "Teapot")), ErrorKind::Other);
    }

    #[test]
    fn aws_failures_are_classified_by_code() {
        assert_eq!(ErrorKind::of_aws_code(Some("ConflictException")), ErrorKind::Conflict);
        assert_eq!(ErrorKind::of_aws_code(Some("NotFoundException")), ErrorKind::NotFound);
        assert_eq!(ErrorKind::of_aws_code(Some("ResourceNotFoundException")), ErrorKind::NotFound);
        assert_eq!(ErrorKind::of_aws_code(Some("AccessDeniedException")), ErrorKind::Forbidden);
        assert_eq!(ErrorKind::of_aws_code(Some("TooManyRequestsException")), ErrorKind::Unavailable);
        assert_eq!(ErrorKind::of_aws_code(None), ErrorKind::Other);
    }

    #[test]
    fn the_source_is_kept_and_shown() {
        let e = BackendError::kube("cluster", "updating VirtualNode yelb/api", status(409, "Conflict"));
        assert!(e.is(ErrorKind::Conflict));
        assert!(e.to_string().starts_with("cluster: updating VirtualNode yelb/api: "), "{e}");
        assert!(StdError::source(&e).and_then(|s| s.downcast_ref::<kube::Error>()).is_some());
        let hinted = BackendError::invalid("ACM Private CA", "IssueCertificate", "no ARN").with_hint("Check it.");
        assert_eq!(hinted.to_string(), "ACM Private CA: IssueCertificate: no ARN. Check it.");
        assert!(hinted.is(ErrorKind::Invalid));
    }
}
