//! Broken data files written here — ragged or non-numeric CSV, truncated
//! gzip, IDX and NPY payloads, bad headers, Fortran order — and the error
//! each one gives: naming the file and the problem, the same from the
//! loader and from the catalog.

use std::fs;
use std::io::Write;

use dlc::ir::DType;
use dlc::runtime::data::{load, load_field, FileCatalog};
use dlc::sema::data::{Columns, DataCatalog, DataErrorKind, FieldSource, FileFormat};
use dlc::tensor::Tensor;

use super::{binary, csv, field_error, scratch, spec};

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
