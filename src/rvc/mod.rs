//! Voice conversion (RVC) between TTS and playback, so the character can speak in any voice.
//!
//! The chain, for each piece of audio: resample to 16 kHz → content features (ContentVec/HuBERT, 768-dim, one
//! frame per 20 ms) → pitch (RMVPE or CREPE, one frame per 10 ms; quiet frames unvoiced, 3-frame median) → pitch
//! shift in semitones → coarse (1..255) and fine (Hz) pitch → voice generator (content repeated ×2 in time,
//! speaker id, noise) → audio at the voice's rate → resampled back to the caller's rate. No retrieval index.
//!
//! Streaming ([`VoiceFilter`]): each piece is converted together with [`CONTEXT_MS`] of the audio before it (the
//! models need context) and joined to the previous piece by SOLA ([`sola`]): the output runs a fixed
//! crossfade-plus-search time behind the input ([`VoiceFilter::latency`]), which [`VoiceFilter::flush`] releases
//! at the end. Every piece is converted as soon as it arrives, whatever its length.

pub mod bench;
#[doc(hidden)]
pub mod graphs;
pub mod models;
pub mod pitch;
pub mod sola;
pub mod voices;

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorElementType;

use crate::audio::resample;
use crate::config::{Paths, PitchMethod, RvcSettings};
use crate::models::onnxruntime::OrtError;
use models::{ContentEncoder, FEATURE_DIM, Generator};
use pitch::{Crepe, Rmvpe, Tracker};

/// Audio before each piece that is converted with it, so the models see context.
pub const CONTEXT_MS: u32 = 1000;
/// Pitch and voice are generated for this much audio before the part a piece needs, so the generator's own
/// context (its convolutions reach a few frames) is real audio.
pub const GENERATOR_CONTEXT_MS: u32 = 200;
/// How far SOLA may slide a piece to line it up with the previous one.
pub const SEARCH_MS: u32 = 10;

/// What can go wrong in voice conversion.
#[derive(Debug, thiserror::Error)]
pub enum RvcError {
    #[error(transparent)]
    Model(#[from] OrtError),
    #[error(
        "{path} is not {what}: expected inputs {expected}; found {found}. Check which model the [rvc] settings (or --voice) name"
    )]
    WrongInputs { path: PathBuf, what: String, expected: String, found: String },
    #[error("the {model} failed: {reason}")]
    Inference { model: String, reason: String },
    #[error("the sample rate of voice {model} is unknown: {why}")]
    VoiceRate { model: PathBuf, why: String },
    #[error("the voices folder {folder} could not be read: {reason}")]
    VoicesFolder { folder: PathBuf, reason: String },
    #[error("no RVC voice model is set: set [rvc] voice_model in the settings (or pass --voice MODEL.onnx)")]
    NoVoice,
    #[error("audio at {0} Hz cannot be converted: the sample rate must be between 8000 and 192000 Hz")]
    BadRate(u32),
}

fn infer_error(model: &str, e: ort::Error) -> RvcError {
    RvcError::Inference { model: model.into(), reason: e.to_string() }
}

/// Checks a model's inputs (count, element type, rank) against what we will feed it, so a wrong model fails at
/// load with both lists rather than at the first piece with a shape error.
fn check_inputs(
    session: &Session,
    path: &Path,
    what: &str,
    expected: &[(&str, TensorElementType, usize)],
) -> Result<(), RvcError> {
    let found: Vec<(String, Option<TensorElementType>, Option<usize>)> = session
        .inputs()
        .iter()
        .map(|i| (i.name().to_owned(), i.dtype().tensor_type(), i.dtype().tensor_shape().map(|s| s.len())))
        .collect();
    let matches =
        found.len() == expected.len() && found.iter().zip(expected).all(|(f, e)| f.1 == Some(e.1) && f.2 == Some(e.2));
    if matches {
        return Ok(());
    }
    let expected_s = expected.iter().map(|(n, t, r)| format!("{n} ({t}, rank {r})")).collect::<Vec<_>>().join(", ");
    let found_s = session.inputs().iter().map(|i| format!("{} {}", i.name(), i.dtype())).collect::<Vec<_>>().join(", ");
    Err(RvcError::WrongInputs {
        path: path.to_owned(),
        what: what.into(),
        expected: format!("[{expected_s}]"),
        found: format!("[{found_s}]"),
    })
}

/// A stage between TTS and playback that changes the voice of streamed audio.
///
/// `process` returns exactly as many samples as it is given, at the same rate, running [`latency`](Self::latency)
/// samples behind its input; `flush` returns those last samples at the end of an utterance and readies the filter
/// for the next. State carries across calls so joins between pieces are inaudible. A change of sample rate starts
/// a new stream. `process` runs neural networks and allocates: call it from a worker thread, never from an audio
/// callback.
pub trait VoiceFilter: Send {
    fn process(&mut self, samples: &[f32], sample_rate: u32) -> Result<Vec<f32>, RvcError>;
    /// The held-back end of the stream (`latency(rate)` samples); the next `process` starts a new stream.
    fn flush(&mut self) -> Vec<f32>;
    /// How many samples the output runs behind the input at `sample_rate`.
    fn latency(&self, sample_rate: u32) -> usize;
}

/// Per-stream state, for one input sample rate.
struct Stream {
    rate: u32,
    /// The last `context + crossfade + search` input samples (zeros before the stream started).
    history: Vec<f32>,
    /// Converted audio just after what was last returned, to crossfade into the next piece.
    tail: Vec<f32>,
    search: usize,
    fade_in: Vec<f32>,
    fade_out: Vec<f32>,
}

impl Stream {
    /// Crossfade and search lengths in samples.
    fn sizes(rate: u32, crossfade_ms: u32) -> (usize, usize) {
        let ms = |m: u32| ((rate as u64 * m as u64 / 1000) as usize).max(1);
        (ms(crossfade_ms), ms(SEARCH_MS))
    }

    fn new(rate: u32, crossfade_ms: u32) -> Stream {
        let (crossfade, search) = Stream::sizes(rate, crossfade_ms);
        let context = (rate as u64 * CONTEXT_MS as u64 / 1000) as usize;
        let (fade_in, fade_out) = sola::fades(crossfade);
        Stream {
            rate,
            history: vec![0.0; context + crossfade + search],
            tail: vec![0.0; crossfade],
            search,
            fade_in,
            fade_out,
        }
    }

    fn latency(&self) -> usize {
        self.tail.len() + self.search
    }
}

/// The RVC chain with its models loaded.
pub struct Rvc {
    content: ContentEncoder,
    tracker: Tracker,
    generator: Generator,
    /// Semitones.
    pub pitch_shift: f32,
    pub speaker_id: i64,
    crossfade_ms: u32,
    stream: Option<Stream>,
    rng: u64,
}

impl Rvc {
    /// Loads the models the settings name (resolved against the models folder), checking each one's interface.
    pub fn new(settings: &RvcSettings, paths: &Paths) -> Result<Rvc, RvcError> {
        if settings.voice_model.trim().is_empty() {
            return Err(RvcError::NoVoice);
        }
        let threads = crate::models::onnxruntime::available_cores().min(4);
        let dir = &paths.models_dir;
        let tracker = match settings.pitch_method {
            PitchMethod::Rmvpe => Tracker::Rmvpe(Rmvpe::open(dir, &paths.model(&settings.rmvpe_model), threads)?),
            PitchMethod::Crepe => Tracker::Crepe(Crepe::open(dir, &paths.model(&settings.crepe_model), threads)?),
        };
        Ok(Rvc {
            content: ContentEncoder::open(dir, &paths.model(&settings.content_encoder), threads)?,
            tracker,
            generator: Generator::open(dir, &paths.model(&settings.voice_model), threads)?,
            pitch_shift: settings.pitch_shift,
            speaker_id: settings.speaker_id as i64,
            crossfade_ms: settings.crossfade_ms,
            stream: None,
            rng: 0x9e37_79b9_7f4a_7c15,
        })
    }

    /// The rate the voice generator speaks at.
    pub fn voice_rate(&self) -> u32 {
        self.generator.sample_rate
    }

    /// Converts a whole buffer at once (no streaming): the result has the input's length and rate.
    pub fn convert(&mut self, x: &[f32], rate: u32) -> Result<Vec<f32>, RvcError> {
        check_rate(rate)?;
        let mut y = self.infer(x, rate, x.len())?;
        // `infer` lines its output up with the end of the input; pad the front when the 320-sample grid cut it.
        if y.len() < x.len() {
            let mut padded = vec![0.0; x.len() - y.len()];
            padded.extend_from_slice(&y);
            y = padded;
        }
        y.drain(..y.len() - x.len());
        Ok(y)
    }

    /// Runs the chain over `window` (at `rate`); the result's end lines up with the window's end. The content
    /// encoder sees the whole window (its features need context), but pitch and voice are made only for the last
    /// `wanted` samples plus [`GENERATOR_CONTEXT_MS`] before them, so the result covers at least `wanted`
    /// samples (cut to whole 20 ms frames), not always the whole window.
    fn infer(&mut self, window: &[f32], rate: u32, wanted: usize) -> Result<Vec<f32>, RvcError> {
        let x16 = resample(window, rate, 16_000);
        let keep = x16.len() / 320 * 320;
        if keep == 0 {
            return Ok(Vec::new());
        }
        let x16 = &x16[x16.len() - keep..];
        // Reflect-pad 40 ms past the end so the encoder's last frames (its 400-sample field) cover the window.
        let mut padded = x16.to_vec();
        padded.extend((0..640).map(|i| x16[pitch::reflect((keep + i) as isize, keep)]));
        let (frames, feats) = self.content.encode(&padded)?;
        // Where generation starts: on the 20 ms grid, GENERATOR_CONTEXT_MS before the wanted part.
        let wanted16 = (wanted as u64 * 16_000).div_ceil(rate as u64) as usize + GENERATOR_CONTEXT_MS as usize * 16;
        let gen_start = keep.saturating_sub(wanted16.div_ceil(320) * 320);
        // The tracker gets 40 ms more before that, so its first frames used are not at its padded edge.
        let track_start = gen_start.saturating_sub(640);
        let skip = (gen_start - track_start) / pitch::HOP;
        let mut f0 = pitch::median3(&self.tracker.track(&padded[track_start..])?);
        f0.drain(..skip.min(f0.len()));
        pitch::shift(&mut f0, self.pitch_shift);
        let first_frame = gen_start / pitch::HOP;
        let t = (2 * frames).saturating_sub(first_frame).min(f0.len());
        let span16 = keep - gen_start;
        if t == 0 {
            return Ok(vec![0.0; (span16 as u64 * rate as u64 / 16_000) as usize]);
        }
        f0.truncate(t);
        let coarse = pitch::coarse(&f0);
        // Content frames repeated ×2 in time onto the 10 ms pitch grid.
        let mut feats2 = Vec::with_capacity(t * FEATURE_DIM);
        for k in first_frame..first_frame + t {
            let j = k / 2;
            feats2.extend_from_slice(&feats[j * FEATURE_DIM..(j + 1) * FEATURE_DIM]);
        }
        let noise = self.gaussian(192 * t);
        let audio = self.generator.generate(&feats2, &coarse, &f0, self.speaker_id, &noise)?;
        let vr = self.generator.sample_rate;
        let span = (span16 as u64 * vr as u64 / 16_000) as usize;
        let mut audio: Vec<f32> = audio.into_iter().take(span).collect();
        audio.resize(span, 0.0);
        // Silence in, silence out: frames quieter than -60 dBFS are muted, with 10 ms ramps between frames.
        let loud: Vec<f32> = pitch::frame_rms(&x16[gen_start..])
            .iter()
            .map(|&r| if r >= pitch::SILENCE_RMS { 1.0 } else { 0.0 })
            .collect();
        let per_frame = vr as f32 / 100.0;
        for (i, v) in audio.iter_mut().enumerate() {
            let pos = i as f32 / per_frame;
            let k = (pos.floor() as usize).min(loud.len() - 1);
            let next = (k + 1).min(loud.len() - 1);
            let frac = pos - k as f32;
            *v *= loud[k] * (1.0 - frac) + loud[next] * frac;
        }
        Ok(resample(&audio, vr, rate))
    }

    /// Standard normal noise (xorshift + Box-Muller); RVC's generator takes fresh noise for each piece.
    fn gaussian(&mut self, n: usize) -> Vec<f32> {
        let mut next = || {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            ((self.rng >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (u1, u2) = (next(), next());
                ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
            })
            .collect()
    }
}

fn check_rate(rate: u32) -> Result<(), RvcError> {
    if (8000..=192_000).contains(&rate) { Ok(()) } else { Err(RvcError::BadRate(rate)) }
}

impl VoiceFilter for Rvc {
    fn process(&mut self, samples: &[f32], sample_rate: u32) -> Result<Vec<f32>, RvcError> {
        check_rate(sample_rate)?;
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        if self.stream.as_ref().is_none_or(|s| s.rate != sample_rate) {
            self.stream = Some(Stream::new(sample_rate, self.crossfade_ms));
        }
        let mut stream = self.stream.take().unwrap_or_else(|| Stream::new(sample_rate, self.crossfade_ms));
        let n = samples.len();
        let mut window = Vec::with_capacity(stream.history.len() + n);
        window.extend_from_slice(&stream.history);
        window.extend_from_slice(samples);
        let converted = match self.infer(&window, sample_rate, n + stream.tail.len() + stream.search) {
            Ok(c) => c,
            Err(e) => {
                // Keep the stream as it was, so a retry or flush still joins cleanly.
                self.stream = Some(stream);
                return Err(e);
            }
        };
        let (crossfade, search) = (stream.tail.len(), stream.search);
        // The last piece + crossfade + search samples of the conversion, zeros where it did not reach.
        let need = n + crossfade + search;
        let mut piece = vec![0.0; need.saturating_sub(converted.len())];
        piece.extend_from_slice(&converted[converted.len().saturating_sub(need)..]);
        let off = sola::best_offset(&piece[..crossfade + search], &stream.tail, search);
        let piece = &mut piece[off..];
        sola::crossfade(piece, &stream.tail, &stream.fade_in, &stream.fade_out);
        stream.tail.copy_from_slice(&piece[n..n + crossfade]);
        let out = piece[..n].to_vec();
        let keep = stream.history.len();
        stream.history.clear();
        stream.history.extend_from_slice(&window[window.len() - keep..]);
        self.stream = Some(stream);
        Ok(out)
    }

    fn flush(&mut self) -> Vec<f32> {
        let Some(stream) = self.stream.as_ref() else { return Vec::new() };
        let (rate, len) = (stream.rate, stream.latency());
        let tail_faded: Vec<f32> = stream.tail.iter().zip(&stream.fade_out).map(|(a, b)| a * b).collect();
        let out = match self.process(&vec![0.0; len], rate) {
            Ok(out) => out,
            // The models failed: release what is held, faded out, rather than lose it.
            Err(_) => {
                let mut out = tail_faded;
                out.resize(len, 0.0);
                out
            }
        };
        self.stream = None;
        out
    }

    fn latency(&self, sample_rate: u32) -> usize {
        let (crossfade, search) = Stream::sizes(sample_rate, self.crossfade_ms);
        crossfade + search
    }
}
