//! `persona chat`: talk with the character in the terminal. Replies stream as they are written, emotion tags show
//! as they fire, and the conversation is kept in the character's transcript log, so it continues next time.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use futures_util::StreamExt;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::character::Character;
use crate::llm::prompt::local_time;
use crate::llm::reply::ReplyOptions;
use crate::llm::transcript::Record;
use crate::llm::{
    ChatModel, History, LlmError, OpenAiClient, Prompt, ReplyEvent, ReplyProcessor, Speaker, StreamEvent, TranscriptLog,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The character to talk with: a folder name or path (default: conversation.character).
    #[arg(long, value_name = "NAME")]
    pub persona: Option<String>,
    /// Say TEXT, print the reply, and exit (status 1 when the reply failed).
    #[arg(long, value_name = "TEXT")]
    pub once: Option<String>,
}

/// Everything a conversation in the terminal holds.
struct Chat {
    client: OpenAiClient,
    character: Character,
    user_name: String,
    prompt: Prompt,
    history: History,
    log: Option<TranscriptLog>,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let ctx = Context::load(config)?;
    let name = args.persona.clone().unwrap_or_else(|| ctx.settings.conversation.character.clone());
    let character = Character::find(&ctx.paths, &name)?;
    let client = OpenAiClient::new(&ctx.settings.llm)?;
    let conv = &ctx.settings.conversation;
    let (log, history) = if conv.keep_log {
        let path = TranscriptLog::path_for(&ctx.paths, &character);
        let (log, loaded) = TranscriptLog::open(&path)?;
        if loaded.skipped > 0 {
            eprintln!("note: {} damaged line(s) in {} skipped", loaded.skipped, path.display());
        }
        (Some(log), loaded.history())
    } else {
        (None, History::new())
    };
    let prompt = Prompt::new(&character, &ctx.settings.llm, conv, &local_time());
    let mut chat = Chat { client, character, user_name: conv.user_name.clone(), prompt, history, log };
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    match args.once {
        Some(text) => {
            let ok = rt.block_on(chat.turn(&text))?;
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        None => rt.block_on(chat.interactive()),
    }
}

impl Chat {
    async fn interactive(&mut self) -> anyhow::Result<ExitCode> {
        let name = self.character.info.name.clone();
        let resumed = self.history.turns().len();
        eprintln!(
            "Talking with {name} through {} ({}). Type and press Enter; Ctrl-C stops a reply; /quit or Ctrl-D ends.{}",
            self.client.settings().endpoint,
            self.client.settings().model,
            if resumed > 0 { format!(" Resuming: {resumed} earlier messages.") } else { String::new() }
        );
        if self.history.turns().is_empty() && !self.character.info.greeting.trim().is_empty() {
            let greeting = self.character.info.greeting.trim().to_owned();
            println!("{name}: {greeting}");
            self.history.push_character(&greeting);
            self.record(Record::new(Speaker::Character, &name, &greeting))?;
        }
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            print!("{}> ", self.user_name);
            let _ = std::io::stdout().flush();
            let line = tokio::select! {
                l = lines.next_line() => l?,
                _ = tokio::signal::ctrl_c() => None,
            };
            let Some(line) = line else { break };
            let text = line.trim();
            match text {
                "" => continue,
                "/quit" | "/exit" => break,
                _ => {
                    self.turn(text).await?;
                }
            }
        }
        println!();
        Ok(ExitCode::SUCCESS)
    }

    fn record(&mut self, record: Record) -> anyhow::Result<()> {
        if let Some(log) = &mut self.log {
            log.append(&record)?;
        }
        Ok(())
    }

    /// One exchange: the user's text, the streamed reply. Returns whether the reply completed.
    async fn turn(&mut self, text: &str) -> anyhow::Result<bool> {
        let name = self.character.info.name.clone();
        let messages = self.prompt.messages(&self.history, text);
        self.history.push_user(text);
        self.record(Record::new(Speaker::User, &self.user_name, text.trim()))?;

        let cancel = CancellationToken::new();
        let mut stream = self.client.chat(messages, cancel.clone());
        let mut reply = ReplyProcessor::new(ReplyOptions::for_character(&self.character, &self.user_name));
        let mut out = std::io::stdout();
        let _ = write!(out, "{name}: ");
        let _ = out.flush();
        let mut failure: Option<LlmError> = None;
        let mut interrupted = false;
        let mut thinking_shown = false;
        loop {
            let event = tokio::select! {
                e = stream.next() => e,
                _ = tokio::signal::ctrl_c() => {
                    interrupted = true;
                    cancel.cancel();
                    break;
                }
            };
            match event {
                Some(Ok(StreamEvent::Content(c))) => {
                    let events = reply.push(&c);
                    self.show(&events);
                    if reply.is_stopped() {
                        cancel.cancel();
                        break;
                    }
                }
                Some(Ok(StreamEvent::Reasoning(_))) => {
                    if !thinking_shown {
                        let _ = write!(out, "(thinking…) ");
                        let _ = out.flush();
                        thinking_shown = true;
                    }
                }
                Some(Ok(StreamEvent::Usage(u))) => {
                    tracing::debug!("tokens: {} in the prompt, {} in the reply", u.prompt_tokens, u.completion_tokens)
                }
                Some(Ok(StreamEvent::Done)) | None => break,
                Some(Err(e)) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let rest = reply.finish();
        self.show(&rest);
        println!();
        let said = reply.display_text().to_owned();
        let emotions: Vec<String> = reply.emotions().iter().map(|(_, e)| e.clone()).collect();
        let complete = failure.is_none() && !interrupted;
        if complete {
            self.history.push_character(&said);
        } else {
            // Everything printed was read: keep it, marked as cut off.
            self.history.push_interrupted(&said, said.chars().count());
        }
        if !said.is_empty() {
            let mut r = Record::new(Speaker::Character, &name, &said);
            r.interrupted = !complete;
            r.emotions = emotions;
            self.record(r)?;
        }
        if let Some(e) = failure {
            eprintln!("error: {e}");
        } else if interrupted {
            eprintln!("(stopped)");
        }
        Ok(complete)
    }

    fn show(&self, events: &[ReplyEvent]) {
        let mut out = std::io::stdout();
        for e in events {
            match e {
                ReplyEvent::Text(t) => {
                    let _ = write!(out, "{t}");
                }
                ReplyEvent::Emotion(e) => {
                    let _ = match self.character.expression_for(e) {
                        Some(x) => write!(out, "[{e} {x}] "),
                        None => write!(out, "[{e}] "),
                    };
                }
                ReplyEvent::Chunk(_) | ReplyEvent::Stopped => {}
            }
        }
        let _ = out.flush();
    }
}
