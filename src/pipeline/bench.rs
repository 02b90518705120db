//! `persona bench conversation`: scripted conversations at real-time pace against a local OpenAI-compatible
//! server that answers with a fixed time to first token; medians and p95 of every stage of a turn, peak memory,
//! and the CPU used while listening to silence.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::conversation::{Conversation, Event, Input, Output, RunOptions, Services};
use crate::audio::capture::Pace;
use crate::audio::playback::WavPace;
use crate::audio::{Audio, read_wav, resample, write_wav};
use crate::bench::{median, peak_rss_mib, percentile};
use crate::character::Character;
use crate::cli::Context;
use crate::llm::{ScriptServer, ScriptedReply};

/// A folder for the benchmark's files, removed afterwards.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<ScratchDir> {
        let p = std::env::temp_dir().join(format!("persona-bench-{}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        Ok(ScratchDir(p))
    }
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const QUESTIONS: [&str; 5] = [
    "What is your favourite colour?",
    "Tell me something about the sea.",
    "How are you feeling today?",
    "What should I cook tonight?",
    "Can you recommend a good book?",
];

/// The time to first token the scripted server waits, like a fast local model.
const FIRST_TOKEN: Duration = Duration::from_millis(200);

fn espeak(dir: &std::path::Path, text: &str, program: &str) -> anyhow::Result<Vec<f32>> {
    let wav = dir.join("line.wav");
    let status = std::process::Command::new(program)
        .args(["-v", "en-us", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .with_context(|| format!("the benchmark speaks its questions with {program}; install espeak-ng"))?;
    anyhow::ensure!(status.success(), "{program} failed");
    let a = read_wav(&wav)?;
    Ok(resample(&a.to_mono(), a.sample_rate, 16_000))
}

/// CPU seconds this process has used (Linux), for the idle figure.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Runs one conversation from a file; returns its events and the CPU seconds and wall time it used after the
/// models were loaded (the CPU figure is None where the platform does not tell).
fn run_file(
    ctx: &Context,
    input: &std::path::Path,
    dir: &std::path::Path,
    url: &str,
) -> anyhow::Result<(Vec<Event>, Option<f64>, Duration)> {
    let mut settings = ctx.settings.clone();
    settings.llm.endpoint = url.to_owned();
    settings.conversation.keep_log = false;
    let character = Character::find(&ctx.paths, &settings.conversation.character)?;
    let services = Services::load(&settings, &ctx.paths)?;
    let options = RunOptions {
        input: Input::File { path: input.to_owned(), pace: Pace::RealTime },
        output: Output::File { path: dir.join("reply.wav"), pace: WavPace::RealTime },
        simulated_room: None,
        print: false,
    };
    let conversation = Conversation::start(settings, &ctx.paths, character, services, options)?;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut events = Vec::new();
    for e in conversation.events.iter() {
        if matches!(e, Event::Finished) {
            break;
        }
        events.push(e);
    }
    conversation.wait()?;
    let cpu = cpu0.zip(cpu_seconds()).map(|(a, b)| b - a);
    Ok((events, cpu, t0.elapsed()))
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let dir = ScratchDir::new()?;
    let server = ScriptServer::start(
        ScriptedReply::text("Sure! Here is a short answer, just for you. I hope it helps.")
            .first_token_after(FIRST_TOKEN),
    )?;
    let url = server.url();

    // Idle: ten seconds of silence, listened to.
    let silence = dir.path().join("silence.wav");
    write_wav(&silence, &Audio::mono(vec![0.0; 16_000 * 10], 16_000))?;
    let (_, cpu, wall) = run_file(ctx, &silence, dir.path(), &url)?;
    let idle = match cpu {
        Some(cpu) => format!("{:.1}% of one core", 100.0 * cpu / wall.as_secs_f64()),
        None => "not measured on this platform".into(),
    };

    // The conversation.
    let mut audio = vec![0.0f32; 8_000];
    for q in QUESTIONS {
        audio.extend(espeak(dir.path(), q, &ctx.settings.tts.espeak_program)?);
        audio.extend(std::iter::repeat_n(0.0, 16_000 * 7));
    }
    let input = dir.path().join("conversation.wav");
    write_wav(&input, &Audio::mono(audio, 16_000))?;
    let (events, _, _) = run_file(ctx, &input, dir.path(), &url)?;
    let latencies: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::TurnEnded { latency, interrupted: false, .. } => Some(*latency),
            _ => None,
        })
        .collect();
    println!(
        "{} turns at real-time pace; scripted LLM with first token after {} ms (includes the 450 ms end-of-speech wait)",
        latencies.len(),
        FIRST_TOKEN.as_millis()
    );
    println!("{:<18} {:>10} {:>10}", "end of speech →", "median ms", "p95 ms");
    let names = latencies.first().map(|l| l.stages().map(|(n, _)| n)).unwrap_or_default();
    for (i, name) in names.iter().enumerate() {
        let mut xs: Vec<f64> =
            latencies.iter().filter_map(|l| l.stages()[i].1).map(|d| d.as_secs_f64() * 1000.0).collect();
        if !xs.is_empty() {
            println!("{:<18} {:>10.0} {:>10.0}", name, median(&mut xs.clone()), percentile(&mut xs, 95.0));
        }
    }
    if let Some(rss) = peak_rss_mib() {
        println!("peak memory        {rss:.0} MiB");
    }
    println!("idle, listening    {idle}");
    Ok(())
}
