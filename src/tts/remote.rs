//! Remote speech: an OpenAI-compatible `POST /v1/audio/speech` server (Kokoro-FastAPI, openedai-speech, OpenAI).
//!
//! The server sends audio only, so the timeline is estimated here from the text and the audio's loudness: with
//! espeak-ng phonemes when espeak-ng is installed, else word by word.

use std::time::Duration;

use super::espeak::Espeak;
use super::{Speech, Synthesizer, TtsError, text, timeline};
use crate::config::TtsSettings;

pub struct RemoteTts {
    url: String,
    model: String,
    voice: String,
    api_key: String,
    speed: f32,
    espeak: Option<Espeak>,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    last_rate: u32,
}

impl RemoteTts {
    pub fn from_settings(s: &TtsSettings) -> Result<RemoteTts, TtsError> {
        let espeak = Espeak::new(&s.espeak_program, if s.language.is_empty() { "en-us" } else { &s.language }).ok();
        RemoteTts::new(&s.remote_url, &s.remote_model, &s.voice, &s.remote_api_key, s.speed, espeak)
    }

    /// `base_url` is the server's OpenAI base (`http://host:8880/v1`) or its root (`http://host:8880`).
    pub fn new(
        base_url: &str,
        model: &str,
        voice: &str,
        api_key: &str,
        speed: f32,
        espeak: Option<Espeak>,
    ) -> Result<RemoteTts, TtsError> {
        let base = base_url.trim().trim_end_matches('/');
        let err = |reason: String| TtsError::Remote { url: base.to_owned(), reason };
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(err("set `tts.remote_url` to the server's http:// or https:// address".into()));
        }
        let url =
            if base.ends_with("/v1") { format!("{base}/audio/speech") } else { format!("{base}/v1/audio/speech") };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| err(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(format!("cannot start the HTTP runtime: {e}")))?;
        Ok(RemoteTts {
            url,
            model: model.to_owned(),
            voice: voice.to_owned(),
            api_key: api_key.to_owned(),
            speed,
            espeak,
            client,
            runtime,
            last_rate: 24_000,
        })
    }

    fn fetch(&self, text: &str) -> Result<Vec<u8>, TtsError> {
        let err = |reason: String| TtsError::Remote { url: self.url.clone(), reason };
        let body = serde_json::json!({
            "model": self.model,
            "input": text,
            "voice": if self.voice.is_empty() { "af_heart" } else { &self.voice },
            "response_format": "wav",
            "speed": self.speed,
        });
        let mut req = self.client.post(&self.url).json(&body);
        if !self.api_key.is_empty() {
            req = req.bearer_auth(&self.api_key);
        }
        self.runtime.block_on(async {
            let resp = req.send().await.map_err(|e| err(format!("cannot reach the server: {e}")))?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(|e| err(format!("the response broke off: {e}")))?;
            if !status.is_success() {
                let msg: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
                return Err(err(format!("HTTP {status}: {msg}")));
            }
            Ok(bytes.to_vec())
        })
    }
}

/// Decodes a WAV in memory to mono f32.
fn decode_wav(bytes: &[u8]) -> Result<(Vec<f32>, u32), String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("the server did not send a WAV file ({e}); it must support response_format \"wav\""))?;
    let spec = reader.spec();
    let ch = spec.channels.max(1) as usize;
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader.into_samples::<f32>().collect::<Result<_, _>>(),
        (hound::SampleFormat::Int, b @ 1..=32) => {
            let scale = 1.0 / (1u64 << (b - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect()
        }
        (f, b) => return Err(format!("unsupported WAV sample format {f:?}/{b} bits")),
    }
    .map_err(|e| format!("the WAV data is damaged: {e}"))?;
    // Streaming servers write a placeholder length; hound then reads what is there, which is what we want.
    let mono = samples.chunks(ch).map(|f| f.iter().sum::<f32>() / ch as f32).collect();
    Ok((mono, spec.sample_rate))
}

impl Synthesizer for RemoteTts {
    fn synthesize(&mut self, input: &str) -> Result<Speech, TtsError> {
        let clauses = text::clauses(input)?;
        let bytes = self.fetch(input)?;
        let (samples, rate) =
            decode_wav(&bytes).map_err(|reason| TtsError::Remote { url: self.url.clone(), reason })?;
        if samples.is_empty() || rate == 0 {
            return Err(TtsError::Remote { url: self.url.clone(), reason: "the server sent no audio".into() });
        }
        self.last_rate = rate;
        let timeline = match &self.espeak {
            Some(e) => timeline::estimate(&e.phonemize(&clauses)?, &samples, rate),
            None => {
                let mut words = Vec::new();
                let mut ends = Vec::new();
                for c in &clauses {
                    words.extend(c.words.iter().cloned());
                    ends.push(words.len() - 1);
                }
                timeline::estimate_words(&words, &ends, &samples, rate)
            }
        };
        Ok(Speech { samples, sample_rate: rate, timeline })
    }

    /// The rate of the last piece the server sent (servers choose it; 24 kHz until the first piece).
    fn sample_rate(&self) -> u32 {
        self.last_rate
    }
}
