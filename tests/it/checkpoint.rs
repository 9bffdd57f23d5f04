//! Checkpoints: a round trip for every dtype and shape, metadata, the
//! atomic write (no temporary file left, parents created, overwrite), and
//! clean errors for missing, truncated and foreign files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use dlc::ir::DType;
use dlc::runtime::checkpoint::{load, save};
use dlc::tensor::Tensor;

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("checkpoint")
        .join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn sample_tensors() -> Vec<(String, Tensor)> {
    vec![
        (
            "mlp.h.weight".into(),
            Tensor::from_f64(DType::F32, &[2, 3], vec![1.5, -2.0, 0.1, 3.0, 1e-30, -0.0]),
        ),
        (
            "mlp.h.bias".into(),
            Tensor::from_f64(DType::F64, &[3], vec![std::f64::consts::PI, -1e300, 5e-324]),
        ),
        ("step".into(), Tensor::from_f64(DType::I32, &[], vec![-7.0])),
        (
            "mask".into(),
            Tensor::from_f64(DType::Bool, &[2, 2], vec![1.0, 0.0, 0.0, 1.0]),
        ),
        ("empty".into(), Tensor::full(DType::F32, &[0, 4], 0.0)),
    ]
}

fn save_all(path: &Path, tensors: &[(String, Tensor)], meta: &BTreeMap<String, String>) {
    let refs: Vec<(String, &Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
    save(path, &refs, meta).unwrap();
}

#[test]
fn round_trip_every_dtype_with_metadata() {
    let dir = scratch("round_trip");
    let path = dir.join("runs/digits/last.safetensors");
    let tensors = sample_tensors();
    let meta = BTreeMap::from([
        ("step".to_string(), "120".to_string()),
        ("program_hash".to_string(), "abc123".to_string()),
    ]);
    save_all(&path, &tensors, &meta);
    let ck = load(&path).unwrap();
    assert_eq!(ck.metadata, meta);
    let mut want = tensors.clone();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(ck.tensors, want);
    // Bit-exact floats, including -0.0 and subnormals.
    let w = ck.tensor("mlp.h.bias").unwrap().to_f64_vec();
    assert_eq!(w[2].to_bits(), 5e-324f64.to_bits());

    // No metadata at all also round-trips.
    save_all(&path, &tensors[..1], &BTreeMap::new());
    let ck = load(&path).unwrap();
    assert!(ck.metadata.is_empty());
    assert_eq!(ck.tensors.len(), 1);
}

#[test]
fn save_leaves_only_the_target_and_overwrites_it() {
    let dir = scratch("atomic");
    let path = dir.join("model.safetensors");
    let tensors = sample_tensors();
    save_all(&path, &tensors, &BTreeMap::new());
    save_all(&path, &tensors[2..3], &BTreeMap::new());
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["model.safetensors".to_string()]);
    assert_eq!(load(&path).unwrap().tensors.len(), 1);
}

#[test]
fn a_failed_save_keeps_the_old_checkpoint() {
    let dir = scratch("failed_save");
    let path = dir.join("model.safetensors");
    let tensors = sample_tensors();
    save_all(&path, &tensors, &BTreeMap::new());
    let t = &tensors[0].1;
    let err = save(&path, &[("a".into(), t), ("a".into(), t)], &BTreeMap::new()).unwrap_err();
    assert!(err.contains("two tensors are named `a`"), "{err}");
    assert_eq!(load(&path).unwrap().tensors.len(), tensors.len());
}

#[test]
fn missing_truncated_and_foreign_files_are_clean_errors() {
    let dir = scratch("errors");
    let missing = dir.join("nope.safetensors");
    let err = load(&missing).unwrap_err();
    assert_eq!(
        err,
        format!(
            "cannot open {}: No such file or directory",
            missing.display()
        )
    );

    let path = dir.join("x.safetensors");
    save_all(&path, &sample_tensors(), &BTreeMap::new());
    let bytes = fs::read(&path).unwrap();
    for cut in [3, 20, bytes.len() - 1] {
        fs::write(&path, &bytes[..cut]).unwrap();
        let err = load(&path).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "{} is not a valid safetensors file: ",
                path.display()
            )),
            "cut at {cut}: {err}"
        );
    }

    fs::write(&path, b"this is a text file, not tensors\n").unwrap();
    let err = load(&path).unwrap_err();
    assert!(err.contains("is not a valid safetensors file"), "{err}");
}

#[test]
fn unsupported_dtypes_are_named() {
    let dir = scratch("dtype");
    let path = dir.join("half.safetensors");
    // A one-element F16 tensor, written by hand: header length, JSON, data.
    let header = br#"{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0, 0x3c]);
    fs::write(&path, bytes).unwrap();
    let err = load(&path).unwrap_err();
    assert!(err.contains("tensor `h` has dtype F16"), "{err}");
}
