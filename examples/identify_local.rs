//! Who is in this photo, answered offline: faces found by `issc-detect` (YuNet) and labelled by `issc-predict`
//! with a model exported by `issc export` (or `issc run`), the same question `examples/identify.rs` asks a Face API.
//!
//! ```text
//! issc run --config examples/pipeline.toml                    # trains and exports target/example/model
//! cargo run --release --example identify_local -- PHOTO --model target/example/model
//! ```
//!
//! Models are found as `issc` finds them (./models upward, or ISSC_MODELS_DIR); ONNX Runtime when its library is
//! found, tract otherwise.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use issc_core::LoadOptions;
use issc_detect::{DetectorConfig, DetectorKind, EngineChoice, FacePipeline, ModelDir, PipelineMode};
use issc_predict::Predictor;

const USAGE: &str = "usage: identify_local PHOTO --model MODEL_DIR (a folder written by `issc export` or `issc run`)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut photo, mut model) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => photo = Some(PathBuf::from(a)),
        }
    }
    let (Some(photo), Some(model)) = (photo, model) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match identify(&photo, &model) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn identify(photo: &Path, model: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let engine = issc_detect::init_engine(EngineChoice::Auto)?;
    let models = ModelDir::locate(None)?;
    let predictor = Predictor::open(model)?;
    let pipeline =
        FacePipeline::with_mode(&models, DetectorKind::YuNet, DetectorConfig::default(), false, PipelineMode::Fast)?;
    let photo_data = pipeline.load(photo, &LoadOptions::default())?;
    let prediction = predictor.predict_photo(pipeline.detector(), &photo_data, 3)?;
    println!("{}: {} face(s) ({engine})", photo.display(), prediction.faces.len());
    for f in &prediction.faces {
        let b = f.face.bbox;
        println!(
            "  {:<24} p={:.3}  box x={:.0} y={:.0} w={:.0} h={:.0}",
            f.label.name(),
            f.label.probability,
            b.x,
            b.y,
            b.w,
            b.h
        );
    }
    Ok(())
}
