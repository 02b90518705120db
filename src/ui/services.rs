//! The lists and checks the panel needs from outside: audio input devices, the LLM endpoint's models and a test
//! reply, the Kokoro voices on disk. Each sits behind a small function or trait so tests use real alternatives (a temp
//! folder of voice files, a loopback HTTP server), and slow ones run off the UI thread as a [`Job`].

use std::path::Path;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

use crate::config::LlmSettings;
use crate::llm::{LlmError, OpenAiClient};

/// Lists microphones by the names `audio.input_device` takes.
pub trait InputDevices: Send {
    fn input_devices(&self) -> Result<Vec<String>, String>;
}

/// The system's microphones that can be opened, named the way the capture stage finds them.
pub struct CpalInputs;

impl InputDevices for CpalInputs {
    fn input_devices(&self) -> Result<Vec<String>, String> {
        let names = crate::audio::capture::input_devices();
        if names.is_empty() {
            return Err("no microphone can be opened: plug one in, then Refresh".into());
        }
        Ok(names)
    }
}

/// A result that arrives later from a worker thread.
pub struct Job<T> {
    rx: Receiver<T>,
    pub started: Instant,
}

impl<T: Send + 'static> Job<T> {
    pub fn spawn(work: impl FnOnce() -> T + Send + 'static) -> Job<T> {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let _ = tx.send(work());
        });
        Job { rx, started: Instant::now() }
    }

    /// The result, once it is there.
    pub fn take(&self) -> Option<Result<T, String>> {
        match self.rx.try_recv() {
            Ok(v) => Some(Ok(v)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err("the worker stopped without an answer".into())),
        }
    }
}

/// What the probe found: the models the endpoint lists, and whether a real reply comes.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// `GET {endpoint}/models`; empty when the server lists none.
    pub models: Vec<String>,
    /// Why the list is missing, when the server answered but has no usable `/models`.
    pub models_note: Option<String>,
    /// Time to the first token of a short real reply, and the reply's beginning.
    pub reply: Result<(Duration, String), String>,
}

/// Checks an endpoint the way `persona llm probe` does, with the same client the conversation uses
/// ([`OpenAiClient`]): the model list, then a short real reply (stopped soon after its first token). Blocking: run
/// it in a [`Job`]. Messages say what to do; the API key appears in none of them.
pub fn probe(llm: &LlmSettings) -> Result<Probe, String> {
    let timeout = Duration::from_secs_f32(llm.connect_timeout_s.clamp(0.1, 600.0)).max(Duration::from_secs(10));
    let mut settings = llm.clone();
    settings.retries = 0;
    settings.max_tokens = settings.max_tokens.min(24);
    let client = OpenAiClient::new(&settings).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let (models, models_note) = match client.list_models(timeout).await {
            Ok(m) => (m, None),
            Err(
                e @ (LlmError::Connect { .. }
                | LlmError::ConnectTimeout { .. }
                | LlmError::Unauthorized { .. }
                | LlmError::BadEndpoint { .. }),
            ) => return Err(e.to_string()),
            Err(e) => (Vec::new(), Some(format!("GET /models failed ({e}); type the model name by hand"))),
        };
        let reply = crate::llm::probe::first_reply(&client, timeout, 80).await.map_err(|e| e.to_string());
        Ok(Probe { models, models_note, reply })
    })
}

/// Kokoro voice names (`<name>.bin`) in a voices folder, sorted.
pub fn kokoro_voices(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!("cannot read the Kokoro voices folder {}: {e}; `persona models fetch` gets the voices", dir.display())
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin") && p.is_file())
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no voice files (<name>.bin) in {}", dir.display()));
    }
    Ok(names)
}

/// RVC voice models (`.onnx`) in a folder, sorted.
pub fn rvc_models(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .filter_map(|p| p.file_name().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    names.sort();
    names
}

/// A voice setting as (voice, weight) pairs: "af_heart" or "af_heart:0.7,af_bella:0.3".
pub fn parse_blend(voice: &str) -> Vec<(String, f32)> {
    voice
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|part| match part.split_once(':') {
            Some((name, w)) => (name.trim().to_owned(), w.trim().parse().unwrap_or(1.0)),
            None => (part.to_owned(), 1.0),
        })
        .collect()
}

/// The voice setting for a blend; a single voice at weight 1 is written plainly.
pub fn format_blend(parts: &[(String, f32)]) -> String {
    if let [(name, w)] = parts
        && (*w - 1.0).abs() < f32::EPSILON
    {
        return name.clone();
    }
    parts.iter().map(|(n, w)| format!("{n}:{}", (w * 100.0).round() / 100.0)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blends_round_trip() {
        assert_eq!(parse_blend("af_heart"), vec![("af_heart".into(), 1.0)]);
        let b = parse_blend("af_heart:0.7, af_bella:0.3");
        assert_eq!(b, vec![("af_heart".into(), 0.7), ("af_bella".into(), 0.3)]);
        assert_eq!(format_blend(&b), "af_heart:0.7,af_bella:0.3");
        assert_eq!(format_blend(&parse_blend("af_heart")), "af_heart");
        assert!(parse_blend("").is_empty());
    }

    #[test]
    fn voices_folder_lists_bin_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bf_emma.bin"), [0u8; 8]).unwrap();
        std::fs::write(dir.path().join("af_heart.bin"), [0u8; 8]).unwrap();
        std::fs::write(dir.path().join("README.md"), "x").unwrap();
        assert_eq!(kokoro_voices(dir.path()).unwrap(), vec!["af_heart", "bf_emma"]);
        let e = kokoro_voices(&dir.path().join("missing")).unwrap_err();
        assert!(e.contains("persona models fetch"), "{e}");
    }
}
