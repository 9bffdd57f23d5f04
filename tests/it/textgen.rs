//! Text after training: the `bigram_loss` baseline against a direct count,
//! the sampler (`sample` statement and `dlc sample`) on a small model, and
//! the `nearest` lists, each on the real Hamlet text.

use std::collections::HashMap;

use dlc::ir::DType;
use dlc::runtime::bigram::Bigram;
use dlc::runtime::rng::Rng;
use dlc::runtime::sample::draw;
use dlc::runtime::train::{Options, Report, Session};
use dlc::sema::program::Metric;
use dlc::tensor::Tensor;

use crate::common::{check_files, show};

fn ids(rows: &[&[i32]]) -> Tensor {
    let t = rows[0].len();
    let flat: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.iter().map(|&i| i as f64))
        .collect();
    Tensor::from_f64(DType::I32, &[rows.len(), t], flat)
}

#[test]
fn bigram_loss_is_the_add_one_cross_entropy_of_pair_counts() {
    // "abcab" and "bca" as ids a=0, b=1, c=2, cut into (x, y) = (t, t+1).
    let train_x = ids(&[&[0, 1, 2, 0], &[1, 2, 0, 0]]);
    let train_y = ids(&[&[1, 2, 0, 1], &[2, 0, 0, 1]]);
    let test_x = ids(&[&[0, 2], &[1, 1]]);
    let test_y = ids(&[&[2, 1], &[1, 0]]);
    let v = 3usize;
    // Direct: a count matrix, then the mean of -ln((c(a,b)+1)/(c(a)+V)).
    let mut c = [[0f64; 3]; 3];
    for (a, b) in train_x.to_f64_vec().iter().zip(train_y.to_f64_vec()) {
        c[*a as usize][b as usize] += 1.0;
    }
    let pairs: Vec<(usize, usize)> = test_x
        .to_f64_vec()
        .iter()
        .zip(test_y.to_f64_vec())
        .map(|(a, b)| (*a as usize, b as usize))
        .collect();
    let want: f64 = pairs
        .iter()
        .map(|&(a, b)| -((c[a][b] + 1.0) / (c[a].iter().sum::<f64>() + v as f64)).ln())
        .sum::<f64>()
        / pairs.len() as f64;
    let got = Bigram::fit(&train_x, &train_y, v).loss(&test_x, &test_y);
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    // By hand: `a` starts 4 training pairs, 3 of them a->b and none a->c,
    // so a->b costs ln(7/4) and the unseen a->c ln(7), not infinity.
    let b = Bigram::fit(&train_x, &train_y, v);
    assert!((b.nats(0, 1) - (7.0f64 / 4.0).ln()).abs() < 1e-12);
    assert!((b.nats(0, 2) - 7.0f64.ln()).abs() < 1e-12);
}

const CHARS: &str = r#"
dataset hamlet = text("data/hamlet_gut.txt", level: char)
  |> take(6000)
  |> sequences(length: 16)
  |> split(train: 0.9, test: 0.1, seed: 1)

model chars(vocab: int) {
  input x: i32[N, 16]
  h = embedding(x, vocab, 8)
  output logits = dense(h, vocab)
}

train chars(vocab: hamlet.vocab) on hamlet.train {
  loss cross_entropy(logits, y)
  optimizer adam(lr: 0.01)
  epochs 1; batch 32
  evaluate hamlet.test every epoch: loss, bigram_loss
  sample 60 from "HAMLET." temperature: 0.8
  SAVE
}
"#;

fn run_chars(seed: u64, save: Option<&std::path::Path>) -> Report {
    let save = save
        .map(|d| format!("save {:?}", d.display().to_string()))
        .unwrap_or_default();
    let src = CHARS.replace("SAVE", &save);
    let program = check_files(&src).unwrap_or_else(|d| panic!("{}", show(&src, &d)));
    let opts = Options {
        backend: Some(dlc::backend::BackendKind::Interp),
        base: ".".into(),
        seed: Some(seed),
        ..Options::default()
    };
    let mut session = Session::new(&program, &opts).expect("session");
    session.run(&opts).expect("training runs")
}

#[test]
fn bigram_loss_is_reported_beside_the_loss_and_matches_a_direct_count() {
    let r = run_chars(0, None);
    let got = r.last("test", Metric::BigramLoss).unwrap();
    assert!(r.last("test", Metric::Loss).is_some());
    // Direct: the same parts, counted here.
    let src = CHARS.replace("SAVE", "");
    let program = check_files(&src).unwrap();
    let data = dlc::runtime::data::load(&program.datasets[0], ".".as_ref()).unwrap();
    let v = data.vocab.as_ref().unwrap().len() as f64;
    let field = |p: &str, f: &str| data.part(p).unwrap().field(f).unwrap().to_f64_vec();
    let mut pair: HashMap<(i64, i64), f64> = HashMap::new();
    let mut first: HashMap<i64, f64> = HashMap::new();
    for (a, b) in field("train", "x").iter().zip(field("train", "y")) {
        *pair.entry((*a as i64, b as i64)).or_default() += 1.0;
        *first.entry(*a as i64).or_default() += 1.0;
    }
    let (tx, ty) = (field("test", "x"), field("test", "y"));
    let want = tx
        .iter()
        .zip(&ty)
        .map(|(a, b)| {
            let ab = pair.get(&(*a as i64, *b as i64)).copied().unwrap_or(0.0);
            let a1 = first.get(&(*a as i64)).copied().unwrap_or(0.0);
            -((ab + 1.0) / (a1 + v)).ln()
        })
        .sum::<f64>()
        / tx.len() as f64;
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
}

#[test]
fn sampler_is_deterministic_uses_the_vocabulary_and_has_the_asked_length() {
    let a = run_chars(3, None);
    let b = run_chars(3, None);
    let (sa, sb) = (&a.samples[0], &b.samples[0]);
    assert_eq!(sa, sb, "one seed, one text");
    assert_eq!(sa.ids.len(), 60);
    assert!(sa.text.starts_with("HAMLET."), "{:?}", sa.text);
    assert_eq!(sa.text.chars().count(), "HAMLET.".len() + 60);
    let program = check_files(&CHARS.replace("SAVE", "")).unwrap();
    let data = dlc::runtime::data::load(&program.datasets[0], ".".as_ref()).unwrap();
    let vocab = data.vocab.unwrap();
    assert!(sa.ids.iter().all(|&i| (i as usize) < vocab.len()));
    assert!(sa.text.chars().all(|c| vocab.id(&c.to_string()).is_some()));
}

#[test]
fn draw_follows_the_temperature() {
    let logits = [0.0, 1.0, 3.0];
    // A near-zero temperature is the argmax.
    let mut rng = Rng::new(1, 2);
    assert!((0..50).all(|_| draw(&logits, 1e-3, &mut rng) == 2));
    // At temperature 1 the frequencies follow the softmax.
    let n = 20000;
    let mut counts = [0usize; 3];
    for _ in 0..n {
        counts[draw(&logits, 1.0, &mut rng)] += 1;
    }
    let z: f64 = logits.iter().map(|l: &f64| l.exp()).sum();
    for (i, &c) in counts.iter().enumerate() {
        let p = logits[i].exp() / z;
        let f = c as f64 / n as f64;
        assert!((f - p).abs() < 0.02, "class {i}: {f} vs {p}");
    }
}

#[test]
fn dlc_sample_reads_the_checkpoint_and_vocabulary_after_the_fact() {
    let dir = std::env::temp_dir().join(format!("dlc-textgen-sample-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = run_chars(5, Some(&dir.join("run")));
    let ck = r.checkpoint.clone().expect("saved");
    assert!(ck.with_file_name("vocab.json").exists());
    let file = dir.join("chars.dl");
    std::fs::write(
        &file,
        CHARS.replace(
            "SAVE",
            &format!("save {:?}", dir.join("run").display().to_string()),
        ),
    )
    .unwrap();
    let dlc = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dlc"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("dlc runs")
    };
    let (f, c) = (file.display().to_string(), ck.display().to_string());
    // Same seed and settings as the run's `sample`: the same text.
    let out = dlc(&["sample", &f, "--checkpoint", &c, "--seed", "5"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'),
        r.samples[0].text
    );
    let out = dlc(&[
        "sample",
        &f,
        "--checkpoint",
        &c,
        "--length",
        "10",
        "--prime",
        "To be",
        "--temperature",
        "0.5",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout)
        .trim_end_matches('\n')
        .to_string();
    assert!(
        text.starts_with("To be") && text.chars().count() == 15,
        "{text:?}"
    );
    // A prime character the text never uses is a clear user error.
    let out = dlc(&["sample", &f, "--checkpoint", &c, "--prime", "ß"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"ß\" is not in the vocabulary"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nearest_ranks_rows_by_cosine_similarity() {
    // Four tokens of a tiny text; row 0 points along x, row 1 nearly so,
    // row 2 along y, row 3 opposite to row 0.
    let opts = dlc::sema::data::TextOptions {
        level: dlc::sema::data::TextLevel::Char,
        lowercase: false,
        min_count: 1,
    };
    let (vocab, _) = dlc::runtime::data::Vocabulary::build("aaaabbbccd", &opts, "t").unwrap();
    assert_eq!(vocab.tokens, ["a", "b", "c", "d"]);
    let table = Tensor::from_f64(
        DType::F32,
        &[4, 2],
        vec![2.0, 0.0, 1.0, 0.1, 0.0, 3.0, -1.0, 0.0],
    );
    let n = dlc::runtime::nearest::nearest(&table, &vocab, "a", 3).unwrap();
    let order: Vec<&str> = n.nearest.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(order, ["b", "c", "d"]);
    assert!((n.nearest[2].1 + 1.0).abs() < 1e-6, "{n:?}");
    assert!(n
        .to_text()
        .starts_with("nearest to \"a\": b 1.00, c 0.00, d -1.00"));
}

#[test]
fn a_word_prime_outside_the_vocabulary_fails_before_training() {
    let src = r#"
dataset hamlet = text("data/hamlet_gut.txt", level: word, lowercase: true)
  |> sequences(length: 8)
model words(vocab: int) {
  input x: i32[N, 8]
  output logits = dense(embedding(x, vocab, 4), vocab)
}
train words(vocab: hamlet.vocab) on hamlet {
  loss cross_entropy(logits, y)
  optimizer adam
  sample 10 from "to be or not to bee"
}
"#;
    let program = check_files(src).unwrap_or_else(|d| panic!("{}", show(src, &d)));
    let opts = Options {
        backend: Some(dlc::backend::BackendKind::Interp),
        base: ".".into(),
        ..Options::default()
    };
    let err = match Session::new(&program, &opts) {
        Ok(_) => panic!("a prime word outside the vocabulary was accepted"),
        Err(e) => e.0,
    };
    assert!(err.contains("\"bee\" is not in the vocabulary"), "{err}");
}
