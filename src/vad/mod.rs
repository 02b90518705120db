//! Voice activity detection: Silero VAD through ONNX Runtime, and the segmenter that turns its per-chunk speech
//! probabilities into utterances.
//!
//! Silero VAD v5/v6 looks at 512 new samples (32 ms at 16 kHz) per call, preceded by the last 64 samples of the
//! previous call, and carries a recurrent state between calls. Feeding it any other way (no context, reset state)
//! still runs but gives different, worse probabilities, so [`SileroVad`] owns both.

pub mod segmenter;

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use crate::config::{Paths, VadSettings};
use crate::models::onnxruntime::{OrtError, open_session};

pub use segmenter::{Segmenter, SegmenterEvent};

/// The sample rate the VAD (and everything after capture) works at.
pub const SAMPLE_RATE: u32 = 16_000;
/// New samples per VAD call at 16 kHz.
pub const CHUNK: usize = 512;
/// Samples of the previous call repeated at the start of each call.
pub const CONTEXT: usize = 64;
const STATE_LEN: usize = 2 * 128;

#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error(transparent)]
    Ort(#[from] OrtError),
    #[error(
        "{path} is an ONNX model but not Silero VAD v5/v6 (it lacks the inputs input/state/sr); set vad.model to silero_vad.onnx"
    )]
    NotSilero { path: PathBuf },
    #[error("Silero VAD failed on a chunk: {0}")]
    Run(String),
}

/// Silero VAD with its context and recurrent state. One instance per audio stream.
pub struct SileroVad {
    session: Session,
    /// The last `CONTEXT` samples of the previous chunk followed by the current chunk.
    input: Vec<f32>,
    state: Vec<f32>,
}

impl SileroVad {
    /// Opens the model named by `settings.model` (resolved against the models folder) with one thread: a chunk
    /// takes a fraction of a millisecond, and more threads only add synchronisation.
    pub fn new(settings: &VadSettings, paths: &Paths) -> Result<SileroVad, VadError> {
        SileroVad::open(&paths.models_dir, &paths.model(&settings.model))
    }

    /// Opens a Silero VAD model file; `models_dir` is where ONNX Runtime is looked for.
    pub fn open(models_dir: &Path, model: &Path) -> Result<SileroVad, VadError> {
        let session = open_session(models_dir, model, 1)?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        if !["input", "state", "sr"].iter().all(|n| names.contains(n))
            || !session.outputs().iter().any(|o| o.name() == "output")
            || !session.outputs().iter().any(|o| o.name() == "stateN")
        {
            return Err(VadError::NotSilero { path: model.to_owned() });
        }
        Ok(SileroVad { session, input: vec![0.0; CONTEXT + CHUNK], state: vec![0.0; STATE_LEN] })
    }

    /// Forgets the context and state, for a new, unrelated stream.
    pub fn reset(&mut self) {
        self.input.fill(0.0);
        self.state.fill(0.0);
    }

    /// Speech probability of the next `CHUNK` samples of 16 kHz audio (a shorter final chunk is zero-padded).
    pub fn process(&mut self, chunk: &[f32]) -> Result<f32, VadError> {
        let n = chunk.len().min(CHUNK);
        self.input[CONTEXT..CONTEXT + n].copy_from_slice(&chunk[..n]);
        self.input[CONTEXT + n..].fill(0.0);
        let run = |e: ort::Error| VadError::Run(e.to_string());
        let sr = [SAMPLE_RATE as i64];
        let (prob, state) = {
            let input = TensorRef::from_array_view(([1usize, CONTEXT + CHUNK], &self.input[..])).map_err(run)?;
            let state = TensorRef::from_array_view(([2usize, 1, 128], &self.state[..])).map_err(run)?;
            let sr = TensorRef::from_array_view(([0usize; 0], &sr[..])).map_err(run)?;
            let outputs =
                self.session.run(ort::inputs!["input" => input, "state" => state, "sr" => sr]).map_err(run)?;
            let missing = || VadError::Run("the model gave no output/stateN".into());
            let prob = outputs.get("output").ok_or_else(missing)?.try_extract_tensor::<f32>().map_err(run)?.1;
            let state = outputs.get("stateN").ok_or_else(missing)?.try_extract_tensor::<f32>().map_err(run)?.1;
            if prob.is_empty() || state.len() != STATE_LEN {
                return Err(VadError::Run(format!("unexpected output sizes {} and {}", prob.len(), state.len())));
            }
            let mut s = [0.0f32; STATE_LEN];
            s.copy_from_slice(state);
            (prob[0], s)
        };
        self.state.copy_from_slice(&state);
        self.input.copy_within(CHUNK.., 0);
        Ok(prob)
    }

    /// Probabilities of every whole chunk of a 16 kHz buffer (a last partial chunk is left out).
    pub fn probabilities(&mut self, audio_16k: &[f32]) -> Result<Vec<f32>, VadError> {
        audio_16k.chunks_exact(CHUNK).map(|c| self.process(c)).collect()
    }
}
