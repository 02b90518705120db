//! The window and overlay outputs, checked by a screenshot of the X screen: the frame's pixels must be on screen
//! where the windows are, the plain window showing its chroma colour through transparent parts of the frame and
//! the overlay not. Then `persona run` with its windows: the avatar window and the control panel of the live
//! conversation on screen, the panel's dashboard following the conversation, Ctrl-C ending it cleanly. Runs itself
//! under `xvfb-run` when there is no display.

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
    let mut code = ExitCode::SUCCESS;
    let tests: [(&str, fn() -> Result<(), String>); 2] = [
        ("window_and_overlay_show_the_frame", check_windows),
        ("persona_shows_the_avatar_and_the_panel_of_the_live_conversation", check_app),
    ];
    for (name, test) in tests {
        match test() {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                eprintln!("test {name} ... FAILED\n{e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    code
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

/// Takes a screenshot of the whole X screen.
fn screenshot(dir: &std::path::Path) -> Result<image::RgbImage, String> {
    let shot = dir.join("screen.png");
    let out = Command::new("import").args(["-window", "root"]).arg(&shot).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("import failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(image::open(&shot).map_err(|e| e.to_string())?.to_rgb8())
}

/// "270x480 at 0,0" from the app's `windows:` line.
fn parse_rect(text: &str) -> Option<WindowRect> {
    let (size, at) = text.trim().split_once(" at ")?;
    let (w, h) = size.split_once('x')?;
    let (x, y) = at.trim().split_once(',')?;
    Some(WindowRect { x: x.parse().ok()?, y: y.parse().ok()?, width: w.parse().ok()?, height: h.parse().ok()? })
}

/// Pixels of `img` inside `r` for which `f` holds, and all pixels of `r` on screen.
fn count(img: &image::RgbImage, r: &WindowRect, f: impl Fn([u8; 3]) -> bool) -> (usize, usize) {
    let (mut hits, mut all) = (0, 0);
    for y in r.y.max(0)..(r.y + r.height as i32).min(img.height() as i32) {
        for x in r.x.max(0)..(r.x + r.width as i32).min(img.width() as i32) {
            all += 1;
            if f(img.get_pixel(x as u32, y as u32).0) {
                hits += 1;
            }
        }
    }
    (hits, all)
}

fn close_to(got: [u8; 3], want: [u8; 3], tolerance: i32) -> bool {
    got.iter().zip(want).all(|(g, w)| (*g as i32 - w as i32).abs() <= tolerance)
}

/// `persona run` with files for the microphone and the speakers and its windows on: the avatar and the control
/// panel appear side by side, the panel's dashboard says SPEAKING (in its speaking colour) while the reply plays,
/// Ctrl-C ends the app cleanly, and the reply is in the WAV file for Whisper to hear.
fn check_app() -> Result<(), String> {
    use persona::audio::{Audio, read_wav, resample, write_wav};
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc::{RecvTimeoutError, channel};
    use std::time::Instant;

    let Some(models) = persona::testing::models_dir(&["silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx"])
    else {
        return Ok(());
    };
    let reply = "[EMOTION:😊] Hello! I am Mira, and it is very nice to meet you. I love a good conversation.";
    let server = persona::llm::ScriptServer::start(persona::llm::ScriptedReply::text(reply))
        .map_err(|e| format!("scripted LLM server: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // The question, then silence: the app runs until Ctrl-C, long before the file ends.
    let espeak = dir.path().join("espeak.wav");
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&espeak)
        .arg("Hello, who are you?")
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("espeak-ng is needed to speak the test question".into());
    }
    let a = read_wav(&espeak).map_err(|e| e.to_string())?;
    let mut question = vec![0.0f32; 8_000];
    question.extend(resample(&a.to_mono(), a.sample_rate, 16_000).iter().map(|s| s * 0.8));
    question.extend(std::iter::repeat_n(0.0, 16_000 * 40));
    let input = dir.path().join("question.wav");
    write_wav(&input, &Audio::mono(question, 16_000)).map_err(|e| e.to_string())?;
    let settings = dir.path().join("settings.toml");
    std::fs::write(&settings, "[output]\nfps = 10\n[conversation]\nkeep_log = false\n").map_err(|e| e.to_string())?;
    let voice = dir.path().join("reply.wav");

    let mut child = Command::new(env!("CARGO_BIN_EXE_persona"))
        .arg("--config")
        .arg(&settings)
        .args(["run", "--size", "270x480", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&voice)
        .env("PERSONA_MODELS", &models)
        .env("PERSONA_LLM_URL", server.url())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("persona does not start: {e}"))?;
    let (tx, lines) = channel::<String>();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let tx2 = tx.clone();
    std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
    std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).for_each(|l| drop(tx2.send(l))));

    let mut log = Vec::new();
    let mut result = (|| -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(180);
        let next_line = |log: &mut Vec<String>, wait: Duration| -> Result<Option<String>, String> {
            if Instant::now() > deadline {
                return Err("persona took too long".into());
            }
            match lines.recv_timeout(wait) {
                Ok(l) => {
                    log.push(l.clone());
                    Ok(Some(l))
                }
                Err(RecvTimeoutError::Timeout) => Ok(None),
                Err(RecvTimeoutError::Disconnected) => Err("persona exited early".into()),
            }
        };
        // "windows: avatar 270x480 at X,Y; control panel WxH at X,Y" once the first frame is on screen.
        let (avatar, panel) = loop {
            if let Some(l) = next_line(&mut log, Duration::from_secs(1))?
                && let Some(rest) = l.strip_prefix("windows: avatar ")
            {
                let (a, p) = rest.split_once("; control panel ").ok_or(format!("no control panel in: {l}"))?;
                break (parse_rect(a).ok_or(l.clone())?, parse_rect(p).ok_or(l.clone())?);
            }
        };
        if avatar.width != 270 || avatar.height != 480 {
            return Err(format!("the avatar window is {avatar:?}, not the 270x480 asked for"));
        }
        let overlap = avatar.x < panel.x + panel.width as i32 && panel.x < avatar.x + avatar.width as i32;
        if overlap && avatar.y < panel.y + panel.height as i32 && panel.y < avatar.y + avatar.height as i32 {
            return Err(format!("the control panel {panel:?} covers the avatar {avatar:?}"));
        }

        // Screenshots until the reply has been said: the avatar and the panel are on screen, and the dashboard
        // shows the conversation's state as it changes.
        let mut first = true;
        let mut speaking_shown = false;
        let mut replied = false;
        while !replied {
            let img = screenshot(dir.path())?;
            if first {
                first = false;
                // The character over the chroma green: the edges green, the middle mostly her.
                let (green, all) = count(&img, &avatar, |p| close_to(p, [0, 255, 0], 8));
                let middle = WindowRect {
                    x: avatar.x + avatar.width as i32 / 4,
                    y: avatar.y + avatar.height as i32 / 4,
                    width: avatar.width / 2,
                    height: avatar.height / 2,
                };
                let (green_middle, all_middle) = count(&img, &middle, |p| close_to(p, [0, 255, 0], 8));
                if all == 0 || green * 10 < all || green * 2 > all || green_middle * 5 > all_middle {
                    return Err(format!(
                        "the avatar window does not show the character over green: {green} of {all} pixels green, \
                         {green_middle} of {all_middle} in the middle"
                    ));
                }
                // egui's dark panel with light text on it.
                let (dark, all) = count(&img, &panel, |p| p.iter().all(|c| *c < 60));
                let (light, _) = count(&img, &panel, |p| p.iter().all(|c| *c > 150));
                if all == 0 || dark * 2 < all || light < 200 {
                    return Err(format!(
                        "the control panel is not on screen: {dark} dark and {light} light pixels of {all}"
                    ));
                }
            }
            // The dashboard's state label in the speaking colour (60, 180, 90).
            let (speaking, _) = count(&img, &panel, |p| close_to(p, [60, 180, 90], 12));
            if speaking > 40
                && !speaking_shown
                && let Ok(docs) = std::env::var("PERSONA_SCREENSHOTS")
            {
                // The README's picture of the app: `PERSONA_SCREENSHOTS=docs xvfb-run -a cargo test --test windows`.
                std::fs::copy(dir.path().join("screen.png"), std::path::Path::new(&docs).join("app-speaking.png"))
                    .map_err(|e| e.to_string())?;
            }
            speaking_shown |= speaking > 40;
            while let Some(l) = next_line(&mut log, Duration::from_millis(if speaking_shown { 500 } else { 50 }))? {
                replied |= l.starts_with("Mira: ");
            }
        }
        if !speaking_shown {
            return Err("the dashboard never showed SPEAKING while the reply played".into());
        }
        // Ctrl-C: the app ends the conversation and exits on its own, well before the input file ends.
        // SAFETY: kill(2) with the pid of our own child.
        if unsafe { libc::kill(child.id() as i32, libc::SIGINT) } != 0 {
            return Err("cannot send Ctrl-C".into());
        }
        let status = loop {
            while next_line(&mut log, Duration::from_millis(50)).unwrap_or(None).is_some() {}
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() > deadline {
                return Err("persona did not end after Ctrl-C".into());
            }
        };
        while let Ok(l) = lines.try_recv() {
            log.push(l);
        }
        if !status.success() || !log.iter().any(|l| l.contains("stopping (Ctrl-C)")) {
            return Err(format!("Ctrl-C did not end the app cleanly: {status}"));
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if result.is_ok() {
        // The reply, heard by Whisper in the voice file the app finished writing.
        let mut asr = persona::config::AsrSettings::default();
        asr.initial_prompt = "Mira".into();
        let mut whisper =
            persona::asr::Whisper::open(&models.join("ggml-tiny.en.bin"), &asr).map_err(|e| e.to_string())?;
        let audio = read_wav(&voice).map_err(|e| format!("the reply WAV: {e}"))?;
        use persona::asr::Transcriber as _;
        let heard = whisper.transcribe(&audio.to_mono_at(16_000)).map_err(|e| e.to_string())?.text.to_lowercase();
        if !(heard.contains("nice to meet you") && heard.contains("conversation")) {
            result = Err(format!("Whisper heard \"{heard}\" in the reply"));
        }
    }
    result.map_err(|e| format!("{e}\npersona said:\n{}", log.join("\n")))
}
