//! Text to speech: text in, PCM and a timeline of which phoneme and word sounds when out.
//!
//! Every engine sits behind [`Synthesizer`]. Phonemes come from espeak-ng run as a separate program (it is
//! GPL-3.0, so it is never linked); each synthesized piece carries a [`Timeline`] so lip sync, subtitles and
//! emotion tags follow the audio. Engines that give no durations get a timeline estimated from typical phoneme
//! lengths, refined by the audio itself (see `timeline.rs`).

pub mod bench;
pub mod espeak;
pub mod kokoro;
pub mod piper;
pub mod remote;
pub mod text;
pub mod timeline;

use std::path::PathBuf;

use serde::Serialize;

pub use espeak::{Espeak, Phonemized, PhonemizedWord};
pub use kokoro::Kokoro;
pub use piper::Piper;
pub use remote::RemoteTts;

use crate::config::{Paths, TtsEngine, TtsSettings};

/// Longest text accepted for one piece. The pipeline speaks sentence by sentence; a piece this long is almost
/// certainly a mistake (a whole document pasted), and would take minutes to synthesize.
pub const MAX_CHARS: usize = 2000;

/// One synthesized piece: mono samples and the timeline that says what sounds when.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub timeline: Timeline,
}

impl Speech {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / self.sample_rate as f64
    }
}

/// A phoneme (IPA, as espeak-ng writes it; "" is a pause) and when it sounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedPhoneme {
    pub phoneme: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Index into `Timeline::words`; `None` for pauses and punctuation.
    pub word_index: Option<usize>,
}

/// A word of the input text and when it sounds; `char_start..char_end` are char (not byte) offsets into the text
/// given to `synthesize`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedWord {
    pub text: String,
    pub start_s: f64,
    pub end_s: f64,
    pub char_start: usize,
    pub char_end: usize,
}

/// What sounds when, in seconds from the start of the piece. Phonemes are in order and do not overlap.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Timeline {
    pub phonemes: Vec<TimedPhoneme>,
    pub words: Vec<TimedWord>,
}

impl Timeline {
    /// The time at which the text at char offset `offset` is heard: the start of the word at or after it (an
    /// emotion tag sits between words), or the end of the last word when it is past them all.
    pub fn time_of_char(&self, offset: usize) -> f64 {
        match self.words.iter().find(|w| w.char_end > offset) {
            Some(w) => w.start_s,
            None => self.words.last().map_or(0.0, |w| w.end_s),
        }
    }

    /// The phoneme sounding at `t`, if any.
    pub fn phoneme_at(&self, t: f64) -> Option<&TimedPhoneme> {
        let i = self.phonemes.partition_point(|p| p.end_s <= t);
        self.phonemes.get(i).filter(|p| p.start_s <= t)
    }

    /// The index of the word sounding at `t` (for subtitles that highlight it).
    pub fn word_at(&self, t: f64) -> Option<usize> {
        self.words.iter().position(|w| w.start_s <= t && t < w.end_s)
    }

    /// Shifts every time by `dt` (used when pieces are joined).
    pub fn shifted(mut self, dt: f64, word_offset: usize, char_offset: usize) -> Timeline {
        for p in &mut self.phonemes {
            p.start_s += dt;
            p.end_s += dt;
            p.word_index = p.word_index.map(|i| i + word_offset);
        }
        for w in &mut self.words {
            w.start_s += dt;
            w.end_s += dt;
            w.char_start += char_offset;
            w.char_end += char_offset;
        }
        self
    }
}

/// Turns text into speech. Implementations keep their models loaded between calls.
pub trait Synthesizer: Send {
    fn synthesize(&mut self, text: &str) -> Result<Speech, TtsError>;
    /// The rate of the samples this engine produces.
    fn sample_rate(&self) -> u32;
}

/// Why text could not be spoken.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("there is no text to speak")]
    EmptyText,
    #[error("the text has nothing speakable in it (only emoji, symbols or punctuation): {0:?}")]
    NothingToSay(String),
    #[error("the text is {chars} characters long; one piece can be at most {MAX_CHARS}. Split it into sentences")]
    TooLong { chars: usize },
    #[error(
        "espeak-ng (`{program}`) could not be run: {reason}. Install it (Debian/Ubuntu: `apt-get install espeak-ng`, macOS: `brew install espeak-ng`, Windows: the installer from github.com/espeak-ng/espeak-ng/releases) or set `tts.espeak_program` to its path"
    )]
    EspeakMissing { program: String, reason: String },
    #[error("espeak-ng failed: {0}")]
    Espeak(String),
    #[error("unknown voice \"{name}\": no file {path}. Voices there: {available}")]
    UnknownVoice { name: String, path: PathBuf, available: String },
    #[error("bad voice \"{0}\": write a name (af_heart) or a blend of names with weights (af_heart:0.7,af_bella:0.3)")]
    BadVoiceSpec(String),
    #[error(
        "voice file {path} is {bytes} bytes; a Kokoro voice is 510×256 f32 values ({expected} bytes). Re-download it"
    )]
    BadVoiceFile { path: PathBuf, bytes: u64, expected: u64 },
    #[error("{path}: {reason}")]
    BadModelFile { path: PathBuf, reason: String },
    #[error(transparent)]
    Model(#[from] crate::models::onnxruntime::OrtError),
    #[error("the TTS model failed while synthesizing: {0}")]
    Inference(String),
    #[error("remote TTS at {url}: {reason}")]
    Remote { url: String, reason: String },
}

/// The engine chosen in the settings, with `voice` overriding the settings' voice when not empty.
pub fn from_settings(paths: &Paths, settings: &TtsSettings) -> Result<Box<dyn Synthesizer>, TtsError> {
    Ok(match settings.engine {
        TtsEngine::Kokoro => Box::new(Kokoro::from_settings(paths, settings)?),
        TtsEngine::Piper => Box::new(Piper::from_settings(paths, settings)?),
        TtsEngine::Remote => Box::new(RemoteTts::from_settings(settings)?),
    })
}
