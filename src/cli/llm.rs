//! `persona llm probe`: is the LLM server there, does it have the model, does it answer?

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::Context;
use crate::llm::{LlmError, OpenAiClient};

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
    match crate::llm::probe::first_reply(&client, timeout, 60).await {
        Ok((t, shown)) if !shown.is_empty() => {
            println!("reply     ok    first token after {} ms: \"{shown}\"", t.as_millis())
        }
        Ok(_) => println!("reply     ok    the model answered with an empty reply"),
        Err(crate::llm::probe::ProbeError::NoToken(s)) => {
            println!(
                "reply     FAIL  the server is up but sent no token within {s:.0} s: a model still loading, or a slow \
                 machine? Try again, or allow more time: persona llm probe --timeout 60"
            );
            return false;
        }
        Err(e) => {
            println!("reply     FAIL  {e}");
            return false;
        }
    }
    let _ = std::io::stdout().flush();
    true
}
