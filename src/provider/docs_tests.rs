//! The Registry pages under docs/ must document exactly the attributes the schemas have (list
//! resources' `config` blocks included), and each resource's import-by-identity example exactly
//! its identity's attributes.

use std::collections::BTreeSet;

use tfplugin::schema::{AttributeType, Block};
use tfplugin::Provider;

use super::MeshTls;

/// Every attribute and block name of a schema, nested ones included.
fn schema_names(block: &Block, out: &mut BTreeSet<String>) {
    for a in &block.attributes {
        out.insert(a.name.clone());
        if let AttributeType::Nested { attributes, .. } = &a.ty {
            schema_names(&Block { attributes: attributes.clone(), ..Default::default() }, out);
        }
    }
    for b in &block.blocks {
        out.insert(b.type_name.clone());
        schema_names(&b.block, out);
    }
}

/// Names documented as list items of the form "- `name` (Type...)".
fn documented_names(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| l.trim_start().strip_prefix("- `"))
        .filter_map(|rest| rest.split_once("` ("))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Attribute names in the page's `identity = { ... }` example (an `import` block).
fn identity_example_names(page: &str) -> BTreeSet<String> {
    let mut lines = page.lines().map(str::trim).skip_while(|l| !l.starts_with("identity = {")).skip(1);
    let mut names = BTreeSet::new();
    for line in lines.by_ref().take_while(|l| !l.starts_with('}')) {
        if let Some((name, _)) = line.split_once('=') {
            names.insert(name.trim().to_string());
        }
    }
    names
}

fn page(path: &str) -> String {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/").to_string() + path;
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn assert_same(what: &str, schema: BTreeSet<String>, documented: BTreeSet<String>) {
    let missing: Vec<_> = schema.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&schema).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: undocumented attributes {missing:?}; documented but not in the schema {extra:?}"
    );
}

#[test]
fn docs_match_schemas() {
    let provider = MeshTls::new();
    let mut names = BTreeSet::new();
    schema_names(&provider.schema().block, &mut names);
    assert_same("docs/index.md", names, documented_names(&page("index.md")));
    for resource in provider.resources() {
        let short = resource.type_name().trim_start_matches("meshtls_");
        let mut names = BTreeSet::new();
        schema_names(&resource.schema().block, &mut names);
        let doc = page(&format!("resources/{short}.md"));
        assert_same(&format!("docs/resources/{short}.md"), names, documented_names(&doc));
        if let Some(identity) = resource.identity_schema() {
            let names = identity.attributes.iter().map(|a| a.name.clone()).collect();
            assert_same(&format!("docs/resources/{short}.md (identity)"), names, identity_example_names(&doc));
        }
    }
    for list in provider.list_resources() {
        let short = list.type_name().trim_start_matches("meshtls_");
        let mut names = BTreeSet::new();
        schema_names(&list.schema().block, &mut names);
        assert_same(&format!("docs/list-resources/{short}.md"), names, documented_names(&page(&format!("list-resources/{short}.md"))));
        assert!(
            provider.resources().iter().any(|r| r.type_name() == list.type_name() && r.identity_schema().is_some()),
            "{}: a list resource finds objects of the managed resource of its name, which needs an identity",
            list.type_name()
        );
    }
    for data_source in provider.data_sources() {
        let short = data_source.type_name().trim_start_matches("meshtls_");
        let mut names = BTreeSet::new();
        schema_names(&data_source.schema().block, &mut names);
        assert_same(&format!("docs/data-sources/{short}.md"), names, documented_names(&page(&format!("data-sources/{short}.md"))));
    }
}

/// The features table's first column.
fn features_in_table(page: &str) -> BTreeSet<String> {
    let mut rows = page.lines().skip_while(|l| !l.starts_with("| Feature | Terraform | OpenTofu |")).skip(2);
    let mut out = BTreeSet::new();
    for row in rows.by_ref().take_while(|l| l.starts_with('|')) {
        if let Some(feature) = row.split('|').nth(1) {
            out.insert(feature.trim().to_string());
        }
    }
    out
}

/// docs/index.md's table of features by CLI version has a row for each capability the
/// provider's schemas use, and none for one they do not.
#[test]
fn the_features_table_matches_what_the_schemas_use() {
    let provider = MeshTls::new();
    let resources = provider.resources();
    let names: Vec<&str> = resources.iter().map(|r| r.type_name()).collect();
    let empty = serde_json::json!({});
    let moves_between_types = resources.iter().any(|r| {
        names.iter().filter(|n| **n != r.type_name()).any(|source| {
            let source = tfplugin::MoveSource {
                provider_address: "registry.terraform.io/meshtls/meshtls",
                type_name: source,
                schema_version: 0,
                state: &empty,
            };
            r.move_state(&source).is_some()
        })
    });
    fn any_write_only(block: &Block) -> bool {
        block.attributes.iter().any(|a| a.write_only) || block.blocks.iter().any(|b| any_write_only(&b.block))
    }
    let nested_attributes = resources
        .iter()
        .any(|r| r.schema().block.attributes.iter().any(|a| matches!(a.ty, tfplugin::schema::AttributeType::Nested { .. })));
    let capabilities = [
        ("Resources, data sources, `import` by ID", true),
        ("Nested attributes (the `*_map` types)", nested_attributes),
        ("Ephemeral values in the provider block", true),
        ("`moved` between resource types", moves_between_types),
        ("Write-only arguments", resources.iter().any(|r| any_write_only(&r.schema().block))),
        ("Resource identity", resources.iter().any(|r| r.identity_schema().is_some())),
        ("List resources (`terraform query`)", !provider.list_resources().is_empty()),
    ];
    let used: BTreeSet<String> = capabilities.iter().filter(|(_, used)| *used).map(|(f, _)| f.to_string()).collect();
    assert_eq!(features_in_table(&page("index.md")), used, "docs/index.md's features table");
    assert!(used.len() == capabilities.len(), "the positive control: every capability is detected in this provider");
}

#[test]
fn identity_examples_are_read_from_the_import_block() {
    let doc = "import {\n  to = x.y\n  identity = {\n    namespace   = \"a\"\n    name = \"b\"\n  }\n}\n";
    assert_eq!(identity_example_names(doc), BTreeSet::from(["namespace".to_string(), "name".to_string()]));
}

#[test]
fn documented_names_reads_nested_lists() {
    let names = documented_names("- `a` (String) x\n  - `b` (Number, Required) y\n- not `c` (x)\n");
    assert_eq!(names, BTreeSet::from(["a".to_string(), "b".to_string()]));
}

/// The Istio install guide names the versions the acceptance suite runs against.
#[test]
fn the_istio_install_guide_names_the_tested_versions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tools = std::fs::read_to_string(root.join("acceptance-tests/env/tools.sh")).expect("tools.sh");
    let guide = std::fs::read_to_string(root.join("docs/guides/installing-istio.md")).expect("the guide");
    let pinned = |name: &str| {
        tools
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("tools.sh pins {name}"))
            .to_string()
    };
    let istio = pinned("ISTIO_VERSION");
    let commit = istio.rsplit('-').next().expect("a pseudo-version ends in its commit");
    let commit = &commit[..commit.len().min(12)];
    assert!(guide.contains(&format!("commit `{commit}`")), "the guide must name istio.io/istio {istio}");
    let gateway_api = pinned("GATEWAY_API_VERSION");
    assert!(guide.contains(&format!("`sigs.k8s.io/gateway-api` {gateway_api}")), "the guide must name the Gateway API {gateway_api}");
    assert!(guide.contains(&format!("download/{gateway_api}/")), "the install command must fetch the tested Gateway API {gateway_api}");
}
