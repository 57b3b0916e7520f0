//! `issc detect|crop --detector azure` against a local server speaking Azure Face v1.2 detect (127.0.0.1, key
//! over plain http as compatible servers allow).

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone, Default)]
struct Seen {
    target: String,
    key: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// A one-route server: records each request and answers `status` with `reply`.
fn serve(status: u16, reply: Value) -> (u16, Arc<Mutex<Vec<Seen>>>, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    rt.spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { continue };
            let (log, reply) = (log.clone(), reply.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                let header_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                while buf.len() < header_end + len {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                log.lock().unwrap().push(Seen {
                    target: head.split_whitespace().nth(1).unwrap_or_default().to_string(),
                    key: header("ocp-apim-subscription-key"),
                    content_type: header("content-type"),
                    body: buf[header_end..].to_vec(),
                });
                let body = reply.to_string();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\napim-request-id: req-123\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, seen, rt)
}

fn issc_azure(port: u16, key: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_issc"));
    cmd.args(args)
        .current_dir(repo())
        .env("AZURE_FACE_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("HTTP_PROXY");
    match key {
        Some(k) => cmd.env("AZURE_FACE_KEY", k),
        None => cmd.env_remove("AZURE_FACE_KEY"),
    };
    cmd.output().unwrap()
}

fn landmark(x: f64, y: f64) -> Value {
    json!({"x": x, "y": y})
}

#[test]
fn azure_detector_maps_boxes_landmarks_and_face_ids() {
    let faces = json!([
        {
            "faceId": "c5c24a82-6845-4031-9d5d-978df9175426",
            "recognitionModel": "recognition_04",
            "faceRectangle": {"width": 78, "height": 80, "left": 394, "top": 54},
            "faceLandmarks": {
                "pupilLeft": landmark(412.7, 78.4), "pupilRight": landmark(446.8, 74.2), "noseTip": landmark(437.7, 92.4),
                "mouthLeft": landmark(417.8, 114.4), "mouthRight": landmark(451.3, 109.3),
                "eyebrowLeftOuter": landmark(397.9, 78.5)
            }
        },
        {"faceId": "015839fb-fbd9-4f79-ace9-7675fc2f1dd9", "faceRectangle": {"width": 40, "height": 40, "left": 10, "top": 20}}
    ]);
    let (port, seen, _rt) = serve(200, faces);
    let photo = fx_path("images/ms_detection4.jpg");
    let o = issc_azure(port, Some("local-test-key"), &["detect", "--json", "--detector", "azure", &photo]);
    assert!(o.status.success(), "{}\n{}", stderr(&o), stdout(&o));
    let line = &json_lines(&stdout(&o))[0];
    let got = line["faces"].as_array().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["box"], json!([394.0, 54.0, 78.0, 80.0]), "largest first");
    assert_eq!(got[0]["face_id"], "c5c24a82-6845-4031-9d5d-978df9175426");
    assert_eq!(got[0]["score"], 1.0);
    let lm = got[0]["landmarks"].as_array().unwrap();
    assert!((f(&lm[0][0]) - 412.7).abs() < 1e-3 && (f(&lm[4][1]) - 109.3).abs() < 1e-3, "ArcFace order: {lm:?}");
    assert_eq!(got[1]["face_id"], "015839fb-fbd9-4f79-ace9-7675fc2f1dd9");

    let req = seen.lock().unwrap()[0].clone();
    assert!(req.target.starts_with("/face/v1.2/detect?"), "{}", req.target);
    for q in [
        "detectionModel=detection_03",
        "recognitionModel=recognition_04",
        "returnFaceId=true",
        "returnFaceLandmarks=true",
    ] {
        assert!(req.target.contains(q), "{q} in {}", req.target);
    }
    assert_eq!(req.key.as_deref(), Some("local-test-key"));
    assert_eq!(req.content_type.as_deref(), Some("application/octet-stream"));
    let sent = image::load_from_memory(&req.body).expect("the photo is sent as an image");
    assert_eq!((sent.width(), sent.height()), (1000, 750), "upright pixels at full size");

    // crop uses the same detector: one aligned crop per face returned.
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in/group");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(fixtures().join("images/ms_detection4.jpg"), input.join("g.jpg")).unwrap();
    let out = tmp.path().join("out");
    let o = issc_azure(
        port,
        Some("local-test-key"),
        &[
            "--engine",
            "tract",
            "crop",
            "--detector",
            "azure",
            "--min-face",
            "0",
            "--in",
            &tmp.path().join("in").display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("group/g_0.png").is_file() && out.join("group/g_1.png").is_file());
}

fn fx_path(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

#[test]
fn azure_detector_errors_are_clear() {
    let (port, _seen, _rt) =
        serve(401, json!({"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}));
    let photo = fx_path("images/ms_detection4.jpg");
    let o = issc_azure(port, None, &["detect", "--detector", "azure", &photo]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("AZURE_FACE_KEY"), "{}", stderr(&o));
    let o = issc_azure(port, Some("wrong-key-789"), &["detect", "--json", "--detector", "azure", &photo]);
    assert_ne!(o.status.code(), Some(0));
    let line = &json_lines(&stdout(&o))[0];
    let err = line["error"].as_str().unwrap();
    assert!(err.contains("401") && err.contains("invalid subscription key"), "{err}");
    assert!(!stdout(&o).contains("wrong-key-789") && !stderr(&o).contains("wrong-key-789"), "the key is never printed");
}
