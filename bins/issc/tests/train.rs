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
        assert!(acc >= 0.9, "test accuracy {acc} < 0.9");
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
}

#[test]
fn left_out_people_come_back_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let (all, full) = make_dataset(tmp.path());
    // Embed every crop into the cache (a one-epoch run on everyone).
    ok(&train(tmp.path(), &all, &tmp.path().join("runs/everyone"), &["--epochs", "1"]));
    // Leave some people out of a second dataset and train on the rest.
    let crops = tmp.path().join("crops");
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
    let known_crops = tmp.path().join("known_crops");
    for p in people.iter().filter(|p| !left_out.contains(p)) {
        std::fs::create_dir_all(known_crops.join(p)).unwrap();
        for e in std::fs::read_dir(crops.join(p)).unwrap() {
            let e = e.unwrap().path();
            std::fs::copy(&e, known_crops.join(p).join(e.file_name().unwrap())).unwrap();
        }
    }
    let known = tmp.path().join("known");
    let (c, d) = (known_crops.display().to_string(), known.display().to_string());
    let (min, split) = if full { ("4", "0.5,0.25,0.25") } else { ("3", "0.34,0.33,0.33") };
    ok(&issc("ort", &["prepare", "--in", &c, "--out", &d, "--min-per-label", min, "--split", split]));
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
    let files_of = |root: &Path, labels: &[String]| -> Vec<PathBuf> {
        let mut v = vec![];
        for l in labels {
            for e in std::fs::read_dir(root.join(l)).unwrap() {
                v.push(e.unwrap().path());
            }
        }
        v.sort();
        v
    };
    let strangers = files_of(&crops, &left_out);
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
