//! What the running conversation shows to the UI and the logs, and the commands it takes from them.
//!
//! The pipeline owns a [`SharedStatus`] and updates it as things happen; the control panel and the log read
//! snapshots. Commands flow the other way over a channel as [`Control`] values, so no UI code reaches into a stage.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

/// Where the conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    /// Waiting for the user to speak.
    #[default]
    Idle,
    /// The user is speaking.
    Listening,
    /// The reply is being requested and no audio is playing yet.
    Thinking,
    /// The character's voice is playing.
    Speaking,
    /// The user cut in; the reply is being stopped.
    Interrupted,
    /// The last turn failed; the next one may work.
    Error,
}

impl ConversationState {
    pub fn label(self) -> &'static str {
        match self {
            ConversationState::Idle => "idle",
            ConversationState::Listening => "listening",
            ConversationState::Thinking => "thinking",
            ConversationState::Speaking => "speaking",
            ConversationState::Interrupted => "interrupted",
            ConversationState::Error => "error",
        }
    }
}

/// The stages of one turn, each measured from the end of the user's speech.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct TurnLatency {
    pub final_transcript: Option<Duration>,
    pub request_sent: Option<Duration>,
    pub first_token: Option<Duration>,
    pub first_chunk: Option<Duration>,
    pub first_audio: Option<Duration>,
    pub first_played: Option<Duration>,
}

impl TurnLatency {
    /// Stage names and values in pipeline order, for printing and the dashboard.
    pub fn stages(&self) -> [(&'static str, Option<Duration>); 6] {
        [
            ("final transcript", self.final_transcript),
            ("request sent", self.request_sent),
            ("first token", self.first_token),
            ("first chunk", self.first_chunk),
            ("first audio", self.first_audio),
            ("first played", self.first_played),
        ]
    }

    /// One line: "final transcript 120 ms | request sent 121 ms | ...".
    pub fn summary(&self) -> String {
        self.stages()
            .iter()
            .map(|(name, d)| match d {
                Some(d) => format!("{name} {} ms", d.as_millis()),
                None => format!("{name} -"),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// Health of one service, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub enum Health {
    #[default]
    Unknown,
    Ok,
    /// Working, with a note (e.g. "no device: headless").
    Degraded(String),
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    User,
    Character,
}

/// One line of the live transcript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptLine {
    pub speaker: Speaker,
    pub text: String,
    /// Still being spoken (a partial transcript, or a reply still streaming).
    pub partial: bool,
    pub interrupted: bool,
}

/// A snapshot of everything the UI shows about the running conversation.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Status {
    pub state: ConversationState,
    pub muted: bool,
    pub turns: u64,
    /// Turns whose audio was played (the average's denominator).
    pub turns_with_audio: u64,
    pub interruptions: u64,
    pub last_latency: Option<TurnLatency>,
    /// Mean end of speech → first played, over the turns that got that far.
    pub average_first_played: Option<Duration>,
    pub llm: Health,
    pub microphone: Health,
    pub tts: Health,
    /// Input level, 0..1 (RMS, for the meter).
    pub input_level: f32,
    /// Latest VAD speech probability.
    pub vad_probability: f32,
    /// The last lines of the conversation, oldest first.
    pub transcript: VecDeque<TranscriptLine>,
    /// The last error, for the dashboard.
    pub last_error: Option<String>,
}

/// Lines of transcript kept for the dashboard.
pub const TRANSCRIPT_LINES: usize = 200;

impl Status {
    /// Adds a finished turn's latency to the last/average figures.
    pub fn record_turn(&mut self, latency: TurnLatency) {
        self.turns += 1;
        if let Some(played) = latency.first_played {
            self.turns_with_audio += 1;
            let n = self.turns_with_audio as u32;
            let prev = self.average_first_played.unwrap_or_default();
            self.average_first_played = Some((prev * (n - 1) + played) / n);
        }
        self.last_latency = Some(latency);
    }

    /// Appends or updates the transcript: a partial line is replaced by the next line of the same speaker.
    pub fn push_line(&mut self, line: TranscriptLine) {
        if let Some(last) = self.transcript.back_mut()
            && last.speaker == line.speaker
            && last.partial
        {
            *last = line;
            return;
        }
        if self.transcript.len() == TRANSCRIPT_LINES {
            self.transcript.pop_front();
        }
        self.transcript.push_back(line);
    }
}

/// The status shared between the pipeline (writer) and its viewers.
pub type SharedStatus = Arc<RwLock<Status>>;

/// Commands from the UI (or a keyboard shortcut) to the running conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Mute or unmute the microphone.
    SetMuted(bool),
    /// Stop the current reply (LLM stream, synthesis, playback).
    StopTurn,
    /// Ask again for a reply to the last user message.
    Retry,
    /// The settings changed (already validated): apply what can be applied live.
    SettingsChanged(Box<crate::config::Settings>),
    /// The character's personality file changed.
    PersonalityChanged,
    /// Speak this text with the current voice (voice audition).
    Audition(String),
    /// Show this expression on the avatar for a moment (the expression preview of the control panel).
    PreviewExpression(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_counts_only_turns_with_audio() {
        let mut s = Status::default();
        let ms = Duration::from_millis;
        s.record_turn(TurnLatency { first_played: Some(ms(400)), ..Default::default() });
        s.record_turn(TurnLatency::default());
        s.record_turn(TurnLatency { first_played: Some(ms(600)), ..Default::default() });
        assert_eq!((s.turns, s.average_first_played), (3, Some(ms(500))));
        assert!(s.last_latency.unwrap().summary().starts_with("final transcript -"));
    }

    #[test]
    fn partial_lines_are_replaced() {
        let mut s = Status::default();
        let line =
            |speaker, text: &str, partial| TranscriptLine { speaker, text: text.into(), partial, interrupted: false };
        s.push_line(line(Speaker::User, "hel", true));
        s.push_line(line(Speaker::User, "hello there", false));
        s.push_line(line(Speaker::Character, "Hi", false));
        assert_eq!(s.transcript.len(), 2);
        assert_eq!(s.transcript[0].text, "hello there");
    }
}
