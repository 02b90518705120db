//! The personality editor: edits `personality.txt` of the running character, saves it atomically, and follows
//! edits made to the file elsewhere. When the file changes under an unsaved edit, neither side is dropped: the
//! editor keeps the user's text and asks which one to keep.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::character::Character;
use crate::pipeline::status::Control;

use super::ControlSink;
use crate::config::watch::FileWatch;

/// The character the conversation uses; the prompt of the next turn is built from what this holds then.
pub type SharedCharacter = Arc<RwLock<Character>>;

/// The personality text being edited and how it relates to the file.
pub struct PersonalityEditor {
    character: SharedCharacter,
    /// What the editor shows (the user's text).
    pub buffer: String,
    /// The file's text that the buffer started from (what was last loaded or saved).
    base: String,
    /// The file changed to this while the buffer held unsaved edits: the user must choose.
    conflict: Option<String>,
    /// The last save or load problem, shown under the editor.
    pub error: Option<String>,
    watch: Option<FileWatch>,
    pub watch_error: Option<String>,
}

/// What a poll found, for tests and the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEvent {
    Nothing,
    /// The file changed and the editor (and the running character) took the new text.
    Reloaded,
    /// The file changed while the editor had unsaved edits; the running character took the file's text and the
    /// editor asks the user.
    Conflict,
}

impl PersonalityEditor {
    pub fn new(character: SharedCharacter) -> PersonalityEditor {
        let text = character.read().unwrap_or_else(|e| e.into_inner()).personality.clone();
        let mut editor = PersonalityEditor {
            character,
            buffer: text.clone(),
            base: text,
            conflict: None,
            error: None,
            watch: None,
            watch_error: None,
        };
        editor.start_watch();
        editor
    }

    fn start_watch(&mut self) {
        match FileWatch::new(&self.file()) {
            Ok(w) => {
                self.watch = Some(w);
                self.watch_error = None;
            }
            Err(e) => {
                self.watch = None;
                self.watch_error = Some(e);
            }
        }
    }

    /// The character's `personality.txt`.
    pub fn file(&self) -> PathBuf {
        self.character.read().unwrap_or_else(|e| e.into_inner()).dir.join("personality.txt")
    }

    pub fn character(&self) -> SharedCharacter {
        self.character.clone()
    }

    /// The character's folder.
    pub fn dir(&self) -> PathBuf {
        self.character.read().unwrap_or_else(|e| e.into_inner()).dir.clone()
    }

    /// The buffer holds edits that are not in the file.
    pub fn unsaved(&self) -> bool {
        self.buffer != self.base
    }

    /// The file's text when it changed under an unsaved edit.
    pub fn conflict(&self) -> Option<&str> {
        self.conflict.as_deref()
    }

    /// Replaces the running character (the character picker) and follows its file from now on.
    pub fn switch_to(&mut self, character: Character) {
        self.buffer = character.personality.clone();
        self.base = character.personality.clone();
        self.conflict = None;
        self.error = None;
        *self.character.write().unwrap_or_else(|e| e.into_inner()) = character;
        self.start_watch();
    }

    /// Saves the buffer. Refuses an empty text, and turns a change on disk that the editor has not seen yet into a
    /// conflict instead of overwriting it.
    pub fn save(&mut self, sink: &dyn ControlSink) -> Result<(), String> {
        let result = self.try_save(sink);
        self.error = result.as_ref().err().cloned();
        result
    }

    fn try_save(&mut self, sink: &dyn ControlSink) -> Result<(), String> {
        if self.buffer.trim().is_empty() {
            return Err("the personality is empty: write who the character is (it becomes the system prompt)".into());
        }
        if self.conflict.is_none()
            && let Ok(disk) = std::fs::read_to_string(self.file())
            && disk != self.base
            && disk != self.buffer
        {
            self.take_disk_text(disk.clone(), sink);
            self.conflict = Some(disk);
            return Err("the file was changed elsewhere since you started editing: choose which text to keep".into());
        }
        self.write_buffer(sink)
    }

    /// The user chose their text over the file's: write it.
    pub fn keep_mine(&mut self, sink: &dyn ControlSink) -> Result<(), String> {
        let result = self.write_buffer(sink);
        self.error = result.as_ref().err().cloned();
        result
    }

    /// The user chose the file's text: drop the edit.
    pub fn take_theirs(&mut self) {
        if let Some(disk) = self.conflict.take() {
            self.buffer = disk.clone();
            self.base = disk;
        }
        self.error = None;
    }

    /// Drops unsaved edits.
    pub fn revert(&mut self) {
        self.buffer = self.base.clone();
        self.error = None;
    }

    fn write_buffer(&mut self, sink: &dyn ControlSink) -> Result<(), String> {
        let text = self.buffer.clone();
        let file = self.file();
        self.character
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .save_personality(&text)
            .map_err(|e| format!("could not save {}: {e}", file.display()))?;
        self.base = text;
        self.conflict = None;
        sink.send(Control::PersonalityChanged);
        Ok(())
    }

    /// The running character takes the file's text (the prompt follows what is on disk).
    fn take_disk_text(&mut self, disk: String, sink: &dyn ControlSink) {
        let mut c = self.character.write().unwrap_or_else(|e| e.into_inner());
        if c.personality != disk {
            c.personality = disk;
            drop(c);
            sink.send(Control::PersonalityChanged);
        }
    }

    /// Called every frame: follows the file when it changed.
    pub fn poll(&mut self, sink: &dyn ControlSink) -> FileEvent {
        if !self.watch.as_ref().is_some_and(|w| w.changed()) {
            return FileEvent::Nothing;
        }
        self.reload(sink)
    }

    /// Re-reads the file and merges: a clean editor takes the new text; an editor with unsaved edits asks.
    pub fn reload(&mut self, sink: &dyn ControlSink) -> FileEvent {
        let disk = match std::fs::read_to_string(self.file()) {
            Ok(t) => t,
            // Mid-rename or deleted: the next event or the next save sorts it out.
            Err(_) => return FileEvent::Nothing,
        };
        if disk == self.base || Some(&disk) == self.conflict.as_ref() {
            return FileEvent::Nothing;
        }
        if disk.trim().is_empty() {
            self.error = Some(format!(
                "{} was emptied elsewhere; the character keeps its last personality",
                self.file().display()
            ));
            return FileEvent::Nothing;
        }
        self.take_disk_text(disk.clone(), sink);
        if !self.unsaved() || disk == self.buffer {
            self.buffer = disk.clone();
            self.base = disk;
            FileEvent::Reloaded
        } else {
            self.conflict = Some(disk);
            FileEvent::Conflict
        }
    }
}

/// Characters the picker offers: folders with a `persona.toml` in the given search folders, by folder name.
pub fn list_characters(dirs: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.join("persona.toml").is_file()
                && let Some(name) = path.file_name().and_then(|n| n.to_str())
                && !found.iter().any(|(n, _): &(String, PathBuf)| n == name)
            {
                found.push((name.to_owned(), path));
            }
        }
    }
    found.sort();
    found
}
