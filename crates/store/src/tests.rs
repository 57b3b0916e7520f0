use super::conformance::{self, train};
use super::sqlite::to_blob;
use super::*;
use rusqlite::Connection;

const LPG: Kind = Kind::LargePersonGroup;

/// Opens the SQLite store in `dir` (the same one at every call).
fn sqlite(dir: &std::path::Path) -> impl Fn(usize) -> Result<Box<dyn FaceStore>> + '_ {
    move |dim| SqliteStore::open(dir, dim).map(|s| Box::new(s) as Box<dyn FaceStore>)
}

/// Every backend-independent check of [`conformance`], each on a store of its own (the PostgreSQL test runs the
/// same list).
#[test]
fn sqlite_passes_every_conformance_check() {
    for (name, check) in conformance::CHECKS {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        check(&sqlite(dir.path()));
        eprintln!("sqlite conformance {name}: ok ({} ms)", started.elapsed().as_millis());
    }
}

#[test]
fn sqlite_deletions_leave_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    conformance::deletions_leave_no_rows(&sqlite(dir.path()), &|marker, texts| {
        let c = Connection::open(&path).unwrap();
        let mut n: i64 =
            c.query_row("SELECT count(*) FROM faces WHERE embedding = ?1", [to_blob(marker)], |r| r.get(0)).unwrap();
        for t in texts {
            n += c
                .query_row(
                    "SELECT (SELECT count(*) FROM faces WHERE user_data = ?1)
                          + (SELECT count(*) FROM persons WHERE name = ?1 OR user_data = ?1)",
                    [t],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap();
        }
        n as usize
    });
}

#[test]
fn deleted_embeddings_leave_no_trace_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path(), 128).unwrap();
    // A recognisable embedding: 512 bytes that appear nowhere else.
    let marker: Vec<f32> = (0..128).map(|i| 1000.0 + i as f32 * 0.123_457).collect();
    let blob = to_blob(&marker);
    let contains = |needle: &[u8]| {
        std::fs::read_dir(dir.path()).unwrap().any(|f| {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
    };
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    s.create_collection(Kind::LargeFaceList, "l", "l", None, "recognition_04").unwrap();
    let p = s.create_person(LPG, "g", "Private Person", Some("secret note")).unwrap();
    s.add_face(LPG, "g", Some(p), &marker, Some("face note")).unwrap();
    let f = s.add_face(Kind::LargeFaceList, "l", None, &marker, None).unwrap();
    train(&s, LPG, "g");
    assert!(contains(&blob[..64]), "the test can see an embedding in the files");
    s.delete_person(LPG, "g", p).unwrap();
    s.delete_face(Kind::LargeFaceList, "l", None, f).unwrap();
    for needle in [&blob[..16], &blob[200..216], b"Private Person".as_slice(), b"secret note", b"face note"] {
        assert!(!contains(needle), "{:?} is still in the store files after deletion", String::from_utf8_lossy(needle));
    }
    // Deleting a whole group does the same.
    let q = s.create_person(LPG, "g", "Other", None).unwrap();
    s.add_face(LPG, "g", Some(q), &marker, None).unwrap();
    assert!(contains(&blob[..16]));
    s.delete_collection(LPG, "g").unwrap();
    assert!(!contains(&blob[..16]));
    let c = Connection::open(dir.path().join("store.sqlite3")).unwrap();
    let n: i64 = c.query_row("SELECT count(*) FROM faces", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn timestamps_are_rfc3339() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(UNIX_EPOCH + std::time::Duration::from_millis(1_709_251_199_999)), "2024-02-29T23:59:59.999Z");
    assert_eq!(rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
}

#[test]
fn passwords_are_redacted() {
    for (url, want) in [
        ("postgresql://ada:hunter2@db:5432/faces", "postgresql://ada:***@db:5432/faces"),
        ("postgres://ada:p@ss/w0rd@db/faces?sslmode=disable", "postgres://ada:***@db/faces?sslmode=disable"),
        ("postgresql://ada@db/faces?password=hunter2&x=1", "postgresql://ada@db/faces?password=***&x=1"),
        ("postgresql://postgres:@/postgres?host=/tmp/s", "postgresql://postgres:@/postgres?host=/tmp/s"),
        ("host=db user=ada password='a b\\' c' dbname=f", "host=db user=ada password=*** dbname=f"),
        ("host=db PASSWORD = hunter2 dbname=f", "host=db PASSWORD = *** dbname=f"),
        ("/var/lib/issc/store", "/var/lib/issc/store"),
        ("postgresql://db/passwords?user=x", "postgresql://db/passwords?user=x"),
    ] {
        assert_eq!(redact_url(url), want, "{url}");
        assert!(!redact_url(url).contains("hunter2") && !redact_url(url).contains("w0rd"));
    }
}
