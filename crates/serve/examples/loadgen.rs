//! Load generator for `issc serve`, and the in-process baseline it is compared with.
//!
//! ```sh
//! # against a running server (RSS of its process sampled from /proc when --pid is given)
//! cargo run --release -p issc-serve --example loadgen -- http --url http://127.0.0.1:8080/predict \
//!     --photos tests/fixtures/people --concurrency 8 --requests 400 [--pid PID] [--key KEY]
//! # the same photos through the model in this process, on N threads
//! cargo run --release -p issc-serve --example loadgen -- inprocess --model model/ \
//!     --photos tests/fixtures/people --threads 2 --requests 400
//! ```
//!
//! Prints one JSON object: requests, seconds, requests/s, latency p50/p90/p99 (ms), status counts, and for `http`
//! with `--pid` the server's resident memory before, after and at most (KiB).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn photos(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            let ext = p.extension().map(|x| x.to_string_lossy().to_lowercase()).unwrap_or_default();
            if p.is_dir() {
                stack.push(p);
            } else if ["jpg", "jpeg", "png", "webp"].contains(&ext.as_str()) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no photos in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let ct = if p.extension().is_some_and(|x| x == "png") { "image/png" } else { "image/jpeg" };
            (ct.to_string(), std::fs::read(&p).unwrap())
        })
        .collect()
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(mode: &str, concurrency: usize, mut lat: Vec<f64>, secs: f64, extra: serde_json::Value) {
    lat.sort_by(f64::total_cmp);
    let mut v = serde_json::json!({
        "mode": mode,
        "concurrency": concurrency,
        "requests": lat.len(),
        "seconds": secs,
        "requests_per_second": lat.len() as f64 / secs,
        "p50_ms": percentile(&lat, 0.5),
        "p90_ms": percentile(&lat, 0.9),
        "p99_ms": percentile(&lat, 0.99),
    });
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    println!("{v}");
}

async fn http(args: &[String]) {
    let url = arg(args, "--url").expect("--url");
    let photos = Arc::new(photos(Path::new(&arg(args, "--photos").expect("--photos"))));
    let concurrency: usize = arg(args, "--concurrency").map_or(8, |v| v.parse().unwrap());
    let requests: usize = arg(args, "--requests").map_or(400, |v| v.parse().unwrap());
    let key = arg(args, "--key");
    let pid: Option<u32> = arg(args, "--pid").map(|v| v.parse().unwrap());
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let request = |ct: &str, body: &[u8]| {
        let r = client.post(&url).header("content-type", ct).body(body.to_vec());
        match &key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    };
    // Warm-up: one request per photo (sessions, allocator).
    for (ct, body) in photos.iter() {
        request(ct, body).send().await.unwrap().bytes().await.unwrap();
    }
    let rss_before = pid.and_then(rss_kib);
    let rss_max = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
    let next = Arc::new(AtomicUsize::new(0));
    // RSS after every tenth of the requests: flat memory shows as a plateau, a leak as a slope.
    let series = Arc::new(std::sync::Mutex::new(Vec::<(usize, u64)>::new()));
    let sampler = pid.map(|pid| {
        let (m, next, series) = (rss_max.clone(), next.clone(), series.clone());
        tokio::spawn(async move {
            let step = (requests / 10).max(1);
            let mut mark = step;
            loop {
                if let Some(r) = rss_kib(pid) {
                    m.fetch_max(r, Ordering::Relaxed);
                    let done = next.load(Ordering::Relaxed);
                    if done >= mark {
                        series.lock().unwrap().push((done.min(requests), r));
                        mark += step;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..concurrency {
        let (client, url, photos, next, key) = (client.clone(), url.clone(), photos.clone(), next.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            let mut status: BTreeMap<u16, usize> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let (ct, body) = &photos[i % photos.len()];
                let t = Instant::now();
                let mut r = client.post(&url).header("content-type", ct).body(body.clone());
                if let Some(k) = &key {
                    r = r.bearer_auth(k);
                }
                let code = match r.send().await {
                    Ok(resp) => {
                        let c = resp.status().as_u16();
                        let _ = resp.bytes().await;
                        c
                    }
                    Err(_) => 0,
                };
                lat.push(t.elapsed().as_secs_f64() * 1e3);
                *status.entry(code).or_default() += 1;
            }
            (lat, status)
        }));
    }
    let (mut lat, mut status) = (vec![], BTreeMap::<u16, usize>::new());
    for t in tasks {
        let (l, s) = t.await.unwrap();
        lat.extend(l);
        for (k, v) in s {
            *status.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if let Some(s) = sampler {
        s.abort();
    }
    let rss_after = pid.and_then(rss_kib);
    let answered = status.iter().filter(|(code, _)| (200..300).contains(*code)).map(|(_, n)| n).sum::<usize>();
    report(
        "http",
        concurrency,
        lat,
        secs,
        serde_json::json!({
            "status": status,
            // Requests answered 2xx per second: what the clients got done, refusals not counted.
            "goodput_per_second": answered as f64 / secs,
            "refused_share": status.get(&503).copied().unwrap_or(0) as f64 / requests.max(1) as f64,
            "rss_kib_before": rss_before,
            "rss_kib_after": rss_after,
            "rss_kib_max": pid.map(|_| rss_max.load(Ordering::Relaxed)),
            "rss_kib_series": *series.lock().unwrap(),
        }),
    );
}

fn inprocess(args: &[String]) {
    let model = PathBuf::from(arg(args, "--model").expect("--model"));
    let photos = photos(Path::new(&arg(args, "--photos").expect("--photos")));
    let threads: usize = arg(args, "--threads").map_or(2, |v| v.parse().unwrap());
    let requests: usize = arg(args, "--requests").map_or(400, |v| v.parse().unwrap());
    issc_detect::init_engine(issc_detect::EngineChoice::from_env().unwrap()).unwrap();
    let predictor = issc_predict::Predictor::open_with_mode(&model, issc_detect::PipelineMode::Fast).unwrap();
    let detector = issc_detect::DetectorKind::YuNet
        .open(&issc_detect::ModelDir::locate(None).unwrap(), issc_detect::DetectorConfig::default())
        .unwrap();
    let run = |bytes: &[u8]| {
        let img = issc_core::decode_image(bytes, "photo", &Default::default()).unwrap();
        predictor.predict(detector.as_ref(), &img.rgb, 3).unwrap().faces.len()
    };
    for (_, b) in &photos {
        run(b);
    }
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let lat: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut lat = vec![];
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests {
                            break;
                        }
                        let t = Instant::now();
                        run(&photos[i % photos.len()].1);
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    lat
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    report("inprocess", threads, lat, started.elapsed().as_secs_f64(), serde_json::json!({}));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("http") => tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(http(&args)),
        Some("inprocess") => inprocess(&args),
        _ => {
            eprintln!(
                "usage: loadgen http --url URL --photos DIR [--concurrency N] [--requests N] [--pid PID] [--key K]"
            );
            eprintln!("       loadgen inprocess --model DIR --photos DIR [--threads N] [--requests N]");
            std::process::exit(2);
        }
    }
}
