//! `persona bench avatar`: CPU time of rig evaluation per frame (motion + physics + deformation of the default
//! avatar), and frames per second rendering 1080×1920 with readback through the ring, on whatever adapter
//! wgpu finds (lavapipe on machines without a GPU). Medians.

use crate::bench::{median, percentile, time_ms};
use crate::cli::Context;

use super::Avatar;
use crate::render::{Gpu, Renderer};

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let mut avatar = Avatar::load(None, &ctx.settings.avatar)?;
    avatar.set("MouthOpenY", 0.5);
    let mut t = 0.0f32;
    let mut rig = time_ms(600, || {
        t += 1.0 / 60.0;
        avatar.set("MouthOpenY", 0.5 + 0.5 * (t * 9.0).sin());
        avatar.update(1.0 / 60.0).vertices.len()
    });
    println!(
        "rig evaluation (default avatar, {} vertices): median {:.3} ms, p95 {:.3} ms per frame",
        avatar.rig.scene().vertices.len(),
        median(&mut rig),
        percentile(&mut rig, 95.0)
    );
    let gpu = Gpu::new()?;
    let (w, h) = (1080, 1920);
    let mut renderer = Renderer::new(&gpu, w, h)?;
    renderer.set_textures(&avatar.puppet.textures);
    // Warm up pipelines.
    let scene = avatar.update(1.0 / 60.0).clone();
    renderer.render_frame(&scene)?;
    let frames = 60;
    let mut got = 0usize;
    let start = std::time::Instant::now();
    let mut per_frame = Vec::with_capacity(frames);
    for _ in 0..frames {
        let f0 = std::time::Instant::now();
        let scene = avatar.update(1.0 / 60.0);
        if renderer.render(scene)?.is_some() {
            got += 1;
        }
        per_frame.push(f0.elapsed().as_secs_f64() * 1000.0);
    }
    got += renderer.finish()?.len();
    let total = start.elapsed().as_secs_f64();
    println!(
        "render {w}×{h} + readback on {}: {:.1} fps ({} frames in {:.2} s), median {:.2} ms per submitted frame",
        gpu.describe(),
        got as f64 / total,
        got,
        total,
        median(&mut per_frame)
    );
    Ok(())
}
