//! Per-turn latency: each stage stamps the moment it happened; the breakdown is derived from the stamps.

use std::time::Instant;

use super::status::TurnLatency;

/// The moments of one turn, as they happen. Later stamps of the same stage are ignored (the first counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnClock {
    pub end_of_speech: Instant,
    pub final_transcript: Option<Instant>,
    pub request_sent: Option<Instant>,
    pub first_token: Option<Instant>,
    pub first_chunk: Option<Instant>,
    pub first_audio: Option<Instant>,
    pub first_played: Option<Instant>,
}

/// The stages a turn passes through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    FinalTranscript,
    RequestSent,
    FirstToken,
    FirstChunk,
    FirstAudio,
    FirstPlayed,
}

impl TurnClock {
    /// A turn whose user speech ended at `end_of_speech` (the VAD's end of the utterance, not the moment the
    /// silence was confirmed: the confirmation wait is part of what the user feels).
    pub fn new(end_of_speech: Instant) -> TurnClock {
        TurnClock {
            end_of_speech,
            final_transcript: None,
            request_sent: None,
            first_token: None,
            first_chunk: None,
            first_audio: None,
            first_played: None,
        }
    }

    /// Records the first time `stage` happened.
    pub fn stamp(&mut self, stage: Stage, at: Instant) {
        let slot = match stage {
            Stage::FinalTranscript => &mut self.final_transcript,
            Stage::RequestSent => &mut self.request_sent,
            Stage::FirstToken => &mut self.first_token,
            Stage::FirstChunk => &mut self.first_chunk,
            Stage::FirstAudio => &mut self.first_audio,
            Stage::FirstPlayed => &mut self.first_played,
        };
        slot.get_or_insert(at);
    }

    /// Each stage as the time since the end of speech.
    pub fn latency(&self) -> TurnLatency {
        let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(self.end_of_speech));
        TurnLatency {
            final_transcript: since(self.final_transcript),
            request_sent: since(self.request_sent),
            first_token: since(self.first_token),
            first_chunk: since(self.first_chunk),
            first_audio: since(self.first_audio),
            first_played: since(self.first_played),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_stamp_counts_and_latency_is_from_end_of_speech() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut c = TurnClock::new(t0);
        c.stamp(Stage::FinalTranscript, t0 + ms(90));
        c.stamp(Stage::FirstToken, t0 + ms(300));
        c.stamp(Stage::FirstToken, t0 + ms(400));
        let l = c.latency();
        assert_eq!(l.final_transcript, Some(ms(90)));
        assert_eq!(l.first_token, Some(ms(300)));
        assert_eq!(l.first_played, None);
    }
}
