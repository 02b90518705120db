//! Piper voices (VITS, ONNX): espeak-ng phonemes → ids from the voice's `.onnx.json` → audio.
//!
//! Inputs `input` i64 `[1, n]`, `input_lengths` i64 `[1]`, `scales` f32 `[3]` (noise, length, noise_w), and `sid`
//! i64 `[1]` for multi-speaker voices. Ids: `^`, then each phoneme's ids each followed by the pad `_`, then `$`.
//!
//! Timelines are exact: VITS decides how many frames each id sounds for (`w_ceil`, the rounded-up durations)
//! and lays the audio out by them. Piper's exports do not return them, so the graph gets [`DURATIONS`] as one
//! more output at load (an edit of the model bytes in memory); a voice without that tensor gets an estimated
//! timeline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::espeak::{Espeak, Phonemized};
use super::kokoro::{join_parts, split_to_fit};
use super::timeline::{self, TokenChar};
use super::{Speech, Synthesizer, Timeline, TtsError, text};
use crate::config::{Paths, TtsSettings};
use crate::models::onnxruntime::open_session_with_output;
use crate::models::protobuf::Elem;

/// The tensor of Piper's VITS export that holds each id's duration in frames (f32 `[1, 1, n]`, rounded up).
pub const DURATIONS: &str = "/Ceil_output_0";

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
    /// Index of the session output holding per-id durations, when the voice gives them.
    durations: Option<usize>,
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
        let threads = crate::models::onnxruntime::available_cores();
        let (session, durations) = open_session_with_output(models_dir, model, threads, DURATIONS, Elem::F32)?;
        Ok(Piper { session, durations, config, map, espeak, speaker, speed: speed.clamp(0.5, 2.0) })
    }

    /// Whether timelines come from the voice's own durations (exact) rather than estimates.
    pub fn has_durations(&self) -> bool {
        self.durations.is_some()
    }

    /// The ids of a piece, each with what it stands for: `^`, each character's ids followed by the pad `_`
    /// (a pad inside a word belongs to the word), `$`.
    fn id_chars(&self, p: &Phonemized) -> Vec<(i64, TokenChar)> {
        let none = |c: char| TokenChar { ipa: c, word: None };
        let mut ids: Vec<(i64, TokenChar)> = Vec::new();
        let mut push = |c: char, t: TokenChar| ids.extend(self.map[&c].iter().map(|&id| (id, t)));
        push('^', none('^'));
        push('_', none('_'));
        for t in timeline::token_chars(p) {
            if self.map.contains_key(&t.ipa) {
                push(t.ipa, t);
                push('_', TokenChar { ipa: '_', word: t.word });
            }
        }
        push('$', none('$'));
        ids
    }

    fn ids(&self, p: &Phonemized) -> Vec<i64> {
        self.id_chars(p).into_iter().map(|(id, _)| id).collect()
    }

    /// One part's audio and, when the voice gives durations, its exact timeline.
    fn speak_part(&mut self, p: &Phonemized) -> Result<(Vec<f32>, Option<Timeline>), TtsError> {
        let chars = self.id_chars(p);
        let (ids, tokens): (Vec<i64>, Vec<TokenChar>) = chars.into_iter().unzip();
        let (audio, frames) = self.run(ids)?;
        let rate = self.config.audio.sample_rate;
        let timeline =
            frames.filter(|f| f.len() == tokens.len()).map(|f| timeline::from_durations(p, &tokens, &f, &audio, rate));
        Ok((audio, timeline))
    }

    /// Runs the voice: the audio, and each id's duration in frames when the voice gives them.
    fn run(&mut self, ids: Vec<i64>) -> Result<(Vec<f32>, Option<Vec<f64>>), TtsError> {
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
        let durations = match self.durations {
            Some(i) => Some(out[i].try_extract_tensor::<f32>().map_err(inf)?.1.iter().map(|&f| f as f64).collect()),
            None => None,
        };
        Ok((audio.to_vec(), durations))
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
        join_parts(parts, rate, |p| self.speak_part(p))
    }

    fn sample_rate(&self) -> u32 {
        self.config.audio.sample_rate
    }
}
