//! What the audience hears right now: the pieces queued for playback with their timelines, read against the
//! playback position. Lip sync, emotion expressions and subtitles follow this, never the text as generated.

use std::sync::{Arc, Mutex};

use crate::audio::playback::{PieceId, PlaybackPosition};
use crate::lipsync::{LipSync, LoudnessTrack, MouthParams};
use crate::tts::Timeline;

/// One piece of a reply as it was queued for playback.
#[derive(Debug, Clone)]
pub struct SpokenPiece {
    pub id: PieceId,
    pub turn: u64,
    /// The chunk's index within its reply, and where its display text sits in the reply's display text.
    pub chunk: usize,
    pub display_start: usize,
    pub display_len: usize,
    /// What is said (the spoken text the timeline's char offsets index).
    pub text: String,
    pub sample_rate: u32,
    pub samples: usize,
    pub timeline: Timeline,
    pub loudness: LoudnessTrack,
    /// Expressions that start in this piece: (seconds into the piece, expression name).
    pub expressions: Vec<(f64, String)>,
}

impl SpokenPiece {
    pub fn duration_s(&self) -> f64 {
        self.samples as f64 / self.sample_rate.max(1) as f64
    }

    /// Chars of `text` heard completely by `t` seconds into the piece (whole words only).
    pub fn heard_chars_at(&self, t: f64) -> usize {
        if t >= self.duration_s() {
            return self.text.chars().count();
        }
        self.timeline.words.iter().filter(|w| w.end_s <= t).map(|w| w.char_end).max().unwrap_or(0)
    }
}

/// What is being heard at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub piece: PieceId,
    pub turn: u64,
    pub chunk: usize,
    /// Seconds into the piece.
    pub t: f64,
    pub playing: bool,
}

/// The pieces queued for playback, shared between the speaking side (writer) and whoever follows the sound.
#[derive(Clone)]
pub struct Stage {
    pieces: Arc<Mutex<Vec<SpokenPiece>>>,
    position: Arc<PlaybackPosition>,
    /// Expressions asked for outside any reply (the control panel's preview buttons), not yet shown.
    previews: Arc<Mutex<Vec<String>>>,
}

/// Pieces kept for lookups; older ones have long been heard.
const KEEP: usize = 64;

impl Stage {
    pub fn new(position: Arc<PlaybackPosition>) -> Stage {
        Stage { pieces: Arc::new(Mutex::new(Vec::new())), position, previews: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Asks whoever draws the avatar to show `expression` now (a preview, not tied to any audio).
    pub fn preview_expression(&self, expression: String) {
        self.previews.lock().unwrap_or_else(|e| e.into_inner()).push(expression);
    }

    /// The previews asked for since the last call.
    pub fn take_previews(&self) -> Vec<String> {
        std::mem::take(&mut *self.previews.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn add(&self, piece: SpokenPiece) {
        let mut pieces = self.pieces.lock().unwrap_or_else(|e| e.into_inner());
        pieces.push(piece);
        let n = pieces.len();
        if n > KEEP {
            pieces.drain(..n - KEEP);
        }
    }

    /// The pieces of one turn, in order.
    pub fn pieces_of(&self, turn: u64) -> Vec<SpokenPiece> {
        let pieces = self.pieces.lock().unwrap_or_else(|e| e.into_inner());
        pieces.iter().filter(|p| p.turn == turn).cloned().collect()
    }

    /// What the playback position says is heard now.
    pub fn heard(&self) -> Option<Heard> {
        let (id, sample) = self.position.now()?;
        let pieces = self.pieces.lock().unwrap_or_else(|e| e.into_inner());
        let p = pieces.iter().find(|p| p.id == id)?;
        Some(Heard {
            piece: id,
            turn: p.turn,
            chunk: p.chunk,
            t: sample as f64 / p.sample_rate.max(1) as f64,
            playing: self.position.is_playing(),
        })
    }

    /// The mouth now: from the phoneme timeline (and loudness) of the piece being heard, at rest otherwise.
    pub fn mouth(&self, lipsync: &LipSync) -> MouthParams {
        let Some((id, sample)) = self.position.now() else { return MouthParams::default() };
        let pieces = self.pieces.lock().unwrap_or_else(|e| e.into_inner());
        match pieces.iter().find(|p| p.id == id) {
            Some(p) => {
                // After the piece ends the position stays on its last sample; the smoothing takes the mouth to rest.
                let t = sample as f64 / p.sample_rate.max(1) as f64;
                let t = if self.position.is_playing() { t } else { t + 1.0 };
                lipsync.sample_speech(&p.timeline, &p.loudness, t)
            }
            None => MouthParams::default(),
        }
    }

    /// The words of the piece being heard, and the index of the one sounding (for subtitles).
    pub fn words_now(&self) -> Option<(Vec<(String, f64, f64)>, f64)> {
        let (id, sample) = self.position.now()?;
        if !self.position.is_playing() {
            return None;
        }
        let pieces = self.pieces.lock().unwrap_or_else(|e| e.into_inner());
        let p = pieces.iter().find(|p| p.id == id)?;
        let words = p.timeline.words.iter().map(|w| (w.text.clone(), w.start_s, w.end_s)).collect();
        Some((words, sample as f64 / p.sample_rate.max(1) as f64))
    }

    /// Expressions whose time has come in the piece being heard, after `after` (piece, seconds) was reported.
    pub fn expressions_due(&self, after: &mut Option<(PieceId, f64)>) -> Vec<String> {
        let Some((id, sample)) = self.position.now() else { return Vec::new() };
        let pieces = self.pieces.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = pieces.iter().find(|p| p.id == id) else { return Vec::new() };
        let t = if self.position.is_playing() { sample as f64 / p.sample_rate.max(1) as f64 } else { f64::INFINITY };
        let from = match *after {
            Some((pid, s)) if pid == id => s,
            _ => f64::NEG_INFINITY,
        };
        let due: Vec<String> =
            p.expressions.iter().filter(|(at, _)| *at > from && *at <= t).map(|(_, e)| e.clone()).collect();
        *after = Some((id, t.min(p.duration_s() + 1.0)));
        due
    }
}
