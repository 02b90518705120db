//! The prompt: system message, context, and the history that fits the budget.
//!
//! Messages sent: one system message (the character's personality with `{{char}}`, `{{user}}`, `{{time}}` filled
//! in, then the context: topics and current vibe), then the history as alternating `user` / `assistant` messages,
//! then the current user message.
//!
//! Why roles and not `[User]text` / `[Mira]text` transcripts (what peer apps send): every chat template (Llama,
//! Qwen, Gemma, Mistral, ChatML...) already marks who speaks, so a name prefix only teaches the model to write one
//! (which we then must strip) and to continue the transcript with the user's next line. Why one system message:
//! several templates (Gemma, Mistral, some Qwen builds in llama.cpp) reject a second system message or one that is
//! not first, so the context goes into the first. Why strictly alternating: the same templates raise an error when
//! two user messages follow each other (which happens after a failed reply), so consecutive messages of one side
//! are joined, and the history starts with a user message.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Message;
use crate::character::Character;
use crate::config::{ConversationSettings, LlmSettings};

/// Who said a line of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    User,
    Character,
}

/// One line of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
    /// The reply was cut off; `text` is the part that was heard.
    #[serde(default)]
    pub interrupted: bool,
}

/// The conversation so far, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    turns: Vec<Turn>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    pub fn from_turns(turns: Vec<Turn>) -> History {
        History { turns }
    }

    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    pub fn push_user(&mut self, text: &str) {
        self.turns.push(Turn { speaker: Speaker::User, text: text.trim().to_owned(), interrupted: false });
    }

    /// A reply heard in full.
    pub fn push_character(&mut self, text: &str) {
        if !text.trim().is_empty() {
            self.turns.push(Turn { speaker: Speaker::Character, text: text.trim().to_owned(), interrupted: false });
        }
    }

    /// A reply cut off after `heard_chars` chars of its display text were heard: only that part is kept, backed up
    /// to the end of the last whole word, and marked interrupted (also when everything received so far was heard:
    /// the rest of the reply was never said). Returns the turn kept, or `None` when nothing was
    /// heard (then the reply is left out, as if never said).
    pub fn push_interrupted(&mut self, text: &str, heard_chars: usize) -> Option<&Turn> {
        let chars: Vec<char> = text.chars().collect();
        let mut end = heard_chars.min(chars.len());
        // Inside a word: drop the partial word.
        if end > 0 && end < chars.len() && chars[end].is_alphanumeric() && chars[end - 1].is_alphanumeric() {
            while end > 0 && !chars[end - 1].is_whitespace() {
                end -= 1;
            }
        }
        let kept: String = chars[..end].iter().collect();
        let kept = kept.trim();
        if kept.is_empty() {
            return None;
        }
        self.turns.push(Turn { speaker: Speaker::Character, text: kept.to_owned(), interrupted: true });
        self.turns.last()
    }

    pub fn clear(&mut self) {
        self.turns.clear();
    }
}

/// Rough token count of a text: about four bytes a token for English, more tokens for other scripts (which take
/// more bytes a character), plus a few for the message's framing. Good enough for a budget.
pub fn approx_tokens(text: &str) -> usize {
    text.len().div_ceil(4) + 4
}

/// Everything that goes before the history, and the budget for the history.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub system: String,
    pub max_turns: usize,
    pub max_tokens: usize,
}

impl Prompt {
    /// The prompt for `character` talking with the user of `conversation`, at `time` (for `{{time}}`).
    pub fn new(character: &Character, llm: &LlmSettings, conversation: &ConversationSettings, time: &str) -> Prompt {
        let mut system = character.system_prompt(&conversation.user_name, time).trim_end().to_owned();
        if let Some(context) = context_text(conversation) {
            system.push_str("\n\n");
            system.push_str(&context);
        }
        Prompt { system, max_turns: llm.history_turns as usize, max_tokens: llm.history_tokens as usize }
    }

    /// The messages for a request answering `user_text`. The system message and `user_text` are always there; the
    /// history gives way, oldest first, to at most `max_turns` lines and about `max_tokens` tokens.
    pub fn messages(&self, history: &History, user_text: &str) -> Vec<Message> {
        let mut budget = self.max_tokens;
        let mut kept = 0;
        for t in history.turns.iter().rev() {
            let cost = approx_tokens(&t.text);
            if kept >= self.max_turns || cost > budget {
                break;
            }
            budget -= cost;
            kept += 1;
        }
        let whole = kept == history.turns.len();
        let mut recent = &history.turns[history.turns.len() - kept..];
        let mut opening = Vec::new();
        while let Some(first) = recent.first().filter(|t| t.speaker == Speaker::Character) {
            opening.push(first.text.as_str());
            recent = &recent[1..];
        }
        let mut system = self.system.clone();
        // The character spoke first (a greeting): templates want the user first, so the opening line goes into the
        // system message. A character line left first only by trimming is dropped with the rest of the old turns.
        if whole && !opening.is_empty() {
            system.push_str(&format!("\n\nYou opened the conversation by saying: \"{}\"", opening.join(" ")));
        }
        let mut out: Vec<Message> = vec![Message::system(system)];
        let lines = recent
            .iter()
            .map(|t| match t.speaker {
                Speaker::User => Message::user(&t.text),
                Speaker::Character if t.interrupted => Message::assistant(format!("{}…", t.text)),
                Speaker::Character => Message::assistant(&t.text),
            })
            .chain(std::iter::once(Message::user(user_text.trim())));
        for m in lines {
            let joins = out.len() > 1;
            match out.last_mut() {
                Some(last) if last.role == m.role && joins => {
                    last.content.push('\n');
                    last.content.push_str(&m.content);
                }
                _ => out.push(m),
            }
        }
        out
    }
}

/// The context paragraph: current topics and vibe, when set.
pub fn context_text(conversation: &ConversationSettings) -> Option<String> {
    let topics: Vec<&str> = conversation.topics.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    let mut lines = Vec::new();
    if !topics.is_empty() {
        lines.push(format!("Current topics: {}.", topics.join(", ")));
    }
    if !conversation.vibe.trim().is_empty() {
        lines.push(format!("Current vibe: {}", conversation.vibe.trim()));
    }
    (!lines.is_empty()).then(|| format!("Context:\n{}", lines.join("\n")))
}

/// The local time for `{{time}}`, like "Sunday 14:05".
pub fn local_time() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let secs = secs + local_offset_secs(secs);
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    format!("{} {:02}:{:02}", DAYS[days.rem_euclid(7) as usize], in_day / 3600, in_day % 3600 / 60)
}

#[cfg(unix)]
fn local_offset_secs(t: i64) -> i64 {
    // SAFETY: localtime_r writes only into the `tm` we own; `t` is a valid time_t.
    unsafe {
        let tt = t as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() { 0 } else { tm.tm_gmtoff as i64 }
    }
}

#[cfg(not(unix))]
fn local_offset_secs(_t: i64) -> i64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(turns: usize, tokens: usize) -> Prompt {
        Prompt { system: "sys".into(), max_turns: turns, max_tokens: tokens }
    }

    #[test]
    fn budget_trims_oldest_and_keeps_alternation() {
        let mut h = History::new();
        for i in 0..10 {
            h.push_user(&format!("u{i}"));
            h.push_character(&format!("c{i}"));
        }
        let m = prompt(3, 1000).messages(&h, "now");
        // 3 turns allowed: c8? no: u9 c9 and c8 would be 3, but a history may not start with the character.
        assert_eq!(m.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), vec!["sys", "u9", "c9", "now"]);
        let m = prompt(100, 0).messages(&h, "now");
        assert_eq!(m.len(), 2, "system and the current message survive any budget");
    }

    #[test]
    fn unanswered_user_messages_are_joined() {
        let mut h = History::new();
        h.push_user("hello?");
        let m = prompt(10, 1000).messages(&h, "are you there");
        assert_eq!(m[1], Message::user("hello?\nare you there"));
    }

    #[test]
    fn interrupted_keeps_heard_words() {
        let mut h = History::new();
        let t = h.push_interrupted("Octopuses have three hearts and blue blood.", 22).unwrap();
        assert_eq!((t.text.as_str(), t.interrupted), ("Octopuses have three", true));
        assert!(h.push_interrupted("Hello there", 0).is_none());
        let m = prompt(10, 1000).messages(&h, "wait");
        assert_eq!(m.len(), 2, "history may not start with the character");
        assert!(m[0].content.ends_with("You opened the conversation by saying: \"Octopuses have three\""));
    }
}
