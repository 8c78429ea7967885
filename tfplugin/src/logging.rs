//! Logs as hclog JSON lines on stderr, the format Terraform and OpenTofu parse from plugins:
//! they show each line under the provider's name at the level in `@level`.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::{Map, Value as Json};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The level Terraform asked for: TF_LOG_PROVIDER, else TF_LOG; warnings when neither is set.
pub fn level_from_env() -> LevelFilter {
    let raw = std::env::var("TF_LOG_PROVIDER").ok().filter(|s| !s.is_empty()).or_else(|| std::env::var("TF_LOG").ok());
    match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("trace") | Some("json") => LevelFilter::TRACE,
        Some("debug") => LevelFilter::DEBUG,
        Some("info") => LevelFilter::INFO,
        Some("error") => LevelFilter::ERROR,
        Some("off") => LevelFilter::OFF,
        _ => LevelFilter::WARN,
    }
}

/// Installs the JSON-lines subscriber. `module` names the emitter in `@module`. The
/// transport crates (h2, hyper, tonic, rustls) log every frame at debug level, which would
/// drown the provider's own lines, so they are held to warnings. `held` are the provider's
/// own dependencies to hold to errors, whatever the level: those that may print what they
/// received (a response body) at lower levels.
pub fn init(module: &'static str, held: &[&'static str]) {
    let filter = targets(level_from_env(), held);
    let layer = HclogLayer { module }.with_filter(filter);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// The filter for `level`: see [`init`]. No target is ever more verbose than `level`.
pub fn targets(level: LevelFilter, held: &[&'static str]) -> Targets {
    Targets::new()
        .with_default(level)
        .with_targets(
            ["h2", "hyper", "hyper_util", "tonic", "tower", "rustls", "tokio_rustls", "aws_smithy_runtime", "aws_config"]
                .map(|t| (t, level.min(LevelFilter::WARN))),
        )
        // Except the AWS SDK's retry decisions: they are the provider's only retries of
        // throttled and failed AWS calls, and say why each one is retried.
        .with_target("aws_smithy_runtime::client::retries", level)
        .with_targets(held.iter().map(|t| (*t, level.min(LevelFilter::ERROR))))
}

struct HclogLayer {
    module: &'static str,
}

struct Fields(Map<String, Json>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(key(field), Json::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(key(field), Json::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(key(field), Json::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(key(field), Json::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.0.insert(key(field), Json::from(s));
    }
}

fn key(field: &Field) -> String {
    if field.name() == "message" {
        "@message".to_string()
    } else {
        field.name().to_string()
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// hclog's timestamp layout: microseconds and a `Z` for UTC; any other form makes the CLI
/// treat the line as plain text.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let mut line = fields.0;
        line.insert("@level".into(), Json::from(level_name(meta.level())));
        line.insert("@timestamp".into(), Json::from(timestamp(time::OffsetDateTime::now_utc())));
        line.insert("@module".into(), Json::from(self.module));
        line.entry("@message").or_insert_with(|| Json::from(""));
        if meta.target() != self.module {
            line.insert("target".into(), Json::from(meta.target()));
        }
        let mut text = Json::Object(line).to_string();
        text.push('\n');
        // One write per line, so lines from concurrent tasks never interleave.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_targets_log_errors_only_and_nothing_is_louder_than_asked() {
        let trace = targets(LevelFilter::TRACE, &["kube_client"]);
        assert!(trace.would_enable("some_provider::resource", &Level::TRACE));
        assert!(!trace.would_enable("kube_client::client", &Level::WARN), "a held target's warnings can carry bodies");
        assert!(trace.would_enable("kube_client::client", &Level::ERROR));
        assert!(!trace.would_enable("hyper::proto", &Level::DEBUG));
        let off = targets(LevelFilter::OFF, &["kube_client"]);
        for target in ["some_provider", "kube_client", "hyper", "aws_smithy_runtime::client::retries"] {
            assert!(!off.would_enable(target, &Level::ERROR), "{target} logs with TF_LOG=off");
        }
    }

    #[test]
    fn timestamp_has_hclog_layout() {
        let t = time::macros::datetime!(2026-11-22 20:25:36.123456 UTC);
        assert_eq!(timestamp(t), "2026-11-22T20:25:36.123456Z");
        let t = time::macros::datetime!(2026-01-02 03:04:05.000007 +02:00);
        assert_eq!(timestamp(t), "2026-01-02T01:04:05.000007Z");
    }
}
