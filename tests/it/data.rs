//! Data loading on the shipped real files (digits, breast cancer,
//! diabetes, MNIST) and on broken files written here (each error must name
//! the file and the problem), the file catalog `dlc check` uses, and the
//! transforms: split sizes and determinism, statistics fitted on the first
//! part, batches.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dlc::ir::DType;
use dlc::runtime::data::{batch_ranges, load, load_field, Dataset, FileCatalog};
use dlc::sema::data::{
    Columns, DataCatalog, DataErrorKind, DatasetSpec, FieldSource, FileFormat, Transform,
};
use dlc::tensor::Tensor;

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

// ---------------------------------------------------------------- real files

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

// ---------------------------------------------------------------- broken files

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn csv_errors_name_the_line_and_the_problem() {
    let dir = scratch("csv_errors");
    let cases: &[(&str, &str, Columns, DType, &str)] = &[
        (
            "ragged.csv",
            "1,2,3\n4,5,6\n7,8\n",
            Columns::All,
            DType::F32,
            "ragged.csv:3: expected 3 columns, found 2",
        ),
        (
            "word.csv",
            "1,2\n3,abc\n",
            Columns::All,
            DType::F32,
            "word.csv:2: column 2: `abc` is not a number",
        ),
        (
            "nan.csv",
            "1 2\nnan 3\n",
            Columns::All,
            DType::F32,
            "nan.csv:2: column 1: `nan` is not a finite number",
        ),
        (
            "hole.csv",
            "1,,3\n",
            Columns::All,
            DType::F32,
            "hole.csv:1: column 2 is empty",
        ),
        (
            "gap.csv",
            "1,2\n\n3,4\n",
            Columns::All,
            DType::F32,
            "gap.csv:2: empty line inside the data (only trailing empty lines are allowed)",
        ),
        (
            "blank.csv",
            "\n\n",
            Columns::All,
            DType::F32,
            "blank.csv: no data rows",
        ),
        (
            "label.csv",
            "0,1\n0,2\n0,3.5\n",
            Columns::Only(-1),
            DType::I32,
            "label.csv: x 3.5 on line 3 is not a whole number",
        ),
        (
            "bool.csv",
            "0\n1\n2\n",
            Columns::Only(0),
            DType::Bool,
            "bool.csv: x 2 on line 3 is not 0 or 1 (a bool)",
        ),
        (
            "range.csv",
            "0,1\n",
            Columns::Only(2),
            DType::F32,
            "range.csv: column 2 is out of range: the file has 2 columns",
        ),
        (
            "range2.csv",
            "0,1\n",
            Columns::AllBut(-3),
            DType::F32,
            "range2.csv: column -3 is out of range: the file has 2 columns",
        ),
    ];
    for (name, text, columns, dtype, want) in cases {
        fs::write(dir.join(name), text).unwrap();
        let (kind, msg) = field_error(&dir, csv(name, 0, columns.clone(), *dtype));
        assert_eq!((kind, msg.as_str()), (DataErrorKind::Malformed, *want));
    }
    // With one header row, line numbers still count from the file's top.
    fs::write(dir.join("head.csv"), "a,b\n1,2\n3\n").unwrap();
    let (_, msg) = field_error(&dir, csv("head.csv", 1, Columns::All, DType::F32));
    assert_eq!(msg, "head.csv:3: expected 2 columns, found 1");
}

#[test]
fn csv_accepts_trailing_blank_lines_crlf_quotes_and_explicit_delimiters() {
    let dir = scratch("csv_ok");
    fs::write(dir.join("a.csv"), "\"1\", 2.5\r\n3 ,4e1\r\n\r\n\n").unwrap();
    let t = load_field("x", &csv("a.csv", 0, Columns::All, DType::F64), &dir).unwrap();
    assert_eq!(
        t,
        Tensor::from_f64(DType::F64, &[2, 2], vec![1.0, 2.5, 3.0, 40.0])
    );
    fs::write(dir.join("b.tsv"), "1;2;3\n4;5;6\n").unwrap();
    let src = FieldSource {
        format: FileFormat::Csv {
            delimiter: Some(';'),
            skip_rows: 0,
        },
        ..csv("b.tsv", 0, Columns::AllBut(1), DType::I32)
    };
    let t = load_field("x", &src, &dir).unwrap();
    assert_eq!(
        t,
        Tensor::from_f64(DType::I32, &[2, 2], vec![1.0, 3.0, 4.0, 6.0])
    );
}

#[test]
fn truncated_gzip() {
    let dir = scratch("gzip");
    let text: String = (0..2000).map(|i| format!("{i},{}\n", i % 10)).collect();
    let gz = gzip(text.as_bytes());
    fs::write(dir.join("cut.csv.gz"), &gz[..gz.len() / 2]).unwrap();
    let (kind, msg) = field_error(&dir, csv("cut.csv.gz", 0, Columns::All, DType::F32));
    assert_eq!(kind, DataErrorKind::Malformed);
    assert!(
        msg.starts_with("cut.csv.gz: truncated or corrupt gzip data"),
        "{msg}"
    );
    // The whole stream, under a name that does not say gzip, loads.
    fs::write(dir.join("plain-name.csv"), &gz).unwrap();
    let t = load_field(
        "x",
        &csv("plain-name.csv", 0, Columns::All, DType::F32),
        &dir,
    )
    .unwrap();
    assert_eq!(t.shape(), &[2000, 2]);
}

fn idx_bytes(code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, code, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(payload);
    b
}

#[test]
fn idx_payloads_and_errors() {
    let dir = scratch("idx");
    // i16 big-endian and f64 payloads.
    let vals: Vec<u8> = [-2i16, 300, 7]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    fs::write(dir.join("a.idx"), idx_bytes(0x0B, &[3], &vals)).unwrap();
    let t = load_field("x", &binary("a.idx", FileFormat::Idx, DType::I32), &dir).unwrap();
    assert_eq!(
        t,
        Tensor::from_f64(DType::I32, &[3], vec![-2.0, 300.0, 7.0])
    );
    let vals: Vec<u8> = [0.5f64, 1.0, -3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    fs::write(dir.join("f.idx"), gzip(&idx_bytes(0x0E, &[2, 2], &vals))).unwrap();
    let t = load_field("x", &binary("f.idx", FileFormat::Idx, DType::F32), &dir).unwrap();
    assert_eq!(
        t,
        Tensor::from_f64(DType::F32, &[2, 2], vec![0.5, 1.0, -3.0, 4.0])
    );
    let (_, msg) = field_error(&dir, binary("f.idx", FileFormat::Idx, DType::I32));
    assert_eq!(msg, "f.idx: x 0.5 at sample 0 is not a whole number");

    let cases: &[(&str, Vec<u8>, &str)] = &[
        ("short.idx", idx_bytes(0x08, &[10, 28, 28], &[7; 100]), "short.idx: expected 7840 bytes of pixel data, found 100"),
        ("long.idx", idx_bytes(0x08, &[3], &[1; 4]), "long.idx: expected 3 bytes of label data, found 4"),
        ("type.idx", idx_bytes(0x07, &[1], &[0]), "type.idx: unknown IDX element type 0x07 (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)"),
        ("magic.idx", b"P5\n28 28\n255\n".to_vec(), "magic.idx: not an IDX file: it starts with 0x50 0x35, not 0x00 0x00"),
        ("dims.idx", vec![0, 0, 8, 3, 0, 0], "dims.idx: truncated IDX header: expected 3 dimensions"),
        ("tiny.idx", vec![0, 0], "tiny.idx: not an IDX file: shorter than its 4-byte magic number"),
    ];
    for (name, bytes, want) in cases {
        fs::write(dir.join(name), bytes).unwrap();
        let (kind, msg) = field_error(&dir, binary(name, FileFormat::Idx, DType::F32));
        assert_eq!((kind, msg.as_str()), (DataErrorKind::Malformed, *want));
    }
    // Gzipped truncation is found too.
    fs::write(
        dir.join("short.gz"),
        gzip(&idx_bytes(0x08, &[10, 28, 28], &[7; 100])),
    )
    .unwrap();
    let (_, msg) = field_error(&dir, binary("short.gz", FileFormat::Idx, DType::F32));
    assert_eq!(
        msg,
        "short.gz: expected 7840 bytes of pixel data, found 100"
    );
}

fn npy_bytes(major: u8, header: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[major, 0]);
    let pre = if major == 1 { 10 } else { 12 };
    let mut h = header.to_string();
    while !(pre + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    if major == 1 {
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(payload);
    b
}

#[test]
fn npy_versions_dtypes_and_errors() {
    let dir = scratch("npy");
    let f4: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
    fs::write(dir.join("v1.npy"), npy_bytes(1, h, &f4)).unwrap();
    fs::write(dir.join("v2.npy"), npy_bytes(2, h, &f4)).unwrap();
    for name in ["v1.npy", "v2.npy"] {
        let t = load_field("x", &binary(name, FileFormat::Npy, DType::F64), &dir).unwrap();
        assert_eq!(
            t,
            Tensor::from_f64(DType::F64, &[3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
    }
    // Columns of a 2-d array, like a CSV table's.
    let src = FieldSource {
        columns: Columns::Only(-1),
        ..binary("v1.npy", FileFormat::Npy, DType::I32)
    };
    let t = load_field("y", &src, &dir).unwrap();
    assert_eq!(t, Tensor::from_f64(DType::I32, &[3], vec![2.0, 4.0, 6.0]));
    let s = FileCatalog { base: dir.clone() }.field("y", &src).unwrap();
    assert_eq!((s.sample_shape.len(), s.samples), (0, 3));

    let i8s: Vec<u8> = [5i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
    fs::write(
        dir.join("i8.npy"),
        npy_bytes(
            1,
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2,)}",
            &i8s,
        ),
    )
    .unwrap();
    let t = load_field("x", &binary("i8.npy", FileFormat::Npy, DType::I32), &dir).unwrap();
    assert_eq!(t, Tensor::from_f64(DType::I32, &[2], vec![5.0, -1.0]));
    fs::write(
        dir.join("b1.npy"),
        npy_bytes(
            3,
            "{\"descr\": \"|b1\", \"fortran_order\": False, \"shape\": (3,)}",
            &[1, 0, 1],
        ),
    )
    .unwrap();
    let t = load_field("x", &binary("b1.npy", FileFormat::Npy, DType::Bool), &dir).unwrap();
    assert_eq!(t, Tensor::from_f64(DType::Bool, &[3], vec![1.0, 0.0, 1.0]));

    let cases: &[(&str, Vec<u8>, &str)] = &[
        (
            "fortran.npy",
            npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", &f4),
            "fortran.npy: the array is stored in Fortran order, which dlc does not read; save it with np.save(path, np.ascontiguousarray(a))",
        ),
        (
            "short.npy",
            npy_bytes(1, h, &f4[..10]),
            "short.npy: expected 24 bytes of array data, found 10",
        ),
        (
            "c8.npy",
            npy_bytes(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", &f4),
            "c8.npy: element type '<c8' is not supported (dlc reads <f4 <f8 <i4 <i8 |u1 |b1)",
        ),
        (
            "header.npy",
            npy_bytes(1, "{'descr': '<f4', 'shape': [3, 2]}", &f4),
            "header.npy: bad NPY header (cannot read the value of `shape`): {'descr': '<f4', 'shape': [3, 2]}",
        ),
        (
            "noshape.npy",
            npy_bytes(1, "{'descr': '<f4', 'fortran_order': False}", &f4),
            "noshape.npy: bad NPY header (no `shape`): {'descr': '<f4', 'fortran_order': False}",
        ),
        ("magic.npy", b"PK\x03\x04".to_vec(), "magic.npy: not an NPY file: it does not start with \\x93NUMPY"),
        (
            "v9.npy",
            npy_bytes(9, h, &f4),
            "v9.npy: unsupported NPY format version 9.0 (dlc reads 1.0, 2.0 and 3.0)",
        ),
    ];
    for (name, bytes, want) in cases {
        fs::write(dir.join(name), bytes).unwrap();
        let (kind, msg) = field_error(&dir, binary(name, FileFormat::Npy, DType::F32));
        assert_eq!((kind, msg.as_str()), (DataErrorKind::Malformed, *want));
    }
}

#[test]
fn fields_must_have_the_same_sample_count() {
    let dir = scratch("count");
    fs::write(dir.join("x.csv"), "1,2\n3,4\n5,6\n").unwrap();
    fs::write(dir.join("y.csv"), "0\n1\n").unwrap();
    let s = spec(
        vec![
            ("x", csv("x.csv", 0, Columns::All, DType::F32)),
            ("y", csv("y.csv", 0, Columns::Only(0), DType::I32)),
        ],
        vec![],
    );
    let err = load(&s, &dir).unwrap_err();
    assert_eq!(
        err.message,
        "data set `d`: field `y` (y.csv) has 2 samples but field `x` (x.csv) has 3"
    );
}

// ---------------------------------------------------------------- transforms

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
