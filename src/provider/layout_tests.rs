//! The source's layout keeps its shape: no import cycle between modules of src/ (a module
//! and its own submodules aside), read from the `crate::` paths each file uses outside its
//! tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every module of `dir`, by path (`["resources", "ca", "plan"]`), with its source.
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
        if path.is_dir() {
            let mut next = prefix.to_vec();
            next.push(stem);
            modules(&path, &next, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut module = prefix.to_vec();
            if stem != "mod" && stem != "main" {
                module.push(stem);
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // A file's unit tests may reach anywhere.
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default().to_string();
            out.insert(module, text);
        }
    }
}

/// The modules each module uses: the longest known prefix of every `crate::` path.
fn uses(all: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in all {
        let used = out.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let path: Vec<String> = text[i + "crate::".len()..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default()
                .split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            let target = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| all.contains_key(p)).unwrap_or_default();
            let nested = target.starts_with(module) || module.starts_with(&target);
            if !target.is_empty() && !nested {
                used.insert(target);
            }
        }
    }
    out
}

/// Modules that reach themselves through others.
fn in_cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Module> {
    let reaches = |from: &Module| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&Module> = graph.get(from).into_iter().flatten().collect();
        while let Some(m) = todo.pop() {
            if seen.insert(m.clone()) {
                todo.extend(graph.get(m).into_iter().flatten());
            }
        }
        seen.contains(from)
    };
    graph.keys().filter(|m| reaches(m)).cloned().collect()
}

#[test]
fn no_module_imports_itself_through_another() {
    let mut all = BTreeMap::new();
    modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &[], &mut all);
    assert!(all.len() > 50 && all.contains_key(&vec!["resources".to_string(), "ca".to_string()]), "the modules of src/ are read");
    let cycles = in_cycles(&uses(&all));
    assert!(cycles.is_empty(), "modules in an import cycle: {cycles:?}");

    // The positive control: a cycle made up here is found.
    let m = |s: &str| s.split("::").map(str::to_string).collect::<Module>();
    let made_up =
        BTreeMap::from([(m("a"), "use crate::b::x;".to_string()), (m("b"), "use crate::a::y;".to_string()), (m("c"), String::new())]);
    assert_eq!(in_cycles(&uses(&made_up)), [m("a"), m("b")]);
}
