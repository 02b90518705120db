//! What can go wrong talking to an LLM server, each case worded as what happened and what to do.

use std::time::Duration;

/// A failed chat request. `Display` is written for the person at the keyboard: what happened, then what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("llm.endpoint \"{endpoint}\" is not a usable URL ({reason}); write it like \"http://127.0.0.1:11434/v1\"")]
    BadEndpoint { endpoint: String, reason: String },

    #[error("{key}: {reason}")]
    BadSetting { key: String, reason: String },

    #[error(
        "{url} answered {status}: the API key was refused{}. Set llm.api_key to a valid key for this server",
        detail(.message)
    )]
    Unauthorized { url: String, status: u16, message: String },

    #[error(
        "{url} answered 404 Not Found{}. Check that llm.model (\"{model}\") is a model this server has \
         (`persona llm probe` lists them; Ollama: `ollama pull {model}`) and that llm.endpoint is the API's base URL, \
         usually ending in /v1",
        detail(.message)
    )]
    NotFound { url: String, model: String, message: String },

    #[error(
        "{url} answered 429 Too Many Requests{}: the server is rate limiting. {}",
        detail(.message),
        match .retry_after { Some(d) => format!("It asked to wait {} s before trying again", d.as_secs_f32().ceil()), None => "Wait a little, or use a plan or server with higher limits".into() }
    )]
    RateLimited { url: String, retry_after: Option<Duration>, message: String },

    #[error("{url} answered {status}: the server failed{}. Check the server's own log; it may be loading the model or out of memory", detail(.message))]
    Server { url: String, status: u16, message: String },

    #[error("{url} answered {status}: the server rejected the request{}. Check llm.model, llm.max_tokens and llm.extra_headers", detail(.message))]
    Rejected { url: String, status: u16, message: String },

    #[error(
        "cannot connect to {endpoint} ({reason}). Start your LLM server (Ollama, LM Studio, llama.cpp server, ...) \
         or set llm.endpoint to where it listens"
    )]
    Connect { endpoint: String, reason: String },

    #[error(
        "{endpoint} did not answer within {} s. Is the server busy loading a model? Raise llm.connect_timeout_s if it is just slow",
        secs(*.after)
    )]
    ConnectTimeout { endpoint: String, after: Duration },

    #[error(
        "the reply stalled: nothing arrived for {} s. The server may be overloaded or stuck; raise llm.idle_timeout_s for very slow models",
        secs(*.after)
    )]
    Stalled { after: Duration },

    #[error(
        "the reply was cut off: the connection closed before the server said it was done ([DONE]). The server may have \
         crashed or a proxy dropped the stream; try again"
    )]
    Truncated,

    #[error(
        "the server sent a line that is not JSON ({reason}): {}. Is llm.endpoint an OpenAI-compatible API?",
        shorten(.line)
    )]
    NotJson { line: String, reason: String },

    #[error("the server reported an error in the middle of the reply: {message}")]
    StreamError { message: String },

    #[error("the connection to the server broke ({reason}); try again")]
    Network { reason: String },

    #[error("the reply was cancelled")]
    Cancelled,
}

impl LlmError {
    /// Whether trying the same request again may help (only ever done before the first token arrives).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. }
                | LlmError::Server { .. }
                | LlmError::Connect { .. }
                | LlmError::ConnectTimeout { .. }
                | LlmError::Stalled { .. }
                | LlmError::Truncated
                | LlmError::Network { .. }
        )
    }
}

fn detail(message: &str) -> String {
    if message.trim().is_empty() { String::new() } else { format!(" (\"{}\")", shorten(message.trim())) }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f32();
    if s.fract() == 0.0 { format!("{s:.0}") } else { format!("{s:.1}") }
}

/// At most 200 characters of something a server sent, on one line.
pub(crate) fn shorten(s: &str) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= 200 {
        one_line
    } else {
        format!("{}…", one_line.chars().take(200).collect::<String>())
    }
}

/// The human part of an error body: `{"error":{"message":...}}`, `{"error":"..."}`, `{"message":...}`, or the text.
pub(crate) fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let found = v
            .get("error")
            .and_then(|e| e.get("message").and_then(|m| m.as_str()).or(e.as_str()))
            .or_else(|| v.get("message").and_then(|m| m.as_str()))
            .or_else(|| v.get("detail").and_then(|m| m.as_str()));
        if let Some(m) = found {
            return m.to_owned();
        }
    }
    shorten(body.trim())
}
