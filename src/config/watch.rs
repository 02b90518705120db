//! Noticing that a file was changed by someone else (another editor, a script) while the app runs.
//!
//! The folder is watched, not the file: editors and our own atomic saves replace a file by renaming a new one over
//! it, and a watch on the old file would go quiet after the first save. Events are only a hint; the owner re-reads
//! the file and compares contents, so duplicate or spurious events cost a read and nothing else.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

use notify::{RecursiveMode, Watcher};

/// Watches one file; [`FileWatch::changed`] says whether anything happened to it since the last call.
pub struct FileWatch {
    file: PathBuf,
    events: Receiver<()>,
    // Kept alive: dropping the watcher stops the events.
    _watcher: notify::RecommendedWatcher,
}

impl FileWatch {
    /// Starts watching `file` (which may not exist yet; its folder is created so it can be watched).
    pub fn new(file: &Path) -> Result<FileWatch, String> {
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!("cannot create {} to watch it: {e}; edits made elsewhere are not picked up", dir.display())
        })?;
        let name = file.file_name().map(|n| n.to_owned());
        let (tx, events) = channel();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if event.kind.is_access() {
                return;
            }
            if event.paths.iter().any(|p| p.file_name().map(|n| n.to_owned()) == name) {
                let _ = tx.send(());
            }
        })
        .map_err(|e| format!("cannot watch {}: {e}; edits made elsewhere are not picked up", dir.display()))?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}; edits made elsewhere are not picked up", dir.display()))?;
        Ok(FileWatch { file: file.to_owned(), events, _watcher: watcher })
    }

    /// The watched file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// True when the file was touched since the last call (all pending events are taken).
    pub fn changed(&self) -> bool {
        let mut any = false;
        while self.events.try_recv().is_ok() {
            any = true;
        }
        any
    }
}
