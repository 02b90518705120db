//! The `persona` command line: one file per command, each with its arguments and a `run` function.

mod avatar;
mod bench;
mod chat;
mod config;
mod convert;
mod doctor;
mod listen;
mod llm;
mod models;
mod panel;
mod render;
mod run;
mod say;
mod transcribe;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Paths, Settings};

#[derive(Debug, Parser)]
#[command(name = "persona", version, about = "Talk to an animated AI character, and stream it to OBS", long_about = None)]
pub struct Cli {
    /// Settings file to use instead of the one in your config folder.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (-v: debug, -vv: trace). RUST_LOG works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Talk to the character: microphone (or --input FILE) in, voice (or --output FILE) out, per-turn latency.
    Run(run::Args),
    /// Check models, ONNX Runtime, espeak-ng, audio devices, GPU, settings and the LLM endpoint.
    Doctor(doctor::Args),
    /// List, download and verify models (ONNX Runtime included).
    #[command(subcommand)]
    Models(models::Command),
    /// Show, write or check the settings file.
    #[command(subcommand)]
    Config(config::Command),
    /// Transcribe a WAV file (text, or --json with segment and word times).
    Transcribe(transcribe::Args),
    /// Listen to the microphone (or --input FILE) and print speech events and partial/final transcripts live.
    Listen(listen::Args),
    /// Chat with the character in the terminal (streamed replies, emotion tags, history kept between runs).
    Chat(chat::Args),
    /// Check the LLM server: `persona llm probe`.
    #[command(subcommand)]
    Llm(llm::Command),
    /// Speak text with the configured voice (or write it to a WAV file), with its phoneme and mouth timeline.
    Say(say::Args),
    /// Change the voice of a WAV recording with an RVC voice model.
    Convert(convert::Args),
    /// Render one frame of the avatar to a PNG.
    Render(render::Args),
    /// Open the avatar in a window (keys drive it), or build the default puppet.
    Avatar(avatar::Args),
    /// Open the control panel alone: edit settings and the personality live (no conversation runs).
    Panel(panel::Args),
    /// Measure speed and memory of each stage (medians; use a release build for real figures).
    Bench(bench::Args),
}

/// What every command starts from: where things are, and the settings in effect.
pub struct Context {
    pub paths: Paths,
    pub settings: Settings,
}

impl Context {
    /// Resolves the paths and loads the settings; a broken settings file is an error that says where and why.
    pub fn load(cli_config: Option<&std::path::Path>) -> anyhow::Result<Context> {
        let paths = Paths::resolve(cli_config);
        let settings = Settings::load(&paths.config_file)?;
        Ok(Context { paths, settings })
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "persona=info,warn",
        1 => "persona=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// Runs the command line; errors are printed with their causes and give exit status 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        None => no_command(cli.config.as_deref()),
        Some(Command::Run(args)) => run::run(cli.config.as_deref(), args),
        Some(Command::Doctor(args)) => doctor::run(cli.config.as_deref(), args),
        Some(Command::Models(cmd)) => models::run(cli.config.as_deref(), cmd),
        Some(Command::Config(cmd)) => config::run(cli.config.as_deref(), cmd),
        Some(Command::Transcribe(args)) => transcribe::run(cli.config.as_deref(), args),
        Some(Command::Listen(args)) => listen::run(cli.config.as_deref(), args),
        Some(Command::Chat(args)) => chat::run(cli.config.as_deref(), args),
        Some(Command::Llm(cmd)) => llm::run(cli.config.as_deref(), cmd),
        Some(Command::Say(args)) => say::run(cli.config.as_deref(), args),
        Some(Command::Convert(args)) => convert::run(cli.config.as_deref(), args),
        Some(Command::Render(args)) => render::run(cli.config.as_deref(), args),
        Some(Command::Avatar(args)) => avatar::run(cli.config.as_deref(), args),
        Some(Command::Panel(args)) => panel::run(cli.config.as_deref(), args),
        Some(Command::Bench(args)) => bench::run(cli.config.as_deref(), args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `persona` alone starts the conversation with the default character, on the microphone and speakers.
fn no_command(config: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    eprintln!("persona: starting the conversation (`persona run`); `persona --help` lists every command");
    run::run(config, run::Args::default())
}
