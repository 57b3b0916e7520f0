//! A throwaway PostgreSQL 16 + pgvector for the PostgreSQL tests and benchmarks: `ISSC_TEST_POSTGRES_URL`, or a
//! server started from the `pgserver` wheel with the Python of `ISSC_PG_PYTHON` or `target/pg-venv`, stopped and
//! deleted when dropped. Shared by `tests/postgres.rs` and `benches/pg_index.rs`.
#![allow(dead_code)] // each user takes what it needs

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

/// Keeps a pgserver instance up while its stdin is open; when the test closes it (or dies), pgserver stops the
/// server and deletes its data folder (`cleanup_mode="delete"`, run at exit).
const KEEPER: &str = r#"
import sys
import pgserver
server = pgserver.get_server(sys.argv[1], cleanup_mode="delete")
print(server.get_uri(), flush=True)
sys.stdin.read()
"#;

/// The server under test.
pub struct Server {
    /// Its admin URL (database `postgres`, or the one given).
    pub uri: String,
    /// pgserver's Python process, its stdin, and the postmaster's pid.
    keeper: Option<(Child, ChildStdin, u32)>,
    dir: Option<tempfile::TempDir>,
}

impl Server {
    pub fn start() -> std::result::Result<Server, String> {
        if let Ok(uri) = std::env::var("ISSC_TEST_POSTGRES_URL") {
            return Ok(Server { uri, keeper: None, dir: None });
        }
        let python = std::env::var_os("ISSC_PG_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pg-venv/bin/python").components().collect()
        });
        if !python.exists() {
            return Err(format!(
                "no PostgreSQL to test against: set ISSC_TEST_POSTGRES_URL, or install the pgserver wheel \
                 (PostgreSQL 16 + pgvector) with `python3 -m venv target/pg-venv && target/pg-venv/bin/pip install \
                 pgserver` ({} is missing; ISSC_PG_PYTHON names another Python)",
                python.display()
            ));
        }
        let dir = tempfile::Builder::new().prefix("issc-pg").tempdir().map_err(|e| e.to_string())?;
        let pgdata = dir.path().join("pgdata");
        let log = dir.path().join("keeper.log");
        let mut child = Command::new(&python)
            .args(["-c", KEEPER])
            .arg(&pgdata)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let uri = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.starts_with("postgresql://") => line.trim().to_string(),
            other => {
                drop(stdin);
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: String =
                    log.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(format!(
                    "pgserver ({}) did not start a server ({:?}); is `pgserver` installed in that Python? \
                     (`pip install pgserver`) Its output:\n{tail}",
                    python.display(),
                    other.map(|l| l.trim().to_string())
                ));
            }
        };
        let pid: u32 = std::fs::read_to_string(pgdata.join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
            .ok_or("pgserver started, but postmaster.pid is unreadable")?;
        Ok(Server { uri, keeper: Some((child, stdin, pid)), dir: Some(dir) })
    }

    pub fn admin(&self) -> Client {
        Client::connect(&self.uri, NoTls).expect("connect to the test server")
    }

    /// Close pgserver's stdin so that it stops the server and deletes its data, and wait for that (killing the
    /// postmaster if pgserver does not manage within a minute). The postmaster's pid, if this test started one.
    pub fn shutdown(&mut self) -> Option<u32> {
        let (mut child, stdin, pid) = self.keeper.take()?;
        drop(stdin);
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if child.try_wait().ok().flatten().is_none() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let gone = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.dir.take();
        Some(pid)
    }

    /// Stop a server this test started, and check that nothing of it is left running.
    pub fn stop(&mut self) {
        if let Some(pid) = self.shutdown() {
            assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the postmaster (pid {pid}) still runs");
            eprintln!("postgres: server stopped (postmaster {pid} gone), data folder removed");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `uri` with its database replaced by `db` (URL form).
pub fn with_db(uri: &str, db: &str) -> String {
    let (base, query) = uri.split_once('?').map_or((uri, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
