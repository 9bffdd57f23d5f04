//! Checks that keep the documentation true as the code moves: every source
//! file says what it is for in a `//!` paragraph, every file and folder
//! ARCHITECTURE.md's code map names exists where the map says it is, and
//! the docs cite only what the repository holds.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (recursively), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_source_file_starts_with_its_purpose() {
    let missing: Vec<String> = files(&root().join("src"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            let text = std::fs::read_to_string(p).expect("readable source");
            !text.trim_start().starts_with("//!")
        })
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files lack a `//!` paragraph saying what they are for: {missing:?}"
    );
}

/// The backticked words of `text` that look like file or folder names.
fn path_like(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
                && (w.ends_with(".rs") || w.ends_with(".pest") || w.ends_with('/'))
        })
        .collect()
}

#[test]
fn the_code_map_names_only_what_exists() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let map = arch
        .split("## Code map")
        .nth(1)
        .expect("a code map section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut problems = Vec::new();
    let mut rows = 0;
    for line in map.lines().filter(|l| l.starts_with("| `")) {
        rows += 1;
        let mut cells = line.split('|').skip(1);
        let (Some(first), Some(rest)) = (cells.next(), cells.next()) else {
            continue;
        };
        let Some(&dir) = path_like(first).first() else {
            problems.push(format!("row without a path: {line}"));
            continue;
        };
        let base = root().join(dir);
        if !base.exists() {
            problems.push(format!("`{dir}` does not exist"));
            continue;
        }
        if base.is_file() {
            continue;
        }
        let under: Vec<String> = files(&base)
            .iter()
            .map(|p| p.strip_prefix(&base).unwrap().display().to_string())
            .collect();
        for name in path_like(rest) {
            // A name in a row's description is a file or folder somewhere
            // under the row's folder (`lower/attention.rs`, `small_gemm.rs`),
            // or a path from `src/` or the root (`sema/recurrent.rs`, `data/`).
            if root().join("src").join(name).exists() || root().join(name).exists() {
                continue;
            }
            let found = under.iter().any(|f| {
                let f = format!("/{f}");
                if let Some(folder) = name.strip_suffix('/') {
                    f.contains(&format!("/{folder}/"))
                } else {
                    f.ends_with(&format!("/{name}"))
                }
            });
            if !found {
                problems.push(format!("`{name}` (under `{dir}`) does not exist"));
            }
        }
    }
    assert!(
        rows >= 10,
        "the code map has {rows} rows; did its format change?"
    );
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's code map is out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn docs_cite_only_what_the_repository_holds() {
    // The workplace's notes on the toolchain live outside the repository:
    // facts taken from them are stated where they are used.
    let outside = ["TOOLCHAIN.md", "DESIGN.md", "STYLE.md", "../shared"];
    let mut places: Vec<PathBuf> = ["src", "docs", "benches", "tests/it"]
        .iter()
        .flat_map(|d| files(&root().join(d)))
        .collect();
    places.extend(["README.md", "ARCHITECTURE.md"].map(|f| root().join(f)));
    let mut found = Vec::new();
    for p in places {
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue; // binary fixtures
        };
        if p.ends_with("tidy.rs") {
            continue;
        }
        for name in outside {
            if text.contains(name) {
                found.push(format!(
                    "{} cites {name}",
                    p.strip_prefix(root()).unwrap().display()
                ));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
