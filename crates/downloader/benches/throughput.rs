//! Download throughput against a local image host that adds 50 ms of latency to every request, at concurrency
//! 1, 8 and 32 (per-host limit equal to the concurrency: one host). Run with
//! `cargo bench -p issc-downloader --bench throughput`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use issc_downloader::{Candidate, FetchOptions, Source, fetch};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LATENCY: Duration = Duration::from_millis(50);
const IMAGES: usize = 96;

/// Distinct small JPEG-like images: one real photo with a different trailing comment each, so that every body
/// is a new file (content addressing would otherwise store one).
fn bodies() -> Vec<Vec<u8>> {
    let base =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/images/pillow_hopper_gray.jpg"))
            .expect("fixture photo");
    (0..IMAGES)
        .map(|i| {
            // Insert a COM segment right after SOI: still a valid JPEG, different bytes.
            let text = format!("bench image {i}");
            let mut v = base[..2].to_vec();
            v.extend_from_slice(&[0xFF, 0xFE]);
            v.extend_from_slice(&((text.len() + 2) as u16).to_be_bytes());
            v.extend_from_slice(text.as_bytes());
            v.extend_from_slice(&base[2..]);
            v
        })
        .collect()
}

async fn serve(listener: tokio::net::TcpListener, bodies: std::sync::Arc<Vec<Vec<u8>>>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else { continue };
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&got);
            let idx: usize = head
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.trim_start_matches("/img/").trim_end_matches(".jpg").parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(LATENCY).await;
            let body = &bodies[idx % bodies.len()];
            let h = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(h.as_bytes()).await;
            let _ = sock.write_all(body).await;
        });
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let bodies = std::sync::Arc::new(bodies());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(serve(listener, bodies));
    println!("{IMAGES} images, {} ms latency per request, one host", LATENCY.as_millis());
    for concurrency in [1usize, 8, 32] {
        let dir = tempfile::tempdir().expect("tempdir");
        let cands: Vec<Candidate> =
            (0..IMAGES).map(|i| Candidate::new(format!("http://127.0.0.1:{port}/img/{i}.jpg"))).collect();
        let opts = FetchOptions {
            label: "bench".into(),
            max: IMAGES,
            concurrency,
            per_host: concurrency,
            min_side: 16,
            ..FetchOptions::default()
        };
        let t = Instant::now();
        let summary = rt.block_on(fetch(Source::Urls(cands), dir.path(), opts, &|_, _, _| {})).expect("fetch");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(summary.downloaded, IMAGES, "{summary:?}");
        println!("concurrency {concurrency:>2}: {IMAGES} images in {secs:.2} s = {:.1} images/s", IMAGES as f64 / secs);
    }
}
