//! `persona listen [--input FILE]`: the listening pipeline on its own, printing what it hears as it hears it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use super::Context;
use crate::asr::{ListenEventKind, Listener, ListenerOptions};
use crate::audio::{Capture, Pace};
use crate::vad::SileroVad;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen to a WAV file instead of the microphone (played at real-time pace).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// With --input: read the file as fast as possible instead of at real-time pace.
    #[arg(long, requires = "input")]
    pub fast: bool,
    /// Microphone to use instead of audio.input_device.
    #[arg(long, conflicts_with = "input")]
    pub device: Option<String>,
    /// No partial transcripts or early final work (to compare latencies).
    #[arg(long)]
    pub final_only: bool,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let ctx = Context::load(config)?;
    let capture = match &args.input {
        Some(f) => Capture::wav_file(f, if args.fast { Pace::AsFastAsPossible } else { Pace::RealTime })?,
        None => Capture::microphone(args.device.as_deref().unwrap_or(&ctx.settings.audio.input_device))?,
    };
    capture.set_muted(ctx.settings.audio.start_muted && args.input.is_none());
    let vad = SileroVad::new(&ctx.settings.vad, &ctx.paths)?;
    let transcriber = crate::asr::from_settings(&ctx.settings.asr, &ctx.paths)?;
    let options =
        if args.final_only { ListenerOptions::final_only() } else { ListenerOptions::from_settings(&ctx.settings.asr) };
    eprintln!("listening to {} (Ctrl-C to stop)", capture.name());
    let start = Instant::now();
    let (listener, events) = Listener::start(capture, vad, &ctx.settings.vad, transcriber, options)?;
    let mut ended_at: Option<Instant> = None;
    for ev in events {
        let t = ev.at.duration_since(start).as_secs_f32();
        match ev.kind {
            ListenEventKind::SpeechStarted { utterance, start_s } => {
                println!("[{t:7.2}s] #{utterance} speech started at {start_s:.2}s")
            }
            ListenEventKind::Partial { utterance, text, audio_s } => {
                println!("[{t:7.2}s] #{utterance} partial ({audio_s:.1}s): {text}")
            }
            ListenEventKind::SpeechEnded { utterance, start_s, end_s } => {
                ended_at = Some(ev.at);
                println!("[{t:7.2}s] #{utterance} speech ended: {start_s:.2}s-{end_s:.2}s")
            }
            ListenEventKind::Final { utterance, transcript, early, .. } => {
                let after = ended_at.map(|e| ev.at.duration_since(e).as_secs_f32() * 1000.0).unwrap_or(0.0);
                let how = if early { "ready during the pause" } else { "transcribed after the end" };
                println!("[{t:7.2}s] #{utterance} final ({after:.0} ms after the end, {how}): {}", transcript.text)
            }
            ListenEventKind::Discarded { utterance } => println!("[{t:7.2}s] #{utterance} too short, discarded"),
            ListenEventKind::Capture(e) => println!("[{t:7.2}s] input: {e:?}"),
            ListenEventKind::Error(e) => eprintln!("[{t:7.2}s] error: {e}"),
            ListenEventKind::Ended => break,
        }
    }
    listener.stop();
    Ok(ExitCode::SUCCESS)
}
