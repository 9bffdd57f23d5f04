//! `parse` never panics: not on arbitrary text, not on one-character edits
//! of valid programs, not on absurd nesting. Every diagnostic it returns
//! has spans inside the source and renders.

use proptest::prelude::*;

use dlc::diag::render;
use dlc::syntax::parse;

use super::syntax::TOUR;

const SMALL: &str = "model m(k: int = 2) {\n  input x: f32[N, k*2]\n  output y = -x |> relu\n}\ntrain m on d.train { loss y; seed 1e-3 }\n";

/// Parses and renders; panics (fails the property) only on a broken
/// invariant of the result.
fn parse_and_render(src: &str) {
    if let Err(diags) = parse(src) {
        assert!(!diags.is_empty(), "an error with no diagnostic");
        for d in &diags {
            for l in &d.labels {
                assert!(
                    l.span.start <= l.span.end && l.span.end <= src.len(),
                    "label {:?} outside a source of {} bytes",
                    l.span,
                    src.len()
                );
            }
        }
        let out = render(&diags, "fuzz.dl", src);
        assert!(out.starts_with("error["), "rendered: {out}");
    }
}

/// Characters that matter to the grammar, plus a multi-byte one.
const ALPHABET: &[char] = &[
    '{', '}', '(', ')', '[', ']', ',', ':', ';', '=', '|', '>', '.', '-', '+', '*', '/', '#', '"',
    '\\', '\n', ' ', 'é', '0', '7', 'e', 'x', '_',
];

fn program() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(TOUR), Just(SMALL)]
}

proptest! {
    #[test]
    fn arbitrary_text(src in "\\PC{0,200}") {
        parse_and_render(&src);
    }

    #[test]
    fn grammar_soup(chars in proptest::collection::vec(
        prop_oneof![
            proptest::sample::select(ALPHABET),
            proptest::sample::select(&['m', 'o', 'd', 'l', 't', 'r', 'a', 'i', 'n', 'p', 'u'][..]),
        ],
        0..120,
    )) {
        let src: String = chars.into_iter().collect();
        parse_and_render(&src);
    }

    #[test]
    fn delete_one_char(src in program(), at in any::<proptest::sample::Index>()) {
        let chars: Vec<char> = src.chars().collect();
        let i = at.index(chars.len());
        let edited: String = chars[..i].iter().chain(&chars[i + 1..]).collect();
        parse_and_render(&edited);
    }

    #[test]
    fn insert_one_char(
        src in program(),
        at in any::<proptest::sample::Index>(),
        c in proptest::sample::select(ALPHABET),
    ) {
        let chars: Vec<char> = src.chars().collect();
        let i = at.index(chars.len() + 1);
        let edited: String = chars[..i].iter().chain([&c]).chain(&chars[i..]).collect();
        parse_and_render(&edited);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let n = 10_000;
    let src = format!("dataset d = {}x{}", "(".repeat(n), ")".repeat(n));
    let diags = parse(&src).expect_err("too deep");
    assert!(diags[0].message.contains("nested too deeply"), "{diags:?}");
    parse_and_render(&format!("dataset d = f{}", "(".repeat(n)));
}

#[test]
fn long_operator_chains_are_an_error_not_a_crash() {
    let n = 5_000;
    for src in [
        format!("dataset d = {}x", "-".repeat(n)),
        format!("dataset d = x{}", " + x".repeat(n)),
        format!("dataset d = x{}", " |> f".repeat(n)),
    ] {
        let diags = parse(&src).expect_err("too many operators");
        assert!(diags[0].message.contains("too many operators"), "{diags:?}");
    }
}

#[test]
fn the_longest_accepted_chains_parse() {
    // Just under the limits, with the deepest trees they allow.
    let ops = 500;
    for src in [
        format!("dataset d = {}x", "-".repeat(ops)),
        format!("dataset d = x{}", " + x".repeat(ops)),
        format!("dataset d = x{}", " |> f".repeat(ops)),
        format!("dataset d = {}x{}", "(".repeat(120), ")".repeat(120)),
    ] {
        let file = parse(&src).expect("within the limits");
        assert!(!dlc::syntax::print_ast(&file).is_empty());
    }
}
