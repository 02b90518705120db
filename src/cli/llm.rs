//! `persona llm probe`: is the LLM server there, does it have the model, does it answer?

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::llm::{ChatModel, LlmError, Message, OpenAiClient, StreamEvent};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check llm.endpoint and llm.model: list the server's models, then ask for a short reply.
    Probe {
        /// Seconds allowed for each step.
        #[arg(long, default_value_t = 5.0)]
        timeout: f32,
    },
}

pub fn run(config: Option<&Path>, cmd: Command) -> anyhow::Result<ExitCode> {
    let ctx = Context::load(config)?;
    match cmd {
        Command::Probe { timeout } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let ok = rt.block_on(probe(&ctx, Duration::from_secs_f32(timeout.clamp(0.1, 600.0))));
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

async fn probe(ctx: &Context, timeout: Duration) -> bool {
    let mut settings = ctx.settings.llm.clone();
    settings.connect_timeout_s = timeout.as_secs_f32();
    settings.idle_timeout_s = timeout.as_secs_f32();
    settings.retries = 0;
    settings.max_tokens = settings.max_tokens.min(24);
    let client = match OpenAiClient::new(&settings) {
        Ok(c) => c,
        Err(e) => {
            println!("endpoint  FAIL  {e}");
            return false;
        }
    };
    let model = settings.model.clone();
    match client.list_models(timeout).await {
        Ok(models) => {
            println!("endpoint  ok    {} answers ({} model(s))", settings.endpoint, models.len());
            if models.contains(&model) {
                println!("model     ok    \"{model}\" is available");
            } else if models.is_empty() {
                println!("model     ?     the server lists no models; trying \"{model}\" anyway");
            } else {
                println!("model     warn  \"{model}\" is not in the list: {}", models.join(", "));
                println!(
                    "                set llm.model to one of these (llama.cpp and LM Studio answer with any name)"
                );
            }
        }
        Err(
            e @ (LlmError::Connect { .. }
            | LlmError::ConnectTimeout { .. }
            | LlmError::Unauthorized { .. }
            | LlmError::BadEndpoint { .. }),
        ) => {
            println!("endpoint  FAIL  {e}");
            return false;
        }
        Err(e) => println!("endpoint  ?     GET /models failed ({e}); trying a reply anyway"),
    }
    let started = Instant::now();
    let mut stream = client.chat(vec![Message::user("Say hello in five words or fewer.")], CancellationToken::new());
    let mut first: Option<Duration> = None;
    let mut text = String::new();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        let ev = tokio::select! {
            e = stream.next() => e,
            _ = &mut deadline => {
                if first.is_some() { break; }
                println!(
                    "reply     FAIL  the server is up but sent no token within {:.0} s: a model still loading, or a slow \
                     machine? Try again, or allow more time: persona llm probe --timeout 60",
                    timeout.as_secs_f32()
                );
                return false;
            }
        };
        match ev {
            Some(Ok(StreamEvent::Content(c) | StreamEvent::Reasoning(c))) => {
                if first.is_none() {
                    first = Some(started.elapsed());
                    // The first token answers the question; a little more text shows what the model says.
                    let soon = tokio::time::Instant::now() + Duration::from_millis(1500);
                    if soon < deadline.deadline() {
                        deadline.as_mut().reset(soon);
                    }
                }
                text.push_str(&c);
            }
            Some(Ok(StreamEvent::Done)) | None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                println!("reply     FAIL  {e}");
                return false;
            }
        }
    }
    let shown: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(60).collect();
    match first {
        Some(t) => println!("reply     ok    first token after {} ms: \"{shown}\"", t.as_millis()),
        None => println!("reply     ok    the model answered with an empty reply"),
    }
    let _ = std::io::stdout().flush();
    true
}
