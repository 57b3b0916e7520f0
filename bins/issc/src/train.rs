//! `issc train`: dataset/ → a classifier over SFace embeddings in runs/NAME/.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use issc_pipeline::train::DEFAULT_CACHE;
use issc_train::{Mode, Precision, TrainDevice};

use crate::cli::{Context, setting};
use crate::progress::Bars;

/// `issc train` flags.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset folder written by `issc prepare` (holds dataset.json and {train,val,test}/<label>/).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Run folder: checkpoints/, best/, metrics.json, test.json, model.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// What to train: head (a softmax head on frozen SFace embeddings, cached by crop BLAKE3) or finetune (SFace's
    /// last --unfreeze stages with the head, on augmented crops; burn, CPU: minutes).
    #[arg(long, value_name = "MODE", value_parser = setting::<Mode>, default_value = Mode::default().name())]
    pub mode: Mode,
    /// Maximum number of epochs [default: 500 head, 30 finetune].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many epochs without a lower validation loss [default: 20 head, 6 finetune].
    #[arg(long)]
    pub patience: Option<usize>,
    /// AdamW learning rate of the head [default: 0.05 head, 0.01 finetune].
    #[arg(long)]
    pub lr: Option<f64>,
    /// AdamW decoupled weight decay [default: 0.0001].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Mini-batch size [default: 32 head, 16 finetune].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed of initialisation and shuffling (same seed, same data: same model) [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Hidden units of a small MLP head (default: a linear head).
    #[arg(long, value_name = "N")]
    pub hidden: Option<usize>,
    /// finetune: how many of SFace's 15 stages, from the end, are trained (1 = the embedding layer; 15 = all).
    #[arg(long, value_name = "K")]
    pub unfreeze: Option<usize>,
    /// finetune: the backbone's learning rate is --lr times this [default: 0.01].
    #[arg(long, value_name = "F")]
    pub backbone_lr_scale: Option<f64>,
    /// Where to train: cpu (always), cuda or wgpu (builds with `--features cuda` / `--features wgpu`).
    #[arg(long, value_name = "DEVICE", value_parser = setting::<TrainDevice>, default_value = "cpu")]
    pub device: TrainDevice,
    /// Float precision: f32; f16 / bf16 only on a GPU device.
    #[arg(long, value_name = "P", value_parser = setting::<Precision>, default_value = "f32")]
    pub precision: Precision,
    /// finetune: no augmentation (flips, small shifts/rotations/scale, brightness and contrast jitter).
    #[arg(long)]
    pub no_augment: bool,
    /// Continue the run in --out from its last checkpoint (identical to an uninterrupted run).
    #[arg(long)]
    pub resume: bool,
    /// Embedding cache folder [default: .issc-cache/embeddings].
    #[arg(long, value_name = "DIR", env = "ISSC_CACHE_DIR")]
    pub cache: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `issc train`.
pub fn run(ctx: &Context, args: TrainArgs) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings.settings.train.clone();
    let mut opts = settings.options();
    opts.resume = args.resume;
    let cache = settings.cache.clone().unwrap_or_else(|| DEFAULT_CACHE.into());
    let trained =
        issc_pipeline::train::train(ctx.runtime(), &args.data, &args.out, &opts, &cache, &Bars { quiet_lines: true })
            .map_err(crate::cli::in_flags)?;
    if args.json {
        outln!("{}", trained.json());
    } else {
        outw!("{trained}");
        outln!("wrote {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}
