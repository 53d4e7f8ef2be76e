//! Checkpoints: a directory a model can always be read back from, with the format it was
//! trained on.
//!
//! ```text
//! manifest.json        config, text format (with projection), tokenizer, data, training state, metrics
//! model.safetensors    the best weights so far (what scoring and generation load)
//! resume/model.bpk     the latest weights with their parameter ids   } to resume training
//! resume/optimizer.bpk AdamW's moments                                }
//! calibration.json     benign score distributions for these weights (`cyberlm calibrate`)
//! ```
//!
//! Every file is written under a temporary name and renamed into place, manifest last,
//! so a reader never sees a half-written checkpoint.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot, ModuleStore, SafetensorsStore};
use operators::calibration::Calibration;
use operators::pii::{PiiFields, PiiHasher};
use operators::text_format::{TEXT_FORMAT_VERSION, TextFormat};
use serde::{Deserialize, Serialize};

use crate::config::GptConfig;
use crate::deviation::ContextMode;
use crate::gpt::Gpt;
use crate::tokenizer::ByteTokenizer;
use crate::train::TrainConfig;

/// The manifest file of a checkpoint.
pub const MANIFEST: &str = "manifest.json";
/// The published weights of a checkpoint.
pub const WEIGHTS: &str = "model.safetensors";
const RESUME_MODEL: &str = "resume/model.bpk";
const RESUME_OPTIMIZER: &str = "resume/optimizer.bpk";
/// The calibration file's name in a model directory.
pub const CALIBRATION: &str = "calibration.json";
/// What the manifest's `format` field must say.
pub const CHECKPOINT_FORMAT: &str = "cyberlm-model";
/// The manifest layout this build writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// Why a checkpoint could not be written or read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A file could not be read or written. (The I/O error is the source, so the
    /// binary's error chain prints it once.)
    #[error("cannot read or write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not valid JSON of the expected shape.
    #[error(
        "{path} is not a cyberlm model manifest ({reason}); point --model at a directory `cyberlm train` wrote"
    )]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint was written by an incompatible version.
    #[error(
        "{path}: {what} is version {found}, this cyberlm reads version {expected}; retrain the model or use a matching cyberlm"
    )]
    Version {
        /// The manifest file.
        path: PathBuf,
        /// Which version: the manifest's or the text format's.
        what: &'static str,
        /// The version found.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The weights file is missing, corrupt or does not fit the configured model.
    #[error(
        "{path}: the weights cannot be loaded ({reason}); the checkpoint is corrupt or does not match its manifest"
    )]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The model configuration is impossible.
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    /// The calibration is missing, unreadable or for other weights.
    #[error(
        "{path}: {reason}; calibrate the model on benign logs with `cyberlm calibrate --model <dir> <logs>`"
    )]
    Calibration {
        /// The calibration file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Logs would be pseudonymised otherwise than the training logs were.
    #[error("{path}: {what}")]
    Pseudonyms {
        /// The checkpoint directory.
        path: PathBuf,
        /// What differs and what to do.
        what: String,
    },
    /// The model registry could not be read.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// A resume was asked with a different model or different data.
    #[error("{path} holds a run with {what}; train into a new directory or pass the same settings")]
    Mismatch {
        /// The checkpoint directory.
        path: PathBuf,
        /// What differs.
        what: String,
    },
}

/// The tokenizer a model was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    /// `bytes`: UTF-8 bytes plus specials.
    pub kind: String,
    /// Ids in the vocabulary.
    pub vocab_size: usize,
}

/// The data a model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// Hash of the training token streams.
    pub fingerprint: String,
    /// Training logs.
    pub logs: usize,
    /// Training tokens.
    pub tokens: usize,
    /// Held-out validation logs.
    pub validation_logs: usize,
    /// How personal data was pseudonymised before training; `None`: it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonyms: Option<Pseudonyms>,
}

/// The pseudonymisation the training logs went through: the key's id (never the key)
/// and the fields. Logs scored or generated for later must go through the same one, or
/// every user is a stranger to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pseudonyms {
    /// [`PiiHasher::key_id`].
    pub key_id: String,
    /// The fields replaced by pseudonyms.
    pub fields: PiiFields,
    /// [`PiiHasher::SCHEME`]: how they were written. 1 in models trained before it was
    /// recorded.
    #[serde(default = "first_scheme")]
    pub scheme: u32,
}

fn first_scheme() -> u32 {
    1
}

impl Pseudonyms {
    /// What `hasher` does, or `None` without one.
    pub fn of(hasher: Option<&PiiHasher>) -> Option<Self> {
        hasher.map(|hasher| Pseudonyms {
            key_id: hasher.key_id(),
            fields: hasher.fields().clone(),
            scheme: PiiHasher::SCHEME,
        })
    }
}

/// Checks that logs pseudonymised by `hasher` (or left as they are, without one) look
/// like the logs the model in `dir` was trained on; the error says what differs and what
/// to do.
pub fn check_pseudonyms(
    dir: &Path,
    manifest: &Manifest,
    hasher: Option<&PiiHasher>,
) -> Result<(), CheckpointError> {
    match pseudonyms_differ(
        manifest.data.pseudonyms.as_ref(),
        Pseudonyms::of(hasher).as_ref(),
    ) {
        None => Ok(()),
        Some(what) => Err(CheckpointError::Pseudonyms {
            path: dir.to_path_buf(),
            what,
        }),
    }
}

/// What differs between the pseudonymisation a model was `trained` with and the one
/// logs go through `now`, and what to do; `None` where they are the same.
fn pseudonyms_differ(trained: Option<&Pseudonyms>, now: Option<&Pseudonyms>) -> Option<String> {
    let what = match (trained, now) {
        (None, None) => return None,
        (Some(trained), Some(now)) if trained == now => return None,
        (None, Some(_)) => "the model was trained on logs without pseudonyms, but the config \
            pseudonymises [pii.fields]: retrain with this config, or drop [pii.fields]"
            .to_string(),
        (Some(trained), None) => format!(
            "the model was trained on logs pseudonymised under key {}, but the config \
             pseudonymises nothing: give the config with that [pii] section and key",
            trained.key_id
        ),
        (Some(trained), Some(now)) if trained.key_id != now.key_id => format!(
            "the model was trained on logs pseudonymised under key {}, but the key given \
             now is {}: set CYBERLM_PII_KEY or pii.key_file to the training key, or retrain",
            trained.key_id, now.key_id
        ),
        (Some(trained), Some(now)) if trained.fields != now.fields => format!(
            "the model was trained with [pii.fields] {:?}, the config now has {:?}: use the \
             training fields or retrain",
            trained.fields, now.fields
        ),
        (Some(trained), Some(now)) => format!(
            "the model was trained on pseudonyms written the way of scheme {}, this build \
             writes scheme {} (ARNs keep their role, user names are hashed lower-cased): \
             retrain with this build",
            trained.scheme, now.scheme
        ),
    };
    Some(what)
}

/// One evaluation's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Steps done.
    pub step: usize,
    /// Training loss at that step (nats per token).
    pub train_loss: f32,
    /// Validation loss (nats per token).
    pub validation_loss: f32,
    /// Training throughput so far.
    pub tokens_per_second: f64,
}

/// Where a training run stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps done.
    pub step: usize,
    /// Training tokens (non-padding targets) seen.
    pub tokens_seen: u64,
    /// Loss of the last step.
    pub last_train_loss: Option<f32>,
    /// Best validation loss so far: the weights in `model.safetensors`.
    pub best_validation_loss: Option<f32>,
    /// The step the best weights come from.
    pub best_step: usize,
    /// Evaluations since the last improvement.
    pub evals_without_improvement: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Every evaluation.
    pub history: Vec<EvalRecord>,
}

/// `manifest.json`: everything needed to read the weights back the way they were trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Layout version, [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// The model's shape.
    pub model: GptConfig,
    /// The text format and projection.
    pub text_format: TextFormat,
    /// The tokenizer.
    pub tokenizer: TokenizerInfo,
    /// The training data.
    pub data: DataInfo,
    /// The training settings.
    pub training: TrainConfig,
    /// Progress and metrics.
    pub state: TrainState,
}

impl Manifest {
    /// A manifest for the current build's formats.
    pub fn new(
        model: GptConfig,
        text_format: TextFormat,
        data: DataInfo,
        training: TrainConfig,
        state: TrainState,
    ) -> Self {
        Manifest {
            format: CHECKPOINT_FORMAT.to_string(),
            manifest_version: MANIFEST_VERSION,
            model,
            text_format,
            tokenizer: TokenizerInfo {
                kind: "bytes".to_string(),
                vocab_size: ByteTokenizer::VOCAB_SIZE as usize,
            },
            data,
            training,
            state,
        }
    }
}

/// A model read back for scoring or generation.
#[derive(Debug)]
pub struct LoadedModel {
    /// Its manifest.
    pub manifest: Manifest,
    /// The weights, on the requested device, in inference mode.
    pub model: Gpt,
}

/// Reads a checkpoint's best weights onto `device`.
pub fn load(dir: &Path, device: &Device) -> Result<LoadedModel, CheckpointError> {
    let manifest = read_manifest(dir)?;
    let mut model = Gpt::new(&manifest.model, device);
    let path = dir.join(WEIGHTS);
    if !path.is_file() {
        return Err(weights_error(&path, "file not found"));
    }
    load_weights(&mut model, &mut SafetensorsStore::from_file(&path), &path)?;
    Ok(LoadedModel {
        manifest,
        model: model.valid(),
    })
}

/// Writes `model`'s weights to `path` as safetensors, atomically: burn's parameter names
/// (`blocks.0.attention.qkv.weight`, a layer norm's `gamma` and `beta`) and layouts (a
/// linear layer's weight is `[inputs, outputs]`), the file a checkpoint's
/// [`WEIGHTS`] is.
pub fn save_weights(model: &Gpt, path: &Path) -> Result<(), CheckpointError> {
    write_atomically(path, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp).overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|e| weights_error(tmp, e))
    })
}

/// Reads a checkpoint's best weights onto the autodiff `device` to train further, after
/// checking they are of the shape `config` asks for.
pub(crate) fn load_for_training(
    dir: &Path,
    config: &GptConfig,
    device: &Device,
) -> Result<Gpt, CheckpointError> {
    let manifest = read_manifest(dir)?;
    if manifest.model != *config {
        return Err(CheckpointError::Mismatch {
            path: dir.to_path_buf(),
            what: format!(
                "another model shape ({:?}, asked for {:?}) to start from",
                manifest.model, config
            ),
        });
    }
    let mut model = Gpt::new(config, device);
    let path = dir.join(WEIGHTS);
    if !path.is_file() {
        return Err(weights_error(&path, "file not found"));
    }
    load_weights(&mut model, &mut SafetensorsStore::from_file(&path), &path)?;
    Ok(model)
}

/// Reads and checks `manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, CheckpointError> {
    let path = dir.join(MANIFEST);
    let text = fs::read_to_string(&path).map_err(|source| CheckpointError::Io {
        path: path.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| CheckpointError::Manifest {
            path: path.clone(),
            reason: error.to_string(),
        })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(CHECKPOINT_FORMAT) {
        return Err(CheckpointError::Manifest {
            path,
            reason: format!("`format` is not \"{CHECKPOINT_FORMAT}\""),
        });
    }
    let version = value
        .get("manifest_version")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as u32;
    if version != MANIFEST_VERSION {
        return Err(CheckpointError::Version {
            path,
            what: "the manifest",
            found: version,
            expected: MANIFEST_VERSION,
        });
    }
    let manifest: Manifest =
        serde_json::from_value(value).map_err(|error| CheckpointError::Manifest {
            path: path.clone(),
            reason: error.to_string(),
        })?;
    if manifest.text_format.version != TEXT_FORMAT_VERSION {
        return Err(CheckpointError::Version {
            path,
            what: "the text format",
            found: manifest.text_format.version,
            expected: TEXT_FORMAT_VERSION,
        });
    }
    manifest
        .model
        .validate()
        .map_err(|reason| CheckpointError::Manifest { path, reason })?;
    Ok(manifest)
}

/// `calibration.json`: the benign score distributions of one set of weights, and the
/// scoring settings they were measured with (a tail probability means nothing under
/// other settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFile {
    /// Fingerprint of the weights calibrated ([`weights_fingerprint`]).
    pub weights: String,
    /// The context the benign logs were scored with.
    pub context: ContextMode,
    /// The context tokens they were scored with.
    pub context_tokens: usize,
    /// Benign logs scored.
    pub logs: u64,
    /// The distributions.
    pub calibration: Calibration,
}

/// A fingerprint of the published weights (xxh3 of `model.safetensors`), so a
/// calibration is never applied to weights it was not measured on.
pub fn weights_fingerprint(dir: &Path) -> Result<String, CheckpointError> {
    let path = dir.join(WEIGHTS);
    let bytes = fs::read(&path).map_err(|source| CheckpointError::Io { path, source })?;
    Ok(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)))
}

/// Stores a calibration beside the weights it was measured on.
pub fn save_calibration(dir: &Path, file: &CalibrationFile) -> Result<(), CheckpointError> {
    write_json(&dir.join(CALIBRATION), file, |path, reason| {
        CheckpointError::Calibration { path, reason }
    })
}

/// Reads the calibration of the checkpoint in `dir` and checks it is for its weights.
pub fn load_calibration(dir: &Path) -> Result<CalibrationFile, CheckpointError> {
    let path = dir.join(CALIBRATION);
    let error = |reason: String| CheckpointError::Calibration {
        path: path.clone(),
        reason,
    };
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(error("the model has not been calibrated".to_string()));
        }
        Err(source) => return Err(CheckpointError::Io { path, source }),
    };
    let file: CalibrationFile = serde_json::from_str(&text).map_err(|e| {
        error(format!(
            "not a calibration this version of cyberlm reads ({e}); run `cyberlm calibrate` again"
        ))
    })?;
    if file.weights != weights_fingerprint(dir)? {
        return Err(error(
            "it was measured on other weights (the model was retrained since)".to_string(),
        ));
    }
    Ok(file)
}

/// Writes a checkpoint: the resume state always, the published weights when `best`.
pub(crate) fn save(
    dir: &Path,
    manifest: &Manifest,
    model: &Gpt,
    optimizer: &ModuleOptimizer,
    best: bool,
) -> Result<(), CheckpointError> {
    let resume = dir.join("resume");
    fs::create_dir_all(&resume).map_err(|source| CheckpointError::Io {
        path: resume,
        source,
    })?;

    let resume_model = dir.join(RESUME_MODEL);
    write_atomically(&resume_model, |tmp| {
        let mut store = BurnpackStore::from_file(tmp)
            .overwrite(true)
            .auto_extension(false);
        model
            .save_into(&mut store)
            .map_err(|e| weights_error(tmp, e))
    })?;
    let resume_optimizer = dir.join(RESUME_OPTIMIZER);
    write_atomically(&resume_optimizer, |tmp| {
        optimizer.save(tmp).map_err(|e| weights_error(tmp, e))
    })?;
    if best {
        save_weights(&model.valid(), &dir.join(WEIGHTS))?;
    }
    write_json(&dir.join(MANIFEST), manifest, |path, reason| {
        CheckpointError::Manifest { path, reason }
    })
}

/// Writes `value` as pretty JSON, atomically; `invalid` names a value that does not
/// serialise.
fn write_json(
    path: &Path,
    value: &impl Serialize,
    invalid: impl FnOnce(PathBuf, String) -> CheckpointError,
) -> Result<(), CheckpointError> {
    write_atomically(path, |tmp| {
        let text = serde_json::to_string_pretty(value)
            .map_err(|error| invalid(tmp.to_path_buf(), error.to_string()))?;
        fs::write(tmp, text).map_err(|source| CheckpointError::Io {
            path: tmp.to_path_buf(),
            source,
        })
    })
}

/// The latest training state in `dir`, if a run was checkpointed there.
pub(crate) fn load_training_state(
    dir: &Path,
    device: &Device,
    optimizer: ModuleOptimizer,
) -> Result<Option<(Manifest, Gpt, ModuleOptimizer)>, CheckpointError> {
    if !dir.join(MANIFEST).is_file() {
        return Ok(None);
    }
    let manifest = read_manifest(dir)?;
    let mut model = Gpt::new(&manifest.model, device);
    let model_path = dir.join(RESUME_MODEL);
    let mut store = BurnpackStore::from_file(&model_path).auto_extension(false);
    load_weights(&mut model, &mut store, &model_path)?;
    let optimizer_path = dir.join(RESUME_OPTIMIZER);
    let optimizer = optimizer
        .load(&optimizer_path)
        .map_err(|error| weights_error(&optimizer_path, error))?;
    Ok(Some((manifest, model, optimizer)))
}

/// A resume must continue the same model on the same data, read the same way.
pub(crate) fn check_resumable(
    dir: &Path,
    manifest: &Manifest,
    model: &GptConfig,
    text_format: &TextFormat,
    data: &DataInfo,
) -> Result<(), CheckpointError> {
    let mismatch = |what: String| CheckpointError::Mismatch {
        path: dir.to_path_buf(),
        what,
    };
    if manifest.model != *model {
        return Err(mismatch(format!(
            "another model shape ({:?})",
            manifest.model
        )));
    }
    if manifest.data.fingerprint != data.fingerprint {
        return Err(mismatch(format!(
            "other training data (fingerprint {} here, {} now)",
            manifest.data.fingerprint, data.fingerprint
        )));
    }
    if manifest.text_format != *text_format {
        // Same tokens, other windows (a build that pins headers resuming an older run).
        return Err(mismatch(
            "another text format (trained by another cyberlm version: train afresh)".into(),
        ));
    }
    Ok(())
}

fn weights_error(path: &Path, reason: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Weights {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Loads `model`'s weights from `store` (read from `path`); a tensor that is missing or
/// does not fit is an error, not a silently half-loaded model.
fn load_weights<S: ModuleStore>(
    model: &mut Gpt,
    store: &mut S,
    path: &Path,
) -> Result<(), CheckpointError> {
    let applied = model
        .load_from(store)
        .map_err(|error| weights_error(path, error))?;
    if !applied.errors.is_empty() {
        return Err(weights_error(path, format!("{:?}", applied.errors)));
    }
    if !applied.missing.is_empty() {
        let missing: Vec<&String> = applied.missing.iter().map(|(name, _)| name).collect();
        return Err(weights_error(path, format!("missing tensors {missing:?}")));
    }
    Ok(())
}

fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), CheckpointError>,
) -> Result<(), CheckpointError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write(&tmp)?;
    fs::rename(&tmp, path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_of_pseudonyms_written_another_way_is_told_to_retrain() {
        let hasher = PiiHasher::new(b"0123456789abcdef0123", PiiFields::default()).unwrap();
        let now = Pseudonyms::of(Some(&hasher)).unwrap();
        assert_eq!(pseudonyms_differ(Some(&now), Some(&now)), None);
        // A manifest from before the scheme was recorded.
        let mut recorded = serde_json::to_value(&now).unwrap();
        recorded.as_object_mut().unwrap().remove("scheme");
        let older: Pseudonyms = serde_json::from_value(recorded).unwrap();
        assert_eq!(older.scheme, 1);
        let what = pseudonyms_differ(Some(&older), Some(&now)).unwrap();
        assert!(
            what.contains("scheme 1") && what.contains("retrain"),
            "{what}"
        );
        assert!(pseudonyms_differ(None, Some(&now)).is_some());
    }
}
