//! Kokoro-82M (ONNX, 24 kHz): espeak-ng phonemes → token ids → audio, with a voice style vector.
//!
//! Interface (see the models README): `tokens` i64 `[1, n]` with a 0 pad at both ends (n ≤ 512), `style` f32
//! `[1, 256]` = row `min(phoneme tokens, 509)` of the voice file (raw f32 `[510, 1, 256]`), `speed` f32 `[1]`;
//! output `audio` f32.
//!
//! Timelines are exact: the model computes how many frames each token sounds for (the duration predictor's
//! rounded output) and lays the audio out by it. The published exports do not return that tensor, so at load the
//! graph gets one more output naming it ([`DURATIONS`], an edit of the model bytes in memory); a model exported
//! with its own `duration(s)` output is read directly. A model with neither gets an estimated timeline
//! (`timeline.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;

use super::espeak::{Espeak, Phonemized, PhonemizedClause};
use super::timeline::TokenChar;
use super::{Speech, Synthesizer, Timeline, TtsError, text, timeline};
use crate::config::{Paths, TtsSettings};
use crate::models::onnxruntime::open_session_with_output;
use crate::models::protobuf::Elem;

/// The tensor of Kokoro v1.0's ONNX export that holds each token's duration in frames (int64, pads included):
/// the duration predictor's output after rounding and clamping, just before the alignment is built from it.
pub const DURATIONS: &str = "/encoder/Cast_output_0";

pub const SAMPLE_RATE: u32 = 24_000;
/// Phoneme tokens one call can take (the model's context is 512 with the two pads).
pub const MAX_TOKENS: usize = 510;
const STYLE_ROWS: usize = 510;
const STYLE_DIM: usize = 256;

/// A voice: one style vector per phoneme-count row.
#[derive(Clone)]
pub struct Voice {
    rows: Vec<f32>,
}

impl Voice {
    /// Loads a voice by name, or a blend "af_heart:0.7,af_bella:0.3" (weights are normalised to sum to 1).
    pub fn load(voices_dir: &Path, spec: &str) -> Result<Voice, TtsError> {
        let mut parts = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once(':') {
                Some((n, w)) => {
                    let w: f32 = w.trim().parse().map_err(|_| TtsError::BadVoiceSpec(spec.to_owned()))?;
                    (n.trim(), w)
                }
                None => (part, 1.0),
            };
            if name.is_empty() || !(w_ok(weight)) || name.contains(['/', '\\']) {
                return Err(TtsError::BadVoiceSpec(spec.to_owned()));
            }
            parts.push((name, weight));
        }
        let total: f32 = parts.iter().map(|p| p.1).sum();
        if parts.is_empty() || total <= 0.0 {
            return Err(TtsError::BadVoiceSpec(spec.to_owned()));
        }
        let mut rows = vec![0.0f32; STYLE_ROWS * STYLE_DIM];
        for (name, weight) in parts {
            let one = read_voice_file(voices_dir, name)?;
            for (r, v) in rows.iter_mut().zip(one) {
                *r += v * weight / total;
            }
        }
        Ok(Voice { rows })
    }

    /// The style vector for a piece of `n` phoneme tokens.
    pub fn style(&self, n: usize) -> &[f32] {
        let row = n.min(STYLE_ROWS - 1);
        &self.rows[row * STYLE_DIM..(row + 1) * STYLE_DIM]
    }
}

fn w_ok(w: f32) -> bool {
    w.is_finite() && w >= 0.0
}

fn read_voice_file(dir: &Path, name: &str) -> Result<Vec<f32>, TtsError> {
    let path = dir.join(format!("{name}.bin"));
    let expected = (STYLE_ROWS * STYLE_DIM * 4) as u64;
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(_) => {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".bin").map(str::to_owned))
                .collect();
            names.sort();
            let available = if names.is_empty() {
                format!("none (the folder {} has no .bin voices; run `persona models fetch`)", dir.display())
            } else {
                names.join(", ")
            };
            return Err(TtsError::UnknownVoice { name: name.to_owned(), path, available });
        }
    };
    if bytes.len() as u64 != expected {
        return Err(TtsError::BadVoiceFile { path, bytes: bytes.len() as u64, expected });
    }
    let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if v.iter().any(|x| !x.is_finite()) {
        return Err(TtsError::BadVoiceFile { path, bytes: expected, expected });
    }
    Ok(v)
}

/// Kokoro's phoneme → token map (`{"vocab": {"a": 43, ...}}`).
pub fn load_vocab(path: &Path) -> Result<HashMap<char, i64>, TtsError> {
    let bad = |reason: String| TtsError::BadModelFile { path: path.to_owned(), reason };
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot be read ({e}); run `persona models fetch` or fix `tts.kokoro_vocab`")))?;
    #[derive(serde::Deserialize)]
    struct File {
        vocab: HashMap<String, i64>,
    }
    let f: File = serde_json::from_str(&text).map_err(|e| bad(format!("not a Kokoro vocab file: {e}")))?;
    let mut out = HashMap::new();
    for (k, v) in f.vocab {
        let mut chars = k.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            out.insert(c, v);
        }
    }
    if out.is_empty() {
        return Err(bad("the vocab is empty".into()));
    }
    Ok(out)
}

/// espeak-ng's IPA as Kokoro was trained on it.
pub fn fix_up(ipa: &str) -> String {
    ipa.chars().map(fix_up_char).collect()
}

fn fix_up_char(c: char) -> char {
    match c {
        'r' => 'ɹ',
        'x' => 'k',
        'ɬ' => 'l',
        'ʲ' => 'j',
        c => c,
    }
}

pub struct Kokoro {
    session: Session,
    /// Index of the session output holding per-token durations, when the model gives them.
    durations: Option<usize>,
    vocab: HashMap<char, i64>,
    voice: Voice,
    espeak: Espeak,
    speed: f32,
}

impl Kokoro {
    /// Loads the model, vocab and voice named in the settings (`voice` empty: `af_heart`).
    pub fn from_settings(paths: &Paths, s: &TtsSettings) -> Result<Kokoro, TtsError> {
        let voice = if s.voice.trim().is_empty() { "af_heart" } else { s.voice.trim() };
        // American voices start with "a", British with "b"; espeak-ng's language follows unless set.
        let lang = if !s.language.trim().is_empty() {
            s.language.trim()
        } else if voice.starts_with('b') {
            "en-gb"
        } else {
            "en-us"
        };
        let espeak = Espeak::new(&s.espeak_program, lang)?;
        Kokoro::new(
            &paths.models_dir,
            &paths.model(&s.kokoro_model),
            &paths.model(&s.kokoro_vocab),
            &paths.model(&s.kokoro_voices),
            voice,
            espeak,
            s.speed,
        )
    }

    pub fn new(
        models_dir: &Path,
        model: &Path,
        vocab: &Path,
        voices_dir: &Path,
        voice: &str,
        espeak: Espeak,
        speed: f32,
    ) -> Result<Kokoro, TtsError> {
        let voice = Voice::load(voices_dir, voice)?;
        let vocab = load_vocab(vocab)?;
        let (session, durations) = open_with_durations(models_dir, model)?;
        Ok(Kokoro { session, durations, vocab, voice, espeak, speed: speed.clamp(0.5, 2.0) })
    }

    /// Whether timelines come from the model's own durations (exact) rather than estimates.
    pub fn has_durations(&self) -> bool {
        self.durations.is_some()
    }

    /// Changes the voice (name or blend) without reloading the model.
    pub fn set_voice(&mut self, voices_dir: &Path, spec: &str) -> Result<(), TtsError> {
        self.voice = Voice::load(voices_dir, spec)?;
        Ok(())
    }

    /// The tokens of a piece, with what each stands for (see [`timeline::token_chars`]); characters the vocab
    /// lacks are left out.
    fn token_chars(&self, p: &Phonemized) -> Vec<(i64, TokenChar)> {
        timeline::token_chars(p).into_iter().filter_map(|t| Some((*self.vocab.get(&fix_up_char(t.ipa))?, t))).collect()
    }

    /// Token ids of a piece (see [`Kokoro::token_chars`]).
    fn tokens(&self, p: &Phonemized) -> Vec<i64> {
        self.token_chars(p).into_iter().map(|(id, _)| id).collect()
    }

    /// Runs the model on one part: its audio, and each token's duration in frames (the two pads included) when
    /// the model gives them.
    fn run(&mut self, tokens: &[i64]) -> Result<(Vec<f32>, Option<Vec<i64>>), TtsError> {
        let inf = |e: ort::Error| TtsError::Inference(e.to_string());
        let mut ids = Vec::with_capacity(tokens.len() + 2);
        ids.push(0);
        ids.extend_from_slice(tokens);
        ids.push(0);
        let n = ids.len();
        let style = self.voice.style(tokens.len()).to_vec();
        let inputs = ort::inputs! {
            "tokens" => Tensor::from_array(([1usize, n], ids)).map_err(inf)?,
            "style" => Tensor::from_array(([1usize, STYLE_DIM], style)).map_err(inf)?,
            "speed" => Tensor::from_array(([1usize], vec![self.speed])).map_err(inf)?,
        };
        let out = self.session.run(inputs).map_err(inf)?;
        let (_, audio) = out[0].try_extract_tensor::<f32>().map_err(inf)?;
        let durations = match self.durations {
            Some(i) => {
                let (_, d) = out[i].try_extract_tensor::<i64>().map_err(inf)?;
                Some(d.to_vec()).filter(|d| d.len() == n)
            }
            None => None,
        };
        Ok((audio.to_vec(), durations))
    }

    /// One part's audio and its timeline: exact from the model's durations when it gives them.
    fn speak_part(&mut self, p: &Phonemized) -> Result<(Vec<f32>, Option<Timeline>), TtsError> {
        let chars = self.token_chars(p);
        if chars.is_empty() {
            return Ok((Vec::new(), None));
        }
        let ids: Vec<i64> = chars.iter().map(|(id, _)| *id).collect();
        let (audio, durations) = self.run(&ids)?;
        let Some(frames) = durations else { return Ok((audio, None)) };
        let pad = TokenChar { ipa: ' ', word: None };
        let tokens: Vec<TokenChar> =
            std::iter::once(pad).chain(chars.into_iter().map(|(_, t)| t)).chain(std::iter::once(pad)).collect();
        let seconds: Vec<f64> = frames.iter().map(|&f| f.max(0) as f64).collect();
        let timeline = timeline::from_durations(p, &tokens, &seconds, &audio, SAMPLE_RATE);
        Ok((audio, Some(timeline)))
    }
}

/// Opens the model so that it also returns each token's duration: [`DURATIONS`] added as an output, or the
/// model's own `duration(s)` output. A model where neither works is opened as it is.
fn open_with_durations(models_dir: &Path, model: &Path) -> Result<(Session, Option<usize>), TtsError> {
    let threads = crate::models::onnxruntime::available_cores();
    let (session, index) = open_session_with_output(models_dir, model, threads, DURATIONS, Elem::I64)?;
    let own = session.outputs().iter().position(|o| matches!(o.name(), "duration" | "durations"));
    Ok((session, index.or(own)))
}

/// Splits a piece into parts of at most `max` tokens, at clause ends where possible, else between words.
pub fn split_to_fit(p: &Phonemized, count: impl Fn(&Phonemized) -> usize, max: usize) -> Vec<Phonemized> {
    if count(p) <= max {
        return vec![p.clone()];
    }
    let mut parts = Vec::new();
    let mut cur = Phonemized::default();
    for clause in &p.clauses {
        let mut with = cur.clone();
        with.clauses.push(clause.clone());
        if count(&with) <= max {
            cur = with;
            continue;
        }
        if !cur.clauses.is_empty() {
            parts.push(std::mem::take(&mut cur));
        }
        let single = Phonemized { clauses: vec![clause.clone()] };
        if count(&single) <= max {
            cur = single;
            continue;
        }
        // One clause too long on its own: cut it between words.
        let mut part = PhonemizedClause { words: Vec::new(), end: None };
        for w in &clause.words {
            let mut with = part.clone();
            with.words.push(w.clone());
            if count(&Phonemized { clauses: vec![with.clone()] }) > max && !part.words.is_empty() {
                parts.push(Phonemized {
                    clauses: vec![std::mem::replace(&mut part, PhonemizedClause { words: vec![w.clone()], end: None })],
                });
            } else {
                part = with;
            }
        }
        part.end = clause.end;
        cur = Phonemized { clauses: vec![part] };
    }
    if !cur.clauses.is_empty() {
        parts.push(cur);
    }
    parts
}

/// Synthesizes each part and joins audio and timelines (the engine's own timeline of a part, or an estimate).
pub(crate) fn join_parts(
    parts: Vec<Phonemized>,
    rate: u32,
    mut synth: impl FnMut(&Phonemized) -> Result<(Vec<f32>, Option<Timeline>), TtsError>,
) -> Result<Speech, TtsError> {
    let mut samples = Vec::new();
    let mut tl = Timeline::default();
    for part in parts {
        let (audio, exact) = synth(&part)?;
        let t = exact.unwrap_or_else(|| timeline::estimate(&part, &audio, rate));
        let dt = samples.len() as f64 / rate as f64;
        let wo = tl.words.len();
        // Word char offsets are already into the whole text.
        let t = t.shifted(dt, wo, 0);
        tl.phonemes.extend(t.phonemes);
        tl.words.extend(t.words);
        samples.extend(audio);
    }
    Ok(Speech { samples, sample_rate: rate, timeline: tl })
}

impl Synthesizer for Kokoro {
    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError> {
        let clauses = text::clauses(text)?;
        let phonemized = self.espeak.phonemize(&clauses)?;
        let parts = split_to_fit(&phonemized, |p| self.tokens(p).len(), MAX_TOKENS);
        join_parts(parts, SAMPLE_RATE, |p| self.speak_part(p))
    }

    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }
}

/// Where the voices of `settings` live (for listing them).
pub fn voices_dir(paths: &Paths, s: &TtsSettings) -> PathBuf {
    paths.model(&s.kokoro_voices)
}
