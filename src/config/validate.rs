//! Value checks that the types alone cannot express: ranges, relations between keys, formats.

use super::settings::*;

/// One thing wrong with a value: the dotted key (`vad.threshold`) and what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

fn range<T: PartialOrd + Copy + std::fmt::Display>(out: &mut Vec<Problem>, key: &str, v: T, lo: T, hi: T) {
    // `!(a <= b)` also catches NaN.
    if !(lo <= v && v <= hi) {
        out.push(Problem { key: key.into(), message: format!("{v} is out of range: allowed {lo} to {hi}") });
    }
}

fn colour(out: &mut Vec<Problem>, key: &str, v: &str) {
    if parse_colour(v).is_none() {
        out.push(Problem {
            key: key.into(),
            message: format!("\"{v}\" is not a colour: write \"#rrggbb\" or \"#rrggbbaa\""),
        });
    }
}

fn url(out: &mut Vec<Problem>, key: &str, v: &str, may_be_empty: bool) {
    if v.is_empty() && may_be_empty {
        return;
    }
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        out.push(Problem {
            key: key.into(),
            message: format!("\"{v}\" is not an http(s) URL: write e.g. \"http://127.0.0.1:8080/v1\""),
        });
    }
}

/// "#rrggbb" or "#rrggbbaa" as straight (not premultiplied) RGBA bytes.
pub fn parse_colour(v: &str) -> Option<[u8; 4]> {
    let hex = v.strip_prefix('#')?;
    if !(hex.len() == 6 || hex.len() == 8) || !hex.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    let a = if hex.len() == 8 { byte(6)? } else { 255 };
    Some([byte(0)?, byte(2)?, byte(4)?, a])
}

/// Every problem in the settings, in file order of sections.
pub fn validate(s: &Settings) -> Vec<Problem> {
    let mut p = Vec::new();
    let o = &mut p;
    range(o, "audio.output_volume", s.audio.output_volume, 0.0, 2.0);

    range(o, "vad.threshold", s.vad.threshold, 0.01, 0.99);
    range(o, "vad.continue_threshold", s.vad.continue_threshold, 0.01, 0.99);
    if s.vad.continue_threshold > s.vad.threshold {
        o.push(Problem {
            key: "vad.continue_threshold".into(),
            message: format!(
                "{} is above vad.threshold ({}): speech must continue at or below the level that starts it",
                s.vad.continue_threshold, s.vad.threshold
            ),
        });
    }
    range(o, "vad.min_speech_ms", s.vad.min_speech_ms, 0, 5_000);
    range(o, "vad.end_silence_ms", s.vad.end_silence_ms, 32, 10_000);
    range(o, "vad.padding_ms", s.vad.padding_ms, 0, 2_000);
    range(o, "vad.min_segment_ms", s.vad.min_segment_ms, 0, 10_000);

    range(o, "asr.threads", s.asr.threads, 0, 64);
    range(o, "asr.beam_size", s.asr.beam_size, 1, 16);
    range(o, "asr.partial_interval_ms", s.asr.partial_interval_ms, 0, 10_000);
    if s.asr.partial_interval_ms != 0 && s.asr.partial_interval_ms < 100 {
        o.push(Problem {
            key: "asr.partial_interval_ms".into(),
            message: format!("{} is too often: allowed 0 (off) or 100 to 10000", s.asr.partial_interval_ms),
        });
    }
    if s.asr.language.is_empty() {
        o.push(Problem {
            key: "asr.language".into(),
            message: "is empty: write a code like \"en\" or \"auto\"".into(),
        });
    }
    url(o, "asr.remote_url", &s.asr.remote_url, s.asr.engine != AsrEngine::Remote);

    url(o, "llm.endpoint", &s.llm.endpoint, false);
    range(o, "llm.temperature", s.llm.temperature, 0.0, 2.0);
    range(o, "llm.max_tokens", s.llm.max_tokens, 1, 1_000_000);
    range(o, "llm.connect_timeout_s", s.llm.connect_timeout_s, 0.1, 600.0);
    range(o, "llm.idle_timeout_s", s.llm.idle_timeout_s, 0.5, 3_600.0);
    range(o, "llm.retries", s.llm.retries, 0, 10);
    range(o, "llm.history_turns", s.llm.history_turns, 0, 10_000);
    range(o, "llm.history_tokens", s.llm.history_tokens, 0, 10_000_000);
    for name in s.llm.extra_headers.keys() {
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            o.push(Problem {
                key: format!("llm.extra_headers.{name}"),
                message: "is not a valid HTTP header name: use letters, digits, '-' and '_'".into(),
            });
        }
    }

    range(o, "tts.speed", s.tts.speed, 0.5, 2.0);
    if s.tts.espeak_program.is_empty() {
        o.push(Problem {
            key: "tts.espeak_program".into(),
            message: "is empty: write \"espeak-ng\" or the path of the espeak-ng program".into(),
        });
    }
    url(o, "tts.remote_url", &s.tts.remote_url, s.tts.engine != TtsEngine::Remote);

    range(o, "rvc.pitch_shift", s.rvc.pitch_shift, -24.0, 24.0);
    range(o, "rvc.crossfade_ms", s.rvc.crossfade_ms, 0, 500);
    if s.rvc.enabled && s.rvc.voice_model.is_empty() {
        o.push(Problem {
            key: "rvc.voice_model".into(),
            message: "is empty while rvc.enabled is true: name an RVC voice model (.onnx) or set enabled = false"
                .into(),
        });
    }

    range(o, "lipsync.attack_rate", s.lipsync.attack_rate, 0.1, 1_000.0);
    range(o, "lipsync.release_rate", s.lipsync.release_rate, 0.1, 1_000.0);
    range(o, "lipsync.intensity", s.lipsync.intensity, 0.0, 2.0);

    range(o, "avatar.expression_hold_s", s.avatar.expression_hold_s, 0.0, 600.0);

    range(o, "subtitles.size", s.subtitles.size, 0.005, 0.5);
    colour(o, "subtitles.color", &s.subtitles.color);
    colour(o, "subtitles.highlight_color", &s.subtitles.highlight_color);
    colour(o, "subtitles.outline_color", &s.subtitles.outline_color);
    range(o, "subtitles.outline_px", s.subtitles.outline_px, 0.0, 50.0);
    range(o, "subtitles.max_lines", s.subtitles.max_lines, 1, 10);

    range(o, "output.fps", s.output.fps, 1, 240);
    range(o, "output.width", s.output.width, 16, 8192);
    range(o, "output.height", s.output.height, 16, 8192);
    colour(o, "output.window_background", &s.output.window_background);
    if s.output.spout && s.output.spout_name.is_empty() {
        o.push(Problem { key: "output.spout_name".into(), message: "is empty: OBS finds a sender by its name".into() });
    }

    if s.conversation.character.is_empty() {
        o.push(Problem {
            key: "conversation.character".into(),
            message: "is empty: name a character folder (the default is \"mira\")".into(),
        });
    }
    range(o, "conversation.barge_in_words", s.conversation.barge_in_words, 1, 100);
    p
}
