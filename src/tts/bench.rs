//! `persona bench speaking`: Kokoro and Piper real-time factors, and time to first audio of a streamed reply
//! (the first clause arriving from the LLM → its first sample taken by the output), as medians.

use std::time::{Duration, Instant};

use crate::audio::playback::{Playback, WavPace};
use crate::bench::median;
use crate::cli::Context;
use crate::config::TtsEngine;
use crate::tts::{self, Synthesizer};

const SENTENCES: [&str; 4] = [
    "The quick brown fox jumps over the lazy dog.",
    "Could you tell me where the nearest train station is?",
    "I bought apples, oranges, and a loaf of fresh bread this morning.",
    "Learning a new language takes patience and practice.",
];

/// The first clause of a typical streamed reply: what the text chunker releases first.
const FIRST_CLAUSE: &str = "Oh, that's a great question,";

const ROUNDS: usize = 3;

fn measure(label: &str, synth: &mut dyn Synthesizer) -> anyhow::Result<()> {
    // Warm-up: the first run pays for graph optimisation and allocations.
    synth.synthesize(SENTENCES[0])?;
    let mut rtf = Vec::new();
    for _ in 0..ROUNDS {
        for s in SENTENCES {
            let t = Instant::now();
            let speech = synth.synthesize(s)?;
            rtf.push(t.elapsed().as_secs_f64() / speech.duration_s());
        }
    }
    let dir = tempfile_dir()?;
    let mut ttfa = Vec::new();
    for i in 0..ROUNDS + 2 {
        let path = dir.join(format!("ttfa-{i}.wav"));
        let mut pb = Playback::open_wav(&path, 48_000, WavPace::RealTime, 1.0)?;
        let pos = pb.position();
        let t = Instant::now();
        let speech = synth.synthesize(FIRST_CLAUSE)?;
        let id = pb.enqueue(speech.samples, speech.sample_rate);
        while pos.now().is_none_or(|(p, _)| p != id) && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_micros(500));
        }
        ttfa.push(t.elapsed().as_secs_f64() * 1000.0);
        pb.flush();
        drop(pb);
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_dir(&dir);
    println!(
        "{label:<18} real-time factor median {:.3} (n={}), time to first audio median {:.0} ms (n={})",
        median(&mut rtf),
        rtf.len(),
        median(&mut ttfa),
        ttfa.len()
    );
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("persona-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let cores = crate::models::onnxruntime::available_cores();
    println!("{cores} cores; each figure: synthesis time / audio duration, and clause → first sample heard");
    for (label, engine, voice) in
        [("kokoro af_heart", TtsEngine::Kokoro, "af_heart"), ("piper joe-medium", TtsEngine::Piper, "")]
    {
        let mut s = ctx.settings.tts.clone();
        s.engine = engine;
        s.voice = voice.into();
        match tts::from_settings(&ctx.paths, &s) {
            Ok(mut synth) => measure(label, &mut *synth)?,
            Err(e) => println!("{label:<18} skipped: {e}"),
        }
    }
    Ok(())
}
