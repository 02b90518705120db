//! Finding and loading the ONNX Runtime library, and opening ONNX models through it.
//!
//! ONNX Runtime is loaded at run time (ort's `load-dynamic`), so the app builds without it and says clearly where
//! it looked when it is missing. It is an asset like the models: found via `ORT_DYLIB_PATH`, the models folder,
//! beside the executable, or the system's library folders.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;

/// The library's file name on this platform, without a version suffix.
pub const LIBRARY_NAME: &str = if cfg!(target_os = "windows") {
    "onnxruntime.dll"
} else if cfg!(target_os = "macos") {
    "libonnxruntime.dylib"
} else {
    "libonnxruntime.so"
};

/// ONNX Runtime could not be found or loaded.
#[derive(Debug, thiserror::Error)]
pub enum OrtError {
    #[error(
        "the ONNX Runtime library ({LIBRARY_NAME}) was not found; looked in:\n{}\nRun `persona models fetch onnxruntime`, or set ORT_DYLIB_PATH to the library file",
        .looked.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n")
    )]
    NotFound { looked: Vec<PathBuf> },
    #[error(
        "the ONNX Runtime library at {path} could not be loaded: {reason}. Install ONNX Runtime 1.22 or newer (`persona models fetch onnxruntime`), or set ORT_DYLIB_PATH to a working copy"
    )]
    Load { path: PathBuf, reason: String },
    #[error(
        "model file {path} does not exist. Run `persona models fetch` (or `persona models list` to see what is installed), or fix the path in the settings"
    )]
    ModelMissing { path: PathBuf },
    #[error(
        "{path} is not a usable ONNX model: {reason}. Re-download it with `persona models fetch --force`, or check that the path names an .onnx model"
    )]
    ModelInvalid { path: PathBuf, reason: String },
}

/// Every place the library is looked for, in order.
pub fn candidates(models_dir: &Path) -> Vec<PathBuf> {
    let from_env = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()).map(PathBuf::from);
    candidates_with(from_env.as_deref(), models_dir)
}

/// `candidates` with the value of `ORT_DYLIB_PATH` given (tests and callers that must not read the environment).
pub fn candidates_with(ort_dylib_path: Option<&Path>, models_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = ort_dylib_path {
        out.push(p.to_owned());
    }
    let mut in_dir = |dir: &Path| {
        // Versioned names first (libonnxruntime.so.1.32.0), newest first, then the plain name.
        let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                name.starts_with(
                    LIBRARY_NAME.trim_end_matches(".so").trim_end_matches(".dylib").trim_end_matches(".dll"),
                ) && name != LIBRARY_NAME
                    && (name.contains(".so.") || name.ends_with(".dylib") || name.ends_with(".dll"))
            })
            .collect();
        versioned.sort();
        versioned.reverse();
        out.extend(versioned);
        out.push(dir.join(LIBRARY_NAME));
    };
    in_dir(&models_dir.join("onnxruntime"));
    in_dir(models_dir);
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        in_dir(dir);
        in_dir(&dir.join("lib"));
    }
    for sys in
        ["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/opt/homebrew/lib"]
    {
        let sys = Path::new(sys);
        if sys.is_dir() {
            out.push(sys.join(LIBRARY_NAME));
        }
    }
    out.dedup();
    out
}

/// The first candidate that exists.
pub fn locate(models_dir: &Path) -> Result<PathBuf, OrtError> {
    first_existing(candidates(models_dir))
}

/// `locate` with the value of `ORT_DYLIB_PATH` given.
pub fn locate_with(ort_dylib_path: Option<&Path>, models_dir: &Path) -> Result<PathBuf, OrtError> {
    first_existing(candidates_with(ort_dylib_path, models_dir))
}

fn first_existing(looked: Vec<PathBuf>) -> Result<PathBuf, OrtError> {
    looked.iter().find(|p| p.is_file()).cloned().ok_or(OrtError::NotFound { looked })
}

struct Loaded {
    env: Environment,
    path: PathBuf,
}

static LOADED: OnceLock<Result<Loaded, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first use. Later calls return the same
/// environment whatever folder they name (a process can load only one ONNX Runtime).
pub fn environment(models_dir: &Path) -> Result<Environment, OrtError> {
    let path = locate(models_dir)?;
    let loaded = LOADED.get_or_init(|| {
        let env =
            ort::init_from(&path).map_err(|e| e.to_string())?.with_name("persona").build().map_err(|e| e.to_string());
        env.map(|env| Loaded { env, path: path.clone() })
    });
    match loaded {
        Ok(l) => Ok(l.env.clone()),
        Err(reason) => Err(OrtError::Load { path, reason: reason.clone() }),
    }
}

/// The loaded library's path and version ("1.32.0"), once `environment` has succeeded. The version comes from
/// the versioned file name (following links), else from the build info ("rel-1.32.0"), else "version unknown".
pub fn loaded_version() -> Option<(PathBuf, String)> {
    let l = LOADED.get()?.as_ref().ok()?;
    let real = std::fs::canonicalize(&l.path).unwrap_or_else(|_| l.path.clone());
    let from_name = real.file_name().map(|n| n.to_string_lossy().into_owned()).and_then(|name| {
        let v = name.split_once(".so.").map(|(_, v)| v.to_owned())?;
        v.chars().all(|c| c.is_ascii_digit() || c == '.').then_some(v)
    });
    let from_info = || ort::info().split([',', ' ', '=']).find_map(|w| w.strip_prefix("rel-")).map(str::to_owned);
    let version = from_name.or_else(from_info).unwrap_or_else(|| "version unknown".into());
    Some((l.path.clone(), version))
}

/// Opens an ONNX model with `threads` intra-op threads (never more than the machine has).
pub fn open_session(models_dir: &Path, model: &Path, threads: usize) -> Result<Session, OrtError> {
    open_session_with(models_dir, model, threads, |b| b.commit_from_file(model))
}

/// Like [`open_session`] for a model already in memory (an edited copy of the file `model`, named in errors).
pub fn open_session_from_memory(
    models_dir: &Path,
    model: &Path,
    bytes: &[u8],
    threads: usize,
) -> Result<Session, OrtError> {
    open_session_with(models_dir, model, threads, |b| b.commit_from_memory(bytes))
}

/// Opens `model` with the intermediate tensor `output` (of element type `elem`) added to its outputs, and says
/// which output it is. A model that has no such tensor, or that ONNX Runtime refuses once edited, is opened as it
/// is, with `None`.
pub fn open_session_with_output(
    models_dir: &Path,
    model: &Path,
    threads: usize,
    output: &str,
    elem: crate::models::protobuf::Elem,
) -> Result<(Session, Option<usize>), OrtError> {
    let edited = std::fs::read(model).ok().and_then(|b| crate::models::protobuf::with_extra_output(&b, output, elem));
    if let Some(bytes) = edited
        && let Ok(session) = open_session_from_memory(models_dir, model, &bytes, threads)
    {
        let index = session.outputs().iter().position(|o| o.name() == output);
        return Ok((session, index));
    }
    Ok((open_session(models_dir, model, threads)?, None))
}

fn open_session_with(
    models_dir: &Path,
    model: &Path,
    threads: usize,
    commit: impl FnOnce(&mut ort::session::builder::SessionBuilder) -> ort::Result<Session>,
) -> Result<Session, OrtError> {
    let env = environment(models_dir)?;
    if !model.is_file() {
        return Err(OrtError::ModelMissing { path: model.to_owned() });
    }
    let threads = threads.clamp(1, available_cores());
    let invalid = |e: ort::Error| OrtError::ModelInvalid { path: model.to_owned(), reason: e.to_string() };
    let mut builder = Session::builder(&env)
        .map_err(invalid)?
        .with_intra_threads(threads)
        .map_err(|e| invalid(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| invalid(e.into()))?;
    commit(&mut builder).map_err(invalid)
}

/// Cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
