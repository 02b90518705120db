//! Playback: a queue of pieces played to the speakers (or a WAV file standing in for them), with a published
//! position saying which piece and which of its samples is being heard now.
//!
//! Three parts, each on its own thread:
//! - [`Playback`] (any thread): enqueue pieces, set the volume, flush; read [`PlaybackPosition`].
//! - the feeder: converts each piece from its rate to the output's with [`Resampler`] and pushes it into a
//!   lock-free ring, with a marker saying where the piece starts;
//! - the output: the cpal callback (or the WAV writer) pops samples from the ring and publishes the position. It
//!   never allocates, locks or logs: everything it touches was allocated before it started.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringbuf::HeapRb;
use ringbuf::traits::{Consumer, Observer, Producer, Split};

use super::Resampler;

/// Identifies a piece handed to [`Playback::enqueue`]; ids count up from 1.
pub type PieceId = u64;

const SAMPLE_BITS: u32 = 40;
const SAMPLE_MASK: u64 = (1 << SAMPLE_BITS) - 1;

/// What is being heard, readable from any thread without locks. Piece and sample are packed in one atomic so a
/// reader never sees one piece's id with another's sample.
#[derive(Debug, Default)]
pub struct PlaybackPosition {
    packed: AtomicU64,
    playing: AtomicBool,
    /// Output frames handed to the device since the start (silence included).
    frames_out: AtomicU64,
}

impl PlaybackPosition {
    fn publish(&self, piece: PieceId, sample: u64, playing: bool) {
        self.packed.store((piece << SAMPLE_BITS) | (sample & SAMPLE_MASK), Ordering::Release);
        self.playing.store(playing, Ordering::Release);
    }

    /// The piece being heard and the index of its sample (at the piece's own rate), or `None` before anything
    /// has played. After a piece ends this keeps the piece's last position with `is_playing() == false`.
    pub fn now(&self) -> Option<(PieceId, u64)> {
        let p = self.packed.load(Ordering::Acquire);
        let piece = p >> SAMPLE_BITS;
        (piece != 0).then_some((piece, p & SAMPLE_MASK))
    }

    /// True while a piece is sounding.
    pub fn is_playing(&self) -> bool {
        self.playing.load(Ordering::Acquire)
    }

    /// The seconds into `piece` that are being heard, if `piece` is the one playing.
    pub fn seconds_into(&self, piece: PieceId, piece_rate: u32) -> Option<f64> {
        match self.now() {
            Some((p, s)) if p == piece => Some(s as f64 / piece_rate as f64),
            _ => None,
        }
    }

    pub fn frames_out(&self) -> u64 {
        self.frames_out.load(Ordering::Acquire)
    }
}

/// Where a piece sits in the stream of output samples.
#[derive(Debug, Clone, Copy)]
struct Marker {
    id: PieceId,
    /// Index of its first output sample in the stream.
    start: u64,
    /// Its length in output samples.
    len: u64,
    src_rate: u32,
    out_rate: u32,
}

/// State shared between the handle, the feeder and the output.
#[derive(Debug)]
struct Shared {
    position: Arc<PlaybackPosition>,
    volume: AtomicU32,
    /// Output samples pushed into the ring so far.
    written: AtomicU64,
    /// Output samples taken out of the ring so far.
    read: AtomicU64,
    /// Every sample before this index is to be dropped unheard.
    flush_to: AtomicU64,
    /// Counts flushes, so the feeder drops the pieces it was given before one.
    generation: AtomicU64,
    /// Pieces handed over and not yet fully pushed into the ring.
    pending: AtomicU64,
    stop: AtomicBool,
    out_rate: u32,
}

/// The output side: called with each device buffer. Allocation-free.
struct Renderer {
    samples: ringbuf::HeapCons<f32>,
    markers: ringbuf::HeapCons<Marker>,
    shared: Arc<Shared>,
    read: u64,
    current: Option<Marker>,
    /// Copies of what was played (after the volume), for echo cancellation; dropped when nobody reads them.
    tap: ringbuf::HeapProd<f32>,
}

impl Renderer {
    /// Fills `out` (interleaved, `channels` per frame); `delay_frames` is how long the device takes to play what it
    /// is given now, so the published position is what is heard rather than what was handed over.
    fn render(&mut self, out: &mut [f32], channels: usize, delay_frames: u64) {
        let channels = channels.max(1);
        let flush_to = self.shared.flush_to.load(Ordering::Acquire);
        if self.read < flush_to {
            let drop = ((flush_to - self.read) as usize).min(self.samples.occupied_len());
            self.read += self.samples.skip(drop) as u64;
        }
        let volume = f32::from_bits(self.shared.volume.load(Ordering::Relaxed));
        let mut popped = 0u64;
        for frame in out.chunks_mut(channels) {
            let v = match self.samples.try_pop() {
                Some(s) => {
                    self.read += 1;
                    popped += 1;
                    (s * volume).clamp(-1.0, 1.0)
                }
                None => 0.0,
            };
            frame.fill(v);
            let _ = self.tap.try_push(v);
        }
        self.shared.read.store(self.read, Ordering::Release);
        let frames = (out.len() / channels) as u64;
        self.shared.position.frames_out.fetch_add(frames, Ordering::AcqRel);
        // The sample being heard: the first of this buffer, less what the device still holds. When the queue ran
        // dry within this buffer, what follows is silence: the position moves past the last sample played.
        let first = if popped < frames { self.read } else { self.read - popped };
        let heard = first.saturating_sub(delay_frames);
        loop {
            if let Some(m) = self.current
                && heard < m.start + m.len
            {
                break;
            }
            match self.markers.try_pop() {
                Some(m) => self.current = Some(m),
                None => break,
            }
        }
        match self.current {
            Some(m) if heard >= m.start && heard < m.start + m.len => {
                let s = (heard - m.start) as u128 * m.src_rate as u128 / m.out_rate as u128;
                self.shared.position.publish(m.id, s as u64, true);
            }
            Some(m) if heard >= m.start + m.len => {
                let s = m.len as u128 * m.src_rate as u128 / m.out_rate as u128;
                self.shared.position.publish(m.id, s as u64, false);
            }
            _ => {
                if let Some((id, s)) = self.shared.position.now() {
                    self.shared.position.publish(id, s, false);
                }
            }
        }
    }
}

struct PieceMsg {
    id: PieceId,
    samples: Vec<f32>,
    rate: u32,
    generation: u64,
}

/// The feeder: resamples pieces and pushes them into the ring as room appears.
fn feeder(
    rx: mpsc::Receiver<PieceMsg>,
    mut samples: ringbuf::HeapProd<f32>,
    mut markers: ringbuf::HeapProd<Marker>,
    shared: Arc<Shared>,
) {
    let out_rate = shared.out_rate;
    let mut written = 0u64;
    let mut buf = Vec::new();
    let mut resamplers: Vec<(u32, Resampler)> = Vec::new();
    while let Ok(piece) = rx.recv() {
        let done = |shared: &Shared| {
            shared.pending.fetch_sub(1, Ordering::AcqRel);
        };
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        if piece.generation != shared.generation.load(Ordering::Acquire) || piece.samples.is_empty() {
            done(&shared);
            continue;
        }
        let len = (piece.samples.len() as u128 * out_rate as u128 / piece.rate as u128) as u64;
        let marker = Marker { id: piece.id, start: written, len, src_rate: piece.rate, out_rate };
        while markers.try_push(marker).is_err() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let r = match resamplers.iter().position(|(rate, _)| *rate == piece.rate) {
            Some(i) => &mut resamplers[i].1,
            None => {
                resamplers.push((piece.rate, Resampler::new(piece.rate, out_rate)));
                &mut resamplers.last_mut().expect("just pushed").1
            }
        };
        let mut pushed = 0u64;
        let blocks = piece.samples.chunks(2048).map(Some).chain(std::iter::once(None));
        'piece: for block in blocks {
            buf.clear();
            match block {
                Some(b) => r.process(b, &mut buf),
                None => {
                    r.finish(&mut buf);
                    // Exactly the length the marker promised.
                    let left = len.saturating_sub(pushed) as usize;
                    buf.resize(left, 0.0);
                }
            }
            let mut from = 0;
            while from < buf.len() {
                if piece.generation != shared.generation.load(Ordering::Acquire) || shared.stop.load(Ordering::Acquire)
                {
                    // Flushed while being fed: the rest of this piece is dropped.
                    r.finish(&mut Vec::new());
                    break 'piece;
                }
                let take = (buf.len() - from).min((len - pushed) as usize);
                let n = samples.push_slice(&buf[from..from + take]);
                from += n;
                pushed += n as u64;
                written += n as u64;
                shared.written.store(written, Ordering::Release);
                if pushed >= len {
                    break;
                }
                if n == 0 {
                    std::thread::sleep(Duration::from_millis(3));
                }
            }
        }
        done(&shared);
    }
}

/// How a WAV file stands in for speakers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavPace {
    /// Like a sound card: one block every block-duration, silence when nothing is queued.
    RealTime,
    /// As fast as the queue fills; no silence between pieces.
    AsFastAsPossible,
}

/// Why playback could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("no audio output device{}; available: {available}. Set `audio.output_device` to one of these (empty for the default), or write to a file with -o", if .name.is_empty() { String::new() } else { format!(" named \"{}\"", .name) })]
    NoDevice { name: String, available: String },
    #[error("the audio output \"{name}\" could not be opened: {reason}")]
    Open { name: String, reason: String },
    #[error("{path}: cannot write the WAV file: {reason}")]
    Wav { path: PathBuf, reason: String },
}

/// Playback to an output: enqueue pieces, change the volume, flush, and read the position.
pub struct Playback {
    tap: std::sync::Mutex<Option<ringbuf::HeapCons<f32>>>,
    shared: Arc<Shared>,
    tx: Option<mpsc::Sender<PieceMsg>>,
    next_id: PieceId,
    feeder: Option<JoinHandle<()>>,
    output: Option<JoinHandle<Result<(), PlaybackError>>>,
}

/// Room for 20 s of output; pieces longer than that are fed as it drains.
fn ring_capacity(rate: u32) -> usize {
    rate as usize * 20
}

impl Playback {
    fn start(out_rate: u32, volume: f32) -> (Playback, Renderer) {
        let shared = Arc::new(Shared {
            position: Arc::new(PlaybackPosition::default()),
            volume: AtomicU32::new(volume.clamp(0.0, 2.0).to_bits()),
            written: AtomicU64::new(0),
            read: AtomicU64::new(0),
            flush_to: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            out_rate,
        });
        let (sp, sc) = HeapRb::<f32>::new(ring_capacity(out_rate)).split();
        let (mp, mc) = HeapRb::<Marker>::new(1024).split();
        let (tx, rx) = mpsc::channel();
        let fs = shared.clone();
        let feeder = std::thread::Builder::new()
            .name("playback-feeder".into())
            .spawn(move || feeder(rx, sp, mp, fs))
            .expect("spawning a thread");
        // Four seconds of room: the echo canceller reads this on the listener's thread, which a busy machine may
        // hold up for a while; what does not fit is lost to the canceller's reference.
        let (tp, tc) = HeapRb::<f32>::new(4 * out_rate as usize).split();
        let renderer = Renderer { samples: sc, markers: mc, shared: shared.clone(), read: 0, current: None, tap: tp };
        let tap = std::sync::Mutex::new(Some(tc));
        (Playback { shared, tx: Some(tx), next_id: 1, feeder: Some(feeder), output: None, tap }, renderer)
    }

    /// Plays to the output device named `name` (empty: the system default) through cpal.
    pub fn open_device(name: &str, volume: f32) -> Result<Playback, PlaybackError> {
        use cpal::traits::{DeviceTrait, HostTrait};
        let host = cpal::default_host();
        let mut names = Vec::new();
        let mut found = None;
        if let Ok(devices) = host.output_devices() {
            for d in devices {
                let n = d.description().map(|d| d.name().to_owned()).unwrap_or_default();
                if !name.is_empty() && found.is_none() && (n == name || d.id().is_ok_and(|id| id.to_string() == name)) {
                    found = Some(d);
                }
                names.push(n);
            }
        }
        if name.is_empty() {
            found = host.default_output_device();
        }
        let available = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        let device = found.ok_or_else(|| PlaybackError::NoDevice { name: name.to_owned(), available })?;
        let shown = device.description().map(|d| d.name().to_owned()).unwrap_or_else(|_| name.to_owned());
        let open_err = |reason: String| PlaybackError::Open { name: shown.clone(), reason };
        let config = device.default_output_config().map_err(|e| open_err(e.to_string()))?;
        let rate = config.sample_rate();
        let (mut pb, renderer) = Playback::start(rate, volume);
        let (ready_tx, ready_rx) = mpsc::channel();
        let shared = pb.shared.clone();
        let output = std::thread::Builder::new()
            .name("playback-output".into())
            .spawn(move || run_device(device, config, renderer, shared, ready_tx))
            .expect("spawning a thread");
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {
                pb.output = Some(output);
                Ok(pb)
            }
            Ok(Err(reason)) => Err(open_err(reason)),
            Err(_) => Err(open_err("the device did not start within 10 s".into())),
        }
    }

    /// Plays into a 16-bit WAV file at `rate` instead of speakers.
    pub fn open_wav(path: &Path, rate: u32, pace: WavPace, volume: f32) -> Result<Playback, PlaybackError> {
        let wav_err = |reason: String| PlaybackError::Wav { path: path.to_owned(), reason };
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|e| wav_err(e.to_string()))?;
        let (mut pb, renderer) = Playback::start(rate, volume);
        let shared = pb.shared.clone();
        let p = path.to_owned();
        pb.output = Some(
            std::thread::Builder::new()
                .name("playback-wav".into())
                .spawn(move || run_wav(writer, renderer, shared, pace, p))
                .expect("spawning a thread"),
        );
        Ok(pb)
    }

    /// The samples actually played (mono, at the output rate, volume applied), in order, for echo cancellation.
    /// One reader only: the first call takes it. Up to one second is kept when nobody reads fast enough.
    pub fn take_played(&self) -> Option<ringbuf::HeapCons<f32>> {
        self.tap.lock().ok()?.take()
    }

    /// The output's sample rate.
    pub fn output_rate(&self) -> u32 {
        self.shared.out_rate
    }

    /// Queues a piece (mono, any rate) after those already queued; returns its id for [`PlaybackPosition`].
    pub fn enqueue(&mut self, samples: Vec<f32>, rate: u32) -> PieceId {
        let id = self.next_id;
        self.next_id += 1;
        if rate == 0 {
            return id;
        }
        if let Some(tx) = &self.tx {
            self.shared.pending.fetch_add(1, Ordering::AcqRel);
            let generation = self.shared.generation.load(Ordering::Acquire);
            if tx.send(PieceMsg { id, samples, rate, generation }).is_err() {
                self.shared.pending.fetch_sub(1, Ordering::AcqRel);
            }
        }
        id
    }

    /// Drops everything queued and stops the sound within one device buffer.
    pub fn flush(&self) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        // What the feeder pushed after this point belongs to dropped pieces too; it stops within one block, and
        // the output drops up to what has been written when it next looks.
        let w = self.shared.written.load(Ordering::Acquire);
        self.shared.flush_to.fetch_max(w, Ordering::AcqRel);
        let shared = self.shared.clone();
        // Catch the block the feeder may have been pushing while we flushed.
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            let w = shared.written.load(Ordering::Acquire);
            shared.flush_to.fetch_max(w, Ordering::AcqRel);
        });
    }

    /// 0.0 to 2.0; takes effect on the next device buffer.
    pub fn set_volume(&self, volume: f32) {
        self.shared.volume.store(volume.clamp(0.0, 2.0).to_bits(), Ordering::Relaxed);
    }

    /// The published position, to hand to the avatar and subtitles.
    pub fn position(&self) -> Arc<PlaybackPosition> {
        self.shared.position.clone()
    }

    /// True when everything queued has been played (or flushed).
    pub fn is_idle(&self) -> bool {
        self.shared.pending.load(Ordering::Acquire) == 0
            && self.shared.read.load(Ordering::Acquire).max(self.shared.flush_to.load(Ordering::Acquire))
                >= self.shared.written.load(Ordering::Acquire)
    }

    /// Waits until everything queued has played, or `timeout` passes; true when idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while !self.is_idle() {
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Plays what is queued to the end, then closes the output (finishing a WAV file).
    pub fn finish(mut self) -> Result<(), PlaybackError> {
        while !self.is_idle() {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.close()
    }

    fn close(&mut self) -> Result<(), PlaybackError> {
        self.shared.stop.store(true, Ordering::Release);
        self.tx = None;
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
        match self.output.take().map(|o| o.join()) {
            Some(Ok(r)) => r,
            _ => Ok(()),
        }
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn run_device(
    device: cpal::Device,
    config: cpal::SupportedStreamConfig,
    mut renderer: Renderer,
    shared: Arc<Shared>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Result<(), PlaybackError> {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let channels = config.channels() as usize;
    let rate = config.sample_rate() as f64;
    let format = config.sample_format();
    let stream_config: cpal::StreamConfig = config.into();
    let err_fn = |_e: cpal::Error| {};
    let delay = move |info: &cpal::OutputCallbackInfo| -> u64 {
        let ts = info.timestamp();
        (ts.playback.duration_since(ts.callback).as_secs_f64() * rate) as u64
    };
    let stream = match format {
        cpal::SampleFormat::F32 => device.build_output_stream(
            stream_config,
            move |data: &mut [f32], info: &cpal::OutputCallbackInfo| renderer.render(data, channels, delay(info)),
            err_fn,
            None,
        ),
        cpal::SampleFormat::I16 => {
            // Converted in place through a buffer allocated here, once, large enough for any callback.
            let mut scratch = vec![0.0f32; 1 << 16];
            device.build_output_stream(
                stream_config,
                move |data: &mut [i16], info: &cpal::OutputCallbackInfo| {
                    let n = data.len().min(scratch.len());
                    renderer.render(&mut scratch[..n], channels, delay(info));
                    for (d, s) in data.iter_mut().zip(&scratch[..n]) {
                        *d = (s * 32767.0) as i16;
                    }
                },
                err_fn,
                None,
            )
        }
        other => {
            let _ = ready.send(Err(format!("sample format {other} is not supported (f32 or i16 are)")));
            return Ok(());
        }
    };
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return Ok(());
        }
    };
    if let Err(e) = stream.play() {
        let _ = ready.send(Err(e.to_string()));
        return Ok(());
    }
    let _ = ready.send(Ok(()));
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stream);
    Ok(())
}

fn run_wav(
    mut writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    mut renderer: Renderer,
    shared: Arc<Shared>,
    pace: WavPace,
    path: PathBuf,
) -> Result<(), PlaybackError> {
    let wav_err = |e: hound::Error| PlaybackError::Wav { path: path.clone(), reason: e.to_string() };
    let block = (shared.out_rate as usize / 100).max(1);
    let mut buf = vec![0.0f32; block];
    let started = Instant::now();
    let mut frames = 0u64;
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        let available = shared.written.load(Ordering::Acquire).saturating_sub(renderer.read) as usize;
        match pace {
            WavPace::AsFastAsPossible => {
                if available == 0 {
                    if stopping {
                        break;
                    }
                    // Let the position show the end of the last piece.
                    renderer.render(&mut [], 1, 0);
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                let n = available.min(block);
                renderer.render(&mut buf[..n], 1, 0);
                for &s in &buf[..n] {
                    writer.write_sample((s * 32767.0).round() as i16).map_err(wav_err)?;
                }
            }
            WavPace::RealTime => {
                if stopping {
                    break;
                }
                renderer.render(&mut buf, 1, 0);
                for &s in &buf {
                    writer.write_sample((s * 32767.0).round() as i16).map_err(wav_err)?;
                }
                frames += block as u64;
                let due = started + Duration::from_secs_f64(frames as f64 / shared.out_rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    writer.finalize().map_err(wav_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize, rate: u32, f: f32) -> Vec<f32> {
        (0..n).map(|i| 0.5 * (2.0 * std::f32::consts::PI * f * i as f32 / rate as f32).sin()).collect()
    }

    #[test]
    fn wav_sink_plays_pieces_in_order_at_the_output_rate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let mut pb = Playback::open_wav(&path, 48_000, WavPace::AsFastAsPossible, 1.0).unwrap();
        let a = pb.enqueue(tone(24_000, 24_000, 440.0), 24_000);
        let b = pb.enqueue(tone(11_025, 22_050, 880.0), 22_050);
        assert_eq!((a, b), (1, 2));
        let pos = pb.position();
        pb.finish().unwrap();
        assert_eq!(pos.now().map(|p| p.0), Some(2), "the last piece was heard last");
        assert!(!pos.is_playing());
        let audio = crate::audio::read_wav(&path).unwrap();
        assert_eq!(audio.sample_rate, 48_000);
        assert_eq!(audio.samples.len(), 48_000 + 24_000);
        let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        assert!((rms(&audio.samples[1000..47_000]) - 0.354).abs() < 0.02);
    }

    #[test]
    fn real_time_position_volume_and_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt.wav");
        let mut pb = Playback::open_wav(&path, 16_000, WavPace::RealTime, 1.0).unwrap();
        let pos = pb.position();
        let id = pb.enqueue(tone(16_000 * 3, 16_000, 300.0), 16_000);
        std::thread::sleep(Duration::from_millis(400));
        let (p, s) = pos.now().expect("playing");
        assert_eq!(p, id);
        assert!(pos.is_playing());
        // Part-way, not at the start or end (the exact figure depends on the machine's load).
        assert!(s > 0 && s < 16_000 * 3, "{s}");
        pb.set_volume(0.0);
        std::thread::sleep(Duration::from_millis(100));
        pb.flush();
        assert!(pb.wait_idle(Duration::from_secs(2)), "flush empties the queue");
        let later = pb.enqueue(tone(1600, 16_000, 300.0), 16_000);
        pb.set_volume(1.0);
        pb.finish().unwrap();
        assert_eq!(pos.now().map(|p| p.0), Some(later));
        let audio = crate::audio::read_wav(&path).unwrap();
        assert!(audio.samples.len() < 16_000 * 2, "the flushed piece did not play to its end");
    }
}
