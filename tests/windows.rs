//! The window and overlay outputs, checked by a screenshot of the X screen: the frame's pixels must be on screen
//! where the windows are, the plain window showing its chroma colour through transparent parts of the frame and
//! the overlay not. Runs itself under `xvfb-run` when there is no display.

use std::process::{Command, ExitCode};
use std::time::Duration;

use persona::output::window::{WindowKind, WindowRect, WindowSink};
use persona::output::{Frame, FrameSink, VideoFormat};

const W: u32 = 320;
const H: u32 = 240;

/// Left half opaque red; right half transparent at the top, half-transparent blue at the bottom.
fn frame() -> Frame {
    let mut f = Frame::filled(W, H, [0, 0, 0, 0]);
    for y in 0..H {
        for x in 0..W {
            let px = if x < W / 2 {
                [255, 0, 0, 255]
            } else if y < H / 2 {
                [0, 0, 0, 0]
            } else {
                [0, 0, 128, 128]
            };
            let i = ((y * W + x) * 4) as usize;
            f.rgba[i..i + 4].copy_from_slice(&px);
        }
    }
    f
}

fn main() -> ExitCode {
    if std::env::var_os("WGPU_BACKEND").is_none() {
        // Under Xvfb, lavapipe's Vulkan swapchain presents nothing into a 32-bit (ARGB) window, which the
        // transparent overlay needs; Mesa's GL path does. Real drivers with a compositor present either way.
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("WGPU_BACKEND", "gl") };
    }
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        // No display: run this same test binary under a virtual X server.
        let exe = std::env::current_exe().expect("test binary path");
        let status = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x1024x24"])
            .arg(exe)
            .args(std::env::args_os().skip(1))
            .status();
        return match status {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            Ok(s) => {
                eprintln!("windows test failed under xvfb-run: {s}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("no display and no xvfb-run ({e}); install xvfb to run the window tests");
                ExitCode::FAILURE
            }
        };
    }
    match check_windows() {
        Ok(()) => {
            println!("test window_and_overlay_show_the_frame ... ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("test window_and_overlay_show_the_frame ... FAILED\n{e}");
            ExitCode::FAILURE
        }
    }
}

fn check_windows() -> Result<(), String> {
    let format = VideoFormat { width: W, height: H, fps: 30 };
    let kinds = vec![WindowKind::Plain { background: [0, 255, 0, 255] }, WindowKind::Overlay];
    let mut sink = WindowSink::open(kinds, format).map_err(|e| e.to_string())?;
    let f = frame();
    for _ in 0..5 {
        sink.send(&f).map_err(|e| e.to_string())?;
        sink.idle(Duration::from_millis(60)).map_err(|e| e.to_string())?;
    }
    let rects = sink.window_rects();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let shot = dir.path().join("screen.png");
    let out = Command::new("import").args(["-window", "root"]).arg(&shot).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("import failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    sink.finish().map_err(|e| e.to_string())?;
    let img = image::open(&shot).map_err(|e| e.to_string())?.to_rgb8();

    let probe = |r: &WindowRect, fx: f32, fy: f32| {
        let (x, y) = (r.x + (r.width as f32 * fx) as i32, r.y + (r.height as f32 * fy) as i32);
        img.get_pixel(x as u32, y as u32).0
    };
    let near = |got: [u8; 3], want: [u8; 3]| got.iter().zip(want).all(|(g, w)| (*g as i32 - w as i32).abs() <= 3);
    let mut failures = Vec::new();
    for (kind, r) in &rects {
        if r.width != W || r.height != H {
            failures.push(format!("{kind:?} window is {}×{}, expected the frame's {W}×{H}", r.width, r.height));
        }
        let expected: [(f32, f32, [u8; 3]); 3] = match kind {
            // Transparent parts show the chroma colour; half-transparent blue is mixed with it.
            WindowKind::Plain { .. } => {
                [(0.25, 0.5, [255, 0, 0]), (0.75, 0.25, [0, 255, 0]), (0.75, 0.75, [0, 127, 128])]
            }
            // The overlay has no background of its own: X (no compositor here) shows its premultiplied pixels.
            WindowKind::Overlay => [(0.25, 0.5, [255, 0, 0]), (0.75, 0.25, [0, 0, 0]), (0.75, 0.75, [0, 0, 128])],
        };
        for (fx, fy, want) in expected {
            let got = probe(r, fx, fy);
            if !near(got, want) {
                failures.push(format!("{kind:?} at {r:?} ({fx},{fy}): screen has {got:?}, frame should show {want:?}"));
            }
        }
    }
    if rects.len() != 2 {
        failures.push(format!("expected two windows, got {rects:?}"));
    } else if rects[0].1.x == rects[1].1.x && rects[0].1.y == rects[1].1.y {
        failures.push("the overlay should start in the bottom-right corner, not on top of the window".into());
    }
    if failures.is_empty() { Ok(()) } else { Err(failures.join("\n")) }
}
