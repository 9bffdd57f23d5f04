//! The resident state of a session — parameters, optimizer slots, running
//! statistics — which lives in the step's executable: drawing it at the
//! start, loading it from `--init`, copying it into the evaluation
//! function, and writing and reading checkpoints. State is named by the
//! signature's input names (parameter paths, `<path>/<slot>`), which are
//! also the checkpoint's tensor names.

use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::Executable;
use crate::ir::Role;
use crate::sema::program::Model;
use crate::tensor::Tensor;

use super::super::checkpoint;
use super::super::init::init_tensor;
use super::super::rng::{derive, Rng};
use super::{fail, Result, RunFailure, Session};

impl Session<'_> {
    /// Draws every parameter with its initializer (seeded by its path),
    /// sets optimizer slots to 0 and a layer's state (running statistics)
    /// to the value it declares.
    pub(super) fn initialize(&mut self) {
        initialize(self.step.as_mut(), &self.train.model, self.seed);
    }

    /// Replaces parameters by those of the same path in a safetensors file,
    /// and the model's state tensors (running statistics) by those the file
    /// has.
    pub fn load_params(&mut self, path: &Path) -> Result<()> {
        load_weights(self.step.as_mut(), &self.train.model, path).map_err(RunFailure)
    }

    /// The current parameters, by path, in the model's order.
    pub fn params(&self) -> Vec<(String, Tensor)> {
        let sig = self.step.signature();
        sig.inputs_with(Role::Param)
            .into_iter()
            .map(|i| (sig.inputs[i].name.clone(), self.step.read(i)))
            .collect()
    }

    /// The current value of a resident tensor (a parameter or state) by
    /// name.
    pub fn resident(&self, name: &str) -> Option<Tensor> {
        let i = self.step.signature().input(name)?;
        self.step.signature().inputs[i]
            .role
            .is_resident()
            .then(|| self.step.read(i))
    }

    /// Copies the step's parameters and running statistics into the
    /// evaluation function, which reads the same tensors by the same names.
    pub(super) fn load_eval(&mut self) {
        let sig = self.eval.signature().clone();
        for i in sig.resident() {
            let value = self
                .resident(&sig.inputs[i].name)
                .expect("internal: evaluation reads the step's state");
            self.eval
                .load(i, &value)
                .expect("internal: the same tensor in both functions");
        }
    }

    /// The resident tensors of the step by name, in its calling order.
    fn state(&self) -> Vec<(String, Tensor)> {
        let sig = self.step.signature();
        sig.resident()
            .into_iter()
            .map(|i| (sig.inputs[i].name.clone(), self.step.read(i)))
            .collect()
    }

    /// Saves parameters, optimizer state and the position: `epoch` epochs
    /// done plus `batch` batches of the next one.
    pub(super) fn save(&self, path: &Path, epoch: usize, batch: usize, step: usize) -> Result<()> {
        let state = self.state();
        let tensors: Vec<(String, &Tensor)> = state.iter().map(|(n, t)| (n.clone(), t)).collect();
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "dlc-checkpoint-1".to_string());
        meta.insert("model".to_string(), self.train.model.name.clone());
        meta.insert("signature".to_string(), fingerprint(self.step.as_ref()));
        meta.insert("epoch".to_string(), epoch.to_string());
        meta.insert("batch".to_string(), batch.to_string());
        meta.insert("step".to_string(), step.to_string());
        meta.insert("seed".to_string(), self.seed.to_string());
        checkpoint::save(path, &tensors, &meta).map_err(RunFailure)
    }

    /// Restores parameters, optimizer state and position from a checkpoint
    /// this program wrote; returns `(epochs done, batches done in the next
    /// epoch, steps done)`.
    pub(super) fn resume(&mut self, path: &Path) -> Result<(usize, usize, usize)> {
        if !path.exists() {
            return fail(format!(
                "cannot resume: there is no checkpoint at {}",
                path.display()
            ));
        }
        let ck = checkpoint::load(path).map_err(RunFailure)?;
        let sig = ck.metadata.get("signature").cloned().unwrap_or_default();
        if sig != fingerprint(self.step.as_ref()) {
            return fail(format!(
                "cannot resume from {}: it was written by a different model or optimizer",
                path.display()
            ));
        }
        for (name, t) in ck.tensors {
            if let Some(i) = self.step.signature().input(&name) {
                self.step.load(i, &t).map_err(|e| RunFailure(e.0))?;
            }
        }
        let num = |k: &str| ck.metadata.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((num("epoch"), num("batch"), num("step")))
    }
}

/// Loads `exe`'s resident inputs with their values at the start of a run
/// seeded `seed`: every parameter drawn with its initializer (seeded by its
/// path), optimizer slots 0, a layer's state (running statistics) the value
/// it declares. `dlc bench` starts from the same state.
pub fn initialize(exe: &mut dyn Executable, model: &Model, seed: u64) {
    let sig = exe.signature().clone();
    for i in sig.resident() {
        let spec = &sig.inputs[i];
        let shape = spec
            .ty
            .shape
            .bind(&[])
            .expect("internal: resident inputs have fixed shapes");
        let value = match model.params.iter().find(|p| p.path == spec.name) {
            Some(p) if spec.role == Role::Param => {
                let mut rng = Rng::new(seed, derive(seed, &p.path));
                init_tensor(&p.init, p.ty.dtype, &shape, p.fan_in, p.fan_out, &mut rng)
            }
            _ => {
                let fill = model
                    .states
                    .iter()
                    .find(|s| s.path == spec.name)
                    .map_or(0.0, |s| s.fill);
                Tensor::full(spec.ty.dtype, &shape, fill)
            }
        };
        exe.load(i, &value)
            .expect("internal: an initial value of the input's type");
    }
}

/// Loads `exe`'s parameters from the safetensors file at `path` (each must
/// be there, with the model's shape; a wider or narrower float is cast),
/// and the model's state tensors (running statistics) the file has.
/// Optimizer state is left as it is. `--init`, `dlc eval` and `dlc sample`
/// start from weights this way.
pub fn load_weights(
    exe: &mut dyn Executable,
    model: &Model,
    path: &Path,
) -> std::result::Result<(), String> {
    let ck = checkpoint::load(path)?;
    let sig = exe.signature().clone();
    for i in sig.resident() {
        let spec = &sig.inputs[i];
        let is_param = spec.role == Role::Param;
        if !is_param && !model.states.iter().any(|s| s.path == spec.name) {
            continue; // optimizer state starts afresh
        }
        let Some(found) = ck.tensor(&spec.name) else {
            if is_param {
                return Err(format!("{} has no tensor `{}`", path.display(), spec.name));
            }
            continue;
        };
        let want = spec.ty.shape.bind(&[]).unwrap_or_default();
        if found.shape() != want.as_slice() {
            return Err(format!(
                "{}: `{}` has shape {:?}, but the model needs {:?}",
                path.display(),
                spec.name,
                found.shape(),
                want
            ));
        }
        exe.load(i, &found.cast(spec.ty.dtype)).map_err(|e| e.0)?;
    }
    Ok(())
}

/// A fingerprint of every resident tensor's name and type, stored in
/// checkpoints so a run never resumes from another program's weights.
fn fingerprint(exe: &dyn Executable) -> String {
    let sig = exe.signature();
    let mut h: u64 = 0xcbf29ce484222325;
    for i in sig.resident() {
        let spec = &sig.inputs[i];
        let shape = spec.ty.shape.bind(&[]).unwrap_or_default();
        for b in format!("{}:{:?}{:?};", spec.name, spec.ty.dtype, shape).bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}
