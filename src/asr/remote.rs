//! Speech recognition on a server: any OpenAI-compatible `POST {remote_url}/audio/transcriptions` (OpenAI, Groq,
//! faster-whisper-server / speaches, LocalAI, whisper.cpp's server with its OpenAI route, ...), sent as a
//! multipart form with a 16-bit WAV file.

use std::io::Cursor;
use std::time::Duration;

use serde::Deserialize;

use super::{AsrError, SAMPLE_RATE, Segment, Transcriber, Transcript, Word};
use crate::config::AsrSettings;

/// A client for one server. Each call runs on its own short-lived thread with a small runtime, so the
/// transcriber works the same from plain threads and from inside an async runtime.
pub struct RemoteTranscriber {
    url: String,
    model: String,
    api_key: String,
    language: String,
    prompt: String,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Answer {
    text: String,
    #[serde(default)]
    segments: Vec<AnswerSegment>,
    #[serde(default)]
    words: Vec<AnswerWord>,
}

#[derive(Deserialize)]
struct AnswerSegment {
    start: f32,
    end: f32,
    text: String,
}

#[derive(Deserialize)]
struct AnswerWord {
    word: String,
    start: f32,
    end: f32,
    #[serde(default)]
    probability: Option<f32>,
}

impl RemoteTranscriber {
    pub fn new(settings: &AsrSettings) -> Result<RemoteTranscriber, AsrError> {
        let base = settings.remote_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return Err(AsrError::RemoteUrlMissing);
        }
        let language = settings.language.trim().to_lowercase();
        Ok(RemoteTranscriber {
            url: format!("{base}/audio/transcriptions"),
            model: settings.remote_model.clone(),
            api_key: settings.remote_api_key.clone(),
            language: if language == "auto" { String::new() } else { language },
            prompt: settings.initial_prompt.clone(),
            timeout: Duration::from_secs(60),
        })
    }

    /// The full URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn request(&self, wav: Vec<u8>) -> Result<Transcript, AsrError> {
        let unreachable =
            |e: reqwest::Error| AsrError::RemoteUnreachable { url: self.url.clone(), reason: e.to_string() };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(self.timeout)
            .build()
            .map_err(unreachable)?;
        let part =
            reqwest::multipart::Part::bytes(wav).file_name("audio.wav").mime_str("audio/wav").map_err(unreachable)?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("model", self.model.clone())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "segment")
            .text("timestamp_granularities[]", "word");
        if !self.language.is_empty() {
            form = form.text("language", self.language.clone());
        }
        if !self.prompt.trim().is_empty() {
            form = form.text("prompt", self.prompt.clone());
        }
        let mut req = client.post(&self.url).multipart(form);
        if !self.api_key.is_empty() {
            req = req.bearer_auth(&self.api_key);
        }
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let body = resp.text().await.map_err(unreachable)?;
        if !status.is_success() {
            let body: String = body.chars().take(300).collect();
            return Err(AsrError::RemoteStatus { url: self.url.clone(), status: status.as_u16(), body });
        }
        let answer: Answer = serde_json::from_str(&body)
            .map_err(|e| AsrError::RemoteAnswer { url: self.url.clone(), reason: e.to_string() })?;
        let segments = answer.segments.into_iter().map(|s| Segment { start_s: s.start, end_s: s.end, text: s.text });
        let words = answer.words.into_iter().map(|w| Word {
            text: w.word.trim().to_owned(),
            start_s: w.start,
            end_s: w.end,
            probability: w.probability.unwrap_or(1.0),
        });
        let mut t = Transcript::from_segments(segments.collect(), words.collect());
        // Servers that give no segments still give the text.
        if t.segments.is_empty() || t.text.is_empty() {
            t.text = answer.text.trim().to_owned();
        }
        Ok(t)
    }
}

/// 16 kHz mono 16-bit WAV bytes.
pub fn wav_bytes(audio_16k: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + audio_16k.len() * 2));
    {
        // Writing into memory cannot fail except on a size overflow (over 2 GiB), which 16 kHz speech never reaches.
        let Ok(mut w) = hound::WavWriter::new(&mut cursor, spec) else { return Vec::new() };
        for &s in audio_16k {
            if w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).is_err() {
                break;
            }
        }
        let _ = w.finalize();
    }
    cursor.into_inner()
}

impl Transcriber for RemoteTranscriber {
    fn transcribe(&mut self, audio_16k: &[f32]) -> Result<Transcript, AsrError> {
        if audio_16k.is_empty() {
            return Ok(Transcript::default());
        }
        let wav = wav_bytes(audio_16k);
        let this = &*self;
        std::thread::scope(|s| {
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
                    AsrError::RemoteUnreachable { url: this.url.clone(), reason: format!("no async runtime: {e}") }
                })?;
                rt.block_on(this.request(wav))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(AsrError::RemoteAnswer { url: this.url.clone(), reason: "the request panicked".into() })
            })
        })
    }
}
