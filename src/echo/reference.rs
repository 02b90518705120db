//! The far-end reference for echo cancellation: what the speakers played, at 16 kHz, lined up with the microphone.
//!
//! Playback publishes every sample it plays (`Playback::take_played`). Both clocks, the speakers' and the
//! microphone's, run in real time, so the reference is kept locked to the microphone by sample counts: the `n`-th
//! reference sample goes with the `n`-th microphone sample. Samples that arrive late (after their microphone
//! sample was processed) are dropped and zeros stand in, so the reference never lags the echo it must predict;
//! the echo path's own delay (output buffer, air, input buffer) is learned by the adaptive filter.

use ringbuf::traits::{Consumer, Observer};

use super::{EchoCanceller, EchoMeter, EchoSettings};
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
///
/// The tail is a few hundred discrete reflections (one every 1.5 ms on average) rather than a dense response, so
/// simulating it costs little even in a debug build: the room runs on the capture path, and a slow one would make
/// the listener fall behind the speakers.
#[derive(Debug, Clone)]
pub struct SimulatedRoom {
    /// (delay in samples, gain) of the direct sound and each reflection.
    taps: Vec<(usize, f32)>,
    /// The last played samples, a ring of a power-of-two length.
    history: Vec<f32>,
    pos: usize,
}

impl SimulatedRoom {
    /// `delay_ms` before the direct sound, `gain` of the direct sound, reverberation decaying by 60 dB in `rt60_ms`.
    pub fn new(delay_ms: u32, gain: f32, rt60_ms: u32) -> SimulatedRoom {
        let delay = delay_ms as usize * 16;
        let tail = (rt60_ms as usize * 16).max(1);
        // Direct sound through a gentle low-pass (a speaker and a wall are not flat).
        let mut taps: Vec<(usize, f32)> =
            [0.5f32, 0.3, 0.2].iter().enumerate().map(|(i, g)| (delay + i, gain * g)).collect();
        // Reverberation: deterministic pseudo-random reflections under an exponential decay.
        let mut x = 0x2545F4914F6CDD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32
        };
        let mut at = 3;
        while at < tail {
            let sign = if next() < 0.5 { -1.0 } else { 1.0 };
            let size = 0.3 + 0.7 * next();
            taps.push((delay + at, 0.6 * gain * sign * size * (-6.9 * at as f32 / tail as f32).exp()));
            at += 1 + (48.0 * next()) as usize;
        }
        let len = (delay + tail + 1).next_power_of_two();
        SimulatedRoom { taps, history: vec![0.0; len], pos: 0 }
    }

    /// The echo of one sample of played sound.
    fn next(&mut self, played: f32) -> f32 {
        let mask = self.history.len() - 1;
        self.pos = (self.pos + 1) & mask;
        self.history[self.pos] = played;
        let (history, pos) = (&self.history, self.pos);
        self.taps.iter().map(|&(d, g)| history[(pos + mask + 1 - d) & mask] * g).sum()
    }
}

/// The capture filter that removes the echo of `reference` from the microphone (and, with `room`, first adds a
/// simulated echo of it, as a room would), and its meter: when something played, on the input's clock, and
/// (with cancellation on) the canceller's figures.
pub fn input_filter(
    mut reference: EchoReference,
    settings: EchoSettings,
    mut room: Option<SimulatedRoom>,
) -> (InputFilter, EchoMeter) {
    let mut canceller = EchoCanceller::new(settings);
    let meter = canceller.meter();
    let played = meter.clone();
    let mut samples = 0u64;
    let mut far = Vec::with_capacity(4096);
    let mut mic = Vec::with_capacity(4096);
    let filter: InputFilter = Box::new(move |input: &[f32], out: &mut Vec<f32>| {
        far.clear();
        reference.next(input.len(), &mut far);
        // -60 dBFS, as the canceller counts sound.
        if let Some(last) = far.iter().rposition(|v| v * v > 1e-6) {
            played.note_played(samples + last as u64);
        }
        samples += input.len() as u64;
        played.note_processed(samples);
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
    });
    (filter, meter)
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
        let meter = aec.meter();
        let mut out = Vec::new();
        let mut learned_at = None;
        for (m, f) in mic.chunks(160).zip(far.chunks(160)) {
            aec.process(m, f, &mut out);
            if learned_at.is_none() && meter.converged() {
                learned_at = Some(out.len() as f32 / 16_000.0);
            }
        }
        // The canceller's own estimate says when it has learned the room (its linear filter alone removes 15 dB).
        eprintln!("learned the room after {learned_at:?} s; ERLE {:.1} dB at the end", meter.erle_db());
        assert!(learned_at.is_some_and(|t| t < 5.0), "still learning after {learned_at:?} s");
        assert!(meter.echo_heard());
        let energy = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
        // Echo return loss enhancement over time: while the filter learns the room the canceller is nearly
        // half-duplex, so even the first second of the voice is not heard (it once leaked through garbled).
        for (from, to, least) in
            [(0.0, 1.0, 40.0), (1.0, 2.0, 15.0), (2.0, 4.0, 20.0), (4.0, 8.0, 30.0), (8.0, 11.0, 35.0)]
        {
            let r = (from * 16000.0) as usize..((to * 16000.0) as usize).min(out.len());
            let erle = 10.0 * (energy(&mic[r.clone()]) / energy(&out[r.clone()]).max(1e-12)).log10();
            eprintln!("{from}-{to} s: mic {:.1} dB, ERLE {erle:.1} dB", 10.0 * energy(&mic[r]).log10());
            assert!(erle >= least, "{from}-{to} s: echo reduced by only {erle:.1} dB (want {least})");
        }
    }
}
