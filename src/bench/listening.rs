//! `persona bench listening`: Silero VAD per chunk, Whisper's real-time factor (jfk.wav and 3 s clips, with and
//! without DTW word alignment), and the time from the end of speech to the final transcript with and without the
//! work done while the user speaks (partials and the early final), on a spoken conversation played in real time.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::{median, time_ms};
use crate::asr::{ListenEventKind, Listener, ListenerOptions, Transcriber, Whisper};
use crate::audio::{Audio, Capture, Pace, read_wav, write_wav};
use crate::cli::Context;
use crate::vad::{CHUNK, SileroVad};

const LINES: [&str; 4] = [
    "Hello Mira, how are you doing today?",
    "I would like to hear a short story about a dragon.",
    "Please make it funny.",
    "It is cold and rainy outside.",
];

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let jfk_path = ctx.paths.model("jfk.wav");
    let jfk =
        read_wav(&jfk_path).with_context(|| "the benchmark uses jfk.wav from the models folder")?.to_mono_at(16_000);
    let jfk_s = jfk.len() as f64 / 16_000.0;

    // VAD: every chunk of jfk.wav, five times.
    let mut vad = SileroVad::new(&ctx.settings.vad, &ctx.paths)?;
    let mut per_chunk: Vec<f64> = Vec::new();
    for _ in 0..5 {
        vad.reset();
        for chunk in jfk.chunks_exact(CHUNK) {
            let t = Instant::now();
            vad.process(chunk)?;
            per_chunk.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!("vad: {:.3} ms per 32 ms chunk (median of {})", median(&mut per_chunk), per_chunk.len());

    // Whisper real-time factor, with and without DTW word alignment.
    let model = ctx.paths.model(&ctx.settings.asr.model);
    for dtw in [true, false] {
        let mut w = Whisper::open_with_dtw(&model, &ctx.settings.asr, dtw)?;
        let label = if w.has_dtw() { "with DTW" } else { "token timestamps" };
        w.transcribe(&jfk[..16_000])?; // warm-up
        let mut t = time_ms(3, || w.transcribe(&jfk).map(|t| t.text.len()).unwrap_or(0));
        let m = median(&mut t);
        println!(
            "whisper {} ({label}, {} threads): jfk.wav {:.0} ms for {jfk_s:.1} s, RTF {:.3}",
            ctx.settings.asr.model,
            w.threads(),
            m,
            m / 1000.0 / jfk_s
        );
        let clips: Vec<&[f32]> = jfk.chunks_exact(48_000).collect();
        let mut t: Vec<f64> = Vec::new();
        for _ in 0..2 {
            for c in &clips {
                t.extend(time_ms(1, || w.transcribe(c).map(|t| t.text.len()).unwrap_or(0)));
            }
        }
        let m = median(&mut t);
        println!("whisper ({label}): 3 s clips {:.0} ms, RTF {:.3} (median of {})", m, m / 3000.0, t.len());
    }

    // End of speech → final transcript, on a conversation played at real-time pace.
    let dir = tempfile_dir()?;
    let conv = conversation(&dir)?;
    for (name, options) in [
        ("partials + early final", ListenerOptions::from_settings(&ctx.settings.asr)),
        ("final only", ListenerOptions::final_only()),
    ] {
        let mut from_end = Vec::new();
        let mut from_confirm = Vec::new();
        let mut early = 0;
        let mut finals = 0;
        for _ in 0..2 {
            let capture = Capture::wav_file(&conv, Pace::RealTime)?;
            let vad = SileroVad::new(&ctx.settings.vad, &ctx.paths)?;
            let asr = crate::asr::from_settings(&ctx.settings.asr, &ctx.paths)?;
            let start = Instant::now();
            let (listener, events) = Listener::start(capture, vad, &ctx.settings.vad, asr, options)?;
            let mut confirmed = None;
            for ev in events.iter() {
                match ev.kind {
                    ListenEventKind::SpeechEnded { .. } => confirmed = Some(ev.at),
                    ListenEventKind::Final { end_s, early: e, .. } => {
                        let spoken_end = start + Duration::from_secs_f32(end_s);
                        from_end.push(ev.at.saturating_duration_since(spoken_end).as_secs_f64() * 1000.0);
                        if let Some(c) = confirmed {
                            from_confirm.push(ev.at.saturating_duration_since(c).as_secs_f64() * 1000.0);
                        }
                        early += usize::from(e);
                        finals += 1;
                    }
                    ListenEventKind::Error(e) => bail!("listening failed: {e}"),
                    ListenEventKind::Ended => break,
                    _ => {}
                }
            }
            listener.stop();
        }
        println!(
            "end of speech -> final ({name}): {:.0} ms from the last word, {:.0} ms after the pause is confirmed (medians of {finals}; {early} ready during the pause)",
            median(&mut from_end),
            median(&mut from_confirm),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(rss) = super::peak_rss_mib() {
        println!("peak memory: {rss:.0} MiB");
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("persona-bench-listening-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The test conversation: four lines spoken by espeak-ng with pauses of 0.6-2 s, 16 kHz.
fn conversation(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let mut audio = vec![0.0f32; 12_800];
    for (line, pause) in LINES.iter().zip([0.6, 2.0, 1.2, 1.0]) {
        let f = dir.join("line.wav");
        let ok = std::process::Command::new("espeak-ng")
            .args(["-v", "en-us", "-s", "160", "-w"])
            .arg(&f)
            .arg(line)
            .status()
            .context("the latency benchmark speaks its conversation with espeak-ng; install it")?;
        if !ok.success() {
            bail!("espeak-ng failed");
        }
        let s = read_wav(&f)?.to_mono_at(16_000);
        let first = s.iter().position(|x| x.abs() > 0.01).unwrap_or(0);
        let last = s.iter().rposition(|x| x.abs() > 0.01).unwrap_or(s.len());
        audio.extend_from_slice(&s[first..last]);
        audio.extend(std::iter::repeat_n(0.0, (pause * 16_000.0) as usize));
    }
    let path = dir.join("conversation.wav");
    write_wav(&path, &Audio::mono(audio, 16_000))?;
    Ok(path)
}
