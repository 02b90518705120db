//! Thinking: everything between a transcript and the sentences that will be spoken.
//!
//! - [`client`]: [`OpenAiClient`], a streaming client for any OpenAI-compatible `/chat/completions` endpoint, behind
//!   the small [`ChatModel`] trait, with [`sse`] parsing the event stream and [`LlmError`] saying what to do.
//! - [`prompt`]: the system prompt with its context, and [`History`] trimmed to a budget; an interrupted reply
//!   keeps only what was heard ("heard up to character N").
//! - [`reply`]: [`ReplyProcessor`], fed token by token: emotion tags and the `[Name]` prefix come out ([`tags`]),
//!   the text is cut into speakable pieces as early as is natural ([`chunker`]) and normalised for speech
//!   ([`speech`]).
//! - [`transcript`]: the per-character JSONL log that lets a conversation resume after a restart or a crash.
//! - [`script`]: [`ScriptServer`], a real OpenAI-compatible HTTP server on loopback that replays scripted replies
//!   and faults, for tests, benchmarks and end-to-end runs without a model.
//!
//! Data flows one way: `ChatModel` events → `ReplyProcessor` → `SpeechChunk`s for the voice, and display text and
//! emotions for the screen.

pub mod bench;
pub mod chunker;
pub mod client;
pub mod error;
pub mod probe;
pub mod prompt;
pub mod reply;
pub mod script;
pub mod speech;
pub mod sse;
pub mod tags;
pub mod transcript;

use std::pin::Pin;

use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use client::OpenAiClient;
pub use error::LlmError;
pub use prompt::{History, Prompt, Speaker, Turn};
pub use reply::{ReplyEvent, ReplyProcessor, SpeechChunk};
pub use script::{Fault, ScriptServer, ScriptedReply, StreamFormat};
pub use transcript::TranscriptLog;

/// Who wrote a chat message, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One message of a chat request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(text: impl Into<String>) -> Message {
        Message { role: Role::System, content: text.into() }
    }
    pub fn user(text: impl Into<String>) -> Message {
        Message { role: Role::User, content: text.into() }
    }
    pub fn assistant(text: impl Into<String>) -> Message {
        Message { role: Role::Assistant, content: text.into() }
    }
}

/// Token counts the server reported for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// What a streaming chat request yields, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of the reply (what the character says).
    Content(String),
    /// A piece of the model's reasoning (`reasoning_content`, or text inside `<think>...</think>`): for the UI, never
    /// spoken.
    Reasoning(String),
    /// Token counts, when the server sends them (usually just before the end).
    Usage(Usage),
    /// The server said the reply is complete (`data: [DONE]`). Nothing follows.
    Done,
}

/// A stream of events for one reply; it ends after `Done` or after the first error.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

/// The character's mind: anything that streams a reply to a list of messages.
///
/// Cancelling `cancel` ends the stream at once with [`LlmError::Cancelled`] and drops the connection, so the server
/// stops generating. Dropping the stream does the same. Must be called inside a tokio runtime.
pub trait ChatModel: Send + Sync {
    fn chat(&self, messages: Vec<Message>, cancel: CancellationToken) -> EventStream;
}
