//! SOLA (synchronised overlap-add): joining separately converted pieces without clicks.
//!
//! Each piece is converted with some audio beyond its end. The part beyond the end that the previous piece
//! produced (`tail`) is crossfaded with the start of the new conversion, after sliding the new conversion by the
//! offset (within a short search range) where its waveform best matches the tail, so the two are in phase and the
//! crossfade neither cancels nor doubles.

/// Equal-power-ish fade curves of `len` samples: `fade_in[i] = sin²(π/2 · i/len)`, `fade_out = 1 - fade_in`.
pub fn fades(len: usize) -> (Vec<f32>, Vec<f32>) {
    let fade_in: Vec<f32> = (0..len)
        .map(|i| {
            let s = (0.5 * std::f32::consts::PI * i as f32 / len.max(1) as f32).sin();
            s * s
        })
        .collect();
    let fade_out = fade_in.iter().map(|v| 1.0 - v).collect();
    (fade_in, fade_out)
}

/// The offset in `0..=search` at which `candidate[offset..offset + tail.len()]` best matches `tail` (normalised
/// cross-correlation). `candidate` must hold `tail.len() + search` samples. A silent tail gives offset 0.
pub fn best_offset(candidate: &[f32], tail: &[f32], search: usize) -> usize {
    let n = tail.len();
    debug_assert!(candidate.len() >= n + search);
    if tail.iter().all(|v| *v == 0.0) {
        return 0;
    }
    let mut best = (0, f32::NEG_INFINITY);
    for off in 0..=search.min(candidate.len().saturating_sub(n)) {
        let seg = &candidate[off..off + n];
        let (num, energy) = seg.iter().zip(tail).fold((0.0f32, 0.0f32), |(num, en), (a, b)| (num + a * b, en + a * a));
        let score = num / (energy + 1e-8).sqrt();
        if score > best.1 {
            best = (off, score);
        }
    }
    best.0
}

/// Crossfades `tail` (fading out) into the start of `x` (fading in), in place.
pub fn crossfade(x: &mut [f32], tail: &[f32], fade_in: &[f32], fade_out: &[f32]) {
    for (i, v) in x.iter_mut().take(tail.len()).enumerate() {
        *v = *v * fade_in[i] + tail[i] * fade_out[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(n: usize, phase: f32) -> Vec<f32> {
        (0..n).map(|i| (0.05 * i as f32 + phase).sin()).collect()
    }

    #[test]
    fn finds_the_phase_that_matches() {
        let tail = sine(400, 0.0);
        // The candidate lags by 37 samples.
        let candidate: Vec<f32> = (0..500).map(|i| (0.05 * (i as f32 - 37.0)).sin()).collect();
        assert_eq!(best_offset(&candidate, &tail, 100), 37);
        assert_eq!(best_offset(&candidate, &vec![0.0; 400], 100), 0);
    }

    #[test]
    fn crossfade_starts_on_the_tail_and_ends_on_the_new_audio() {
        let (fi, fo) = fades(100);
        let mut x = vec![1.0; 150];
        crossfade(&mut x, &vec![-1.0; 100], &fi, &fo);
        assert_eq!(x[0], -1.0);
        assert!(x[99] > 0.99 && x[120] == 1.0);
        assert!(x.windows(2).all(|w| (w[1] - w[0]).abs() < 0.05));
    }
}
