//! `persona run` (and `persona` alone): talk to the character. The microphone (or a WAV file) in, the character's
//! voice to the speakers (or a WAV file) out, each turn printed with its latency breakdown. With a display, the
//! avatar window and the control panel open on this (the main) thread's event loop (`crate::app`); without one the
//! conversation runs voice only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

use super::Context;
use crate::app::AppEvent;
use crate::audio::capture::Pace;
use crate::audio::playback::WavPace;
use crate::character::Character;
use crate::echo::reference::SimulatedRoom;
use crate::output::window::WindowKind;
use crate::output::{FrameSink, OutputKind, VideoFormat};
use crate::pipeline::conversation::{Conversation, Event, Input, Output, RunOptions, Services};
use crate::ui::{ControlPanel, PanelSetup};

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
    /// No avatar window and no control panel even when a display is there (outputs given with --output, windows
    /// included, still run).
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
    let (wav, specs) = split_outputs(&args)?;
    let output = match &wav {
        Some(p) => Output::File { path: p.clone(), pace: WavPace::RealTime },
        None => Output::Speakers(ctx.settings.audio.output_device.clone()),
    };
    let size = match &args.size {
        Some(s) => super::render::parse_size(s)?,
        None => (ctx.settings.output.width, ctx.settings.output.height),
    };
    let background = crate::config::parse_colour(&ctx.settings.output.window_background).unwrap_or([0, 255, 0, 255]);
    // Windows belong to the app's event loop on this thread; the other frame outputs to the show thread.
    let (window_specs, frame_outputs): (Vec<_>, Vec<_>) =
        specs.into_iter().partition(|s| matches!(s.kind, OutputKind::Window | OutputKind::Overlay));
    let mut avatar_windows = Vec::new();
    for spec in &window_specs {
        avatar_windows.push(match spec.kind {
            OutputKind::Overlay => WindowKind::Overlay,
            _ => WindowKind::Plain { background: spec.colour()?.unwrap_or(background) },
        });
    }
    let with_panel = !args.no_window;
    if with_panel && window_specs.is_empty() {
        if ctx.settings.output.window {
            avatar_windows.push(WindowKind::Plain { background });
        }
        if ctx.settings.output.overlay {
            avatar_windows.push(WindowKind::Overlay);
        }
    }
    let event_loop = if with_panel || !window_specs.is_empty() {
        match crate::app::event_loop() {
            Ok(l) => Some(l),
            Err(e) if window_specs.is_empty() => {
                tracing::debug!("{e:#}");
                eprintln!(
                    "no display: voice only (the avatar and the control panel need one: set DISPLAY or \
                     WAYLAND_DISPLAY, or run under xvfb-run -a)"
                );
                None
            }
            Err(e) => return Err(e.context("--output window/overlay needs a display")),
        }
    } else {
        None
    };
    if event_loop.is_none() {
        avatar_windows.clear();
    }
    let puppet = match ctx.settings.avatar.puppet.as_str() {
        "" => character.avatar_path(),
        p => Some(PathBuf::from(p)),
    };
    let avatar = if frame_outputs.is_empty() && avatar_windows.is_empty() {
        None
    } else {
        Some(crate::avatar::Avatar::load(puppet.as_deref(), &ctx.settings.avatar).context("cannot load the avatar")?)
    };
    eprintln!("loading models...");
    let services = Services::load(&ctx.settings, &ctx.paths)?;
    let mut conversation = Conversation::start(
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
    let slot = crate::app::FrameSlot::default();
    let mut feeds: Vec<Box<dyn FrameSink + Send>> = Vec::new();
    if let Some(l) = event_loop.as_ref().filter(|_| !avatar_windows.is_empty()) {
        feeds.push(Box::new(crate::app::WindowFeed::new(slot.clone(), l.create_proxy())));
    }
    let stop_show = tokio_util::sync::CancellationToken::new();
    // The settings the panel edits; the show thread follows their lip-sync and subtitle sections.
    let live: crate::config::SharedSettings = Arc::new(RwLock::new(ctx.settings.clone()));
    let show = match avatar {
        Some(avatar) => {
            let (settings, stage, stop) = (live.clone(), conversation.stage.clone(), stop_show.clone());
            let outputs = frame_outputs.clone();
            Some(
                std::thread::Builder::new()
                    .name("persona-show".into())
                    .spawn(move || crate::pipeline::show::run(&settings, avatar, stage, &outputs, feeds, size, stop))?,
            )
        }
        None => None,
    };
    eprintln!(
        "{} is listening{} (Ctrl-C to stop)",
        character.info.name,
        if args.input.is_some() { " to the file" } else { "" }
    );
    let failed = match event_loop {
        None => follow(&conversation.events, || {}),
        Some(event_loop) => {
            // The conversation's events are followed on their own thread: this one runs the windows.
            let proxy = event_loop.create_proxy();
            crate::app::quit_on_ctrl_c(proxy.clone());
            let events = std::mem::replace(&mut conversation.events, std::sync::mpsc::channel().1);
            let follower = std::thread::Builder::new().name("persona-events".into()).spawn(move || {
                follow(&events, || {
                    let _ = proxy.send_event(AppEvent::Quit("the conversation has ended".into()));
                })
            })?;
            let panel = with_panel.then(|| {
                ControlPanel::new(PanelSetup {
                    paths: ctx.paths.clone(),
                    settings: live.clone(),
                    character: Arc::new(RwLock::new(character.clone())),
                    status: conversation.status.clone(),
                    sink: Box::new(conversation.controls.clone()),
                })
            });
            let format = VideoFormat { width: size.0, height: size.1, fps: ctx.settings.output.fps.max(1) };
            let shown = crate::app::Windows::new(avatar_windows, format, panel, slot).run(event_loop);
            // Windows closed (or Ctrl-C, or the input ended): end the conversation; a reply in progress is cut off.
            let stopped = conversation.stop();
            let failed = follower.join().unwrap_or(0);
            match shown {
                Ok(n) => tracing::info!("{n} avatar frames shown in the window"),
                Err(e) => eprintln!(
                    "the windows failed: {e:#}. `persona doctor` checks the display and GPU; `--no-window` runs voice only"
                ),
            }
            stopped?;
            return finish(show, stop_show, wav.as_deref(), failed);
        }
    };
    conversation.wait()?;
    finish(show, stop_show, wav.as_deref(), failed)
}

/// Prints what the user should know about each event until the conversation ends; returns how many turns failed.
fn follow(events: &std::sync::mpsc::Receiver<Event>, on_finished: impl FnOnce()) -> usize {
    let mut failed = 0;
    for event in events.iter() {
        match event {
            Event::TurnFailed { error, .. } => {
                failed += 1;
                eprintln!("  turn failed: {error}");
            }
            Event::NotAnInterruption { text, decision } => eprintln!("  (heard \"{text}\": {decision:?})"),
            Event::Finished => {
                on_finished();
                break;
            }
            _ => {}
        }
    }
    failed
}

/// Stops the show thread and says what was written.
fn finish(
    show: Option<std::thread::JoinHandle<anyhow::Result<u64>>>,
    stop_show: tokio_util::sync::CancellationToken,
    wav: Option<&Path>,
    failed: usize,
) -> anyhow::Result<ExitCode> {
    stop_show.cancel();
    if let Some(show) = show {
        match show.join() {
            Ok(Ok(frames)) => eprintln!("{frames} avatar frames sent"),
            Ok(Err(e)) => eprintln!("the avatar output failed: {e:#}"),
            Err(_) => eprintln!("the avatar output thread panicked"),
        }
    }
    if let Some(out) = wav {
        eprintln!("wrote {}", out.display());
    }
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
