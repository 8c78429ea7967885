//! What every RPC shares: decoding and encoding values, diagnostics and paths on the wire,
//! write-only values kept out of plans and states, request captures for debugging, and a
//! provider panic turned into an error diagnostic.

use super::Registered;
use crate::diag::{AttributePath, Diagnostic, Diagnostics, Severity, Step};
use crate::framework::Resource;
use crate::proto::tfplugin6 as pb;
use crate::types::Type;
use crate::value::Value;
use crate::{json, msgpack};

/// Write-only values never reach a plan or a state: the CLI requires them null there.
pub(super) fn without_write_only(r: &Registered<dyn Resource>, mut value: Value) -> Value {
    r.schema.block.null_write_only(&mut value);
    value
}

/// A CLI that does not know write-only arguments would store them in state like any other,
/// so a configuration that sets one is refused before anything is planned.
pub(super) fn write_only_unsupported(
    block: &crate::schema::Block,
    config: &Value,
    capabilities: Option<&pb::ClientCapabilities>,
) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if capabilities.is_some_and(|c| c.write_only_attributes_allowed) {
        return diags;
    }
    for path in block.write_only_paths(config) {
        diags.push(
            Diagnostic::error(
                "Write-only argument not supported by this CLI",
                format!(
                    "`{path}` is write-only: it is used at apply and never stored. This Terraform or OpenTofu does not support write-only arguments and would keep it in state. Use Terraform 1.11 or later or OpenTofu 1.11 or later, or leave it unset."
                ),
            )
            .at(path),
        );
    }
    diags
}

/// Terraform 1.0 crashes planning nested attributes that hold computed values
/// (hashicorp/terraform#29473, fixed in 1.0.6; #29697 for lists inside objects), so a resource
/// that has any is refused at plan there, with a diagnostic in place of the CLI's crash.
/// `cli_version` is ConfigureProvider's; OpenTofu's (1.6 and later) is never refused.
pub(super) fn nested_attributes_unsupported(block: &crate::schema::Block, type_name: &str, cli_version: &str) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let mut parts = cli_version.split('.').map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else { return diags };
    if (major, minor) >= (1, 1) {
        return diags;
    }
    let nested = block.attributes.iter().find(|a| matches!(a.ty, crate::schema::AttributeType::Nested { .. }));
    if let Some(a) = nested {
        diags.push(
            Diagnostic::error(
                "Terraform 1.1 or later needed",
                format!(
                    "{type_name} takes `{}` as nested attributes, which Terraform {cli_version} cannot plan (it stops with a crash). Use Terraform 1.1 or later or OpenTofu, or the single-object resource types.",
                    a.name
                ),
            )
            .at(crate::diag::AttributePath::attrs(&[&a.name])),
        );
    }
    diags
}

/// The identity of the object `state` describes, for the CLI to keep beside it; none for a
/// resource without identity, a gone object, or while a part is not known.
pub(super) fn identity_of(r: &Registered<dyn Resource>, state: &Value, diags: &mut Diagnostics) -> Option<pb::ResourceIdentityData> {
    let ty = r.identity_ty.as_ref()?;
    let identity = r.imp.identity(state).filter(Value::is_wholly_known)?;
    encode(&identity, ty, diags).map(|dv| pb::ResourceIdentityData { identity_data: Some(dv) })
}

pub(super) fn decode(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    let result = if !dv.msgpack.is_empty() {
        msgpack::decode(&dv.msgpack, ty).map_err(|e| e.to_string())
    } else if !dv.json.is_empty() {
        json::decode(&dv.json, ty).map_err(|e| e.to_string())
    } else {
        Ok(Value::Null)
    };
    result.map_err(|e| Diagnostic::error("Invalid value from Terraform", format!("The provider could not decode a value: {e}")).into())
}

/// With TFPLUGIN_CAPTURE_DIR set, every DynamicValue received in the calls below is written
/// there (its msgpack bytes, and its type as JSON), to build test fixtures from what real
/// CLIs send. Off by default; meant for development only.
pub(super) fn capture(rpc: &str, type_name: &str, field: &str, dv: Option<&pb::DynamicValue>, ty: &Type) {
    let (Some(dir), Some(dv)) = (std::env::var_os("TFPLUGIN_CAPTURE_DIR"), dv) else { return };
    if dv.msgpack.is_empty() {
        return;
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = std::path::Path::new(&dir).join(format!("{rpc}-{type_name}-{field}-{}-{n}", std::process::id()));
    // A configuration holds write-only values (keys): readable by the owner only.
    let _ = write_private(&base.with_extension("msgpack"), &dv.msgpack);
    let _ = write_private(&base.with_extension("type.json"), &ty.to_json_bytes());
}

/// Writes a new file of mode 0600.
pub(super) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

pub(super) fn encode(value: &Value, ty: &Type, diags: &mut Diagnostics) -> Option<pb::DynamicValue> {
    match msgpack::encode(value, ty) {
        Ok(msgpack) => Some(pb::DynamicValue { msgpack, json: Vec::new() }),
        Err(e) => {
            diags.error("Provider produced a value it cannot encode", format!("This is a bug in the provider: {e}"));
            None
        }
    }
}

pub(crate) fn diagnostics_to_wire(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter()
        .map(|d| pb::Diagnostic {
            severity: match d.severity {
                Severity::Error => pb::diagnostic::Severity::Error as i32,
                Severity::Warning => pb::diagnostic::Severity::Warning as i32,
            },
            summary: d.summary.clone(),
            detail: d.detail.clone(),
            attribute: d.path.as_ref().map(path_to_wire),
        })
        .collect()
}

pub(super) fn path_to_wire(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    Step::Attribute(n) => Selector::AttributeName(n.clone()),
                    Step::Key(k) => Selector::ElementKeyString(k.clone()),
                    Step::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// Apply and read results must be wholly known; an unknown left in them is a provider bug
/// that Terraform would reject with a far less helpful message.
/// A state the CLI is given must be wholly known. One that is not is a provider bug; the
/// object stays in state with those values null, so nothing that was written is lost track of
/// (a create that fails this way is tainted and replaced by the next apply).
pub(super) fn ensure_known(state: &mut Value, diags: &mut Diagnostics) {
    if !state.is_wholly_known() {
        diags.error(
            "Provider returned unknown values",
            "This is a bug in the provider: a state after apply or read still held unknown values. The object is kept in state with them null, so the next apply finishes or replaces it.",
        );
        state.nullify_unknowns();
    }
}

/// Runs one call into the provider. A panic inside it becomes an error diagnostic, so the CLI
/// reports it with the resource it concerns instead of seeing the connection reset.
pub(super) async fn caught<T>(rpc: &str, type_name: &str, call: impl std::future::Future<Output = T>) -> Result<T, Diagnostics> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(call).catch_unwind().await.map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        tracing::error!(rpc, type_name, "the provider panicked");
        Diagnostic::error(
            "Bug in the provider",
            format!("{rpc} for {type_name} panicked: {message}. Please report it; nothing after the panic was done."),
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_values_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("tfplugin-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("config.msgpack");
        let _ = std::fs::remove_file(&path);
        write_private(&path, b"key").expect("write");
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_panic_becomes_an_error_diagnostic() {
        let d = caught("ReadResource", "fixture_thing", async { panic!("index out of bounds") }).await.expect_err("caught");
        let first = d.iter().next().expect("one diagnostic");
        assert_eq!(first.severity, Severity::Error);
        assert!(first.detail.contains("ReadResource for fixture_thing panicked: index out of bounds"), "{}", first.detail);
        assert_eq!(caught("ReadResource", "fixture_thing", async { 7 }).await, Ok(7));
    }

    #[test]
    fn a_cli_without_write_only_support_is_refused_a_write_only_value() {
        use crate::schema::{Attribute, Block};
        let block =
            Block::new("").attribute(Attribute::string("name").optional()).attribute(Attribute::string("key_wo").optional().write_only());
        let set = Value::object([("name", Value::from("a")), ("key_wo", Value::from("KEY"))]);
        let refused = write_only_unsupported(&block, &set, None);
        let d = refused.iter().next().expect("refused");
        assert_eq!(d.path.as_ref().map(|p| p.to_string()).as_deref(), Some("key_wo"));
        assert!(!d.detail.contains("KEY"), "the value itself is never repeated");
        let old = pb::ClientCapabilities { deferral_allowed: true, write_only_attributes_allowed: false };
        assert!(write_only_unsupported(&block, &set, Some(&old)).has_errors());
        let current = pb::ClientCapabilities { write_only_attributes_allowed: true, ..old };
        assert!(write_only_unsupported(&block, &set, Some(&current)).is_empty());
        let unset = Value::object([("name", Value::from("a")), ("key_wo", Value::Null)]);
        assert!(write_only_unsupported(&block, &unset, None).is_empty(), "leaving it unset works everywhere");
    }

    #[test]
    fn a_state_with_unknowns_is_kept_with_them_null() {
        let mut state = Value::object([
            ("id", Value::from("a")),
            ("fingerprint", Value::Unknown),
            ("nested", Value::List(vec![Value::object([("x", Value::Unknown)])])),
        ]);
        let mut diags = Diagnostics::new();
        ensure_known(&mut state, &mut diags);
        assert!(diags.has_errors());
        assert_eq!(state.get("id").as_str(), Some("a"), "what was written stays in state");
        assert!(state.get("fingerprint").is_null() && state.is_wholly_known());
        let mut known = Value::object([("id", Value::from("a"))]);
        let mut none = Diagnostics::new();
        ensure_known(&mut known, &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn terraform_1_0_is_refused_nested_attributes_at_the_attribute() {
        let nested = crate::schema::Block::new("").attribute(crate::schema::Attribute::string("id").computed()).attribute(
            crate::schema::Attribute::nested(
                "items",
                crate::schema::Nesting::Map,
                vec![crate::schema::Attribute::string("v").optional().computed()],
            ),
        );
        let refused = nested_attributes_unsupported(&nested, "x_map", "1.0.3");
        assert!(refused.has_errors());
        assert_eq!(refused.0[0].path.as_ref().map(ToString::to_string).as_deref(), Some("items"));
        for fine in ["1.1.0", "1.16.3", "1.12.6", "", "dev"] {
            assert!(nested_attributes_unsupported(&nested, "x_map", fine).is_empty(), "{fine}");
        }
        let plain = crate::schema::Block::new("").attribute(crate::schema::Attribute::string("id").computed());
        assert!(nested_attributes_unsupported(&plain, "x", "1.0.3").is_empty(), "positive control: no nested attribute, no refusal");
    }
}
