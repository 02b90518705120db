//! The avatar window under X: `persona avatar` opens, shows the character, and a screenshot of the screen
//! (`import -window root`, ImageMagick) has her colours in the middle. Without a DISPLAY this test re-runs
//! itself under `xvfb-run -a`. Own binary with `harness = false`: a window wants the process's main thread.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    if std::env::var_os("DISPLAY").is_none() {
        let me = std::env::current_exe().expect("test binary path");
        let status = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 640x1000x24"])
            .arg(me)
            .status()
            .expect("xvfb-run (apt-get install xvfb) to run the window test headless");
        std::process::exit(status.code().unwrap_or(1));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("settings.toml");
    std::fs::write(&config, "[output]\nwindow_background = \"#00ff00\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(["--config"])
        .arg(&config)
        .args(["avatar", "--size", "540x960", "--exit-after", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("persona avatar starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("first frame shown") => break,
            Some(Ok(_)) => continue,
            _ => {
                let _ = child.kill();
                panic!("persona avatar exited before showing a frame");
            }
        }
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    // Let a few frames go by, then photograph the screen.
    std::thread::sleep(Duration::from_millis(800));
    let shot = dir.path().join("shot.png");
    let ok = Command::new("import").args(["-window", "root"]).arg(&shot).status().expect("ImageMagick import");
    assert!(ok.success());
    let img = image::open(&shot).unwrap().to_rgb8();
    let _ = child.kill();
    let _ = child.wait();
    let (w, h) = img.dimensions();
    let mut green = 0;
    let mut hair = 0;
    let mut skin = 0;
    for y in 0..h.min(960) {
        for x in 0..w.min(540) {
            let p = img.get_pixel(x, y).0.map(i32::from);
            if p == [0, 255, 0] {
                green += 1;
            }
            if p[2] > p[1] + 30 && p[0] > p[1] && p[2] > 60 && p[0] < 180 {
                hair += 1; // violet
            }
            if p[0] > 230 && p[1] > 190 && p[2] > 170 && p[0] > p[2] + 10 {
                skin += 1;
            }
        }
    }
    println!("screenshot {w}×{h}: background {green}, hair {hair}, skin {skin} pixels");
    assert!(green > 10_000, "the window's chroma-key background is on screen");
    assert!(hair > 5_000, "her hair is on screen");
    assert!(skin > 3_000, "her face is on screen");
    println!("avatar_window: ok");
}
