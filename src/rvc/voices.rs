//! Voice models in a folder, and the sample rate each one speaks at.
//!
//! The RVC WebUI's ONNX export does not record the rate the voice was trained at (usually 40 or 48 kHz), so it is
//! read from a sidecar `<voice>.json` beside the model (`{"sample_rate": 40000}`; `"samplingRate"` and RVC's own
//! `"sr": "40k"` are understood too), or else from the model's metadata (the keys `sample_rate`, `sr`, or a
//! `metadata` JSON with `samplingRate`, as some exporters write).

use std::path::{Path, PathBuf};

use ort::session::Session;

use super::RvcError;
use crate::models::onnxruntime::open_session;

/// One voice model found in a folder.
#[derive(Debug)]
pub struct Voice {
    pub name: String,
    pub path: PathBuf,
    /// The rate, or why it is unknown.
    pub sample_rate: Result<u32, String>,
}

/// A rate written as a number (40000) or RVC's short form ("40k", "48k", "32k").
fn parse_rate(v: &serde_json::Value) -> Option<u32> {
    let rate = match v {
        serde_json::Value::Number(n) => n.as_u64()? as u32,
        serde_json::Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            match s.strip_suffix('k') {
                Some(k) => k.parse::<u32>().ok()? * 1000,
                None => s.parse().ok()?,
            }
        }
        _ => return None,
    };
    (8000..=192_000).contains(&rate).then_some(rate)
}

fn rate_in_json(v: &serde_json::Value) -> Option<u32> {
    ["sample_rate", "samplingRate", "sampling_rate", "sr"].iter().find_map(|k| v.get(k).and_then(parse_rate))
}

/// The sidecar JSON of a model: `voice.json` beside `voice.onnx`.
pub fn sidecar(model: &Path) -> PathBuf {
    model.with_extension("json")
}

/// The voice's sample rate from its sidecar JSON, else from `session`'s metadata when given.
pub fn sample_rate(model: &Path, session: Option<&Session>) -> Result<u32, RvcError> {
    let side = sidecar(model);
    if side.is_file() {
        let bad = |why: String| RvcError::VoiceRate { model: model.to_owned(), why };
        let text =
            std::fs::read_to_string(&side).map_err(|e| bad(format!("{} could not be read: {e}", side.display())))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("{} is not valid JSON: {e}", side.display())))?;
        return rate_in_json(&v).ok_or_else(|| {
            bad(format!("{} has no usable \"sample_rate\" (a number like 40000, or \"40k\")", side.display()))
        });
    }
    if let Some(meta) = session.and_then(|s| s.metadata().ok()) {
        for k in ["sample_rate", "sr", "samplingRate"] {
            if let Some(r) = meta.custom(k).and_then(|v| parse_rate(&serde_json::Value::String(v))) {
                return Ok(r);
            }
        }
        if let Some(r) =
            meta.custom("metadata").and_then(|m| serde_json::from_str(&m).ok()).and_then(|v| rate_in_json(&v))
        {
            return Ok(r);
        }
    }
    Err(RvcError::VoiceRate {
        model: model.to_owned(),
        why: format!(
            "neither a sidecar {} nor the model's metadata says it; write {{\"sample_rate\": 40000}} (or 48000, the rate the voice was trained at) into that file",
            side.display()
        ),
    })
}

/// The voice models (`*.onnx`) in `folder`, sorted by name, each with its rate. Opening a model to read its
/// metadata needs ONNX Runtime from `models_dir`; a sidecar JSON answers without opening it.
pub fn list(models_dir: &Path, folder: &Path) -> Result<Vec<Voice>, RvcError> {
    let entries = std::fs::read_dir(folder)
        .map_err(|e| RvcError::VoicesFolder { folder: folder.to_owned(), reason: e.to_string() })?;
    let mut voices: Vec<Voice> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("onnx")) && p.is_file())
        .map(|path| {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let rate = if sidecar(&path).is_file() {
                sample_rate(&path, None)
            } else {
                open_session(models_dir, &path, 1).map_err(RvcError::from).and_then(|s| sample_rate(&path, Some(&s)))
            };
            Voice { name, path, sample_rate: rate.map_err(|e| e.to_string()) }
        })
        .collect();
    voices.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(voices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_in_the_forms_rvc_writes() {
        assert_eq!(parse_rate(&serde_json::json!(40000)), Some(40000));
        assert_eq!(parse_rate(&serde_json::json!("48k")), Some(48000));
        assert_eq!(parse_rate(&serde_json::json!("32000")), Some(32000));
        assert_eq!(parse_rate(&serde_json::json!("fast")), None);
        assert_eq!(parse_rate(&serde_json::json!(12)), None);
        assert_eq!(rate_in_json(&serde_json::json!({"sr": "40k"})), Some(40000));
    }

    #[test]
    fn sidecar_wins_and_bad_sidecar_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("mira.onnx");
        std::fs::write(&model, b"not read").unwrap();
        std::fs::write(sidecar(&model), r#"{"sample_rate": 48000}"#).unwrap();
        assert_eq!(sample_rate(&model, None).unwrap(), 48000);
        std::fs::write(sidecar(&model), r#"{"rate": "loud"}"#).unwrap();
        let e = sample_rate(&model, None).unwrap_err().to_string();
        assert!(e.contains("mira.json") && e.contains("sample_rate"), "{e}");
        std::fs::remove_file(sidecar(&model)).unwrap();
        let e = sample_rate(&model, None).unwrap_err().to_string();
        assert!(e.contains("40000"), "{e}");
    }
}
