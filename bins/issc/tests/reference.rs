//! The figures issues #2 and #12 ask for, measured on every photo of `../shared/data` with both engines:
//! parity with the reference pipeline (YuNet-n dynamic at 640 + SFace, OpenCV) in reference mode (`--reference`:
//! exact) and in the default fast mode (SFace's int8 graph under ONNX Runtime, its fp32 fast graph under tract), verification accuracy on `identity/public/pairs.csv`,
//! faces on every public photo, none on the negatives. These tests need `../shared/data` and fail without it.
//!
//! Run with `--nocapture` to see the figures.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::*;
use serde_json::Value;

const REFERENCE: &str = "reference/yunet_n_dynamic640_sface.jsonl";

fn data() -> PathBuf {
    shared_data().expect(
        "../shared/data is missing: the parity and accuracy tests need it (CI has it); check it out beside the repository",
    )
}

fn reference() -> Vec<Value> {
    let text = std::fs::read_to_string(data().join(REFERENCE)).expect("the reference pipeline's output");
    json_lines(&text)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// `--reference`: OpenCV's pipeline exactly.
    Reference,
    /// The default.
    Fast,
}

/// `issc embed --json` over every photo of the reference, once per engine and mode.
fn run_all(engine: &'static str, mode: Mode) -> &'static HashMap<String, Value> {
    static CELLS: [OnceLock<HashMap<String, Value>>; 4] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let cell = &CELLS[usize::from(engine == "tract") * 2 + usize::from(mode == Mode::Fast)];
    cell.get_or_init(|| {
        let data = data();
        let rows = reference();
        let paths: Vec<&str> = rows.iter().map(|r| r["path"].as_str().expect("path")).collect();
        let mut args = if mode == Mode::Reference { vec!["--reference"] } else { vec![] };
        args.extend(["embed", "--json"]);
        args.extend(paths.iter().copied());
        let out = issc_in(&data, engine, &args);
        let lines = json_lines(&stdout(&out));
        assert!(out.status.success(), "issc embed failed on reference photos: {}", stderr(&out));
        assert_eq!(lines.len(), paths.len(), "one line per photo");
        for (l, p) in lines.iter().zip(&paths) {
            assert_eq!(l["path"].as_str(), Some(*p), "input order kept");
        }
        lines.into_iter().map(|l| (l["path"].as_str().unwrap_or_default().to_string(), l)).collect()
    })
}

fn bx(v: &Value) -> [f64; 4] {
    let a = v.as_array().expect("box");
    [f(&a[0]), f(&a[1]), f(&a[2]), f(&a[3])]
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let x1 = a[0].max(b[0]);
    let y1 = a[1].max(b[1]);
    let x2 = (a[0] + a[2]).min(b[0] + b[2]);
    let y2 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    inter / (a[2] * a[3] + b[2] * b[3] - inter)
}

/// How one engine and mode compare with the reference pipeline, face by face.
#[derive(Default)]
struct Parity {
    photos: usize,
    same_count: usize,
    /// Photos where the reference finds a face and this run finds none.
    lost_photos: Vec<String>,
    reference_faces: usize,
    /// Largest coordinate difference of each matched box (px).
    box_diff: Vec<f64>,
    /// Largest coordinate difference of each matched face's five landmarks (px).
    landmark_diff: Vec<f64>,
    /// Distance between the matched boxes' centres over the reference face's size (sqrt(w·h)).
    centre_over_size: Vec<f64>,
    cosine: Vec<f64>,
    problems: Vec<String>,
}

impl Parity {
    fn matched(&self) -> usize {
        self.cosine.len()
    }
    fn share(v: &[f64], keep: impl Fn(f64) -> bool) -> f64 {
        v.iter().filter(|&&x| keep(x)).count() as f64 / v.len().max(1) as f64
    }
    fn max(v: &[f64]) -> f64 {
        v.iter().copied().fold(0.0, f64::max)
    }
    fn min(v: &[f64]) -> f64 {
        v.iter().copied().fold(1.0, f64::min)
    }
}

fn parity(engine: &'static str, mode: Mode) -> Parity {
    let rows = reference();
    let got = run_all(engine, mode);
    let mut p = Parity { photos: rows.len(), ..Parity::default() };
    for r in &rows {
        let path = r["path"].as_str().unwrap_or_default();
        let g = &got[path];
        let (rf, gf) = (r["faces"].as_array().expect("faces"), g["faces"].as_array().expect("faces"));
        p.reference_faces += rf.len();
        if rf.len() == gf.len() {
            p.same_count += 1;
        } else {
            p.problems.push(format!("{path}: {} faces, reference {}", gf.len(), rf.len()));
        }
        if !rf.is_empty() && gf.is_empty() {
            p.lost_photos.push(path.to_string());
        }
        let mut used = vec![false; gf.len()];
        for rface in rf {
            let rb = bx(&rface["box_xywh"]);
            let best = gf
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, g)| (i, iou(rb, bx(&g["box"]))))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let Some((i, _)) = best.filter(|b| b.1 >= 0.5) else {
                p.problems.push(format!("{path}: a reference face at {rb:?} has no match"));
                continue;
            };
            used[i] = true;
            let gb = bx(&gf[i]["box"]);
            p.box_diff.push(rb.iter().zip(&gb).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max));
            let points = |v: &Value| -> Vec<f64> {
                v.as_array().expect("landmarks").iter().flat_map(|pt| [f(&pt[0]), f(&pt[1])]).collect()
            };
            let (rl, gl) = (points(&rface["landmarks"]), points(&gf[i]["landmarks"]));
            assert_eq!((rl.len(), gl.len()), (10, 10), "{path}: five landmarks each");
            p.landmark_diff.push(rl.iter().zip(&gl).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max));
            let (dx, dy) =
                ((rb[0] + rb[2] / 2.0) - (gb[0] + gb[2] / 2.0), (rb[1] + rb[3] / 2.0) - (gb[1] + gb[3] / 2.0));
            p.centre_over_size.push(dx.hypot(dy) / (rb[2] * rb[3]).sqrt());
            let c = cosine(&rface["embedding"], &gf[i]["embedding"]);
            if c < 0.98 {
                p.problems.push(format!("{path}: embedding cosine to reference {c:.4}"));
            }
            p.cosine.push(c);
        }
    }
    println!(
        "parity [{engine}, {mode:?} mode]: {} photos; same face count on {} ({:.2} %); {} of {} reference faces \
         matched; box coordinates worst {:.3} px; landmarks worst {:.3} px; box centres worst {:.2} % of the face \
         size; embedding cosine min {:.5}, >= 0.996 on {:.2} %, >= 0.98 on {:.2} %",
        p.photos,
        p.same_count,
        100.0 * p.same_count as f64 / p.photos as f64,
        p.matched(),
        p.reference_faces,
        Parity::max(&p.box_diff),
        Parity::max(&p.landmark_diff),
        100.0 * Parity::max(&p.centre_over_size),
        Parity::min(&p.cosine),
        100.0 * Parity::share(&p.cosine, |c| c >= 0.996),
        100.0 * Parity::share(&p.cosine, |c| c >= 0.98),
    );
    for line in &p.problems {
        println!("  {line}");
    }
    p
}

/// What README states, asserted for both modes: the same number of faces on every photo, every reference face
/// matched (and none extra), every box coordinate within 0.5 px and every landmark within 0.6 px, every embedding at
/// cosine >= 0.996 to the reference. (Measured: boxes within 0.37 px, landmarks within 0.53 px, cosine >= 0.9965;
/// README gives both.)
fn assert_readme_figures(p: &Parity, what: &str) {
    assert_eq!(p.same_count, p.photos, "{what}: same face count on every photo: {:#?}", p.problems);
    assert_eq!(p.matched(), p.reference_faces, "{what}: every reference face matched: {:#?}", p.problems);
    assert!(p.lost_photos.is_empty(), "{what}: photos that lost their faces: {:?}", p.lost_photos);
    assert!(Parity::max(&p.box_diff) <= 0.5, "{what}: a box is {:.3} px off", Parity::max(&p.box_diff));
    assert!(Parity::max(&p.landmark_diff) <= 0.6, "{what}: a landmark is {:.3} px off", Parity::max(&p.landmark_diff));
    assert!(Parity::min(&p.cosine) >= 0.996, "{what}: an embedding is at cosine {:.5}", Parity::min(&p.cosine));
}

/// Reference mode (`--reference`: OpenCV's pipeline exactly).
fn reference_mode_parity(engine: &'static str) {
    assert_readme_figures(&parity(engine, Mode::Reference), "reference mode");
}

/// The default (fast) mode sees the same pixels, so its detections hold the reference mode's figures. Its SFace
/// is the fp32 fast graph under tract (README: the reference mode's figures, all asserted) and the int8 graph under
/// ONNX Runtime, which holds the fast path's own parity (README, issue #12): embedding cosine to the reference
/// >= 0.98 on >= 99 % of faces and box centres within 2 % of the face size (measured: min cosine 0.99).
fn fast_mode_parity(engine: &'static str) {
    let p = parity(engine, Mode::Fast);
    if engine == "tract" {
        assert_readme_figures(&p, "fast mode");
        return;
    }
    let what = "fast mode (int8 SFace)";
    assert_eq!(p.same_count, p.photos, "{what}: same face count on every photo: {:#?}", p.problems);
    assert_eq!(p.matched(), p.reference_faces, "{what}: every reference face matched: {:#?}", p.problems);
    assert!(p.lost_photos.is_empty(), "{what}: photos that lost their faces: {:?}", p.lost_photos);
    assert!(Parity::max(&p.box_diff) <= 0.5, "{what}: a box is {:.3} px off", Parity::max(&p.box_diff));
    assert!(Parity::max(&p.landmark_diff) <= 0.6, "{what}: a landmark is {:.3} px off", Parity::max(&p.landmark_diff));
    let centres = Parity::max(&p.centre_over_size);
    assert!(centres <= 0.02, "{what}: a box centre is {:.2} % of the face off", 100.0 * centres);
    let share = Parity::share(&p.cosine, |c| c >= 0.98);
    assert!(share >= 0.99, "{what}: cosine >= 0.98 on only {:.2} % of faces: {:#?}", 100.0 * share, p.problems);
}

#[test]
fn parity_reference_mode_onnxruntime() {
    reference_mode_parity("ort");
}

#[test]
fn parity_reference_mode_tract() {
    reference_mode_parity("tract");
}

#[test]
fn parity_fast_mode_onnxruntime() {
    fast_mode_parity("ort");
}

#[test]
fn parity_fast_mode_tract() {
    fast_mode_parity("tract");
}

/// The largest face's embedding of each photo, as `issc verify` uses.
fn largest(v: &Value) -> Option<&Value> {
    v["faces"].as_array()?.iter().max_by(|a, b| {
        let (a, b) = (bx(&a["box"]), bx(&b["box"]));
        (a[2] * a[3]).total_cmp(&(b[2] * b[3]))
    })
}

fn verification(engine: &'static str, mode: Mode) {
    let data = data();
    let got = run_all(engine, mode);
    let text = std::fs::read_to_string(data.join("identity/public/pairs.csv")).expect("pairs.csv");
    let (mut correct, mut total) = (0usize, 0usize);
    let (mut min_genuine, mut max_impostor) = (1f64, -1f64);
    let mut errors = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let (a, b, same) = (cols[0], cols[1], cols[2] == "1");
        let ea = largest(&got[&format!("identity/public/{a}")]).expect("face in left photo");
        let eb = largest(&got[&format!("identity/public/{b}")]).expect("face in right photo");
        let c = cosine(&ea["embedding"], &eb["embedding"]);
        if same {
            min_genuine = min_genuine.min(c);
        } else {
            max_impostor = max_impostor.max(c);
        }
        total += 1;
        if (c >= f64::from(issc_detect::SFACE_THRESHOLD)) == same {
            correct += 1;
        } else {
            errors.push(format!("{a} / {b}: cosine {c:.4}, same={same}"));
        }
    }
    let acc = correct as f64 / total as f64;
    println!(
        "verification [{engine}, {mode:?} mode]: {correct}/{total} pairs correct = {:.2} % at cosine 0.363 \
         (genuine min {min_genuine:.4}, impostor max {max_impostor:.4})",
        100.0 * acc
    );
    for e in &errors {
        println!("  wrong: {e}");
    }
    assert_eq!(total, 300);
    assert!(acc >= 0.995, "verification accuracy {acc:.4} < 0.995");
}

#[test]
fn verification_accuracy_on_public_pairs_onnxruntime() {
    verification("ort", Mode::Fast);
}

#[test]
fn verification_accuracy_on_public_pairs_reference_mode() {
    verification("ort", Mode::Reference);
}

#[test]
fn verification_accuracy_on_public_pairs_tract() {
    verification("tract", Mode::Fast);
}

#[test]
fn every_public_photo_has_a_face_and_negatives_have_none() {
    let got = run_all("ort", Mode::Fast);
    let public: Vec<&Value> =
        got.values().filter(|v| v["path"].as_str().unwrap().starts_with("identity/public/")).collect();
    assert_eq!(public.len(), 121);
    let faceless: Vec<&str> = public
        .iter()
        .filter(|v| v["faces"].as_array().is_none_or(|f| f.is_empty()))
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert!(faceless.is_empty(), "public photos without a face: {faceless:?}");

    let negatives: Vec<&Value> =
        got.values().filter(|v| v["path"].as_str().unwrap().starts_with("detection/negatives/")).collect();
    assert_eq!(negatives.len(), 19);
    let mut false_positives = Vec::new();
    for v in &negatives {
        for face in v["faces"].as_array().unwrap() {
            false_positives.push((v["path"].as_str().unwrap().to_string(), f(&face["score"])));
        }
    }
    println!("negatives: {} photos, detections at score >= 0.6: {false_positives:?}", negatives.len());
    // The one known false positive, shared with the reference pipeline: a blurred pink blossom in the background
    // of pillow_flower2.jpg, scored 0.67. Everything else must stay empty, and nothing may score >= 0.7 (the
    // stricter threshold MODELS.md suggests removes it).
    for (path, score) in &false_positives {
        assert_eq!(path, "detection/negatives/pillow_flower2.jpg", "unexpected detection on a negative");
        assert!(*score < 0.7, "false positive scored {score}");
    }
    assert!(false_positives.len() <= 1);
}
