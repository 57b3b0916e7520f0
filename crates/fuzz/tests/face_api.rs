//! Fuzz target `face_api`: the Azure-compatible Face API of `issc serve --store` — query strings (detect's options,
//! paging, `targetFace`, `userData`), JSON bodies (verify, identify, find similar, group, create and update of
//! groups, lists, persons and faces, `{"url"}`), raw photo bodies, path ids, methods and content types, through the
//! server's `Router` in-process, against a real SQLite store holding one collection of each kind.
//!
//! The detector and embedder are small deterministic stand-ins (one face in the middle of any photo of at least
//! 8×8 pixels; an embedding from the aligned crop's pixels) so that a case costs milliseconds: the models are not
//! what is fuzzed here, the parsing and the store are. Photos are still decoded for real.
//!
//! Each case gets a fresh copy of a prepared store (collections trained, faces enrolled) and two fresh faceIds,
//! so cases do not depend on each other and a failure shrinks and replays.
//!
//! Properties: no panic; an answer within the case limit; no 5xx but 503; every error Azure's
//! `{"error": {"code", "message"}}` with the same code in `x-ms-error-code`. Unmutated seeds must succeed (2xx).

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use common::{Answer, Raw, check_answer, fill, http_cases, parse, print_stats, runtime, send};
use image::RgbImage;
use issc_core::{BBox, Embedding, Face, Landmarks5};
use issc_detect::{DetectError, Detector, DetectorConfig, Embedder, FacePipeline};
use issc_fuzz::corpus::Seed;
use issc_fuzz::harness::replay;
use issc_fuzz::{case_limit, regressions, run, seeds};

const TARGET: &str = "face_api";
const KEY: &str = "fuzz-face-key";

/// One face in the middle of any image of at least 8×8 pixels.
struct MiddleFace(DetectorConfig);

impl Detector for MiddleFace {
    fn name(&self) -> &str {
        "middle-face"
    }
    fn config(&self) -> &DetectorConfig {
        &self.0
    }
    fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, DetectError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        if w < 8.0 || h < 8.0 {
            return Ok(vec![]);
        }
        let p = |x: f32, y: f32| [x * w, y * h];
        Ok(vec![Face {
            bbox: BBox::new(w * 0.25, h * 0.2, w * 0.5, h * 0.6),
            score: 0.9,
            landmarks: Landmarks5([p(0.38, 0.4), p(0.62, 0.4), p(0.5, 0.55), p(0.41, 0.7), p(0.59, 0.7)]),
        }])
    }
}

/// A 128-d unit vector from the aligned crop's mean colour: equal crops, equal embeddings.
struct MeanColour;

impl Embedder for MeanColour {
    fn name(&self) -> &str {
        "mean-colour"
    }
    fn input_size(&self) -> u32 {
        112
    }
    fn dim(&self) -> usize {
        128
    }
    fn default_threshold(&self) -> f32 {
        issc_detect::SFACE_THRESHOLD
    }
    fn embed(&self, aligned: &RgbImage) -> Result<Embedding, DetectError> {
        let n = (aligned.width() * aligned.height()).max(1) as f32;
        let mut mean = [0f32; 3];
        for p in aligned.pixels() {
            for c in 0..3 {
                mean[c] += f32::from(p[c]) / n;
            }
        }
        let v = (0..128).map(|i| 1.0 + ((i as f32) * 0.37 + mean[i % 3] / 9.0).sin()).collect();
        Embedding::from_raw(v).map_err(|e| DetectError::Config(e.to_string()))
    }
}

struct Env {
    rt: tokio::runtime::Runtime,
    /// The prepared store, copied for every case.
    template: tempfile::TempDir,
    port: u16,
    /// Ids in the template: PERSON, PGPERSON, PFACE, LFACE, OPERATION.
    ids: Vec<(&'static str, String)>,
    seeds: Vec<Seed>,
}

type Models = (Arc<issc_detect::FaceMesh>, Arc<issc_detect::MaskClassifier>);

fn models() -> Models {
    static M: std::sync::OnceLock<Models> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        let dir = issc_detect::ModelDir::locate(None).expect("the repository's models/");
        (
            Arc::new(issc_detect::FaceMesh::new(&dir).expect("the Face Mesh model loads")),
            Arc::new(issc_detect::MaskClassifier::new(&dir).expect("the mask classifier loads")),
        )
    })
    .clone()
}

fn router(dir: &std::path::Path, port: u16) -> axum::Router {
    let store = issc_store::SqliteStore::open(dir, 128).expect("open the SQLite store");
    let pipeline =
        FacePipeline::from_parts(Box::new(MiddleFace(DetectorConfig::default())), Some(Box::new(MeanColour)));
    // The real landmark and mask models on the stand-in detector's faces: any box and five points the fuzzer
    // makes them see must be answered, never panic.
    let (landmarks, mask) = models();
    let api = issc_serve::FaceApi {
        store: Arc::new(store),
        pipeline: Arc::new(pipeline),
        landmarks: Some(landmarks),
        mask: Some(mask),
        max_face_ids: 1000,
    };
    let cfg = issc_serve::ServeConfig {
        max_body_bytes: 1 << 20,
        max_concurrency: 1,
        api_keys: vec![KEY.into()],
        url_fetch: issc_serve::UrlFetch {
            allow: vec!["127.0.0.1".into()],
            max_bytes: 1 << 20,
            timeout: Duration::from_secs(2),
            allow_loopback: true,
        },
        ..issc_serve::ServeConfig::default()
    };
    let _ = port;
    issc_serve::router_with_face_api(cfg, None, "no model in the fuzz server", Some(api))
}

fn request(method: &str, target: &str, content_type: Option<&str>, body: &[u8]) -> Raw {
    let mut headers = vec![("Ocp-Apim-Subscription-Key".to_string(), KEY.as_bytes().to_vec())];
    if let Some(ct) = content_type {
        headers.push(("Content-Type".into(), ct.as_bytes().to_vec()));
    }
    Raw { method: method.into(), target: format!("/face/v1.2{target}"), headers, body: body.to_vec() }
}

async fn call(r: &axum::Router, method: &str, target: &str, ct: Option<&str>, body: &[u8]) -> Answer {
    let a = send(r, &request(method, target, ct, body)).await.expect("a valid request");
    assert!(a.status.is_success(), "setup {method} {target}: {a:?}");
    a
}

fn json_field(a: &Answer, field: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(&a.body).expect("JSON");
    let v = if v.is_array() { v[0].clone() } else { v };
    v[field].as_str().unwrap_or_else(|| panic!("no {field} in {a:?}")).to_string()
}

fn photo(name: &str) -> Vec<u8> {
    // The seeds are 32 × 32; the Face API now applies Azure's limits (images of at least 1 KB, faces of at least
    // 36 px), so each is scaled to 160 × 160 with a little deterministic noise and encoded again in its format.
    let bytes = std::fs::read(issc_fuzz::corpus::root().join("seeds/images").join(name)).expect("an image seed");
    let format = image::guess_format(&bytes).expect("a seed in a known format");
    let small = image::load_from_memory(&bytes).expect("a seed that decodes").to_rgb8();
    let mut big = image::imageops::resize(&small, 160, 160, image::imageops::FilterType::Triangle);
    let mut state = 0x2545_f491_u32;
    for c in big.iter_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *c = c.saturating_add((state % 24) as u8);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(big).write_to(&mut out, format).expect("the seed encodes again");
    out.into_inner()
}

fn env() -> Env {
    let rt = runtime();
    let jpg = photo("baseline.jpg");
    let port = rt.block_on({
        let jpg = jpg.clone();
        async move {
            let app = axum::Router::new()
                .route("/photo.jpg", get(move || async move { ([("content-type", "image/jpeg")], jpg.clone()) }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
            let port = listener.local_addr().expect("local address").port();
            tokio::spawn(async move { axum::serve(listener, app).await });
            port
        }
    });
    let template = tempfile::tempdir().expect("a temporary folder");
    let ids = rt.block_on(async {
        let r = router(template.path(), port);
        let json = Some("application/json");
        let octet = Some("application/octet-stream");
        let model = br#"{"name": "n", "userData": "u", "recognitionModel": "recognition_04"}"#;
        let (png, webp) = (photo("rgb.png"), photo("lossy.webp"));
        let mut operation = String::new();
        let mut ids: Vec<(&'static str, String)> = Vec::new();
        for (kind, person_key, face_key) in
            [("persongroups/pg", "PGPERSON", ""), ("largepersongroups/lpg", "PERSON", "PFACE")]
        {
            call(&r, "PUT", &format!("/{kind}"), json, model).await;
            let p =
                json_field(&call(&r, "POST", &format!("/{kind}/persons"), json, br#"{"name": "p"}"#).await, "personId");
            let f = call(&r, "POST", &format!("/{kind}/persons/{p}/persistedfaces"), octet, &png).await;
            ids.push((person_key, p.clone()));
            if !face_key.is_empty() {
                ids.push((face_key, json_field(&f, "persistedFaceId")));
            }
            let t = call(&r, "POST", &format!("/{kind}/train"), None, b"").await;
            let loc = t.headers.get("operation-location").and_then(|v| v.to_str().ok()).unwrap_or_default();
            operation = loc.rsplit('/').next().unwrap_or_default().to_string();
        }
        call(&r, "PUT", "/facelists/fl", json, model).await;
        call(&r, "POST", "/facelists/fl/persistedfaces", octet, &webp).await;
        call(&r, "PUT", "/largefacelists/lfl", json, model).await;
        let lf = call(&r, "POST", "/largefacelists/lfl/persistedfaces", octet, &jpg).await;
        ids.push(("LFACE", json_field(&lf, "persistedFaceId")));
        call(&r, "POST", "/largefacelists/lfl/train", None, b"").await;
        // Training runs in the background: wait until every collection is trained.
        for kind in ["persongroups/pg", "largepersongroups/lpg", "largefacelists/lfl"] {
            for _ in 0..200 {
                let a = call(&r, "GET", &format!("/{kind}/training"), None, b"").await;
                if json_field(&a, "status") == "succeeded" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        ids.push(("OPERATION", operation));
        ids
    });
    let seeds = seeds(TARGET);
    Env { rt, template, port, ids, seeds }
}

/// A fresh copy of the prepared store, its router, and the seeds filled with its ids and two new faceIds.
fn fresh(env: &Env) -> (tempfile::TempDir, axum::Router, Vec<(&'static str, String)>) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for e in std::fs::read_dir(env.template.path()).expect("the template store").filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).expect("copy the template store");
        }
    }
    let r = router(dir.path(), env.port);
    let mut vars = env.ids.clone();
    vars.push(("PORT", env.port.to_string()));
    vars.push(("KEY", KEY.into()));
    let faces = env.rt.block_on(async {
        let mut faces = Vec::new();
        for img in ["baseline.jpg", "rgb.png"] {
            let a = call(
                &r,
                "POST",
                "/detect?returnFaceId=true&recognitionModel=recognition_04",
                Some("application/octet-stream"),
                &photo(img),
            )
            .await;
            faces.push(json_field(&a, "faceId"));
        }
        faces
    });
    vars.push(("FACE1", faces[0].clone()));
    vars.push(("FACE2", faces[1].clone()));
    (dir, r, vars)
}

fn answer(env: &Env, r: &axum::Router, raw: &Raw) -> Result<Option<Answer>, String> {
    let fut = send(r, raw);
    env.rt
        .block_on(async { tokio::time::timeout(case_limit(), fut).await })
        .map_err(|_| format!("no answer within {:?} (a hang)", case_limit()))
}

/// Fill the input's placeholders with a fresh store's ids, send it, check the answer; also return it.
fn exchange(env: &Env, bytes: &[u8]) -> Result<Option<Answer>, String> {
    let (_dir, r, vars) = fresh(env);
    let vars: Vec<(&str, String)> = vars.iter().map(|(k, v)| (*k, v.clone())).collect();
    let filled = fill(&Seed { name: String::new(), bytes: bytes.to_vec() }, &vars);
    let Some(raw) = parse(&filled.bytes) else { return Ok(None) };
    let a = answer(env, &r, &raw)?;
    if let Some(a) = &a {
        check_answer(&raw, a, raw.target.starts_with("/face/"))?;
    }
    Ok(a)
}

fn check(env: &Env, bytes: &[u8]) -> Result<(), String> {
    exchange(env, bytes).map(|_| ())
}

#[test]
fn face_api_seeds_succeed() {
    let env = env();
    replay(TARGET, "seeds", &env.seeds, |b| match exchange(&env, b)? {
        Some(a) if a.status.is_success() => Ok(()),
        Some(a) => Err(format!("a seed request failed: {a:?}")),
        None => Err("not a request".into()),
    });
}

#[test]
fn face_api_regressions() {
    let env = env();
    replay(TARGET, "regression inputs", &regressions(TARGET), |b| check(&env, b));
}

#[test]
fn face_api_mutated() {
    let env = env();
    run(TARGET, 1500, http_cases(env.seeds.clone()), |b| check(&env, b));
    print_stats(TARGET);
}
