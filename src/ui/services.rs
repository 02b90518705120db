//! The lists and checks the panel needs from outside: audio input devices, the models an LLM endpoint offers,
//! the Kokoro voices on disk. Each sits behind a small function or trait so tests use real alternatives (a temp
//! folder of voice files, a loopback HTTP server), and slow ones run off the UI thread as a [`Job`].

use std::path::Path;
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

use crate::config::LlmSettings;

/// Lists microphones by the names `audio.input_device` takes.
pub trait InputDevices: Send {
    fn input_devices(&self) -> Result<Vec<String>, String>;
}

/// The system's microphones, through cpal.
pub struct CpalInputs;

impl InputDevices for CpalInputs {
    fn input_devices(&self) -> Result<Vec<String>, String> {
        use cpal::traits::{DeviceTrait, HostTrait};
        let host = cpal::default_host();
        let devices = host.input_devices().map_err(|e| format!("cannot list input devices: {e}"))?;
        let mut names: Vec<String> =
            devices.filter_map(|d| d.description().ok().map(|x| x.name().to_owned())).collect();
        names.dedup();
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

/// What `GET {endpoint}/models` said.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub models: Vec<String>,
    pub elapsed: Duration,
}

/// Asks an OpenAI-compatible endpoint for its models (`GET {endpoint}/models`, `{"data":[{"id":...}]}`; Ollama's
/// `{"models":[{"name":...}]}` is understood too). Blocking: run it in a [`Job`]. Errors say what to do; the API
/// key is sent as a bearer token and appears in no message.
pub fn list_models(llm: &LlmSettings) -> Result<Probe, String> {
    let endpoint = llm.endpoint.trim_end_matches('/');
    let url = format!("{endpoint}/models");
    let timeout = Duration::from_secs_f32(llm.connect_timeout_s.clamp(0.1, 60.0)) + Duration::from_secs(5);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs_f32(llm.connect_timeout_s.clamp(0.1, 60.0)))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let mut req = client.get(&url);
    if !llm.api_key.is_empty() {
        req = req.bearer_auth(&llm.api_key);
    }
    for (k, v) in &llm.extra_headers {
        req = req.header(k, v);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let started = Instant::now();
    let body = rt.block_on(async move {
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                format!("{endpoint} refused the connection: start your LLM server or fix the endpoint")
            } else if e.is_timeout() {
                format!("{endpoint} did not answer within {} s", timeout.as_secs())
            } else {
                format!("{endpoint}: {e}")
            }
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(format!("{endpoint} answers {status}: set a valid API key"));
        }
        if !status.is_success() {
            return Err(format!("{endpoint} answers {status} to GET /models: type the model name by hand"));
        }
        resp.text().await.map_err(|e| format!("{endpoint}: reading the answer failed: {e}"))
    })?;
    let elapsed = started.elapsed();
    let json: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| format!("{url} did not answer JSON ({e}); is this an OpenAI-compatible endpoint?"))?;
    let mut models: Vec<String> = Vec::new();
    let entries = json.get("data").or_else(|| json.get("models")).and_then(|d| d.as_array());
    let Some(entries) = entries else {
        return Err(format!("{url} answered JSON without a \"data\" list; is this an OpenAI-compatible endpoint?"));
    };
    for entry in entries {
        let id = entry.get("id").or_else(|| entry.get("name")).and_then(|v| v.as_str());
        if let Some(id) = id {
            models.push(id.to_owned());
        }
    }
    Ok(Probe { models, elapsed })
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
