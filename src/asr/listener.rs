//! The listening side of a conversation: capture → Silero VAD → segmenter → transcripts, on two threads.
//!
//! The audio thread reads 16 kHz audio, runs the VAD on each 32 ms chunk and the segmenter on its probability,
//! and sends transcription jobs to the ASR thread. While the user speaks, the utterance so far is transcribed
//! every `partial_interval_ms` (partial transcripts, for barge-in and the UI). As soon as a pause is as long as the
//! padding, the utterance *as it would be if it ended now* is transcribed ahead of time ("early final"): if the
//! pause turns out to end the utterance, that audio is exactly the utterance's audio and the final transcript is
//! ready the moment the silence is confirmed, instead of one Whisper run later. If the user speaks on, the early
//! result is thrown away. A partial that a newer job supersedes is skipped, so the ASR thread never falls behind.
//!
//! Everything the listener sees comes out as [`ListenEvent`]s on a channel, each stamped with a monotonic
//! [`Instant`], so latencies (end of speech → final transcript) fall out of the data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Transcriber, Transcript};
use crate::audio::capture::{Capture, CaptureControls, CaptureEvent, Captured};
use crate::config::{AsrSettings, VadSettings};
use crate::vad::{CHUNK, Segmenter, SegmenterEvent, SileroVad};

/// How much transcription work happens while the user is still speaking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListenerOptions {
    /// Transcribe the utterance so far this often (audio time); 0 = no partial transcripts.
    pub partial_interval_ms: u32,
    /// Start the final transcript during the end-of-utterance pause (see the module docs).
    pub early_final: bool,
}

impl ListenerOptions {
    pub fn from_settings(asr: &AsrSettings) -> ListenerOptions {
        ListenerOptions { partial_interval_ms: asr.partial_interval_ms, early_final: true }
    }

    /// No work before the utterance ends: the baseline the partial work is measured against.
    pub fn final_only() -> ListenerOptions {
        ListenerOptions { partial_interval_ms: 0, early_final: false }
    }
}

/// An event and when it happened.
#[derive(Debug, Clone)]
pub struct ListenEvent {
    pub at: Instant,
    pub kind: ListenEventKind,
}

/// Times (`*_s`) are seconds since the start of the input. Utterances are numbered from 1.
#[derive(Debug, Clone)]
pub enum ListenEventKind {
    SpeechStarted {
        utterance: u64,
        start_s: f32,
    },
    /// What has been said so far in an utterance still in progress, over its first `audio_s` seconds.
    Partial {
        utterance: u64,
        text: String,
        audio_s: f32,
    },
    /// The segmenter confirmed the end of an utterance (after `vad.end_silence_ms` of silence).
    SpeechEnded {
        utterance: u64,
        start_s: f32,
        end_s: f32,
    },
    /// The final transcript. Its times are relative to `audio_start_s` (the utterance's audio includes padding).
    /// `early` tells whether it came from the work done during the pause.
    Final {
        utterance: u64,
        transcript: Transcript,
        start_s: f32,
        end_s: f32,
        audio_start_s: f32,
        early: bool,
    },
    /// Speech too short to be an utterance (a cough, a click).
    Discarded {
        utterance: u64,
    },
    Capture(CaptureEvent),
    /// A failure that does not stop listening (a transcription failed) or, from the VAD, one that does.
    Error(String),
    /// The input ended and every utterance has its final transcript.
    Ended,
}

enum Job {
    Partial { utterance: u64, audio: Vec<f32> },
    Early { utterance: u64, audio: Vec<f32> },
    Final { utterance: u64, audio: Vec<f32>, start_s: f32, end_s: f32, audio_start_s: f32 },
    Discard { utterance: u64 },
    End,
}

impl Job {
    fn utterance(&self) -> Option<u64> {
        match self {
            Job::Partial { utterance, .. }
            | Job::Early { utterance, .. }
            | Job::Final { utterance, .. }
            | Job::Discard { utterance } => Some(*utterance),
            Job::End => None,
        }
    }
}

/// A running listener. Dropping it (or [`Listener::stop`]) stops both threads.
pub struct Listener {
    stop: Arc<AtomicBool>,
    /// New VAD settings for the running segmenter.
    retune: Sender<VadSettings>,
    controls: CaptureControls,
    probability: Arc<AtomicU32>,
    threads: Vec<JoinHandle<()>>,
}

impl Listener {
    /// Starts listening to `capture`; events arrive on the returned channel.
    pub fn start(
        capture: Capture,
        vad: SileroVad,
        vad_settings: &VadSettings,
        transcriber: Box<dyn Transcriber>,
        options: ListenerOptions,
    ) -> std::io::Result<(Listener, Receiver<ListenEvent>)> {
        let (events, rx) = channel();
        let (jobs, job_rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let probability = Arc::new(AtomicU32::new(0));
        let controls = capture.controls();
        let (retune, retunes) = channel();
        let audio = {
            let (stop, probability, events) = (stop.clone(), probability.clone(), events.clone());
            let segmenter = Segmenter::new(vad_settings);
            std::thread::Builder::new().name("persona-listen".into()).spawn(move || {
                AudioLoop { capture, vad, segmenter, retunes, options, events, jobs, probability, utterance: 0 }
                    .run(&stop)
            })?
        };
        let asr = std::thread::Builder::new()
            .name("persona-asr".into())
            .spawn(move || asr_loop(transcriber, job_rx, events))?;
        Ok((Listener { stop, retune, controls, probability, threads: vec![audio, asr] }, rx))
    }

    /// Mute switch and input level.
    pub fn controls(&self) -> &CaptureControls {
        &self.controls
    }

    /// New thresholds and durations for finding utterances, from the next chunk on.
    pub fn set_vad(&self, settings: &VadSettings) {
        let _ = self.retune.send(settings.clone());
    }

    /// The VAD's speech probability for the latest chunk (for a meter).
    pub fn vad_probability(&self) -> f32 {
        f32::from_bits(self.probability.load(Ordering::Relaxed))
    }

    /// Stops and waits for the threads (a transcription in progress finishes first).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct AudioLoop {
    capture: Capture,
    vad: SileroVad,
    segmenter: Segmenter,
    retunes: Receiver<VadSettings>,
    options: ListenerOptions,
    events: Sender<ListenEvent>,
    jobs: Sender<Job>,
    probability: Arc<AtomicU32>,
    utterance: u64,
}

impl AudioLoop {
    fn emit(&self, kind: ListenEventKind) {
        let _ = self.events.send(ListenEvent { at: Instant::now(), kind });
    }

    fn run(mut self, stop: &AtomicBool) {
        let mut pending: Vec<f32> = Vec::with_capacity(16_000);
        let mut seg_events = Vec::new();
        let mut last_partial_s = 0.0f32;
        let mut early_sent = false;
        let interval_s = self.options.partial_interval_ms as f32 / 1000.0;
        while !stop.load(Ordering::Relaxed) {
            while let Ok(settings) = self.retunes.try_recv() {
                self.segmenter.retune(&settings);
            }
            let ended = match self.capture.read(&mut pending, Duration::from_millis(50)) {
                Captured::Audio => false,
                Captured::Idle => continue,
                Captured::Event(e) => {
                    self.emit(ListenEventKind::Capture(e));
                    continue;
                }
                Captured::Ended => true,
            };
            let mut used = 0;
            while pending.len() - used >= CHUNK || (ended && pending.len() > used) {
                let chunk = &pending[used..(used + CHUNK).min(pending.len())];
                used += chunk.len();
                let p = match self.vad.process(chunk) {
                    Ok(p) => p,
                    Err(e) => {
                        self.emit(ListenEventKind::Error(e.to_string()));
                        let _ = self.jobs.send(Job::End);
                        return;
                    }
                };
                self.probability.store(p.to_bits(), Ordering::Relaxed);
                self.segmenter.push(p, chunk, &mut seg_events);
                for ev in seg_events.drain(..) {
                    match ev {
                        SegmenterEvent::SpeechStarted { start_s } => {
                            self.utterance += 1;
                            last_partial_s = start_s;
                            early_sent = false;
                            self.emit(ListenEventKind::SpeechStarted { utterance: self.utterance, start_s });
                        }
                        SegmenterEvent::Continuing { speaking: true, .. } => early_sent = false,
                        SegmenterEvent::Continuing { .. } => {}
                        ev => self.ended(ev),
                    }
                }
                if !self.segmenter.in_utterance() {
                    continue;
                }
                let now_s = self.segmenter.now_s();
                if interval_s > 0.0
                    && now_s - last_partial_s >= interval_s
                    && let Some(audio) = self.segmenter.utterance_so_far()
                {
                    last_partial_s = now_s;
                    let _ = self.jobs.send(Job::Partial { utterance: self.utterance, audio });
                }
                if self.options.early_final
                    && !early_sent
                    && let Some((audio, ..)) = self.segmenter.audio_if_ended_now()
                {
                    early_sent = true;
                    let _ = self.jobs.send(Job::Early { utterance: self.utterance, audio });
                }
            }
            pending.drain(..used);
            if ended {
                self.segmenter.finish(&mut seg_events);
                for ev in seg_events.drain(..) {
                    self.ended(ev);
                }
                break;
            }
        }
        let _ = self.jobs.send(Job::End);
    }

    /// An utterance's end (or its dismissal).
    fn ended(&mut self, ev: SegmenterEvent) {
        let utterance = self.utterance;
        match ev {
            SegmenterEvent::UtteranceEnded { audio, start_s, end_s, audio_start_s } => {
                self.emit(ListenEventKind::SpeechEnded { utterance, start_s, end_s });
                let _ = self.jobs.send(Job::Final { utterance, audio, start_s, end_s, audio_start_s });
            }
            SegmenterEvent::Discarded { .. } => {
                self.emit(ListenEventKind::Discarded { utterance });
                let _ = self.jobs.send(Job::Discard { utterance });
            }
            _ => {}
        }
    }
}

fn asr_loop(mut transcriber: Box<dyn Transcriber>, jobs: Receiver<Job>, events: Sender<ListenEvent>) {
    let emit = |kind| {
        let _ = events.send(ListenEvent { at: Instant::now(), kind });
    };
    // The early final: utterance, its audio length, and the transcript.
    let mut early: Option<(u64, usize, Transcript)> = None;
    let mut discarded: Option<u64> = None;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        for (i, job) in batch.iter().enumerate() {
            // Partial and early work that a later job of the same utterance supersedes is skipped.
            let superseded = matches!(job, Job::Partial { .. } | Job::Early { .. })
                && batch[i + 1..].iter().any(|later| later.utterance() == job.utterance());
            if superseded || (discarded.is_some() && job.utterance() == discarded) {
                continue;
            }
            match job {
                Job::Partial { utterance, audio } => match transcriber.transcribe(audio) {
                    Ok(t) if !t.text.is_empty() => emit(ListenEventKind::Partial {
                        utterance: *utterance,
                        text: t.text,
                        audio_s: audio.len() as f32 / super::SAMPLE_RATE as f32,
                    }),
                    Ok(_) => {}
                    Err(e) => emit(ListenEventKind::Error(e.to_string())),
                },
                Job::Early { utterance, audio } => match transcriber.transcribe(audio) {
                    Ok(t) => early = Some((*utterance, audio.len(), t)),
                    Err(e) => emit(ListenEventKind::Error(e.to_string())),
                },
                Job::Final { utterance, audio, start_s, end_s, audio_start_s } => {
                    let reuse = match early.take() {
                        Some((u, len, t)) if u == *utterance && len == audio.len() => Some(t),
                        _ => None,
                    };
                    let is_early = reuse.is_some();
                    let result = match reuse {
                        Some(t) => Ok(t),
                        None => transcriber.transcribe(audio),
                    };
                    match result {
                        Ok(transcript) => emit(ListenEventKind::Final {
                            utterance: *utterance,
                            transcript,
                            start_s: *start_s,
                            end_s: *end_s,
                            audio_start_s: *audio_start_s,
                            early: is_early,
                        }),
                        Err(e) => emit(ListenEventKind::Error(e.to_string())),
                    }
                }
                Job::Discard { utterance } => discarded = Some(*utterance),
                Job::End => {
                    emit(ListenEventKind::Ended);
                    return;
                }
            }
        }
    }
}
