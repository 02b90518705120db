//! `persona bench thinking`: the client's own latency, against a local [`ScriptServer`].
//!
//! "Added latency" is the time from the first byte of the reply leaving the server's socket to the first speakable
//! chunk coming out of the [`ReplyProcessor`]: HTTP, SSE and JSON parsing, tag parsing, chunking and normalisation.
//! The server sends the whole reply at once, so nothing of the model's own speed is in the figure.

use std::time::Instant;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::reply::{ReplyEvent, ReplyOptions, ReplyProcessor};
use super::script::{ScriptServer, ScriptedReply};
use super::{ChatModel, Message, OpenAiClient, StreamEvent};
use crate::bench::{median, percentile};
use crate::cli::Context;
use crate::config::LlmSettings;

const REPLY: &str = "[EMOTION:😊] Oh, that is a lovely question, and I have thought about it before! \
    Octopuses have three hearts, blue blood and about 500 million neurons. Isn't that wild?";

pub fn run(_ctx: &Context) -> anyhow::Result<()> {
    let server = ScriptServer::start(ScriptedReply::text(REPLY))?;
    let settings = LlmSettings { endpoint: server.url(), model: "scripted".into(), ..LlmSettings::default() };
    let client = OpenAiClient::new(&settings)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let runs = 60;
    let warmup = 5;
    let mut added = Vec::new();
    let mut request_to_chunk = Vec::new();
    for i in 0..runs {
        let (t0, t_chunk) = rt.block_on(async {
            let t0 = Instant::now();
            let mut stream = client.chat(vec![Message::user("tell me something")], CancellationToken::new());
            let mut p = ReplyProcessor::new(ReplyOptions::default());
            while let Some(ev) = stream.next().await {
                if let Ok(StreamEvent::Content(c)) = ev
                    && p.push(&c).iter().any(|e| matches!(e, ReplyEvent::Chunk(_)))
                {
                    return Ok((t0, Instant::now()));
                }
            }
            anyhow::bail!("the scripted reply gave no speakable chunk")
        })?;
        let first_byte = server.first_bytes().get(i).copied().unwrap_or(t0);
        if i >= warmup {
            added.push(t_chunk.saturating_duration_since(first_byte).as_secs_f64() * 1000.0);
            request_to_chunk.push((t_chunk - t0).as_secs_f64() * 1000.0);
        }
    }
    println!(
        "client added latency (first byte on the socket → first speakable chunk): median {:.3} ms, p95 {:.3} ms ({} runs)",
        median(&mut added),
        percentile(&mut added, 95.0),
        added.len()
    );
    println!(
        "request sent → first speakable chunk (loopback, server answers at once): median {:.3} ms",
        median(&mut request_to_chunk)
    );

    // The reply processor alone: cost per token.
    let tokens = super::script::tokens(&REPLY.repeat(20));
    let mut per_token = crate::bench::time_ms(20, || {
        let mut p = ReplyProcessor::new(ReplyOptions::default());
        let mut n = 0;
        for t in &tokens {
            n += p.push(t).len();
        }
        n + p.finish().len()
    });
    let ms = median(&mut per_token);
    println!(
        "reply processor (tags, chunker, normalisation): {:.2} µs per token, median over {} tokens",
        ms * 1000.0 / tokens.len() as f64,
        tokens.len()
    );
    Ok(())
}
