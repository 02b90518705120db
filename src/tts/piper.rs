//! Piper voices (VITS, ONNX): espeak-ng phonemes → ids from the voice's `.onnx.json` → audio.
//!
//! Inputs `input` i64 `[1, n]`, `input_lengths` i64 `[1]`, `scales` f32 `[3]` (noise, length, noise_w), and `sid`
//! i64 `[1]` for multi-speaker voices. Ids: `^`, then each phoneme's ids each followed by the pad `_`, then `$`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::espeak::{Espeak, Phonemized};
use super::kokoro::{join_parts, split_to_fit};
use super::{Speech, Synthesizer, TtsError, text};
use crate::config::{Paths, TtsSettings};
use crate::models::onnxruntime::open_session;

/// The parts of a voice's `.onnx.json` that synthesis needs.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct VoiceConfig {
    pub audio: AudioConfig,
    #[serde(default)]
    pub espeak: Option<EspeakConfig>,
    #[serde(default)]
    pub inference: Option<InferenceConfig>,
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    pub num_speakers: u32,
    #[serde(default)]
    pub speaker_id_map: HashMap<String, i64>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct AudioConfig {
    pub sample_rate: u32,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct EspeakConfig {
    pub voice: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct InferenceConfig {
    pub noise_scale: f32,
    pub length_scale: f32,
    pub noise_w: f32,
}

/// Longest id sequence sent in one call; VITS handles long inputs but memory grows with them.
const MAX_IDS: usize = 1000;

pub struct Piper {
    session: Session,
    config: VoiceConfig,
    map: HashMap<char, Vec<i64>>,
    espeak: Espeak,
    speaker: Option<i64>,
    speed: f32,
}

impl Piper {
    pub fn from_settings(paths: &Paths, s: &TtsSettings) -> Result<Piper, TtsError> {
        let model = paths.model(&s.piper_model);
        let config = read_config(&model)?;
        let lang = if !s.language.trim().is_empty() {
            s.language.trim().to_owned()
        } else {
            config.espeak.as_ref().map_or("en-us".to_owned(), |e| e.voice.clone())
        };
        let espeak = Espeak::new(&s.espeak_program, &lang)?;
        // A multi-speaker voice takes a speaker by name (the `voice` setting) or by number.
        let speaker = if config.num_speakers > 1 {
            match config.speaker_id_map.get(s.voice.trim()) {
                Some(&id) => Some(id),
                None if s.voice.trim().is_empty() => Some(s.piper_speaker as i64),
                None => {
                    let mut names: Vec<&String> = config.speaker_id_map.keys().collect();
                    names.sort();
                    return Err(TtsError::UnknownVoice {
                        name: s.voice.clone(),
                        path: model.clone(),
                        available: names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "),
                    });
                }
            }
        } else {
            None
        };
        Piper::new(&paths.models_dir, &model, config, espeak, speaker, s.speed)
    }

    pub fn new(
        models_dir: &Path,
        model: &Path,
        config: VoiceConfig,
        espeak: Espeak,
        speaker: Option<i64>,
        speed: f32,
    ) -> Result<Piper, TtsError> {
        let mut map = HashMap::new();
        for (k, v) in &config.phoneme_id_map {
            let mut chars = k.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                map.insert(c, v.clone());
            }
        }
        for needed in ['^', '_', '$'] {
            if !map.contains_key(&needed) {
                return Err(TtsError::BadModelFile {
                    path: config_path(model),
                    reason: format!("phoneme_id_map has no \"{needed}\""),
                });
            }
        }
        let session = open_session(models_dir, model, crate::models::onnxruntime::available_cores())?;
        Ok(Piper { session, config, map, espeak, speaker, speed: speed.clamp(0.5, 2.0) })
    }

    fn ids(&self, p: &Phonemized) -> Vec<i64> {
        let mut s = String::new();
        for (ci, c) in p.clauses.iter().enumerate() {
            for (wi, w) in c.words.iter().enumerate() {
                if wi > 0 {
                    s.push(' ');
                }
                s.push_str(&w.ipa);
            }
            if let Some(e) = c.end {
                s.push(e);
            }
            if ci + 1 < p.clauses.len() {
                s.push(' ');
            }
        }
        let pad = &self.map[&'_'];
        let mut ids = self.map[&'^'].clone();
        ids.extend(pad);
        for c in s.chars() {
            if let Some(v) = self.map.get(&c) {
                ids.extend(v);
                ids.extend(pad);
            }
        }
        ids.extend(&self.map[&'$']);
        ids
    }

    fn run(&mut self, ids: Vec<i64>) -> Result<Vec<f32>, TtsError> {
        let inf = |e: ort::Error| TtsError::Inference(e.to_string());
        let inference = self.config.inference.clone().unwrap_or(InferenceConfig {
            noise_scale: 0.667,
            length_scale: 1.0,
            noise_w: 0.8,
        });
        let n = ids.len();
        let mut inputs = ort::inputs! {
            "input" => Tensor::from_array(([1usize, n], ids)).map_err(inf)?,
            "input_lengths" => Tensor::from_array(([1usize], vec![n as i64])).map_err(inf)?,
            "scales" => Tensor::from_array(([3usize], vec![inference.noise_scale, inference.length_scale / self.speed, inference.noise_w])).map_err(inf)?,
        };
        if let Some(sid) = self.speaker {
            inputs.push(("sid".into(), Tensor::from_array(([1usize], vec![sid])).map_err(inf)?.into()));
        }
        let out = self.session.run(inputs).map_err(inf)?;
        let (_, audio) = out[0].try_extract_tensor::<f32>().map_err(inf)?;
        Ok(audio.to_vec())
    }
}

fn config_path(model: &Path) -> PathBuf {
    let mut p = model.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

/// Reads `<model>.json`, the voice's phoneme map and settings.
pub fn read_config(model: &Path) -> Result<VoiceConfig, TtsError> {
    let path = config_path(model);
    let bad = |reason: String| TtsError::BadModelFile { path: path.clone(), reason };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        bad(format!(
            "cannot be read ({e}); a Piper voice needs its .onnx.json beside the .onnx (`persona models fetch`)"
        ))
    })?;
    let c: VoiceConfig = serde_json::from_str(&text).map_err(|e| bad(format!("not a Piper voice config: {e}")))?;
    if c.audio.sample_rate == 0 {
        return Err(bad("audio.sample_rate is 0".into()));
    }
    Ok(c)
}

impl Synthesizer for Piper {
    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let clauses = text::clauses(text)?;
        let phonemized = self.espeak.phonemize(&clauses)?;
        let parts = split_to_fit(&phonemized, |p| self.ids(p).len(), MAX_IDS);
        let rate = self.config.audio.sample_rate;
        join_parts(parts, rate, |p| {
            let ids = self.ids(p);
            self.run(ids)
        })
    }

    fn sample_rate(&self) -> u32 {
        self.config.audio.sample_rate
    }
}
