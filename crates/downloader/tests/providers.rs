//! The key-less search providers (Wikimedia Commons, Bing Images) against real HTTP servers on 127.0.0.1 that
//! answer in each service's response shape (`fixtures/README.md` says where each shape comes from) and serve real
//! photos. No test touches the network.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use issc_downloader::{
    ATTRIBUTION_FILE, Bing, Commons, Entry, FetchError, FetchOptions, LicenseFilter, Source, Status, Summary,
    USER_AGENT, fetch,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server

#[derive(Debug, Clone)]
struct Request {
    path: String,
    query: BTreeMap<String, String>,
    headers: HashMap<String, String>,
    at: Instant,
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status: 200, headers: vec![("Content-Type", content_type.into())], body: body.into() }
    }
    fn status(status: u16, headers: Vec<(&'static str, String)>) -> Reply {
        Reply { status, headers, body: b"error".to_vec() }
    }
}

/// Answers a request; gets the request, how many times its path was hit (from 1, this one included) and the
/// server's base URL.
type Routes = Arc<dyn Fn(&Request, usize, &str) -> Reply + Send + Sync>;

struct Server {
    base: String,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    async fn start(routes: Routes) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (log2, base2) = (log.clone(), base.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { continue };
                let (routes, log, base) = (routes.clone(), log2.clone(), base2.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let mut lines = head.split("\r\n");
                    let target = lines.next().unwrap_or_default().split_whitespace().nth(1).unwrap_or("/");
                    let url = url::Url::parse(&format!("http://x{target}")).unwrap();
                    let headers = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let req = Request {
                        path: url.path().to_string(),
                        query: url.query_pairs().into_owned().collect(),
                        headers,
                        at: Instant::now(),
                    };
                    let n = {
                        let mut log = log.lock().unwrap();
                        log.push(req.clone());
                        log.iter().filter(|r| r.path == req.path).count()
                    };
                    let reply = routes(&req, n, &base);
                    let mut out = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (k, v) in &reply.headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let _ = sock.write_all(out.as_bytes()).await;
                    let _ = sock.write_all(&reply.body).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Server { base, log }
    }

    fn requests(&self, path: &str) -> Vec<Request> {
        self.log.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    fn image_paths(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.log.lock().unwrap().iter().filter(|r| r.path.starts_with("/img/")).map(|r| r.path.clone()).collect();
        v.sort();
        v
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

fn fixture(rel: &str, base: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).replace("{BASE}", base)
}

fn workspace_image(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A real JPEG made distinct by a comment segment after SOI (content addressing would otherwise store one).
fn jpeg(tag: &str) -> Vec<u8> {
    let base = workspace_image("pillow_hopper_gray.jpg");
    let mut v = base[..2].to_vec();
    v.extend_from_slice(&[0xFF, 0xFE]);
    v.extend_from_slice(&((tag.len() + 2) as u16).to_be_bytes());
    v.extend_from_slice(tag.as_bytes());
    v.extend_from_slice(&base[2..]);
    v
}

/// A real 96×96 PNG.
fn png(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(96, 96, |x, y| image::Rgb([x as u8 ^ seed, y as u8, (x + y) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The photos the fixtures point at, by path.
fn image_reply(path: &str) -> Reply {
    match path {
        "/img/ada2.png" => Reply::ok("image/png", png(1)),
        "/img/b2.png" => Reply::ok("image/png", png(2)),
        "/img/ada4.webp" => Reply::ok("image/webp", workspace_image("pillow_hopper.webp")),
        p if p.ends_with(".jpg") => Reply::ok("image/jpeg", jpeg(p)),
        _ => Reply::status(404, vec![]),
    }
}

fn opts(max: usize) -> FetchOptions {
    FetchOptions {
        label: "ada-lovelace".into(),
        max,
        backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_secs(5),
        ..FetchOptions::default()
    }
}

fn manifest(out: &Path) -> Vec<Entry> {
    issc_downloader::manifest::read(out).unwrap()
}

fn stored_files(out: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(out.join("ada-lovelace")) else { return Vec::new() };
    let mut v: Vec<String> =
        rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != ATTRIBUTION_FILE).collect();
    v.sort();
    v
}

async fn run(source: Source, out: &Path, opts: FetchOptions) -> Result<Summary, FetchError> {
    fetch(source, out, opts, &|_, _, _| {}).await
}

// ---------------------------------------------------------------------------------------------------------------
// Wikimedia Commons

const API: &str = "/w/api.php";

fn commons_routes() -> Routes {
    Arc::new(|req, _, base| match req.path.as_str() {
        API if req.query.contains_key("gsroffset") => {
            Reply::ok("application/json; charset=utf-8", fixture("commons/search_page2.json", base))
        }
        API => Reply::ok("application/json; charset=utf-8", fixture("commons/search_page1.json", base)),
        p => image_reply(p),
    })
}

fn commons(server: &Server, license: Option<&str>) -> Commons {
    let mut c = Commons::new(format!("{}{API}", server.base), "Ada Lovelace").unwrap();
    c.license = license.map(|l| LicenseFilter::parse(l).unwrap());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commons_pages_filters_and_keeps_licences_then_reruns_with_nothing_new() {
    let server = Server::start(commons_routes()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let s = run(Source::Commons(commons(&server, Some("cc0,pd,cc-by-sa"))), out, opts(10)).await.unwrap();

    // Two API pages, the second with the first's `continue` values.
    let api = server.requests(API);
    assert_eq!(api.len(), 2, "{api:?}");
    assert_eq!(s.pages, 2);
    for r in &api {
        let q = &r.query;
        for (k, v) in [
            ("action", "query"),
            ("format", "json"),
            ("formatversion", "2"),
            ("maxlag", "5"),
            ("generator", "search"),
            ("gsrnamespace", "6"),
            ("prop", "imageinfo"),
            ("iiprop", "url|size|mime|extmetadata"),
        ] {
            assert_eq!(q.get(k).map(String::as_str), Some(v), "{k} in {q:?}");
        }
        assert!(q["gsrsearch"].starts_with("Ada Lovelace"), "{q:?}");
        // Wikimedia's User-Agent policy: the tool and a way to reach its authors.
        assert_eq!(r.headers["user-agent"], USER_AGENT);
        assert!(USER_AGENT.contains("https://github.com/isshesarahconnor/isshesarahconnor"), "{USER_AGENT}");
    }
    assert!(!api[0].query.contains_key("gsroffset"));
    assert_eq!(api[1].query.get("gsroffset").map(String::as_str), Some("7"));
    assert_eq!(api[1].query.get("continue").map(String::as_str), Some("gsroffset||"));

    // Only photos within the licence filter were downloaded; PDF, SVG, video, TIFF and audio never requested.
    assert_eq!(server.image_paths(), ["/img/ada1.jpg", "/img/ada2.png", "/img/ada3.jpg", "/img/ada4.webp"]);
    assert!(server.log.lock().unwrap().iter().all(|r| r.headers["user-agent"] == USER_AGENT));
    assert_eq!(s.downloaded, 4, "{s:?}");
    assert_eq!(s.skipped.get("not_a_photo"), Some(&5), "{s:?}");
    assert_eq!(s.skipped.get("license"), Some(&2), "{s:?}");
    assert_eq!(stored_files(out).len(), 4);

    // Licence, author, attribution flag and source page on each manifest line.
    let m = manifest(out);
    assert!(m.iter().all(|e| e.status == Status::Ok && e.provider == "commons"), "{m:?}");
    let by_url = |tail: &str| m.iter().find(|e| e.url.ends_with(tail)).unwrap().attribution.clone().unwrap();
    let a1 = by_url("/img/ada1.jpg");
    assert_eq!(a1.license.as_deref(), Some("CC BY-SA 4.0"));
    assert_eq!(a1.license_code.as_deref(), Some("cc-by-sa-4.0"));
    assert_eq!(a1.license_url.as_deref(), Some("https://creativecommons.org/licenses/by-sa/4.0"));
    assert_eq!(a1.author.as_deref(), Some("Alfred Edward Chalon & Co."));
    assert_eq!(a1.attribution_required, Some(true));
    assert_eq!(a1.page.as_deref(), Some("https://commons.wikimedia.org/wiki/File:Ada_Lovelace_portrait.jpg"));
    assert_eq!(a1.title.as_deref(), Some("File:Ada Lovelace portrait.jpg"));
    let a3 = by_url("/img/ada3.jpg");
    assert_eq!((a3.license.as_deref(), a3.author.as_deref()), (Some("Public domain"), Some("Antoine Claudet")));
    assert_eq!(a3.attribution_required, Some(false));
    assert_eq!(by_url("/img/ada2.png").license.as_deref(), Some("CC0"));
    assert_eq!(by_url("/img/ada4.webp").license.as_deref(), Some("CC BY-SA 3.0 de"));
    let line = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    assert!(line.contains(r#""license":"CC BY-SA 4.0""#), "{line}");

    // ATTRIBUTION.md lists every stored photo with its credits.
    let attribution = out.join("ada-lovelace").join(ATTRIBUTION_FILE);
    assert_eq!(s.attribution.as_deref(), Some(attribution.as_path()));
    let md = std::fs::read_to_string(&attribution).unwrap();
    for f in stored_files(out) {
        assert!(md.contains(&format!("## {f}")), "{f} missing from\n{md}");
    }
    assert!(md.contains("- Author: Alfred Edward Chalon & Co."), "{md}");
    assert!(md.contains("- Licence: [CC BY-SA 4.0](<https://creativecommons.org/licenses/by-sa/4.0>)"), "{md}");
    assert!(
        md.contains(
            "[File:Ada Lovelace portrait.jpg](<https://commons.wikimedia.org/wiki/File:Ada_Lovelace_portrait.jpg>)"
        ),
        "{md}"
    );
    assert_eq!(md.matches("- Attribution required: yes").count(), 2, "{md}");
    assert_eq!(md.matches("- Attribution required: no").count(), 2, "{md}");
    assert!(!md.contains("<a ") && !md.contains("<span"), "no HTML from Artist: {md}");

    // A rerun downloads nothing new and leaves the files and ATTRIBUTION.md as they were.
    let before = (stored_files(out), md.clone(), manifest(out).len());
    let s2 = run(Source::Commons(commons(&server, Some("cc0,pd,cc-by-sa"))), out, opts(10)).await.unwrap();
    assert_eq!(s2.downloaded, 0, "{s2:?}");
    assert_eq!(s2.skipped.get("done"), Some(&4), "{s2:?}");
    assert_eq!(s2.stored_total, 4);
    assert_eq!(server.image_paths().len(), 4, "no image downloaded again");
    assert_eq!((stored_files(out), std::fs::read_to_string(&attribution).unwrap(), manifest(out).len()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commons_licence_families_are_exact_and_max_stops_paging() {
    // `cc-by` takes the CC BY 2.0 photo (page 2) and not the CC BY-SA ones.
    let server = Server::start(commons_routes()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = run(Source::Commons(commons(&server, Some("cc-by"))), dir.path(), opts(10)).await.unwrap();
    assert_eq!(server.image_paths(), ["/img/ccby.jpg"]);
    assert_eq!(s.downloaded, 1);
    let a = manifest(dir.path())[0].attribution.clone().unwrap();
    assert_eq!(a.author.as_deref(), Some("A Flickr user from London"));

    // Without a filter every photo is a candidate; max 1 reads one page only.
    let server = Server::start(commons_routes()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = run(Source::Commons(commons(&server, None)), dir.path(), opts(1)).await.unwrap();
    assert_eq!((s.downloaded, s.pages), (1, 1), "{s:?}");
    assert_eq!(server.requests(API).len(), 1);
    assert_eq!(server.image_paths(), ["/img/ada1.jpg"], "the best-ranked photo (index 1) first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commons_waits_out_429_and_maxlag_as_retry_after_asks() {
    let routes: Routes = Arc::new(|req, n, base| match req.path.as_str() {
        API if n == 1 => Reply::status(429, vec![("Retry-After", "1".into())]),
        API if n == 2 => Reply {
            status: 200,
            headers: vec![("Content-Type", "application/json".into()), ("Retry-After", "1".into())],
            body: fixture("commons/maxlag.json", base).into_bytes(),
        },
        API => Reply::ok("application/json", fixture("commons/search_page2.json", base)),
        p => image_reply(p),
    });
    let server = Server::start(routes).await;
    let dir = tempfile::tempdir().unwrap();
    let s = run(Source::Commons(commons(&server, None)), dir.path(), opts(10)).await.unwrap();
    let api = server.requests(API);
    assert_eq!(api.len(), 3, "429, maxlag, then the page");
    for w in api.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= Duration::from_millis(950), "Retry-After: 1 honoured, waited {gap:?}");
    }
    assert_eq!(s.downloaded, 3, "{s:?}");

    // A Retry-After longer than allowed fails the search with a message that says so.
    let routes: Routes = Arc::new(|_, _, _| Reply::status(429, vec![("Retry-After", "3600".into())]));
    let server = Server::start(routes).await;
    let dir = tempfile::tempdir().unwrap();
    let e = run(Source::Commons(commons(&server, None)), dir.path(), opts(10)).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, FetchError::Search(_)), "{e:?}");
    assert!(msg.contains("429") && msg.contains("3600 s") && msg.contains("Retry-After"), "{msg}");
    assert_eq!(server.requests(API).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commons_api_errors_and_unknown_shapes_are_clear() {
    let routes: Routes = Arc::new(|req, _, _| match req.query.get("gsrsearch").map(String::as_str) {
        Some(q) if q.starts_with("badvalue") => Reply::ok(
            "application/json",
            r#"{"error":{"code":"badvalue","info":"Unrecognized value for parameter \"prop\": imageinfo."}}"#,
        ),
        Some(q) if q.starts_with("v1") => Reply::ok("application/json", r#"{"query":{"pages":{"1":{"title":"x"}}}}"#),
        _ => Reply::ok("text/html", "<html>maintenance</html>"),
    });
    let server = Server::start(routes).await;
    for (query, want) in
        [("badvalue", "badvalue"), ("v1", "query.pages as a list (formatversion=2)"), ("html", "MediaWiki API JSON")]
    {
        let dir = tempfile::tempdir().unwrap();
        let c = Commons::new(format!("{}{API}", server.base), query).unwrap();
        let e = run(Source::Commons(c), dir.path(), opts(10)).await.unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("page 1"), "{query}: {e}");
        assert!(stored_files(dir.path()).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Bing Images

const ASYNC: &str = "/images/async";

fn bing_routes(page2: &'static str) -> Routes {
    Arc::new(move |req, _, base| match req.path.as_str() {
        ASYNC => match req.query.get("first").map(String::as_str) {
            Some("1") => Reply::ok("text/html; charset=utf-8", fixture("bing/page1.html", base)),
            Some("36") => Reply::ok("text/html; charset=utf-8", fixture(page2, base)),
            _ => Reply::ok("text/html; charset=utf-8", ""),
        },
        p => image_reply(p),
    })
}

fn bing(server: &Server) -> Bing {
    Bing::new(format!("{}{ASYNC}", server.base), "Ada Lovelace").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bing_pages_until_results_run_out_and_says_licences_are_unknown() {
    let server = Server::start(bing_routes("bing/page2.html")).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let s = run(Source::Bing(bing(&server)), out, opts(10)).await.unwrap();

    let firsts: Vec<String> = server.requests(ASYNC).iter().map(|r| r.query["first"].clone()).collect();
    assert_eq!(firsts, ["1", "36", "71"], "paged with first; the empty third page ends the results");
    for r in server.requests(ASYNC) {
        assert_eq!(r.query["q"], "Ada Lovelace");
        assert_eq!(r.query["count"], "35");
        assert_eq!(r.headers["user-agent"], USER_AGENT);
    }
    assert_eq!(server.image_paths(), ["/img/b1.jpg", "/img/b2.png", "/img/b3.jpg", "/img/b4.jpg"]);
    assert_eq!((s.downloaded, s.pages), (4, 3), "{s:?}");

    let m = manifest(out);
    let e = m.iter().find(|e| e.url.ends_with("/img/b2.png")).unwrap();
    assert_eq!(e.provider, "bing");
    let a = e.attribution.clone().unwrap();
    assert_eq!(a.page.as_deref(), Some("https://www.example.org/history/ada?x=1&y=2"));
    assert_eq!(a.title.as_deref(), Some("Portrait of Ada &amp; her \"machine\""), "m's JSON decoded once");
    assert_eq!((a.license, a.author, a.attribution_required), (None, None, None));

    let md = std::fs::read_to_string(out.join("ada-lovelace").join(ATTRIBUTION_FILE)).unwrap();
    assert_eq!(md.matches("- Licence: unknown — check the source page").count(), 4, "{md}");
    assert_eq!(md.matches("- Author: unknown — check the source page").count(), 4, "{md}");
    assert!(md.contains("(<https://en.wikipedia.org/wiki/Ada_Lovelace>)"), "{md}");

    // A rerun downloads nothing new.
    let s2 = run(Source::Bing(bing(&server)), out, opts(10)).await.unwrap();
    assert_eq!((s2.downloaded, s2.skipped.get("done")), (0, Some(&4)), "{s2:?}");
    assert_eq!(server.image_paths().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bing_changed_page_shape_is_a_clear_error_and_nothing_is_stored() {
    let routes: Routes = Arc::new(|req, _, base| match req.path.as_str() {
        ASYNC => Reply::ok("text/html", fixture("bing/changed_markup.html", base)),
        p => image_reply(p),
    });
    let server = Server::start(routes).await;
    let dir = tempfile::tempdir().unwrap();
    let e = run(Source::Bing(bing(&server)), dir.path(), opts(10)).await.unwrap_err();
    let FetchError::Shape { provider, url, page, expected, found } = &e else { panic!("{e:?}") };
    assert_eq!((*provider, *page), ("bing", 1));
    assert!(url.starts_with(&server.base) && url.contains("first=1"), "{url}");
    assert!(expected.contains("class=\"iusc\"") && expected.contains("murl"), "{expected}");
    assert!(found.contains("without any such anchor"), "{found}");
    let msg = e.to_string();
    assert!(msg.contains("page 1") && msg.contains(url.as_str()) && msg.contains("nothing from this page"), "{msg}");
    assert!(server.image_paths().is_empty(), "nothing downloaded");
    assert!(stored_files(dir.path()).is_empty(), "nothing stored");
    assert!(manifest(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bing_m_attribute_not_json_on_page_2_stops_with_only_page_1_stored() {
    let server = Server::start(bing_routes("bing/page2_m_not_json.html")).await;
    let dir = tempfile::tempdir().unwrap();
    let e = run(Source::Bing(bing(&server)), dir.path(), opts(10)).await.unwrap_err();
    let FetchError::Shape { page, found, .. } = &e else { panic!("{e:?}") };
    assert_eq!(*page, 2);
    assert!(found.contains("result anchor 1") && found.contains("not JSON"), "{found}");
    // Downloads from page 1 in flight finish and are recorded; nothing from page 2 is fetched.
    assert!(!server.image_paths().contains(&"/img/b4.jpg".to_string()), "{:?}", server.image_paths());
    let m = manifest(dir.path());
    assert!(m.iter().all(|e| e.status == Status::Ok && !e.url.ends_with("b4.jpg")), "{m:?}");
    assert_eq!(stored_files(dir.path()).len(), m.len());
}
