//! `persona say "TEXT"`: speak text with the configured voice, or write it to a WAV file, and optionally write
//! the timeline (phonemes, words, mouth parameters at 60 frames per second) as JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::Context;
use crate::audio::playback::Playback;
use crate::audio::{Audio, write_wav};
use crate::config::TtsEngine;
use crate::lipsync::{LipSync, LoudnessTrack, PARAM_NAMES};
use crate::tts::{self, Speech};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The text to speak.
    pub text: String,
    /// Voice name or blend ("af_heart", "af_heart:0.7,af_bella:0.3"); default: the settings' voice.
    #[arg(long)]
    pub voice: Option<String>,
    /// Engine: kokoro, piper or remote; default: the settings' engine.
    #[arg(long, value_parser = ["kokoro", "piper", "remote"])]
    pub engine: Option<String>,
    /// Speaking rate, 0.5 to 2.0.
    #[arg(long)]
    pub speed: Option<f32>,
    /// Write the audio to this WAV file instead of playing it.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write the phoneme, word and mouth timeline to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let mut ctx = Context::load(config)?;
    let s = &mut ctx.settings.tts;
    if let Some(e) = &args.engine {
        s.engine = match e.as_str() {
            "piper" => TtsEngine::Piper,
            "remote" => TtsEngine::Remote,
            _ => TtsEngine::Kokoro,
        };
    }
    if let Some(v) = &args.voice {
        s.voice = v.clone();
    }
    if let Some(sp) = args.speed {
        s.speed = sp;
    }
    let mut synth = tts::from_settings(&ctx.paths, s)?;
    let speech = synth.synthesize(&args.text)?;
    if let Some(path) = &args.timeline {
        let json = timeline_json(&speech, &LipSync::new(&ctx.settings.lipsync));
        crate::config::atomic_write(path, serde_json::to_string_pretty(&json)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    match &args.output {
        Some(path) => write_wav(path, &Audio::mono(speech.samples.clone(), speech.sample_rate))?,
        None => {
            let mut pb = Playback::open_device(&ctx.settings.audio.output_device, ctx.settings.audio.output_volume)?;
            pb.enqueue(speech.samples.clone(), speech.sample_rate);
            pb.wait_idle(Duration::from_secs_f64(speech.duration_s() + 5.0));
            // Let the device's own buffer play out.
            std::thread::sleep(Duration::from_millis(200));
            pb.finish()?;
        }
    }
    eprintln!("{:.2} s of speech, {} words", speech.duration_s(), speech.timeline.words.len());
    Ok(ExitCode::SUCCESS)
}

/// The timeline as JSON: phonemes and words with times, and the mouth parameters at 60 frames per second.
pub fn timeline_json(speech: &Speech, lipsync: &LipSync) -> serde_json::Value {
    let fps = 60.0;
    let loud = LoudnessTrack::new(&speech.samples, speech.sample_rate);
    let n = (speech.duration_s() * fps).ceil() as usize + 1;
    let frames: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let p = lipsync.sample_speech(&speech.timeline, &loud, i as f64 / fps);
            p.values().iter().map(|v| (v * 1000.0).round() / 1000.0).collect()
        })
        .collect();
    serde_json::json!({
        "sample_rate": speech.sample_rate,
        "duration_s": speech.duration_s(),
        "phonemes": speech.timeline.phonemes,
        "words": speech.timeline.words,
        "mouth": { "fps": fps, "params": PARAM_NAMES, "frames": frames },
    })
}
