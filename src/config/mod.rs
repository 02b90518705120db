//! Settings: one TOML file, loaded with precise errors, saved atomically.
//!
//! Loading never guesses: an unknown key or a bad value is an error that names the file, the line, the key and
//! what is allowed, and the caller keeps whatever settings it was running with.

mod paths;
mod settings;
mod validate;
/// The settings the app reads while running. The panel replaces the whole value on each change; readers (the
/// avatar's show thread) look at the sections they use.
pub type SharedSettings = std::sync::Arc<std::sync::RwLock<Settings>>;

pub mod watch;

use std::fmt;
use std::path::{Path, PathBuf};

pub use paths::{Paths, atomic_write, bundled_dir as paths_bundled_dir};
pub use settings::*;
pub use validate::{Problem, parse_colour, validate};

/// The commented settings file that `persona config init` writes: the documentation of every key.
pub const DEFAULT_FILE: &str = include_str!("../../assets/settings.toml");

/// A settings file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem is at a place in the file.
    pub line: Option<usize>,
    /// Dotted key, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "`{key}` ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// All the problems found in one file (a file can have several bad values at once).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if let Some(first) = self.0.first() {
            write!(
                f,
                "\nFix the file (or move it away to use the defaults; `persona config init --force` writes a fresh one): {}",
                first.file.display()
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Settings {
    /// Parses and checks settings text; `file` is only used to name the file in errors.
    pub fn from_toml(text: &str, file: &Path) -> Result<Settings, ConfigErrors> {
        let settings: Settings = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => (Some(line_of(text, span.start)), key_at(text, span.start)),
                None => (None, None),
            };
            ConfigErrors(vec![ConfigError { file: file.to_owned(), line, key, message: first_line(e.message()) }])
        })?;
        let problems = validate(&settings);
        if problems.is_empty() {
            return Ok(settings);
        }
        Err(ConfigErrors(
            problems
                .into_iter()
                .map(|p| ConfigError {
                    file: file.to_owned(),
                    line: line_of_key(text, &p.key),
                    key: Some(p.key),
                    message: p.message,
                })
                .collect(),
        ))
    }

    /// Loads the settings file, or the defaults when there is none; then applies the environment overrides.
    pub fn load(file: &Path) -> Result<Settings, ConfigErrors> {
        let mut settings = match std::fs::read_to_string(file) {
            Ok(text) => Settings::from_toml(&text, file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(e) => {
                return Err(ConfigErrors(vec![ConfigError {
                    file: file.to_owned(),
                    line: None,
                    key: None,
                    message: format!("cannot be read: {e}"),
                }]));
            }
        };
        settings.apply_env();
        Ok(settings)
    }

    /// The environment overrides that tests and CI use.
    pub fn apply_env(&mut self) {
        if let Some(url) = env_llm_url() {
            self.llm.endpoint = url;
        }
    }

    /// These settings as they should be saved: values that came from the environment (see
    /// [`Settings::apply_env`]) go back to what the file `on_disk` holds (the defaults when there is none), so
    /// running once with `PERSONA_LLM_URL` never writes that URL into the user's file.
    pub fn without_env(&self, on_disk: Option<&Settings>) -> Settings {
        self.without_llm_url(env_llm_url().as_deref(), on_disk)
    }

    fn without_llm_url(&self, env_url: Option<&str>, on_disk: Option<&Settings>) -> Settings {
        let mut out = self.clone();
        if env_url.is_some_and(|url| url == self.llm.endpoint) {
            out.llm.endpoint = on_disk.map_or_else(|| LlmSettings::default().endpoint, |s| s.llm.endpoint.clone());
        }
        out
    }

    /// The settings as TOML, secrets included (this is what is saved).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("settings always serialise")
    }

    /// The settings as TOML for showing to a person: API keys masked.
    pub fn to_toml_masked(&self) -> String {
        let mut shown = self.clone();
        for key in [&mut shown.llm.api_key, &mut shown.asr.remote_api_key, &mut shown.tts.remote_api_key] {
            if !key.is_empty() {
                *key = "********".into();
            }
        }
        shown.to_toml()
    }

    /// Writes the settings atomically: a reader sees the old file or the new one, never half of one.
    pub fn save(&self, file: &Path) -> std::io::Result<()> {
        atomic_write(file, self.to_toml().as_bytes())
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The dotted key whose line holds byte `at`: the nearest `[section]` above it and the key on that line.
fn key_at(text: &str, at: usize) -> Option<String> {
    let mut section = String::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let end = pos + line.len();
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
        }
        if at >= pos && at < end.max(pos + 1) {
            let key = trimmed.split('=').next().map(str::trim).filter(|k| !k.is_empty() && !k.starts_with('['));
            return match (key, section.is_empty()) {
                (Some(k), true) => Some(k.trim_matches('"').to_owned()),
                (Some(k), false) => Some(format!("{section}.{}", k.trim_matches('"'))),
                (None, false) => Some(section),
                (None, true) => None,
            };
        }
        pos = end;
    }
    None
}

/// The line that sets a dotted key, found through the document's spans.
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for part in dotted.split('.') {
        let table = item.as_table_like()?;
        let (key, value) = table.get_key_value(part)?;
        span = key.span().or_else(|| value.span());
        item = value;
    }
    span.map(|s| line_of(text, s.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<ConfigError> {
        Settings::from_toml(text, Path::new("settings.toml")).unwrap_err().0
    }

    #[test]
    fn defaults_round_trip() {
        let s = Settings::default();
        let back = Settings::from_toml(&s.to_toml(), Path::new("x")).unwrap();
        assert_eq!(s, back);
    }

    #[test]
    fn documented_file_equals_defaults() {
        let s = Settings::from_toml(DEFAULT_FILE, Path::new("assets/settings.toml")).unwrap();
        assert_eq!(s, Settings::default(), "assets/settings.toml and the defaults in code disagree");
    }

    #[test]
    fn every_key_is_documented() {
        // Every key of the defaults appears, with a comment above its section, in the documented file.
        let defaults: toml::Table = toml::from_str(&Settings::default().to_toml()).unwrap();
        let documented: toml::Table = toml::from_str(DEFAULT_FILE).unwrap();
        for (section, table) in &defaults {
            let doc_table = documented.get(section).and_then(|t| t.as_table());
            let doc_table = doc_table.unwrap_or_else(|| panic!("section [{section}] missing in assets/settings.toml"));
            for key in table.as_table().unwrap().keys() {
                assert!(doc_table.contains_key(key), "{section}.{key} is not in assets/settings.toml");
            }
        }
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = &errs("[vad]\nthreshold = 0.5\nthreshhold = 0.6\n")[0];
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("vad.threshhold"));
        assert!(e.message.contains("unknown field"), "{}", e.message);
        assert!(e.message.contains("threshold"), "lists what is allowed: {}", e.message);
    }

    #[test]
    fn unknown_section() {
        let e = &errs("[vda]\nthreshold = 0.5\n")[0];
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("vda"), "{}", e.message);
    }

    #[test]
    fn wrong_type_names_line() {
        let e = &errs("[llm]\nmodel = \"x\"\nmax_tokens = \"many\"\n")[0];
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("llm.max_tokens"));
    }

    #[test]
    fn bad_enum_lists_allowed_values() {
        let e = &errs("[conversation]\nbarge_in = \"sometimes\"\n")[0];
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("min_words"), "{}", e.message);
    }

    #[test]
    fn syntax_error_names_line() {
        let e = &errs("[audio]\noutput_volume = 1.0\n[llm\n")[0];
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn out_of_range_values_all_reported_with_lines() {
        let text =
            "[vad]\nthreshold = 1.5\n\n[llm]\ntemperature = -1\nendpoint = \"localhost:8080\"\n[output]\nfps = 0\n";
        let e = errs(text);
        let found: Vec<_> = e.iter().map(|e| (e.key.clone().unwrap(), e.line)).collect();
        assert!(found.contains(&("vad.threshold".into(), Some(2))), "{found:?}");
        assert!(found.contains(&("llm.temperature".into(), Some(5))), "{found:?}");
        assert!(found.contains(&("llm.endpoint".into(), Some(6))), "{found:?}");
        assert!(found.contains(&("output.fps".into(), Some(8))), "{found:?}");
        assert!(e[0].message.contains("allowed 0.01 to 0.99"), "{}", e[0].message);
    }

    #[test]
    fn nan_is_refused() {
        let e = errs("[tts]\nspeed = nan\n");
        assert_eq!(e[0].key.as_deref(), Some("tts.speed"));
    }

    #[test]
    fn relations_between_keys() {
        let e = errs("[vad]\nthreshold = 0.3\ncontinue_threshold = 0.4\n");
        assert_eq!(e[0].key.as_deref(), Some("vad.continue_threshold"));
        assert_eq!(e[0].line, Some(3));
        let e = errs("[rvc]\nenabled = true\n");
        assert_eq!(e[0].key.as_deref(), Some("rvc.voice_model"));
    }

    #[test]
    fn colours_and_headers() {
        let e = errs("[subtitles]\ncolor = \"white\"\n[llm.extra_headers]\n\"bad header\" = \"x\"\n");
        let line_of = |k: &str| e.iter().find(|e| e.key.as_deref() == Some(k)).map(|e| e.line);
        assert_eq!(line_of("subtitles.color"), Some(Some(2)));
        assert_eq!(line_of("llm.extra_headers.bad header"), Some(Some(4)));
        assert_eq!(parse_colour("#ff000080"), Some([255, 0, 0, 128]));
        assert_eq!(parse_colour("#ff00"), None);
        assert_eq!(parse_colour("#ééé"), None);
    }

    #[test]
    fn error_message_says_what_to_do() {
        let text = format!("{}", ConfigErrors(errs("[vad]\nthreshold = 2\n")));
        assert!(text.starts_with("settings.toml:2: `vad.threshold` 2 is out of range"), "{text}");
        assert!(text.contains("persona config init --force"), "{text}");
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let s = Settings::from_toml("[llm]\nmodel = \"qwen\"\n", Path::new("x")).unwrap();
        assert_eq!(s.llm.model, "qwen");
        assert_eq!(s.llm.max_tokens, 512);
        assert_eq!(s.vad, VadSettings::default());
    }

    #[test]
    fn masked_output_hides_keys() {
        let mut s = Settings::default();
        s.llm.api_key = "sk-secret".into();
        assert!(!s.to_toml_masked().contains("sk-secret"));
        assert!(s.to_toml().contains("sk-secret"));
    }

    #[test]
    fn an_llm_url_from_the_environment_is_not_saved() {
        let mut on_disk = Settings::default();
        on_disk.llm.endpoint = "http://my-server:8080/v1".into();
        let mut running = on_disk.clone();
        running.llm.endpoint = "http://127.0.0.1:9999/v1".into();
        running.llm.temperature = 0.3;
        let saved = running.without_llm_url(Some("http://127.0.0.1:9999/v1"), Some(&on_disk));
        assert_eq!(saved.llm.endpoint, "http://my-server:8080/v1", "the file's endpoint is kept");
        assert_eq!(saved.llm.temperature, 0.3, "other changes are saved");
        let fresh = running.without_llm_url(Some("http://127.0.0.1:9999/v1"), None);
        assert_eq!(fresh.llm.endpoint, Settings::default().llm.endpoint, "no file yet: the default");
        let chosen = running.without_llm_url(None, Some(&on_disk));
        assert_eq!(chosen.llm.endpoint, "http://127.0.0.1:9999/v1", "an endpoint the user chose is saved");
    }
}

/// `PERSONA_LLM_URL`, normalised, when it is set.
fn env_llm_url() -> Option<String> {
    let url = std::env::var("PERSONA_LLM_URL").ok()?;
    let url = url.trim().trim_end_matches('/');
    (!url.is_empty()).then(|| url.to_owned())
}
