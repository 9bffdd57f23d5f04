//! UI tests: every `tests/ui/*.dl` is a broken program named after its
//! mistake. Each must fail, and its rendered diagnostics are snapshotted
//! (`ui__<name>.snap`, with the source in the snapshot's description), so a
//! change in wording or caret placement shows up in review.

use std::path::Path;

use dlc::diag::{render, Diagnostic};

/// Runs the front end on a UI case: the parser, then the checker against
/// the real data files (paths are relative to the package root).
fn check(src: &str) -> Result<(), Vec<Diagnostic>> {
    crate::common::check_files(src).map(|_| ())
}

#[test]
fn ui_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/ui exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dl"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected the UI cases in {}",
        dir.display()
    );
    for case in cases {
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        let src = std::fs::read_to_string(&case).unwrap();
        let diags = match check(&src) {
            Ok(()) => panic!("{name}.dl should fail to check, but it passed"),
            Err(d) => d,
        };
        assert!(!diags.is_empty(), "{name}: an error with no diagnostic");
        for d in &diags {
            assert!(
                !d.message.contains("EOI") && !d.message.contains("ident_char"),
                "{name}: pest's vocabulary reached the user: {}",
                d.message
            );
        }
        let rendered = render(&diags, &format!("tests/ui/{name}.dl"), &src);
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(name.as_str(), rendered);
        });
    }
}
