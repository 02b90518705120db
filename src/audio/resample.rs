//! Sample-rate conversion with a windowed-sinc resampler (rubato): whole buffers, or a stream of blocks.

use rubato::{Resampler as _, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction};

const BLOCK: usize = 1024;

fn params() -> SincInterpolationParameters {
    SincInterpolationParameters {
        sinc_len: 128,
        f_cutoff: 0.925,
        interpolation: SincInterpolationType::Linear,
        oversampling_factor: 128,
        window: WindowFunction::BlackmanHarris2,
    }
}

/// A streaming mono resampler: feed blocks of any length, get the converted samples. Output sample `n` lines up
/// with input time `n / to` (rubato compensates the filter's delay itself).
pub struct Resampler {
    inner: Option<SincFixedIn<f32>>,
    pending: Vec<f32>,
    out_buf: Vec<Vec<f32>>,
    consumed_in: u64,
    produced_out: u64,
    from: u32,
    to: u32,
}

impl Resampler {
    /// Panics only for a zero rate, which callers rule out when they read settings or files.
    pub fn new(from: u32, to: u32) -> Resampler {
        assert!(from > 0 && to > 0, "sample rates must be positive");
        let inner = (from != to).then(|| {
            SincFixedIn::<f32>::new(to as f64 / from as f64, 1.0, params(), BLOCK, 1)
                .expect("valid resampler parameters")
        });
        let out_max = inner.as_ref().map_or(0, |r| r.output_frames_max());
        Resampler {
            inner,
            pending: Vec::new(),
            out_buf: vec![vec![0.0; out_max]],
            consumed_in: 0,
            produced_out: 0,
            from,
            to,
        }
    }

    /// Converts what can be converted of `input` (plus what was held back), appending to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.consumed_in += input.len() as u64;
        let Some(r) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            self.produced_out += input.len() as u64;
            return;
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        while self.pending.len() - start >= BLOCK {
            let (_, n) = r
                .process_into_buffer(&[&self.pending[start..start + BLOCK]], &mut self.out_buf, None)
                .expect("buffer sizes are fixed");
            start += BLOCK;
            out.extend_from_slice(&self.out_buf[0][..n]);
            self.produced_out += n as u64;
        }
        self.pending.drain(..start);
    }

    /// Flushes the held-back samples so the output covers the whole input (`len * to / from`, rounded).
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        let want = (self.consumed_in as f64 * self.to as f64 / self.from as f64).round() as u64;
        if let Some(r) = self.inner.as_mut() {
            let mut guard = 0;
            while self.produced_out < want && guard < 64 {
                let pending = std::mem::take(&mut self.pending);
                let input: Option<&[&[f32]]> = if pending.is_empty() { None } else { Some(&[&pending[..]]) };
                let (_, n) =
                    r.process_partial_into_buffer(input, &mut self.out_buf, None).expect("buffer sizes are fixed");
                let take = (n as u64).min(want - self.produced_out) as usize;
                out.extend_from_slice(&self.out_buf[0][..take]);
                self.produced_out += take as u64;
                guard += 1;
            }
            r.reset();
        }
        self.consumed_in = 0;
        self.produced_out = 0;
    }
}

/// Converts a whole mono buffer from `from` Hz to `to` Hz.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to {
        return input.to_vec();
    }
    let mut r = Resampler::new(from, to);
    let mut out = Vec::with_capacity(input.len() * to as usize / from as usize + BLOCK);
    r.process(input, &mut out);
    r.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin()).collect()
    }

    #[test]
    fn lengths_and_alignment() {
        for (from, to) in [(48000, 16000), (16000, 24000), (44100, 16000), (22050, 48000), (16000, 16000)] {
            let n = 12_345;
            let x = sine(100.0, from, n);
            let y = resample(&x, from, to);
            let want = (n as f64 * to as f64 / from as f64).round() as usize;
            assert_eq!(y.len(), want, "{from}->{to}");
            // The converted sine matches the ideal one in the middle (no delay, no gain change).
            let ideal = sine(100.0, to, want);
            let mid = want / 2;
            let err: f32 = (mid..mid + 200).map(|i| (y[i] - ideal[i]).abs()).fold(0.0, f32::max);
            assert!(err < 0.05, "{from}->{to}: max error {err}");
        }
    }

    #[test]
    fn impulse_stays_in_place() {
        for (from, to) in [(48000u32, 16000u32), (16000, 24000), (44100, 16000), (22050, 48000)] {
            let mut x = vec![0.0f32; from as usize];
            x[from as usize / 10] = 1.0;
            let y = resample(&x, from, to);
            let peak = y.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as i64;
            assert!((peak - (to / 10) as i64).abs() <= 1, "{from}->{to}: impulse moved to {peak}");
        }
    }

    #[test]
    fn removes_content_above_new_nyquist() {
        let x = sine(12_000.0, 48_000, 48_000);
        let y = resample(&x, 48_000, 16_000);
        let rms = (y[2000..14000].iter().map(|v| v * v).sum::<f32>() / 12000.0).sqrt();
        assert!(rms < 0.01, "12 kHz leaked into 16 kHz audio: rms {rms}");
    }

    #[test]
    fn streaming_equals_whole() {
        let x = sine(300.0, 48_000, 20_000);
        let whole = resample(&x, 48_000, 16_000);
        let mut r = Resampler::new(48_000, 16_000);
        let mut out = Vec::new();
        for chunk in x.chunks(777) {
            r.process(chunk, &mut out);
        }
        r.finish(&mut out);
        assert_eq!(out.len(), whole.len());
        assert!(out.iter().zip(&whole).all(|(a, b)| (a - b).abs() < 1e-5));
    }
}
