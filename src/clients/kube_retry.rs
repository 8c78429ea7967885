//! Retries for Kubernetes API requests that failed for reasons that pass: throttling (429),
//! an API server that is restarting or overloaded (503, refused connections), and, for
//! requests that are safe to repeat, a connection lost mid-request or a 504.
//!
//! A create (POST) whose connection broke after it was sent is not repeated here: only the
//! caller can tell whether it landed (see `tls_secret::create`).

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use tower::retry::Policy;
use tower::BoxError;

/// Attempts after the first one. With the delays below they span about half a minute,
/// enough for an API server to restart.
const MAX_RETRIES: u32 = 8;
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// A server's Retry-After longer than this is capped, so one answer cannot stall an apply.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default)]
pub struct TransientRetry {
    retries: u32,
}

impl TransientRetry {
    /// Exponential backoff with full jitter, so parallel resources do not retry in step.
    fn backoff(&self) -> Duration {
        let ceiling = FIRST_DELAY.saturating_mul(1 << self.retries.min(16)).min(MAX_DELAY);
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let fraction = (random % 1000) as f64 / 1000.0;
        ceiling.mul_f64(0.5 + fraction / 2.0)
    }
}

/// Safe to send twice: reading, replacing (PUT carries a resourceVersion), patching to a
/// fixed content, and deleting (404 counts as deleted).
fn repeatable(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::PUT | Method::PATCH | Method::DELETE)
}

/// True when the request never reached the server: nothing happened there, so any request
/// may be sent again.
fn never_sent(error: &BoxError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(e) = source {
        if e.downcast_ref::<hyper_util::client::legacy::Error>().is_some_and(|e| e.is_connect()) {
            return true;
        }
        if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        source = e.source();
    }
    false
}

fn retry_after(response: &Response<impl Sized>) -> Option<Duration> {
    let seconds: u64 = response.headers().get(http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

impl<B> Policy<Request<Body>, Response<B>, BoxError> for TransientRetry {
    type Future = tokio::time::Sleep;

    fn retry(&mut self, request: &mut Request<Body>, result: &mut Result<Response<B>, BoxError>) -> Option<Self::Future> {
        if self.retries >= MAX_RETRIES {
            return None;
        }
        let method = request.method();
        let (delay, reason) = match result {
            Ok(response) => match response.status() {
                // Rejected before any work was done: safe for every method.
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    (retry_after(response).unwrap_or_else(|| self.backoff()), response.status().to_string())
                }
                StatusCode::GATEWAY_TIMEOUT if repeatable(method) => (self.backoff(), response.status().to_string()),
                _ => return None,
            },
            Err(e) if never_sent(e) || repeatable(method) => (self.backoff(), e.to_string()),
            Err(_) => return None,
        };
        self.retries += 1;
        tracing::debug!(%method, path = request.uri().path(), retry = self.retries, ?delay, %reason, "retrying Kubernetes API request");
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        // Every request meshtls sends has a buffered body, so it can be cloned.
        let body = request.body().try_clone()?;
        let mut clone = Request::builder().method(request.method().clone()).uri(request.uri().clone()).version(request.version());
        if let Some(headers) = clone.headers_mut() {
            headers.extend(request.headers().clone());
        }
        let mut clone = clone.body(body).ok()?;
        *clone.extensions_mut() = request.extensions().clone();
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method) -> Request<Body> {
        Request::builder().method(method).uri("/api/v1/namespaces/a/secrets").body(Body::empty()).expect("request")
    }

    fn response(status: u16) -> Result<Response<()>, BoxError> {
        Ok(Response::builder().status(status).body(()).expect("response"))
    }

    #[tokio::test]
    async fn throttling_is_retried_for_every_method_and_conflicts_never() {
        for method in [Method::GET, Method::POST, Method::PUT] {
            assert!(TransientRetry::default().retry(&mut request(method.clone()), &mut response(429)).is_some(), "{method}");
            assert!(TransientRetry::default().retry(&mut request(method.clone()), &mut response(409)).is_none(), "{method}");
        }
    }

    #[tokio::test]
    async fn a_timed_out_create_is_left_to_the_caller() {
        assert!(TransientRetry::default().retry(&mut request(Method::POST), &mut response(504)).is_none());
        assert!(TransientRetry::default().retry(&mut request(Method::GET), &mut response(504)).is_some());
        let reset: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(TransientRetry::default().retry(&mut request(Method::POST), &mut Err::<Response<()>, _>(reset)).is_none());
        let refused: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(TransientRetry::default().retry(&mut request(Method::POST), &mut Err::<Response<()>, _>(refused)).is_some());
    }

    #[tokio::test]
    async fn retries_are_bounded_and_honour_retry_after() {
        let mut policy = TransientRetry::default();
        let mut n = 0;
        while policy.retry(&mut request(Method::GET), &mut response(503)).is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_RETRIES);
        let with_header: Response<()> = Response::builder().status(429).header("Retry-After", "3").body(()).expect("response");
        assert_eq!(retry_after(&with_header), Some(Duration::from_secs(3)));
        let huge: Response<()> = Response::builder().status(429).header("Retry-After", "3600").body(()).expect("response");
        assert_eq!(retry_after(&huge), Some(MAX_RETRY_AFTER));
        for retries in 0..20 {
            let d = TransientRetry { retries }.backoff();
            assert!(d <= MAX_DELAY && d >= FIRST_DELAY / 2, "{d:?}");
        }
    }
}
