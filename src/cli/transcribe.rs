//! `persona transcribe FILE [--json]`: speech in a WAV file to text, with the engine and model of the settings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::Context;
use crate::asr::long::transcribe_recording;
use crate::audio::read_wav;
use crate::vad::SileroVad;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// WAV file (any rate, mono or stereo, 8-32 bit or float).
    pub file: PathBuf,
    /// Print JSON: text, segments and words with their times.
    #[arg(long)]
    pub json: bool,
    /// Whisper model to use instead of asr.model (a file in the models folder, or a path).
    #[arg(long)]
    pub model: Option<String>,
    /// Language code or "auto", instead of asr.language.
    #[arg(long)]
    pub language: Option<String>,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let mut ctx = Context::load(config)?;
    if let Some(m) = args.model {
        ctx.settings.asr.model = m;
    }
    if let Some(l) = args.language {
        ctx.settings.asr.language = l;
    }
    let audio = read_wav(&args.file)?;
    let samples = audio.to_mono_at(crate::asr::SAMPLE_RATE);
    let mut transcriber = crate::asr::from_settings(&ctx.settings.asr, &ctx.paths)?;
    let mut vad = SileroVad::new(&ctx.settings.vad, &ctx.paths).context("the VAD is needed to cut long recordings")?;
    let long = audio.duration_s() > crate::asr::long::WHOLE_MAX_S as f64;
    let transcript =
        transcribe_recording(transcriber.as_mut(), &mut vad, &ctx.settings.vad, &samples, |done, total| {
            if long {
                eprint!("\rtranscribing: {:>5.0} s of {:.0} s", done, total);
            }
        })?;
    if long {
        eprintln!();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&transcript)?);
    } else {
        println!("{}", transcript.text);
    }
    Ok(ExitCode::SUCCESS)
}
