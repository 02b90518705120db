//! `persona convert IN.wav --voice MODEL.onnx [--pitch N] -o OUT.wav`: change the voice of a recording with RVC,
//! through the same streaming filter the live pipeline uses; `persona convert --list-voices` lists voice models.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::Context;
use crate::audio::{Audio, read_wav, write_wav};
use crate::config::PitchMethod;
use crate::rvc::{Rvc, VoiceFilter, voices};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recording to convert (WAV; several channels are mixed to mono).
    #[arg(required_unless_present = "list_voices")]
    pub input: Option<PathBuf>,
    /// The RVC voice model (.onnx); default: [rvc] voice_model from the settings.
    #[arg(long, value_name = "MODEL.onnx")]
    pub voice: Option<String>,
    /// Pitch shift in semitones (-24 to 24); default: [rvc] pitch_shift.
    #[arg(long, allow_negative_numbers = true)]
    pub pitch: Option<f32>,
    /// Pitch tracker; default: [rvc] pitch_method.
    #[arg(long, value_parser = ["rmvpe", "crepe"])]
    pub method: Option<String>,
    /// Where to write the converted WAV (same rate as the input, mono, 16-bit).
    #[arg(short, long, value_name = "OUT.wav", required_unless_present = "list_voices")]
    pub output: Option<PathBuf>,
    /// List the voice models in [rvc] voices_folder (relative to the models folder) with their sample rates.
    #[arg(long)]
    pub list_voices: bool,
}

/// Pieces fed to the filter: the live pipeline's TTS pieces are of this order too.
const PIECE_MS: usize = 500;

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let mut ctx = Context::load(config)?;
    if args.list_voices {
        let folder = ctx.paths.model(&ctx.settings.rvc.voices_folder);
        let list = voices::list(&ctx.paths.models_dir, &folder)?;
        if list.is_empty() {
            println!("no voice models (*.onnx) in {}", folder.display());
        }
        for v in list {
            match v.sample_rate {
                Ok(rate) => println!("{:<24} {:>6} Hz  {}", v.name, rate, v.path.display()),
                Err(why) => println!("{:<24}      ?     {} ({why})", v.name, v.path.display()),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(input), Some(output)) = (args.input, args.output) else {
        anyhow::bail!("give the recording and -o OUT.wav");
    };
    let rvc = &mut ctx.settings.rvc;
    if let Some(v) = args.voice {
        // A file named on the command line is taken as given (relative to here) when it exists.
        rvc.voice_model = match std::path::absolute(&v) {
            Ok(abs) if abs.is_file() => abs.display().to_string(),
            _ => v,
        };
    }
    if let Some(p) = args.pitch {
        anyhow::ensure!((-24.0..=24.0).contains(&p), "--pitch {p} is outside -24 to 24 semitones");
        rvc.pitch_shift = p;
    }
    match args.method.as_deref() {
        Some("crepe") => rvc.pitch_method = PitchMethod::Crepe,
        Some("rmvpe") => rvc.pitch_method = PitchMethod::Rmvpe,
        _ => {}
    }
    let audio = read_wav(&input)?;
    let rate = audio.sample_rate;
    let x = audio.to_mono();
    let mut filter = Rvc::new(&ctx.settings.rvc, &ctx.paths).context("loading the RVC models")?;
    let started = std::time::Instant::now();
    let piece = (rate as usize * PIECE_MS / 1000).max(1);
    let mut y = Vec::with_capacity(x.len() + filter.latency(rate));
    for chunk in x.chunks(piece) {
        y.extend(filter.process(chunk, rate)?);
    }
    y.extend(filter.flush());
    // The filter runs `latency` samples behind; line the result up with the input.
    y.drain(..filter.latency(rate).min(y.len()));
    y.truncate(x.len());
    write_wav(&output, &Audio::mono(y, rate))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "converted {:.1} s of audio in {secs:.1} s (voice at {} Hz) -> {}",
        x.len() as f64 / rate as f64,
        filter.voice_rate(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}
