//! Fuzz target `serve`: `issc serve`'s own API, `POST /predict` (raw photo or multipart) and `POST /predict_json`
//! (base64, data URL, or a URL fetched under the allow-list rules from a real server on 127.0.0.1), with their
//! query strings, through the server's `Router` in-process.
//!
//! The router has no model, so every request that parses to the end answers 503 `ModelNotLoaded`: what is fuzzed
//! is everything before inference, which is all the parsing (content types, multipart boundaries and fields,
//! JSON, base64, `top_k`, URLs and the SSRF rules). Decoding the photo is the `images` target.
//!
//! Properties: no panic; an answer within the case limit; no 5xx but 503 (with `Retry-After`); every error a JSON
//! `{"error": {"code", "message"}}`. The unmutated seeds must parse to the end (503 `ModelNotLoaded`).

mod common;

use std::time::Duration;

use axum::routing::get;
use common::{Raw, check_answer, fill, http_cases, parse, print_stats, runtime, send};
use issc_fuzz::corpus::Seed;
use issc_fuzz::harness::replay;
use issc_fuzz::{case_limit, regressions, run, seeds};

const TARGET: &str = "serve";

struct Env {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    seeds: Vec<Seed>,
}

fn env() -> Env {
    let rt = runtime();
    let photo = issc_fuzz::corpus::read_dir(&issc_fuzz::corpus::root().join("seeds/images"))
        .into_iter()
        .find(|s| s.name == "baseline.jpg")
        .expect("seeds/images/baseline.jpg");
    // The server a `{"url"}` points at: a photo, and an answer that never ends (the fetch timeout must end it).
    let port = rt.block_on(async move {
        let app = axum::Router::new()
            .route("/photo.jpg", get(move || async move { ([("content-type", "image/jpeg")], photo.bytes.clone()) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "never"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    });
    let cfg = issc_serve::ServeConfig {
        max_body_bytes: 1 << 20,
        max_concurrency: 1,
        url_fetch: issc_serve::UrlFetch {
            allow: vec!["127.0.0.1".into(), "localhost".into()],
            max_bytes: 1 << 20,
            timeout: Duration::from_secs(2),
            allow_loopback: true,
        },
        ..issc_serve::ServeConfig::default()
    };
    let router = issc_serve::router(cfg, None, "no model in the fuzz server");
    let seeds = seeds(TARGET).iter().map(|s| fill(s, &[("PORT", port.to_string())])).collect();
    Env { rt, router, seeds }
}

fn answer(env: &Env, raw: &Raw) -> Result<Option<common::Answer>, String> {
    let fut = send(&env.router, raw);
    env.rt
        .block_on(async { tokio::time::timeout(case_limit(), fut).await })
        .map_err(|_| format!("no answer within {:?} (a hang)", case_limit()))
}

fn check(env: &Env, bytes: &[u8]) -> Result<(), String> {
    let Some(raw) = parse(bytes) else { return Ok(()) };
    match answer(env, &raw)? {
        Some(a) => check_answer(&raw, &a, false),
        None => Ok(()),
    }
}

fn reaches_model(env: &Env, bytes: &[u8]) -> Result<(), String> {
    check(env, bytes)?;
    let raw = parse(bytes).ok_or("not a request")?;
    let a = answer(env, &raw)?.ok_or("refused by the HTTP layer")?;
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
    if a.status != 503 || v["error"]["code"] != "ModelNotLoaded" {
        return Err(format!("did not parse to the end (expected 503 ModelNotLoaded): {a:?}"));
    }
    Ok(())
}

#[test]
fn serve_seeds_parse() {
    let env = env();
    // Every seed parses to the end, the browsers' `----WebKitFormBoundary…` multipart bodies included (issue #13
    // item 3: the boundary was read from the lower-cased Content-Type).
    replay(TARGET, "seeds", &env.seeds, |b| reaches_model(&env, b));
}

#[test]
fn serve_regressions() {
    let env = env();
    replay(TARGET, "regression inputs", &regressions(TARGET), |b| check(&env, b));
}

#[test]
fn serve_slow_url_is_bounded() {
    let env = env();
    let port = env.seeds.iter().find_map(|s| {
        let t = String::from_utf8_lossy(&s.bytes).into_owned();
        t.split("127.0.0.1:").nth(1).and_then(|r| r.split('/').next()).map(str::to_string)
    });
    let body = format!("{{\"url\": \"http://127.0.0.1:{}/slow\"}}", port.expect("a url seed"));
    let raw = Raw {
        method: "POST".into(),
        target: "/predict_json".into(),
        headers: vec![("Content-Type".into(), b"application/json".to_vec())],
        body: body.into_bytes(),
    };
    let a = answer(&env, &raw).expect("answered").expect("sent");
    check_answer(&raw, &a, false).expect("a JSON error");
    assert_eq!(a.status, 400, "a URL that never answers is refused once the fetch timeout passes: {a:?}");
}

#[test]
fn serve_mutated() {
    let env = env();
    let seeds = env.seeds.clone();
    run(TARGET, 4000, http_cases(seeds), |b| check(&env, b));
    print_stats(TARGET);
}
