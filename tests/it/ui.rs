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

/// The example after the line `marker` (`Bad:` or `Fixed:`) in a catalogue
/// section: the fenced `dl` block that must come next, with only blank lines
/// in between. The convention is stated at the top of `docs/diagnostics.md`;
/// a section that strays from it (no marker, two markers, prose or another
/// fence before the block, an unclosed block) is an error, not a skip.
fn example_after<'a>(section: &'a str, marker: &str) -> Result<&'a str, String> {
    let lines: Vec<&str> = section.lines().collect();
    let at: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == marker).collect();
    let [at] = at.as_slice() else {
        return Err(format!("expected one line `{marker}`, found {}", at.len()));
    };
    let mut i = at + 1;
    while lines.get(i).is_some_and(|l| l.trim().is_empty()) {
        i += 1;
    }
    if lines.get(i) != Some(&"```dl") {
        return Err(format!("`{marker}` must be followed by a ```dl block"));
    }
    let body_start = i + 1;
    let Some(len) = lines[body_start..].iter().position(|l| *l == "```") else {
        return Err(format!("the block after `{marker}` is not closed"));
    };
    // Slice the section itself so the example keeps its exact text.
    let offset =
        |line: usize| -> usize { lines[..line].iter().map(|l| l.len() + 1).sum::<usize>() };
    Ok(&section[offset(body_start)..offset(body_start + len)])
}

/// Codes that no program can trigger, each with the reason, which its
/// section must state instead of giving a bad example. Every code is
/// reachable today, so the list is empty; a code added for errors found
/// only while running (say, a data file changed after checking) goes here.
const UNTRIGGERABLE: &[(dlc::diag::Code, &str)] = &[];

#[test]
fn every_code_is_explained_with_a_bad_and_a_fixed_example() {
    use dlc::diag::{explain, CODES};
    for &code in CODES {
        let section = explain(code).unwrap_or_else(|| panic!("docs/diagnostics.md has no {code}"));
        assert!(
            section.starts_with(&format!("## {code}\n")),
            "{code}: heading"
        );
        if let Some((_, reason)) = UNTRIGGERABLE.iter().find(|(c, _)| *c == code) {
            assert!(
                section.contains(reason),
                "{code}: the section must say why no program triggers it: {reason}"
            );
            continue;
        }
        let bad = example_after(section, "Bad:").unwrap_or_else(|e| panic!("{code}: {e}"));
        let fixed = example_after(section, "Fixed:").unwrap_or_else(|e| panic!("{code}: {e}"));
        assert!(
            section.find("\nBad:\n") < section.find("\nFixed:\n"),
            "{code}: the bad example comes first"
        );
        assert_ne!(bad, fixed, "{code}: the examples are the same");
        match check(bad) {
            Ok(()) => panic!("{code}: the bad example checks clean:\n{bad}"),
            Err(d) => assert_eq!(
                d[0].code,
                code,
                "{code}: the bad example's first diagnostic has another code:\n{}",
                render(&d, "bad.dl", bad)
            ),
        }
        if let Err(d) = check(fixed) {
            panic!(
                "{code}: the fixed example does not check:\n{}",
                render(&d, "fixed.dl", fixed)
            );
        }
    }
}

#[test]
fn a_catalogue_example_must_follow_the_convention() {
    let ok = "## E0000\n\nBad:\n\n```dl\na\nb\n```\n\nFixed:\n```dl\nc\n```\n";
    assert_eq!(example_after(ok, "Bad:"), Ok("a\nb\n"));
    assert_eq!(example_after(ok, "Fixed:"), Ok("c\n"));
    for (broken, why) in [
        (
            "## E0000\nFixed:\n```dl\nc\n```\n",
            "expected one line `Bad:`, found 0",
        ),
        (
            "Bad:\n```dl\na\n```\nBad:\n```dl\nb\n```\n",
            "expected one line `Bad:`, found 2",
        ),
        (
            "Bad:\nsee below\n```dl\na\n```\n",
            "`Bad:` must be followed by a ```dl block",
        ),
        (
            "Bad:\n```\na\n```\n",
            "`Bad:` must be followed by a ```dl block",
        ),
        ("Bad:\n```dl\na\n", "the block after `Bad:` is not closed"),
    ] {
        assert_eq!(
            example_after(broken, "Bad:"),
            Err(why.to_string()),
            "{broken:?}"
        );
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
        .note("paths are relative to the directory dlc runs in");
    insta::assert_snapshot!(render(&[d], "a.dl", "dataset x = csv(\"data/x.csv\")\n"), @r"
    error[E0401]: cannot read `data/x.csv`
      help: check the path
      note: paths are relative to the directory dlc runs in
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
