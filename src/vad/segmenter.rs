//! Turns per-chunk speech probabilities into utterances.
//!
//! Hysteresis: speech *starts* when the probability reaches `threshold` and stays at or above
//! `continue_threshold` for `min_speech_ms`; it *continues* while the probability stays at or above
//! `continue_threshold`; the utterance *ends* after `end_silence_ms` below it. The audio handed out keeps
//! `padding_ms` on each side (Whisper hears word onsets and endings better with a little context), and utterances
//! shorter than `min_segment_ms` are discarded (coughs, clicks).

use std::collections::VecDeque;

use super::{CHUNK, SAMPLE_RATE};
use crate::config::VadSettings;

/// What the segmenter saw in one chunk. Times are seconds since the start of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmenterEvent {
    /// Speech began at `start_s` (the first chunk over the threshold; reported `min_speech_ms` later).
    SpeechStarted { start_s: f32 },
    /// Still inside an utterance: `speaking` is false during a pause that may yet end it.
    Continuing { start_s: f32, now_s: f32, speaking: bool },
    /// The utterance is over: its speech spans `start_s..end_s`; `audio` (16 kHz) adds the padding on each side
    /// and begins at `audio_start_s` (less padding when the speech began right at the start of the stream).
    UtteranceEnded { audio: Vec<f32>, start_s: f32, end_s: f32, audio_start_s: f32 },
    /// Speech started but was shorter than `min_segment_ms`; forget it.
    Discarded { start_s: f32, end_s: f32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Silence,
    /// Probability crossed the threshold at sample `start`; not yet long enough to count.
    Candidate {
        start: u64,
    },
    /// Inside an utterance that began at `start`; the last speech chunk ended at `last_speech`, the last chunk at
    /// or above `threshold` at `last_sure`.
    Speech {
        start: u64,
        last_speech: u64,
        last_sure: u64,
    },
}

/// Probability + audio chunks in, [`SegmenterEvent`]s out. Keeps only the audio an utterance may need.
pub struct Segmenter {
    threshold: f32,
    continue_threshold: f32,
    min_speech: u64,
    end_silence: u64,
    padding: u64,
    min_segment: u64,
    state: State,
    /// Audio from sample `buf_start` on.
    buf: VecDeque<f32>,
    buf_start: u64,
    /// Samples seen so far.
    now: u64,
}

fn ms_to_samples(ms: u32) -> u64 {
    ms as u64 * SAMPLE_RATE as u64 / 1000
}

fn secs(samples: u64) -> f32 {
    (samples as f64 / SAMPLE_RATE as f64) as f32
}

impl Segmenter {
    pub fn new(settings: &VadSettings) -> Segmenter {
        let mut s = Segmenter {
            threshold: 0.0,
            continue_threshold: 0.0,
            min_speech: 0,
            end_silence: 0,
            padding: 0,
            min_segment: 0,
            state: State::Silence,
            buf: VecDeque::new(),
            buf_start: 0,
            now: 0,
        };
        s.retune(settings);
        s
    }

    /// Takes new thresholds and durations while running (the control panel's sliders); an utterance under way
    /// goes on and is ended by the new rules.
    pub fn retune(&mut self, settings: &VadSettings) {
        self.threshold = settings.threshold;
        self.continue_threshold = settings.continue_threshold.min(settings.threshold);
        self.min_speech = ms_to_samples(settings.min_speech_ms);
        // The VAD sees 32 ms chunks, so silence is counted in whole chunks, rounded to the nearest (450 ms is
        // 14 chunks, 448 ms): a pause of a full chunk more would merge utterances separated by 0.6 s.
        self.end_silence = (ms_to_samples(settings.end_silence_ms) as f64 / CHUNK as f64).round() as u64 * CHUNK as u64;
        self.padding = ms_to_samples(settings.padding_ms);
        self.min_segment = ms_to_samples(settings.min_segment_ms);
    }

    /// Seconds of audio seen so far.
    pub fn now_s(&self) -> f32 {
        secs(self.now)
    }

    /// Whether an utterance is in progress (started and not yet ended).
    pub fn in_utterance(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// The audio of the utterance in progress so far, padding before it included: what a partial transcript hears.
    pub fn utterance_so_far(&self) -> Option<Vec<f32>> {
        let State::Speech { start, .. } = self.state else { return None };
        Some(self.range(start.saturating_sub(self.padding), self.now))
    }

    /// The audio the utterance would have if it ended now: its speech plus padding on both sides, once the pause
    /// after the last speech is at least as long as the padding. Used to start the final transcript early.
    pub fn audio_if_ended_now(&self) -> Option<(Vec<f32>, f32, f32)> {
        let State::Speech { start, last_speech, last_sure } = self.state else { return None };
        if self.now < last_speech + self.padding || last_speech - start < self.min_segment {
            return None;
        }
        let audio = self.range(start.saturating_sub(self.padding), last_speech + self.padding);
        Some((audio, secs(start), secs(last_sure)))
    }

    fn range(&self, from: u64, to: u64) -> Vec<f32> {
        let from = from.max(self.buf_start);
        let to = to.min(self.now).max(from);
        self.buf.range((from - self.buf_start) as usize..(to - self.buf_start) as usize).copied().collect()
    }

    /// Feeds one chunk (normally `CHUNK` samples) and its speech probability.
    pub fn push(&mut self, probability: f32, chunk: &[f32], events: &mut Vec<SegmenterEvent>) {
        let chunk_start = self.now;
        self.now += chunk.len() as u64;
        self.buf.extend(chunk.iter().copied());
        let speech = probability >= self.continue_threshold;
        self.state = match self.state {
            State::Silence if probability >= self.threshold => self.candidate(chunk_start, events),
            State::Silence => State::Silence,
            State::Candidate { start } if speech => self.candidate(start, events),
            State::Candidate { .. } => State::Silence,
            State::Speech { start, last_sure, .. } if speech => {
                events.push(SegmenterEvent::Continuing { start_s: secs(start), now_s: secs(self.now), speaking: true });
                let last_sure = if probability >= self.threshold { self.now } else { last_sure };
                State::Speech { start, last_speech: self.now, last_sure }
            }
            State::Speech { start, last_speech, last_sure } if self.now - last_speech >= self.end_silence => {
                events.push(self.end(start, last_speech, last_sure));
                State::Silence
            }
            s @ State::Speech { start, .. } => {
                events.push(SegmenterEvent::Continuing {
                    start_s: secs(start),
                    now_s: secs(self.now),
                    speaking: false,
                });
                s
            }
        };
        self.trim();
    }

    /// Ends the stream: an utterance in progress ends at its last speech.
    pub fn finish(&mut self, events: &mut Vec<SegmenterEvent>) {
        if let State::Speech { start, last_speech, last_sure } = self.state {
            events.push(self.end(start, last_speech, last_sure));
        }
        self.state = State::Silence;
        self.trim();
    }

    fn candidate(&self, start: u64, events: &mut Vec<SegmenterEvent>) -> State {
        if self.now - start >= self.min_speech {
            events.push(SegmenterEvent::SpeechStarted { start_s: secs(start) });
            State::Speech { start, last_speech: self.now, last_sure: self.now }
        } else {
            State::Candidate { start }
        }
    }

    /// The utterance's speech ends where the VAD was last sure of it (`last_sure`): in noise the probability
    /// decays slowly through the band between the two thresholds after the last word, and that tail is not speech.
    /// Its audio still runs to the last chunk above `continue_threshold` plus padding, so it equals the audio of
    /// `audio_if_ended_now`.
    fn end(&self, start: u64, last_speech: u64, last_sure: u64) -> SegmenterEvent {
        let (start_s, end_s) = (secs(start), secs(last_sure));
        if last_speech - start < self.min_segment {
            return SegmenterEvent::Discarded { start_s, end_s };
        }
        let from = start.saturating_sub(self.padding);
        let audio = self.range(from, last_speech + self.padding);
        SegmenterEvent::UtteranceEnded { audio, start_s, end_s, audio_start_s: secs(from) }
    }

    /// Drops audio no utterance can need any more: in silence, all but the padding (plus the chunk that may turn
    /// into a start).
    fn trim(&mut self) {
        let keep_from = match self.state {
            State::Silence => self.now.saturating_sub(self.padding + CHUNK as u64),
            State::Candidate { start } | State::Speech { start, .. } => start.saturating_sub(self.padding),
        };
        if keep_from > self.buf_start {
            let n = ((keep_from - self.buf_start) as usize).min(self.buf.len());
            self.buf.drain(..n);
            self.buf_start += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the segmenter over a probability pattern, one chunk per entry; audio sample values count chunks.
    fn run(probs: &[f32]) -> Vec<SegmenterEvent> {
        let mut s = Segmenter::new(&VadSettings::default());
        let mut events = Vec::new();
        for (i, &p) in probs.iter().enumerate() {
            s.push(p, &[i as f32; CHUNK], &mut events);
        }
        s.finish(&mut events);
        events.retain(|e| !matches!(e, SegmenterEvent::Continuing { .. }));
        events
    }

    const C: f32 = CHUNK as f32 / 16000.0;

    #[test]
    fn retuned_end_silence_applies_to_the_next_pause() {
        // Speech, a 0.64 s pause, speech, silence: one utterance with a 2 s end silence, two once retuned to 0.3 s.
        let mut p = vec![0.9; 20];
        p.extend(vec![0.05; 20]);
        p.extend(vec![0.9; 20]);
        p.extend(vec![0.05; 80]);
        let ends = |retune_at: Option<usize>| {
            let mut s = Segmenter::new(&VadSettings { end_silence_ms: 2000, ..VadSettings::default() });
            let mut events = Vec::new();
            for (i, &prob) in p.iter().enumerate() {
                if retune_at == Some(i) {
                    s.retune(&VadSettings { end_silence_ms: 300, ..VadSettings::default() });
                }
                s.push(prob, &[0.0; CHUNK], &mut events);
            }
            events.iter().filter(|e| matches!(e, SegmenterEvent::UtteranceEnded { .. })).count()
        };
        assert_eq!(ends(None), 1);
        assert_eq!(ends(Some(10)), 2, "retuned while the first words were being said");
    }

    #[test]
    fn one_utterance_with_padding() {
        // 20 silent chunks, 30 speech chunks (0.96 s), 30 silent.
        let mut p = vec![0.1; 20];
        p.extend(vec![0.9; 30]);
        p.extend(vec![0.05; 30]);
        let ev = run(&p);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert!(matches!(ev[0], SegmenterEvent::SpeechStarted { start_s } if (start_s - 20.0 * C).abs() < 1e-4));
        let SegmenterEvent::UtteranceEnded { audio, start_s, end_s, .. } = &ev[1] else { panic!("{ev:?}") };
        assert!((start_s - 20.0 * C).abs() < 1e-4 && (end_s - 50.0 * C).abs() < 1e-4, "{start_s} {end_s}");
        // 125 ms padding = 2000 samples on each side.
        assert_eq!(audio.len(), 30 * CHUNK + 4000);
        assert_eq!(audio[0], 16.0, "padding starts 2000 samples (3.9 chunks) before the speech");
        assert_eq!(*audio.last().unwrap(), 53.0);
    }

    #[test]
    fn hysteresis_short_blips_and_pauses() {
        // A 2-chunk blip (64 ms < 150 ms minimum speech) starts nothing.
        let mut p = vec![0.1; 10];
        p.extend([0.8, 0.8, 0.1]);
        p.extend(vec![0.1; 20]);
        assert!(run(&p).is_empty());
        // A dip to 0.4 (above the continue threshold) and a 10-chunk pause (320 ms < 450 ms) keep one utterance.
        let mut p = vec![0.9; 20];
        p.extend([0.4, 0.4]);
        p.extend(vec![0.9; 10]);
        p.extend(vec![0.1; 10]);
        p.extend(vec![0.9; 10]);
        p.extend(vec![0.0; 20]);
        let ev = run(&p);
        assert_eq!(ev.iter().filter(|e| matches!(e, SegmenterEvent::UtteranceEnded { .. })).count(), 1, "{ev:?}");
        // Two utterances separated by 20 chunks (640 ms) of silence.
        let mut p = vec![0.9; 20];
        p.extend(vec![0.0; 20]);
        p.extend(vec![0.9; 20]);
        let ev = run(&p);
        assert_eq!(ev.iter().filter(|e| matches!(e, SegmenterEvent::UtteranceEnded { .. })).count(), 2, "{ev:?}");
    }

    #[test]
    fn audio_if_ended_now_matches_the_final_audio() {
        let mut s = Segmenter::new(&VadSettings::default());
        let mut events = Vec::new();
        let mut early = None;
        let probs: Vec<f32> = [vec![0.0; 10], vec![0.9; 20], vec![0.0; 20]].concat();
        for (i, &p) in probs.iter().enumerate() {
            s.push(p, &[i as f32; CHUNK], &mut events);
            if early.is_none() {
                early = s.audio_if_ended_now();
            }
        }
        let (early_audio, ..) = early.expect("offered after the padding's worth of pause");
        let Some(SegmenterEvent::UtteranceEnded { audio, .. }) =
            events.iter().find(|e| matches!(e, SegmenterEvent::UtteranceEnded { .. }))
        else {
            panic!("{events:?}")
        };
        assert_eq!(&early_audio, audio);
    }
}
