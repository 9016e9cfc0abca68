//! No import cycles between the orchestrator's modules (issue #11: the flow reads one way).
//!
//! Pure file parsing, std only: reads every `.rs` file under `orchestrator/src` (the binary in
//! `src/bin/` is a consumer, not a module), maps it to its top-level module (`src/foo.rs`,
//! `src/foo/**`, and test files pulled in with `#[path = "…"]` belong to the module that declares
//! them), collects every `crate::<module>` reference (including `use crate::{a, b::C}` groups) and
//! fails naming each cycle it finds. Inside a folder module (`schedule/`, `query/`, …) the same is
//! done between its files, from `super::<file>` and `crate::<folder>::<file>` references; the
//! folder's `mod.rs` is left out there, since a parent re-exporting its children is how Rust
//! folders work.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// One source file: where it sits relative to `src/` and its text without comments.
struct Source {
    rel: PathBuf,
    code: String,
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = path.strip_prefix(root).expect("under src").to_path_buf();
        if path.is_dir() {
            if rel != Path::new("bin") {
                collect(&path, root, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            out.push(Source { rel, code: strip_comments(&text) });
        }
    }
}

/// Drops `//` comments (doc comments and their intra-doc links are not imports). A `//` inside a
/// string literal is kept by tracking double quotes on the line, which is enough for this code.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads an identifier at the start of `s` (after spaces).
fn ident(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.find(|c| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The first path segments named right after each occurrence of `prefix` (e.g. `crate::`):
/// `crate::a::B` gives `a`, and `crate::{a, b::C, d::{e}}` gives `a`, `b` and `d`.
/// With `second`, it gives the segment after the first instead (`crate::a::b` → `b` when the
/// first is `second`), for references into one folder's files.
fn heads<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + prefix.len()..];
        rest = after;
        if before.is_some_and(|c| is_ident(c) || c == '$' || c == ':') {
            continue;
        }
        let trimmed = after.trim_start();
        if let Some(group) = trimmed.strip_prefix('{') {
            found.extend(group_heads(group));
        } else {
            let name = ident(trimmed);
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// Heads of a `{…}` use group: the first segment of each comma-separated entry at depth zero.
fn group_heads(group: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut expect = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => expect = true,
            c if expect && depth == 0 && is_ident(c) => {
                let name = ident(&group[i..]);
                if !name.is_empty() {
                    found.push(name);
                }
                expect = false;
            }
            _ => {}
        }
    }
    found
}

/// `src/foo.rs` and `src/foo/**` belong to `foo`; a file included with `#[path = "x.rs"]`
/// belongs to the file that declares it.
fn owners(sources: &[Source]) -> BTreeMap<PathBuf, PathBuf> {
    let mut owner: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for source in sources {
        let mut rest = source.code.as_str();
        while let Some(at) = rest.find("#[path") {
            rest = &rest[at..];
            let Some(open) = rest.find('"') else { break };
            let Some(len) = rest[open + 1..].find('"') else { break };
            let target = &rest[open + 1..open + 1 + len];
            let dir = source.rel.parent().unwrap_or(Path::new(""));
            owner.insert(dir.join(target), source.rel.clone());
            rest = &rest[open + 1 + len..];
        }
    }
    owner
}

fn resolve(rel: &Path, owner: &BTreeMap<PathBuf, PathBuf>) -> PathBuf {
    let mut rel = rel.to_path_buf();
    while let Some(up) = owner.get(&rel) {
        rel = up.clone();
    }
    rel
}

fn stem(path: &Path) -> String {
    path.file_stem().and_then(|s| s.to_str()).expect("utf-8 file name").to_string()
}

/// Top-level module of a file (path relative to `src/`).
fn top_module(rel: &Path) -> String {
    let first = rel.components().next().expect("non-empty path");
    stem(Path::new(first.as_os_str()))
}

fn module_graph(sources: &[Source]) -> Graph {
    let owner = owners(sources);
    let modules: BTreeSet<String> =
        sources.iter().map(|s| top_module(&resolve(&s.rel, &owner))).filter(|m| m != "lib").collect();
    let mut graph = Graph::new();
    for source in sources {
        let from = top_module(&resolve(&source.rel, &owner));
        for to in heads(&source.code, "crate::") {
            if to != from && modules.contains(to) {
                graph.entry(from.clone()).or_default().insert(to.to_string());
            }
        }
    }
    graph
}

/// Graph between the files of each folder module, keyed `folder/file`.
fn folder_graph(sources: &[Source]) -> Graph {
    let owner = owners(sources);
    let mut graph = Graph::new();
    for source in sources {
        let rel = resolve(&source.rel, &owner);
        let parts: Vec<String> = rel.iter().map(|p| stem(Path::new(p))).collect();
        let [folder, file] = parts.as_slice() else {
            continue;
        };
        if file == "mod" {
            continue;
        }
        let siblings: BTreeSet<String> = sources
            .iter()
            .map(|s| resolve(&s.rel, &owner))
            .filter(|r| r.iter().count() == 2 && top_module(r) == *folder)
            .map(|r| stem(&r))
            .filter(|s| s != "mod")
            .collect();
        let via_crate = format!("crate::{folder}::");
        let targets = heads(&source.code, "super::").into_iter().chain(heads(&source.code, &via_crate));
        for to in targets {
            if to != file && siblings.contains(to) {
                graph.entry(format!("{folder}/{file}")).or_default().insert(format!("{folder}/{to}"));
            }
        }
    }
    graph
}

/// Strongly connected components with more than one node, each as one concrete cycle
/// (`a -> b -> a`), found by a breadth-first search back to the component's first node.
fn cycles(graph: &Graph) -> Vec<String> {
    let nodes: BTreeSet<&String> = graph.iter().flat_map(|(k, vs)| std::iter::once(k).chain(vs.iter())).collect();
    let reach = |start: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([start.clone()]);
        while let Some(n) = queue.pop_front() {
            for next in graph.get(&n).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    queue.push_back(next.clone());
                }
            }
        }
        seen
    };
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut found = Vec::new();
    for &node in &nodes {
        if done.contains(node) || !reach(node).contains(node) {
            continue;
        }
        // The component of `node`: everything it reaches that reaches it back.
        let component: BTreeSet<String> = reach(node).into_iter().filter(|n| reach(n).contains(node)).collect();
        // Shortest cycle through `node`.
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([node.clone()]);
        'search: while let Some(n) = queue.pop_front() {
            for next in graph.get(&n).into_iter().flatten() {
                if next == node {
                    prev.insert(node.clone(), n.clone());
                    break 'search;
                }
                if component.contains(next) && !prev.contains_key(next) {
                    prev.insert(next.clone(), n.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let mut path = vec![node.clone()];
        let mut at = prev[node].clone();
        while &at != node {
            path.push(at.clone());
            at = prev[&at].clone();
        }
        path.push(node.clone());
        path.reverse();
        let others: Vec<&String> = component.iter().filter(|n| !path.contains(n)).collect();
        let mut line = path.join(" -> ");
        if !others.is_empty() {
            line.push_str(&format!(
                "  (same knot: {})",
                others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        found.push(line);
        done.extend(component);
    }
    found
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    collect(&root, &root, &mut out);
    assert!(out.len() > 10, "found only {} files under {}", out.len(), root.display());
    out
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = module_graph(&sources());
    assert!(graph.len() > 5, "the parser found almost no references: {graph:?}");
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between orchestrator modules (crate::<module> references):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn no_cycle_between_files_of_a_folder() {
    let found = cycles(&folder_graph(&sources()));
    assert!(found.is_empty(), "import cycles between files of one folder module:\n  {}", found.join("\n  "));
}

#[test]
fn parser_reads_paths_and_groups() {
    let code =
        strip_comments("use crate::{a, b::C, d::{e, f}};\nlet x = crate::g::h();\n// crate::commented\n$crate::m\n");
    assert_eq!(heads(&code, "crate::"), vec!["a", "b", "d", "g"]);
}

#[test]
fn cycle_finder_names_the_cycle() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")] {
        graph.entry(from.to_string()).or_default().insert(to.to_string());
    }
    assert_eq!(cycles(&graph), vec!["a -> b -> c -> a".to_string()]);
    graph.remove("c");
    assert!(cycles(&graph).is_empty());
}
