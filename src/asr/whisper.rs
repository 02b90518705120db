//! Local speech recognition with whisper.cpp (through whisper-rs): any ggml Whisper model, English-only or
//! multilingual, greedy or beam search, with word times from the model's cross-attention (DTW) where whisper.cpp
//! knows the model's alignment heads, and from its token timestamps otherwise.

use std::io::Read;
use std::path::{Path, PathBuf};

use whisper_rs::{
    DtwMode, DtwModelPreset, DtwParameters, FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters,
    WhisperState,
};

use super::filter::{clean_segments, collapse_repeats};
use super::{AsrError, SAMPLE_RATE, Segment, Transcriber, Transcript, Word};
use crate::config::{AsrSettings, Paths};

/// whisper.cpp ignores input shorter than this; shorter utterances are padded with silence.
const MIN_SAMPLES: usize = SAMPLE_RATE as usize + SAMPLE_RATE as usize / 10;

/// A loaded Whisper model with its decoder state, kept warm between calls.
pub struct Whisper {
    state: WhisperState,
    params: FullParams<'static, 'static>,
    threads: usize,
    dtw: bool,
    /// Encode only the frames short audio needs (see `run`).
    short_context: bool,
    multilingual: bool,
    /// The end-of-text token id; every id at or above it is a special token (timestamps, language, ...).
    eot: i32,
    /// Reused input buffer for padding short audio.
    padded: Vec<f32>,
}

/// Threads to use: the setting, or the number of cores up to 4, never more than the cores there are.
pub fn thread_count(setting: u32) -> usize {
    let cores = crate::models::onnxruntime::available_cores();
    if setting == 0 { cores.min(4) } else { (setting as usize).clamp(1, cores) }
}

/// The DTW alignment-head preset for a model, judged by its file name (whisper.cpp's naming:
/// `ggml-tiny.en.bin`, `ggml-base.bin`, `ggml-large-v3-turbo-q5_0.bin`, ...).
fn dtw_preset(path: &Path) -> Option<DtwModelPreset> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let name = name.strip_prefix("ggml-").unwrap_or(&name);
    let en = name.contains(".en");
    let has = |s: &str| name.starts_with(s);
    Some(match () {
        _ if has("tiny") && en => DtwModelPreset::TinyEn,
        _ if has("tiny") => DtwModelPreset::Tiny,
        _ if has("base") && en => DtwModelPreset::BaseEn,
        _ if has("base") => DtwModelPreset::Base,
        _ if has("small") && en => DtwModelPreset::SmallEn,
        _ if has("small") => DtwModelPreset::Small,
        _ if has("medium") && en => DtwModelPreset::MediumEn,
        _ if has("medium") => DtwModelPreset::Medium,
        _ if has("large-v3-turbo") => DtwModelPreset::LargeV3Turbo,
        _ if has("large-v3") => DtwModelPreset::LargeV3,
        _ if has("large-v2") => DtwModelPreset::LargeV2,
        _ if has("large-v1") => DtwModelPreset::LargeV1,
        _ => return None,
    })
}

/// Checks that `path` is a whole ggml Whisper model as far as its header, mel filters and vocabulary go, so that a
/// wrong or truncated file gets a clear error: whisper.cpp aborts the whole process on some of them.
fn check_model_file(path: &Path) -> Result<(), AsrError> {
    if !path.is_file() {
        return Err(AsrError::ModelMissing { path: path.to_owned() });
    }
    let invalid = |reason: String| AsrError::ModelInvalid { path: path.to_owned(), reason };
    let file = std::fs::File::open(path).map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = std::io::BufReader::new(file);
    let truncated =
        |what: &str| invalid(format!("the file ends inside its {what}; it is truncated, download it again"));
    let mut word = [0u8; 4];
    let mut read_u32 = |r: &mut std::io::BufReader<std::fs::File>, what: &str| {
        r.read_exact(&mut word).map(|_| u32::from_le_bytes(word)).map_err(|_| truncated(what))
    };
    let magic = read_u32(&mut r, "header")?;
    // "ggml" as a little-endian u32 (whisper.cpp's format); "GGUF" is the newer container whisper.cpp cannot load.
    if magic.to_le_bytes() == *b"GGUF" {
        return Err(invalid("it is a GGUF file (a language model?), not a whisper.cpp ggml model".into()));
    }
    if magic != 0x6767_6d6c {
        return Err(invalid("the file does not start with the ggml magic number".into()));
    }
    let mut hparams = [0u32; 11];
    for h in hparams.iter_mut() {
        *h = read_u32(&mut r, "header")?;
    }
    let n_vocab = hparams[0];
    if !(50_000..=60_000).contains(&n_vocab) || hparams.iter().take(10).any(|&h| h == 0 || h > 100_000) {
        return Err(invalid(format!("its header does not describe a Whisper model ({hparams:?})")));
    }
    let n_mel = read_u32(&mut r, "mel filters")? as u64;
    let n_fft = read_u32(&mut r, "mel filters")? as u64;
    let mut pos = 4 + 11 * 4 + 8 + n_mel * n_fft * 4;
    if n_mel > 512 || n_fft > 4096 || pos > size {
        return Err(truncated("mel filters"));
    }
    r.seek_relative((n_mel * n_fft * 4) as i64).map_err(|_| truncated("mel filters"))?;
    let words = read_u32(&mut r, "vocabulary")?;
    pos += 4;
    let mut buf = Vec::new();
    for _ in 0..words {
        let len = read_u32(&mut r, "vocabulary")? as u64;
        pos += 4 + len;
        if len > 1024 || pos > size {
            return Err(truncated("vocabulary"));
        }
        buf.resize(len as usize, 0);
        r.read_exact(&mut buf).map_err(|_| truncated("vocabulary"))?;
    }
    if size < pos + 1024 {
        return Err(truncated("weights"));
    }
    Ok(())
}

impl Whisper {
    /// Loads the model named by `settings.model` (resolved against the models folder).
    pub fn new(settings: &AsrSettings, paths: &Paths) -> Result<Whisper, AsrError> {
        Whisper::open(&paths.model(&settings.model), settings)
    }

    /// Loads a ggml model file with the decoding options of `settings`.
    pub fn open(path: &Path, settings: &AsrSettings) -> Result<Whisper, AsrError> {
        Whisper::open_with_dtw(path, settings, true)
    }

    /// Like [`Whisper::open`]; `dtw = false` skips the DTW word alignment (word times then come from token
    /// timestamps), which the benchmark uses to show what DTW costs.
    pub fn open_with_dtw(path: &Path, settings: &AsrSettings, dtw: bool) -> Result<Whisper, AsrError> {
        check_model_file(path)?;
        // whisper.cpp prints its progress on stderr; route it into whisper-rs's hooks (which drop it) instead.
        whisper_rs::install_logging_hooks();
        let preset = if dtw { dtw_preset(path) } else { None };
        let mut cparams = WhisperContextParameters::default();
        cparams.use_gpu(false);
        if let Some(model_preset) = preset.clone() {
            cparams.dtw_parameters(DtwParameters { mode: DtwMode::ModelPreset { model_preset }, ..Default::default() });
        }
        let path_str = path.to_str().ok_or_else(|| AsrError::ModelInvalid {
            path: path.to_owned(),
            reason: "the path is not valid UTF-8".into(),
        })?;
        let ctx = WhisperContext::new_with_params(path_str, cparams).map_err(|e| AsrError::ModelInvalid {
            path: path.to_owned(),
            reason: format!("whisper.cpp could not load it: {e}"),
        })?;
        let state = ctx.create_state().map_err(|e| AsrError::Whisper(format!("cannot create a decoder state: {e}")))?;
        let multilingual = ctx.is_multilingual();
        let eot = ctx.token_eot();

        let language = settings.language.trim().to_lowercase();
        let language: &'static str = if !multilingual {
            "en"
        } else if language.is_empty() || language == "auto" {
            "auto"
        } else if whisper_rs::get_lang_id(&language).is_some() {
            // Leaked once per loaded model: FullParams keeps a pointer to the string for its whole life.
            Box::leak(language.into_boxed_str())
        } else {
            return Err(AsrError::Language(settings.language.clone()));
        };

        let strategy = if settings.beam_size > 1 {
            SamplingStrategy::BeamSearch { beam_size: settings.beam_size.min(8) as i32, patience: -1.0 }
        } else {
            SamplingStrategy::Greedy { best_of: 1 }
        };
        let threads = thread_count(settings.threads);
        let mut params = FullParams::new(strategy);
        params.set_n_threads(threads as i32);
        params.set_language(Some(language));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_token_timestamps(true);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        let prompt: String = settings.initial_prompt.chars().filter(|&c| c != '\0').collect();
        if !prompt.trim().is_empty() {
            params.set_initial_prompt(prompt.trim());
        }
        Ok(Whisper {
            state,
            params,
            threads,
            dtw: preset.is_some(),
            multilingual,
            eot,
            padded: Vec::new(),
            short_context: settings.short_context,
        })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Whether word times come from DTW alignment (more precise) rather than token timestamps.
    pub fn has_dtw(&self) -> bool {
        self.dtw
    }

    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    fn run(&mut self, audio_16k: &[f32]) -> Result<Transcript, AsrError> {
        let audio = if audio_16k.len() < MIN_SAMPLES {
            self.padded.clear();
            self.padded.extend_from_slice(audio_16k);
            self.padded.resize(MIN_SAMPLES, 0.0);
            &self.padded[..]
        } else {
            audio_16k
        };
        let duration = audio_16k.len() as f32 / SAMPLE_RATE as f32;
        let mut params = self.params.clone();
        // The encoder normally works on a full 30 s window whatever the audio's length. With `asr.short_context`
        // it encodes only the frames that hold audio, plus a margin: 20 ms a frame, rounded up to 64 frames, never
        // under 384 (7.7 s). A 3 s utterance is transcribed in 0.6 s instead of 2 s on two cores; in loud noise
        // whisper tiny then mishears more (WER 36% instead of 25% at 15 dB SNR in tests/listening.rs).
        let frames = (audio.len() as f32 / SAMPLE_RATE as f32 * 50.0).ceil() as u32 + 64;
        let ctx = (frames.div_ceil(64) * 64).max(384) as i32;
        if ctx < 1500 && self.short_context {
            params.set_audio_ctx(ctx);
        }
        self.state.full(params, audio).map_err(|e| AsrError::Whisper(e.to_string()))?;

        let mut segments = Vec::new();
        let mut words: Vec<Word> = Vec::new();
        // Per word: the bytes of its tokens (a character may be split across tokens), start, end, probability.
        let mut pending: Option<(Vec<u8>, f32, f32, f32)> = None;
        let cs = |t: i64| (t.max(0) as f32 / 100.0).min(duration);
        let eot = self.eot;
        // whisper.cpp gives each text token the time its DTW path *leaves* it: the cross-attention row of input
        // token k is where the model predicts token k + 1, and whisper.cpp pairs the row with token k. So a
        // token's `t_dtw` is its end, and its start is the previous token's `t_dtw`. The first token has no
        // predecessor: the path starts at 0. Edges left in silence are moved onto the speech below.
        let mut previous_end: Option<f32> = None;
        for seg in self.state.as_iter() {
            let text = seg.to_str_lossy().map_err(|e| AsrError::Whisper(e.to_string()))?.into_owned();
            let (seg_start, seg_end) = (cs(seg.start_timestamp()), cs(seg.end_timestamp()));
            let no_speech = seg.no_speech_probability();
            segments.push((Segment { start_s: seg_start, end_s: seg_end, text }, no_speech));
            for i in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(i) else { continue };
                let data = tok.token_data();
                if data.id >= eot {
                    continue;
                }
                let bytes = tok.to_bytes().unwrap_or_default();
                let (start, end) = if self.dtw && data.t_dtw >= 0 {
                    let end = cs(data.t_dtw);
                    let start = previous_end.unwrap_or(0.0);
                    previous_end = Some(end);
                    (start.min(end), end)
                } else {
                    let start = cs(data.t0);
                    (start, cs(data.t1).max(start))
                };
                let new_word = bytes.first() == Some(&b' ') || pending.is_none();
                if new_word {
                    if let Some((b, s, e, p)) = pending.take() {
                        push_word(&mut words, &b, s, e, p);
                    }
                    pending = Some((bytes.to_vec(), start, end, data.p));
                } else if let Some((b, _, e, p)) = pending.as_mut() {
                    b.extend_from_slice(bytes);
                    *e = e.max(end);
                    *p = p.min(data.p);
                }
            }
            // Words do not run across segments.
            if let Some((b, s, e, p)) = pending.take() {
                let e = if self.dtw { e } else { seg_end.max(s) };
                push_word(&mut words, &b, s, e, p);
            }
        }
        if self.dtw {
            snap_to_speech(&mut words, audio_16k);
        }
        let kept = clean_segments(segments);
        // Words of dropped segments go too.
        words.retain(|w| kept.iter().any(|s| w.start_s >= s.start_s - 0.05 && w.start_s <= s.end_s + 0.05));
        let mut t = Transcript::from_segments(kept, words);
        t.text = collapse_repeats(&t.text);
        if t.text.is_empty() {
            t.words.clear();
        }
        Ok(t)
    }
}

/// Moves word edges that DTW put in silence onto the speech. Across a pause, the alignment gives the silence to
/// one of the two words around it (the path has to be somewhere), so a word can start long before it is said or
/// end long after. A 10 ms frame counts as speech when it is within 26 dB of the loudest; an edge moves when it
/// sits in at least 100 ms of non-speech, to the first (last) speech frame inside the word.
fn snap_to_speech(words: &mut [Word], audio: &[f32]) {
    const FRAME: usize = SAMPLE_RATE as usize / 100;
    const MIN_MOVE: usize = 10;
    let rms: Vec<f32> =
        audio.chunks(FRAME).map(|c| (c.iter().map(|x| x * x).sum::<f32>() / c.len() as f32).sqrt()).collect();
    let peak = rms.iter().copied().fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return;
    }
    let speech: Vec<bool> = rms.iter().map(|&r| r >= peak * 0.05).collect();
    let frame = |t: f32| ((t * 100.0).round().max(0.0) as usize).min(speech.len());
    for w in words.iter_mut() {
        let (a, b) = (frame(w.start_s), frame(w.end_s));
        let Some(first) = speech[a..b].iter().position(|&s| s) else { continue };
        if first >= MIN_MOVE {
            w.start_s = (a + first) as f32 / 100.0;
        }
        if let Some(last) = speech[a..b].iter().rposition(|&s| s)
            && b - (a + last + 1) >= MIN_MOVE
        {
            w.end_s = (a + last + 1) as f32 / 100.0;
        }
    }
}

fn push_word(words: &mut Vec<Word>, bytes: &[u8], start_s: f32, end_s: f32, probability: f32) {
    let text = String::from_utf8_lossy(bytes).trim().to_owned();
    if !text.is_empty() {
        words.push(Word { text, start_s, end_s, probability });
    }
}

impl Transcriber for Whisper {
    fn transcribe(&mut self, audio_16k: &[f32]) -> Result<Transcript, AsrError> {
        if audio_16k.is_empty() {
            return Ok(Transcript::default());
        }
        self.run(audio_16k)
    }
}

/// A model path for error messages and the CLI.
pub fn model_path(settings: &AsrSettings, paths: &Paths) -> PathBuf {
    paths.model(&settings.model)
}
