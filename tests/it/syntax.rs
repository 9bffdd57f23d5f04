//! Parser tests: valid programs parse to the expected AST (insta snapshots
//! of `print_ast`), spans point where they should, and `parse` never panics.

use dlc::syntax::ast::*;
use dlc::syntax::{parse, print_ast, print_ast_with_spans};

/// The language tour: every construct at least once.
pub const TOUR: &str = r#"# comments run from '#' to end of line
dataset digits = csv("data/digits.csv.gz", label: last) |> scale(x: 1/16) |> split(train: 0.8, test: 0.2, seed: 7)
dataset diabetes = load(x: csv("data/diabetes_data_raw.csv.gz", delimiter: " "), y: csv("data/diabetes_target.csv.gz")) |> standardize(x) |> split(train: 0.8, test: 0.2, seed: 1)

model block(units: int, rate: float = 0.5) {
  input x: f32[N, 64]
  h = dense(x, units) |> relu
  output y = h + dense(h, units)     # tensor arithmetic
}

model mlp(classes: int = 10) {
  input x: f32[N, 64]
  h = dense(x, 128) |> relu
  h = dense(h, 64)  |> relu; h2 = block(h, 64)       # ';' optional between statements
  output logits = dense(h2, classes)
  output h          # exposing an existing binding
}

train mlp(classes: 10) on digits.train {
  loss cross_entropy(logits, label)
  optimizer sgd(lr: 0.1, momentum: 0.9, nesterov: true)
  schedule cosine(warmup: 2)
  epochs 20; batch 32; shuffle
  seed 42
  evaluate digits.test every epoch: accuracy, loss
  save "runs/digits"
}
"#;

const SMALL: &str = r#"model m() {
  input x: f32[]
  output y = -x * 2 + (x - 1) / 3
}
train m on d.train { optimizer adam; loss y }
"#;

fn ok(src: &str) -> File {
    match parse(src) {
        Ok(f) => f,
        Err(d) => panic!("should parse: {d:#?}"),
    }
}

#[test]
fn tour_ast() {
    insta::assert_snapshot!(print_ast(&ok(TOUR)));
}

#[test]
fn small_ast_with_spans() {
    insta::assert_snapshot!(print_ast_with_spans(&ok(SMALL)));
}

/// The source text a span covers.
fn at(src: &str, span: dlc::diag::Span) -> &str {
    &src[span.start..span.end]
}

#[test]
fn spans_cover_what_they_name() {
    let src = "dataset d = csv(\"a.csv\", label: last) |> scale(x: 1/16) |> split\n";
    let file = ok(src);
    let Item::Dataset(d) = &file.items[0] else {
        panic!("a dataset")
    };
    assert_eq!(at(src, d.name.span), "d");
    assert_eq!(at(src, d.span), src.trim_end());
    // A pipe covers its input through its call.
    assert_eq!(at(src, d.value.span), &src[12..src.len() - 1]);
    let ExprKind::Pipe { input, call } = &d.value.kind else {
        panic!("a pipe")
    };
    assert_eq!(at(src, call.span), "split");
    assert!(!call.parens && call.args.is_empty());
    let ExprKind::Pipe {
        input: csv,
        call: scale,
    } = &input.kind
    else {
        panic!("a nested pipe")
    };
    assert_eq!(at(src, scale.span), "scale(x: 1/16)");
    assert_eq!(at(src, scale.args[0].span), "x: 1/16");
    assert_eq!(at(src, scale.args[0].value.span), "1/16");
    assert_eq!(at(src, csv.span), "csv(\"a.csv\", label: last)");
}

#[test]
fn numbers_know_whether_they_are_integers() {
    let src = "dataset d = f(128, 0.1, 1e-3, 2.5e4, 7E2)";
    let Item::Dataset(d) = &ok(src).items[0] else {
        panic!("a dataset")
    };
    let ExprKind::Call(call) = &d.value.kind else {
        panic!("a call")
    };
    let nums: Vec<(f64, bool)> = call
        .args
        .iter()
        .map(|a| match a.value.kind {
            ExprKind::Number { value, is_int } => (value, is_int),
            ref k => panic!("a number, not {k:?}"),
        })
        .collect();
    assert_eq!(
        nums,
        [
            (128.0, true),
            (0.1, false),
            (1e-3, false),
            (2.5e4, false),
            (700.0, false)
        ]
    );
}

#[test]
fn precedence_and_associativity() {
    let cases = [
        ("a - b - c", "binary -\n  binary -\n    name a\n    name b\n  name c\n"),
        ("a + b * c", "binary +\n  name a\n  binary *\n    name b\n    name c\n"),
        ("-a.b * c", "binary *\n  neg\n    field b\n      name a\n  name c\n"),
        ("(a + b) / c", "binary /\n  binary +\n    name a\n    name b\n  name c\n"),
        ("a + b |> f(c) |> g", "pipe\n  pipe\n    binary +\n      name a\n      name b\n    call f\n      name c\n  call g (no parens)\n"),
    ];
    for (text, want) in cases {
        let src = format!("dataset d = {text}");
        let printed = print_ast(&ok(&src));
        let body: String = printed
            .lines()
            .skip(1)
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        assert_eq!(body, want, "for `{text}`");
    }
}

#[test]
fn strings_unescape() {
    let src = r#"dataset d = csv("a\"b\\c\nd\te")"#;
    let Item::Dataset(d) = &ok(src).items[0] else {
        panic!("a dataset")
    };
    let ExprKind::Call(call) = &d.value.kind else {
        panic!("a call")
    };
    assert_eq!(
        call.args[0].value.kind,
        ExprKind::Str("a\"b\\c\nd\te".into())
    );
}

#[test]
fn keywords_are_whole_words_and_fields_may_be_keywords() {
    // `models`, `trainer`, `inputs` are names; `.train`, `train:` are not
    // bindings, so a reserved word is fine there; settings are not reserved.
    let src = "model models(trainer: int) {\n  input inputs: f32[N, trainer * 2]\n  loss = dense(inputs, 1)\n  output loss\n}\n\
               dataset d = split(csv(\"x\"), train: 0.5).train\n\
               train models(trainer: 2) on d.train { loss loss; shuffle; evaluate d.test: loss }\n";
    let file = ok(src);
    assert_eq!(file.items.len(), 3);
}

#[test]
fn scalar_type_and_empty_bodies() {
    let src = "model m() { input x: f32[] output x }\ntrain m() on d {}\nmodel e() {}";
    let file = ok(src);
    let Item::Model(m) = &file.items[0] else {
        panic!("a model")
    };
    let Stmt::Input { ty, .. } = &m.body[0] else {
        panic!("an input")
    };
    assert!(ty.dims.is_empty());
    let Item::Train(t) = &file.items[1] else {
        panic!("a train block")
    };
    assert!(t.model.parens && t.settings.is_empty());
}

#[test]
fn empty_and_comment_only_files_parse() {
    assert_eq!(ok("").items.len(), 0);
    assert_eq!(ok("# nothing here\n\n  # at all").items.len(), 0);
}
