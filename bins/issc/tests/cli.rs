//! End-to-end tests of `issc detect | embed | verify | crop | doctor` on the bundled photos (tests/fixtures),
//! with both engines.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn fx(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

/// Bad inputs of every kind, written into `dir`: (file name, expected reason kind, expected message part).
fn bad_inputs(dir: &Path) -> Vec<(&'static str, &'static str, &'static str)> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("empty.jpg"), b"").unwrap();
    let jpeg = std::fs::read(fixtures().join("people/Angelina_Jolie/Angelina_Jolie_0004.jpg")).unwrap();
    std::fs::write(dir.join("truncated.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    std::fs::write(dir.join("page.jpg"), b"<html><body>Access denied</body></html>").unwrap();
    // 74 bytes whose PNG header claims 100000x100000 pixels.
    std::fs::copy(fixtures().join("bad/bomb.png"), dir.join("bomb.png")).unwrap();
    vec![
        ("empty.jpg", "empty", "file is empty"),
        ("truncated.jpg", "corrupt", "truncated or corrupt"),
        ("page.jpg", "not_an_image", "not an image"),
        ("bomb.png", "too_many_pixels", "decompression bomb"),
    ]
}

#[test]
fn detect_json_lines_keep_input_order_and_report_unreadable_photos() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = bad_inputs(tmp.path());
    for engine in ENGINES {
        let mut args: Vec<String> = vec!["detect".into(), "--json".into(), fx("images/ms_detection4.jpg")];
        for (name, _, _) in &bad {
            args.push(tmp.path().join(name).display().to_string());
        }
        args.push(fx("images/skimage_chelsea.png"));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = issc(engine, &argv);
        assert_ne!(out.status.code(), Some(0), "unreadable photos make the exit code non-zero");
        let lines = json_lines(&stdout(&out));
        assert_eq!(lines.len(), args.len() - 2);
        for (line, path) in lines.iter().zip(&args[2..]) {
            assert_eq!(line["path"].as_str(), Some(path.as_str()), "path as given, input order");
        }
        // The group photo: 3 faces, each with a box, a score and 5 landmarks; no embedding for detect.
        let group = &lines[0];
        assert_eq!((group["width"].as_u64(), group["height"].as_u64()), (Some(1000), Some(750)));
        let faces = group["faces"].as_array().unwrap();
        assert_eq!(faces.len(), 3, "{group}");
        for face in faces {
            assert_eq!(face["box"].as_array().unwrap().len(), 4);
            assert!(f(&face["score"]) >= 0.6);
            assert_eq!(face["landmarks"].as_array().unwrap().len(), 5);
            assert!(face.get("embedding").is_none());
        }
        // Each bad input: an error line naming the file and the reason.
        for ((name, _, msg), line) in bad.iter().zip(&lines[1..]) {
            let err = line["error"].as_str().unwrap_or_else(|| panic!("error line for {name}: {line}"));
            assert!(err.contains(name) && err.contains(msg), "{name}: {err}");
            assert!(line.get("faces").is_none());
        }
        // A cat is not a face.
        assert_eq!(lines.last().unwrap()["faces"].as_array().unwrap().len(), 0);
    }
}

#[test]
fn detections_match_the_reference_on_the_group_photo() {
    let reference = std::fs::read_to_string(fixtures().join("reference_yunet_n_dynamic640_sface.jsonl")).unwrap();
    let reference: Vec<Value> = json_lines(&reference);
    let r = reference.iter().find(|r| r["path"].as_str().unwrap().ends_with("ms_detection4.jpg")).unwrap();
    for engine in ENGINES {
        for detector in ["yunet", "retinaface"] {
            let out = issc(engine, &["detect", "--json", "--detector", detector, &fx("images/ms_detection4.jpg")]);
            let got = json_lines(&ok(&out));
            let faces = got[0]["faces"].as_array().unwrap();
            assert_eq!(faces.len(), 3, "{engine}/{detector}");
            for rf in r["faces"].as_array().unwrap() {
                let rb = rf["box_xywh"].as_array().unwrap();
                let (rcx, rcy) = (f(&rb[0]) + f(&rb[2]) / 2.0, f(&rb[1]) + f(&rb[3]) / 2.0);
                let close = faces.iter().any(|g| {
                    let gb = g["box"].as_array().unwrap();
                    let (gcx, gcy) = (f(&gb[0]) + f(&gb[2]) / 2.0, f(&gb[1]) + f(&gb[3]) / 2.0);
                    let tol = if detector == "yunet" { 1.0 } else { 0.25 * f(&rb[2]) };
                    (gcx - rcx).abs() <= tol && (gcy - rcy).abs() <= tol
                });
                assert!(close, "{engine}/{detector}: no face near the reference face at ({rcx:.0}, {rcy:.0})");
            }
        }
    }
}

/// Both engines run the same graph in reference mode and must agree there to float rounding. In the default mode
/// ONNX Runtime runs SFace's int8 graph and tract its fp32 fast graph: they agree to what the int8 graph keeps
/// (cosine >= 0.99 to the original on every shared face).
#[test]
fn embeddings_are_unit_128d_and_agree_between_engines() {
    let photo = fx("people/Jennifer_Aniston/Jennifer_Aniston_0002.jpg");
    for (mode, bar) in [(&["--reference"][..], 0.99999), (&[][..], 0.99)] {
        let mut embeddings = Vec::new();
        for engine in ENGINES {
            let mut args = mode.to_vec();
            args.extend(["embed", "--json", &photo]);
            let lines = json_lines(&ok(&issc(engine, &args)));
            let faces = lines[0]["faces"].as_array().unwrap();
            assert_eq!(faces.len(), 1);
            let e = &faces[0]["embedding"];
            assert_eq!(e.as_array().unwrap().len(), 128);
            assert!((cosine(e, e) - 1.0).abs() < 1e-5, "L2-normalised");
            embeddings.push(e.clone());
        }
        let c = cosine(&embeddings[0], &embeddings[1]);
        assert!(c > bar, "ONNX Runtime vs tract cosine {c} ({mode:?})");
    }
}

#[test]
fn verify_gets_every_fixture_pair_right() {
    let pairs = std::fs::read_to_string(fixtures().join("pairs.csv")).unwrap();
    let mut n = 0;
    for line in pairs.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let (a, b) = (fx(&format!("people/{}", cols[0])), fx(&format!("people/{}", cols[1])));
        let out = issc("ort", &["verify", "--json", &a, &b]);
        let v: Value = serde_json::from_str(ok(&out).trim()).unwrap();
        assert_eq!(v["same"].as_bool(), Some(cols[2] == "1"), "{line}: {v}");
        assert!((f(&v["threshold"]) - 0.363).abs() < 1e-6);
        assert!(f(&v["cosine"]).abs() <= 1.0);
        n += 1;
    }
    assert_eq!(n, 18);
    // Human output and a custom threshold.
    let out = issc(
        "tract",
        &[
            "verify",
            "--threshold",
            "0.99",
            &fx("people/Angelina_Jolie/Angelina_Jolie_0004.jpg"),
            &fx("people/Angelina_Jolie/Angelina_Jolie_0008.jpg"),
        ],
    );
    assert!(ok(&out).starts_with("different people: cosine"), "{}", stdout(&out));
}

#[test]
fn verify_without_a_face_is_a_clear_error() {
    let out = issc(
        "ort",
        &["verify", &fx("images/skimage_chelsea.png"), &fx("people/Angelina_Jolie/Angelina_Jolie_0004.jpg")],
    );
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("skimage_chelsea.png: no face found"), "{err}");
    assert!(stdout(&out).is_empty());
    let tmp = tempfile::tempdir().unwrap();
    bad_inputs(tmp.path());
    let out =
        issc("ort", &["verify", &tmp.path().join("page.jpg").display().to_string(), &fx("images/ms_detection4.jpg")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("page.jpg: not an image"), "{}", stderr(&out));
}

fn png_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    v.sort();
    v
}

#[test]
fn crop_mirrors_labels_writes_manifest_skips_done_work_and_writes_nothing_for_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("raw");
    for person in ["Angelina_Jolie", "Mark_Zuckerberg"] {
        let dst = input.join(person);
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(fixtures().join("people").join(person)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    std::fs::copy(fixtures().join("images/ms_detection4.jpg"), input.join("group.jpg")).unwrap();
    std::fs::copy(fixtures().join("images/skimage_chelsea.png"), input.join("Angelina_Jolie/cat.png")).unwrap();
    let bad = bad_inputs(&input.join("junk"));
    // A fetch manifest beside the photos is metadata, not a photo that failed.
    std::fs::write(input.join("manifest.jsonl"), b"{\"url\": \"x\"}\n").unwrap();
    let out_dir = tmp.path().join("crops");
    let (i, o) = (input.display().to_string(), out_dir.display().to_string());

    let out = issc("ort", &["crop", "--in", &i, "--out", &o, "--json"]);
    let summary: Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(summary["photos"], 6 + 1 + 1 + 4);
    assert_eq!(summary["faces"], 6 + 3, "one face per portrait, three in the group photo");
    assert_eq!(summary["no_face"], 1);
    assert_eq!(summary["failed"], 4);

    let pngs = png_files(&out_dir);
    let names: Vec<String> =
        pngs.iter().map(|p| p.strip_prefix(&out_dir).unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.contains(&"Angelina_Jolie/Angelina_Jolie_0004_0.png".to_string()), "{names:?}");
    assert!(names.contains(&"group_2.png".to_string()), "{names:?}");
    assert_eq!(pngs.len(), 9);
    assert!(!out_dir.join("junk").exists(), "nothing written for bad inputs");
    for p in &pngs {
        let img = image::open(p).unwrap();
        assert_eq!((img.width(), img.height()), (112, 112));
    }
    // No temporary files left behind.
    let leftovers: Vec<_> = walkdir::WalkDir::new(&out_dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());

    let manifest = json_lines(&std::fs::read_to_string(out_dir.join("crops.jsonl")).unwrap());
    let ok_lines: Vec<&Value> = manifest.iter().filter(|l| l["status"] == "ok").collect();
    assert_eq!(ok_lines.len(), 9);
    for l in &ok_lines {
        assert!(out_dir.join(l["crop"].as_str().unwrap()).is_file());
        assert_eq!(l["box"].as_array().unwrap().len(), 4);
        assert_eq!(l["landmarks"].as_array().unwrap().len(), 5);
        assert!(l["score"].as_f64().unwrap() >= 0.6);
        assert!(l["face_index"].is_u64());
    }
    let jolie = ok_lines.iter().find(|l| l["source"].as_str().unwrap().ends_with("Angelina_Jolie_0004.jpg")).unwrap();
    assert_eq!(jolie["label"], "Angelina_Jolie");
    let group = ok_lines.iter().find(|l| l["source"].as_str().unwrap().ends_with("group.jpg")).unwrap();
    assert!(group["label"].is_null());
    for (name, kind, msg) in &bad {
        let l = manifest
            .iter()
            .find(|l| l["source"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} in manifest"));
        assert_eq!(l["status"], "error");
        assert_eq!(l["reason"], *kind, "{name}");
        assert!(l["error"].as_str().unwrap().contains(msg), "{name}: {l}");
    }
    let stderr_text = stderr(&out);
    assert!(stderr_text.is_empty() || !stderr_text.contains("panicked"), "{stderr_text}");

    // Second run: photos already done are skipped (only unreadable ones are retried); crops untouched.
    let before: Vec<_> = pngs.iter().map(|p| std::fs::metadata(p).unwrap().modified().unwrap()).collect();
    let out = issc("ort", &["crop", "--in", &i, "--out", &o, "--json"]);
    let again: Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(again["skipped"], 8);
    assert_eq!(again["processed"], 4);
    let after: Vec<_> = pngs.iter().map(|p| std::fs::metadata(p).unwrap().modified().unwrap()).collect();
    assert_eq!(before, after, "done photos are not redone");
    let manifest2 = json_lines(&std::fs::read_to_string(out_dir.join("crops.jsonl")).unwrap());
    assert_eq!(manifest2.len(), manifest.len(), "manifest stays one entry per face / failed photo");

    // A deleted crop is redone.
    std::fs::remove_file(out_dir.join("group_1.png")).unwrap();
    let out = issc("ort", &["crop", "--in", &i, "--out", &o, "--json"]);
    let third: Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(third["processed"], 5);
    assert!(out_dir.join("group_1.png").is_file());
}

#[test]
fn margin_crops_have_the_requested_size() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in/ada");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(fixtures().join("images/ms_detection4.jpg"), input.join("g.jpg")).unwrap();
    let out_dir = tmp.path().join("out");
    let out = issc(
        "tract",
        &[
            "crop",
            "--in",
            &tmp.path().join("in").display().to_string(),
            "--out",
            &out_dir.display().to_string(),
            "--mode",
            "margin",
            "--size",
            "160",
            "--margin",
            "0.3",
        ],
    );
    ok(&out);
    let pngs = png_files(&out_dir);
    assert_eq!(pngs.len(), 3);
    for p in pngs {
        assert!(p.starts_with(out_dir.join("ada")));
        let img = image::open(&p).unwrap();
        assert_eq!((img.width(), img.height()), (160, 160));
    }
    let manifest = json_lines(&std::fs::read_to_string(out_dir.join("crops.jsonl")).unwrap());
    assert!(manifest.iter().all(|l| l["mode"] == "margin" && l["size"] == 160));
}

#[test]
fn doctor_names_engine_and_verified_models() {
    for engine in ENGINES {
        let v: Value = serde_json::from_str(ok(&issc(engine, &["doctor", "--json"])).trim()).unwrap();
        assert_eq!(v["engine"], if engine == "ort" { "onnxruntime" } else { "tract" });
        let models = v["models"].as_array().unwrap();
        let files: Vec<&str> = models.iter().filter_map(|m| m["file"].as_str()).collect();
        assert_eq!(
            files.len(),
            issc_detect::models::ALL_MODELS.len(),
            "YuNet, RetinaFace, SFace, SFace's fast graph, Face Mesh and the mask classifier: {v}"
        );
        for m in issc_detect::models::ALL_MODELS {
            assert!(files.contains(&m.file), "{} is not checked: {v}", m.file);
        }
        assert!(models.iter().all(|m| m["ok"] == true), "{v}");
        if engine == "ort" {
            assert!(v["engine_library"].as_str().unwrap().contains("onnxruntime"));
        }
    }
}

#[test]
fn missing_or_corrupted_models_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let photo = fx("images/ms_detection4.jpg");
    let out = issc("ort", &["--models", &dir, "detect", &photo]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("face_detection_yunet_n_dynamic.onnx") && err.contains("git checkout -- models/"), "{err}");

    let mut bytes = std::fs::read(repo().join("models/face_detection_yunet_n_dynamic.onnx")).unwrap();
    bytes[1000] ^= 0xFF;
    std::fs::write(tmp.path().join("face_detection_yunet_n_dynamic.onnx"), bytes).unwrap();
    let out = issc("ort", &["--models", &dir, "detect", &photo]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("failed its checksum") && err.contains("face_detection_yunet_n_dynamic.onnx"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn models_are_found_from_any_folder_inside_the_checkout_and_via_env() {
    let sub = repo().join("crates/core");
    let out = issc_in(&sub, "tract", &["doctor", "--json"]);
    let v: Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert!(v["models_dir"].as_str().unwrap().ends_with("models"));
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_issc"))
        .current_dir(tmp.path())
        .env("ISSC_MODELS_DIR", tmp.path().join("nope"))
        .args(["--engine", "tract", "doctor"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("nope") && stderr(&out).contains("ISSC_MODELS_DIR"), "{}", stderr(&out));
}

/// Issue #13: only regular files are read (a FIFO is refused at once, `/dev/zero` is not read), a damaged JPEG is
/// refused unless accepted, and negative values reach the option's own check.
#[test]
fn non_files_damaged_photos_and_negative_values_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("photo.jpg");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo_s = fifo.display().to_string();
    // A FIFO as a photo and as --config: refused, not waited on (nothing ever writes to it).
    let out = issc("ort", &["detect", &fifo_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("photo.jpg: not a regular file (FIFO)"), "{}", stderr(&out));
    let out = issc("ort", &["run", "--config", &fifo_s]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a regular file (FIFO)"), "{}", stderr(&out));
    // A device that never ends.
    let out = issc("ort", &["detect", "--json", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    let line = &json_lines(&stdout(&out))[0];
    assert!(line["error"].as_str().unwrap().contains("/dev/zero: not a regular file (character device)"), "{line}");

    // Half a JPEG with an end-of-image marker appended: libjpeg would fill the rest with grey.
    let jpeg = std::fs::read(fixtures().join("people/Angelina_Jolie/Angelina_Jolie_0004.jpg")).unwrap();
    let mut half = jpeg[..jpeg.len() / 2].to_vec();
    half.extend_from_slice(&[0xFF, 0xD9]);
    let damaged = tmp.path().join("half.jpg");
    std::fs::write(&damaged, &half).unwrap();
    let d = damaged.display().to_string();
    let out = issc("ort", &["detect", "--json", &d]);
    assert_eq!(out.status.code(), Some(2), "refused by default");
    let err = json_lines(&stdout(&out))[0]["error"].as_str().unwrap().to_string();
    assert!(err.contains("half.jpg: the JPEG data is damaged") && err.contains("premature end of data"), "{err}");
    let out = issc("ort", &["--accept-damaged", "detect", "--json", &d]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(json_lines(&stdout(&out))[0]["faces"].is_array());
    assert!(stderr(&out).contains("premature end of data segment"), "the warning is shown: {}", stderr(&out));

    // Negative numbers reach the option's check, which names it.
    let out = issc(
        "ort",
        &["crop", "--in", &fx("people"), "--out", &tmp.path().join("c").display().to_string(), "--margin", "-1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--margin -1 is out of range"), "{}", stderr(&out));
    let out = issc("ort", &["detect", "--min-face", "-5", &fx("images/ms_detection4.jpg")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("min") && !stderr(&out).contains("unexpected argument"), "{}", stderr(&out));
}

/// Issue #13: `crop` writes nothing before its settings are checked, removes what an interrupted run left, reports
/// a dangling link, and fails when no photo could be read.
#[test]
fn crop_checks_before_writing_cleans_up_and_fails_when_nothing_was_read() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("crops");
    let o = out_dir.display().to_string();
    // Bad settings: no --out folder is created.
    for bad in [
        vec!["crop", "--in", "/nonexistent/photos", "--out", &o],
        vec!["crop", "--in", &fx("people"), "--out", &o, "--size", "8"],
        vec!["crop", "--in", &fx("people"), "--out", &o, "--min-face", "-1"],
    ] {
        let out = issc("ort", &bad);
        assert_ne!(out.status.code(), Some(0), "{bad:?}");
        assert!(!out_dir.exists(), "{bad:?} created {o}");
    }
    // Only unreadable inputs: a dangling link and a text file. Exit code 2, each named in the manifest.
    let input = tmp.path().join("raw/someone");
    std::fs::create_dir_all(&input).unwrap();
    std::os::unix::fs::symlink("/nonexistent/photo.jpg", input.join("gone.jpg")).unwrap();
    std::fs::write(input.join("notes.jpg"), b"not a photo").unwrap();
    let i = tmp.path().join("raw").display().to_string();
    let out = issc("ort", &["crop", "--in", &i, "--out", &o]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("none of the 2 photo(s) could be read"), "{}", stderr(&out));
    let manifest = json_lines(&std::fs::read_to_string(out_dir.join("crops.jsonl")).unwrap());
    let gone = manifest.iter().find(|l| l["source"].as_str().unwrap().ends_with("gone.jpg")).expect("link reported");
    assert_eq!(gone["reason"], "dangling_link", "{gone}");
    assert!(gone["error"].as_str().unwrap().contains("/nonexistent/photo.jpg"), "{gone}");
    // A run killed mid-write leaves `.<name>.<random>.tmp`; the next run removes it.
    std::fs::remove_file(input.join("gone.jpg")).unwrap();
    std::fs::copy(fixtures().join("people/Angelina_Jolie/Angelina_Jolie_0004.jpg"), input.join("a.jpg")).unwrap();
    std::fs::create_dir_all(out_dir.join("someone")).unwrap();
    let partial = out_dir.join("someone/.a_0.png.Xy12Ab.tmp");
    std::fs::write(&partial, b"half a png").unwrap();
    let out = issc("ort", &["crop", "--in", &i, "--out", &o, "--json"]);
    let summary: Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(summary["faces"], 1, "{summary}");
    assert!(!partial.exists(), "the partial file of the interrupted run is removed");
    assert!(out_dir.join("someone/a_0.png").is_file());
}

/// `-` reads a photo from standard input, explicitly; the answer is the same as from the file.
#[test]
fn a_photo_can_come_from_standard_input() {
    let photo = fixtures().join("images/ms_detection4.jpg");
    let from_file = json_lines(&ok(&issc("ort", &["detect", "--json", &photo.display().to_string()])));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_issc"))
        .args(["--engine", "ort", "--models", &repo().join("models").display().to_string(), "detect", "--json", "-"])
        .stdin(std::fs::File::open(&photo).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let from_stdin = json_lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(from_stdin[0]["faces"], from_file[0]["faces"]);
}
