//! Text as token streams: the vocabulary rules on the real *Hamlet* text
//! (counts checked against the file itself, determinism, `<unk>`),
//! `sequences` (y is x shifted by one), `skipgrams` (pairs and negatives
//! drawn from count^0.75), `vocab.json` beside a checkpoint, and broken
//! text files (empty, missing, not UTF-8), where the loader and the catalog
//! must give the same error.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use dlc::ir::DType;
use dlc::runtime::data::{load, tokenize, Dataset, FileCatalog, UnigramSampler, Vocabulary, UNK};
use dlc::runtime::rng::Rng;
use dlc::runtime::train::{checkpoint_path, vocab_path, Options, Session};
use dlc::sema::data::{
    Columns, DataCatalog, DataErrorKind, FieldSource, FileFormat, TextLevel, TextOptions, Transform,
};

use super::{field_error, root, scratch, spec, split};
use crate::common::{check_files, show};

const HAMLET: &str = "data/hamlet_gut.txt";

fn text(path: &str, level: TextLevel, lowercase: bool, min_count: usize) -> FieldSource {
    FieldSource {
        path: path.into(),
        format: FileFormat::Text(TextOptions {
            level,
            lowercase,
            min_count,
        }),
        columns: Columns::All,
        dtype: DType::I32,
    }
}

fn hamlet(level: TextLevel, min_count: usize, transforms: Vec<Transform>) -> Dataset {
    let s = spec(
        vec![("token", text(HAMLET, level, false, min_count))],
        transforms,
    );
    load(&s, root()).unwrap()
}

fn hamlet_text() -> String {
    fs::read_to_string(root().join(HAMLET)).unwrap()
}

fn ids(d: &Dataset, field: &str) -> Vec<i32> {
    let t = d.part("all").unwrap().field(field).unwrap();
    t.to_f64_vec().iter().map(|&v| v as i32).collect()
}

fn options(level: TextLevel, lowercase: bool, min_count: usize) -> TextOptions {
    TextOptions {
        level,
        lowercase,
        min_count,
    }
}

#[test]
fn hamlet_character_vocabulary_matches_the_file() {
    let d = hamlet(TextLevel::Char, 1, vec![]);
    let v = d.vocab.as_ref().unwrap();
    let text = hamlet_text();
    // Counted here directly, independently of the loader.
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
    }
    assert_eq!(v.len(), 65);
    assert_eq!(v.len(), counts.len());
    assert_eq!(v.unk_id(), None);
    // The most frequent character is the space, then `e`.
    assert_eq!((v.tokens[0].as_str(), v.counts[0]), (" ", 26843));
    assert_eq!((v.tokens[1].as_str(), v.counts[1]), ("e", 14771));
    for (t, &c) in v.tokens.iter().zip(&v.counts) {
        assert_eq!(counts[&t.chars().next().unwrap()], c, "{t:?}");
    }
    // Descending counts, ties by text.
    for w in v
        .tokens
        .iter()
        .zip(&v.counts)
        .collect::<Vec<_>>()
        .windows(2)
    {
        assert!(
            w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0),
            "{w:?}"
        );
    }
    // One sample per character, and the ids read back as the text.
    let tokens = ids(&d, "token");
    assert_eq!(tokens.len(), 173_942);
    assert_eq!(d.part("all").unwrap().samples, 173_942);
    assert_eq!(v.decode(&tokens), text);
    assert_eq!(v.encode(&text).unwrap(), tokens);
    // The catalog reports the same size at check time.
    let schema = FileCatalog {
        base: root().into(),
    }
    .text("token", &text_source(TextLevel::Char, 1))
    .unwrap();
    assert_eq!(
        (
            schema.vocab,
            schema.field.samples,
            schema.field.dtype,
            schema.field.sample_shape.len()
        ),
        (65, 173_942, DType::I32, 0)
    );
}

fn text_source(level: TextLevel, min_count: usize) -> FieldSource {
    text(HAMLET, level, false, min_count)
}

#[test]
fn the_vocabulary_is_deterministic_and_ties_go_by_text() {
    let a = hamlet(TextLevel::Word, 2, vec![]);
    let b = hamlet(TextLevel::Word, 2, vec![]);
    assert_eq!(a.vocab, b.vocab);
    assert_eq!(ids(&a, "token"), ids(&b, "token"));
    // Equal counts are ordered by the token's text.
    let opts = options(TextLevel::Word, false, 1);
    let (v, ids) = Vocabulary::build("b a c a b z", &opts, "t").unwrap();
    assert_eq!(v.tokens, ["a", "b", "c", "z"]);
    assert_eq!(v.counts, [2, 2, 1, 1]);
    assert_eq!(ids, [1, 0, 2, 0, 1, 3]);
}

#[test]
fn word_tokens_split_on_whitespace_and_punctuation() {
    let words = |s: &str| tokenize(s, TextLevel::Word);
    assert_eq!(words("King of Denmark."), ["King", "of", "Denmark", "."]);
    assert_eq!(
        words("'Tis don't o'er Hamlet's--dead."),
        ["'", "Tis", "don't", "o'er", "Hamlet's", "-", "-", "dead", "."]
    );
    assert_eq!(words("[Exit.]\n\n  Ham.  What,"), {
        ["[", "Exit", ".", "]", "Ham", ".", "What", ","]
    });
    assert_eq!(words("ends'  'quoted' x'"), {
        ["ends", "'", "'", "quoted", "'", "x", "'"]
    });
    assert_eq!(words("1600 A.D."), ["1600", "A", ".", "D", "."]);
    assert_eq!(words("<unk>"), ["<", "unk", ">"]);
    assert_eq!(words("  \t\n"), Vec::<String>::new());
    // A byte-order mark and Windows line ends do not change the tokens.
    let opts = options(TextLevel::Char, false, 1);
    let (a, ia) = Vocabulary::build("ab\ncd\n", &opts, "t").unwrap();
    let (b, ib) = Vocabulary::build("\u{feff}ab\r\ncd\r\n", &opts, "t").unwrap();
    assert_eq!((a, ia), (b, ib));
}

#[test]
fn hamlet_words_lowercased_with_min_count() {
    let s = spec(
        vec![("token", text(HAMLET, TextLevel::Word, true, 3))],
        vec![],
    );
    let d = load(&s, root()).unwrap();
    let v = d.vocab.as_ref().unwrap();
    let tokens = ids(&d, "token");
    // Counted here directly from the tokenizer's output.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in tokenize(&hamlet_text().to_lowercase(), TextLevel::Word) {
        *counts.entry(t).or_default() += 1;
    }
    let kept = counts.values().filter(|&&c| c >= 3).count();
    let rare: usize = counts.values().filter(|&&c| c < 3).sum();
    assert_eq!(v.len(), kept + 1);
    assert_eq!(v.len(), 1270);
    assert_eq!((v.tokens[0].as_str(), v.counts[0]), (UNK, rare));
    assert_eq!(v.unk_id(), Some(0));
    // `,` is the most frequent word-level token, then `.` and `the`.
    assert_eq!(&v.tokens[1..4], [",", ".", "the"]);
    assert_eq!(v.counts[1], 3228);
    assert_eq!(tokens.len(), counts.values().sum::<usize>());
    assert_eq!(tokens.iter().filter(|&&i| i == 0).count(), rare);
    assert!(v.tokens.iter().all(|t| t.to_lowercase() == *t));
    // Every kept word keeps its count; a rare one reads back as `<unk>`.
    for (t, &c) in v.tokens.iter().zip(&v.counts).skip(1) {
        assert_eq!(counts[t], c, "{t}");
    }
    let rare_word = counts.iter().find(|(_, &c)| c == 1).unwrap().0;
    assert_eq!(v.encode(rare_word).unwrap(), [0]);
    assert_eq!(
        v.decode(&v.encode("Ham. To be, or not to be?").unwrap()),
        "ham. to be, or not to be?"
    );
}

#[test]
fn sequences_are_next_token_windows() {
    let (length, step) = (64, 50);
    let d = hamlet(
        TextLevel::Char,
        1,
        vec![Transform::Sequences { length, step }],
    );
    let all = d.part("all").unwrap();
    let n = 173_942;
    let count = (n - length - 1) / step + 1;
    assert_eq!(all.samples, count);
    let x = all.field("x").unwrap();
    let y = all.field("y").unwrap();
    assert_eq!((x.dtype(), x.shape()), (DType::I32, &[count, length][..]));
    assert_eq!((y.dtype(), y.shape()), (DType::I32, &[count, length][..]));
    let (xs, ys) = (ids(&d, "x"), ids(&d, "y"));
    let tokens = ids(&hamlet(TextLevel::Char, 1, vec![]), "token");
    for k in [0, 1, count / 2, count - 1] {
        let row = |v: &[i32]| v[k * length..(k + 1) * length].to_vec();
        assert_eq!(row(&xs), &tokens[k * step..k * step + length], "x of {k}");
        assert_eq!(row(&ys), &tokens[k * step + 1..k * step + length + 1]);
        // y is x shifted by one.
        assert_eq!(&row(&ys)[..length - 1], &row(&xs)[1..]);
    }
    let v = d.vocab.as_ref().unwrap();
    assert_eq!(
        v.decode(&xs[..length]),
        hamlet_text().chars().take(length).collect::<String>()
    );
    // `take` before keeps the first tokens (windows at 0, 100, ..., 900);
    // `split` after splits the sequences.
    let d = hamlet(
        TextLevel::Char,
        1,
        vec![
            Transform::Take { n: 1000 },
            Transform::Sequences {
                length: 99,
                step: 100,
            },
            split(&[("train", 0.8), ("test", 0.2)], 1),
        ],
    );
    assert_eq!(d.part("train").unwrap().samples, 8);
    assert_eq!(d.part("test").unwrap().samples, 2);
}

#[test]
fn skipgram_pairs_and_labels() {
    let dir = scratch("skipgrams");
    fs::write(dir.join("t.txt"), "a b c d").unwrap();
    let s = spec(
        vec![("token", text("t.txt", TextLevel::Word, false, 1))],
        vec![Transform::SkipGrams {
            window: 2,
            negatives: 3,
            seed: 4,
        }],
    );
    let d = load(&s, &dir).unwrap();
    let all = d.part("all").unwrap();
    // Pairs at distance 1 (3 each way) and 2 (2 each way).
    assert_eq!(all.samples, 10);
    let shape = |f: &str| all.field(f).unwrap().shape().to_vec();
    assert_eq!(shape("center"), [10]);
    assert_eq!(shape("context"), [10, 4]);
    assert_eq!(shape("label"), [10, 4]);
    assert_eq!(all.field("label").unwrap().dtype(), DType::F32);
    let v = d.vocab.as_ref().unwrap();
    let word = |i: i32| v.tokens[i as usize].clone();
    let center: Vec<String> = ids(&d, "center").into_iter().map(word).collect();
    let context: Vec<String> = ids(&d, "context").chunks(4).map(|c| word(c[0])).collect();
    let pairs: Vec<String> = center
        .iter()
        .zip(&context)
        .map(|(c, x)| format!("{c}{x}"))
        .collect();
    assert_eq!(
        pairs,
        ["ab", "ac", "ba", "bc", "bd", "ca", "cb", "cd", "db", "dc"]
    );
    let label = all.field("label").unwrap().to_f64_vec();
    for row in label.chunks(4) {
        assert_eq!(row, [1.0, 0.0, 0.0, 0.0]);
    }
    // The same seed draws the same negatives; another seed, others.
    assert_eq!(load(&s, &dir).unwrap(), d);
    let mut other = s.clone();
    other.transforms = vec![Transform::SkipGrams {
        window: 2,
        negatives: 3,
        seed: 5,
    }];
    assert_ne!(
        ids(&load(&other, &dir).unwrap(), "context"),
        ids(&d, "context")
    );
}

#[test]
fn skipgram_negatives_follow_counts_to_the_three_quarters() {
    let negatives = 5;
    let d = hamlet(
        TextLevel::Word,
        1,
        vec![Transform::SkipGrams {
            window: 2,
            negatives,
            seed: 11,
        }],
    );
    let v = d.vocab.as_ref().unwrap();
    let context = ids(&d, "context");
    let mut drawn = vec![0usize; v.len()];
    let mut total = 0;
    for row in context.chunks(negatives + 1) {
        for &id in &row[1..] {
            drawn[id as usize] += 1;
            total += 1;
        }
    }
    assert!(total > 800_000, "{total} negatives");
    let z: f64 = v.counts.iter().map(|&c| (c as f64).powf(0.75)).sum();
    let expected = |id: usize| (v.counts[id] as f64).powf(0.75) / z;
    // The most frequent tokens: within 5% of count^0.75 / sum (each is
    // drawn thousands of times, so 5% is several standard deviations).
    for (id, &n) in drawn.iter().enumerate().take(10) {
        let p = n as f64 / total as f64;
        let rel = (p - expected(id)).abs() / expected(id);
        assert!(
            rel < 0.05,
            "token {:?}: drawn {p}, expected {}",
            v.tokens[id],
            expected(id)
        );
    }
    // The mass of the words seen once; and per occurrence, the most frequent
    // token is drawn count^-0.25 times as often as a word seen once (plain
    // counts, power 1, would draw both alike).
    let once: Vec<usize> = (0..v.len()).filter(|&i| v.counts[i] == 1).collect();
    let once_drawn: usize = once.iter().map(|&i| drawn[i]).sum();
    let once_expected: f64 = once.iter().map(|&i| expected(i)).sum();
    let p_once = once_drawn as f64 / total as f64;
    assert!(
        (p_once - once_expected).abs() / once_expected < 0.03,
        "words seen once: drawn {p_once}, expected {once_expected}"
    );
    let ratio = (drawn[0] as f64 / v.counts[0] as f64) / (once_drawn as f64 / once.len() as f64);
    let power_075 = (v.counts[0] as f64).powf(-0.25);
    assert!(
        (ratio / power_075 - 1.0).abs() < 0.1,
        "per-occurrence ratio {ratio}, expected {power_075}"
    );
    // The sampler's own probabilities agree with the formula.
    let sampler = UnigramSampler::new(&ids(&hamlet(TextLevel::Word, 1, vec![]), "token"));
    for id in [0, 5, 500, v.len() - 1] {
        assert!((sampler.probability(id) - expected(id)).abs() < 1e-12);
    }
    let mut rng = Rng::new(1, 2);
    assert!((0..1000).all(|_| (sampler.draw(&mut rng) as usize) < v.len()));
}

#[test]
fn vocabulary_file_round_trip() {
    let dir = scratch("vocab_file");
    for (level, lowercase, min_count) in [(TextLevel::Char, false, 1), (TextLevel::Word, true, 2)] {
        let s = spec(
            vec![("token", text(HAMLET, level, lowercase, min_count))],
            vec![],
        );
        let v = load(&s, root()).unwrap().vocab.unwrap();
        let path = dir.join(format!("{}-{min_count}/vocab.json", level.as_str()));
        v.save(&path).unwrap();
        let back = Vocabulary::load(&path).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.decode(&back.encode("To be, or not").unwrap()), {
            v.decode(&v.encode("To be, or not").unwrap())
        });
        // Only the file itself is left: the temporary file was renamed.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["vocab.json"]);
    }
    let json = Vocabulary::build("ab a", &options(TextLevel::Char, false, 1), "t")
        .unwrap()
        .0
        .to_json();
    assert_eq!(
        json,
        "{\n  \"format\": \"dlc-vocab-1\",\n  \"level\": \"char\",\n  \"lowercase\": false,\n  \"min_count\": 1,\n  \"tokens\": [\"a\",\" \",\"b\"],\n  \"counts\": [2,1,1]\n}\n"
    );
    // Errors name the file and the problem.
    let bad = dir.join("bad.json");
    for (content, why) in [
        ("[1, 2]", "expected \"format\": \"dlc-vocab-1\""),
        (
            "{\"format\": \"dlc-vocab-1\", \"level\": \"byte\"}",
            "\"level\" must be \"char\" or \"word\"",
        ),
        (
            "{\"format\": \"dlc-vocab-1\", \"level\": \"char\", \"lowercase\": false, \"min_count\": 1, \"tokens\": [\"a\", \"a\"], \"counts\": [1, 1]}",
            "a token is listed twice",
        ),
        (
            "{\"format\": \"dlc-vocab-1\", \"level\": \"word\", \"lowercase\": false, \"min_count\": 2, \"tokens\": [\"a\"], \"counts\": [1]}",
            "with min_count > 1, id 0 must be \"<unk>\"",
        ),
    ] {
        fs::write(&bad, content).unwrap();
        let e = Vocabulary::load(&bad).unwrap_err();
        assert_eq!(
            e,
            format!("{} is not a dlc vocabulary: {why}", bad.display())
        );
    }
    let e = Vocabulary::load(&dir.join("none.json")).unwrap_err();
    assert!(e.ends_with("none.json: No such file or directory"), "{e}");
    // An id outside the vocabulary is visible, not fatal; an unknown
    // character without `<unk>` is an error.
    let v = Vocabulary::load(&dir.join("char-1/vocab.json")).unwrap();
    assert_eq!(v.decode(&[-1, 65]), "\u{fffd}\u{fffd}");
    assert_eq!(
        v.encode("é").unwrap_err(),
        "\"é\" is not in the vocabulary, which has no `<unk>` (built with min_count 1)"
    );
}

#[test]
fn training_on_text_saves_the_vocabulary_beside_the_checkpoint() {
    let dir = scratch("train_vocab");
    let run = dir.join("run").display().to_string();
    let src = format!(
        r#"
dataset words = text("data/hamlet_gut.txt", level: word, lowercase: true, min_count: 2)
  |> take(400)
  |> skipgrams(window: 1, negatives: 2, seed: 3)
  |> split(train: 0.9, test: 0.1, seed: 1)

model m(vocab: int) {{
  input label: f32[N, 3]
  h = dense(label, vocab)
  output z = dense(h, 3)
}}

train m(vocab: words.vocab) on words.train {{
  loss mse(z, label)
  optimizer sgd(lr: 0.01)
  epochs 1; batch 64
  save "{run}"
}}
"#
    );
    let program = check_files(&src).unwrap_or_else(|d| panic!("{}", show(&src, &d)));
    let spec = &program.datasets[0];
    assert_eq!(spec.vocab, Some(1972));
    let t = program.train.as_ref().unwrap();
    let w = t
        .model
        .params
        .iter()
        .find(|p| p.path == "m.h.weight")
        .unwrap();
    assert_eq!(format!("{}", w.ty), "f32[3,1972]");
    let opts = Options {
        backend: Some(dlc::backend::BackendKind::Interp),
        base: ".".into(),
        ..Options::default()
    };
    let report = Session::new(&program, &opts).unwrap().run(&opts).unwrap();
    let ck = checkpoint_path(&run, Path::new("."));
    assert_eq!(report.checkpoint.as_deref(), Some(ck.as_path()));
    let saved = Vocabulary::load(&vocab_path(&ck)).unwrap();
    assert_eq!(vocab_path(&ck), dir.join("run/vocab.json"));
    let loaded = load(spec, root()).unwrap().vocab.unwrap();
    assert_eq!(saved, loaded);
    assert_eq!(saved.len(), 1972);
}

#[test]
fn broken_text_files() {
    let dir = scratch("text_errors");
    let cases: &[(&str, &[u8], TextLevel, usize, &str)] = &[
        (
            "empty.txt",
            b"",
            TextLevel::Char,
            1,
            "empty.txt: no tokens: the file is empty",
        ),
        (
            "blank.txt",
            b" \n\t\n",
            TextLevel::Word,
            1,
            "blank.txt: no tokens: the file holds only whitespace",
        ),
        (
            "latin1.txt",
            b"caf\xe9\n",
            TextLevel::Char,
            1,
            "latin1.txt: not a UTF-8 text file (invalid byte at offset 3)",
        ),
        (
            "rare.txt",
            b"to be or not to be",
            TextLevel::Word,
            3,
            "rare.txt: no token occurs at least 3 times (the most frequent, \"be\", occurs 2 times)",
        ),
    ];
    for (name, bytes, level, min_count, message) in cases {
        fs::write(dir.join(name), bytes).unwrap();
        let (kind, msg) = field_error(&dir, text(name, *level, false, *min_count));
        assert_eq!((kind, msg.as_str()), (DataErrorKind::Malformed, *message));
        let cat = FileCatalog { base: dir.clone() };
        assert_eq!(
            cat.text("token", &text(name, *level, false, *min_count))
                .unwrap_err()
                .message,
            *message
        );
    }
    let (kind, msg) = field_error(&dir, text("missing.txt", TextLevel::Char, false, 1));
    assert_eq!(
        (kind, msg.as_str()),
        (
            DataErrorKind::NotFound,
            "cannot open missing.txt: No such file or directory"
        )
    );
    // A gzipped text reads like the plain one.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, b"to be or not to be").unwrap();
    fs::write(dir.join("t.txt.gz"), e.finish().unwrap()).unwrap();
    let s = spec(
        vec![("token", text("t.txt.gz", TextLevel::Word, false, 1))],
        vec![],
    );
    let d = load(&s, &dir).unwrap();
    assert_eq!(d.vocab.unwrap().tokens, ["be", "to", "not", "or"]);
}

#[test]
fn the_loader_refuses_a_stream_cut_after_a_split() {
    let s = spec(
        vec![("token", text_source(TextLevel::Char, 1))],
        vec![
            split(&[("train", 0.5), ("test", 0.5)], 1),
            Transform::Sequences { length: 8, step: 8 },
        ],
    );
    let e = load(&s, root()).unwrap_err();
    assert_eq!(
        e.message,
        "data set `d`: a stream is cut into samples before it is split"
    );
    let s = spec(
        vec![("token", text_source(TextLevel::Word, 1))],
        vec![Transform::Sequences {
            length: 50_000,
            step: 1,
        }],
    );
    assert_eq!(
        load(&s, root()).unwrap_err().message,
        "data set `d`: 41758 tokens are too few for a sequence of length 50000 (it needs 50001)"
    );
}

#[test]
fn vocab_is_a_property_of_the_set_and_of_its_parts() {
    let src = r#"
dataset hamlet = text("data/hamlet_gut.txt", level: char)
  |> sequences(length: 64, step: 32)
  |> split(train: 0.9, test: 0.1, seed: 1)
dataset words = text("data/hamlet_gut.txt", level: word, lowercase: true, min_count: 3)
  |> skipgrams(window: 2, negatives: 5, seed: 3)
dataset sun = load(x: csv("data/sunspots.csv", skip: 1, column: 1)) |> windows(x, length: 8)

model m(a: int, b: int) {
  input x: f32[N, 8, 1]
  h = dense(flatten(x), a)
  output y_hat = dense(h, b) |> dense(1)
}

train m(a: hamlet.vocab, b: hamlet.train.vocab + words.vocab) on sun {
  loss mse(y_hat, y)
  optimizer sgd(lr: 0.01)
  epochs 1; batch 32
}
"#;
    let program = check_files(src).unwrap_or_else(|d| panic!("{}", show(src, &d)));
    let shapes: Vec<String> = program.train.as_ref().unwrap().model.params[..4]
        .iter()
        .map(|p| format!("{} {}", p.path, p.ty))
        .collect();
    assert_eq!(
        shapes,
        [
            "m.h.weight f32[8,65]",
            "m.h.bias f32[65]",
            "m.y_hat.weight f32[65,1335]",
            "m.y_hat.bias f32[1335]"
        ]
    );
    let printed: String = dlc::sema::print::print_program(&program)
        .split("training model")
        .next()
        .unwrap()
        .to_string();
    insta::assert_snapshot!(printed, @r#"
    dataset hamlet {
      source token  <- text level=char lowercase=false min_count=1 "data/hamlet_gut.txt"
      vocab 65
      sequences length=64 step=32
      split train=0.9 test=0.1 seed=1
      field x: i32[64] x 5434 samples
      field y: i32[64] x 5434 samples
    }
    dataset words {
      source token  <- text level=word lowercase=true min_count=3 "data/hamlet_gut.txt"
      vocab 1270
      skipgrams window=2 negatives=5 seed=3
      field center: i32[] x 167026 samples
      field context: i32[6] x 167026 samples
      field label: f32[6] x 167026 samples
    }
    dataset sun {
      source x  <- csv skip=1 column=1 "data/sunspots.csv"
      windows x length=8 horizon=1 step=1
      field x: f32[8,1] x 301 samples
      field y: f32[1] x 301 samples
    }
"#);
}
