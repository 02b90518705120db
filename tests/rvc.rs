//! Voice conversion. CREPE runs the real `crepe-tiny.onnx`; the content encoder, RMVPE and the voice generator are
//! interface-faithful ONNX graphs (`persona::rvc::graphs`) because no registry ships RVC models: the generator
//! synthesises a sine at the pitch it is given, so pitch shifts, lengths and joins can be measured.

use std::path::{Path, PathBuf};

use persona::config::{Paths, PitchMethod, RvcSettings};
use persona::rvc::pitch::Crepe;
use persona::rvc::{Rvc, VoiceFilter, graphs, voices};

/// The interface-faithful models, written into a temporary folder.
struct Fixture {
    dir: tempfile::TempDir,
    models: PathBuf,
}

impl Fixture {
    fn new(models: PathBuf) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        graphs::content_encoder().save(&dir.path().join("vec-768-layer-12.onnx")).unwrap();
        graphs::rmvpe().save(&dir.path().join("rmvpe.onnx")).unwrap();
        graphs::generator(40_000).save(&dir.path().join("sine40k.onnx")).unwrap();
        Fixture { dir, models }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn paths(&self) -> Paths {
        Paths { config_file: self.path("settings.toml"), data_dir: self.path("data"), models_dir: self.models.clone() }
    }

    fn settings(&self, method: PitchMethod, shift: f32) -> RvcSettings {
        RvcSettings {
            enabled: true,
            voice_model: self.path("sine40k.onnx").display().to_string(),
            content_encoder: self.path("vec-768-layer-12.onnx").display().to_string(),
            rmvpe_model: self.path("rmvpe.onnx").display().to_string(),
            pitch_method: method,
            pitch_shift: shift,
            ..RvcSettings::default()
        }
    }

    fn rvc(&self, method: PitchMethod, shift: f32) -> Rvc {
        Rvc::new(&self.settings(method, shift), &self.paths()).unwrap()
    }
}

fn tone(freq: f32, rate: u32, seconds: f32, harmonics: usize) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            (1..=harmonics).map(|h| (2.0 * std::f32::consts::PI * freq * h as f32 * t).sin() / h as f32).sum::<f32>()
                * 0.3
        })
        .collect()
}

/// Frequency of a (near-)sine from its upward zero crossings, interpolated between samples.
fn measured_pitch(x: &[f32], rate: u32) -> f32 {
    let crossings: Vec<f32> = x
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, w)| i as f32 + w[0] / (w[0] - w[1]))
        .collect();
    assert!(crossings.len() >= 3, "too few zero crossings to measure pitch");
    let periods = (crossings.len() - 1) as f32;
    rate as f32 * periods / (crossings[crossings.len() - 1] - crossings[0])
}

/// Sample indices where the waveform jumps: a sample-to-sample step above 0.02 that is over 2.5 times every other
/// step within 16 samples around it. Smooth audio of any pitch steps alike over such a span (a sine's steepest
/// steps are spread over a quarter period); a click is a single step standing out from its neighbours.
fn clicks(x: &[f32]) -> Vec<usize> {
    let d: Vec<f32> = x.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    (0..d.len())
        .filter(|&i| {
            let around = (i.saturating_sub(16)..(i + 17).min(d.len())).filter(|&j| j + 1 < i || j > i + 1);
            d[i] > 0.02 && around.map(|j| d[j]).all(|v| d[i] > 2.5 * v)
        })
        .collect()
}

fn max_jump(x: &[f32]) -> (usize, f32) {
    x.windows(2).map(|w| (w[1] - w[0]).abs()).enumerate().fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
}

/// Streams `x` through `filter` in pieces of the given sizes (cycled), then flushes; returns the output lined up
/// with the input (latency removed) and of the input's length.
fn stream(filter: &mut dyn VoiceFilter, x: &[f32], rate: u32, sizes: &[usize]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut pos = 0;
    for &n in sizes.iter().cycle() {
        if pos >= x.len() {
            break;
        }
        let end = (pos + n).min(x.len());
        let y = filter.process(&x[pos..end], rate).unwrap();
        assert_eq!(y.len(), end - pos, "each piece gives back as many samples as it was given");
        out.extend(y);
        pos = end;
    }
    let tail = filter.flush();
    assert_eq!(tail.len(), filter.latency(rate));
    out.extend(tail);
    out.drain(..filter.latency(rate));
    out
}

#[test]
fn crepe_tracks_tones_within_two_percent() {
    let models = persona::require_models!("crepe-tiny.onnx");
    let mut crepe = Crepe::open(&models, &models.join("crepe-tiny.onnx"), 2).unwrap();
    for (freq, harmonics) in [(98.0, 1), (165.0, 4), (220.0, 1), (311.0, 3), (440.0, 1), (660.0, 2)] {
        let f0 = crepe.track(&tone(freq, 16_000, 1.0, harmonics)).unwrap();
        assert_eq!(f0.len(), 16_000 / 160 + 1);
        let mut voiced: Vec<f32> = f0[10..f0.len() - 10].to_vec();
        assert!(voiced.iter().all(|f| *f > 0.0), "{freq} Hz: every frame of a steady tone is voiced: {voiced:?}");
        voiced.sort_by(|a, b| a.total_cmp(b));
        let median = voiced[voiced.len() / 2];
        assert!((median / freq - 1.0).abs() < 0.02, "{freq} Hz tone tracked as {median} Hz");
    }
    // Silence has no pitch.
    assert!(crepe.track(&vec![0.0; 8000]).unwrap().iter().all(|f| *f == 0.0));
}

#[test]
fn crepe_finds_a_speaking_voice_in_speech() {
    let models = persona::require_models!("crepe-tiny.onnx", "jfk.wav");
    let mut crepe = Crepe::open(&models, &models.join("crepe-tiny.onnx"), 2).unwrap();
    let x = persona::audio::read_wav(&models.join("jfk.wav")).unwrap().to_mono_at(16_000);
    let f0 = crepe.track(&x).unwrap();
    let mut voiced: Vec<f32> = f0.iter().copied().filter(|f| *f > 0.0).collect();
    let share = voiced.len() as f32 / f0.len() as f32;
    voiced.sort_by(|a, b| a.total_cmp(b));
    let median = voiced[voiced.len() / 2];
    assert!((0.2..0.9).contains(&share), "voiced share {share}");
    assert!((80.0..220.0).contains(&median), "a man's speaking pitch, got median {median} Hz");
}

#[test]
fn pitch_shift_of_twelve_semitones_doubles_the_pitch() {
    let models = persona::require_models!("crepe-tiny.onnx");
    let fx = Fixture::new(models);
    let x = tone(220.0, 24_000, 1.0, 1);
    for method in [PitchMethod::Crepe, PitchMethod::Rmvpe] {
        let plain = fx.rvc(method, 0.0).convert(&x, 24_000).unwrap();
        let up = fx.rvc(method, 12.0).convert(&x, 24_000).unwrap();
        let down = fx.rvc(method, -12.0).convert(&x, 24_000).unwrap();
        assert_eq!(plain.len(), x.len());
        let mid = 4800..19_200;
        let (p0, p12, pm12) = (
            measured_pitch(&plain[mid.clone()], 24_000),
            measured_pitch(&up[mid.clone()], 24_000),
            measured_pitch(&down[mid], 24_000),
        );
        let tolerance = if method == PitchMethod::Crepe { 0.02 } else { 0.06 };
        assert!((p0 / 220.0 - 1.0).abs() < tolerance, "{method:?}: 220 Hz in, {p0} Hz out");
        assert!((p12 / p0 - 2.0).abs() < 0.04, "{method:?}: +12 semitones gave {p12} Hz from {p0} Hz");
        assert!((pm12 / p0 - 0.5).abs() < 0.01, "{method:?}: -12 semitones gave {pm12} Hz from {p0} Hz");
    }
}

#[test]
fn silence_in_silence_out() {
    let models = persona::require_models!("crepe-tiny.onnx");
    let fx = Fixture::new(models);
    for method in [PitchMethod::Crepe, PitchMethod::Rmvpe] {
        let mut rvc = fx.rvc(method, 5.0);
        let out = stream(&mut rvc, &vec![0.0; 48_000], 48_000, &[4800, 333]);
        assert_eq!(out.len(), 48_000);
        assert!(out.iter().all(|v| *v == 0.0), "{method:?}: silence came out as sound");
    }
}

#[test]
fn streamed_pieces_join_without_clicks() {
    let models = persona::require_models!("crepe-tiny.onnx");
    let fx = Fixture::new(models);
    let rate = 24_000;
    let x = tone(180.0, rate, 2.0, 3);
    // Long, short and tiny pieces: every one is converted as it arrives.
    let sizes = [2400, 7200, 480, 37, 5000, 1200, 12_000];
    let mut rvc = fx.rvc(PitchMethod::Crepe, 0.0);
    let out = stream(&mut rvc, &x, rate, &sizes);
    assert_eq!(out.len(), x.len());
    // A 0.5-amplitude sine at 180 Hz changes by at most 0.5 * 2π * 180 / 24000 = 0.024 per sample.
    let steady = &out[4800..out.len() - 4800];
    let (at, jump) = max_jump(steady);
    assert!(jump < 0.035, "a click of {jump} at sample {}", at + 4800);
    // SOLA keeps joins in phase: the level never dips where pieces were crossfaded.
    let min_peak = steady.chunks(240).map(|c| c.iter().fold(0.0f32, |m, v| m.max(v.abs()))).fold(1.0f32, f32::min);
    assert!(min_peak > 0.45, "the level dipped to {min_peak} (a crossfade out of phase)");
    assert!((measured_pitch(steady, rate) / 180.0 - 1.0).abs() < 0.02);

    // Control: the same pieces converted separately and butted together do click, so the check above can fail.
    let mut naive = Vec::new();
    let mut pos = 0;
    for &n in sizes.iter().cycle() {
        if pos >= x.len() {
            break;
        }
        let end = (pos + n.max(4800)).min(x.len());
        naive.extend(fx.rvc(PitchMethod::Crepe, 0.0).convert(&x[pos..end], rate).unwrap());
        pos = end;
    }
    assert!(max_jump(&naive[4800..naive.len() - 4800]).1 > 0.035, "the control should click");
}

#[test]
fn jfk_converts_to_the_right_length_without_discontinuities() {
    let models = persona::require_models!("crepe-tiny.onnx", "jfk.wav");
    let fx = Fixture::new(models.clone());
    let x = persona::audio::read_wav(&models.join("jfk.wav")).unwrap().to_mono_at(16_000);
    let mut rvc = fx.rvc(PitchMethod::Crepe, 0.0);
    let out = stream(&mut rvc, &x, 16_000, &[8000]);
    assert_eq!(out.len(), x.len());
    // The generator sings at the tracked pitch, which jumps where the speech does (and where crepe-tiny slips an
    // octave), so the check is for steps that stand out from the waveform around them.
    let found = clicks(&out);
    assert!(found.is_empty(), "clicks at {:?}", found.iter().map(|i| *i as f32 / 16_000.0).collect::<Vec<_>>());
    let energy = |s: &[f32]| s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32;
    assert!(energy(&out) > 0.01, "the speech was converted into sound");

    // Control: pieces converted separately and butted together click, and the detector finds it.
    let mut naive = Vec::new();
    for piece in x.chunks(4000) {
        naive.extend(fx.rvc(PitchMethod::Crepe, 0.0).convert(piece, 16_000).unwrap());
    }
    assert!(!clicks(&naive).is_empty(), "the control should click");
}

#[test]
fn models_with_the_wrong_inputs_say_what_was_expected_and_found() {
    let models = persona::require_models!("crepe-tiny.onnx");
    let fx = Fixture::new(models);
    graphs::wrong_model().save(&fx.path("tokens.onnx")).unwrap();
    let wrong = fx.path("tokens.onnx").display().to_string();

    let mut s = fx.settings(PitchMethod::Rmvpe, 0.0);
    s.voice_model = wrong.clone();
    let e = Rvc::new(&s, &fx.paths()).err().expect("a token model is no voice").to_string();
    assert!(e.contains("voice generator") && e.contains("tokens.onnx"), "{e}");
    assert!(e.contains("feats") && e.contains("pitchf") && e.contains("rnd"), "names what it expected: {e}");
    assert!(e.contains("tokens") && e.contains("i64"), "names what it found: {e}");

    let mut s = fx.settings(PitchMethod::Rmvpe, 0.0);
    s.content_encoder = fx.path("sine40k.onnx").display().to_string();
    let e = Rvc::new(&s, &fx.paths()).err().expect("a generator is no content encoder").to_string();
    assert!(e.contains("content encoder") && e.contains("source") && e.contains("pitchf"), "{e}");

    let mut s = fx.settings(PitchMethod::Rmvpe, 0.0);
    s.voice_model = fx.path("missing.onnx").display().to_string();
    let e = Rvc::new(&s, &fx.paths()).err().unwrap().to_string();
    assert!(e.contains("missing.onnx") && e.contains("does not exist"), "{e}");

    let mut s = fx.settings(PitchMethod::Rmvpe, 0.0);
    s.voice_model = String::new();
    assert!(Rvc::new(&s, &fx.paths()).err().unwrap().to_string().contains("voice_model"));

    let mut rvc = fx.rvc(PitchMethod::Rmvpe, 0.0);
    assert!(rvc.process(&[0.1; 100], 0).unwrap_err().to_string().contains("sample rate"));
}

#[test]
fn voices_are_listed_with_their_rates() {
    let models = persona::require_models!("crepe-tiny.onnx");
    let folder = tempfile::tempdir().unwrap();
    let f = folder.path();
    // Rate from the model's metadata.
    graphs::generator(40_000).save(&f.join("alto.onnx")).unwrap();
    // A sidecar JSON wins over the model.
    graphs::generator(40_000).save(&f.join("bass.onnx")).unwrap();
    std::fs::write(f.join("bass.json"), r#"{"sr": "48k"}"#).unwrap();
    // A model with no rate anywhere.
    graphs::wrong_model().save(&f.join("contralto.onnx")).unwrap();
    std::fs::write(f.join("notes.txt"), "not a voice").unwrap();
    let list = voices::list(&models, f).unwrap();
    let names: Vec<&str> = list.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["alto", "bass", "contralto"]);
    assert_eq!(list[0].sample_rate, Ok(40_000));
    assert_eq!(list[1].sample_rate, Ok(48_000));
    let why = list[2].sample_rate.as_ref().unwrap_err();
    assert!(why.contains("contralto.json") && why.contains("sample_rate"), "{why}");
    assert!(voices::list(&models, Path::new("/nonexistent/voices")).unwrap_err().to_string().contains("/nonexistent"));
}

#[test]
fn convert_command_writes_a_converted_wav() {
    let models = persona::require_models!("crepe-tiny.onnx", "jfk.wav");
    let fx = Fixture::new(models.clone());
    let config = fx.path("settings.toml");
    std::fs::write(
        &config,
        format!(
            "[rvc]\ncontent_encoder = {:?}\nrmvpe_model = {:?}\npitch_method = \"rmvpe\"\n",
            fx.path("vec-768-layer-12.onnx").display().to_string(),
            fx.path("rmvpe.onnx").display().to_string()
        ),
    )
    .unwrap();
    let out = fx.path("out.wav");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_persona"))
        .env("PERSONA_MODELS", &models)
        .arg("--config")
        .arg(&config)
        .arg("convert")
        .arg(models.join("jfk.wav"))
        .arg("--voice")
        .arg(fx.path("sine40k.onnx"))
        .args(["--pitch", "-3", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let input = persona::audio::read_wav(&models.join("jfk.wav")).unwrap();
    let output = persona::audio::read_wav(&out).unwrap();
    assert_eq!(output.sample_rate, input.sample_rate);
    assert_eq!(output.frames(), input.frames());
    assert!(output.samples.iter().any(|v| v.abs() > 0.1));

    // A missing input file is a clear error, not a panic.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_persona"))
        .env("PERSONA_MODELS", &models)
        .arg("--config")
        .arg(&config)
        .args(["convert", "/nonexistent.wav", "--voice"])
        .arg(fx.path("sine40k.onnx"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("/nonexistent.wav"));
}
