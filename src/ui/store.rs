//! The running settings, as the panel edits them: every change is checked, applied live, announced to the pipeline
//! and written back to the settings file a moment later (debounced, atomic). A file edited by hand while the app
//! runs is reloaded; an invalid edit is reported and the running settings stay as they were.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{Problem, Settings, validate};
use crate::pipeline::status::Control;

use super::ControlSink;
use crate::config::watch::FileWatch;

pub use crate::config::SharedSettings;

/// How long the panel waits after the last change before writing the file (a slider drag is many changes).
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);

/// What happened to the settings file, for the panel to show.
#[derive(Debug, Clone, PartialEq)]
pub enum FileState {
    /// The file holds the running settings (or will, once the pending write is done).
    InSync,
    /// The file was edited by hand and cannot be used; the running settings are kept. The text says why.
    Invalid(String),
    /// Writing the file failed; the running settings are applied but not saved.
    WriteFailed(String),
}

/// Owner of the running settings on the panel's side.
pub struct SettingsStore {
    file: PathBuf,
    running: SharedSettings,
    debounce: Duration,
    /// When the last unsaved change was made.
    dirty_since: Option<Instant>,
    /// The text the file had when we last read or wrote it: a watch event with the same content is our own write.
    known_text: Option<String>,
    state: FileState,
    watch: Option<FileWatch>,
    watch_error: Option<String>,
}

impl SettingsStore {
    /// Takes over `running` (already loaded from `file`) and starts watching the file.
    pub fn new(file: &Path, running: SharedSettings, debounce: Duration) -> SettingsStore {
        let (watch, watch_error) = match FileWatch::new(file) {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(e)),
        };
        let known_text = std::fs::read_to_string(file).ok();
        SettingsStore {
            file: file.to_owned(),
            running,
            debounce,
            dirty_since: None,
            known_text,
            state: FileState::InSync,
            watch,
            watch_error,
        }
    }

    /// The settings file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// A copy of the running settings.
    pub fn current(&self) -> Settings {
        self.running.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The handle the app reads the settings through.
    pub fn shared(&self) -> SharedSettings {
        self.running.clone()
    }

    pub fn file_state(&self) -> &FileState {
        &self.state
    }

    /// Why edits made in another editor are not picked up, if they are not.
    pub fn watch_error(&self) -> Option<&str> {
        self.watch_error.as_deref()
    }

    /// True while a change waits for its write.
    pub fn unsaved(&self) -> bool {
        self.dirty_since.is_some()
    }

    /// Checks `new` and, when it is valid and different, makes it the running settings, tells the pipeline and
    /// schedules the write. Invalid settings are refused with every problem; nothing changes.
    pub fn apply(&mut self, new: Settings, sink: &dyn ControlSink) -> Result<bool, Vec<Problem>> {
        let problems = validate(&new);
        if !problems.is_empty() {
            return Err(problems);
        }
        {
            let mut running = self.running.write().unwrap_or_else(|e| e.into_inner());
            if *running == new {
                return Ok(false);
            }
            *running = new.clone();
        }
        sink.send(Control::SettingsChanged(Box::new(new)));
        self.dirty_since = Some(Instant::now());
        Ok(true)
    }

    /// Called every frame: writes a change once it has settled, and reloads the file when someone else changed it.
    pub fn poll(&mut self, now: Instant, sink: &dyn ControlSink) {
        if self.watch.as_ref().is_some_and(|w| w.changed()) {
            self.reload(sink);
        }
        if let Some(since) = self.dirty_since
            && now.duration_since(since) >= self.debounce
        {
            self.flush();
        }
    }

    /// Writes pending changes now (on exit, or when the user asks). Does nothing while the file holds a hand edit
    /// that failed to load: writing would throw that edit away; see [`SettingsStore::overwrite_file`].
    pub fn flush(&mut self) {
        if self.dirty_since.is_none() || matches!(self.state, FileState::Invalid(_)) {
            return;
        }
        self.write();
    }

    /// Replaces the file with the running settings, even over a broken hand edit (the user chose to).
    pub fn overwrite_file(&mut self) {
        self.write();
    }

    fn write(&mut self) {
        let on_disk = std::fs::read_to_string(&self.file).ok().and_then(|t| Settings::from_toml(&t, &self.file).ok());
        let text = self.current().without_env(on_disk.as_ref()).to_toml();
        match crate::config::atomic_write(&self.file, text.as_bytes()) {
            Ok(()) => {
                self.known_text = Some(text);
                self.dirty_since = None;
                self.state = FileState::InSync;
            }
            Err(e) => {
                self.state = FileState::WriteFailed(format!(
                    "could not write {}: {e}. The changes are applied but not saved; they are written again with the next change",
                    self.file.display()
                ));
            }
        }
    }

    /// Re-reads the file after a watch event. Our own writes (same text) are ignored; a valid hand edit becomes the
    /// running settings (it is newer than any change still waiting to be written); an invalid one is reported.
    pub fn reload(&mut self, sink: &dyn ControlSink) {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(t) => t,
            // Deleted or moved away: keep running; the next change writes it again.
            Err(_) => return,
        };
        if self.known_text.as_deref() == Some(text.as_str()) {
            return;
        }
        self.known_text = Some(text.clone());
        match Settings::from_toml(&text, &self.file) {
            Ok(mut loaded) => {
                loaded.apply_env();
                self.dirty_since = None;
                self.state = FileState::InSync;
                let changed = {
                    let mut running = self.running.write().unwrap_or_else(|e| e.into_inner());
                    let changed = *running != loaded;
                    *running = loaded.clone();
                    changed
                };
                if changed {
                    tracing::info!("settings reloaded from {}", self.file.display());
                    sink.send(Control::SettingsChanged(Box::new(loaded)));
                }
            }
            Err(errors) => {
                tracing::warn!("settings file edited but not usable; running settings kept: {errors}");
                self.state = FileState::Invalid(errors.to_string());
            }
        }
    }
}
