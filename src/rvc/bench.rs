//! `persona bench rvc`: real-time factor of the voice conversion chain for each pitch method (median of runs).
//!
//! No registry ships RVC models, so the chain runs with the interface-faithful stand-ins of [`super::graphs`] for
//! the content encoder, RMVPE and the generator (far cheaper than the real networks) and the real CREPE tiny.
//! The figures therefore measure our own code (resampling, mel, pitch decoding, SOLA), CREPE, and ONNX Runtime's
//! per-call overhead; with the real models add their inference time. When `[rvc] voice_model` names a real voice,
//! its chain (with the configured content encoder and pitch models) is measured too.

use anyhow::Context as _;

use super::{Rvc, VoiceFilter, graphs};
use crate::audio::{read_wav, resample};
use crate::bench::{median, time_ms};
use crate::cli::Context;
use crate::config::{PitchMethod, RvcSettings};

/// Pieces of the size the TTS stage hands over, at Kokoro's rate.
const RATE: u32 = 24_000;
const PIECE_MS: usize = 250;
const RUNS: usize = 3;

fn stream_once(filter: &mut Rvc, x: &[f32]) -> anyhow::Result<usize> {
    let piece = RATE as usize * PIECE_MS / 1000;
    let mut n = 0;
    for chunk in x.chunks(piece) {
        n += filter.process(chunk, RATE)?.len();
    }
    n += filter.flush().len();
    Ok(n)
}

fn report(label: &str, filter: &mut Rvc, x: &[f32]) -> anyhow::Result<()> {
    let seconds = x.len() as f64 / RATE as f64;
    stream_once(filter, x)?; // warm-up: first-run allocations in ONNX Runtime
    let mut err = None;
    let mut cpu = Vec::new();
    let mut ms = time_ms(RUNS, || {
        let before = cpu_seconds();
        if let Err(e) = stream_once(filter, x) {
            err = Some(e);
        }
        if let (Some(a), Some(b)) = (before, cpu_seconds()) {
            cpu.push(b - a);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let rtf = median(&mut ms) / 1000.0 / seconds;
    let cpu =
        if cpu.is_empty() { String::new() } else { format!(", CPU time {:.3} x audio", median(&mut cpu) / seconds) };
    println!("{label:<46} real-time factor {rtf:.3}{cpu} (median of {RUNS}, {seconds:.1} s in {PIECE_MS} ms pieces)");
    Ok(())
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let models = &ctx.paths.models_dir;
    let jfk = models.join("jfk.wav");
    let speech = read_wav(&jfk).with_context(|| format!("the benchmark speaks {}", jfk.display()))?;
    let x = resample(&speech.to_mono(), speech.sample_rate, RATE);
    let dir = tempfile_dir()?;
    graphs::content_encoder().save(&dir.join("vec-768-layer-12.onnx"))?;
    graphs::rmvpe().save(&dir.join("rmvpe.onnx"))?;
    graphs::generator(40_000).save(&dir.join("voice40k.onnx"))?;
    let crepe = ctx.paths.model(&ctx.settings.rvc.crepe_model);
    for method in [PitchMethod::Rmvpe, PitchMethod::Crepe] {
        let settings = RvcSettings {
            voice_model: dir.join("voice40k.onnx").display().to_string(),
            content_encoder: dir.join("vec-768-layer-12.onnx").display().to_string(),
            rmvpe_model: dir.join("rmvpe.onnx").display().to_string(),
            crepe_model: crepe.display().to_string(),
            pitch_method: method,
            pitch_shift: 0.0,
            ..ctx.settings.rvc.clone()
        };
        let mut filter = Rvc::new(&settings, &ctx.paths)?;
        let label = match method {
            PitchMethod::Rmvpe => "chain, stand-in models, pitch rmvpe (stand-in)",
            PitchMethod::Crepe => "chain, stand-in models, pitch crepe (real)",
        };
        report(label, &mut filter, &x)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let own = &ctx.settings.rvc;
    if !own.voice_model.trim().is_empty() {
        let mut filter = Rvc::new(own, &ctx.paths).context("the voice model set in [rvc]")?;
        let label = format!("chain, your models, pitch {:?}", own.pitch_method).to_lowercase();
        report(&label, &mut filter, &x)?;
    } else {
        println!("(set [rvc] voice_model to a real RVC export to measure it too)");
    }
    Ok(())
}

/// CPU time this process has used (user + system), where the platform tells (Linux: /proc/self/stat). On a
/// shared machine it shows the work done apart from waiting for a core.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces): utime and stime are the 12th
    // and 13th, in clock ticks of 1/100 s on Linux.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A fresh folder for the stand-in models (removed afterwards).
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("persona-rvc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
