//! `persona bench [AREA]`: measurements of speed and memory, reported as medians (and p95 where it matters).
//!
//! Timings never appear as assertions in tests: these machines are shared and noisy. Run benchmarks from a
//! release build for figures worth quoting: `cargo run --release -- bench AREA`.

use crate::cli::Context;

mod listening;

/// One area of benchmarks: a name for the command line and a function that prints its report.
pub struct Area {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&Context) -> anyhow::Result<()>,
}

/// Every area, in pipeline order. Each module adds its line here.
pub const AREAS: &[Area] = &[
    Area {
        name: "listening",
        about: "Silero VAD per chunk, Whisper real-time factor, end of speech to final transcript",
        run: listening::run,
    },
    Area {
        name: "thinking",
        about: "LLM client: added latency from the first byte to the first speakable chunk",
        run: crate::llm::bench::run,
    },
    Area {
        name: "speaking",
        about: "Kokoro and Piper real-time factors; time to first audio of a streamed first clause",
        run: crate::tts::bench::run,
    },
    Area {
        name: "rvc",
        about: "voice conversion chain: real-time factor per pitch method",
        run: crate::rvc::bench::run,
    },
    Area {
        name: "conversation",
        about: "scripted conversations at real-time pace: each turn stage (median, p95), peak memory, idle CPU",
        run: crate::pipeline::bench::run,
    },
    Area {
        name: "avatar",
        about: "rig evaluation per frame, 1080×1920 render + readback fps",
        run: crate::avatar::bench::run,
    },
    Area {
        name: "outputs",
        about: "cost of each frame output and of subtitles per 1080×1920 frame",
        run: crate::output::bench::run,
    },
];

/// Median of a sample (sorts it). NaN-free input expected; an empty sample gives NaN.
pub fn median(xs: &mut [f64]) -> f64 {
    percentile(xs, 50.0)
}

/// Nearest-rank percentile (sorts the sample).
pub fn percentile(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * xs.len() as f64).ceil().max(1.0) as usize;
    xs[rank.min(xs.len()) - 1]
}

/// Runs `f` `n` times and returns each run's wall time in milliseconds.
pub fn time_ms<T>(n: usize, mut f: impl FnMut() -> T) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = std::time::Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// Peak resident memory of this process in MiB (Linux: VmHWM), if the platform tells.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(percentile(&mut (1..=100).map(f64::from).collect::<Vec<_>>(), 95.0), 95.0);
        assert!(median(&mut []).is_nan());
    }
}
