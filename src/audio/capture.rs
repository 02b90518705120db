//! Audio input: a microphone (cpal) or a WAV file standing in for one, delivered as 16 kHz mono.
//!
//! The device callback only copies samples into a lock-free ring buffer (no allocation, no lock, no log); the
//! reader ([`Capture::read`], on the consumer's thread) mixes down to mono, resamples to 16 kHz, applies the mute
//! and measures the level. A supervisor thread owns the cpal stream: when the device disappears it reports
//! [`CaptureEvent::DeviceLost`], keeps trying, and hands the reader a fresh ring when the device returns.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringbuf::HeapRb;
use ringbuf::traits::{Consumer, Observer, Producer, Split};

use super::{Resampler, WavError, read_wav};

/// The rate everything after capture works at.
pub const OUTPUT_RATE: u32 = 16_000;

/// How a WAV file stands in for a microphone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Samples arrive as fast as a real device would deliver them.
    RealTime,
    /// Samples arrive as fast as the reader takes them (tests, batch work).
    AsFastAsPossible,
}

/// Something that happened to the input, besides audio.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureEvent {
    /// The input device stopped delivering audio (unplugged, taken away); capture keeps trying to reopen it.
    DeviceLost { device: String, reason: String },
    /// The device is back and delivering audio again.
    DeviceReturned { device: String },
}

/// The outcome of [`Capture::read`].
#[derive(Debug, Clone, PartialEq)]
pub enum Captured {
    /// Samples were appended to the output buffer.
    Audio,
    /// Nothing arrived within the timeout.
    Idle,
    Event(CaptureEvent),
    /// The source has no more audio (end of a WAV file). A microphone never ends.
    Ended,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error(transparent)]
    Wav(#[from] WavError),
    #[error("no audio input device is available{}; plug in a microphone or start a sound server (PulseAudio/PipeWire)", if .0.is_empty() { String::new() } else { format!(" ({})", .0) })]
    NoDevice(String),
    #[error("no audio input device is named \"{wanted}\"; available: {}. Set audio.input_device to one of them, or to \"\" for the default", if .available.is_empty() { "none".to_owned() } else { .available.join(", ") })]
    NotFound { wanted: String, available: Vec<String> },
    #[error("the audio input device \"{device}\" could not be opened: {reason}")]
    Open { device: String, reason: String },
}

/// Mute, level and counters, shared between the reader and whoever shows or controls them.
#[derive(Debug, Default)]
struct Shared {
    muted: AtomicBool,
    /// RMS level of the last block read, as f32 bits.
    level: AtomicU32,
    /// Samples the ring had no room for (the reader fell behind).
    dropped: AtomicU64,
    stop: AtomicBool,
}

/// A handle for the mute switch and the level meter; cheap to clone and usable from any thread.
#[derive(Debug, Clone)]
pub struct CaptureControls(Arc<Shared>);

impl CaptureControls {
    pub fn set_muted(&self, muted: bool) {
        self.0.muted.store(muted, Ordering::Relaxed);
    }
    pub fn is_muted(&self) -> bool {
        self.0.muted.load(Ordering::Relaxed)
    }
    /// RMS of the most recent audio (0.0 to 1.0; 0.0 while muted).
    pub fn level(&self) -> f32 {
        f32::from_bits(self.0.level.load(Ordering::Relaxed))
    }
    /// The level in dBFS, floored at -100.
    pub fn level_db(&self) -> f32 {
        (20.0 * self.level().max(1e-5).log10()).max(-100.0)
    }
    /// Input samples lost because the reader fell more than the ring's length behind.
    pub fn dropped_samples(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

/// What the producing side hands to the reader.
enum Feed {
    /// A (new) ring of interleaved samples at `rate` with `channels`.
    Stream {
        ring: ringbuf::HeapCons<f32>,
        rate: u32,
        channels: u16,
    },
    Event(CaptureEvent),
    /// Nothing more will be pushed into the current ring.
    Ended,
}

/// An audio input delivering 16 kHz mono.
pub struct Capture {
    name: String,
    feed: Receiver<Feed>,
    ring: Option<(ringbuf::HeapCons<f32>, u16)>,
    resampler: Resampler,
    ended: bool,
    flushed: bool,
    interleaved: Vec<f32>,
    mono: Vec<f32>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// A WAV file (any rate, channels and sample format) played as a microphone.
    pub fn wav_file(path: &Path, pace: Pace) -> Result<Capture, CaptureError> {
        let audio = read_wav(path)?;
        let name = format!("file {}", path.display());
        let (rate, channels) = (audio.sample_rate, audio.channels);
        // Half a second of room: the file thread waits when it is full, so nothing is dropped.
        let (mut prod, cons) = HeapRb::<f32>::new((rate as usize / 2).max(1024) * channels as usize).split();
        let (tx, rx) = channel();
        let _ = tx.send(Feed::Stream { ring: cons, rate, channels });
        let shared = Arc::new(Shared::default());
        let stop = shared.clone();
        let thread = std::thread::Builder::new()
            .name("persona-wav-input".into())
            .spawn(move || {
                let block = (rate as usize / 100).max(1) * channels as usize; // 10 ms
                let start = Instant::now();
                let mut pos = 0;
                while pos < audio.samples.len() && !stop.stop.load(Ordering::Relaxed) {
                    if pace == Pace::RealTime {
                        let due = start + Duration::from_secs_f64(pos as f64 / channels as f64 / rate as f64);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let end = (pos + block).min(audio.samples.len());
                    let n = prod.push_slice(&audio.samples[pos..end]);
                    pos += n;
                    if n == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                let _ = tx.send(Feed::Ended);
            })
            .map_err(|e| CaptureError::Open { device: name.clone(), reason: e.to_string() })?;
        Ok(Capture::with_feed(name, rx, shared, thread))
    }

    /// The microphone named `device` ("" = the system default).
    pub fn microphone(device: &str) -> Result<Capture, CaptureError> {
        let shared = Arc::new(Shared::default());
        let opened = mic::open(device, &shared)?;
        let name = opened.name.clone();
        let (tx, rx) = channel();
        let thread = {
            let shared = shared.clone();
            let wanted = device.to_owned();
            std::thread::Builder::new()
                .name("persona-mic".into())
                .spawn(move || mic::supervise(wanted, opened, shared, tx))
                .map_err(|e| CaptureError::Open { device: name.clone(), reason: e.to_string() })?
        };
        Ok(Capture::with_feed(name, rx, shared, thread))
    }

    fn with_feed(name: String, feed: Receiver<Feed>, shared: Arc<Shared>, thread: JoinHandle<()>) -> Capture {
        Capture {
            name,
            feed,
            ring: None,
            resampler: Resampler::new(OUTPUT_RATE, OUTPUT_RATE),
            ended: false,
            flushed: false,
            interleaved: vec![0.0; 8192],
            mono: Vec::with_capacity(8192),
            shared,
            thread: Some(thread),
        }
    }

    /// The device's name (or the file's).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn controls(&self) -> CaptureControls {
        CaptureControls(self.shared.clone())
    }

    pub fn set_muted(&self, muted: bool) {
        self.controls().set_muted(muted);
    }

    /// Appends the 16 kHz mono audio that has arrived to `out`, waiting up to `timeout` for some. While muted the
    /// audio is silence (time keeps running, so timestamps downstream stay true); the level meter follows it.
    pub fn read(&mut self, out: &mut Vec<f32>, timeout: Duration) -> Captured {
        let before = out.len();
        let r = self.read_raw(out, timeout);
        if out.len() > before {
            let block = &mut out[before..];
            if self.shared.muted.load(Ordering::Relaxed) {
                block.fill(0.0);
            }
            let rms = (block.iter().map(|s| s * s).sum::<f32>() / block.len() as f32).sqrt();
            self.shared.level.store(rms.to_bits(), Ordering::Relaxed);
        }
        r
    }

    fn read_raw(&mut self, out: &mut Vec<f32>, timeout: Duration) -> Captured {
        let deadline = Instant::now() + timeout;
        loop {
            match self.feed.try_recv() {
                Ok(Feed::Stream { ring, rate, channels }) => {
                    // Whatever the old ring still held belongs to a stream that is gone.
                    self.resampler = Resampler::new(rate, OUTPUT_RATE);
                    self.ring = Some((ring, channels.max(1)));
                    self.ended = false;
                    self.flushed = false;
                }
                Ok(Feed::Event(e)) => return Captured::Event(e),
                Ok(Feed::Ended) => self.ended = true,
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.ended = true,
            }
            let before = out.len();
            self.drain(out);
            if out.len() > before {
                return Captured::Audio;
            }
            let ring_empty = self.ring.as_ref().is_none_or(|(r, _)| r.is_empty());
            if self.ended && ring_empty {
                if !self.flushed {
                    self.flushed = true;
                    self.resampler.finish(out);
                    if out.len() > before {
                        return Captured::Audio;
                    }
                }
                return Captured::Ended;
            }
            if Instant::now() >= deadline {
                return Captured::Idle;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Everything in the ring → mono → 16 kHz.
    fn drain(&mut self, out: &mut Vec<f32>) {
        let Some((ring, channels)) = self.ring.as_mut() else { return };
        let ch = *channels as usize;
        loop {
            // Whole frames only, so channels never get mixed up.
            let want = (ring.occupied_len() / ch * ch).min(self.interleaved.len() / ch * ch);
            if want == 0 {
                break;
            }
            let n = ring.pop_slice(&mut self.interleaved[..want]);
            self.mono.clear();
            if ch == 1 {
                self.mono.extend_from_slice(&self.interleaved[..n]);
            } else {
                self.mono.extend(self.interleaved[..n].chunks_exact(ch).map(|f| f.iter().sum::<f32>() / ch as f32));
            }
            self.resampler.process(&self.mono, out);
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Unblock a file thread waiting for room.
        self.ring = None;
        while self.feed.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The cpal side: opening a device, the callback, and the supervisor that reopens it.
mod mic {
    use super::*;
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

    pub(super) struct Opened {
        pub name: String,
        stream: cpal::Stream,
        ring: ringbuf::HeapCons<f32>,
        rate: u32,
        channels: u16,
        lost: Arc<AtomicBool>,
    }

    fn device_name(d: &cpal::Device) -> String {
        d.description().map(|x| x.name().to_owned()).unwrap_or_else(|_| d.to_string())
    }

    /// Input devices that can actually be opened (on machines without a sound card some exist but fail).
    pub fn input_devices() -> Vec<String> {
        let host = cpal::default_host();
        host.input_devices()
            .map(|ds| ds.filter(|d| d.default_input_config().is_ok()).map(|d| device_name(&d)).collect())
            .unwrap_or_default()
    }

    pub(super) fn open(wanted: &str, shared: &Arc<Shared>) -> Result<Opened, CaptureError> {
        let host = cpal::default_host();
        let device = if wanted.is_empty() {
            host.default_input_device().ok_or_else(|| CaptureError::NoDevice(String::new()))?
        } else {
            let found = host.input_devices().ok().and_then(|mut ds| ds.find(|d| device_name(d) == wanted));
            match found {
                Some(d) => d,
                None => return Err(CaptureError::NotFound { wanted: wanted.into(), available: input_devices() }),
            }
        };
        let name = device_name(&device);
        let open_err = |reason: String| CaptureError::Open { device: name.clone(), reason };
        let config = device.default_input_config().map_err(|e| open_err(e.to_string()))?;
        let (rate, channels) = (config.sample_rate(), config.channels());
        if rate == 0 || channels == 0 {
            return Err(open_err(format!("the device reports {channels} channels at {rate} Hz")));
        }
        // Two seconds of room: the reader has that long to fall behind before samples are dropped.
        let (prod, ring) = HeapRb::<f32>::new(rate as usize * channels as usize * 2).split();
        let lost = Arc::new(AtomicBool::new(false));
        let stream_config: cpal::StreamConfig = config.config();
        let stream = match config.sample_format() {
            cpal::SampleFormat::F32 => build::<f32>(&device, &stream_config, prod, shared, &lost),
            cpal::SampleFormat::I16 => build::<i16>(&device, &stream_config, prod, shared, &lost),
            cpal::SampleFormat::U16 => build::<u16>(&device, &stream_config, prod, shared, &lost),
            cpal::SampleFormat::I32 => build::<i32>(&device, &stream_config, prod, shared, &lost),
            cpal::SampleFormat::I8 => build::<i8>(&device, &stream_config, prod, shared, &lost),
            cpal::SampleFormat::U8 => build::<u8>(&device, &stream_config, prod, shared, &lost),
            cpal::SampleFormat::F64 => build::<f64>(&device, &stream_config, prod, shared, &lost),
            other => return Err(open_err(format!("unsupported sample format {other:?}"))),
        }
        .map_err(|e| open_err(e.to_string()))?;
        stream.play().map_err(|e| open_err(e.to_string()))?;
        Ok(Opened { name, stream, ring, rate, channels, lost })
    }

    fn build<T>(
        device: &cpal::Device,
        config: &cpal::StreamConfig,
        mut prod: ringbuf::HeapProd<f32>,
        shared: &Arc<Shared>,
        lost: &Arc<AtomicBool>,
    ) -> Result<cpal::Stream, cpal::Error>
    where
        T: cpal::SizedSample,
        f32: cpal::FromSample<T>,
    {
        let shared = shared.clone();
        let lost_flag = lost.clone();
        device.build_input_stream::<T, _, _>(
            config.clone(),
            // The audio callback: convert and copy into the ring; count what did not fit. Nothing else.
            move |data: &[T], _| {
                let pushed = prod.push_iter(data.iter().map(|&s| <f32 as cpal::FromSample<T>>::from_sample_(s)));
                if pushed < data.len() {
                    shared.dropped.fetch_add((data.len() - pushed) as u64, Ordering::Relaxed);
                }
            },
            move |err: cpal::Error| {
                if matches!(err.kind(), cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::StreamInvalidated) {
                    lost_flag.store(true, Ordering::Relaxed);
                }
            },
            None,
        )
    }

    /// Owns the stream; on loss reports it, retries every second, and hands the reader the new ring on return.
    pub(super) fn supervise(wanted: String, opened: Opened, shared: Arc<Shared>, tx: Sender<Feed>) {
        let mut current = Some(opened);
        let mut lost_since: Option<Instant> = None;
        while !shared.stop.load(Ordering::Relaxed) {
            match current.take() {
                Some(o) => {
                    let device = o.name.clone();
                    let Opened { stream, ring, rate, channels, lost, .. } = o;
                    if tx.send(Feed::Stream { ring, rate, channels }).is_err() {
                        return;
                    }
                    if lost_since.take().is_some()
                        && tx.send(Feed::Event(CaptureEvent::DeviceReturned { device: device.clone() })).is_err()
                    {
                        return;
                    }
                    while !lost.load(Ordering::Relaxed) && !shared.stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    drop(stream);
                    if shared.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    lost_since = Some(Instant::now());
                    let event = CaptureEvent::DeviceLost {
                        device: device.clone(),
                        reason: "the device stopped delivering audio".into(),
                    };
                    if tx.send(Feed::Event(event)).is_err() {
                        return;
                    }
                }
                None => {
                    std::thread::sleep(Duration::from_secs(1));
                    current = open(&wanted, &shared).ok();
                }
            }
        }
    }
}

pub use mic::input_devices;
