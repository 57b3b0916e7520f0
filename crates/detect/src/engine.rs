//! Choosing the inference engine, once per process.
//!
//! Both engines sit behind the same `ort` API, so the detector and embedder code does not know which one runs it:
//! - **ONNX Runtime**, loaded dynamically from `libonnxruntime.so` (fast; preferred when found);
//! - **tract**, the pure-Rust engine behind `ort-tract` (always available when the `tract` feature is on).
//!
//! The ONNX Runtime library is searched, in order, at: `ORT_DYLIB_PATH` (a file, or a folder holding it); the
//! project-local copy `.ort/lib/libonnxruntime.so` made by `scripts/fetch-onnxruntime.sh`, in the current folder,
//! its ancestors, the executable's ancestors and the source checkout; and an installed `onnxruntime` Python
//! package (`python3 -c 'import onnxruntime'`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::DetectError;

/// Which engine the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// ONNX Runtime when its library is found, tract otherwise.
    #[default]
    Auto,
    /// ONNX Runtime; an error when its library cannot be found or loaded.
    OnnxRuntime,
    /// The pure-Rust tract engine.
    Tract,
}

impl FromStr for EngineChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "ort" | "onnxruntime" | "onnx-runtime" => Ok(Self::OnnxRuntime),
            "tract" => Ok(Self::Tract),
            other => Err(format!("unknown engine '{other}': use auto, ort or tract")),
        }
    }
}

impl EngineChoice {
    /// The choice from the `ISSC_ENGINE` environment variable (`auto`, `ort`, `tract`); `Auto` when unset.
    pub fn from_env() -> Result<Self, DetectError> {
        match std::env::var("ISSC_ENGINE") {
            Ok(v) => v.parse().map_err(|e| DetectError::Engine(format!("ISSC_ENGINE: {e}"))),
            Err(_) => Ok(Self::Auto),
        }
    }
}

/// The engine that actually runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// ONNX Runtime (dynamically loaded).
    OnnxRuntime,
    /// tract (pure Rust).
    Tract,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::OnnxRuntime => "onnxruntime",
            EngineKind::Tract => "tract",
        })
    }
}

/// What was chosen, and why.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    /// The engine in use.
    pub kind: EngineKind,
    /// For ONNX Runtime: the library that was loaded.
    pub library: Option<PathBuf>,
    /// A one-line explanation (where the library came from, or why tract was used).
    pub reason: String,
}

impl fmt::Display for EngineInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.library {
            Some(lib) => write!(f, "{} ({}; {})", self.kind, lib.display(), self.reason),
            None => write!(f, "{} ({})", self.kind, self.reason),
        }
    }
}

struct Engine {
    info: EngineInfo,
    env: Environment,
}

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Initialise the engine for this process (idempotent). The first call decides; a later call that asks for a
/// different specific engine is an error, because `ort` binds one engine per process.
pub fn init_engine(choice: EngineChoice) -> Result<&'static EngineInfo, DetectError> {
    let engine = ENGINE.get_or_init(|| start(choice)).as_ref().map_err(|e| DetectError::Engine(e.clone()))?;
    let conflict = matches!(
        (choice, engine.info.kind),
        (EngineChoice::OnnxRuntime, EngineKind::Tract) | (EngineChoice::Tract, EngineKind::OnnxRuntime)
    );
    if conflict {
        return Err(DetectError::Engine(format!(
            "engine {:?} was requested but this process already runs {}",
            choice, engine.info.kind
        )));
    }
    Ok(&engine.info)
}

/// The engine in use, if initialised.
pub fn engine_info() -> Option<&'static EngineInfo> {
    ENGINE.get().and_then(|e| e.as_ref().ok()).map(|e| &e.info)
}

pub(crate) fn environment() -> Result<&'static Environment, DetectError> {
    init_engine(EngineChoice::Auto)?;
    match ENGINE.get() {
        Some(Ok(e)) => Ok(&e.env),
        Some(Err(e)) => Err(DetectError::Engine(e.clone())),
        None => Err(DetectError::Engine("engine not initialised".into())),
    }
}

fn start(choice: EngineChoice) -> Result<Engine, String> {
    match choice {
        EngineChoice::Tract => start_tract("requested".into()),
        EngineChoice::OnnxRuntime => {
            let (lib, origin) = find_onnxruntime().ok_or_else(|| {
                "ONNX Runtime was requested but libonnxruntime.so was not found: run scripts/fetch-onnxruntime.sh, \
                 or set ORT_DYLIB_PATH to the library, or `pip install onnxruntime`"
                    .to_string()
            })?;
            start_ort(lib, origin)
        }
        EngineChoice::Auto => match find_onnxruntime() {
            Some((lib, origin)) => start_ort(lib, origin),
            None => start_tract(
                "no ONNX Runtime library found (ORT_DYLIB_PATH, .ort/lib, python onnxruntime); \
                 run scripts/fetch-onnxruntime.sh for the faster engine"
                    .into(),
            ),
        },
    }
}

fn start_ort(lib: PathBuf, origin: String) -> Result<Engine, String> {
    let builder = ort::init_from(&lib).map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?;
    let env = builder
        .with_name("issc")
        .build()
        .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", lib.display()))?;
    Ok(Engine { info: EngineInfo { kind: EngineKind::OnnxRuntime, library: Some(lib), reason: origin }, env })
}

#[cfg(feature = "tract")]
fn start_tract(reason: String) -> Result<Engine, String> {
    ort::set_api(ort_tract::api());
    let env = ort::init().with_name("issc").build().map_err(|e| format!("cannot start tract: {e}"))?;
    Ok(Engine { info: EngineInfo { kind: EngineKind::Tract, library: None, reason }, env })
}

#[cfg(not(feature = "tract"))]
fn start_tract(reason: String) -> Result<Engine, String> {
    Err(format!(
        "{reason}; and this build has no tract engine (built without the `tract` feature): \
         install ONNX Runtime (scripts/fetch-onnxruntime.sh) or rebuild with `--features tract`"
    ))
}

const LIB_NAME: &str = if cfg!(target_os = "macos") {
    "libonnxruntime.dylib"
} else if cfg!(windows) {
    "onnxruntime.dll"
} else {
    "libonnxruntime.so"
};

/// Find an ONNX Runtime shared library, returning it with a note saying where it came from.
pub fn find_onnxruntime() -> Option<(PathBuf, String)> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        let p = if p.is_dir() { p.join(LIB_NAME) } else { p };
        if p.is_file() {
            return Some((p, "from ORT_DYLIB_PATH".into()));
        }
        tracing::warn!("ORT_DYLIB_PATH={} does not name a library file; searching elsewhere", p.display());
    }
    for root in search_roots() {
        let p = root.join(".ort").join("lib").join(LIB_NAME);
        if p.is_file() {
            return Some((p, "project-local copy (.ort/lib)".into()));
        }
    }
    python_onnxruntime().map(|p| (p, "from the installed onnxruntime Python package".into()))
}

/// Folders to look in for project files (`.ort/`, `models/`): the current folder and its ancestors, the
/// executable's ancestors, and the source checkout this binary was built from.
pub(crate) fn search_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(ws) = manifest.parent().and_then(Path::parent) {
        roots.push(ws.to_path_buf());
    }
    let mut seen = std::collections::HashSet::new();
    roots.retain(|r| seen.insert(r.clone()));
    roots
}

fn python_onnxruntime() -> Option<PathBuf> {
    const SCRIPT: &str = "import os, onnxruntime; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))";
    for py in ["python3", "python"] {
        let Ok(out) = std::process::Command::new(py).args(["-c", SCRIPT]).stderr(std::process::Stdio::null()).output()
        else {
            continue;
        };
        if !out.status.success() {
            continue;
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut libs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(LIB_NAME)))
            .collect();
        libs.sort();
        if let Some(lib) = libs.pop() {
            return Some(lib);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_names() {
        assert_eq!("ORT".parse::<EngineChoice>().unwrap(), EngineChoice::OnnxRuntime);
        assert_eq!("tract".parse::<EngineChoice>().unwrap(), EngineChoice::Tract);
        assert_eq!("auto".parse::<EngineChoice>().unwrap(), EngineChoice::Auto);
        assert!("cuda".parse::<EngineChoice>().unwrap_err().contains("auto, ort or tract"));
    }
}
