//! Data-set transforms on loaded data: split sizes, partition and
//! determinism; standardize and min-max fitted on the first part; scale,
//! take and shuffle; batches in a given order.

use std::fs;
use std::path::Path;

use dlc::ir::DType;
use dlc::runtime::data::{batch_ranges, load, Dataset};
use dlc::sema::data::{Columns, Transform};

use super::{csv, digits, scratch, spec, split};

/// A data set of `n` samples: `id` (0..n) and two features, the second
/// constant.
fn ids(dir: &Path, n: usize, transforms: Vec<Transform>) -> Dataset {
    let text: String = (0..n)
        .map(|i| format!("{i},{},5\n", (i * i) % 17))
        .collect();
    fs::write(dir.join("ids.csv"), text).unwrap();
    let s = spec(
        vec![
            ("id", csv("ids.csv", 0, Columns::Only(0), DType::I32)),
            ("x", csv("ids.csv", 0, Columns::AllBut(0), DType::F64)),
        ],
        transforms,
    );
    load(&s, dir).unwrap()
}

fn id_list(d: &Dataset, part: &str) -> Vec<usize> {
    let t = d.part(part).unwrap().field("id").unwrap();
    t.to_f64_vec().iter().map(|&v| v as usize).collect()
}

#[test]
fn split_sizes_partition_and_determinism() {
    let d = digits(vec![split(&[("train", 0.8), ("test", 0.2)], 7)]);
    let names: Vec<&str> = d.parts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["train", "test"]);
    // floor(0.8 * 1797) = 1437; the last part takes the remainder.
    assert_eq!(d.part("train").unwrap().samples, 1437);
    assert_eq!(d.part("test").unwrap().samples, 360);

    let dir = scratch("split");
    let a = ids(
        &dir,
        100,
        vec![split(&[("train", 0.7), ("val", 0.2), ("test", 0.1)], 1)],
    );
    let mut all: Vec<usize> = ["train", "val", "test"]
        .iter()
        .flat_map(|p| id_list(&a, p))
        .collect();
    assert_eq!(
        (id_list(&a, "train").len(), id_list(&a, "val").len()),
        (70, 20)
    );
    all.sort();
    assert_eq!(
        all,
        (0..100).collect::<Vec<_>>(),
        "parts partition the samples"
    );
    assert_ne!(
        id_list(&a, "train"),
        (0..70).collect::<Vec<_>>(),
        "split shuffles"
    );

    let again = ids(
        &dir,
        100,
        vec![split(&[("train", 0.7), ("val", 0.2), ("test", 0.1)], 1)],
    );
    assert_eq!(a, again);
    let other = ids(
        &dir,
        100,
        vec![split(&[("train", 0.7), ("val", 0.2), ("test", 0.1)], 2)],
    );
    assert_ne!(id_list(&a, "train"), id_list(&other, "train"));

    // Fractions summing to less than 1 drop the rest.
    let some = ids(&dir, 99, vec![split(&[("a", 0.5), ("b", 0.3)], 1)]);
    assert_eq!(
        (id_list(&some, "a").len(), id_list(&some, "b").len()),
        (49, 29)
    );

    let s = spec(
        vec![("id", csv("ids.csv", 0, Columns::Only(0), DType::I32))],
        vec![split(&[("a", 0.8), ("b", 0.3)], 1)],
    );
    let err = load(&s, &dir).unwrap_err();
    assert!(err.message.contains("sum to at most 1"), "{}", err.message);
}

#[test]
fn standardize_after_a_split_fits_on_the_first_part() {
    let dir = scratch("standardize");
    let d = ids(
        &dir,
        200,
        vec![
            split(&[("train", 0.75), ("test", 0.25)], 3),
            Transform::Standardize { field: "x".into() },
        ],
    );
    let raw = ids(
        &dir,
        200,
        vec![split(&[("train", 0.75), ("test", 0.25)], 3)],
    );
    let col = |d: &Dataset, part: &str, j: usize| -> Vec<f64> {
        let v = d.part(part).unwrap().field("x").unwrap().to_f64_vec();
        v.chunks(2).map(|r| r[j]).collect()
    };
    let train = col(&d, "train", 0);
    let mean = train.iter().sum::<f64>() / train.len() as f64;
    let var = train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / train.len() as f64;
    assert!(
        mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12,
        "{mean} {var}"
    );
    // The test part uses the training statistics, not its own.
    let raw_train = col(&raw, "train", 0);
    let m = raw_train.iter().sum::<f64>() / raw_train.len() as f64;
    let s =
        (raw_train.iter().map(|v| (v - m).powi(2)).sum::<f64>() / raw_train.len() as f64).sqrt();
    for (got, r) in col(&d, "test", 0).iter().zip(col(&raw, "test", 0)) {
        assert!((got - (r - m) / s).abs() < 1e-12);
    }
    let test = col(&d, "test", 0);
    assert!((test.iter().sum::<f64>() / test.len() as f64).abs() > 1e-6);
    // A constant feature is centred, not divided by zero.
    assert!(col(&d, "test", 1).iter().all(|&v| v == 0.0));
    // Labels are untouched.
    assert_eq!(id_list(&d, "test"), id_list(&raw, "test"));
}

#[test]
fn min_max_scale_take_and_shuffle() {
    let dir = scratch("minmax");
    let d = ids(&dir, 50, vec![Transform::MinMax { field: "x".into() }]);
    let x = d.part("all").unwrap().field("x").unwrap().to_f64_vec();
    let f0: Vec<f64> = x.chunks(2).map(|r| r[0]).collect();
    assert_eq!(f0.iter().cloned().fold(f64::INFINITY, f64::min), 0.0);
    assert_eq!(f0.iter().cloned().fold(0.0, f64::max), 1.0);
    assert!(x.chunks(2).all(|r| r[1] == 0.0));

    let d = digits(vec![
        Transform::Scale {
            field: "x".into(),
            factor: 1.0 / 16.0,
        },
        Transform::Take { n: 100 },
    ]);
    let all = d.part("all").unwrap();
    assert_eq!(all.samples, 100);
    assert_eq!(
        all.field("x")
            .unwrap()
            .to_f64_vec()
            .iter()
            .cloned()
            .fold(0.0, f64::max),
        1.0
    );

    let a = ids(
        &dir,
        30,
        vec![Transform::Shuffle { seed: 9 }, Transform::Take { n: 10 }],
    );
    let b = ids(
        &dir,
        30,
        vec![Transform::Shuffle { seed: 9 }, Transform::Take { n: 10 }],
    );
    assert_eq!(id_list(&a, "all"), id_list(&b, "all"));
    assert_ne!(id_list(&a, "all"), (0..10).collect::<Vec<_>>());

    // Scaling a label is refused by name.
    let s = spec(
        vec![("id", csv("ids.csv", 0, Columns::Only(0), DType::I32))],
        vec![Transform::Scale {
            field: "id".into(),
            factor: 2.0,
        }],
    );
    assert_eq!(
        load(&s, &dir).unwrap_err().message,
        "cannot scale `d.id`: it is i32, not a float field"
    );
}

#[test]
fn batches_cover_every_sample_once() {
    assert_eq!(batch_ranges(10, 4), vec![0..4, 4..8, 8..10]);
    assert_eq!(batch_ranges(8, 4), vec![0..4, 4..8]);
    assert!(batch_ranges(0, 4).is_empty());

    let dir = scratch("batches");
    let d = ids(&dir, 10, vec![]);
    let all = d.part("all").unwrap();
    let order = [9, 3, 0, 1, 2, 4, 5, 6, 7, 8];
    let batches: Vec<_> = all.batches(&order, 4).collect();
    assert_eq!(
        batches.iter().map(|b| b.samples).collect::<Vec<_>>(),
        [4, 4, 2]
    );
    assert_eq!(
        batches[0].field("id").unwrap().to_f64_vec(),
        [9.0, 3.0, 0.0, 1.0]
    );
    assert_eq!(batches[0].field("x").unwrap().shape(), &[4, 2]);
}
