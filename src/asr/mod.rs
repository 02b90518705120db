//! Speech to text: whisper.cpp locally ([`Whisper`]), or any OpenAI-compatible `/audio/transcriptions` server
//! ([`RemoteTranscriber`]), both behind [`Transcriber`]; and the [`Listener`] that chains capture → VAD →
//! segmenter → partial and final transcripts.

pub mod filter;
pub mod listener;
pub mod long;
pub mod remote;
pub mod wer;
pub mod whisper;

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{AsrEngine, AsrSettings, Paths};

pub use listener::{ListenEvent, ListenEventKind, Listener, ListenerOptions};
pub use remote::RemoteTranscriber;
pub use whisper::Whisper;

/// The sample rate every transcriber takes.
pub const SAMPLE_RATE: u32 = 16_000;

/// What was said. Times are seconds from the start of the audio given to [`Transcriber::transcribe`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Transcript {
    /// The whole text, segments joined, trimmed.
    pub text: String,
    pub segments: Vec<Segment>,
    /// Words with their own times (empty when the engine gives none).
    pub words: Vec<Word>,
}

impl Transcript {
    /// Builds the text from the segments.
    pub fn from_segments(segments: Vec<Segment>, words: Vec<Word>) -> Transcript {
        let text = segments.iter().map(|s| s.text.trim()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ");
        Transcript { text, segments, words }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub start_s: f32,
    pub end_s: f32,
    pub text: String,
}

/// One word: its text (punctuation attached, no leading space), when it was spoken, and how sure the model was
/// (the lowest token probability in the word).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Word {
    pub text: String,
    pub start_s: f32,
    pub end_s: f32,
    pub probability: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error(
        "Whisper model {path} does not exist. Run `persona models fetch`, or set asr.model to a ggml Whisper model (e.g. ggml-tiny.en.bin)"
    )]
    ModelMissing { path: PathBuf },
    #[error(
        "{path} is not a usable Whisper ggml model ({reason}). Download a ggml model (ggml-tiny.en.bin, ggml-base.bin, ...) and set asr.model to it"
    )]
    ModelInvalid { path: PathBuf, reason: String },
    #[error("asr.language \"{0}\" is not a language Whisper knows; use a code such as en, de, ja, or \"auto\"")]
    Language(String),
    #[error("Whisper failed: {0}")]
    Whisper(String),
    #[error("asr.remote_url is empty; set it to an OpenAI-compatible base URL such as http://127.0.0.1:8000/v1")]
    RemoteUrlMissing,
    #[error(
        "the transcription server at {url} could not be reached: {reason}. Check asr.remote_url and that the server runs"
    )]
    RemoteUnreachable { url: String, reason: String },
    #[error("the transcription server at {url} answered {status}: {body}")]
    RemoteStatus { url: String, status: u16, body: String },
    #[error("the transcription server at {url} gave an answer that is not a transcription: {reason}")]
    RemoteAnswer { url: String, reason: String },
}

/// Speech to text. `Send` so it can live on a worker thread; `&mut self` because engines keep state (buffers,
/// decoder state) between calls.
pub trait Transcriber: Send {
    /// Transcribes 16 kHz mono audio. Silence or noise gives an empty text, not an error.
    fn transcribe(&mut self, audio_16k: &[f32]) -> Result<Transcript, AsrError>;
}

impl Transcriber for Box<dyn Transcriber> {
    fn transcribe(&mut self, audio_16k: &[f32]) -> Result<Transcript, AsrError> {
        (**self).transcribe(audio_16k)
    }
}

/// The transcriber the settings ask for.
pub fn from_settings(settings: &AsrSettings, paths: &Paths) -> Result<Box<dyn Transcriber>, AsrError> {
    Ok(match settings.engine {
        AsrEngine::Whisper => Box::new(Whisper::new(settings, paths)?),
        AsrEngine::Remote => Box::new(RemoteTranscriber::new(settings)?),
    })
}
