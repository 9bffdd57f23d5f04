//! Staged snapshots: every example at every stage, each IR dump also read
//! back by the IR parser (`parse(print(g)) == g`) and verified.

use dlc::ir::{parse::parse, print::print, verify::verify, Graph};

use crate::common::{check_files, example, show, EXAMPLES};

fn roundtrip(g: &Graph) -> String {
    verify(g).unwrap_or_else(|e| panic!("{} does not verify: {e}", g.name));
    let text = print(g);
    let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(back == *g, "parse(print(g)) != g for\n{text}");
    assert_eq!(print(&back), text);
    text
}

#[test]
fn every_example_at_every_stage() {
    for name in EXAMPLES {
        let src = example(name);
        let file = dlc::syntax::parse(&src).unwrap_or_else(|d| panic!("{}", show(&src, &d)));
        insta::assert_snapshot!(format!("{name}.ast"), dlc::syntax::print_ast(&file));
        let program = check_files(&src).unwrap_or_else(|d| panic!("{}", show(&src, &d)));
        insta::assert_snapshot!(
            format!("{name}.checked"),
            dlc::sema::print::print_program(&program)
        );
        let train = program.train.as_ref().expect("examples train");
        insta::assert_snapshot!(
            format!("{name}.lower"),
            roundtrip(dlc::forward(train).graph())
        );
        insta::assert_snapshot!(
            format!("{name}.autodiff"),
            roundtrip(dlc::gradients(train).graph())
        );
        insta::assert_snapshot!(
            format!("{name}.simplify"),
            roundtrip(dlc::training_step(train).graph())
        );
    }
}
