//! `--mode finetune`: SFace's last stages trained together with the head, on augmented aligned crops.
//!
//! The backbone is [`SFaceNet`] (the bundled ONNX model as a burn module, numerically equal to it), with all but
//! the last `--unfreeze` of its 15 stages frozen and batch-norm statistics fixed. The head is the same module as
//! in `head` mode, fed the L2-normalised embedding; a linear head starts as a cosine classifier on the class
//! centroids of the pretrained embeddings (scaled by [`COSINE_SCALE`]), so the first updates do not wreck the
//! pretrained features. Two AdamW optimisers: the head's at `--lr`, the backbone's at
//! `--lr × --backbone-lr-scale`. Augmentation draws a flip, a rotation (±10°), a scale (±5 %), a shift (±4 px) and
//! brightness/contrast factors (±20 %) for each crop from a generator seeded by (seed, epoch, crop), so a resumed
//! run sees the same pixels as an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use issc_core::LoadOptions;
use issc_dataset::Fate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::EMBEDDING_DIM;
use crate::EpochMetrics;
use crate::cache::CacheStats;
use crate::data::{DatasetFiles, decode_crop, read_crop};
use crate::error::TrainError;
use crate::head::{Head, HeadConfig};
use crate::sface_net::SFaceNet;
use crate::trainer::{
    Learner, Mode, RunData, TrainOptions, TrainReport, Which, check_sizes, load_model, load_optim, run_training,
    save_model, save_optim,
};

/// Logit scale of the cosine-classifier initialisation of a linear head.
pub const COSINE_SCALE: f32 = 16.0;
/// Side of the aligned crops.
const SIZE: usize = 112;
/// Faces per forward pass when evaluating.
const EVAL_BATCH: usize = 32;

/// Aligned crops of one split, with their classes.
#[derive(Debug, Clone, Default)]
pub struct FaceSplit {
    /// 112×112 RGB crops.
    pub images: Vec<RgbImage>,
    /// Class of each crop.
    pub y: Vec<usize>,
    /// Dataset-relative path of each crop.
    pub paths: Vec<String>,
}

/// A dataset's crops in memory, for fine-tuning.
#[derive(Debug, Clone)]
pub struct FaceSet {
    /// Labels in class order.
    pub labels: Vec<String>,
    /// Training crops.
    pub train: FaceSplit,
    /// Validation crops.
    pub val: FaceSplit,
    /// Test crops.
    pub test: FaceSplit,
    /// The dataset's fingerprint.
    pub fingerprint: String,
    /// The dataset folder.
    pub root: PathBuf,
}

/// Read every crop of `files` (in parallel), checking each against its BLAKE3 in `dataset.json` and that it is an
/// aligned 112×112 face.
pub fn load_faces(files: &DatasetFiles, load: &LoadOptions) -> Result<FaceSet, TrainError> {
    let images: Vec<RgbImage> = files
        .files
        .par_iter()
        .map(|f| {
            let (bytes, _) = read_crop(f)?;
            Ok(decode_crop(f, &bytes, SIZE as u32, load)?.rgb)
        })
        .collect::<Result<_, TrainError>>()?;
    let index: BTreeMap<&str, usize> = files.labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let (mut train, mut val, mut test) = (FaceSplit::default(), FaceSplit::default(), FaceSplit::default());
    for (f, img) in files.files.iter().zip(images) {
        let split = match f.fate {
            Fate::Train => &mut train,
            Fate::Val => &mut val,
            Fate::Test => &mut test,
            Fate::Removed => continue,
        };
        split.images.push(img);
        split.y.push(index[f.label.as_str()]);
        split.paths.push(f.rel.clone());
    }
    Ok(FaceSet {
        labels: files.labels.clone(),
        train,
        val,
        test,
        fingerprint: files.fingerprint.clone(),
        root: files.root.clone(),
    })
}

/// The fine-tuned network: backbone, then the head on the unit embedding.
#[derive(Module, Debug)]
pub(crate) struct FinetuneNet {
    pub(crate) backbone: SFaceNet,
    pub(crate) head: Head,
}

/// `x / max(‖x‖₂, 1e-12)` per row (as the exported graph computes it).
fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

impl FinetuneNet {
    /// Unit embeddings `[n, 128]` and logits `[n, c]`.
    pub(crate) fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let e = l2_normalize(self.backbone.forward(x));
        let logits = self.head.forward(e.clone());
        (e, logits)
    }
}

/// Pack crops into `[n, 3, 112, 112]` RGB 0..255 (every crop here was checked to be 112×112 when loaded).
fn pack(images: &[RgbImage]) -> Vec<f32> {
    issc_detect::faces_to_nchw(images, SIZE as u32).unwrap_or_default()
}

/// One crop's random transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Augment {
    flip: bool,
    angle_deg: f64,
    scale: f64,
    shift: (f64, f64),
    brightness: f32,
    contrast: f32,
}

impl Augment {
    pub(crate) fn draw(rng: &mut ChaCha8Rng) -> Self {
        Self {
            flip: rng.random_bool(0.5),
            angle_deg: rng.random_range(-10.0..=10.0),
            scale: rng.random_range(0.95..=1.05),
            shift: (rng.random_range(-4.0..=4.0), rng.random_range(-4.0..=4.0)),
            brightness: rng.random_range(0.8..=1.2),
            contrast: rng.random_range(0.8..=1.2),
        }
    }

    /// The transformed crop.
    pub(crate) fn apply(&self, img: &RgbImage) -> RgbImage {
        let c = (SIZE as f64 - 1.0) / 2.0;
        let (sin, cos) = self.angle_deg.to_radians().sin_cos();
        let (a, b) = (self.scale * cos, self.scale * sin);
        // dst = s·R·(src − c) + c + shift
        let m = [[a, -b, c - a * c + b * c + self.shift.0], [b, a, c - b * c - a * c + self.shift.1]];
        let mut out = issc_detect::imgproc::warp_affine(img, &m, SIZE as u32, SIZE as u32);
        if self.flip {
            image::imageops::flip_horizontal_in_place(&mut out);
        }
        let n = (SIZE * SIZE) as f32;
        let mean = out.pixels().map(|p| p.0.iter().map(|&v| f32::from(v)).sum::<f32>() / 3.0).sum::<f32>() / n;
        for p in out.pixels_mut() {
            for v in &mut p.0 {
                let x = ((f32::from(*v) - mean) * self.contrast + mean) * self.brightness;
                *v = x.round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

/// The augmentation of training crop `index` in `epoch`: a function of (seed, epoch, index) only.
fn augmentation(seed: u64, epoch: usize, index: usize) -> Augment {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_A11C_E000_0000);
    rng.set_stream(((epoch as u64) << 32) | index as u64);
    Augment::draw(&mut rng)
}

struct FinetuneLearner<'a> {
    set: &'a FaceSet,
    model: FinetuneNet,
    optim_head: ModuleOptimizer,
    optim_backbone: ModuleOptimizer,
    device: Device,
    opts: TrainOptions,
    head: HeadConfig,
}

fn backbone_optim_path(model: &Path) -> PathBuf {
    let name = model.file_name().map(|n| n.to_string_lossy().replace("model.bpk", "backbone-optim.bpk"));
    model.with_file_name(name.unwrap_or_else(|| "backbone-optim.bpk".into()))
}

impl FinetuneLearner<'_> {
    fn split(&self, which: Which) -> &FaceSplit {
        match which {
            Which::Train => &self.set.train,
            Which::Val => &self.set.val,
            Which::Test => &self.set.test,
        }
    }

    /// Re-apply the freezing after a record load (records carry values, not gradient settings).
    fn refreeze(&mut self) {
        let FinetuneNet { backbone, head } = self.model.clone();
        self.model = FinetuneNet { backbone: backbone.freeze_all_but_last(self.opts.unfreeze), head };
    }
}

/// Unit embeddings and logits of `images` under `model` (no autodiff), in batches.
pub(crate) fn infer(model: &FinetuneNet, images: &[RgbImage], device: &Device) -> (Vec<f32>, Vec<f32>) {
    let (mut emb, mut logits) = (vec![], vec![]);
    for chunk in images.chunks(EVAL_BATCH) {
        let x = Tensor::<4>::from_data(TensorData::new(pack(chunk), [chunk.len(), 3, SIZE, SIZE]), device);
        let (e, l) = model.forward(x);
        emb.extend(e.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default());
        logits.extend(l.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default());
    }
    (emb, logits)
}

impl Learner for FinetuneLearner<'_> {
    fn step(&mut self, batch: &[usize], epoch: usize, lr: f64) -> Result<(f64, Vec<f32>), TrainError> {
        let classes = self.set.labels.len();
        let b = batch.len();
        let seed = self.opts.seed;
        let augment = self.opts.augment;
        let images: Vec<RgbImage> = batch
            .par_iter()
            .map(|&i| {
                let img = &self.set.train.images[i];
                if augment { augmentation(seed, epoch, i).apply(img) } else { img.clone() }
            })
            .collect();
        let mut onehot = vec![0f32; b * classes];
        for (r, &i) in batch.iter().enumerate() {
            onehot[r * classes + self.set.train.y[i]] = 1.0;
        }
        let x = Tensor::<4>::from_data(TensorData::new(pack(&images), [b, 3, SIZE, SIZE]), &self.device);
        let target = Tensor::<2>::from_data(TensorData::new(onehot, [b, classes]), &self.device);
        let (_, logits) = self.model.forward(x);
        let logp = burn::tensor::activation::log_softmax(logits.clone(), 1);
        let loss = (logp * target).sum_dim(1).mean().neg();
        let batch_logits = logits.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
        let loss_sum = f64::from(loss.clone().into_scalar::<f32>()) * b as f64;
        let mut grads = loss.backward();
        let g_backbone = GradientsParams::from_module(&mut grads, &self.model.backbone);
        let g_head = GradientsParams::from_module(&mut grads, &self.model.head);
        let FinetuneNet { backbone, head } = self.model.clone();
        let backbone = self.optim_backbone.step(lr * self.opts.backbone_lr_scale, backbone, g_backbone);
        let head = self.optim_head.step(lr, head, g_head);
        self.model = FinetuneNet { backbone, head };
        Ok((loss_sum, batch_logits))
    }

    fn evaluate(&self, which: Which) -> Result<(Vec<f32>, Vec<f32>), TrainError> {
        let valid = self.model.valid();
        Ok(infer(&valid, &self.split(which).images, &self.device.clone().inner()))
    }

    fn save(&self, model: &Path, optim: &Path) -> Result<(), TrainError> {
        save_model(&self.model, model)?;
        save_optim(&self.optim_backbone, &backbone_optim_path(model))?;
        save_optim(&self.optim_head, optim)
    }

    fn restore(&mut self, model: &Path, optim: &Path) -> Result<(), TrainError> {
        self.model = load_model(self.model.clone(), model)?;
        self.refreeze();
        self.optim_backbone = load_optim(self.optim_backbone.clone(), &backbone_optim_path(model))?;
        self.optim_head = load_optim(self.optim_head.clone(), optim)?;
        Ok(())
    }

    fn load_weights(&mut self, model: &Path) -> Result<(), TrainError> {
        self.model = load_model(self.model.clone(), model)?;
        self.refreeze();
        Ok(())
    }

    fn extra_checkpoint_files(&self, model: &Path) -> Vec<PathBuf> {
        vec![backbone_optim_path(model)]
    }

    fn prune_checkpoints(&self) -> bool {
        true
    }

    fn card(&self) -> (HeadConfig, Option<serde_json::Value>) {
        let (trainable, frozen) = self.model.backbone.param_counts();
        let backbone = serde_json::json!({
                "model": issc_detect::models::SFACE_DEQUANT.file,
                "sha256": issc_detect::models::SFACE_DEQUANT.sha256,
                "stages": self.model.backbone.stage_names(),
                "unfreeze": self.opts.unfreeze,
                "trainable_parameters": trainable,
                "frozen_parameters": frozen,
                "lr_scale": self.opts.backbone_lr_scale,
                "batch_norm": "running statistics fixed; scale and shift trained in unfrozen stages",
                "augment": if self.opts.augment {
                    "flip, rotation ±10°, scale ±5 %, shift ±4 px, brightness and contrast ±20 %"
                } else {
                    "none"
                },
        });
        (self.head, Some(backbone))
    }
}

/// The fine-tuned network of a run, for inference: backbone (from the SFace ONNX bytes) and head, with the run's
/// weights.
pub(crate) fn load_finetuned(
    sface: &[u8],
    head: &HeadConfig,
    weights: &Path,
    device: &Device,
) -> Result<FinetuneNet, TrainError> {
    let backbone = SFaceNet::from_onnx(sface, device)?;
    let head = Head::new(head, &mut ChaCha8Rng::seed_from_u64(0), device);
    load_model(FinetuneNet { backbone, head }, weights)
}

/// Fine-tune SFace with a classifier head on `set` (see the module docs), writing the run to `out` exactly like
/// [`train_head`](crate::train_head) (checkpoints hold the whole network; only the last and the best epoch's
/// weights are kept, every epoch's state and metrics are). `sface` is the bytes of the bundled SFace ONNX model.
pub fn train_finetune(
    set: &FaceSet,
    sface: &[u8],
    out: &Path,
    opts: &TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<TrainReport, TrainError> {
    opts.validate()?;
    if opts.mode != Mode::Finetune {
        return Err(TrainError::Options("train_finetune needs mode finetune".into()));
    }
    let classes = set.labels.len();
    check_sizes(&set.root, classes, set.train.y.len(), set.val.y.len())?;
    let head_cfg = HeadConfig { input: EMBEDDING_DIM, hidden: opts.hidden, classes };
    let device = opts.device.burn_device(opts.precision)?.autodiff();
    let backbone = SFaceNet::from_onnx(sface, &device)?.freeze_all_but_last(opts.unfreeze);
    let head = match opts.hidden {
        None => {
            // Cosine classifier on the pretrained class centroids.
            let (emb, _) = infer(
                &FinetuneNet {
                    backbone: backbone.valid(),
                    head: Head::new(&head_cfg, &mut ChaCha8Rng::seed_from_u64(0), &device.clone().inner()),
                },
                &set.train.images,
                &device.clone().inner(),
            );
            let cents = crate::trainer::centroids(&emb, &set.train.y, classes);
            Head::cosine(&cents, classes, COSINE_SCALE, &device)
        }
        Some(_) => {
            let mut init_rng = ChaCha8Rng::seed_from_u64(opts.seed);
            init_rng.set_stream(u64::MAX);
            Head::new(&head_cfg, &mut init_rng, &device)
        }
    };
    let optim = || AdamWConfig::new().with_weight_decay(opts.weight_decay as f32).init();
    let mut learner = FinetuneLearner {
        set,
        model: FinetuneNet { backbone, head },
        optim_head: optim(),
        optim_backbone: optim(),
        device,
        opts: opts.clone(),
        head: head_cfg,
    };
    let data = RunData {
        labels: &set.labels,
        train_y: &set.train.y,
        val_y: &set.val.y,
        test_y: &set.test.y,
        test_paths: &set.test.paths,
        fingerprint: &set.fingerprint,
        root: &set.root,
        cache: CacheStats::default(),
    };
    run_training(&mut learner, &data, head_cfg, out, opts, on_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augmentation_depends_only_on_seed_epoch_and_index() {
        assert_eq!(augmentation(1, 2, 3), augmentation(1, 2, 3));
        assert_ne!(augmentation(1, 2, 3), augmentation(1, 2, 4));
        assert_ne!(augmentation(1, 2, 3), augmentation(1, 3, 3));
    }

    #[test]
    fn identity_augmentation_keeps_the_crop() {
        let img = RgbImage::from_fn(112, 112, |x, y| image::Rgb([x as u8, y as u8, (x + y) as u8]));
        let id = Augment { flip: false, angle_deg: 0.0, scale: 1.0, shift: (0.0, 0.0), brightness: 1.0, contrast: 1.0 };
        assert_eq!(id.apply(&img), img);
        let flipped = Augment { flip: true, ..id }.apply(&img);
        assert_eq!(flipped.get_pixel(0, 5), img.get_pixel(111, 5));
    }
}
