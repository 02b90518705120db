//! Acoustic echo cancellation: removes the character's own voice from the microphone, so speakers work without a
//! headset.
//!
//! The playback signal (what the speakers actually played, at 16 kHz) is the reference. A partitioned-block
//! frequency-domain NLMS filter learns the room's echo path (speaker → air → microphone: delay, filtering,
//! reverberation) and subtracts its estimate of the echo from the microphone signal.
//!
//! Double talk (the user speaking while the character speaks) would drive a plain adaptive filter away from the
//! echo path. The canceller therefore runs two filters ("two-path"): a background filter that always adapts, and
//! the foreground filter whose output is used. The background's coefficients are copied to the foreground only
//! while it removes more echo; when it diverges (double talk), it is reset from the foreground instead. This needs
//! no explicit double-talk detector and keeps the user's voice intact while they interrupt.

pub mod reference;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Samples per block at 16 kHz: 16 ms.
pub const BLOCK: usize = 256;

/// Settings of the canceller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EchoSettings {
    /// Off: the microphone passes through untouched (a headset needs no cancellation).
    pub enabled: bool,
    /// Length of the echo path the filter can model, in milliseconds at 16 kHz (delay + reverberation tail).
    pub tail_ms: u32,
    /// Adaptation step, 0 < mu ≤ 1.
    pub step: f32,
}

impl Default for EchoSettings {
    fn default() -> Self {
        // 256 ms covers a speaker-to-microphone delay of up to ~80 ms plus a living-room reverberation tail.
        EchoSettings { enabled: true, tail_ms: 256, step: 1.0 }
    }
}

/// While learning, the linear filter has learned the room once it removes this much of the echo by itself.
pub const CONVERGED_DB: f32 = 15.0;

/// Learning ends at the latest after this much played sound (6 s), so a room the filter cannot model well does not
/// stay half-duplex for ever.
const LEARNING_LIMIT_BLOCKS: usize = 6 * 16_000 / BLOCK;

/// An echo this much quieter than the sound played (30 dB) is no echo to learn: a headset, with cancellation left
/// on, ends learning at once.
const NO_ECHO: f32 = 1e-3;

/// While learning, a block counts as echo unless its residual is this much (10 dB) above the filter's average
/// leak so far.
const LEARNING_MARGIN: f32 = 10.0;

/// While learning, the residual suppressor assumes the filter may leak up to this much more than its estimate
/// (+20 dB); once converged, at most the estimate itself (0 dB).
const LEARNING_LEAK: f32 = 100.0;

/// Output gain for echo-only blocks: -30 dB once the room is learned, -50 dB while learning (the residual is then
/// nearly as loud as the echo itself).
const SUPPRESSED: f32 = 0.03;

/// While sound plays, a residual this far (20 dB) below the echo reaching the microphone is what the filter left of
/// the echo, not a user cutting in (who would have to speak 20 dB below the loudspeaker's echo): it is suppressed
/// even where the filter's estimate is poor (sibilants, the bands it learns last), which would otherwise leak
/// through as garbled words.
const QUIETER_THAN_ECHO: f32 = 0.01;
const SUPPRESSED_LEARNING: f32 = 0.003;

/// What the echo path tells the rest of the app, lock-free (written on the capture path, read by the conversation,
/// the UI and tests): when the character's voice reached the microphone, on the input's own clock, and the
/// canceller's echo return loss enhancement and whether it has learned the room.
#[derive(Debug, Clone, Default)]
pub struct EchoMeter(Arc<MeterValues>);

#[derive(Debug, Default)]
struct MeterValues {
    /// f32 bits, dB.
    erle: AtomicU32,
    linear_erle: AtomicU32,
    converged: AtomicBool,
    echo_heard: AtomicBool,
    /// 16 kHz input samples up to the end of the last stretch in which something played, plus one (0: nothing
    /// has played yet).
    played_until: AtomicU64,
    /// 16 kHz input samples through the filter so far.
    processed: AtomicU64,
}

impl EchoMeter {
    /// Input time (seconds since the start of the input, the clock of the listener's `start_s`) up to which
    /// sound was playing while the microphone was recording; `None` before anything played. Comparing an
    /// utterance's start with this says whether the character's voice could be in it, however far the listener
    /// runs behind the speakers on a busy machine.
    pub fn played_until_s(&self) -> Option<f32> {
        match self.0.played_until.load(Ordering::Relaxed) {
            0 => None,
            n => Some((n - 1) as f32 / 16_000.0),
        }
    }

    /// Input time the echo path has reached: with the wall-clock time since capture started, how far the listener
    /// runs behind the speakers.
    pub fn processed_s(&self) -> f32 {
        self.0.processed.load(Ordering::Relaxed) as f32 / 16_000.0
    }

    pub(crate) fn note_processed(&self, samples: u64) {
        self.0.processed.store(samples, Ordering::Relaxed);
    }

    pub(crate) fn note_played(&self, until_sample: u64) {
        self.0.played_until.store(until_sample + 1, Ordering::Relaxed);
    }

    /// Echo removed by the whole canceller (filter and residual suppression), in dB, smoothed over about a second;
    /// meaningful while the character speaks and the user does not.
    pub fn erle_db(&self) -> f32 {
        f32::from_bits(self.0.erle.load(Ordering::Relaxed))
    }

    /// Echo removed by the adaptive filter alone, in dB: how well it knows the room.
    pub fn linear_erle_db(&self) -> f32 {
        f32::from_bits(self.0.linear_erle.load(Ordering::Relaxed))
    }

    /// The filter has learned the room (or had long enough to): the canceller is full-duplex.
    pub fn converged(&self) -> bool {
        self.0.converged.load(Ordering::Relaxed)
    }

    /// The microphone hears an echo worth removing (it is less than 30 dB below what plays); false with a
    /// headset, and while nothing has played.
    pub fn echo_heard(&self) -> bool {
        self.0.echo_heard.load(Ordering::Relaxed)
    }

    fn publish(&self, erle: f32, linear: f32, converged: bool, echo_heard: bool) {
        self.0.erle.store(erle.to_bits(), Ordering::Relaxed);
        self.0.linear_erle.store(linear.to_bits(), Ordering::Relaxed);
        self.0.converged.store(converged, Ordering::Relaxed);
        self.0.echo_heard.store(echo_heard, Ordering::Relaxed);
    }
}

/// The spectrum of a real signal has real DC and Nyquist bins; rounding can leave a tiny imaginary part there,
/// which the inverse real FFT refuses.
fn real_edges(spectrum: &mut [Complex32]) {
    if let Some(first) = spectrum.first_mut() {
        first.im = 0.0;
    }
    if let Some(last) = spectrum.last_mut() {
        last.im = 0.0;
    }
}

/// One adaptive filter in the frequency domain: `partitions` blocks of `BLOCK + 1` bins.
#[derive(Clone)]
struct Filter {
    weights: Vec<Vec<Complex32>>,
}

impl Filter {
    fn new(partitions: usize) -> Filter {
        Filter { weights: vec![vec![Complex32::new(0.0, 0.0); BLOCK + 1]; partitions] }
    }

    /// Echo estimate spectrum: Σ W_k · X_k over the far-end history (X_0 newest).
    fn estimate(&self, history: &[Vec<Complex32>], head: usize, out: &mut [Complex32]) {
        out.iter_mut().for_each(|c| *c = Complex32::new(0.0, 0.0));
        let p = history.len();
        for (k, w) in self.weights.iter().enumerate() {
            let x = &history[(head + p - k) % p];
            for ((o, w), x) in out.iter_mut().zip(w).zip(x) {
                *o += w * x;
            }
        }
    }
}

/// The echo canceller. Feed microphone and reference samples of the same time span; get the microphone with the
/// echo removed, delayed by at most one block.
pub struct EchoCanceller {
    fft: Arc<dyn RealToComplex<f32>>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    step: f32,
    /// Far-end spectra of the last `partitions` blocks (ring; `head` is the newest).
    history: Vec<Vec<Complex32>>,
    head: usize,
    /// The previous and current far-end block (the FFT input, 2·BLOCK).
    far_window: Vec<f32>,
    /// Far-end energy per bin over the filter span (the NLMS normaliser), and each bin's energy in the block that
    /// leaves the span next.
    power: Vec<f32>,
    leaving: Vec<f32>,
    foreground: Filter,
    background: Filter,
    /// Smoothed error energies of the two filters.
    energy_fg: f32,
    energy_bg: f32,
    /// Input not yet a whole block.
    mic_pending: Vec<f32>,
    far_pending: Vec<f32>,
    // Scratch buffers, allocated once.
    spectrum: Vec<Complex32>,
    time: Vec<f32>,
    grad: Vec<Complex32>,
    err_spectrum: Vec<Complex32>,
    fft_scratch: Vec<Complex32>,
    /// Echo removed so far, for the meter: (microphone energy, output energy) smoothed.
    mic_energy: f32,
    out_energy: f32,
    /// Residual echo suppression: the filter's leak (residual over estimate) and the current output gain.
    leak: f32,
    gain: f32,
    /// Far-end blocks in a row that were pure silence, and in a row without sound (below -60 dBFS).
    silent_blocks: usize,
    quiet_blocks: usize,
    /// How well the linear filter alone predicts the echo while something plays: (microphone energy, error
    /// energy) smoothed. Its ratio is the canceller's own ERLE estimate of its learning.
    lin_mic: f32,
    lin_err: f32,
    /// The far end's energy, smoothed alike.
    lin_far: f32,
    /// Blocks with sound played within the filter's span since the canceller started (or was reset).
    played_blocks: usize,
    /// The room has been learned: see [`EchoCanceller::learning`].
    converged: bool,
    meter: EchoMeter,
}

impl EchoCanceller {
    pub fn new(settings: EchoSettings) -> EchoCanceller {
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(2 * BLOCK);
        let ifft = planner.plan_fft_inverse(2 * BLOCK);
        let partitions = ((settings.tail_ms as usize * 16).div_ceil(BLOCK)).max(1);
        let scratch = fft.get_scratch_len().max(ifft.get_scratch_len());
        EchoCanceller {
            fft,
            ifft,
            step: settings.step.clamp(0.01, 1.9),
            history: vec![vec![Complex32::new(0.0, 0.0); BLOCK + 1]; partitions],
            head: 0,
            far_window: vec![0.0; 2 * BLOCK],
            power: vec![0.0; BLOCK + 1],
            leaving: vec![0.0; BLOCK + 1],
            foreground: Filter::new(partitions),
            background: Filter::new(partitions),
            energy_fg: 0.0,
            energy_bg: 0.0,
            mic_pending: Vec::with_capacity(4 * BLOCK),
            far_pending: Vec::with_capacity(4 * BLOCK),
            spectrum: vec![Complex32::new(0.0, 0.0); BLOCK + 1],
            time: vec![0.0; 2 * BLOCK],
            grad: vec![Complex32::new(0.0, 0.0); BLOCK + 1],
            err_spectrum: vec![Complex32::new(0.0, 0.0); BLOCK + 1],
            fft_scratch: vec![Complex32::new(0.0, 0.0); scratch],
            mic_energy: 0.0,
            out_energy: 0.0,
            leak: LEARNING_LEAK,
            gain: 1.0,
            silent_blocks: 0,
            quiet_blocks: usize::MAX,
            lin_mic: 0.0,
            lin_err: 0.0,
            lin_far: 0.0,
            played_blocks: 0,
            converged: false,
            meter: EchoMeter::default(),
        }
    }

    /// The canceller's meter; clones share the values.
    pub fn meter(&self) -> EchoMeter {
        self.meter.clone()
    }

    /// True until the filter has learned the room: its own linear ERLE reached [`CONVERGED_DB`], or
    /// [`LEARNING_LIMIT_BLOCKS`] of sound have played. Meanwhile the residual suppressor is half-duplex: the
    /// first words of the first reply reach the microphone nearly as loud as without cancellation, and leaked
    /// through they are garbled into words that are not the reply's, which the echo guard cannot recognise.
    pub fn learning(&self) -> bool {
        !self.converged
    }

    /// Processes `mic` with `far` (the reference played over the same time span; pass zeros, or an empty slice,
    /// while nothing plays). Appends the cleaned microphone samples to `out`.
    pub fn process(&mut self, mic: &[f32], far: &[f32], out: &mut Vec<f32>) {
        self.mic_pending.extend_from_slice(mic);
        self.far_pending.extend_from_slice(&far[..far.len().min(mic.len())]);
        // A missing reference is silence.
        self.far_pending.resize(self.mic_pending.len(), 0.0);
        let mut start = 0;
        while self.mic_pending.len() - start >= BLOCK {
            let mut mic_block = [0.0f32; BLOCK];
            let mut far_block = [0.0f32; BLOCK];
            mic_block.copy_from_slice(&self.mic_pending[start..start + BLOCK]);
            far_block.copy_from_slice(&self.far_pending[start..start + BLOCK]);
            self.block(&mic_block, &far_block, out);
            start += BLOCK;
        }
        self.mic_pending.drain(..start);
        self.far_pending.drain(..start);
    }

    /// Echo return loss enhancement so far, in dB (how much quieter the output is than the microphone; only
    /// meaningful while the character speaks and the user does not).
    pub fn erle_db(&self) -> f32 {
        10.0 * ((self.mic_energy + 1e-12) / (self.out_energy + 1e-12)).log10()
    }

    /// Forgets the learned echo path (e.g. after the output device changed). The meter stays shared.
    pub fn reset(&mut self) {
        let partitions = self.history.len();
        let meter = self.meter.clone();
        *self = EchoCanceller::new(EchoSettings {
            enabled: true,
            tail_ms: (partitions * BLOCK / 16) as u32,
            step: self.step,
        });
        self.meter = meter;
        self.meter.publish(0.0, 0.0, false, false);
    }

    fn block(&mut self, mic: &[f32; BLOCK], far: &[f32; BLOCK], out: &mut Vec<f32>) {
        // While nothing has played for longer than the filter's span there is no echo to remove: the microphone
        // passes through untouched and the filters rest (listening to silence costs almost nothing). The history
        // then holds only silence, which is what it would have computed.
        if far.iter().all(|v| *v == 0.0) {
            self.silent_blocks = self.silent_blocks.saturating_add(1);
        } else {
            self.silent_blocks = 0;
        }
        if self.silent_blocks > self.history.len() + 1 {
            self.gain = 1.0;
            out.extend_from_slice(mic);
            return;
        }
        let far_active = far.iter().map(|v| v * v).sum::<f32>() > 1e-6 * BLOCK as f32;
        self.quiet_blocks = if far_active { 0 } else { self.quiet_blocks.saturating_add(1) };
        // Sound played within the filter's span: its echo may be reaching the microphone now.
        let far_recent = self.quiet_blocks <= self.history.len();
        // Far-end spectrum of [previous block, this block] (overlap-save).
        self.far_window.copy_within(BLOCK.., 0);
        self.far_window[BLOCK..].copy_from_slice(far);
        self.head = (self.head + 1) % self.history.len();
        self.time.copy_from_slice(&self.far_window);
        let head = self.head;
        self.fft
            .process_with_scratch(&mut self.time, &mut self.history[head], &mut self.fft_scratch)
            .expect("buffer sizes are fixed");
        // Per-bin energy of the far end over the whole filter span (Σ_k |X_k|²): the normaliser of one long NLMS
        // filter. Kept as a running sum (add the newest block, remove the one that left the span).
        let oldest = (head + 1) % self.history.len();
        for ((p, x), old) in self.power.iter_mut().zip(&self.history[head]).zip(&self.leaving) {
            *p = (*p + x.norm_sqr() - old).max(0.0);
        }
        for (l, x) in self.leaving.iter_mut().zip(&self.history[oldest]) {
            *l = x.norm_sqr();
        }

        // Errors of both filters.
        let mut err_fg = [0.0f32; BLOCK];
        let mut err_bg = [0.0f32; BLOCK];
        self.error(false, mic, &mut err_fg);
        self.error(true, mic, &mut err_bg);

        // Two-path control: keep the better filter in front; reset a diverged background.
        let energy = |e: &[f32]| e.iter().map(|v| v * v).sum::<f32>();
        let (efg, ebg, emic) = (energy(&err_fg), energy(&err_bg), energy(mic));
        self.energy_fg = 0.7 * self.energy_fg + 0.3 * efg;
        self.energy_bg = 0.7 * self.energy_bg + 0.3 * ebg;
        if far_active && self.energy_bg < 0.8 * self.energy_fg && ebg <= emic {
            self.foreground = self.background.clone();
            self.energy_fg = self.energy_bg;
            err_fg = err_bg;
        } else if self.energy_bg > 4.0 * self.energy_fg + 1e-9 {
            self.background = self.foreground.clone();
            self.energy_bg = self.energy_fg;
        }

        if far_active {
            self.adapt(&err_bg);
        }
        if far_recent {
            self.played_blocks += 1;
            self.lin_mic = 0.95 * self.lin_mic + 0.05 * emic;
            self.lin_err = 0.95 * self.lin_err + 0.05 * energy(&err_fg);
            self.lin_far = 0.95 * self.lin_far + 0.05 * energy(far);
        }
        let linear = 10.0 * ((self.lin_mic + 1e-12) / (self.lin_err + 1e-12)).log10();
        // A quarter second of sound first, so the smoothed energies mean something.
        let learned = self.played_blocks >= 16 && (linear >= CONVERGED_DB || self.lin_mic < NO_ECHO * self.lin_far);
        if !self.converged && (learned || self.played_blocks >= LEARNING_LIMIT_BLOCKS) {
            self.converged = true;
            self.leak = self.leak.min(1.0);
        }
        self.suppress_residual(mic, &mut err_fg, far_recent);
        self.mic_energy = 0.98 * self.mic_energy + 0.02 * emic;
        self.out_energy = 0.98 * self.out_energy + 0.02 * energy(&err_fg);
        let echo_heard = self.lin_mic >= NO_ECHO * self.lin_far && self.lin_far > 0.0;
        self.meter.publish(self.erle_db(), linear, self.converged, echo_heard);
        out.extend_from_slice(&err_fg);
    }

    /// Residual echo suppression: what the linear filter leaves of the echo (while it is still learning the room,
    /// and the part no linear filter can model) is attenuated while only the character speaks.
    ///
    /// The leak, residual energy over echo-estimate energy, is tracked while sound played within the filter's
    /// span: it falls quickly to the best the filter achieves and creeps up slowly, to at most 0 dB once the
    /// room is learned. A block whose residual is within 6 dB of `leak × echo estimate` is echo only and is
    /// attenuated; a block well above it holds the user's voice (double talk) and passes untouched, so an
    /// interruption is heard.
    ///
    /// While learning, the leak starts at +20 dB and the attenuation is stronger: the canceller is nearly
    /// half-duplex (the user's voice passes only when far louder than the echo estimate) for the first second or
    /// two of the first reply, instead of letting the garbled start of its echo through.
    fn suppress_residual(&mut self, mic: &[f32; BLOCK], err: &mut [f32; BLOCK], far_recent: bool) {
        let residual: f32 = err.iter().map(|v| v * v).sum();
        let estimate: f32 = mic.iter().zip(err.iter()).map(|(m, e)| (m - e) * (m - e)).sum();
        let (cap, suppressed) = if self.converged { (1.0, SUPPRESSED) } else { (LEARNING_LEAK, SUPPRESSED_LEARNING) };
        let target = if far_recent && estimate > 1e-7 {
            let ratio = residual / estimate;
            self.leak = if ratio < self.leak { 0.7 * self.leak + 0.3 * ratio } else { (self.leak * 1.01).min(cap) };
            // While learning, single blocks the young filter happens to match well do not make it look better
            // than it is on average.
            let leak = if self.converged {
                self.leak
            } else {
                self.leak.max((LEARNING_MARGIN * (self.lin_err + 1e-12) / (self.lin_mic + 1e-12)).min(LEARNING_LEAK))
            };
            if residual < 4.0 * leak * estimate || residual < QUIETER_THAN_ECHO * self.lin_mic {
                suppressed
            } else {
                1.0
            }
        } else if far_recent && !self.converged {
            // Sound is playing and the filter has no estimate yet: its echo is on its way.
            suppressed
        } else {
            1.0
        };
        // Open at once for the user's voice; close over a few blocks, so word endings are not chopped.
        let start = self.gain;
        self.gain = if target > self.gain { target } else { 0.5 * self.gain + 0.5 * target };
        for (i, v) in err.iter_mut().enumerate() {
            let g = start + (self.gain - start) * (i as f32 / BLOCK as f32);
            *v *= g;
        }
    }

    /// Microphone minus the echo estimate of one filter.
    fn error(&mut self, background: bool, mic: &[f32; BLOCK], err: &mut [f32; BLOCK]) {
        let filter = if background { &self.background } else { &self.foreground };
        filter.estimate(&self.history, self.head, &mut self.spectrum);
        real_edges(&mut self.spectrum);
        self.ifft
            .process_with_scratch(&mut self.spectrum, &mut self.time, &mut self.fft_scratch)
            .expect("buffer sizes are fixed");
        let scale = 1.0 / (2 * BLOCK) as f32;
        for ((e, m), y) in err.iter_mut().zip(mic).zip(&self.time[BLOCK..]) {
            *e = m - y * scale;
        }
    }

    /// One constrained NLMS step of the background filter.
    fn adapt(&mut self, err: &[f32; BLOCK]) {
        self.time[..BLOCK].fill(0.0);
        self.time[BLOCK..].copy_from_slice(err);
        let e_spec = &mut self.err_spectrum;
        self.fft.process_with_scratch(&mut self.time, e_spec, &mut self.fft_scratch).expect("buffer sizes are fixed");
        // The step is shared by the partitions (normalised by their total power, as one long NLMS filter would
        // be), with a floor so bins where the voice has no energy do not blow up.
        let total: f32 = self.power.iter().sum::<f32>() / self.power.len() as f32;
        let floor = 1e-2 * total + 1e-6;
        let p = self.history.len();
        let scale = 1.0 / (2 * BLOCK) as f32;
        for k in 0..p {
            let x = &self.history[(self.head + p - k) % p];
            for (((g, x), e), pw) in self.grad.iter_mut().zip(x).zip(e_spec.iter()).zip(&self.power) {
                *g = x.conj() * e * (self.step / (pw + floor));
            }
            real_edges(&mut self.grad);
            // Gradient constraint: keep only the first BLOCK taps (linear, not circular, correlation).
            self.ifft.process_with_scratch(&mut self.grad, &mut self.time, &mut self.fft_scratch).expect("fixed sizes");
            self.time[BLOCK..].fill(0.0);
            self.time[..BLOCK].iter_mut().for_each(|v| *v *= scale);
            self.fft.process_with_scratch(&mut self.time, &mut self.grad, &mut self.fft_scratch).expect("fixed sizes");
            for (w, g) in self.background.weights[k].iter_mut().zip(&self.grad) {
                *w += g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic noise source (xorshift), so the tests need no random crate and always see the same signal.
    pub(crate) struct Noise(u64);
    impl Noise {
        pub(crate) fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    /// A room: 30 ms delay, then a decaying reverberation tail of 150 ms, overall echo gain about 0.5.
    fn room(noise: &mut Noise) -> Vec<f32> {
        let mut h = vec![0.0f32; 480 + 2400];
        h[480] = 0.4;
        for (i, v) in h[481..].iter_mut().enumerate() {
            *v = 0.15 * noise.next() * (-(i as f32) / 500.0).exp();
        }
        h
    }

    /// Linear convolution through one large FFT, truncated to the length of `x`.
    pub(crate) fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
        let n = (x.len() + h.len()).next_power_of_two();
        let mut planner = RealFftPlanner::<f32>::new();
        let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
        let spectrum = |v: &[f32]| {
            let mut buf = v.to_vec();
            buf.resize(n, 0.0);
            let mut out = fwd.make_output_vec();
            fwd.process(&mut buf, &mut out).unwrap();
            out
        };
        let (a, b) = (spectrum(x), spectrum(h));
        let mut product: Vec<Complex32> = a.iter().zip(&b).map(|(a, b)| a * b).collect();
        real_edges(&mut product);
        let mut y = inv.make_output_vec();
        inv.process(&mut product, &mut y).unwrap();
        y.truncate(x.len());
        y.iter_mut().for_each(|v| *v /= n as f32);
        y
    }

    fn energy(x: &[f32]) -> f32 {
        x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32
    }

    #[test]
    fn learns_a_room_and_removes_its_echo() {
        let mut noise = Noise(0x9E3779B97F4A7C15);
        let h = room(&mut noise);
        let far: Vec<f32> = (0..16000 * 6).map(|_| 0.3 * noise.next()).collect();
        let mic = convolve(&far, &h);
        let mut aec = EchoCanceller::new(EchoSettings::default());
        let mut out = Vec::new();
        for (m, f) in mic.chunks(160).zip(far.chunks(160)) {
            aec.process(m, f, &mut out);
        }
        let tail = 16000 * 4..out.len();
        let erle = 10.0 * (energy(&mic[tail.clone()]) / energy(&out[tail])).log10();
        eprintln!("ERLE after 4 s of white noise: {erle:.1} dB");
        assert!(erle > 25.0, "echo reduced by only {erle:.1} dB");
    }

    #[test]
    fn keeps_the_users_voice_during_double_talk() {
        let mut noise = Noise(12345);
        let h = room(&mut noise);
        let n = 16000 * 8;
        let far: Vec<f32> = (0..n).map(|_| 0.3 * noise.next()).collect();
        // The user speaks (a louder, independent signal) from 4 s to 6 s while the character keeps talking.
        let near: Vec<f32> =
            (0..n).map(|i| if (64000..96000).contains(&i) { 0.3 * noise.next() } else { 0.0 }).collect();
        let echo = convolve(&far, &h);
        let mic: Vec<f32> = echo.iter().zip(&near).map(|(e, u)| e + u).collect();
        let mut aec = EchoCanceller::new(EchoSettings::default());
        let mut out = Vec::new();
        for (m, f) in mic.chunks(256).zip(far.chunks(256)) {
            aec.process(m, f, &mut out);
        }
        // During double talk the output is the user's voice, with the echo still well below it.
        let dt = 66000..96000;
        let residual: Vec<f32> = out[dt.clone()].iter().zip(&near[dt.clone()]).map(|(o, u)| o - u).collect();
        let snr = 10.0 * (energy(&near[dt.clone()]) / energy(&residual)).log10();
        eprintln!("double talk: user's voice {snr:.1} dB over the residual echo");
        assert!(snr > 15.0, "user's voice buried: {snr:.1} dB over the residual");
        // And the filter did not forget the room: after the user stops, the echo stays removed.
        let after = 100_000..n;
        let erle = 10.0 * (energy(&mic[after.clone()]) / energy(&out[after])).log10();
        eprintln!("ERLE after double talk: {erle:.1} dB");
        assert!(erle > 20.0, "echo came back after double talk: {erle:.1} dB");
    }

    #[test]
    fn with_no_echo_to_learn_the_user_is_heard_at_once() {
        // A headset with cancellation left on: the far end plays, the microphone only hears the room's hiss and,
        // from half a second on, the user.
        let mut noise = Noise(777);
        let n = 16000 * 2;
        let far: Vec<f32> = (0..n).map(|_| 0.3 * noise.next()).collect();
        let mic: Vec<f32> =
            (0..n).map(|i| 1e-4 * noise.next() + if i >= 8000 { 0.1 * noise.next() } else { 0.0 }).collect();
        let mut aec = EchoCanceller::new(EchoSettings::default());
        let meter = aec.meter();
        let mut out = Vec::new();
        for (m, f) in mic.chunks(160).zip(far.chunks(160)) {
            aec.process(m, f, &mut out);
            if out.len() == 7936 {
                assert!(meter.converged(), "still learning a room with no echo");
                assert!(!meter.echo_heard());
            }
        }
        let user = 8500..out.len();
        let kept = 10.0 * (energy(&out[user.clone()]) / energy(&mic[user])).log10();
        assert!(kept > -1.0, "the user's voice lost {:.1} dB", -kept);
    }

    #[test]
    fn silence_in_silence_out_and_any_block_sizes() {
        let mut aec = EchoCanceller::new(EchoSettings::default());
        let mut out = Vec::new();
        aec.process(&[0.0; 1000], &[], &mut out);
        aec.process(&[0.0; 37], &[0.0; 37], &mut out);
        assert_eq!(out.len(), (1037 / BLOCK) * BLOCK);
        assert!(out.iter().all(|v| *v == 0.0));
    }
}
