//! Pitch: tracking (RMVPE or CREPE, both at 16 kHz with one frame per 10 ms), clean-up, shift, and the coarse
//! and fine pitch a voice generator takes.
//!
//! Both trackers give one value per 160-sample hop, frames centred on `i * 160` (the audio is padded by half a
//! window at both ends), so `samples / 160 + 1` frames. 0 Hz means unvoiced.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;
use realfft::RealFftPlanner;

use super::{RvcError, check_inputs, infer_error};
use crate::models::onnxruntime::open_session;
use ort::value::TensorElementType as E;

/// Hop between pitch frames at 16 kHz (10 ms).
pub const HOP: usize = 160;

/// Frames quieter than this RMS (-60 dBFS) are unvoiced whatever a tracker says: trackers normalise their input
/// and would otherwise find a pitch in noise.
pub const SILENCE_RMS: f32 = 0.001;

const CENTS_BIN0: f32 = 1_997.379_4;

/// Hz of a fractional pitch bin (CREPE and RMVPE share the 360-bin, 20-cent scale).
pub fn bin_to_hz(bin: f32) -> f32 {
    10.0 * 2f32.powf((CENTS_BIN0 + 20.0 * bin) / 1200.0)
}

/// The pitch of one frame from its 360 salience values: the weighted mean bin around the strongest one (±4 bins),
/// as both CREPE and RMVPE decode; 0 when the strongest value is below `threshold`.
pub fn decode_frame(salience: &[f32], threshold: f32) -> f32 {
    let (peak, &max) = salience.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap_or((0, &0.0));
    if max.is_nan() || max < threshold {
        return 0.0;
    }
    let lo = peak.saturating_sub(4);
    let hi = (peak + 5).min(salience.len());
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for (b, &w) in salience.iter().enumerate().take(hi).skip(lo) {
        num += w * b as f32;
        den += w;
    }
    if den <= 0.0 { 0.0 } else { bin_to_hz(num / den) }
}

/// Number of pitch frames for `samples` samples at 16 kHz.
pub fn frame_count(samples: usize) -> usize {
    samples / HOP + 1
}

/// RMS of each pitch frame's 10 ms around its centre.
pub fn frame_rms(x: &[f32]) -> Vec<f32> {
    (0..frame_count(x.len()))
        .map(|i| {
            let c = i * HOP;
            let (a, b) = (c.saturating_sub(HOP / 2), (c + HOP / 2).min(x.len()));
            if a >= b {
                return 0.0;
            }
            (x[a..b].iter().map(|v| v * v).sum::<f32>() / (b - a) as f32).sqrt()
        })
        .collect()
}

/// 3-frame median of the pitch, so single-frame octave jumps and dropouts vanish; unvoiced frames stay unvoiced.
pub fn median3(f0: &[f32]) -> Vec<f32> {
    (0..f0.len())
        .map(|i| {
            if f0[i] <= 0.0 || i == 0 || i + 1 == f0.len() {
                return f0[i];
            }
            let mut w = [f0[i - 1], f0[i], f0[i + 1]];
            w.sort_by(|a, b| a.total_cmp(b));
            // A neighbour that is unvoiced must not pull a voiced frame to 0.
            if w[1] <= 0.0 { f0[i] } else { w[1] }
        })
        .collect()
}

/// Multiplies voiced frames by `2^(semitones/12)`.
pub fn shift(f0: &mut [f32], semitones: f32) {
    let factor = 2f32.powf(semitones / 12.0);
    for f in f0.iter_mut().filter(|f| **f > 0.0) {
        *f *= factor;
    }
}

/// RVC's coarse pitch: the mel-scaled pitch between 50 Hz and 1100 Hz mapped onto 1..=255; 1 is unvoiced.
pub fn coarse(f0: &[f32]) -> Vec<i64> {
    let mel = |f: f32| 1127.0 * (1.0 + f / 700.0).ln();
    let (lo, hi) = (mel(50.0), mel(1100.0));
    f0.iter()
        .map(|&f| {
            if f <= 0.0 {
                return 1;
            }
            let m = (mel(f) - lo) * 254.0 / (hi - lo) + 1.0;
            m.round().clamp(1.0, 255.0) as i64
        })
        .collect()
}

/// The CREPE pitch tracker (`crepe-tiny.onnx` or a larger CREPE with the same interface): input `frames` f32
/// `[N, 1024]` of 16 kHz audio, each window normalised to zero mean and unit variance; output `probs` `[N, 360]`.
pub struct Crepe {
    session: Session,
    /// Frames whose strongest bin is below this are unvoiced.
    pub threshold: f32,
}

const CREPE_WINDOW: usize = 1024;
const CREPE_BATCH: usize = 256;

impl Crepe {
    pub fn open(models_dir: &Path, model: &Path, threads: usize) -> Result<Crepe, RvcError> {
        let session = open_session(models_dir, model, threads)?;
        check_inputs(&session, model, "a CREPE pitch tracker", &[("frames", E::Float32, 2)])?;
        Ok(Crepe { session, threshold: 0.3 })
    }

    /// Pitch in Hz of 16 kHz mono audio, one value per 10 ms (`samples / 160 + 1` frames), 0 where unvoiced or
    /// quieter than -60 dBFS.
    pub fn track(&mut self, x: &[f32]) -> Result<Vec<f32>, RvcError> {
        let n = frame_count(x.len());
        let rms = frame_rms(x);
        let pad = CREPE_WINDOW / 2;
        let at = |i: isize| -> f32 { if i < 0 || i as usize >= x.len() { 0.0 } else { x[i as usize] } };
        let mut f0 = vec![0.0; n];
        // Only frames loud enough to be voiced go through the model.
        let loud: Vec<usize> = (0..n).filter(|&i| rms[i] >= SILENCE_RMS).collect();
        let mut batch = Vec::with_capacity(CREPE_BATCH * CREPE_WINDOW);
        for chunk in loud.chunks(CREPE_BATCH) {
            batch.clear();
            for &i in chunk {
                let start = (i * HOP) as isize - pad as isize;
                let frame: Vec<f32> = (0..CREPE_WINDOW as isize).map(|k| at(start + k)).collect();
                let mean = frame.iter().sum::<f32>() / CREPE_WINDOW as f32;
                let var = frame.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / CREPE_WINDOW as f32;
                let std = var.sqrt().max(1e-8);
                batch.extend(frame.iter().map(|v| (v - mean) / std));
            }
            let input = TensorRef::from_array_view(([chunk.len(), CREPE_WINDOW], &batch[..]))
                .map_err(|e| infer_error("CREPE", e))?;
            let outputs = self.session.run(ort::inputs![input]).map_err(|e| infer_error("CREPE", e))?;
            let (shape, probs) = outputs[0].try_extract_tensor::<f32>().map_err(|e| infer_error("CREPE", e))?;
            if shape.len() != 2 || shape[0] as usize != chunk.len() || shape[1] != 360 {
                return Err(RvcError::Inference {
                    model: "CREPE".into(),
                    reason: format!("expected probabilities [{}, 360], got {shape:?}", chunk.len()),
                });
            }
            for (k, &i) in chunk.iter().enumerate() {
                f0[i] = decode_frame(&probs[k * 360..(k + 1) * 360], self.threshold);
            }
        }
        Ok(f0)
    }
}

/// The RMVPE pitch tracker: input log-mel f32 `[1, 128, frames]` (n_fft 1024, hop 160, Hann, HTK mel bands
/// 30 Hz-8 kHz with Slaney area normalisation, natural log of the magnitude clamped at 1e-5); output salience
/// `[1, frames, 360]`. The frame count given to the model is padded to a multiple of 32, as its U-Net needs.
pub struct Rmvpe {
    session: Session,
    mel: MelBank,
    /// Frames whose strongest salience is below this are unvoiced (RMVPE's own default).
    pub threshold: f32,
}

impl Rmvpe {
    pub fn open(models_dir: &Path, model: &Path, threads: usize) -> Result<Rmvpe, RvcError> {
        let session = open_session(models_dir, model, threads)?;
        check_inputs(&session, model, "an RMVPE pitch tracker", &[("mel", E::Float32, 3)])?;
        Ok(Rmvpe { session, mel: MelBank::new(), threshold: 0.03 })
    }

    /// Pitch in Hz of 16 kHz mono audio, one value per 10 ms (`samples / 160 + 1` frames), 0 where unvoiced.
    pub fn track(&mut self, x: &[f32]) -> Result<Vec<f32>, RvcError> {
        let n = frame_count(x.len());
        let padded = n.div_ceil(32) * 32;
        let mel = self.mel.log_mel(x, padded);
        let input =
            TensorRef::from_array_view(([1usize, 128, padded], &mel[..])).map_err(|e| infer_error("RMVPE", e))?;
        let outputs = self.session.run(ort::inputs![input]).map_err(|e| infer_error("RMVPE", e))?;
        let (shape, sal) = outputs[0].try_extract_tensor::<f32>().map_err(|e| infer_error("RMVPE", e))?;
        if shape.len() != 3 || (shape[1] as usize) < n || shape[2] != 360 {
            return Err(RvcError::Inference {
                model: "RMVPE".into(),
                reason: format!("expected salience [1, {padded}, 360], got {shape:?}"),
            });
        }
        let rms = frame_rms(x);
        Ok((0..n)
            .map(
                |i| if rms[i] < SILENCE_RMS { 0.0 } else { decode_frame(&sal[i * 360..(i + 1) * 360], self.threshold) },
            )
            .collect())
    }
}

/// RMVPE's log-mel front end.
struct MelBank {
    /// Each band's first FFT bin and its non-zero triangle weights from there.
    filters: Vec<(usize, Vec<f32>)>,
    window: Vec<f32>,
    fft: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
}

const N_FFT: usize = 1024;
const N_MELS: usize = 128;

impl MelBank {
    fn new() -> MelBank {
        let mel = |hz: f64| 2595.0 * (1.0 + hz / 700.0).log10();
        let hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
        let (lo, hi) = (mel(30.0), mel(8000.0));
        let edges: Vec<f64> = (0..N_MELS + 2).map(|i| hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64)).collect();
        let bins = N_FFT / 2 + 1;
        let filters = (0..N_MELS)
            .map(|m| {
                let (l, c, r) = (edges[m], edges[m + 1], edges[m + 2]);
                let norm = 2.0 / (r - l);
                let w: Vec<f32> = (0..bins)
                    .map(|k| {
                        let f = k as f64 * 16000.0 / N_FFT as f64;
                        let w = ((f - l) / (c - l)).min((r - f) / (r - c)).max(0.0);
                        (w * norm) as f32
                    })
                    .collect();
                let first = w.iter().position(|v| *v > 0.0).unwrap_or(0);
                let last = w.iter().rposition(|v| *v > 0.0).unwrap_or(0);
                (first, w[first..=last.max(first)].to_vec())
            })
            .collect();
        let window = (0..N_FFT)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32)
            .collect();
        MelBank { filters, window, fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT) }
    }

    /// `[128, frames]` row-major log-mel of `x` (reflect-padded by half a window), `frames` columns (frames past
    /// the audio repeat the last real one).
    fn log_mel(&self, x: &[f32], frames: usize) -> Vec<f32> {
        let pad = N_FFT / 2;
        let reflect = |i: isize| -> f32 { if x.is_empty() { 0.0 } else { x[reflect(i, x.len())] } };
        let real = frame_count(x.len());
        let mut out = vec![0.0f32; N_MELS * frames];
        let mut buf = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut mag = vec![0.0f32; N_FFT / 2 + 1];
        for t in 0..frames {
            let src = t.min(real - 1);
            let start = (src * HOP) as isize - pad as isize;
            for (k, b) in buf.iter_mut().enumerate() {
                *b = reflect(start + k as isize) * self.window[k];
            }
            if self.fft.process(&mut buf, &mut spec).is_err() {
                continue;
            }
            for (m, c) in mag.iter_mut().zip(&spec) {
                *m = c.norm();
            }
            for (m, (first, f)) in self.filters.iter().enumerate() {
                let e: f32 = f.iter().zip(&mag[*first..]).map(|(w, v)| w * v).sum();
                out[m * frames + t] = e.max(1e-5).ln();
            }
        }
        out
    }
}

/// Index `i` of a signal of length `n > 0` extended by mirroring at both ends without repeating the edge
/// sample (numpy's "reflect").
pub fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m < n as isize { m } else { period - m }) as usize
}

/// The pitch tracker chosen in the settings.
pub enum Tracker {
    Rmvpe(Rmvpe),
    Crepe(Crepe),
}

impl Tracker {
    pub fn track(&mut self, x: &[f32]) -> Result<Vec<f32>, RvcError> {
        match self {
            Tracker::Rmvpe(r) => r.track(x),
            Tracker::Crepe(c) => c.track(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let idx: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(idx, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
    }

    #[test]
    fn bins_map_to_hz() {
        assert!((bin_to_hz(0.0) - 31.7).abs() < 0.1);
        // 440 Hz is 6551.3 cents above 10 Hz.
        let bin = (1200.0 * (440.0f32 / 10.0).log2() - CENTS_BIN0) / 20.0;
        assert!((bin_to_hz(bin) - 440.0).abs() < 0.01);
    }

    #[test]
    fn coarse_pitch_matches_rvc() {
        assert_eq!(coarse(&[0.0, 50.0, 1100.0, 5000.0, 30.0]), vec![1, 1, 255, 255, 1]);
        let mid = coarse(&[200.0])[0];
        assert!((40..=80).contains(&mid), "200 Hz -> {mid}");
    }

    #[test]
    fn shift_and_median() {
        let mut f = vec![0.0, 100.0, 200.0];
        shift(&mut f, 12.0);
        assert_eq!(f, vec![0.0, 200.0, 400.0]);
        assert_eq!(median3(&[100.0, 100.0, 400.0, 100.0, 100.0]), vec![100.0; 5]);
        assert_eq!(median3(&[0.0, 100.0, 0.0]), vec![0.0, 100.0, 0.0]);
    }

    #[test]
    fn decode_peaks_and_threshold() {
        let mut s = vec![0.0f32; 360];
        s[100] = 1.0;
        s[99] = 0.5;
        s[101] = 0.5;
        assert!((decode_frame(&s, 0.5) - bin_to_hz(100.0)).abs() < 1e-3);
        assert_eq!(decode_frame(&vec![0.01; 360], 0.03), 0.0);
    }
}
