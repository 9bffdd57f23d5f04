//! Checkpoints as safetensors files: tensors by parameter path
//! (`mlp.h.weight`) plus string metadata (program hash, step, optimizer
//! state names). A save writes a temporary file beside the target, syncs it
//! and renames it over the target, so a run killed mid-save leaves either
//! the old checkpoint or the new one, never half of one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::runtime::data::read::io_reason as reason;
use crate::tensor::Tensor;

/// A loaded checkpoint: tensors sorted by name, and the metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub tensors: Vec<(String, Tensor)>,
    pub metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Writes `tensors` and `metadata` to `path` atomically, creating its
/// parent directories. Names must be unique.
pub fn save(
    path: &Path,
    tensors: &[(String, &Tensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), String> {
    let shown = path.display();
    let mut seen = BTreeSet::new();
    if let Some((dup, _)) = tensors.iter().find(|(n, _)| !seen.insert(n.as_str())) {
        return Err(format!(
            "cannot save {shown}: two tensors are named `{dup}`"
        ));
    }
    let bytes: Vec<(String, Dtype, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            let (dtype, data) = to_bytes(t);
            (n.clone(), dtype, data)
        })
        .collect();
    let views = bytes
        .iter()
        .zip(tensors)
        .map(|((n, dtype, data), (_, t))| {
            TensorView::new(*dtype, t.shape().to_vec(), data)
                .map(|v| (n.clone(), v))
                .map_err(|e| format!("internal: tensor `{n}` does not match its bytes: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    let buffer = safetensors::serialize(views, (!meta.is_empty()).then_some(meta))
        .map_err(|e| format!("cannot save {shown}: {e}"))?;
    write_atomically(path, &buffer).map_err(|e| format!("cannot write {shown}: {e}"))
}

/// `.<name>.tmp-<pid>` beside `path`: hidden, and unique per process so two
/// runs saving to one directory never share a temporary file.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".to_string());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `bytes` to `path` through a synced temporary file renamed over
/// it (creating the parent directories); the error is the reason alone.
/// Also writes `vocab.json` beside a checkpoint.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create {}: {}", dir.display(), reason(&e)))?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable. Directories cannot be opened as
        // files everywhere (Windows), so this is best effort off Unix.
        if cfg!(unix) {
            File::open(&dir)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        reason(&e)
    })
}

/// Reads the checkpoint at `path`.
pub fn load(path: &Path) -> Result<Checkpoint, String> {
    let shown = path.display();
    let bytes = fs::read(path).map_err(|e| format!("cannot open {shown}: {}", reason(&e)))?;
    let invalid = |why: String| format!("{shown} is not a valid safetensors file: {why}");
    let st = SafeTensors::deserialize(&bytes).map_err(|e| invalid(e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| invalid(e.to_string()))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut tensors = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let t = from_view(&view).map_err(|why| format!("{shown}: tensor `{name}` {why}"))?;
            Ok((name, t))
        })
        .collect::<Result<Vec<_>, String>>()?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Checkpoint { tensors, metadata })
}

/// Little-endian bytes, as safetensors stores them; bools as one byte each.
fn to_bytes(t: &Tensor) -> (Dtype, Vec<u8>) {
    match t {
        Tensor::F32(a) => (Dtype::F32, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
        Tensor::F64(a) => (Dtype::F64, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
        Tensor::I32(a) => (Dtype::I32, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
        Tensor::Bool(a) => (Dtype::BOOL, a.iter().map(|&v| u8::from(v)).collect()),
    }
}

fn from_view(view: &TensorView<'_>) -> Result<Tensor, String> {
    let shape = IxDyn(view.shape());
    let data = view.data();
    let array = |v| ArrayD::from_shape_vec(shape.clone(), v).map_err(|e| e.to_string());
    Ok(match view.dtype() {
        Dtype::F32 => Tensor::F32(array_of(shape, data, f32::from_le_bytes)?),
        Dtype::F64 => Tensor::F64(array_of(shape, data, f64::from_le_bytes)?),
        Dtype::I32 => Tensor::I32(array_of(shape, data, i32::from_le_bytes)?),
        Dtype::BOOL => Tensor::Bool(array(data.iter().map(|&b| b != 0).collect())?),
        other => {
            return Err(format!(
                "has dtype {other}, which dlc does not read (f32, f64, i32, bool)"
            ))
        }
    })
}

/// Decodes fixed-size little-endian elements.
fn array_of<T, const N: usize>(
    shape: IxDyn,
    data: &[u8],
    decode: fn([u8; N]) -> T,
) -> Result<ArrayD<T>, String> {
    let v = data
        .chunks_exact(N)
        .map(|c| decode(c.try_into().expect("internal: chunk of N bytes")))
        .collect();
    ArrayD::from_shape_vec(shape, v).map_err(|e| e.to_string())
}
