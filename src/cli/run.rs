//! `persona run`: talk to the character. The microphone (or a WAV file) in, the character's voice to the speakers
//! (or a WAV file) out, each turn printed with its latency breakdown.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::Context;
use crate::audio::capture::Pace;
use crate::audio::playback::WavPace;
use crate::character::Character;
use crate::echo::reference::SimulatedRoom;
use crate::pipeline::conversation::{Conversation, Event, Input, Output, RunOptions, Services};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// A WAV file in place of the microphone, played at real-time pace.
    #[arg(long, value_name = "WAV")]
    pub input: Option<PathBuf>,
    /// A WAV file in place of the speakers (24 kHz mono; silence where the character does not speak), or a frame
    /// output for the avatar: window, overlay, y4m:FILE|-, rgba:FILE|-, png:DIR, v4l2:/dev/videoN, spout[:NAME].
    /// Repeat for several.
    #[arg(long = "output", value_name = "WAV|KIND:TARGET")]
    pub outputs: Vec<String>,
    /// Write the avatar's frames as PNG files into DIR (the same as --output png:DIR).
    #[arg(long, value_name = "DIR")]
    pub frames: Option<PathBuf>,
    /// Size of the avatar frames (default: output.width × output.height from the settings).
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// The character (a folder name or path; default: conversation.character).
    #[arg(long)]
    pub character: Option<String>,
    /// Mix a simulated room echo of the character's voice into the input, to try echo cancellation without
    /// speakers: DELAY_MS,GAIN,RT60_MS (e.g. 40,0.5,250).
    #[arg(long, value_name = "DELAY_MS,GAIN,RT60_MS")]
    pub simulate_echo: Option<String>,
    /// No avatar window even when a display is there (frame outputs given with --output still run).
    #[arg(long)]
    pub no_window: bool,
}

/// `--output` values: the one WAV file for the voice, and the frame outputs.
fn split_outputs(args: &Args) -> anyhow::Result<(Option<PathBuf>, Vec<crate::output::OutputSpec>)> {
    let mut wav = None;
    let mut frames = Vec::new();
    for o in &args.outputs {
        match o.parse::<crate::output::OutputSpec>() {
            Ok(spec) => frames.push(spec),
            Err(_) if o.to_lowercase().ends_with(".wav") => {
                if wav.replace(PathBuf::from(o)).is_some() {
                    anyhow::bail!("--output: only one WAV file can stand in for the speakers");
                }
            }
            Err(e) => anyhow::bail!("--output {o}: {e} (or name a .wav file for the voice)"),
        }
    }
    if let Some(dir) = &args.frames {
        frames.push(format!("png:{}", dir.display()).parse().map_err(|e| anyhow::anyhow!("--frames: {e}"))?);
    }
    Ok((wav, frames))
}

fn parse_room(spec: &str) -> anyhow::Result<SimulatedRoom> {
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    let bad = || anyhow::anyhow!("--simulate-echo wants DELAY_MS,GAIN,RT60_MS, e.g. 40,0.5,250; got \"{spec}\"");
    if parts.len() != 3 {
        return Err(bad());
    }
    let delay: u32 = parts[0].parse().map_err(|_| bad())?;
    let gain: f32 = parts[1].parse().map_err(|_| bad())?;
    let rt60: u32 = parts[2].parse().map_err(|_| bad())?;
    if delay > 500 || !(0.0..=2.0).contains(&gain) || rt60 > 2000 {
        anyhow::bail!("--simulate-echo: delay at most 500 ms, gain 0 to 2, RT60 at most 2000 ms");
    }
    Ok(SimulatedRoom::new(delay, gain, rt60))
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let ctx = Context::load(config)?;
    let name = args.character.clone().unwrap_or_else(|| ctx.settings.conversation.character.clone());
    let character = Character::find(&ctx.paths, &name)?;
    let simulated_room = args.simulate_echo.as_deref().map(parse_room).transpose()?;
    let input = match &args.input {
        Some(p) => Input::File { path: p.clone(), pace: Pace::RealTime },
        None => Input::Microphone(ctx.settings.audio.input_device.clone()),
    };
    let (wav, frame_outputs) = split_outputs(&args)?;
    let output = match &wav {
        Some(p) => Output::File { path: p.clone(), pace: WavPace::RealTime },
        None => Output::Speakers(ctx.settings.audio.output_device.clone()),
    };
    let size = match &args.size {
        Some(s) => super::render::parse_size(s)?,
        None => (ctx.settings.output.width, ctx.settings.output.height),
    };
    let puppet = match ctx.settings.avatar.puppet.as_str() {
        "" => character.avatar_path(),
        p => Some(PathBuf::from(p)),
    };
    let avatar = if frame_outputs.is_empty() {
        None
    } else {
        Some(crate::avatar::Avatar::load(puppet.as_deref(), &ctx.settings.avatar).context("cannot load the avatar")?)
    };
    eprintln!("loading models...");
    let services = Services::load(&ctx.settings, &ctx.paths)?;
    let conversation = Conversation::start(
        ctx.settings.clone(),
        &ctx.paths,
        character.clone(),
        services,
        RunOptions { input, output, simulated_room, print: true },
    )
    .with_context(|| {
        if args.input.is_none() || wav.is_none() {
            "cannot start the conversation. Check the audio devices (`persona doctor` lists them; set \
             audio.input_device / audio.output_device), or let files stand in: --input FILE.wav --output FILE.wav"
        } else {
            "cannot start the conversation"
        }
    })?;
    let stop_show = tokio_util::sync::CancellationToken::new();
    let show = match avatar {
        Some(avatar) => {
            let (settings, stage, stop) = (ctx.settings.clone(), conversation.stage.clone(), stop_show.clone());
            let outputs = frame_outputs.clone();
            Some(
                std::thread::Builder::new()
                    .name("persona-show".into())
                    .spawn(move || crate::pipeline::show::run(&settings, avatar, stage, &outputs, size, stop))?,
            )
        }
        None => None,
    };
    eprintln!(
        "{} is listening{} (Ctrl-C to stop)",
        character.info.name,
        if args.input.is_some() { " to the file" } else { "" }
    );
    let mut failed = 0;
    for event in conversation.events.iter() {
        match event {
            Event::TurnFailed { error, .. } => {
                failed += 1;
                eprintln!("  turn failed: {error}");
            }
            Event::NotAnInterruption { text, decision } => eprintln!("  (heard \"{text}\": {decision:?})"),
            Event::Finished => break,
            _ => {}
        }
    }
    conversation.wait()?;
    stop_show.cancel();
    if let Some(show) = show {
        match show.join() {
            Ok(Ok(frames)) => eprintln!("{frames} avatar frames sent"),
            Ok(Err(e)) => eprintln!("the avatar output failed: {e:#}"),
            Err(_) => eprintln!("the avatar output thread panicked"),
        }
    }
    if let Some(out) = &wav {
        eprintln!("wrote {}", out.display());
    }
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
