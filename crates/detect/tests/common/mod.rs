//! The 27 landmarks measured against the 68-point annotations shipped with the shared data
//! (`../shared/data/detection/annotations_src/dlib/*_with_face_landmarks.xml`: PASCAL VOC photos, points from dlib's
//! 68-point shape predictor, iBUG 300-W scheme), on whichever engine the test binary initialised.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use issc_core::{Face, LoadOptions, load_image};
use issc_detect::{Detector, DetectorConfig, FaceMesh, LANDMARKS_27, ModelDir, YuNet, landmarks_27};

pub fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        assert!(
            std::env::var_os("ISSC_REQUIRE_SHARED_DATA").is_none(),
            "ISSC_REQUIRE_SHARED_DATA is set but {} is missing",
            p.display()
        );
        println!("SKIPPED: the 68-point landmark comparison (../shared/data not present)");
        None
    }
}

/// One annotated face: its image and 68 points.
struct Annotated {
    file: String,
    points: Vec<[f32; 2]>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}='"))? + name.len() + 2;
    let end = tag[start..].find('\'')? + start;
    Some(tag[start..end].to_string())
}

/// The faces with all 68 parts in dlib's imglab XML (a flat, regular format: one tag per line).
fn parse(xml: &str) -> Vec<Annotated> {
    let mut out = Vec::new();
    let mut file = String::new();
    let mut parts: BTreeMap<usize, [f32; 2]> = BTreeMap::new();
    for line in xml.lines().map(str::trim) {
        if line.starts_with("<image ") {
            file = attr(line, "file").unwrap_or_default();
        } else if line.starts_with("<box ") {
            parts.clear();
        } else if line.starts_with("<part ") {
            let (Some(n), Some(x), Some(y)) = (attr(line, "name"), attr(line, "x"), attr(line, "y")) else { continue };
            if let (Ok(n), Ok(x), Ok(y)) = (n.parse(), x.parse(), y.parse()) {
                parts.insert(n, [x, y]);
            }
        } else if line.starts_with("</box>") && parts.len() == 68 {
            out.push(Annotated { file: file.clone(), points: parts.values().copied().collect() });
        }
    }
    out
}

fn mean(p: &[[f32; 2]], idx: &[usize]) -> [f32; 2] {
    let n = idx.len() as f32;
    let s = idx.iter().fold([0.0, 0.0], |a, &i| [a[0] + p[i][0], a[1] + p[i][1]]);
    [s[0] / n, s[1] / n]
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Each of the 27 landmarks that the 68-point scheme also marks, and the 68-point indices that mark it. The nose
/// roots and the alar tops have no counterpart there; the alar out-tips are compared with the nostrils' outer
/// points (31, 35), which sit a little lower and further in, so their error is partly the schemes' difference.
pub const SHARED: [(&str, &[usize]); 23] = [
    ("pupilLeft", &[36, 37, 38, 39, 40, 41]),
    ("pupilRight", &[42, 43, 44, 45, 46, 47]),
    ("noseTip", &[30]),
    ("mouthLeft", &[48]),
    ("mouthRight", &[54]),
    ("eyebrowLeftOuter", &[17]),
    ("eyebrowLeftInner", &[21]),
    ("eyeLeftOuter", &[36]),
    ("eyeLeftTop", &[37, 38]),
    ("eyeLeftBottom", &[40, 41]),
    ("eyeLeftInner", &[39]),
    ("eyebrowRightInner", &[22]),
    ("eyebrowRightOuter", &[26]),
    ("eyeRightInner", &[42]),
    ("eyeRightTop", &[43, 44]),
    ("eyeRightBottom", &[46, 47]),
    ("eyeRightOuter", &[45]),
    ("noseLeftAlarOutTip", &[31]),
    ("noseRightAlarOutTip", &[35]),
    ("upperLipTop", &[51]),
    ("upperLipBottom", &[62]),
    ("underLipTop", &[66]),
    ("underLipBottom", &[57]),
];

/// Errors per landmark name, in inter-ocular distances (outer eye corners, 36–45: 300-W's normalisation).
pub struct Comparison {
    pub faces: usize,
    pub annotated: usize,
    pub errors: BTreeMap<&'static str, Vec<f32>>,
    pub presence: Vec<f32>,
    /// Per face: the mean distance (in IOD) between the 22 mesh landmarks of the photo and those of its mirror image
    /// mirrored back, each matched with its left/right counterpart.
    pub mirror: Vec<f32>,
}

impl Comparison {
    pub fn mean(&self, name: &str) -> f32 {
        let v = &self.errors[name];
        v.iter().sum::<f32>() / v.len() as f32
    }

    pub fn mean_of(&self, names: &[&str]) -> f32 {
        let all: Vec<f32> = names.iter().flat_map(|n| self.errors[n].iter().copied()).collect();
        all.iter().sum::<f32>() / all.len() as f32
    }

    pub fn print(&self, engine: &str) {
        println!(
            "27 landmarks vs dlib's 68-point annotations [{engine}]: {} of {} annotated faces found by YuNet",
            self.faces, self.annotated
        );
        println!("  {:22} {:>6} {:>7} {:>6}   (error / inter-ocular distance)", "landmark", "mean", "median", "max");
        for (name, _) in SHARED {
            let mut v = self.errors[name].clone();
            v.sort_by(f32::total_cmp);
            println!(
                "  {name:22} {:6.3} {:7.3} {:6.3}",
                self.mean(name),
                v[v.len() / 2],
                v.last().copied().unwrap_or(0.0)
            );
        }
    }
}

/// Detect every annotated face with YuNet, run the Face Mesh on it and compare the 27 landmarks with the annotation.
pub fn compare(data: &Path) -> Comparison {
    let models = ModelDir::locate(None).expect("the repository's models/");
    let detector = YuNet::new(&models, DetectorConfig::default()).expect("YuNet loads");
    let mesh = FaceMesh::new(&models).expect("the Face Mesh model loads");
    let dir = data.join("detection");
    let mut annotated = Vec::new();
    for xml in ["testing_with_face_landmarks.xml", "training_with_face_landmarks.xml"] {
        let path = dir.join("annotations_src/dlib").join(xml);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        annotated.extend(parse(&text));
    }
    assert!(annotated.len() >= 40, "expected the 43 annotated faces, parsed {}", annotated.len());
    let mut cmp = Comparison {
        faces: 0,
        annotated: annotated.len(),
        errors: BTreeMap::new(),
        presence: Vec::new(),
        mirror: Vec::new(),
    };
    let mut by_file: BTreeMap<&str, Vec<&Annotated>> = BTreeMap::new();
    for a in &annotated {
        by_file.entry(a.file.as_str()).or_default().push(a);
    }
    for (file, faces) in by_file {
        let path = dir.join("images").join(format!("dlib_{file}"));
        let img = load_image(&path, &LoadOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let found: Vec<Face> = detector.detect(&img.rgb).expect("detect");
        let flipped = image::imageops::flip_horizontal(&img.rgb);
        let found_flipped: Vec<Face> = detector.detect(&flipped).expect("detect");
        // Pixel-centre coordinates: x mirrors to (width - 1) - x.
        let width = img.rgb.width() as f32 - 1.0;
        for a in faces {
            let p = &a.points;
            let (eye_l, eye_r) = (mean(p, &[36, 37, 38, 39, 40, 41]), mean(p, &[42, 43, 44, 45, 46, 47]));
            let iod = dist(p[36], p[45]);
            // The detection whose eyes are those of the annotation.
            let Some(face) = found
                .iter()
                .filter(|f| dist(f.landmarks.0[0], eye_l) + dist(f.landmarks.0[1], eye_r) < 0.5 * iod)
                .min_by(|a, b| {
                    let d = |f: &Face| dist(f.landmarks.0[0], eye_l) + dist(f.landmarks.0[1], eye_r);
                    d(a).total_cmp(&d(b))
                })
            else {
                continue;
            };
            let points = mesh.landmarks(&img.rgb, face).expect("face mesh runs").expect("a face's geometry is usable");
            let named = landmarks_27(face, &points);
            // The five alignment uses are the detector's, unchanged.
            for i in 0..5 {
                assert_eq!(named[i], face.landmarks.0[i], "{file}: {} moved", LANDMARKS_27[i].0);
            }
            cmp.faces += 1;
            cmp.presence.push(points.presence);
            // The same face in the mirror image: its landmarks, mirrored back, must land on the counterparts.
            let eyes_mirrored = ([width - eye_r[0], eye_r[1]], [width - eye_l[0], eye_l[1]]);
            if let Some(m) = found_flipped
                .iter()
                .filter(|f| {
                    dist(f.landmarks.0[0], eyes_mirrored.0) + dist(f.landmarks.0[1], eyes_mirrored.1) < 0.5 * iod
                })
                .min_by(|a, b| {
                    let d =
                        |f: &Face| dist(f.landmarks.0[0], eyes_mirrored.0) + dist(f.landmarks.0[1], eyes_mirrored.1);
                    d(a).total_cmp(&d(b))
                })
            {
                let back = mesh.landmarks(&flipped, m).expect("face mesh runs").expect("usable geometry");
                let named_m = landmarks_27(m, &back);
                let mut sum = 0.0;
                for (k, (name, _)) in LANDMARKS_27.iter().enumerate().skip(5) {
                    let twin = mirror_name(name);
                    let j = LANDMARKS_27.iter().position(|(n, _)| *n == twin).expect("a spec name");
                    let q = named_m[j];
                    sum += dist(named[k], [width - q[0], q[1]]) / iod;
                }
                cmp.mirror.push(sum / 22.0);
            }
            for (name, idx) in SHARED {
                let k = LANDMARKS_27.iter().position(|(n, _)| *n == name).expect("a spec name");
                cmp.errors.entry(name).or_default().push(dist(named[k], mean(p, idx)) / iod);
            }
        }
    }
    cmp
}

/// The landmark on the other side of the face: "Left" and "Right" swapped (the lips' and the nose's middle points
/// are their own counterparts).
fn mirror_name(name: &str) -> String {
    if name.contains("Left") { name.replace("Left", "Right") } else { name.replace("Right", "Left") }
}

/// The bars both engines must hold.
pub fn assert_figures(cmp: &Comparison, engine: &str) {
    cmp.print(engine);
    assert!(
        cmp.faces * 10 >= cmp.annotated * 9,
        "YuNet found only {} of the {} annotated faces",
        cmp.faces,
        cmp.annotated
    );
    let mesh_points: Vec<&str> = SHARED.iter().skip(5).map(|(n, _)| *n).collect();
    let overall = cmp.mean_of(&mesh_points);
    println!(
        "  the {} Face Mesh landmarks with a 68-point counterpart: mean error {overall:.3} IOD",
        mesh_points.len()
    );
    // Measured 0.050 here (two passes, as MediaPipe). 300-W's "good" is under 0.08.
    assert!(overall <= 0.06, "mean error of the Face Mesh landmarks {overall:.3} IOD is over 0.06");
    for name in &mesh_points {
        let m = cmp.mean(name);
        assert!(m <= 0.10, "{name}: mean error {m:.3} IOD is over 0.10");
    }
    // Mirror consistency: a mirrored photo gives the mirrored landmarks (measured 0.023 IOD: the network is not
    // exactly mirror-symmetric, and YuNet's five points, which place the first crop, are not either).
    assert!(cmp.mirror.len() * 10 >= cmp.faces * 9, "mirrored faces found: {} of {}", cmp.mirror.len(), cmp.faces);
    let mirror = cmp.mirror.iter().sum::<f32>() / cmp.mirror.len() as f32;
    let worst = cmp.mirror.iter().copied().fold(0.0, f32::max);
    println!(
        "  mirror images, {} faces: landmarks mirrored back within {mirror:.3} IOD on average (worst face {worst:.3})",
        cmp.mirror.len()
    );
    assert!(mirror <= 0.03, "mirrored landmarks differ by {mirror:.3} IOD on average");
    let low = cmp.presence.iter().filter(|p| **p < 0.5).count();
    assert_eq!(low, 0, "the Face Mesh doubted {low} detected faces");
}
