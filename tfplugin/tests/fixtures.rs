//! Values captured from real tofu and terraform, sent to the fixture provider
//! (examples/fixture_provider.rs), decode and re-encode to the same bytes: our msgpack
//! encoding is the one the CLIs use.

use std::path::{Path, PathBuf};

use tfplugin::{msgpack, Type, Value};

fn fixtures(cli: &str) -> Vec<(PathBuf, Vec<u8>, Type)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(cli);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "msgpack"))
        .map(|p| {
            let bytes = std::fs::read(&p).expect("fixture");
            let ty = Type::from_json_bytes(&std::fs::read(p.with_extension("type.json")).expect("type")).expect("type JSON");
            (p, bytes, ty)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// An ext8 header with extension type 12, the marker of a refined unknown.
fn has_refined_unknown(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| w[0] == 0xc7 && w[2] == 12)
}

fn contains_unknown(v: &Value) -> bool {
    !v.is_wholly_known()
}

fn check_cli(cli: &str) {
    let all = fixtures(cli);
    assert!(all.len() >= 10, "{cli}: expected captured fixtures, found {}", all.len());
    let mut saw_unknown = false;
    let mut saw_provider_block = false;
    let mut saw_refined = false;
    let mut saw_second = false;
    for (path, bytes, ty) in &all {
        let value = msgpack::decode(bytes, ty).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reencoded = msgpack::encode(&value, ty).expect("encode");
        if &reencoded != bytes {
            // Refined unknowns (extension type 12) carry hints we do not keep; everything
            // else must come back byte for byte.
            assert!(has_refined_unknown(bytes), "{}: re-encoding differs", path.display());
            assert_eq!(msgpack::decode(&reencoded, ty).expect("decode again"), value, "{}", path.display());
            saw_refined = true;
        }
        saw_unknown |= contains_unknown(&value);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("ConfigureProvider") {
            assert_eq!(value.get("region").as_str(), Some("north"));
            assert_eq!(value.get("endpoints").get("primary").as_str(), Some("http://127.0.0.1:1"));
            assert!(value.get("endpoints").get("secondary").is_null());
            saw_provider_block = true;
        }
        if name.contains("-config-") && value.get("name").as_str() == Some("cap-b") {
            assert_eq!(value.get("size").as_i64(), Some(12));
            assert!(value.get("shape").is_null(), "an absent single block is null");
            saw_second = true;
        }
        if name.contains("-config-") && value.get("name").as_str() == Some("cap-a") {
            assert_eq!(value.get("shape").get("kind").as_str(), Some("square"));
            let team = match value.get("labels") {
                Value::Map(m) => m.get("team").and_then(Value::as_str),
                _ => None,
            };
            assert_eq!(team, Some("platform"), "a map attribute");
        }
    }
    assert!(saw_unknown, "{cli}: no fixture carries an unknown value");
    // OpenTofu refines unknowns (here: "not null"); Terraform 1.0 predates refinements.
    assert_eq!(saw_refined, cli == "tofu", "{cli}: refined unknowns seen: {saw_refined}");
    assert!(saw_provider_block, "{cli}: no provider configuration captured");
    assert!(saw_second, "{cli}: no configuration of the second thing captured");
}

#[test]
fn tofu_values_round_trip() {
    check_cli("tofu");
}

#[test]
fn terraform_1_0_values_round_trip() {
    check_cli("terraform");
}
