//! The content encoder and the voice generator: checked at load against RVC's ONNX interfaces, then run.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::{TensorElementType as E, TensorRef};

use super::{RvcError, check_inputs, infer_error};
use crate::models::onnxruntime::open_session;

/// Width of the content features (ContentVec / HuBERT layer 12, as RVC v2 voices take them).
pub const FEATURE_DIM: usize = 768;

/// Content features (ContentVec/HuBERT, 768-dim): f32 `[1, 1, samples]` at 16 kHz → `[1, frames, 768]`, one frame
/// per 320 samples.
pub struct ContentEncoder {
    session: Session,
    path: PathBuf,
}

impl ContentEncoder {
    pub fn open(models_dir: &Path, model: &Path, threads: usize) -> Result<ContentEncoder, RvcError> {
        let session = open_session(models_dir, model, threads)?;
        check_inputs(&session, model, "a content encoder (ContentVec/HuBERT)", &[("source", E::Float32, 3)])?;
        Ok(ContentEncoder { session, path: model.to_owned() })
    }

    /// The features of 16 kHz audio: `(frames, frames * 768 values)`.
    pub fn encode(&mut self, x16: &[f32]) -> Result<(usize, Vec<f32>), RvcError> {
        let input =
            TensorRef::from_array_view(([1usize, 1, x16.len()], x16)).map_err(|e| infer_error("content encoder", e))?;
        let outputs = self.session.run(ort::inputs![input]).map_err(|e| infer_error("content encoder", e))?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| infer_error("content encoder", e))?;
        if shape.len() != 3 || shape[2] as usize != FEATURE_DIM {
            return Err(RvcError::Inference {
                model: format!("content encoder {}", self.path.display()),
                reason: format!(
                    "it gives features shaped {shape:?}, but RVC v2 voices need [1, frames, {FEATURE_DIM}] (a v1 encoder gives 256)"
                ),
            });
        }
        Ok((shape[1] as usize, data.to_vec()))
    }
}

/// An RVC voice generator (`<voice>.onnx` as the RVC WebUI exports it), with its output sample rate.
pub struct Generator {
    session: Session,
    pub sample_rate: u32,
}

/// What the generator takes, in order.
const GENERATOR_INPUTS: &[(&str, E, usize)] = &[
    ("feats [1, T, 768]", E::Float32, 3),
    ("p_len [1]", E::Int64, 1),
    ("pitch [1, T]", E::Int64, 2),
    ("pitchf [1, T]", E::Float32, 2),
    ("sid [1]", E::Int64, 1),
    ("rnd [1, 192, T]", E::Float32, 3),
];

impl Generator {
    pub fn open(models_dir: &Path, model: &Path, threads: usize) -> Result<Generator, RvcError> {
        let session = open_session(models_dir, model, threads)?;
        check_inputs(&session, model, "an RVC voice generator (with pitch)", GENERATOR_INPUTS)?;
        let sample_rate = super::voices::sample_rate(model, Some(&session))?;
        Ok(Generator { session, sample_rate })
    }

    /// Audio at `sample_rate` for `frames` frames (10 ms each): `feats` is `frames * 768` values, `pitch` the
    /// coarse pitch, `pitchf` the pitch in Hz, `noise` `192 * frames` standard normal values.
    pub fn generate(
        &mut self,
        feats: &[f32],
        pitch: &[i64],
        pitchf: &[f32],
        speaker: i64,
        noise: &[f32],
    ) -> Result<Vec<f32>, RvcError> {
        let t = pitchf.len();
        let err = |e| infer_error("voice generator", e);
        let p_len = [t as i64];
        let sid = [speaker];
        let outputs = self
            .session
            .run(ort::inputs![
                TensorRef::from_array_view(([1usize, t, FEATURE_DIM], feats)).map_err(err)?,
                TensorRef::from_array_view(([1usize], &p_len[..])).map_err(err)?,
                TensorRef::from_array_view(([1usize, t], pitch)).map_err(err)?,
                TensorRef::from_array_view(([1usize, t], pitchf)).map_err(err)?,
                TensorRef::from_array_view(([1usize], &sid[..])).map_err(err)?,
                TensorRef::from_array_view(([1usize, 192, t], noise)).map_err(err)?,
            ])
            .map_err(err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        Ok(audio.to_vec())
    }
}
