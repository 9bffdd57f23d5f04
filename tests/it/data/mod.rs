//! Data loading: the shipped real files (digits, breast cancer, diabetes,
//! MNIST) and the file catalog `dlc check` uses here; broken files in
//! `broken.rs` (each error must name the file and the problem); the
//! transforms and batches in `transform.rs`; text as token streams in
//! `text.rs` and time series in `series.rs`. Helpers shared by all of them
//! live here.

mod broken;
mod series;
mod text;
mod transform;

use std::fs;
use std::path::{Path, PathBuf};

use dlc::ir::DType;
use dlc::runtime::data::{load, load_field, Dataset, FileCatalog};
use dlc::sema::data::{
    Columns, DataCatalog, DataErrorKind, DatasetSpec, FieldSource, FileFormat, Transform,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("data")
        .join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn csv(path: &str, skip_rows: usize, columns: Columns, dtype: DType) -> FieldSource {
    FieldSource {
        path: path.into(),
        format: FileFormat::Csv {
            delimiter: None,
            skip_rows,
        },
        columns,
        dtype,
    }
}

fn binary(path: &str, format: FileFormat, dtype: DType) -> FieldSource {
    FieldSource {
        path: path.into(),
        format,
        columns: Columns::All,
        dtype,
    }
}

fn spec(sources: Vec<(&str, FieldSource)>, transforms: Vec<Transform>) -> DatasetSpec {
    DatasetSpec {
        name: "d".into(),
        sources: sources
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect(),
        transforms,
        fields: vec![],
        vocab: None,
        vocab_tokens: vec![],
    }
}

fn digits(transforms: Vec<Transform>) -> Dataset {
    let s = spec(
        vec![
            (
                "x",
                csv("data/digits.csv.gz", 0, Columns::AllBut(-1), DType::F32),
            ),
            (
                "label",
                csv("data/digits.csv.gz", 0, Columns::Only(-1), DType::I32),
            ),
        ],
        transforms,
    );
    load(&s, root()).unwrap()
}

fn split(parts: &[(&str, f64)], seed: u64) -> Transform {
    Transform::Split {
        parts: parts.iter().map(|(n, f)| (n.to_string(), *f)).collect(),
        seed,
        shuffle: true,
    }
}

/// The error message of loading field `x` from `source` under `base`, after
/// checking the catalog reports the same error.
fn field_error(base: &Path, source: FieldSource) -> (DataErrorKind, String) {
    let err = load_field("x", &source, base).unwrap_err();
    let cat = FileCatalog { base: base.into() }
        .field("x", &source)
        .unwrap_err();
    assert_eq!(err, cat, "load and catalog disagree");
    (err.kind, err.message)
}

#[test]
fn digits_csv_gz() {
    let d = digits(vec![]);
    assert_eq!(d.parts.len(), 1);
    let all = d.part("all").unwrap();
    assert_eq!(all.samples, 1797);
    let x = all.field("x").unwrap();
    assert_eq!((x.dtype(), x.shape()), (DType::F32, &[1797, 64][..]));
    let xs = x.to_f64_vec();
    assert_eq!(xs.iter().cloned().fold(0.0, f64::max), 16.0);
    assert_eq!(&xs[..8], &[0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
    let label = all.field("label").unwrap();
    assert_eq!((label.dtype(), label.shape()), (DType::I32, &[1797][..]));
    let mut counts = [0; 10];
    for v in label.to_f64_vec() {
        counts[v as usize] += 1;
    }
    assert!(counts.iter().all(|&c| c > 170), "{counts:?}");
}

#[test]
fn breast_cancer_with_a_header_row() {
    let s = spec(
        vec![
            (
                "x",
                csv("data/breast_cancer.csv", 1, Columns::AllBut(-1), DType::F64),
            ),
            (
                "y",
                csv("data/breast_cancer.csv", 1, Columns::Only(30), DType::I32),
            ),
        ],
        vec![],
    );
    let d = load(&s, root()).unwrap();
    let all = d.part("all").unwrap();
    assert_eq!(all.field("x").unwrap().shape(), &[569, 30]);
    assert_eq!(all.field("x").unwrap().to_f64_vec()[0], 17.99);
    let y = all.field("y").unwrap().to_f64_vec();
    assert_eq!(y.iter().filter(|&&v| v == 1.0).count(), 357);
    assert_eq!(y.iter().filter(|&&v| v == 0.0).count(), 212);
}

#[test]
fn diabetes_space_separated_with_a_separate_target() {
    let s = spec(
        vec![
            (
                "x",
                csv("data/diabetes_data_raw.csv.gz", 0, Columns::All, DType::F32),
            ),
            (
                "y",
                csv("data/diabetes_target.csv.gz", 0, Columns::All, DType::F32),
            ),
            (
                "t",
                csv(
                    "data/diabetes_target.csv.gz",
                    0,
                    Columns::Only(0),
                    DType::F64,
                ),
            ),
        ],
        vec![],
    );
    let all = load(&s, root()).unwrap().parts.remove(0).1;
    assert_eq!(all.samples, 442);
    assert_eq!(all.field("x").unwrap().shape(), &[442, 10]);
    assert_eq!(
        &all.field("x").unwrap().to_f64_vec()[..3],
        &[59.0, 2.0, 32.099998474121094]
    );
    // `All` of a one-column file keeps the column axis; `Only` drops it.
    assert_eq!(all.field("y").unwrap().shape(), &[442, 1]);
    assert_eq!(all.field("t").unwrap().shape(), &[442]);
    assert_eq!(all.field("t").unwrap().to_f64_vec()[0], 151.0);
}

#[test]
fn mnist_idx_gz() {
    let s = spec(
        vec![
            (
                "image",
                binary(
                    "data/mnist10k-images-idx3-ubyte.gz",
                    FileFormat::Idx,
                    DType::F32,
                ),
            ),
            (
                "label",
                binary(
                    "data/mnist10k-labels-idx1-ubyte.gz",
                    FileFormat::Idx,
                    DType::I32,
                ),
            ),
        ],
        vec![],
    );
    let all = load(&s, root()).unwrap().parts.remove(0).1;
    let image = all.field("image").unwrap();
    assert_eq!(
        (image.dtype(), image.shape()),
        (DType::F32, &[10000, 28, 28][..])
    );
    let px = image.to_f64_vec();
    assert_eq!(px.iter().cloned().fold(0.0, f64::max), 255.0);
    assert!(px.iter().all(|v| v.fract() == 0.0 && *v >= 0.0));
    let label = all.field("label").unwrap().to_f64_vec();
    assert_eq!(label.len(), 10000);
    assert!(label.iter().all(|v| (0.0..=9.0).contains(v)));
    // The file is sorted by class.
    assert_eq!((label[0], label[9999]), (0.0, 9.0));
}

#[test]
fn catalog_reports_schemas_of_real_files() {
    let cat = FileCatalog {
        base: root().into(),
    };
    let x = cat
        .field(
            "x",
            &csv("data/digits.csv.gz", 0, Columns::AllBut(-1), DType::F32),
        )
        .unwrap();
    assert_eq!(
        (x.name.as_str(), x.sample_shape.as_slice(), x.samples),
        ("x", &[64][..], 1797)
    );
    let l = cat
        .field(
            "label",
            &csv("data/digits.csv.gz", 0, Columns::Only(-1), DType::I32),
        )
        .unwrap();
    assert_eq!(
        (l.dtype, l.sample_shape.len(), l.samples),
        (DType::I32, 0, 1797)
    );
    let im = cat
        .field(
            "image",
            &binary(
                "data/mnist10k-images-idx3-ubyte.gz",
                FileFormat::Idx,
                DType::F32,
            ),
        )
        .unwrap();
    assert_eq!(
        (im.sample_shape.as_slice(), im.samples),
        (&[28, 28][..], 10000)
    );
}

#[test]
fn missing_file() {
    let src = csv("data/digts.csv.gz", 0, Columns::All, DType::F32);
    let (kind, msg) = field_error(root(), src);
    assert_eq!(kind, DataErrorKind::NotFound);
    assert_eq!(
        msg,
        "cannot open data/digts.csv.gz: No such file or directory"
    );
    let (kind, msg) = field_error(root(), csv("data", 0, Columns::All, DType::F32));
    assert_eq!(
        (kind, msg.as_str()),
        (
            DataErrorKind::NotFound,
            "cannot open data: it is a directory"
        )
    );
}
