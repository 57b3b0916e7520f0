//! A running `issc serve` on an ephemeral port, for the end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::repo;

/// `issc --engine ort serve --addr 127.0.0.1:0 ARGS`; killed when dropped (its log printed if the test failed).
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Kept open: the server may print more.
    _stdout: BufReader<std::process::ChildStdout>,
    log: PathBuf,
}

impl Server {
    /// Start it and wait for its `listening on` line. `ISSC_API_KEYS` is cleared unless `env` sets it.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "serve-{}-{}.log",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_issc"));
        cmd.current_dir(repo())
            .args(["--engine", "ort", "serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("ISSC_API_KEYS")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("server log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start issc serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "issc serve {args:?} did not start: {line:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Self { child, base, _stdout: stdout, log }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill -TERM");
        self.child.wait().expect("wait for the server")
    }

    /// `kill -9`: no shutdown handler runs, nothing is flushed.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    /// What the server printed on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("server log ({}):\n{}", self.base, self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
