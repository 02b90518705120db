//! The probe's reply check, shared by `persona llm probe` and the control panel's Probe button.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{ChatModel, LlmError, Message, StreamEvent};

/// Why the probe's short request gave no reply.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "the server is up but sent no token within {0:.0} s: a model still loading, or a slow machine? Probe again, or allow more time"
    )]
    NoToken(f32),
    #[error(transparent)]
    Llm(#[from] LlmError),
}

/// Asks for a few words and returns the time to the first token and the start of the reply (whitespace folded,
/// at most `shown_chars` chars). After the first token it waits at most 1.5 s more, just to show some text.
pub async fn first_reply(
    client: &dyn ChatModel,
    timeout: Duration,
    shown_chars: usize,
) -> Result<(Duration, String), ProbeError> {
    let started = Instant::now();
    let mut stream = client.chat(vec![Message::user("Say hello in five words or fewer.")], CancellationToken::new());
    let mut first: Option<Duration> = None;
    let mut text = String::new();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            e = stream.next() => e,
            _ = &mut deadline => match first {
                Some(_) => break,
                None => return Err(ProbeError::NoToken(timeout.as_secs_f32())),
            },
        };
        match event {
            Some(Ok(StreamEvent::Content(c) | StreamEvent::Reasoning(c))) => {
                if first.is_none() {
                    first = Some(started.elapsed());
                    let soon = tokio::time::Instant::now() + Duration::from_millis(1500);
                    if soon < deadline.deadline() {
                        deadline.as_mut().reset(soon);
                    }
                }
                text.push_str(&c);
            }
            Some(Ok(StreamEvent::Done)) | None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
    let shown: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(shown_chars).collect();
    Ok((first.unwrap_or_else(|| started.elapsed()), shown))
}
