//! Where things live: the settings file, models, characters, logs; and atomic writes of user files.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The folders and files the app uses, resolved once at startup.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The settings file (may not exist yet).
    pub config_file: PathBuf,
    /// Per-user data: downloaded models, the user's own characters, transcript logs.
    pub data_dir: PathBuf,
    /// Where models are looked up: `PERSONA_MODELS` when set, else `<data_dir>/models`.
    pub models_dir: PathBuf,
}

impl Paths {
    /// Resolves the platform's places (XDG on Linux, Application Support on macOS, AppData on Windows),
    /// with `config_override` (from `--config`) and `PERSONA_MODELS` taking precedence.
    pub fn resolve(config_override: Option<&Path>) -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "persona");
        let (config_dir, data_dir) = match &dirs {
            Some(d) => (d.config_dir().to_owned(), d.data_dir().to_owned()),
            // No home directory (a bare service account): keep everything beside the working directory.
            None => (PathBuf::from(".persona"), PathBuf::from(".persona")),
        };
        let config_file = match config_override {
            Some(p) => p.to_owned(),
            None => config_dir.join("settings.toml"),
        };
        let models_dir = match std::env::var_os("PERSONA_MODELS") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => data_dir.join("models"),
        };
        Paths { config_file, data_dir, models_dir }
    }

    /// A model named in the settings: an absolute or relative path when it names one that exists, else a file in
    /// the models folder.
    pub fn model(&self, name: &str) -> PathBuf {
        let p = Path::new(name);
        if p.is_absolute() || (p.components().count() > 1 && p.exists()) {
            return p.to_owned();
        }
        self.models_dir.join(p)
    }

    /// Folder of the user's own characters.
    pub fn user_characters_dir(&self) -> PathBuf {
        self.data_dir.join("characters")
    }

    /// Folder of transcript logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
}

/// Folders shipped with the app (`personas/`, `assets/`, `shaders/`), looked up beside the executable, in
/// `../share/persona/` of an installed one, and in the source tree it was built from.
pub fn bundled_dir(name: &str) -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join(name));
        candidates.push(dir.join("../share/persona").join(name));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(name));
    candidates.iter().find(|p| p.is_dir()).cloned().unwrap_or_else(|| candidates.pop().unwrap())
}

/// Replaces `path` with `bytes` so that a reader, or a crash, sees the old content or the new, never a mix:
/// write a temporary file in the same folder, flush it to disk, rename it over the target, then sync the folder.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable where the platform allows opening a folder.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/settings.toml");
        atomic_write(&f, b"first").unwrap();
        atomic_write(&f, b"second").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"second");
        let leftovers: Vec<_> = std::fs::read_dir(f.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }

    #[test]
    fn failed_write_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("settings.toml");
        atomic_write(&f, b"good").unwrap();
        // A folder where the file should be renamed to makes the rename fail.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(atomic_write(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"good");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "temporary file removed");
    }

    #[test]
    fn model_names_resolve_into_models_dir() {
        let p = Paths { config_file: "c".into(), data_dir: "/d".into(), models_dir: "/m".into() };
        assert_eq!(p.model("silero_vad.onnx"), PathBuf::from("/m/silero_vad.onnx"));
        assert_eq!(p.model("/abs/x.onnx"), PathBuf::from("/abs/x.onnx"));
        assert_eq!(p.model("voices"), PathBuf::from("/m/voices"));
    }
}
