//! The picture of the conversation: the avatar driven by what is heard (mouth from the phoneme timeline,
//! expressions when the audio reaches their tags, subtitles with the word being heard), rendered at the output
//! frame rate and sent to every frame output.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::stage::Stage;
use crate::avatar::Avatar;
use crate::config::SharedSettings;
use crate::lipsync::LipSync;
use crate::output::{FrameSink, OutputSpec, VideoFormat};
use crate::render::{Frame, Gpu, Renderer};
use crate::subtitles::{Style, Subtitles, Word, composite};

/// Renders frames until `stop` is cancelled. Runs on its own thread; returns how many frames it sent.
///
/// `outputs` are opened here; `more` are sinks opened elsewhere, such as the feed of the avatar window that the
/// app's event loop draws on the main thread (see `crate::app`).
pub fn run(
    live: &SharedSettings,
    mut avatar: Avatar,
    stage: Stage,
    outputs: &[OutputSpec],
    more: Vec<Box<dyn FrameSink + Send>>,
    size: (u32, u32),
    stop: CancellationToken,
) -> anyhow::Result<u64> {
    let settings = live.read().unwrap_or_else(|e| e.into_inner()).clone();
    let (w, h) = size;
    let fps = settings.output.fps.max(1);
    let background = crate::config::parse_colour(&settings.output.window_background).unwrap_or([0, 255, 0, 255]);
    let mut sinks = crate::output::open(outputs, VideoFormat { width: w, height: h, fps }, background)?;
    sinks.extend(more.into_iter().map(|s| s as Box<dyn FrameSink>));
    let gpu = Gpu::new()?;
    let mut renderer = Renderer::new(&gpu, w, h)?;
    renderer.set_textures(&avatar.puppet.textures);
    let (mut lipsync_settings, mut subtitle_settings) = (settings.lipsync.clone(), settings.subtitles.clone());
    let mut lipsync = LipSync::new(&lipsync_settings);
    let mut subtitles = subtitles_for(&subtitle_settings)?;
    let mut expressions_after = None;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut send = |mut frame: Frame, subtitles: &mut Option<Subtitles>, sinks: &mut Vec<Box<dyn FrameSink>>| {
        if let Some(subs) = subtitles.as_mut()
            && let Some((words, t)) = stage.words_now()
        {
            let words: Vec<Word> = words.into_iter().map(|(text, s, e)| Word::new(text, s, e)).collect();
            if let Some(overlay) = subs.overlay(&words, t, w, h) {
                composite(&mut frame, overlay);
            }
        }
        for sink in sinks.iter_mut() {
            sink.send(&frame).with_context(|| format!("output {}", sink.name()))?;
        }
        sent += 1;
        anyhow::Ok(())
    };
    let mut n = 0u64;
    while !stop.is_cancelled() {
        // Lip-sync style and subtitles follow the control panel from the next frame.
        {
            let now = live.read().unwrap_or_else(|e| e.into_inner());
            if now.lipsync != lipsync_settings {
                lipsync_settings = now.lipsync.clone();
                lipsync = LipSync::new(&lipsync_settings);
            }
            if now.subtitles != subtitle_settings {
                subtitle_settings = now.subtitles.clone();
                match subtitles_for(&subtitle_settings) {
                    Ok(s) => subtitles = s,
                    Err(e) => tracing::warn!("subtitles not changed: {e:#}"),
                }
            }
        }
        for (name, value) in stage.mouth(&lipsync).named() {
            avatar.set(name, value);
        }
        for expression in stage.expressions_due(&mut expressions_after).into_iter().chain(stage.take_previews()) {
            avatar.show_expression(&expression);
        }
        let scene = avatar.update(1.0 / fps as f32);
        if let Some(frame) = renderer.render(scene)? {
            send(frame, &mut subtitles, &mut sinks)?;
        }
        n += 1;
        let due = started + Duration::from_secs_f64(n as f64 / fps as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    for frame in renderer.finish()? {
        send(frame, &mut subtitles, &mut sinks)?;
    }
    for sink in sinks.iter_mut() {
        sink.finish().with_context(|| format!("output {}", sink.name()))?;
    }
    Ok(sent)
}

/// The subtitle renderer for `settings` (none when they are off).
fn subtitles_for(settings: &crate::config::SubtitleSettings) -> anyhow::Result<Option<Subtitles>> {
    if !settings.enabled {
        return Ok(None);
    }
    Ok(Some(Subtitles::new(Style::from_settings(settings).map_err(anyhow::Error::msg)?)))
}
