//! `persona bench outputs`: what each output costs per 1080×1920 frame (medians), so the render loop's budget
//! (33 ms at 30 fps) can be checked. Pipes write to a null writer, PNGs to a temporary folder; the window is
//! measured only where a display exists.

use std::time::Duration;

use crate::bench::{median, time_ms};
use crate::cli::Context;
use crate::config::{SubtitleSettings, parse_colour};
use crate::output::convert::{Matrix, nv12_len, rgba_to_nv12, rgba_to_yuyv, yuyv_len};
use crate::output::raw::{RgbaSink, Y4mSink};
use crate::output::{Frame, FrameSink, VideoFormat};
use crate::subtitles::{Style, Subtitles, Word, composite};

const W: u32 = 1080;
const H: u32 = 1920;
const RUNS: usize = 20;

/// A frame with some variety (gradients, transparent and half-transparent parts), premultiplied.
fn sample_frame() -> Frame {
    let mut rgba = Vec::with_capacity((W * H * 4) as usize);
    for y in 0..H {
        for x in 0..W {
            let a = if x < W / 4 {
                0
            } else if y < H / 3 {
                128
            } else {
                255
            };
            let pm = |c: u32| ((c * a + 127) / 255) as u8;
            rgba.extend_from_slice(&[pm(x % 256), pm(y % 256), pm((x + y) % 256), a as u8]);
        }
    }
    Frame { width: W, height: H, rgba }
}

fn report(name: &str, mut ms: Vec<f64>) {
    println!("{name:<34} {:>8.2} ms/frame (median of {})", median(&mut ms), ms.len());
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let frame = sample_frame();
    let format = VideoFormat { width: W, height: H, fps: 30 };
    println!("frame {W}×{H}; pipes write to a null writer");

    let mut y4m = Y4mSink::to_writer(Box::new(std::io::sink()), format, "y4m:null".into())?;
    report("y4m (yuva444p)", time_ms(RUNS, || y4m.send(&frame)));
    let mut rgba = RgbaSink::to_writer(Box::new(std::io::sink()), format, "rgba:null".into());
    report("raw rgba (unpremultiply)", time_ms(RUNS, || rgba.send(&frame)));

    let mut out = vec![0; yuyv_len(W, H)];
    report(
        "v4l2 YUYV conversion (BT.709)",
        time_ms(RUNS, || rgba_to_yuyv(&frame.rgba, W, H, [0, 255, 0], Matrix::Bt709, &mut out)),
    );
    let mut out = vec![0; nv12_len(W, H)];
    report(
        "v4l2 NV12 conversion (BT.709)",
        time_ms(RUNS, || rgba_to_nv12(&frame.rgba, W, H, [0, 255, 0], Matrix::Bt709, &mut out)),
    );

    let dir = tempfile_dir()?;
    let mut png = crate::output::png::PngSink::open(dir.to_str().unwrap_or("."), format)?;
    report("png (fast compression)", time_ms(5, || png.send(&frame)));
    let _ = std::fs::remove_dir_all(&dir);

    let style = Style::from_settings(&ctx.settings.subtitles)
        .or_else(|_| Style::from_settings(&SubtitleSettings::default()))
        .map_err(anyhow::Error::msg)?;
    let words: Vec<Word> = "Hello everyone, welcome back to the stream! Tonight we are drawing together"
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| Word::new(w, i as f64 * 0.3, i as f64 * 0.3 + 0.25))
        .collect();
    let mut i = 0;
    report(
        "subtitles: new word (layout+draw)",
        time_ms(RUNS, || {
            // A new word each time defeats the cache: the cost when the highlight moves.
            let mut subs = Subtitles::new(style.clone());
            i = (i + 1) % words.len();
            subs.overlay(&words, words[i].start_s + 0.01, W, H).map(|o| o.height)
        }),
    );
    let mut subs = Subtitles::new(style);
    let mut target = frame.clone();
    report(
        "subtitles: same word (cached)+composite",
        time_ms(RUNS, || {
            if let Some(o) = subs.overlay(&words, 0.01, W, H) {
                composite(&mut target, o);
            }
        }),
    );

    if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        let bg = parse_colour(&ctx.settings.output.window_background).unwrap_or([0, 255, 0, 255]);
        let mut w = crate::output::window::WindowSink::open(
            vec![crate::output::window::WindowKind::Plain { background: bg }],
            format,
        )?;
        w.idle(Duration::from_millis(200))?;
        report("window (upload + draw + present)", time_ms(RUNS, || w.send(&frame)));
        w.finish()?;
    } else {
        println!("{:<34} skipped (no display; run under xvfb-run -a to measure)", "window");
    }
    println!("v4l2 write and spout upload: measured only with a device (not in this benchmark)");
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("persona-bench-png-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
