//! The module map holds: dependencies between top-level modules point one
//! way (no cycles), the renderer and the engine share the plan layer and
//! import neither each other, the processors import no I/O, and no source
//! file grows past what one person can hold.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module of a file under `src/` (`src/plan/gain.rs` → `plan`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel
        .components()
        .next()
        .expect("component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// Which top-level modules each module uses (`crate::NAME` in code, not in
/// comments).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let m = module_of(&src, &f);
        let text = std::fs::read_to_string(&f).expect("read");
        let entry = g.entry(m.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                let name: String = rest[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != m {
                    entry.insert(name);
                }
                rest = &rest[i + 7..];
            }
        }
    }
    g
}

fn reaches(g: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_string()];
    while let Some(x) = stack.pop() {
        for y in g.get(&x).into_iter().flatten() {
            if y == to {
                return true;
            }
            if seen.insert(y.clone()) {
                stack.push(y.clone());
            }
        }
    }
    false
}

#[test]
fn dependencies_point_one_way() {
    let g = graph();
    for (m, uses) in &g {
        for u in uses {
            assert!(
                !reaches(&g, u, m),
                "a cycle: {m} uses {u}, and {u} leads back to {m} ({g:?})"
            );
        }
    }
    let uses = |m: &str| g.get(m).cloned().unwrap_or_default();
    assert!(!uses("render").contains("engine"), "render imports engine");
    assert!(!uses("engine").contains("render"), "engine imports render");
    for low in ["dsp", "plan"] {
        assert!(!uses(low).contains("render") && !uses(low).contains("engine"));
        assert!(!uses(low).contains("ui") && !uses(low).contains("cli"));
    }
    for m in ["io", "analysis"] {
        assert!(!uses("dsp").contains(m), "the processors import {m}");
    }
    for m in ["io", "analysis", "session", "audio"] {
        for high in ["plan", "render", "engine", "ui", "remote", "dsp"] {
            assert!(!uses(m).contains(high), "{m} imports {high}");
        }
    }
    assert!(uses("render").contains("plan") && uses("engine").contains("plan"));
}
