//! The training loop of the `head` mode: checkpoints, resume, early stopping, final evaluation.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::EMBEDDING_DIM;
use crate::cache::CacheStats;
use crate::data::{EmbeddedSet, Split};
use crate::error::{TrainError, io_err};
use crate::head::{Head, HeadConfig};
use crate::openset::{OpenSetCalibration, argmax, calibrate_open_set, softmax};

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A classifier head on frozen SFace embeddings.
    #[default]
    Head,
    /// SFace's last stages fine-tuned together with the head, on augmented crops.
    Finetune,
}

impl Mode {
    /// `head` or `finetune`, as in settings and cards.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Head => "head",
            Mode::Finetune => "finetune",
        }
    }
}

/// Where training runs. GPU backends are cargo features of `issc-train` (and of the `issc` binary): `cuda`
/// (NVIDIA, CUDA driver loaded at run time) and `wgpu` (Vulkan / Metal / DX12 through wgpu).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TrainDevice {
    /// burn's pure-Rust `flex` CPU backend (always available).
    #[default]
    Cpu,
    /// CUDA GPU 0 (feature `cuda`).
    Cuda,
    /// The default wgpu adapter (feature `wgpu`).
    Wgpu,
}

/// Float precision of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats everywhere.
    #[default]
    F32,
    /// Half precision on the GPU (the device's default float type; checkpoints and exports stay f32).
    F16,
    /// bfloat16 on the GPU.
    Bf16,
}

impl TrainDevice {
    /// The burn device (without autodiff), configured for `precision`.
    pub fn burn_device(self, precision: Precision) -> Result<Device, TrainError> {
        if self == TrainDevice::Cpu {
            if precision != Precision::F32 {
                return Err(TrainError::Options(
                    "train setting precision = f16/bf16 needs a GPU device (device = cuda or wgpu); the CPU trains in f32".into(),
                ));
            }
            return Ok(Device::flex());
        }
        gpu_device(self, precision)
    }
}

fn not_built(kind: TrainDevice) -> TrainError {
    let name = if kind == TrainDevice::Cuda { "cuda" } else { "wgpu" };
    TrainError::Unsupported(format!(
        "--device {name}: this build has no {name} backend; rebuild with `cargo build --release --features {name}` \
         (see the issc-train README)"
    ))
}

#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn gpu_device(kind: TrainDevice, precision: Precision) -> Result<Device, TrainError> {
    let mut device = match kind {
        #[cfg(feature = "cuda")]
        TrainDevice::Cuda => Device::cuda(0),
        #[cfg(feature = "wgpu")]
        TrainDevice::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        other => return Err(not_built(other)),
    };
    let dtype = match precision {
        Precision::F32 => burn::tensor::FloatDType::F32,
        Precision::F16 => burn::tensor::FloatDType::F16,
        Precision::Bf16 => burn::tensor::FloatDType::BF16,
    };
    device
        .configure(burn::tensor::DeviceConfig::default().float_dtype(dtype))
        .map_err(|e| TrainError::Options(format!("train setting precision = {precision:?} on this device: {e:?}")))?;
    Ok(device)
}

#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
fn gpu_device(kind: TrainDevice, _precision: Precision) -> Result<Device, TrainError> {
    Err(not_built(kind))
}

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// What is trained.
    pub mode: Mode,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Stop after this many epochs without a lower validation loss.
    pub patience: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Mini-batch size.
    pub batch: usize,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// Hidden units of an MLP head; `None` for a linear head.
    pub hidden: Option<usize>,
    /// Fine-tuning: how many of SFace's 15 stages (from the end) are trained.
    pub unfreeze: usize,
    /// Fine-tuning: the backbone's learning rate is `lr × backbone_lr_scale`.
    pub backbone_lr_scale: f64,
    /// Fine-tuning: random flips, small shifts, rotations and scale, brightness and contrast jitter.
    pub augment: bool,
    /// Where to train.
    #[serde(skip)]
    pub device: TrainDevice,
    /// Float precision (GPU only).
    #[serde(skip)]
    pub precision: Precision,
    /// Continue the run in the output folder from its last checkpoint.
    #[serde(skip)]
    pub resume: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Head,
            epochs: 500,
            patience: 20,
            lr: 5e-2,
            weight_decay: 1e-4,
            batch: 32,
            seed: 42,
            hidden: None,
            unfreeze: 2,
            backbone_lr_scale: 0.01,
            augment: true,
            device: TrainDevice::Cpu,
            precision: Precision::F32,
            resume: false,
        }
    }
}

impl TrainOptions {
    /// Defaults suited to `mode` (fine-tuning runs far fewer, far slower epochs at a lower learning rate).
    pub fn for_mode(mode: Mode) -> Self {
        match mode {
            Mode::Head => Self::default(),
            Mode::Finetune => Self { mode, epochs: 30, patience: 6, lr: 1e-2, batch: 16, ..Self::default() },
        }
    }

    fn unfreeze_for_config(&self) -> Option<usize> {
        (self.mode == Mode::Finetune).then_some(self.unfreeze)
    }

    fn backbone_lr_scale_for_config(&self) -> Option<f64> {
        (self.mode == Mode::Finetune).then_some(self.backbone_lr_scale)
    }

    fn augment_for_config(&self) -> Option<bool> {
        (self.mode == Mode::Finetune).then_some(self.augment)
    }
}

impl TrainOptions {
    /// Check every value; the error names the setting (`unfreeze`, `epochs`, ...) and its rule.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Options(m.to_string()));
        if self.mode == Mode::Finetune && self.unfreeze == 0 {
            return bad("unfreeze must be at least 1 (0 trains nothing of SFace: train the head only)");
        }
        if !(self.backbone_lr_scale.is_finite() && self.backbone_lr_scale > 0.0) {
            return bad("backbone_lr_scale must be a positive number");
        }
        if self.epochs == 0 {
            return bad("epochs must be at least 1");
        }
        if self.patience == 0 {
            return bad("patience must be at least 1");
        }
        if self.batch == 0 {
            return bad("batch must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr must be a positive number");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay must be >= 0");
        }
        if self.hidden == Some(0) {
            return bad("hidden must be at least 1");
        }
        Ok(())
    }
}

/// One epoch's figures, as in `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training mini-batches.
    pub train_loss: f64,
    /// Share of training rows classified correctly during the epoch.
    pub train_accuracy: f64,
    /// Cross-entropy on the validation split after the epoch.
    pub val_loss: f64,
    /// Validation accuracy after the epoch.
    pub val_accuracy: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// The outcome of a training run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// The run folder.
    pub out: PathBuf,
    /// Epochs completed (including those before a resume).
    pub epochs: usize,
    /// Epoch of the best (lowest validation loss) model.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Epoch the run resumed after, if it did.
    pub resumed_from: Option<usize>,
    /// Validation loss of the best model.
    pub val_loss: f64,
    /// Validation accuracy of the best model.
    pub val_accuracy: f64,
    /// Test accuracy of the best model (NaN without test rows).
    pub test_accuracy: f64,
    /// Test rows.
    pub test_faces: usize,
    /// Mean seconds per epoch run in this call.
    pub seconds_per_epoch: f64,
    /// Open-set rejection thresholds.
    pub open_set: OpenSetCalibration,
    /// Embedding cache use.
    pub cache: CacheStats,
}

/// `config.json`: what a resumed run must share with the run it continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunConfig {
    mode: Mode,
    patience: usize,
    lr: f64,
    weight_decay: f64,
    batch: usize,
    seed: u64,
    head: HeadConfig,
    /// Fine-tuning only: trainable SFace stages, backbone learning-rate factor, augmentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unfreeze: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backbone_lr_scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    augment: Option<bool>,
    dataset_fingerprint: String,
    labels: Vec<String>,
    /// Not compared: a resume may extend the run.
    epochs: usize,
    data: String,
}

/// The settings of the training run in `run` that differ from `opts` on the dataset with `fingerprint` (`epochs`
/// may differ: a resume extends a run): empty when a resume may continue it; `None` when `run` holds no readable
/// `config.json`.
pub fn settings_differences(run: &Path, opts: &TrainOptions, fingerprint: &str) -> Option<Vec<&'static str>> {
    let old: RunConfig = read_json(&run.join(CONFIG)).ok()?;
    let asked = RunConfig {
        head: HeadConfig { hidden: opts.hidden, ..old.head },
        dataset_fingerprint: fingerprint.to_string(),
        labels: old.labels.clone(),
        ..RunConfig::new(opts, &old.head, &old.labels, fingerprint, &old.data)
    };
    Some(old.differences(&asked))
}

impl RunConfig {
    fn new(opts: &TrainOptions, head: &HeadConfig, labels: &[String], fingerprint: &str, data: &str) -> Self {
        RunConfig {
            mode: opts.mode,
            patience: opts.patience,
            lr: opts.lr,
            weight_decay: opts.weight_decay,
            batch: opts.batch,
            seed: opts.seed,
            head: *head,
            unfreeze: opts.unfreeze_for_config(),
            backbone_lr_scale: opts.backbone_lr_scale_for_config(),
            augment: opts.augment_for_config(),
            dataset_fingerprint: fingerprint.to_string(),
            labels: labels.to_vec(),
            epochs: opts.epochs,
            data: data.to_string(),
        }
    }

    fn differences(&self, other: &RunConfig) -> Vec<&'static str> {
        let mut d = vec![];
        let checks: [(&'static str, bool); 11] = [
            ("mode", self.mode == other.mode),
            ("patience", self.patience == other.patience),
            ("lr", self.lr == other.lr),
            ("weight_decay", self.weight_decay == other.weight_decay),
            ("batch", self.batch == other.batch),
            ("seed", self.seed == other.seed),
            ("head (hidden)", self.head == other.head),
            ("unfreeze", self.unfreeze == other.unfreeze),
            ("backbone_lr_scale", self.backbone_lr_scale == other.backbone_lr_scale),
            ("augment", self.augment == other.augment),
            ("dataset (dataset.json fingerprint / labels)", {
                self.dataset_fingerprint == other.dataset_fingerprint && self.labels == other.labels
            }),
        ];
        for (name, same) in checks {
            if !same {
                d.push(name);
            }
        }
        d
    }
}

/// The loop's state after an epoch, saved beside each checkpoint (with that epoch's metrics only, so the
/// checkpoints grow linearly; a resume reads the earlier epochs' metrics from their own state files).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LoopState {
    epoch: usize,
    best_epoch: usize,
    best_val_loss: f64,
    bad_epochs: usize,
    stopped_early: bool,
    #[serde(skip)]
    metrics: Vec<EpochMetrics>,
}

/// What `checkpoints/epoch-NNNN.state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CheckpointState {
    #[serde(flatten)]
    state: LoopState,
    metrics: EpochMetrics,
}

pub(crate) const CONFIG: &str = "config.json";
pub(crate) const CHECKPOINTS: &str = "checkpoints";

pub(crate) fn checkpoint_paths(out: &Path, epoch: usize) -> [PathBuf; 3] {
    let base = out.join(CHECKPOINTS).join(format!("epoch-{epoch:04}"));
    [base.with_extension("model.bpk"), base.with_extension("optim.bpk"), base.with_extension("state.json")]
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let mut text = serde_json::to_vec_pretty(value)
        .map_err(|e| TrainError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) })?;
    text.push(b'\n');
    issc_core::write_atomic(path, &text).map_err(io_err(path))
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, TrainError> {
    let text = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&text).map_err(|e| TrainError::Run {
        path: path.to_path_buf(),
        reason: format!("not a valid file of this run ({e}); remove the run folder and train again"),
    })
}

fn record_err(path: &Path) -> impl FnOnce(burn::store::RecordError) -> TrainError + '_ {
    move |e| TrainError::Record { path: path.to_path_buf(), reason: e.to_string() }
}

pub(crate) fn save_model<M: Module>(model: &M, path: &Path) -> Result<(), TrainError> {
    let bytes = model.clone().into_record().into_bytes().map_err(record_err(path))?;
    issc_core::write_atomic(path, &bytes).map_err(io_err(path))
}

pub(crate) fn load_model<M: Module>(model: M, path: &Path) -> Result<M, TrainError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(record_err(path))?;
    model.try_load_record(record).map_err(record_err(path))
}

pub(crate) fn save_optim(optim: &ModuleOptimizer, path: &Path) -> Result<(), TrainError> {
    let bytes = optim.into_bytes().map_err(record_err(path))?;
    issc_core::write_atomic(path, &bytes).map_err(io_err(path))
}

pub(crate) fn load_optim(optim: ModuleOptimizer, path: &Path) -> Result<ModuleOptimizer, TrainError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    optim.from_bytes(Bytes::from_bytes_vec(bytes)).map_err(record_err(path))
}

/// The last complete checkpoint (all three files present) in `out`.
pub(crate) fn last_checkpoint(out: &Path) -> Option<usize> {
    let dir = out.join(CHECKPOINTS);
    let mut best = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(n) = name.strip_prefix("epoch-").and_then(|r| r.strip_suffix(".state.json")) else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        if checkpoint_paths(out, n).iter().all(|p| p.is_file()) && best.is_none_or(|b| n > b) {
            best = Some(n);
        }
    }
    best
}

/// Logits `[n, c]` of a split, row-major.
fn logits(model: &Head, split: &Split, device: &Device) -> Vec<f32> {
    if split.is_empty() {
        return vec![];
    }
    let x = Tensor::<2>::from_data(TensorData::new(split.x.clone(), [split.len(), EMBEDDING_DIM]), device);
    model.forward(x).into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

/// Mean cross-entropy and accuracy of `logits` against `y`.
pub(crate) fn loss_accuracy(logits: &[f32], y: &[usize], classes: usize) -> (f64, f64) {
    if y.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (i, &t) in y.iter().enumerate() {
        let l = &logits[i * classes..(i + 1) * classes];
        let p = softmax(l);
        loss -= f64::from(p[t].max(1e-12)).ln();
        correct += usize::from(argmax(l) == t);
    }
    (loss / y.len() as f64, correct as f64 / y.len() as f64)
}

/// Mean training embedding of each class, L2-normalised: `[c, dim]`.
pub(crate) fn centroids(x: &[f32], y: &[usize], classes: usize) -> Vec<f32> {
    let mut c = vec![0f64; classes * EMBEDDING_DIM];
    for (i, &k) in y.iter().enumerate() {
        for (j, v) in x[i * EMBEDDING_DIM..(i + 1) * EMBEDDING_DIM].iter().enumerate() {
            c[k * EMBEDDING_DIM + j] += f64::from(*v);
        }
    }
    let mut out = vec![0f32; c.len()];
    for k in 0..classes {
        let row = &c[k * EMBEDDING_DIM..(k + 1) * EMBEDDING_DIM];
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        for j in 0..EMBEDDING_DIM {
            out[k * EMBEDDING_DIM + j] = (row[j] / norm) as f32;
        }
    }
    out
}

/// Which split a [`Learner`] evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Train,
    Val,
    Test,
}

/// The labels, classes and file names of a dataset's splits: what the training loop needs besides the model.
pub(crate) struct RunData<'a> {
    pub labels: &'a [String],
    pub train_y: &'a [usize],
    pub val_y: &'a [usize],
    pub test_y: &'a [usize],
    pub test_paths: &'a [String],
    pub fingerprint: &'a str,
    pub root: &'a Path,
    pub cache: CacheStats,
}

/// A model and its optimiser(s), as the training loop drives them.
pub(crate) trait Learner {
    /// One optimisation step on training rows `batch` of `epoch`: the summed loss and the batch's logits.
    fn step(&mut self, batch: &[usize], epoch: usize, lr: f64) -> Result<(f64, Vec<f32>), TrainError>;
    /// Unit embeddings `[n, 128]` and logits `[n, c]` of a split under the current model (no augmentation).
    fn evaluate(&self, which: Which) -> Result<(Vec<f32>, Vec<f32>), TrainError>;
    /// Write the model and optimiser state of a checkpoint.
    fn save(&self, model: &Path, optim: &Path) -> Result<(), TrainError>;
    /// Read them back (resume).
    fn restore(&mut self, model: &Path, optim: &Path) -> Result<(), TrainError>;
    /// Replace the model's weights with a checkpoint's (the best epoch), for the final evaluation.
    fn load_weights(&mut self, model: &Path) -> Result<(), TrainError>;
    /// Other files a checkpoint has (removed with it).
    fn extra_checkpoint_files(&self, _model: &Path) -> Vec<PathBuf> {
        vec![]
    }
    /// Whether checkpoints other than the last and the best are pruned (large models).
    fn prune_checkpoints(&self) -> bool {
        false
    }
    /// The head, and what `model.json` says about the backbone (fine-tuning only).
    fn card(&self) -> (HeadConfig, Option<serde_json::Value>);
}

/// The head learner: a [`Head`] over cached embeddings.
struct HeadLearner<'a> {
    set: &'a EmbeddedSet,
    model: Head,
    optim: ModuleOptimizer,
    device: Device,
    head: HeadConfig,
    classes: usize,
}

impl Learner for HeadLearner<'_> {
    fn step(&mut self, batch: &[usize], _epoch: usize, lr: f64) -> Result<(f64, Vec<f32>), TrainError> {
        let (b, classes) = (batch.len(), self.classes);
        let mut xs = Vec::with_capacity(b * EMBEDDING_DIM);
        let mut onehot = vec![0f32; b * classes];
        for (r, &i) in batch.iter().enumerate() {
            xs.extend_from_slice(self.set.train.row(i));
            onehot[r * classes + self.set.train.y[i]] = 1.0;
        }
        let x = Tensor::<2>::from_data(TensorData::new(xs, [b, EMBEDDING_DIM]), &self.device);
        let target = Tensor::<2>::from_data(TensorData::new(onehot, [b, classes]), &self.device);
        let logits = self.model.forward(x);
        let logp = burn::tensor::activation::log_softmax(logits.clone(), 1);
        let loss = (logp * target).sum_dim(1).mean().neg();
        let batch_logits = logits.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
        let loss_sum = f64::from(loss.clone().into_scalar::<f32>()) * b as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        Ok((loss_sum, batch_logits))
    }

    fn evaluate(&self, which: Which) -> Result<(Vec<f32>, Vec<f32>), TrainError> {
        let split = match which {
            Which::Train => &self.set.train,
            Which::Val => &self.set.val,
            Which::Test => &self.set.test,
        };
        let valid = self.model.valid();
        Ok((split.x.clone(), logits(&valid, split, &self.device.clone().inner())))
    }

    fn save(&self, model: &Path, optim: &Path) -> Result<(), TrainError> {
        save_model(&self.model, model)?;
        save_optim(&self.optim, optim)
    }

    fn restore(&mut self, model: &Path, optim: &Path) -> Result<(), TrainError> {
        self.model = load_model(self.model.clone(), model)?;
        self.optim = load_optim(self.optim.clone(), optim)?;
        Ok(())
    }

    fn load_weights(&mut self, model: &Path) -> Result<(), TrainError> {
        self.model = load_model(self.model.clone(), model)?;
        Ok(())
    }

    fn card(&self) -> (HeadConfig, Option<serde_json::Value>) {
        (self.head, None)
    }
}

/// Train a classifier head on `set`, writing the run to `out`:
///
/// - `config.json`, `labels.json`;
/// - `checkpoints/epoch-NNNN.{model.bpk,optim.bpk,state.json}` after every epoch (model, AdamW state, loop
///   state: `--resume` continues bit-identically);
/// - `metrics.json` (per epoch: train/val loss and accuracy, lr, seconds), rewritten after every epoch, and
///   `curves.png` (loss and accuracy over the epochs, with the best epoch marked);
/// - `best/` (`model.bpk`, `labels.json`, `head.json`): the model of the lowest validation loss;
/// - `test.json` (test accuracy, confusion matrix), `confusion.png` (the matrix drawn, when there are test
///   faces) and `model.json` (model card: labels, head, open-set thresholds, class centroids, metrics, training
///   settings).
///
/// Every file is written atomically. `on_epoch` is called after each epoch.
pub fn train_head(
    set: &EmbeddedSet,
    out: &Path,
    opts: &TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<TrainReport, TrainError> {
    opts.validate()?;
    if opts.mode != Mode::Head {
        return Err(TrainError::Options("train_head trains mode = head only; see train_finetune".into()));
    }
    let classes = set.labels.len();
    check_sizes(&set.root, classes, set.train.len(), set.val.len())?;
    let head = HeadConfig { input: EMBEDDING_DIM, hidden: opts.hidden, classes };
    let device = opts.device.burn_device(opts.precision)?.autodiff();
    let mut init_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    init_rng.set_stream(u64::MAX);
    let model = Head::new(&head, &mut init_rng, &device);
    let optim = AdamWConfig::new().with_weight_decay(opts.weight_decay as f32).init();
    let mut learner = HeadLearner { set, model, optim, device, head, classes };
    let data = RunData {
        labels: &set.labels,
        train_y: &set.train.y,
        val_y: &set.val.y,
        test_y: &set.test.y,
        test_paths: &set.test.paths,
        fingerprint: &set.fingerprint,
        root: &set.root,
        cache: set.cache,
    };
    run_training(&mut learner, &data, head, out, opts, on_epoch)
}

/// At least two classes, training and validation rows.
pub(crate) fn check_sizes(root: &Path, classes: usize, train: usize, val: usize) -> Result<(), TrainError> {
    if classes < 2 || train == 0 || val == 0 {
        return Err(TrainError::Dataset {
            path: root.to_path_buf(),
            reason: format!(
                "needs at least 2 labels and training and validation crops (have {classes} labels, {train} train, \
                 {val} val)"
            ),
        });
    }
    Ok(())
}

/// The training loop shared by every mode: config and resume checks, epochs with seeded shuffles, early stopping,
/// a checkpoint per epoch, then the best model's evaluation, open-set calibration and the run's files.
pub(crate) fn run_training(
    learner: &mut dyn Learner,
    data: &RunData<'_>,
    head_cfg: HeadConfig,
    out: &Path,
    opts: &TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<TrainReport, TrainError> {
    let classes = data.labels.len();
    let config = RunConfig::new(opts, &head_cfg, data.labels, data.fingerprint, &data.root.display().to_string());
    let config_path = out.join(CONFIG);
    let existing = config_path.is_file() || out.join(CHECKPOINTS).is_dir();
    if existing && !opts.resume {
        return Err(TrainError::Run {
            path: out.to_path_buf(),
            reason: "already holds a training run; resume it (the resume option), or train into another folder".into(),
        });
    }
    if opts.resume && config_path.is_file() {
        let old: RunConfig = read_json(&config_path)?;
        let diff = old.differences(&config);
        if !diff.is_empty() {
            return Err(TrainError::Run {
                path: config_path.clone(),
                reason: format!(
                    "resuming with different settings than the run ({}); resume with the same settings (only \
                     epochs may change), or train into another folder",
                    diff.join(", ")
                ),
            });
        }
    }
    write_json(&config_path, &config)?;
    write_json(&out.join("labels.json"), &data.labels)?;

    let mut state = LoopState {
        epoch: 0,
        best_epoch: 0,
        best_val_loss: f64::MAX,
        bad_epochs: 0,
        stopped_early: false,
        metrics: vec![],
    };
    let mut resumed_from = None;
    if opts.resume
        && let Some(n) = last_checkpoint(out)
    {
        let [m, o, s] = checkpoint_paths(out, n);
        learner.restore(&m, &o)?;
        let last: CheckpointState = read_json(&s)?;
        state = last.state;
        for e in 1..n {
            let p = checkpoint_paths(out, e)[2].clone();
            if !p.is_file() {
                return Err(TrainError::Run {
                    path: p,
                    reason: "missing: the metrics of every earlier epoch are needed to resume; train again".into(),
                });
            }
            let earlier: CheckpointState = read_json(&p)?;
            state.metrics.push(earlier.metrics);
        }
        state.metrics.push(last.metrics);
        resumed_from = Some(n);
        tracing::info!("resuming {} after epoch {n}", out.display());
    }

    let n = data.train_y.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut seconds = 0.0;
    let mut run_epochs = 0usize;
    while state.epoch < opts.epochs && !state.stopped_early {
        let epoch = state.epoch + 1;
        let started = Instant::now();
        // The shuffle of epoch e depends only on (seed, e): a resumed run draws the same batches.
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(epoch as u64);
        order.sort_unstable();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for batch in order.chunks(opts.batch) {
            let (loss, batch_logits) = learner.step(batch, epoch, opts.lr)?;
            for (r, &i) in batch.iter().enumerate() {
                correct += usize::from(argmax(&batch_logits[r * classes..(r + 1) * classes]) == data.train_y[i]);
            }
            loss_sum += loss;
        }
        let (_, val_logits) = learner.evaluate(Which::Val)?;
        let (val_loss, val_accuracy) = loss_accuracy(&val_logits, data.val_y, classes);
        let secs = started.elapsed().as_secs_f64();
        let m = EpochMetrics {
            epoch,
            train_loss: loss_sum / n as f64,
            train_accuracy: correct as f64 / n as f64,
            val_loss,
            val_accuracy,
            lr: opts.lr,
            seconds: secs,
        };
        state.epoch = epoch;
        let previous_best = state.best_epoch;
        if val_loss < state.best_val_loss {
            state.best_val_loss = val_loss;
            state.best_epoch = epoch;
            state.bad_epochs = 0;
        } else {
            state.bad_epochs += 1;
            state.stopped_early = state.bad_epochs >= opts.patience;
        }
        state.metrics.push(m.clone());
        let [mp, op, sp] = checkpoint_paths(out, epoch);
        learner.save(&mp, &op)?;
        // Last: its presence marks the checkpoint complete.
        write_json(&sp, &CheckpointState { state: state.clone(), metrics: m.clone() })?;
        write_json(&out.join("metrics.json"), &metrics_json(&state))?;
        if learner.prune_checkpoints() {
            // Keep the weights of the last epoch (resume) and the best one; every state.json stays (metrics).
            for e in [epoch - 1, previous_best] {
                if e >= 1 && e != state.best_epoch && e != epoch {
                    let [m, o, _] = checkpoint_paths(out, e);
                    let mut files = vec![m.clone(), o];
                    files.extend(learner.extra_checkpoint_files(&m));
                    for f in files {
                        let _ = std::fs::remove_file(f);
                    }
                }
            }
        }
        seconds += secs;
        run_epochs += 1;
        on_epoch(&m);
    }
    write_json(&out.join("metrics.json"), &metrics_json(&state))?;
    crate::plot::write_curves_png(&out.join("curves.png"), &state.metrics, state.best_epoch)?;

    // The best model, evaluated.
    let best_path = checkpoint_paths(out, state.best_epoch)[0].clone();
    learner.load_weights(&best_path)?;
    let best_bytes = std::fs::read(&best_path).map_err(io_err(&best_path))?;
    let best_dir = out.join("best");
    issc_core::write_atomic(&best_dir.join("model.bpk"), &best_bytes).map_err(io_err(&best_dir))?;
    write_json(&best_dir.join("labels.json"), &data.labels)?;
    write_json(&best_dir.join("head.json"), &head_cfg)?;

    let (val_x, val_logits) = learner.evaluate(Which::Val)?;
    let (val_loss, val_accuracy) = loss_accuracy(&val_logits, data.val_y, classes);
    let (_, test_logits) = learner.evaluate(Which::Test)?;
    let (test_loss, test_accuracy) = loss_accuracy(&test_logits, data.test_y, classes);
    let mut confusion = vec![vec![0usize; classes]; classes];
    let mut mistakes = vec![];
    for (i, &t) in data.test_y.iter().enumerate() {
        let p = argmax(&test_logits[i * classes..(i + 1) * classes]);
        confusion[t][p] += 1;
        if p != t {
            mistakes.push(serde_json::json!({
                "file": data.test_paths[i], "label": data.labels[t], "predicted": data.labels[p],
            }));
        }
    }
    write_json(
        &out.join("test.json"),
        &serde_json::json!({
            "faces": data.test_y.len(),
            "accuracy": test_accuracy,
            "loss": test_loss,
            "confusion_matrix": { "labels": data.labels, "rows": "true label", "columns": "predicted label",
                                  "matrix": confusion },
            "mistakes": mistakes,
            "best_epoch": state.best_epoch,
        }),
    )?;
    if !data.test_y.is_empty() {
        crate::plot::write_confusion_png(&out.join("confusion.png"), data.labels, &confusion)?;
    }

    let (train_x, _) = learner.evaluate(Which::Train)?;
    let cents = centroids(&train_x, data.train_y, classes);
    let open_set = calibrate_open_set(&val_logits, &val_x, data.val_y, &cents, classes);
    let (head, backbone) = learner.card();
    let card = crate::TrainCard {
        format: crate::card::CARD_FORMAT.into(),
        issc_train_version: env!("CARGO_PKG_VERSION").into(),
        mode: opts.mode,
        embedder: crate::card::EmbedderSpec {
            name: "sface".into(),
            dim: EMBEDDING_DIM,
            input: [3, 112, 112],
            verification_threshold: issc_detect::SFACE_THRESHOLD,
        },
        labels: data.labels.to_vec(),
        open_set: open_set.clone(),
        centroids: data
            .labels
            .iter()
            .enumerate()
            .map(|(k, l)| (l.clone(), cents[k * EMBEDDING_DIM..(k + 1) * EMBEDDING_DIM].to_vec()))
            .collect(),
        metrics: crate::card::RunMetrics {
            best_epoch: state.best_epoch,
            epochs: state.epoch,
            stopped_early: state.stopped_early,
            val_loss,
            val_accuracy,
            val_faces: data.val_y.len(),
            test_accuracy,
            test_faces: data.test_y.len(),
            train_faces: data.train_y.len(),
            seconds_per_epoch: state.metrics.iter().map(|m| m.seconds).sum::<f64>() / state.metrics.len().max(1) as f64,
        },
        training: crate::card::TrainingRecord {
            epochs: opts.epochs,
            patience: opts.patience,
            lr: opts.lr,
            weight_decay: opts.weight_decay,
            batch: opts.batch,
            seed: opts.seed,
            optimizer: "AdamW".into(),
            loss: "softmax cross-entropy".into(),
            dataset: data.root.display().to_string(),
            dataset_fingerprint: data.fingerprint.to_string(),
        },
        head,
        weights: "best/model.bpk".into(),
        backbone,
    };
    card.write(out)?;

    Ok(TrainReport {
        out: out.to_path_buf(),
        epochs: state.epoch,
        best_epoch: state.best_epoch,
        stopped_early: state.stopped_early,
        resumed_from,
        val_loss,
        val_accuracy,
        test_accuracy,
        test_faces: data.test_y.len(),
        seconds_per_epoch: if run_epochs > 0 { seconds / run_epochs as f64 } else { 0.0 },
        open_set,
        cache: data.cache,
    })
}

pub(crate) fn metrics_json(state: &LoopState) -> serde_json::Value {
    serde_json::json!({
        "epochs": state.metrics,
        "best_epoch": state.best_epoch,
        "best_val_loss": state.best_val_loss,
        "stopped_early": state.stopped_early,
    })
}
