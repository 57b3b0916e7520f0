//! `issc_export::export_run` on real training runs: real photos of `../shared/data/identity/public` cropped with the
//! bundled YuNet, split by `issc_dataset::prepare`, embedded with the bundled SFace and trained with
//! `issc_train::train_head` (a few epochs), then exported and read back through the crate's own types.
//!
//! - the export holds `model.onnx` + `model.json`, the card names the run's labels and the file's SHA-256, and the
//!   graph matches the training model (max |Δp| ≤ [`PARITY_TOLERANCE`]), also when checked here independently;
//! - bad input is refused with an error that names the path, and nothing is written;
//! - a re-export replaces an earlier one without a reader ever seeing a half-written file.
//!
//! The engine is the default one (ONNX Runtime when its library is found, else tract), as in `fast_sface.rs`.
//! Without `../shared/data` the tests that need photos print a `SKIPPED:` line, or fail when
//! `ISSC_REQUIRE_SHARED_DATA` is set (CI).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use image::RgbImage;
use issc_detect::models::SFACE_DEQUANT;
use issc_detect::{DetectorConfig, DetectorKind, FacePipeline, ModelDir, SFace};
use issc_export::{EMBEDDING, ExportError, ExportOptions, INPUT, PARITY_TOLERANCE, PROBABILITIES, export_run};
use issc_predict::{CARD_FILE, MODEL_FILE, ModelCard, Predictor};
use issc_train::{Classifier, EmbeddingCache, Fate, TrainCard, TrainOptions, embed_dataset, load_dataset, train_head};
use prost::Message;

/// Three people with enough photos for train, validation and test crops (5 photos each: 3 / 1 / 1).
const PEOPLE: [&str; 3] = ["Angelina_Jolie", "John_Salley", "John_Simm"];
const PHOTOS_PER_PERSON: usize = 5;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models() -> ModelDir {
    ModelDir::at(&repo().join("models"), "test").expect("models folder")
}

/// `../shared/data`, when present (it is in CI, where `ISSC_REQUIRE_SHARED_DATA=1` makes its absence a failure).
fn shared_data() -> Option<PathBuf> {
    let p = repo().join("../shared/data");
    if p.is_dir() {
        return Some(p.canonicalize().expect("shared data"));
    }
    assert!(
        std::env::var_os("ISSC_REQUIRE_SHARED_DATA").is_none(),
        "ISSC_REQUIRE_SHARED_DATA is set but {} is missing",
        p.display()
    );
    println!("SKIPPED: the part of this test that needs ../shared/data (not present)");
    None
}

fn engine() -> String {
    issc_detect::engine_info().map_or_else(|| "?".into(), |e| e.kind.to_string())
}

/// Real photos → aligned crops (the best-scoring face of each photo: the labelled person) → `prepare`d dataset in
/// `tmp/dataset`. `None` (after a SKIPPED line) without `../shared/data`.
fn dataset(tmp: &Path, models: &ModelDir) -> Option<PathBuf> {
    let public = shared_data()?.join("identity/public");
    let detector = FacePipeline::new(models, DetectorKind::YuNet, DetectorConfig::default(), false).expect("YuNet");
    let crops = tmp.join("crops");
    for person in PEOPLE {
        let mut photos: Vec<PathBuf> = std::fs::read_dir(public.join(person))
            .unwrap_or_else(|e| panic!("{}: {e}", public.join(person).display()))
            .map(|e| e.unwrap().path())
            .collect();
        photos.sort();
        assert!(photos.len() >= PHOTOS_PER_PERSON, "{person}: {} photos", photos.len());
        std::fs::create_dir_all(crops.join(person)).unwrap();
        for p in &photos[..PHOTOS_PER_PERSON] {
            let img = issc_core::load_image(p, &Default::default()).expect("photo").rgb;
            let faces = detector.detect(&img).expect("detect");
            let face = faces
                .iter()
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .unwrap_or_else(|| panic!("{}: no face", p.display()));
            let crop = issc_detect::align_face(&img, &face.landmarks, 112).expect("aligned");
            let stem = p.file_stem().unwrap().to_string_lossy();
            crop.save(crops.join(person).join(format!("{stem}_0.png"))).unwrap();
        }
    }
    let out = tmp.join("dataset");
    let opts = issc_dataset::PrepareOptions { split: [0.6, 0.2, 0.2], ..Default::default() };
    issc_dataset::prepare(&crops, &out, &opts, &|_, _| {}).expect("prepare");
    Some(out)
}

/// A `head` training run on `data` in `tmp/runs/<name>` (a linear head, or an MLP with `hidden` units).
fn train(tmp: &Path, data: &Path, models: &ModelDir, name: &str, hidden: Option<usize>) -> PathBuf {
    let files = load_dataset(data).expect("dataset");
    let cache = EmbeddingCache::new(tmp.join("cache"));
    let embedder = SFace::new(models).expect("SFace");
    let set = embed_dataset(&files, &embedder, &cache, &Default::default(), &|_, _| {}).expect("embed");
    assert!(!set.test.y.is_empty(), "the dataset has test crops");
    let run = tmp.join("runs").join(name);
    let opts = TrainOptions { epochs: 15, patience: 15, batch: 8, hidden, ..TrainOptions::default() };
    train_head(&set, &run, &opts, &mut |_| {}).expect("train");
    run
}

/// The run's test crops.
fn test_faces(data: &Path) -> Vec<RgbImage> {
    let files = load_dataset(data).expect("dataset");
    files
        .files
        .iter()
        .filter(|f| f.fate == Fate::Test)
        .map(|f| issc_core::load_image(&f.path, &Default::default()).expect("crop").rgb)
        .collect()
}

fn read_card(out: &Path) -> ModelCard {
    let path = out.join(CARD_FILE);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ModelCard::from_json(&text, &path).expect("a model card")
}

/// File names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// What a finished export folder holds: the graph and its card, nothing else (no temporary files).
fn assert_only_export(out: &Path) {
    assert_eq!(names(out), [CARD_FILE, MODEL_FILE], "{}", out.display());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Snapshot of a folder's files (name → bytes), to show a refused export left it untouched.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    names(dir).into_iter().map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap())).collect()
}

#[test]
fn exporting_a_real_run_writes_a_graph_and_a_card_that_agree_with_the_trained_model() {
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let models = models();
    let Some(data) = dataset(tmp.path(), &models) else { return };
    let run = train(tmp.path(), &data, &models, "first", None);
    let out = tmp.path().join("model");

    let report = export_run(&run, &out, &models, &ExportOptions::default()).expect("export");
    assert_only_export(&out);
    assert_eq!((report.model_path.clone(), report.card_path.clone()), (out.join(MODEL_FILE), out.join(CARD_FILE)));
    let bytes = std::fs::read(out.join(MODEL_FILE)).unwrap();
    let sha = issc_predict::sha256_hex(&bytes);

    // The card, read back through the crate's own type.
    let card = read_card(&out);
    let labels: Vec<String> = PEOPLE.iter().map(|s| s.to_string()).collect();
    assert_eq!(card.labels, labels, "labels in output order");
    assert_eq!(card.labels, TrainCard::read(&run).unwrap().labels, "the run's labels");
    assert_eq!((card.format.as_str(), card.mode.as_str()), (issc_predict::CARD_FORMAT, "head"));
    assert_eq!((card.model.file.as_str(), card.model.sha256.as_str()), (MODEL_FILE, sha.as_str()));
    assert_eq!(card.model.bytes, bytes.len() as u64);
    assert_eq!((report.sha256.as_str(), report.bytes, report.labels), (sha.as_str(), bytes.len() as u64, 3));
    assert_eq!(report.mode, "head");
    assert_eq!((card.input.name.as_str(), card.input.size), (INPUT, 112));
    assert_eq!((card.outputs.embedding.as_str(), card.outputs.probabilities.as_str()), (EMBEDDING, PROBABILITIES));
    assert_eq!(card.outputs.embedding_dim, issc_train::EMBEDDING_DIM);
    assert_eq!(card.centroids.len(), 3);
    assert_eq!(card.base_model.sha256, SFACE_DEQUANT.sha256);
    assert_eq!(card.verification_threshold, issc_detect::SFACE_THRESHOLD);
    assert_eq!(card.training["run"], run.display().to_string());

    // The exporter's own parity check ran on the test crops and passed.
    let faces = test_faces(&data);
    let check = card.export_check.clone().expect("the parity check ran");
    assert_eq!(Some(&check), report.check.as_ref());
    assert!(report.check_skipped.is_none());
    assert_eq!(check.faces, faces.len());
    assert!(check.max_abs_diff_probabilities <= PARITY_TOLERANCE, "{check:?}");
    assert!(check.max_abs_diff_probabilities <= 1e-4, "{check:?}");
    assert_eq!(check.engine, engine());

    // The same parity, checked here: the graph loaded by `Predictor` against the trained model.
    let predictor = Predictor::open(&out).expect("the export opens");
    let (emb, probs) = predictor.run(&faces).expect("run the graph");
    let classifier = Classifier::load_with_models(&run, Some(&models)).expect("the run's model");
    let embedder = SFace::new(&models).unwrap();
    let reference = issc_export::reference_probabilities(&classifier, &embedder, &faces).expect("reference");
    let diff = issc_export::max_abs_diff(&probs, &reference);
    assert!(diff <= 1e-4, "graph and trained model differ by {diff}");
    for (i, row) in probs.chunks(3).enumerate() {
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4, "face {i}: probabilities sum to {sum}");
    }
    for (i, e) in emb.chunks(card.outputs.embedding_dim).enumerate() {
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "face {i}: embedding norm {norm}");
    }

    // Its int8 form (what `issc predict` and `issc serve` run under ONNX Runtime by default): one face per call,
    // the same top label on every face, embeddings at the int8 graph's cosine bar, probabilities close.
    let fast = Predictor::open_with_mode(&out, issc_detect::PipelineMode::Fast).expect("the export opens in int8");
    assert!(!predictor.int8());
    assert_eq!(fast.int8(), engine() == "onnxruntime", "int8 exactly under ONNX Runtime");
    let (emb8, probs8) = fast.run(&faces).expect("run the int8 graph");
    let dim = card.outputs.embedding_dim;
    let argmax = |row: &[f32]| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
    for (i, (a, b)) in emb.chunks(dim).zip(emb8.chunks(dim)).enumerate() {
        let cos: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        assert!(cos >= 0.99, "face {i}: int8 embedding at cosine {cos} to the exported graph's");
    }
    for (i, (a, b)) in probs.chunks(3).zip(probs8.chunks(3)).enumerate() {
        assert_eq!(argmax(a), argmax(b), "face {i}: int8 changes the top label ({a:?} against {b:?})");
    }
    // One face at a time: a face's answer does not depend on the faces run with it.
    let (alone, _) = fast.run(&faces[..1]).expect("one face");
    assert_eq!(alone, emb8[..dim].to_vec(), "the first face's int8 embedding depends on the others");

    // The graph is in the fast form (no PRelu left) and says so.
    let graph = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).expect("ONNX");
    let ops: BTreeSet<&str> = graph.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.as_str()).collect();
    assert!(!ops.contains("PRelu"), "ops: {ops:?}");
    assert!(graph.doc_string.contains("issc_export::fast"), "{}", graph.doc_string);
    assert!(graph.metadata_props.iter().any(|p| p.key == "issc.labels" && p.value.contains("John_Simm")));

    // The same run exported again is the same graph, byte for byte.
    let again = tmp.path().join("again");
    let second = export_run(&run, &again, &models, &ExportOptions::default()).expect("export again");
    assert_eq!(second.sha256, sha, "export is deterministic");

    // Without the check: no check in the card or the report.
    let unchecked = tmp.path().join("unchecked");
    let r = export_run(&run, &unchecked, &models, &ExportOptions { check: false }).expect("export unchecked");
    assert!(r.check.is_none() && r.check_skipped.is_none(), "{r:?}");
    assert!(read_card(&unchecked).export_check.is_none());
    assert_eq!(r.sha256, sha);

    // The dataset gone: the export still succeeds, and says why it could not check.
    std::fs::rename(&data, tmp.path().join("dataset-moved")).unwrap();
    let nodata = tmp.path().join("nodata");
    let r = export_run(&run, &nodata, &models, &ExportOptions::default()).expect("export without the dataset");
    let why = r.check_skipped.clone().expect("the check was skipped");
    assert!(r.check.is_none() && why.contains("dataset"), "{why}");
    assert!(read_card(&nodata).export_check.is_none());
    assert_only_export(&nodata);

    println!(
        "export [{}]: {} faces, max |dp| {:.2e}, {} bytes, {:.1} s",
        engine(),
        check.faces,
        check.max_abs_diff_probabilities,
        bytes.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Refusals that need no training run: a run folder that does not exist, one without a card, a corrupt card, a
/// training card of another format.
#[test]
fn a_folder_that_is_not_a_finished_run_is_refused_by_path() {
    let tmp = tempfile::tempdir().unwrap();
    let models = models();
    let out = tmp.path().join("out");
    let refused = |run: &Path, words: &[&str]| {
        let e = export_run(run, &out, &models, &ExportOptions::default()).expect_err("refused");
        let msg = e.to_string();
        assert!(msg.contains(&run.display().to_string()), "names the run {}: {msg}", run.display());
        for w in words {
            assert!(msg.contains(w), "{w:?} not in: {msg}");
        }
        assert!(!out.exists(), "nothing written for {}: {msg}", run.display());
    };

    refused(&tmp.path().join("no-such-run"), &["model.json", "issc train"]);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    refused(&empty, &["model.json", "not a finished training run"]);
    let corrupt = tmp.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("model.json"), b"{\"format\": \"issc-train/1\", \"labels\": [").unwrap();
    refused(&corrupt, &["model.json", "not a training card"]);
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("model.json"), b"{\"format\": \"issc-model/1\"}").unwrap();
    refused(&other, &["model.json"]);
}

/// Refusals of a real run's copies and of unusable output folders: each error names the path, and the output
/// folder is left as it was (absent, the same file, or the same files).
#[test]
fn bad_runs_and_outputs_are_refused_by_path_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let models = models();
    let Some(data) = dataset(tmp.path(), &models) else { return };
    let run = train(tmp.path(), &data, &models, "good", None);
    let opts = ExportOptions::default();
    let out = tmp.path().join("out");

    // A run whose card was deleted or damaged.
    let no_card = tmp.path().join("runs/no-card");
    copy_dir(&run, &no_card);
    std::fs::remove_file(no_card.join("model.json")).unwrap();
    let e = export_run(&no_card, &out, &models, &opts).expect_err("refused").to_string();
    assert!(e.contains(&no_card.join("model.json").display().to_string()), "{e}");
    let corrupt = tmp.path().join("runs/corrupt");
    copy_dir(&run, &corrupt);
    let card = std::fs::read(corrupt.join("model.json")).unwrap();
    std::fs::write(corrupt.join("model.json"), &card[..card.len() / 2]).unwrap();
    let e = export_run(&corrupt, &out, &models, &opts).expect_err("refused").to_string();
    assert!(e.contains(&corrupt.join("model.json").display().to_string()) && e.contains("train"), "{e}");
    // A run whose weights are gone.
    let no_weights = tmp.path().join("runs/no-weights");
    copy_dir(&run, &no_weights);
    std::fs::remove_dir_all(no_weights.join("best")).unwrap();
    let e = export_run(&no_weights, &out, &models, &opts).expect_err("refused").to_string();
    assert!(e.contains(&no_weights.display().to_string()), "{e}");
    assert!(!out.exists(), "nothing written");

    // --out is a regular file: refused, the file unchanged.
    let file = tmp.path().join("model.onnx");
    std::fs::write(&file, b"keep me").unwrap();
    let e = export_run(&run, &file, &models, &opts).expect_err("refused");
    assert!(matches!(&e, ExportError::Out { path, .. } if path == &file), "{e:?}");
    assert!(e.to_string().contains(&file.display().to_string()) && e.to_string().contains("not a folder"), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    assert_eq!(names(tmp.path()).iter().filter(|n| n.starts_with(".model.onnx")).count(), 0, "no temporary file");

    // --out is a folder of something else: refused, untouched.
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), b"mine").unwrap();
    std::fs::write(busy.join("model.json"), b"{\"format\": \"something else\"}").unwrap();
    let before = snapshot(&busy);
    let e = export_run(&run, &busy, &models, &opts).expect_err("refused");
    assert!(matches!(&e, ExportError::Out { path, .. } if path == &busy), "{e:?}");
    assert!(e.to_string().contains(&busy.display().to_string()) && e.to_string().contains("not empty"), "{e}");
    assert_eq!(snapshot(&busy), before, "left as it was");

    // An empty folder is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    export_run(&run, &empty, &models, &opts).expect("export into an empty folder");
    assert_only_export(&empty);

    // A person labelled `unknown` (predict's answer for nobody known) is refused, naming the run and the label.
    let crops = tmp.path().join("crops");
    std::fs::rename(crops.join(PEOPLE[2]), crops.join("Unknown")).unwrap();
    let data2 = tmp.path().join("dataset-unknown");
    let prep = issc_dataset::PrepareOptions { split: [0.6, 0.2, 0.2], ..Default::default() };
    issc_dataset::prepare(&crops, &data2, &prep, &|_, _| {}).expect("prepare");
    let bad = train(tmp.path(), &data2, &models, "unknown", None);
    let e = export_run(&bad, &out, &models, &opts).expect_err("refused");
    assert!(matches!(&e, ExportError::Run { path, .. } if path == &bad), "{e:?}");
    assert!(e.to_string().contains("'Unknown'"), "{e}");
    assert!(!out.exists(), "nothing written");
}

/// A second export into the folder of a first replaces it: the card and graph are the new run's, the folder holds
/// nothing else, and a reader polling the folder meanwhile only ever sees one export's complete files. A refused
/// export over it leaves it as it was.
#[test]
fn re_exporting_over_an_earlier_export_replaces_it_atomically() {
    let tmp = tempfile::tempdir().unwrap();
    let models = models();
    let Some(data) = dataset(tmp.path(), &models) else { return };
    let linear = train(tmp.path(), &data, &models, "linear", None);
    let mlp = train(tmp.path(), &data, &models, "mlp", Some(16));
    let out = tmp.path().join("model");
    let opts = ExportOptions::default();

    let first = export_run(&linear, &out, &models, &opts).expect("first export");
    assert_eq!(read_card(&out).training["head"]["hidden"], serde_json::Value::Null);

    // A reader polls the folder while the second export replaces the first, and records what it saw.
    let done = AtomicBool::new(false);
    let (second, seen) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut graphs, mut cards, mut reads) = (BTreeSet::new(), BTreeSet::new(), 0usize);
            loop {
                let finished = done.load(Ordering::SeqCst);
                let graph = std::fs::read(out.join(MODEL_FILE)).expect("model.onnx is always there");
                graphs.insert(issc_predict::sha256_hex(&graph));
                let text = std::fs::read(out.join(CARD_FILE)).expect("model.json is always there");
                let card = ModelCard::from_json(&text, &out.join(CARD_FILE)).expect("model.json is always whole");
                cards.insert(card.model.sha256);
                reads += 1;
                if finished {
                    return (graphs, cards, reads);
                }
            }
        });
        let second = export_run(&mlp, &out, &models, &opts).expect("second export");
        done.store(true, Ordering::SeqCst);
        (second, reader.join().expect("reader"))
    });
    let (graphs, cards, reads) = seen;
    // Every model.onnx and model.json read was one export's whole file: never a mix or a partial write.
    let both = BTreeSet::from([first.sha256.clone(), second.sha256.clone()]);
    assert!(graphs.is_subset(&both), "{} model.onnx versions seen: {graphs:?}", graphs.len());
    assert!(cards.is_subset(&both), "{} model.json versions seen: {cards:?}", cards.len());
    assert!(graphs.contains(&second.sha256) && cards.contains(&second.sha256), "the last read saw the new export");
    assert_ne!(first.sha256, second.sha256, "another run, another graph");
    assert_only_export(&out);
    let card = read_card(&out);
    assert_eq!(card.training["head"]["hidden"], 16, "the second run's card");
    assert_eq!(card.training["run"], mlp.display().to_string());
    assert_eq!(card.model.sha256, issc_predict::sha256_hex(&std::fs::read(out.join(MODEL_FILE)).unwrap()));
    assert!(card.export_check.as_ref().is_some_and(|c| c.max_abs_diff_probabilities <= PARITY_TOLERANCE));
    Predictor::open(&out).expect("the replaced export opens");
    println!("re-export [{}]: the reader polled {reads} times", engine());

    // A refused export over it (a run with a damaged card) leaves the export as it was.
    let before = snapshot(&out);
    let corrupt = tmp.path().join("runs/corrupt");
    copy_dir(&linear, &corrupt);
    std::fs::write(corrupt.join("model.json"), b"not json").unwrap();
    let e = export_run(&corrupt, &out, &models, &opts).expect_err("refused");
    assert!(e.to_string().contains(&corrupt.display().to_string()), "{e}");
    assert_eq!(snapshot(&out), before, "the earlier export is untouched");
}
