//! Outputs checked by the tools people will use on them: ffprobe/ffmpeg read our y4m, raw RGBA and PNG streams
//! back, and ffmpeg's own RGB → YUV conversion is the reference for the virtual-camera pixel formats.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use persona::output::convert::{Matrix, nv12_len, rgba_to_nv12, rgba_to_yuva444, rgba_to_yuyv, yuyv_len};
use persona::output::png::PngSink;
use persona::output::raw::{RgbaSink, Y4mSink};
use persona::output::{Frame, FrameSink, OutputError, OutputSpec, VideoFormat};

const W: u32 = 64;
const H: u32 = 48;
const FPS: u32 = 30;

/// Frame `n` of a test clip: a gradient, a moving opaque square, a half-transparent band and a transparent
/// corner, all premultiplied.
fn test_frame(n: u32) -> Frame {
    let mut rgba = Vec::with_capacity((W * H * 4) as usize);
    for y in 0..H {
        for x in 0..W {
            let a: u32 = if x < 8 && y < 8 {
                0
            } else if (20..28).contains(&y) {
                128
            } else {
                255
            };
            let (mut r, mut g, mut b) = ((x * 4) % 256, (y * 5) % 256, (n * 40 + x + y) % 256);
            let sq = n * 6;
            if x >= sq && x < sq + 10 && (30..40).contains(&y) {
                (r, g, b) = (250, 20, 200);
            }
            let pm = |c: u32| ((c * a + 127) / 255) as u8;
            rgba.extend_from_slice(&[pm(r), pm(g), pm(b), a as u8]);
        }
    }
    Frame { width: W, height: H, rgba }
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.stderr(Stdio::piped()).output().expect("ffmpeg/ffprobe run (installed with the test tools)");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn ffmpeg_decode(input: &Path, pix_fmt: &str) -> Vec<u8> {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(input)
        .args(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]))
}

fn premultiply(px: &[u8]) -> [u8; 4] {
    let a = px[3] as u32;
    let pm = |c: u8| ((c as u32 * a + 127) / 255) as u8;
    [pm(px[0]), pm(px[1]), pm(px[2]), px[3]]
}

/// Decoded straight-alpha RGBA equals the premultiplied frames, within `tol` per channel after premultiplying.
fn assert_rgba_matches(decoded: &[u8], frames: &[Frame], tol: i32) {
    assert_eq!(decoded.len(), frames.len() * (W * H * 4) as usize);
    for (f, (got, want)) in decoded.chunks_exact((W * H * 4) as usize).zip(frames).enumerate() {
        for (i, (g, w)) in got.chunks_exact(4).zip(want.rgba.chunks_exact(4)).enumerate() {
            let g = premultiply(g);
            assert_eq!(g[3], w[3], "frame {f} pixel {i}: alpha");
            for c in 0..3 {
                let d = (g[c] as i32 - w[c] as i32).abs();
                assert!(d <= tol, "frame {f} pixel {i} channel {c}: got {g:?} want {w:?}");
            }
        }
    }
}

#[test]
fn y4m_reads_back_with_size_rate_count_and_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.y4m");
    let frames: Vec<Frame> = (0..7).map(test_frame).collect();
    let spec: OutputSpec = format!("y4m:{}", path.display()).parse().unwrap();
    let mut sinks = persona::output::open(&[spec], VideoFormat { width: W, height: H, fps: FPS }, [0, 255, 0, 255])
        .expect("open y4m");
    for f in &frames {
        sinks[0].send(f).unwrap();
    }
    sinks[0].finish().unwrap();

    let probe = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,r_frame_rate,nb_read_frames,pix_fmt",
            "-of",
            "json",
        ])
        .arg(&path));
    let probe: serde_json::Value = serde_json::from_slice(&probe).unwrap();
    let s = &probe["streams"][0];
    assert_eq!(s["width"], W);
    assert_eq!(s["height"], H);
    assert_eq!(s["r_frame_rate"], "30/1");
    assert_eq!(s["nb_read_frames"], "7");
    assert_eq!(s["pix_fmt"], "yuva444p");

    // The planes ffmpeg decodes are exactly the ones we converted...
    let planes = ffmpeg_decode(&path, "yuva444p");
    let mut want = Vec::new();
    for f in &frames {
        let mut buf = vec![0; (W * H * 4) as usize];
        rgba_to_yuva444(&f.rgba, W, H, &mut buf);
        want.extend_from_slice(&buf);
    }
    assert!(planes == want, "decoded y4m planes differ from the frames written");
    // ...and ffmpeg's own conversion back to RGBA gives the frames' pixels (8-bit YUV rounding aside).
    assert_rgba_matches(&ffmpeg_decode(&path, "rgba"), &frames, 3);
}

#[test]
fn raw_rgba_and_png_read_back_through_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let format = VideoFormat { width: W, height: H, fps: FPS };
    let frames: Vec<Frame> = (0..4).map(test_frame).collect();
    let raw_path = dir.path().join("clip.rgba");
    let png_dir = dir.path().join("png");
    let mut rgba = RgbaSink::open(raw_path.to_str().unwrap(), format).unwrap();
    let mut png = PngSink::open(png_dir.to_str().unwrap(), format).unwrap();
    for f in &frames {
        rgba.send(f).unwrap();
        png.send(f).unwrap();
    }
    rgba.finish().unwrap();
    png.finish().unwrap();

    let size = format!("{W}x{H}");
    let decoded = run(Command::new("ffmpeg")
        .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgba", "-s", &size, "-i"])
        .arg(&raw_path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgba", "-"]));
    // Straight alpha loses a little precision where alpha is low; premultiplied back, it is within 1.
    assert_rgba_matches(&decoded, &frames, 1);

    let decoded = run(Command::new("ffmpeg")
        .args(["-v", "error", "-framerate", "30", "-i"])
        .arg(png_dir.join("frame_%06d.png"))
        .args(["-f", "rawvideo", "-pix_fmt", "rgba", "-"]));
    assert_rgba_matches(&decoded, &frames, 1);
}

#[test]
fn sinks_refuse_wrong_frames_and_report_closed_pipes() {
    let format = VideoFormat { width: W, height: H, fps: FPS };
    let mut y4m = Y4mSink::to_writer(Box::new(std::io::sink()), format, "y4m:test".into()).unwrap();
    let e = y4m.send(&Frame::filled(32, 32, [0, 0, 0, 255])).unwrap_err().to_string();
    assert!(e.contains("opened for 64×48 frames but got 32×32"), "{e}");
    let e = y4m.send(&Frame { width: W, height: H, rgba: vec![0; 10] }).unwrap_err().to_string();
    assert!(e.contains("needs 12288 bytes"), "{e}");

    // ffmpeg quitting early closes the pipe: the sink says so instead of failing obscurely.
    let mut child =
        Command::new("head").args(["-c", "10"]).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut y4m = Y4mSink::to_writer(Box::new(stdin), format, "y4m:-".into()).unwrap();
    child.wait().unwrap();
    let mut result = Ok(());
    for n in 0..50 {
        result = y4m.send(&test_frame(n % 7)).and_then(|_| y4m.finish());
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(OutputError::Closed(_))), "{result:?}");

    let e = persona::output::open(&["y4m:/nonexistent-dir/x.y4m".parse().unwrap()], format, [0, 0, 0, 255])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does its folder exist"), "{e}");
}

/// Flat 8×8 blocks of varied colours, opaque: the reference for conversions, where chroma filters cannot differ.
fn blocks(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let (bx, by) = (x / 8, y / 8);
            v.extend_from_slice(&[(bx * 37 % 256) as u8, (by * 59 % 256) as u8, ((bx + by) * 23 % 256) as u8, 255]);
        }
    }
    v
}

fn ffmpeg_convert(rgba: &[u8], w: u32, h: u32, pix_fmt: &str, matrix: &str) -> Vec<u8> {
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgba", "-s", &format!("{w}x{h}"), "-i", "-"])
        .args(["-vf", &format!("scale=out_color_matrix={matrix}:out_range=tv,format={pix_fmt}")])
        .args(["-f", "rawvideo", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = rgba.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn camera_formats_match_ffmpeg_conversion() {
    let (w, h) = (64u32, 32u32);
    let rgba = blocks(w, h);
    for (matrix, name) in [(Matrix::Bt601, "bt601"), (Matrix::Bt709, "bt709")] {
        let mut ours = vec![0; yuyv_len(w, h)];
        rgba_to_yuyv(&rgba, w, h, [0, 0, 0], matrix, &mut ours);
        let theirs = ffmpeg_convert(&rgba, w, h, "yuyv422", name);
        assert_eq!(theirs.len(), ours.len());
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            let x = (i % (w as usize * 2)) / 2;
            // Chroma away from block edges only (ffmpeg's chroma filter reaches across them).
            if i % 2 == 1 && (x % 8 == 0 || x % 8 >= 6) {
                continue;
            }
            assert!((*a as i32 - *b as i32).abs() <= 1, "{name} YUYV byte {i}: ours {a}, ffmpeg {b}");
        }

        let mut ours = vec![0; nv12_len(w, h)];
        rgba_to_nv12(&rgba, w, h, [0, 0, 0], matrix, &mut ours);
        let theirs = ffmpeg_convert(&rgba, w, h, "nv12", name);
        assert_eq!(theirs.len(), ours.len());
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            if i >= (w * h) as usize {
                let c = i - (w * h) as usize;
                let (cx, cy) = ((c / 2) % (w as usize / 2), c / w as usize);
                if cx % 4 == 0 || cx % 4 == 3 || cy % 4 == 0 || cy % 4 == 3 {
                    continue;
                }
            }
            assert!((*a as i32 - *b as i32).abs() <= 1, "{name} NV12 byte {i}: ours {a}, ffmpeg {b}");
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn v4l2_errors_say_what_to_do() {
    let format = VideoFormat { width: W, height: H, fps: FPS };
    let open = |p: &str| persona::output::open(&[format!("v4l2:{p}").parse().unwrap()], format, [0, 0, 0, 255]);
    let e = open("/dev/video-persona-missing").err().unwrap().to_string();
    assert!(e.contains("modprobe v4l2loopback"), "{e}");
    let e = open("/dev/null").err().unwrap().to_string();
    assert!(e.contains("not a V4L2 video device"), "{e}");
}

/// Runs only where a v4l2loopback device is given (`PERSONA_V4L2_DEVICE=/dev/video10`): writes frames and reads
/// one back through ffmpeg's V4L2 capture, checking a pixel's colour.
#[cfg(target_os = "linux")]
#[test]
fn v4l2_loopback_device_when_available() {
    let Some(dev) = std::env::var("PERSONA_V4L2_DEVICE").ok().filter(|d| !d.is_empty()) else {
        eprintln!("skipped: set PERSONA_V4L2_DEVICE=/dev/videoN to test a real v4l2loopback device");
        return;
    };
    let format = VideoFormat { width: 640, height: 480, fps: 30 };
    let mut sink = persona::output::v4l2::V4l2Sink::open(&dev, format, [0, 255, 0, 255]).unwrap();
    let frame = Frame::filled(640, 480, [255, 0, 0, 255]);
    let reader = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "v4l2", "-i", &dev, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..60 {
        sink.send(&frame).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(33));
    }
    let out = reader.wait_with_output().unwrap();
    assert_eq!(out.stdout.len(), 640 * 480 * 3);
    let px = &out.stdout[(240 * 640 + 320) * 3..][..3];
    assert!(px[0] > 230 && px[1] < 25 && px[2] < 25, "{px:?}");
}

mod subtitles {
    use persona::config::SubtitleSettings;
    use persona::output::Frame;
    use persona::subtitles::{Style, Subtitles, Word, composite, heard_word};

    /// Too long for one line of a 1080-wide frame at the default size, fits two.
    const LONG: &str = "Hello everyone, welcome back to the stream!";
    /// Four lines at the default size.
    const LONGER: &str =
        "Well, I think the best part of streaming is talking with everyone in chat while the music plays";

    fn timed(text: &str) -> Vec<Word> {
        text.split_whitespace().enumerate().map(|(i, w)| Word::new(w, i as f64 * 0.3, i as f64 * 0.3 + 0.25)).collect()
    }

    fn subtitles() -> Subtitles {
        Subtitles::new(Style::from_settings(&SubtitleSettings::default()).unwrap())
    }

    /// Pixels of the frame whose colour is the highlight colour (#ffd84a) drawn solid.
    fn highlight_pixels(frame: &Frame) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        for y in 0..frame.height {
            for x in 0..frame.width {
                let p = frame.pixel(x, y);
                if p[3] == 255 && p[0] >= 0xf5 && (0xcc..=0xe4).contains(&p[1]) && (0x38..=0x5c).contains(&p[2]) {
                    v.push((x, y));
                }
            }
        }
        v
    }

    #[test]
    fn long_sentence_wraps_to_two_lines_inside_the_frame() {
        let subs = subtitles();
        let words = timed(LONG);
        let layout = subs.layout(&words, 1080, 1920);
        assert_eq!(layout.lines.len(), 2, "{layout:#?}");
        assert!(layout.lines.iter().all(|l| l.width <= 1080.0 * 0.9));
        let short = subs.layout(&timed("Hi there!"), 1080, 1920);
        assert_eq!(short.lines.len(), 1);

        // Drawn: glyph pixels in two separate bands of rows near the bottom of the frame.
        let mut subs = subtitles();
        let overlay = subs.overlay(&words, 0.1, 1080, 1920).unwrap().clone();
        assert!(overlay.y > 1920 / 2, "bottom position");
        let rows: Vec<u32> = (0..overlay.height)
            .filter(|&y| (0..overlay.width).any(|x| overlay.rgba[((y * overlay.width + x) * 4 + 3) as usize] > 200))
            .collect();
        let bands = rows.windows(2).filter(|w| w[1] > w[0] + 1).count() + 1;
        assert_eq!(bands, 2, "two lines of text, rows with ink: {rows:?}");
    }

    #[test]
    fn the_word_being_heard_is_drawn_in_the_highlight_colour() {
        let mut subs = subtitles();
        let words = timed(LONG);
        let background = Frame::filled(1080, 1920, [20, 40, 90, 255]);
        let mut previous = None;
        for (t, expect) in [(0.1, 0), (0.95, 3), (1.55, 5), (1.85, 6)] {
            assert_eq!(heard_word(&words, t), Some(expect));
            let overlay = subs.overlay(&words, t, 1080, 1920).unwrap();
            assert_eq!(overlay.highlighted, Some(expect));
            let b = *overlay.words.iter().find(|b| b.index == expect).unwrap();
            let mut frame = background.clone();
            composite(&mut frame, overlay);
            let px = highlight_pixels(&frame);
            assert!(px.len() > 200, "at {t}s few highlight pixels: {}", px.len());
            // Every highlight pixel lies on the heard word's box (outline may shave the edges).
            for &(x, y) in &px {
                assert!(
                    x + 1 >= b.x0 && x <= b.x1 && y + 1 >= b.y0 && y <= b.y1,
                    "at {t}s highlight pixel ({x},{y}) outside word {expect} box {b:?}"
                );
            }
            assert_ne!(previous, Some(px), "the highlight moved");
            previous = Some(highlight_pixels(&frame));
        }
        // In a pause nothing is highlighted, but the sentence is still shown.
        let overlay = subs.overlay(&words, 0.27, 1080, 1920).unwrap();
        assert_eq!(overlay.highlighted, None);
        let mut frame = background.clone();
        composite(&mut frame, overlay);
        assert!(highlight_pixels(&frame).is_empty());
        let white = (overlay.y..overlay.y + overlay.height)
            .flat_map(|y| (0..1080).map(move |x| (x, y)))
            .filter(|&(x, y)| frame.pixel(x, y) == [255, 255, 255, 255])
            .count();
        assert!(white > 1000, "white text pixels: {white}");
    }

    #[test]
    fn sentences_longer_than_max_lines_are_paged_with_the_heard_word() {
        let mut subs = subtitles();
        let words = timed(LONGER);
        let layout = subs.layout(&words, 1080, 1920);
        assert!(layout.lines.len() >= 3, "{}", layout.lines.len());
        let last = words.len() - 1;
        let page_two_word = layout.lines[2].words[0].index;
        let o = subs.overlay(&words, words[page_two_word].start_s + 0.01, 1080, 1920).unwrap();
        assert!(o.words.iter().any(|b| b.index == last) || layout.lines.len() > 4);
        assert!(o.words.iter().all(|b| b.index >= page_two_word), "only the second page is shown");
        let o = subs.overlay(&words, 0.01, 1080, 1920).unwrap();
        assert_eq!(o.words.first().map(|b| b.index), Some(0));
        assert!(o.words.len() < words.len());
    }
}
