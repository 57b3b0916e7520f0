//! `issc train --mode head` end to end on real faces: photos → `issc crop` → `issc prepare` → `issc train`.
//! Accuracy, outputs, the embedding cache, bit-identical `--resume`, and refusals of unusable datasets.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Copy `<src>/<label>/<photo>` for labels with at least `min` photos.
fn copy_people(src: &Path, dst: &Path, min: usize) -> usize {
    let mut people = 0;
    let mut dirs: Vec<_> = std::fs::read_dir(src).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for d in dirs {
        let photos: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x != "csv" && x != "txt" && x != "md"))
            .collect();
        if photos.len() < min {
            continue;
        }
        let to = dst.join(d.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for p in photos {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
        people += 1;
    }
    people
}

/// Real photos → aligned crops (the best-scoring face of each photo: the labelled person) → dataset. Uses
/// identity/public (people with ≥ 4 photos) when ../shared/data is present, else the bundled fixtures.
fn make_dataset(tmp: &Path) -> (PathBuf, bool) {
    let photos = tmp.join("photos");
    let shared = shared_data();
    let (min, split) = match &shared {
        Some(d) => {
            let n = copy_people(&d.join("identity/public"), &photos, 4);
            assert!(n >= 10, "identity/public should hold at least 10 people with 4+ photos, found {n}");
            ("4", "0.5,0.25,0.25")
        }
        None => {
            eprintln!("../shared/data absent: training on tests/fixtures/people (accuracy not asserted)");
            copy_people(&fixtures().join("people"), &photos, 3);
            ("3", "0.34,0.33,0.33")
        }
    };
    let crops = tmp.join("crops");
    ok(&issc("ort", &["crop", "--in", &photos.display().to_string(), "--out", &crops.display().to_string()]));
    // Group photos: keep the best-scoring face, drop the bystanders.
    let manifest = std::fs::read_to_string(crops.join("crops.jsonl")).unwrap();
    for e in json_lines(&manifest) {
        if e["status"] == "ok" && e["face_index"].as_u64() != Some(0) {
            std::fs::remove_file(crops.join(e["crop"].as_str().unwrap())).unwrap();
        }
    }
    let ds = tmp.join("dataset");
    let (c, d) = (crops.display().to_string(), ds.display().to_string());
    ok(&issc("ort", &["prepare", "--in", &c, "--out", &d, "--min-per-label", min, "--split", split]));
    (ds, shared.is_some())
}

fn train(cwd: &Path, data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let (d, o, c) = (data.display().to_string(), out.display().to_string(), cwd.join("cache").display().to_string());
    let mut args = vec!["train", "--json", "--data", &d, "--out", &o, "--cache", &c];
    args.extend_from_slice(extra);
    issc_in(cwd, "ort", &args)
}

fn json_file(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn head_training_is_accurate_writes_the_run_and_reuses_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, full) = make_dataset(tmp.path());
    let run = tmp.path().join("runs/head");
    let r: Value = serde_json::from_str(ok(&train(tmp.path(), &ds, &run, &[])).trim()).unwrap();
    let (acc, faces, epochs) =
        (f(&r["test_accuracy"]), r["test_faces"].as_u64().unwrap(), r["epochs"].as_u64().unwrap());
    let cache = &r["cache"];
    println!(
        "head: test accuracy {acc:.3} on {faces} faces ({} labels, {} train, {} val) · {epochs} epochs (best {}) · \
         {:.4} s/epoch · embeddings {:.2} s, cache {} hits / {} misses · open set: {} (max-prob thr {:.3}, cos thr \
         {:.3})",
        r["labels"].as_array().unwrap().len(),
        r["train_faces"],
        r["val_faces"],
        r["best_epoch"],
        f(&r["seconds_per_epoch"]),
        f(&r["embedding_seconds"]),
        cache["hits"],
        cache["misses"],
        r["open_set"]["chosen"],
        f(&r["open_set"]["max_probability"]["threshold"]),
        f(&r["open_set"]["centroid_cosine"]["threshold"]),
    );
    assert_eq!(cache["hits"], 0, "a fresh cache has no hits");
    if full {
        assert!(faces >= 10, "too few test faces for a meaningful figure: {faces}");
        assert!(acc >= 0.98, "test accuracy {acc} < 0.98 (the issue's bar)");
        assert!(f(&r["val_accuracy"]) >= 0.85, "{r}");
    }

    // The run folder.
    for p in
        ["config.json", "labels.json", "metrics.json", "test.json", "model.json", "best/model.bpk", "best/labels.json"]
    {
        assert!(run.join(p).is_file(), "{p} missing");
    }
    for e in 1..=epochs {
        for ext in ["model.bpk", "optim.bpk", "state.json"] {
            assert!(run.join(format!("checkpoints/epoch-{e:04}.{ext}")).is_file(), "epoch {e} {ext}");
        }
    }
    let leftovers: Vec<_> = walkdir::WalkDir::new(&run)
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .filter(|p| p.extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let metrics = json_file(&run.join("metrics.json"));
    let per_epoch = metrics["epochs"].as_array().unwrap();
    assert_eq!(per_epoch.len() as u64, epochs);
    for k in ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"] {
        assert!(per_epoch[0][k].is_number(), "{k}: {}", per_epoch[0]);
    }
    assert!(f(&per_epoch[epochs as usize - 1]["train_loss"]) < f(&per_epoch[0]["train_loss"]), "loss fell");
    let test = json_file(&run.join("test.json"));
    let labels = json_file(&run.join("labels.json"));
    let matrix = test["confusion_matrix"]["matrix"].as_array().unwrap();
    assert_eq!(matrix.len(), labels.as_array().unwrap().len());
    let (diag, total): (u64, u64) = matrix.iter().enumerate().fold((0, 0), |(d, t), (i, row)| {
        let row: Vec<u64> = row.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        (d + row[i], t + row.iter().sum::<u64>())
    });
    assert_eq!(total, faces);
    assert!((diag as f64 / total as f64 - acc).abs() < 1e-9, "confusion matrix agrees with accuracy");
    let card = json_file(&run.join("model.json"));
    let os = &card["open_set"];
    for rule in ["max_probability", "centroid_cosine"] {
        assert!(os[rule]["threshold"].is_number() && os[rule]["auc"].is_number(), "{rule}: {os}");
    }
    assert!(["max_probability", "centroid_cosine"].contains(&os["chosen"].as_str().unwrap()));
    assert_eq!(card["labels"], labels);
    assert_eq!(card["centroids"].as_object().unwrap().len(), labels.as_array().unwrap().len());

    // A second run on the same crops: every embedding comes from the cache.
    let r2: Value =
        serde_json::from_str(ok(&train(tmp.path(), &ds, &tmp.path().join("runs/again"), &["--epochs", "2"])).trim())
            .unwrap();
    println!("second run: cache {} hits / {} misses", r2["cache"]["hits"], r2["cache"]["misses"]);
    assert_eq!(r2["cache"]["misses"], 0);
    assert_eq!(r2["cache"]["hits"].as_u64(), cache["misses"].as_u64());

    // An existing run is not overwritten without --resume.
    let again = train(tmp.path(), &ds, &run, &[]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--resume"), "{}", stderr(&again));
}

/// Drop `seconds` (wall-clock) from metrics.json's epochs.
fn numbers(metrics: &Value) -> Vec<Value> {
    metrics["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut().unwrap().remove("seconds");
            e
        })
        .collect()
}

#[test]
fn resume_gives_the_same_run_as_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, _) = make_dataset(tmp.path());
    let common = ["--patience", "100", "--batch", "8", "--seed", "7", "--hidden", "32"];
    let whole = tmp.path().join("runs/whole");
    ok(&train(tmp.path(), &ds, &whole, &[&common[..], &["--epochs", "6"]].concat()));
    let split = tmp.path().join("runs/split");
    ok(&train(tmp.path(), &ds, &split, &[&common[..], &["--epochs", "3"]].concat()));
    assert_eq!(numbers(&json_file(&split.join("metrics.json"))).len(), 3);
    let r: Value = serde_json::from_str(
        ok(&train(tmp.path(), &ds, &split, &[&common[..], &["--epochs", "6", "--resume"]].concat())).trim(),
    )
    .unwrap();
    assert_eq!(r["resumed_from"], 3);
    let (a, b) = (numbers(&json_file(&whole.join("metrics.json"))), numbers(&json_file(&split.join("metrics.json"))));
    assert_eq!(a.len(), 6);
    assert_eq!(a, b, "metrics of 6 epochs in one go vs 3 + --resume");
    // Same final model: same test results and open-set calibration (checkpoint bytes differ only by burn's
    // random parameter ids).
    let (ta, tb) = (json_file(&whole.join("test.json")), json_file(&split.join("test.json")));
    assert_eq!(ta, tb, "test.json");
    let (ma, mb) = (json_file(&whole.join("model.json")), json_file(&split.join("model.json")));
    assert_eq!(ma["open_set"], mb["open_set"]);
    assert_eq!(ma["centroids"], mb["centroids"]);
    println!(
        "resume: 6 epochs == 3 + 3 (metrics, test results and thresholds identical); val loss {}",
        a[5]["val_loss"]
    );

    // --resume with other settings is refused, naming them.
    let other =
        train(tmp.path(), &ds, &split, &[&common[..6], &["--epochs", "8", "--resume", "--hidden", "64"]].concat());
    assert!(!other.status.success());
    assert!(stderr(&other).contains("head"), "{}", stderr(&other));
}

#[test]
fn unusable_datasets_fail_clearly_and_leave_no_run() {
    let tmp = tempfile::tempdir().unwrap();
    // No dataset.json.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = tmp.path().join("runs/x");
    let o = train(tmp.path(), &empty, &run, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("issc prepare"), "{}", stderr(&o));
    assert!(!run.exists());

    // One label only.
    let photos = tmp.path().join("photos/Angelina_Jolie");
    std::fs::create_dir_all(&photos).unwrap();
    let src = shared_data()
        .map(|d| d.join("identity/public/Angelina_Jolie"))
        .unwrap_or(fixtures().join("people/Angelina_Jolie"));
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, photos.join(p.file_name().unwrap())).unwrap();
    }
    let (p, c, d) = (
        tmp.path().join("photos").display().to_string(),
        tmp.path().join("crops").display().to_string(),
        tmp.path().join("one").display().to_string(),
    );
    ok(&issc("ort", &["crop", "--in", &p, "--out", &c]));
    ok(&issc("ort", &["prepare", "--in", &c, "--out", &d, "--min-per-label", "2"]));
    let o = train(tmp.path(), Path::new(&d), &run, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("at least 2"), "{}", stderr(&o));
    assert!(!run.exists(), "nothing written for a refused dataset");

    // A usable dataset with an empty label folder (warned about) and a crop damaged after `issc prepare`
    // (refused, naming the file, in both modes).
    let (ds, full) = make_dataset(&tmp.path().join("good"));
    let nobody = tmp.path().join("good/crops/Nobody");
    std::fs::create_dir_all(&nobody).unwrap();
    image::RgbImage::from_fn(112, 112, |x, y| image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 9]))
        .save(nobody.join("noise.png"))
        .unwrap();
    let (min, split) = if full { ("4", "0.5,0.25,0.25") } else { ("3", "0.34,0.33,0.33") };
    let (c, d) = (tmp.path().join("good/crops").display().to_string(), ds.display().to_string());
    ok(&issc("ort", &["prepare", "--in", &c, "--out", &d, "--min-per-label", min, "--split", split]));
    let victim = split_files(&ds, "train")[0].0.clone();
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    for mode in ["head", "finetune"] {
        let o = train(tmp.path(), &ds, &run, &["--mode", mode]);
        assert!(!o.status.success(), "{mode}");
        let err = stderr(&o);
        assert!(err.contains(victim.file_name().unwrap().to_str().unwrap()) && err.contains("issc prepare"), "{err}");
        assert!(!run.exists(), "{mode}: nothing written when a crop is unreadable");
    }
    std::fs::write(&victim, &bytes).unwrap();
    let o = train(tmp.path(), &ds, &run, &["--epochs", "2"]);
    ok(&o);
    assert!(stderr(&o).contains("label Nobody") && stderr(&o).contains("left out"), "{}", stderr(&o));
}

/// A dataset of the people in `make_dataset`'s crops minus some left out (whose crops are returned, as
/// strangers): `(known dataset, stranger crops, left-out people, full data?)`.
fn known_and_strangers(tmp: &Path) -> (PathBuf, Vec<PathBuf>, Vec<String>, bool) {
    let (_, full) = make_dataset(tmp);
    let crops = tmp.join("crops");
    let mut people: Vec<String> = std::fs::read_dir(&crops)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    people.sort();
    let left_out: Vec<String> = if full {
        ["Jim_Parsons", "Kaley_Cuoco", "Mark_Zuckerberg", "Yao_Ming"].iter().map(|s| s.to_string()).collect()
    } else {
        vec![people[people.len() - 1].clone()]
    };
    let known_crops = tmp.join("known_crops");
    for p in people.iter().filter(|p| !left_out.contains(p)) {
        std::fs::create_dir_all(known_crops.join(p)).unwrap();
        for e in std::fs::read_dir(crops.join(p)).unwrap() {
            let e = e.unwrap().path();
            std::fs::copy(&e, known_crops.join(p).join(e.file_name().unwrap())).unwrap();
        }
    }
    let known = tmp.join("known");
    let (c, d) = (known_crops.display().to_string(), known.display().to_string());
    let (min, split) = if full { ("4", "0.5,0.25,0.25") } else { ("3", "0.34,0.33,0.33") };
    ok(&issc("ort", &["prepare", "--in", &c, "--out", &d, "--min-per-label", min, "--split", split]));
    let strangers = files_of(&crops, &left_out);
    (known, strangers, left_out, full)
}

fn files_of(root: &Path, labels: &[String]) -> Vec<PathBuf> {
    let mut v = vec![];
    for l in labels {
        for e in std::fs::read_dir(root.join(l)).unwrap() {
            v.push(e.unwrap().path());
        }
    }
    v.sort();
    v
}

#[test]
fn left_out_people_come_back_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let (known, strangers, left_out, full) = known_and_strangers(tmp.path());
    // Embed every crop into the cache (a one-epoch run on everyone).
    ok(&train(tmp.path(), &tmp.path().join("dataset"), &tmp.path().join("runs/everyone"), &["--epochs", "1"]));
    let run = tmp.path().join("runs/known");
    ok(&train(tmp.path(), &known, &run, &[]));

    let classifier = issc_train::Classifier::load(&run).unwrap();
    let cache = issc_train::EmbeddingCache::new(tmp.path().join("cache"));
    let embed = |paths: &[PathBuf]| -> Vec<f32> {
        paths
            .iter()
            .flat_map(|p| {
                let b3 = blake3::hash(&std::fs::read(p).unwrap()).to_hex().to_string();
                cache.get(&b3).unwrap_or_else(|| panic!("{} not in the cache", p.display()))
            })
            .collect()
    };
    let answers = classifier.classify(&embed(&strangers));
    let rejected = answers.iter().filter(|p| p.label.is_none()).count() as f64 / answers.len() as f64;
    // Known people's test faces should still be recognised.
    let known_labels: Vec<String> = classifier.labels().to_vec();
    let test_root = known.join("test");
    let test_labels: Vec<String> = known_labels.iter().filter(|l| test_root.join(l).is_dir()).cloned().collect();
    let test_files = files_of(&test_root, &test_labels);
    let known_answers = classifier.classify(&embed(&test_files));
    let recognised = known_answers
        .iter()
        .zip(&test_files)
        .filter(|(p, f)| p.label.as_deref() == f.parent().unwrap().file_name().unwrap().to_str())
        .count() as f64
        / known_answers.len().max(1) as f64;
    let rule = classifier.open_set().chosen();
    println!(
        "open set ({} at {:.3}): {} faces of {} left-out people rejected as unknown {:.1} %; known test faces \
         recognised and accepted {:.1} % of {}",
        rule.score,
        rule.threshold,
        strangers.len(),
        left_out.len(),
        100.0 * rejected,
        100.0 * recognised,
        test_files.len()
    );
    if full {
        assert!(rejected >= 0.95, "only {:.1} % of strangers rejected", 100.0 * rejected);
        assert!(recognised >= 0.9, "only {:.1} % of known faces accepted", 100.0 * recognised);
    }
}

/// Test crops of a dataset, with their labels, sorted.
fn split_files(ds: &Path, split: &str) -> Vec<(PathBuf, String)> {
    let mut v = vec![];
    let root = ds.join(split);
    for l in std::fs::read_dir(&root).unwrap() {
        let l = l.unwrap().path();
        for e in std::fs::read_dir(&l).unwrap() {
            v.push((e.unwrap().path(), l.file_name().unwrap().to_string_lossy().into_owned()));
        }
    }
    v.sort();
    v
}

#[test]
fn export_matches_the_trained_model_and_predict_labels_photos() {
    let tmp = tempfile::tempdir().unwrap();
    let (ds, full) = make_dataset(tmp.path());
    let run = tmp.path().join("runs/head");
    ok(&train(tmp.path(), &ds, &run, &["--hidden", "64"]));
    let model = tmp.path().join("model");
    let (r, m) = (run.display().to_string(), model.display().to_string());
    let report: Value =
        serde_json::from_str(ok(&issc("ort", &["export", "--run", &r, "--out", &m, "--json"])).trim()).unwrap();
    assert!(report["check"]["faces"].as_u64().unwrap() > 0, "{report}");
    assert!(f(&report["check"]["max_abs_diff_probabilities"]) <= 1e-4, "{report}");

    // The card.
    let card = json_file(&model.join("model.json"));
    let onnx = std::fs::read(model.join("model.onnx")).unwrap();
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&onnx).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(card["model"]["sha256"], sha);
    assert_eq!(card["labels"], json_file(&run.join("model.json"))["labels"]);
    for k in ["threshold", "score", "how"] {
        assert!(!card["rejection"][k].is_null(), "rejection.{k}: {card}");
    }
    assert_eq!(card["input"]["shape"], serde_json::json!(["N", 3, 112, 112]));
    assert!(card["metrics"]["test_accuracy"].is_number() && card["training"]["settings"]["seed"].is_number());
    assert!(card["verification_threshold"].is_number() && card["issc_version"].is_string());

    // Parity, in this process: the graph on ONNX Runtime vs SFace + the burn head, on every test crop.
    issc_detect::init_engine(issc_detect::EngineChoice::OnnxRuntime).unwrap();
    let predictor = issc_predict::Predictor::open(&model).unwrap();
    let classifier = issc_train::Classifier::load(&run).unwrap();
    let embedder =
        issc_detect::SFace::new(&issc_detect::ModelDir::locate(Some(&repo().join("models"))).unwrap()).unwrap();
    let test = split_files(&ds, "test");
    let faces: Vec<image::RgbImage> =
        test.iter().map(|(p, _)| issc_core::load_image(p, &Default::default()).unwrap().rgb).collect();
    let (emb, probs) = predictor.run(&faces).unwrap();
    let reference = issc_export::reference_probabilities(&classifier, &embedder, &faces).unwrap();
    let diff = issc_export::max_abs_diff(&probs, &reference);
    let emb_ref: Vec<f32> =
        faces.iter().flat_map(|f| issc_detect::Embedder::embed(&embedder, f).unwrap().as_slice().to_vec()).collect();
    let emb_diff = issc_export::max_abs_diff(&emb, &emb_ref);
    println!(
        "export parity: {} test faces, max |Δprobability| = {diff:.3e}, max |Δembedding| = {emb_diff:.3e}",
        faces.len()
    );
    assert!(diff <= 1e-4, "probabilities differ by {diff}");
    let labels = predictor.classify(&faces, 3).unwrap();
    let correct = labels.iter().zip(&test).filter(|(l, (_, truth))| l.top_k[0].label == *truth).count();
    println!("exported model: top-1 {correct}/{} on the test crops", test.len());
    if full {
        assert!(correct as f64 / test.len() as f64 >= 0.98, "{correct}/{}", test.len());
    }

    // `issc predict` on whole photos of test people (the photos the test crops came from).
    let photos: Vec<String> = test
        .iter()
        .take(6)
        .map(|(p, label)| {
            let stem = p.file_stem().unwrap().to_string_lossy();
            let stem = stem.rsplit_once('_').map_or(stem.to_string(), |(s, _)| s.to_string());
            let dir = tmp.path().join("photos").join(label);
            let photo = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|q| q.file_stem().unwrap().to_string_lossy() == stem)
                .unwrap_or_else(|| panic!("no photo {stem} in {}", dir.display()));
            photo.display().to_string()
        })
        .collect();
    let mut args = vec!["predict", "--model", &m, "--json", "--top-k", "3"];
    args.extend(photos.iter().map(String::as_str));
    let lines = json_lines(&ok(&issc("ort", &args)));
    assert_eq!(lines.len(), photos.len());
    let mut hits = 0;
    for (line, (_, truth)) in lines.iter().zip(&test) {
        let faces = line["faces"].as_array().unwrap();
        assert!(!faces.is_empty(), "{line}");
        for face in faces {
            assert!(face["box"].as_array().unwrap().len() == 4 && face["landmarks"].as_array().unwrap().len() == 5);
            assert_eq!(face["top_k"].as_array().unwrap().len(), 3, "{face}");
            assert!(face["probability"].is_number() && face["label"].is_string());
        }
        hits += usize::from(faces.iter().any(|f| f["label"] == truth.as_str()));
    }
    println!("issc predict: the labelled person found in {hits}/{} photos", photos.len());
    if full {
        assert_eq!(hits, photos.len());
    }

    // A photo with no face: an empty list, not an error.
    let negative = fixtures().join("images/skimage_chelsea.png");
    let line =
        &json_lines(&ok(&issc("ort", &["predict", "--model", &m, "--json", &negative.display().to_string()])))[0];
    assert_eq!(line["faces"].as_array().unwrap().len(), 0, "a cat: {line}");

    // Refusals: not a run; a foreign non-empty output folder; a model.onnx that is not the card's.
    let o = issc(
        "ort",
        &["export", "--run", &ds.display().to_string(), "--out", &tmp.path().join("m2").display().to_string()],
    );
    assert!(!o.status.success() && stderr(&o).contains("issc train"), "{}", stderr(&o));
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let o = issc("ort", &["export", "--run", &r, "--out", &foreign.display().to_string()]);
    assert!(!o.status.success() && stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1, "nothing written into a refused folder");
    let mut tampered = onnx.clone();
    let n = tampered.len();
    tampered[n - 10] ^= 1;
    std::fs::write(model.join("model.onnx"), &tampered).unwrap();
    let o = issc("ort", &["predict", "--model", &m, &photos[0]]);
    assert!(!o.status.success() && stderr(&o).contains("sha256"), "{}", stderr(&o));
}

#[test]
fn finetune_resumes_exactly_exports_and_rejects_strangers() {
    let tmp = tempfile::tempdir().unwrap();
    let (known, strangers, left_out, full) = known_and_strangers(tmp.path());
    let common = ["--mode", "finetune", "--patience", "100", "--seed", "3", "--unfreeze", "2"];
    let whole = tmp.path().join("runs/ft-whole");
    let r: Value = serde_json::from_str(
        ok(&train(tmp.path(), &known, &whole, &[&common[..], &["--epochs", "3"]].concat())).trim(),
    )
    .unwrap();
    let split = tmp.path().join("runs/ft-split");
    ok(&train(tmp.path(), &known, &split, &[&common[..], &["--epochs", "2"]].concat()));
    let r2: Value = serde_json::from_str(
        ok(&train(tmp.path(), &known, &split, &[&common[..], &["--epochs", "3", "--resume"]].concat())).trim(),
    )
    .unwrap();
    assert_eq!(r2["resumed_from"], 2);
    let (a, b) = (numbers(&json_file(&whole.join("metrics.json"))), numbers(&json_file(&split.join("metrics.json"))));
    assert_eq!(a.len(), 3);
    assert_eq!(a, b, "fine-tuning: metrics of 3 epochs in one go vs 2 + --resume");
    assert_eq!(json_file(&whole.join("test.json")), json_file(&split.join("test.json")));
    let card = json_file(&whole.join("model.json"));
    assert_eq!(card["mode"], "finetune");
    assert!(card["backbone"]["trainable_parameters"].as_u64().unwrap() > 6_000_000, "{}", card["backbone"]);
    for p in ["curves.png", "confusion.png", "best/model.bpk"] {
        assert!(whole.join(p).is_file(), "{p}");
    }
    println!(
        "finetune: test accuracy {:.3} on {} faces · {:.2} s/epoch · resume after 2 of 3 epochs identical",
        f(&r["test_accuracy"]),
        r["test_faces"],
        f(&r["seconds_per_epoch"])
    );

    // Export: the fine-tuned SFace replaces the bundled weights in the graph; parity with burn.
    let model = tmp.path().join("ft-model");
    let (w, m) = (whole.display().to_string(), model.display().to_string());
    let report: Value =
        serde_json::from_str(ok(&issc("ort", &["export", "--run", &w, "--out", &m, "--json"])).trim()).unwrap();
    assert_eq!(report["mode"], "finetune");
    assert!(f(&report["check"]["max_abs_diff_probabilities"]) <= 1e-4, "{report}");
    issc_detect::init_engine(issc_detect::EngineChoice::OnnxRuntime).unwrap();
    let predictor = issc_predict::Predictor::open(&model).unwrap();
    let models = issc_detect::ModelDir::locate(Some(&repo().join("models"))).unwrap();
    let classifier = issc_train::Classifier::load_with_models(&whole, Some(&models)).unwrap();
    let test = split_files(&known, "test");
    let faces: Vec<image::RgbImage> =
        test.iter().map(|(p, _)| issc_core::load_image(p, &Default::default()).unwrap().rgb).collect();
    let (emb, probs) = predictor.run(&faces).unwrap();
    let tuned = classifier.embed_faces(&faces).expect("a fine-tuned run embeds with its own SFace");
    let reference = classifier.probabilities(&tuned);
    let (dp, de) = (issc_export::max_abs_diff(&probs, &reference), issc_export::max_abs_diff(&emb, &tuned));
    // The fine-tuned backbone really differs from the bundled SFace.
    let embedder = issc_detect::SFace::new(&models).unwrap();
    let original: Vec<f32> =
        faces.iter().flat_map(|f| issc_detect::Embedder::embed(&embedder, f).unwrap().as_slice().to_vec()).collect();
    let moved = issc_export::max_abs_diff(&tuned, &original);
    println!(
        "finetune export parity: {} faces, max |Δp| = {dp:.3e}, max |Δembedding| = {de:.3e}; the backbone moved \
         embeddings by up to {moved:.3e}",
        faces.len()
    );
    assert!(dp <= 1e-4 && de <= 1e-4, "{dp} {de}");
    assert!(moved > 1e-4, "fine-tuning changed nothing");

    // Open set with the fine-tuned model (through the exported graph).
    let stranger_faces: Vec<image::RgbImage> =
        strangers.iter().map(|p| issc_core::load_image(p, &Default::default()).unwrap().rgb).collect();
    let answers = predictor.classify(&stranger_faces, 1).unwrap();
    let rejected = answers.iter().filter(|l| l.label.is_none()).count() as f64 / answers.len() as f64;
    let known_answers = predictor.classify(&faces, 1).unwrap();
    let accepted = known_answers.iter().zip(&test).filter(|(l, (_, t))| l.label.as_deref() == Some(t)).count() as f64
        / test.len() as f64;
    println!(
        "finetune open set ({} at {:.3}): {} faces of {} left-out people rejected {:.1} %; known test faces \
         recognised and accepted {:.1} % of {}",
        predictor.card().rejection.score,
        predictor.card().rejection.threshold,
        strangers.len(),
        left_out.len(),
        100.0 * rejected,
        100.0 * accepted,
        test.len()
    );
    if full {
        assert!(rejected >= 0.95, "only {:.1} % of strangers rejected", 100.0 * rejected);
        assert!(accepted >= 0.9, "only {:.1} % of known faces accepted", 100.0 * accepted);
    }
}
