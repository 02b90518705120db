//! The far-end reference for echo cancellation: what the speakers played, at 16 kHz, lined up with the microphone.
//!
//! Playback publishes every sample it plays (`Playback::take_played`). Both clocks, the speakers' and the
//! microphone's, run in real time, so the reference is kept locked to the microphone by sample counts: the `n`-th
//! reference sample goes with the `n`-th microphone sample. Samples that arrive late (after their microphone
//! sample was processed) are dropped and zeros stand in, so the reference never lags the echo it must predict;
//! the echo path's own delay (output buffer, air, input buffer) is learned by the adaptive filter.

use ringbuf::traits::{Consumer, Observer};

use super::{EchoCanceller, EchoSettings};
use crate::audio::Resampler;
use crate::audio::capture::InputFilter;

/// Played samples → 16 kHz reference blocks, one per microphone block.
pub struct EchoReference {
    played: ringbuf::HeapCons<f32>,
    resampler: Resampler,
    scratch: Vec<f32>,
    converted: Vec<f32>,
    /// Reference samples produced so far, and microphone samples consumed so far.
    produced: u64,
    consumed: u64,
    fifo: std::collections::VecDeque<f32>,
}

impl EchoReference {
    pub fn new(played: ringbuf::HeapCons<f32>, played_rate: u32) -> EchoReference {
        EchoReference {
            played,
            resampler: Resampler::new(played_rate, 16_000),
            scratch: vec![0.0; 4096],
            converted: Vec::with_capacity(4096),
            produced: 0,
            consumed: 0,
            fifo: std::collections::VecDeque::with_capacity(16_000),
        }
    }

    /// Appends the reference for the next `n` microphone samples to `out`.
    pub fn next(&mut self, n: usize, out: &mut Vec<f32>) {
        while self.played.occupied_len() > 0 {
            let got = self.played.pop_slice(&mut self.scratch);
            self.converted.clear();
            self.resampler.process(&self.scratch[..got], &mut self.converted);
            for &s in &self.converted {
                if self.produced >= self.consumed + self.fifo.len() as u64 {
                    self.fifo.push_back(s);
                }
                self.produced += 1;
            }
        }
        for _ in 0..n {
            out.push(self.fifo.pop_front().unwrap_or(0.0));
            self.consumed += 1;
        }
        // Samples that arrived for microphone samples already processed are late: drop them.
        while self.produced < self.consumed && self.fifo.is_empty() {
            self.produced = self.consumed;
        }
    }
}

/// A room between the speakers and the microphone, for testing and demonstrating echo cancellation without one:
/// a delay, a low-pass, and a decaying reverberation tail.
#[derive(Debug, Clone)]
pub struct SimulatedRoom {
    response: Vec<f32>,
    history: std::collections::VecDeque<f32>,
}

impl SimulatedRoom {
    /// `delay_ms` before the direct sound, `gain` of the direct sound, reverberation decaying by 60 dB in `rt60_ms`.
    pub fn new(delay_ms: u32, gain: f32, rt60_ms: u32) -> SimulatedRoom {
        let delay = delay_ms as usize * 16;
        let tail = rt60_ms as usize * 16;
        let mut response = vec![0.0f32; delay + tail];
        // Direct sound through a gentle low-pass (a speaker and a wall are not flat).
        for (i, g) in [0.5f32, 0.3, 0.2].iter().enumerate() {
            response[delay + i] += gain * g;
        }
        // Reverberation: deterministic pseudo-random reflections under an exponential decay.
        let mut x = 0x2545F4914F6CDD1Du64;
        for (i, v) in response[delay + 3..].iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let noise = (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
            *v += 0.25 * gain * noise * (-6.9 * i as f32 / tail as f32).exp();
        }
        SimulatedRoom { history: std::collections::VecDeque::from(vec![0.0; response.len()]), response }
    }

    /// The echo of one sample of played sound.
    fn next(&mut self, played: f32) -> f32 {
        self.history.pop_back();
        self.history.push_front(played);
        self.history.iter().zip(&self.response).map(|(x, h)| x * h).sum()
    }
}

/// The capture filter that removes the echo of `reference` from the microphone (and, with `room`, first adds a
/// simulated echo of it, as a room would).
pub fn input_filter(
    mut reference: EchoReference,
    settings: EchoSettings,
    mut room: Option<SimulatedRoom>,
) -> InputFilter {
    let mut canceller = EchoCanceller::new(settings);
    let mut far = Vec::with_capacity(4096);
    let mut mic = Vec::with_capacity(4096);
    Box::new(move |input: &[f32], out: &mut Vec<f32>| {
        far.clear();
        reference.next(input.len(), &mut far);
        mic.clear();
        match room.as_mut() {
            Some(room) => mic.extend(input.iter().zip(&far).map(|(m, f)| m + room.next(*f))),
            None => mic.extend_from_slice(input),
        }
        if settings.enabled {
            canceller.process(&mic, &far, out);
        } else {
            out.extend_from_slice(&mic);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancels_a_simulated_room_on_real_speech() {
        let models = crate::require_models!("jfk.wav");
        let a = crate::audio::read_wav(&models.join("jfk.wav")).unwrap();
        let far: Vec<f32> = a.to_mono_at(16_000).iter().map(|s| s * 0.8).collect();
        let mut room = SimulatedRoom::new(40, 0.6, 250);
        let mic: Vec<f32> = far.iter().map(|f| room.next(*f)).collect();
        let mut aec = EchoCanceller::new(EchoSettings::default());
        let mut out = Vec::new();
        for (m, f) in mic.chunks(160).zip(far.chunks(160)) {
            aec.process(m, f, &mut out);
        }
        let energy = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        // Echo return loss enhancement over time: the filter learns the room while the voice plays.
        for (from, to, least) in
            [(0.0, 1.0, 8.0), (1.0, 2.0, 10.0), (2.0, 4.0, 15.0), (4.0, 8.0, 25.0), (8.0, 11.0, 30.0)]
        {
            let r = (from * 16000.0) as usize..((to * 16000.0) as usize).min(out.len());
            let erle = 10.0 * (energy(&mic[r.clone()]) / energy(&out[r.clone()]).max(1e-12)).log10();
            eprintln!("{from}-{to} s: mic {:.1} dB, ERLE {erle:.1} dB", 10.0 * energy(&mic[r]).log10());
            assert!(erle >= least, "{from}-{to} s: echo reduced by only {erle:.1} dB (want {least})");
        }
    }
}
