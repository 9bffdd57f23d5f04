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

/// The `dl` code blocks after `Bad:` and `Fixed:` in a catalogue section.
fn examples(section: &str) -> (Option<&str>, Option<&str>) {
    let block_after = |marker: &str| {
        let rest = &section[section.find(marker)? + marker.len()..];
        let start = rest.find("```dl\n")? + "```dl\n".len();
        let len = rest[start..].find("```")?;
        Some(&rest[start..start + len])
    };
    (block_after("\nBad:\n"), block_after("\nFixed:\n"))
}

#[test]
fn every_code_is_explained_with_a_bad_and_a_fixed_example() {
    use dlc::diag::{explain, Code, CODES};
    for &code in CODES {
        let section = explain(code).unwrap_or_else(|| panic!("docs/diagnostics.md has no {code}"));
        assert!(
            section.starts_with(&format!("## {code}\n")),
            "{code}: heading"
        );
        let (bad, fixed) = examples(section);
        let (bad, fixed) = (
            bad.unwrap_or_else(|| panic!("{code}: no `Bad:` example")),
            fixed.unwrap_or_else(|| panic!("{code}: no `Fixed:` example")),
        );
        assert_ne!(bad, fixed, "{code}: the examples are the same");
        if let Err(d) = dlc::syntax::parse(fixed) {
            panic!("{code}: the fixed example does not parse: {d:?}");
        }
        // Syntax codes' bad examples fail with that code; the others are
        // well-formed text whose mistake the checker finds.
        let parsed = dlc::syntax::parse(bad);
        if matches!(
            code,
            Code::Syntax | Code::UnterminatedString | Code::BadNumber
        ) {
            let diags = parsed.expect_err("a syntax example must fail to parse");
            assert_eq!(diags[0].code, code, "{code}: {diags:?}");
        } else if let Err(d) = parsed {
            panic!("{code}: the bad example should parse: {d:?}");
        }
    }
}

#[test]
fn the_catalogue_has_no_section_for_an_unknown_code() {
    let doc = include_str!("../../docs/diagnostics.md");
    for line in doc.lines().filter(|l| l.starts_with("## ")) {
        let code = line.trim_start_matches("## ").trim();
        assert!(
            dlc::diag::Code::parse(code).is_some(),
            "docs/diagnostics.md: `{line}` is not a code"
        );
    }
}

#[test]
fn a_diagnostic_without_labels_renders_its_message_alone() {
    use dlc::diag::Code;
    let d = Diagnostic::new(Code::DataNotFound, "cannot read `data/x.csv`")
        .help("check the path")
        .note("paths are relative to the .dl file");
    insta::assert_snapshot!(render(&[d], "a.dl", "dataset x = csv(\"data/x.csv\")\n"), @r"
    error[E0401]: cannot read `data/x.csv`
      help: check the path
      note: paths are relative to the .dl file
    ");
}

#[test]
fn rendering_names_the_file_line_and_column() {
    use dlc::diag::{Code, Span};
    let src = "# é\nmodel m() {\n  input x: f32[N]\n  output yé = x\n}\n";
    let at = src.find("= x").unwrap();
    let d = Diagnostic::new(Code::ShapeMismatch, "shapes differ")
        .at(Span::new(at + 2, at + 3), "this one")
        .also(
            Span::new(src.find("f32").unwrap(), src.find("f32").unwrap() + 6),
            "declared here",
        )
        .help("make them agree");
    let out = render(std::slice::from_ref(&d), "m.dl", src);
    // `output yé = x`: the `x` is the 15th character of line 4 (byte 16).
    assert!(out.contains("m.dl:4:15"), "{out}");
    insta::assert_snapshot!(out);
    let color = dlc::diag::render_color(&[d], "m.dl", src);
    assert!(color.contains("\x1b["), "colour codes expected");
    assert!(color.contains("m.dl:4:15"));
    assert!(color.contains("help\x1b[0m: make them agree"), "{color:?}");
}

#[test]
fn rendering_survives_spans_past_the_end() {
    use dlc::diag::{Code, Span};
    let src = "dataset é = x";
    let d = Diagnostic::new(Code::Syntax, "odd").at(Span::new(9, 400), "here");
    let out = render(&[d], "z.dl", src);
    assert!(out.starts_with("error[E0001]: odd\n"), "{out}");
}
