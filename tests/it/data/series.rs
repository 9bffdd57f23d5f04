//! Time series cut by `windows` on the real yearly sunspot numbers (309
//! years, 1700–2008): the YEAR column shows which year each window and
//! target come from; a one-column series has one feature; the checker's
//! field types match what the loader builds; a model trains on them; a
//! split with `shuffle: false` keeps time order, and `persistence_mse` is
//! the error of repeating the last year.

use dlc::ir::DType;
use dlc::runtime::data::{load, Dataset};
use dlc::runtime::train::{Options, Session};
use dlc::sema::data::{Columns, Transform};
use dlc::sema::program::Metric;

use super::{csv, root, spec};
use crate::common::{check_files, show};

const SUNSPOTS: &str = "data/sunspots.csv";

fn sunspots(columns: Columns, transforms: Vec<Transform>) -> Dataset {
    let s = spec(
        vec![("x", csv(SUNSPOTS, 1, columns, DType::F32))],
        transforms,
    );
    load(&s, root()).unwrap()
}

fn windows(length: usize, horizon: usize, step: usize) -> Transform {
    Transform::Windows {
        field: "x".into(),
        length,
        horizon,
        step,
    }
}

fn values(d: &Dataset, field: &str) -> Vec<f64> {
    d.part("all").unwrap().field(field).unwrap().to_f64_vec()
}

#[test]
fn windows_over_years_and_sunspot_numbers() {
    let raw = sunspots(Columns::All, vec![]);
    let table = values(&raw, "x");
    assert_eq!(table.len(), 309 * 2);
    assert_eq!((table[0], table[1]), (1700.0, 5.0));
    assert_eq!(table[616], 2008.0);
    let l = 8;
    let d = sunspots(Columns::All, vec![windows(l, 1, 1)]);
    let all = d.part("all").unwrap();
    assert_eq!(all.samples, 309 - l);
    assert_eq!(all.field("x").unwrap().shape(), &[301, l, 2]);
    assert_eq!(all.field("y").unwrap().shape(), &[301, 2]);
    let (x, y) = (values(&d, "x"), values(&d, "y"));
    for k in 0..301 {
        // Sample k: the years k..k+L, and the target is year k+L.
        for i in 0..l {
            assert_eq!(x[(k * l + i) * 2], (1700 + k + i) as f64);
        }
        assert_eq!(y[k * 2], (1700 + k + l) as f64, "target of {k}");
        assert_eq!(y[k * 2 + 1], table[(k + l) * 2 + 1]);
    }
    // The last target is 2008.
    assert_eq!(y[300 * 2], 2008.0);
}

#[test]
fn a_one_column_series_has_one_feature() {
    let raw = sunspots(Columns::All, vec![]);
    let activity: Vec<f64> = values(&raw, "x").chunks(2).map(|r| r[1]).collect();
    let l = 10;
    let d = sunspots(Columns::Only(1), vec![windows(l, 1, 1)]);
    let all = d.part("all").unwrap();
    assert_eq!(all.field("x").unwrap().shape(), &[299, l, 1]);
    assert_eq!(all.field("y").unwrap().shape(), &[299, 1]);
    assert_eq!(all.field("x").unwrap().dtype(), DType::F32);
    let (x, y) = (values(&d, "x"), values(&d, "y"));
    for k in [0, 1, 150, 298] {
        assert_eq!(&x[k * l..(k + 1) * l], &activity[k..k + l]);
        assert_eq!(y[k], activity[k + l]);
    }
    // A longer horizon and a step: windows start every 2 years and the
    // target is 3 years after the window's last year.
    let d = sunspots(Columns::All, vec![windows(8, 3, 2)]);
    let y = values(&d, "y");
    assert_eq!(d.part("all").unwrap().samples, (309 - 8 - 3) / 2 + 1);
    for k in 0..150 {
        assert_eq!(y[k * 2], (1700 + 2 * k + 7 + 3) as f64);
    }
    // Transforms before windows apply to the series; a split after it
    // splits windows.
    let d = sunspots(
        Columns::Only(1),
        vec![
            Transform::Scale {
                field: "x".into(),
                factor: 0.01,
            },
            windows(5, 1, 1),
            super::split(&[("train", 0.8), ("test", 0.2)], 3),
        ],
    );
    let train = d.part("train").unwrap();
    assert_eq!(train.samples + d.part("test").unwrap().samples, 304);
    assert!(train
        .field("y")
        .unwrap()
        .to_f64_vec()
        .iter()
        .all(|&v| (0.0..=2.6).contains(&v)));
}

#[test]
fn the_loader_refuses_windows_that_do_not_fit() {
    let s = spec(
        vec![("x", csv(SUNSPOTS, 1, Columns::Only(1), DType::F32))],
        vec![windows(309, 1, 1)],
    );
    assert_eq!(
        load(&s, root()).unwrap_err().message,
        "data set `d`: the series `x` has 309 steps, too few for a window of 309 and a horizon of 1"
    );
    let s = spec(
        vec![
            ("x", csv(SUNSPOTS, 1, Columns::Only(1), DType::F32)),
            ("year", csv(SUNSPOTS, 1, Columns::Only(0), DType::I32)),
        ],
        vec![windows(4, 1, 1)],
    );
    assert_eq!(
        load(&s, root()).unwrap_err().message,
        "data set `d`: `windows` replaces the fields by `x` and `y`, but `year` would be dropped"
    );
}

#[test]
fn a_model_trains_on_sunspot_windows() {
    let src = r#"
dataset sun = load(x: csv("data/sunspots.csv", skip: 1, column: 1))
  |> scale(x: 0.01)
  |> windows(x, length: 8)
  |> split(train: 0.8, test: 0.2, seed: 2)

model forecast {
  input x: f32[N, 8, 1]
  h = flatten(x)
  h = dense(h, 16) |> tanh
  output y_hat = dense(h, 1)
}

train forecast() on sun.train {
  loss mse(y_hat, y)
  optimizer adam(lr: 0.01)
  epochs 20; batch 32; shuffle
  evaluate sun.test every epoch: mse
}
"#;
    let program = check_files(src).unwrap_or_else(|d| panic!("{}", show(src, &d)));
    let fields: Vec<String> = program.datasets[0]
        .fields
        .iter()
        .map(|f| {
            format!(
                "{}: {}{:?} x {}",
                f.name, f.dtype, f.sample_shape, f.samples
            )
        })
        .collect();
    assert_eq!(fields, ["x: f32[8, 1] x 301", "y: f32[1] x 301"]);
    let opts = Options {
        backend: Some(dlc::backend::BackendKind::Interp),
        base: ".".into(),
        ..Options::default()
    };
    let report = Session::new(&program, &opts).unwrap().run(&opts).unwrap();
    let first = report.records[0].values[0].1;
    let last = report.last("train", Metric::Loss).unwrap();
    assert!(last < 0.5 * first, "train loss {first} -> {last}");
    assert!(report.last("test", Metric::Mse).unwrap().is_finite());
}

#[test]
fn an_in_order_split_keeps_the_years_in_order() {
    let d = sunspots(
        Columns::All,
        vec![
            windows(4, 1, 1),
            Transform::Split {
                parts: vec![("train".into(), 0.75), ("test".into(), 0.25)],
                seed: 0,
                shuffle: false,
            },
        ],
    );
    let year = |part: &str| -> Vec<f64> {
        let y = d.part(part).unwrap().field("y").unwrap().to_f64_vec();
        y.chunks(2).map(|r| r[0]).collect()
    };
    let (train, test) = (year("train"), year("test"));
    // 305 windows: the first floor(0.75 * 305) = 228 train, the rest test,
    // each in year order, the test years all after the training years.
    assert_eq!((train.len(), test.len()), (228, 77));
    let all: Vec<f64> = train.iter().chain(&test).copied().collect();
    let want: Vec<f64> = (0..305).map(|k| (1704 + k) as f64).collect();
    assert_eq!(all, want);
}

#[test]
fn persistence_mse_is_the_error_of_repeating_the_last_year() {
    let src = r#"
dataset sun = load(x: csv("data/sunspots.csv", skip: 1, column: 1))
  |> windows(x, length: 3)
  |> split(train: 0.5, test: 0.5, shuffle: false)

model m {
  input x: f32[N, 3, 1]
  output y_hat = dense(lstm(x, 2), 1)
}

train m() on sun.train {
  loss mse(y_hat, y)
  optimizer sgd(lr: 0.01)
  epochs 1; batch 50
  evaluate sun.test every epoch: persistence_mse
}
"#;
    let p = check_files(src).unwrap_or_else(|d| panic!("{}", show(src, &d)));
    let opts = Options {
        backend: Some(dlc::backend::BackendKind::Interp),
        base: ".".into(),
        ..Options::default()
    };
    let mut session = Session::new(&p, &opts).unwrap();
    let test = p.train.as_ref().unwrap().evaluate[0].data.clone();
    let got = session.evaluate(&test, &[Metric::PersistenceMse]).unwrap()[0].1;
    // By hand: the second half of the 306 windows, target year k + 3 against
    // year k + 2.
    let raw = sunspots(Columns::Only(1), vec![]);
    let v = values(&raw, "x");
    let errs: Vec<f64> = (153..306).map(|k| v[k + 3] - v[k + 2]).collect();
    let want = errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64;
    assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
}
