//! Photos of people not trained on, labelled with the exported model: what the report shows as "strangers".

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Ctx, Result};
use crate::summary::{StrangerFace, StrangersStage};
use crate::{PipelineConfig, Runtime, STRANGERS, read_json, show};

const STRANGER_RESULTS: &str = "results.json";

// strangers

fn is_photo(p: &Path) -> bool {
    const NOT: [&str; 10] = ["json", "jsonl", "csv", "tsv", "txt", "md", "log", "toml", "yaml", "yml"];
    let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
    let meta = p.extension().and_then(|e| e.to_str()).is_some_and(|e| NOT.contains(&e.to_ascii_lowercase().as_str()));
    p.is_file() && !hidden && !meta
}

/// Label every face of the photos in `folder` (people not trained on) with the exported model; results cached in
/// `strangers/results.json` by the model's and the photos' hashes.
pub(crate) fn strangers_stage(
    runtime: &Runtime,
    cfg: &PipelineConfig,
    folder: &Path,
    work: &Path,
    model_dir: &Path,
    card: &issc_predict::ModelCard,
) -> Result<StrangersStage> {
    let t = Instant::now();
    let mut photos: Vec<PathBuf> = walkdir::WalkDir::new(folder)
        .max_depth(2)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| is_photo(p))
        .collect();
    photos.sort();
    let mut key = format!("{}\n", card.model.sha256);
    for p in &photos {
        let bytes = std::fs::read(p).ctx(|| format!("cannot read {}", show(p)))?;
        key.push_str(&format!("{} {}\n", p.display(), issc_predict::sha256_hex(&bytes)));
    }
    let key = issc_predict::sha256_hex(key.as_bytes());
    let out = work.join(STRANGERS);
    let results_path = out.join(STRANGER_RESULTS);
    if let Some(v) = read_json(&results_path)
        && v["key"] == key.as_str()
        && let Ok(mut s) = serde_json::from_value::<StrangersCache>(v)
    {
        let crops_present = s.stage.answers.iter().all(|a| work.join(&a.crop).is_file());
        if crops_present {
            s.stage.up_to_date = true;
            s.stage.seconds = t.elapsed().as_secs_f64();
            return Ok(s.stage);
        }
    }
    runtime.engine()?;
    let predictor = issc_predict::Predictor::open_with_mode(model_dir, runtime.options().mode)
        .ctx(|| format!("cannot load the model in {}", show(model_dir)))?;
    let pipeline = runtime.pipeline(&cfg.crop.detector_settings(), cfg.crop.min_face, false)?;
    let mut stage = StrangersStage { folder: folder.display().to_string(), photos: photos.len(), ..Default::default() };
    if out.is_dir() {
        std::fs::remove_dir_all(&out).ctx(|| format!("cannot clear {}", show(&out)))?;
    }
    for (i, p) in photos.iter().enumerate() {
        let name = p.strip_prefix(folder).unwrap_or(p).display().to_string();
        let photo = match pipeline.load(p, runtime.load()) {
            Ok(photo) => photo,
            Err(e) => {
                stage.errors.push(format!("{name}: {e}"));
                continue;
            }
        };
        let faces = predictor.predict_photo(pipeline.detector(), &photo, 1).ctx(|| show(p))?.faces;
        for (n, f) in faces.iter().enumerate() {
            let Some(aligned) = issc_detect::align_from_photo(&photo, &f.face.landmarks, 112).ctx(|| show(p))?.0 else {
                continue;
            };
            let rel = format!("{STRANGERS}/{i:03}_{n}.png");
            let png = crate::crop::encode_png(&aligned)?;
            issc_core::write_atomic(&work.join(&rel), &png).ctx(|| format!("cannot write {rel}"))?;
            stage.faces += 1;
            stage.unknown += usize::from(f.label.label.is_none());
            stage.answers.push(StrangerFace {
                photo: name.clone(),
                label: f.label.name().into(),
                probability: f.label.probability,
                best: f.label.top_k.first().map(|c| c.label.clone()).unwrap_or_default(),
                crop: rel,
            });
        }
    }
    let cache = StrangersCache { key, stage: stage.clone() };
    let json = serde_json::to_value(&cache).ctx(|| "cannot encode the strangers' results")?;
    issc_core::write_atomic(&results_path, format!("{json:#}\n").as_bytes())
        .ctx(|| format!("cannot write {}", show(&results_path)))?;
    stage.seconds = t.elapsed().as_secs_f64();
    Ok(stage)
}

#[derive(Serialize, Deserialize)]
struct StrangersCache {
    key: String,
    stage: StrangersStage,
}
