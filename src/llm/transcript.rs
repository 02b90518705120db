//! The transcript log: every user and character message, one JSON object a line, in a file per character.
//!
//! Each record is appended with one `write` and flushed to disk before the next, so a crash (or a kill) loses at
//! most the record being written. Reading tolerates a torn last line (and any other damaged line): it is skipped
//! and reported, and the next append starts on a fresh line, so the file stays readable for good.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::prompt::{History, Speaker, Turn};
use crate::character::Character;
use crate::config::Paths;

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub speaker: Speaker,
    /// The name shown for the speaker.
    pub name: String,
    pub text: String,
    /// A reply cut off by the user; `text` is what was heard.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Emotion tags of a reply, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emotions: Vec<String>,
}

impl Record {
    pub fn new(speaker: Speaker, name: &str, text: &str) -> Record {
        let time_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        Record {
            time_ms,
            speaker,
            name: name.to_owned(),
            text: text.to_owned(),
            interrupted: false,
            emotions: Vec::new(),
        }
    }
}

/// A transcript log that cannot be used, with the file and what to do.
#[derive(Debug, thiserror::Error)]
#[error("transcript log {}: {source}. Check the folder's permissions and free space, or set conversation.keep_log = false", path.display())]
pub struct TranscriptError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// An open log, appending.
#[derive(Debug)]
pub struct TranscriptLog {
    path: PathBuf,
    file: File,
}

/// What was in a log when it was opened.
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<Record>,
    /// Lines that could not be read (a torn last line after a crash, or damage), skipped.
    pub skipped: usize,
}

impl Loaded {
    /// The conversation the records tell, to resume it.
    pub fn history(&self) -> History {
        History::from_turns(
            self.records
                .iter()
                .map(|r| Turn { speaker: r.speaker, text: r.text.clone(), interrupted: r.interrupted })
                .collect(),
        )
    }
}

impl TranscriptLog {
    /// The log of a character: `<logs>/<character folder name>.jsonl`.
    pub fn path_for(paths: &Paths, character: &Character) -> PathBuf {
        let name = character.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = if name.is_empty() { character.info.name.clone() } else { name };
        let safe: String =
            name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        paths.logs_dir().join(format!("{safe}.jsonl"))
    }

    /// Opens (creating it and its folder if needed) the log at `path` and reads what it holds.
    pub fn open(path: &Path) -> Result<(TranscriptLog, Loaded), TranscriptError> {
        let err = |source| TranscriptError { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path).map_err(err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(err)?;
        let loaded = parse(&bytes);
        if loaded.skipped > 0 {
            tracing::warn!(
                "{}: {} damaged line(s) skipped (a torn last line after a crash is normal)",
                path.display(),
                loaded.skipped
            );
        }
        // A torn last line has no newline: end it, so the next record starts on its own line.
        if bytes.last().is_some_and(|&b| b != b'\n') {
            file.seek(SeekFrom::End(0)).map_err(err)?;
            file.write_all(b"\n").map_err(err)?;
            file.sync_data().map_err(err)?;
        }
        Ok((TranscriptLog { path: path.to_owned(), file }, loaded))
    }

    /// Reads a log without opening it for writing.
    pub fn read(path: &Path) -> Result<Loaded, TranscriptError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(parse(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Loaded::default()),
            Err(source) => Err(TranscriptError { path: path.to_owned(), source }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record with a single write, then flushes it to disk.
    pub fn append(&mut self, record: &Record) -> Result<(), TranscriptError> {
        let err = |source| TranscriptError { path: self.path.clone(), source };
        let mut line = serde_json::to_vec(record).map_err(|e| err(std::io::Error::other(e)))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(err)?;
        self.file.sync_data().map_err(err)
    }
}

fn parse(bytes: &[u8]) -> Loaded {
    let mut loaded = Loaded::default();
    for line in bytes.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => loaded.records.push(r),
            Err(_) => loaded.skipped += 1,
        }
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_skipped_and_healed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/mira.jsonl");
        {
            let (mut log, loaded) = TranscriptLog::open(&path).unwrap();
            assert!(loaded.records.is_empty());
            log.append(&Record::new(Speaker::User, "Sam", "hi")).unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"time_ms":1,"speaker":"character","na"#).unwrap();
        drop(f);
        let (mut log, loaded) = TranscriptLog::open(&path).unwrap();
        assert_eq!((loaded.records.len(), loaded.skipped), (1, 1));
        log.append(&Record::new(Speaker::Character, "Mira", "hello \"you\"\nthere")).unwrap();
        let again = TranscriptLog::read(&path).unwrap();
        assert_eq!(again.records.len(), 2);
        assert_eq!(again.records[1].text, "hello \"you\"\nthere");
        assert_eq!(again.history().turns()[0].text, "hi");
    }
}
