//! The settings structs: one section per pipeline stage, every key with a default.
//!
//! The documentation of each key lives in `assets/settings.toml` (what `persona config init` writes); a test keeps
//! that file and these defaults equal. Range checks live in `validate.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the user can set. Sections follow the pipeline: audio in, VAD, ASR, LLM, TTS, RVC, lip sync,
/// avatar, subtitles, outputs, and the conversation that ties them together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub audio: AudioSettings,
    pub vad: VadSettings,
    pub asr: AsrSettings,
    pub llm: LlmSettings,
    pub tts: TtsSettings,
    pub rvc: RvcSettings,
    pub lipsync: LipsyncSettings,
    pub avatar: AvatarSettings,
    pub subtitles: SubtitleSettings,
    pub output: OutputSettings,
    pub conversation: ConversationSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioSettings {
    /// Microphone by name; empty means the system default.
    pub input_device: String,
    /// Speakers by name; empty means the system default.
    pub output_device: String,
    /// Start with the microphone muted.
    pub start_muted: bool,
    /// Playback volume, 0.0 to 2.0.
    pub output_volume: f32,
    /// Remove the character's own voice from the microphone (acoustic echo cancellation).
    pub echo_cancellation: bool,
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self {
            input_device: String::new(),
            output_device: String::new(),
            start_muted: false,
            output_volume: 1.0,
            echo_cancellation: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VadSettings {
    /// Silero VAD model, a file name in the models folder or a path.
    pub model: String,
    /// Speech starts when the probability reaches this.
    pub threshold: f32,
    /// Speech continues while the probability stays at or above this.
    pub continue_threshold: f32,
    pub min_speech_ms: u32,
    /// Silence that ends an utterance.
    pub end_silence_ms: u32,
    /// Audio kept before and after each utterance.
    pub padding_ms: u32,
    /// Utterances shorter than this are dropped.
    pub min_segment_ms: u32,
}

impl Default for VadSettings {
    fn default() -> Self {
        Self {
            model: "silero_vad.onnx".into(),
            threshold: 0.5,
            continue_threshold: 0.35,
            min_speech_ms: 150,
            end_silence_ms: 450,
            padding_ms: 125,
            min_segment_ms: 200,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsrEngine {
    Whisper,
    Remote,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsrSettings {
    pub engine: AsrEngine,
    /// Whisper ggml model, a file name in the models folder or a path.
    pub model: String,
    /// Language code ("en", "de", ...) or "auto"; English-only models ignore it.
    pub language: String,
    /// Biases recognition toward names and words, e.g. "Mira, Persona".
    pub initial_prompt: String,
    /// Inference threads; 0 picks the number of cores (at most 4).
    pub threads: u32,
    /// 1 decodes greedily; more uses beam search with that many beams.
    pub beam_size: u32,
    /// How often a partial transcript is made while the user speaks; 0 turns partials off.
    pub partial_interval_ms: u32,
    /// Encode only as much audio as an utterance has (several times faster for short utterances; somewhat less
    /// accurate in loud noise). Off: whisper.cpp's full 30 s window every time.
    pub short_context: bool,
    /// OpenAI-compatible base URL for the remote engine, e.g. "http://127.0.0.1:8000/v1".
    pub remote_url: String,
    pub remote_model: String,
    pub remote_api_key: String,
}

impl Default for AsrSettings {
    fn default() -> Self {
        Self {
            engine: AsrEngine::Whisper,
            model: "ggml-tiny.en.bin".into(),
            language: "en".into(),
            initial_prompt: String::new(),
            threads: 0,
            beam_size: 1,
            partial_interval_ms: 500,
            short_context: true,
            remote_url: String::new(),
            remote_model: "whisper-1".into(),
            remote_api_key: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// Base URL of an OpenAI-compatible API (Ollama, LM Studio, llama.cpp server, vLLM, OpenAI, ...).
    pub endpoint: String,
    pub model: String,
    /// Sent as a bearer token; never logged.
    pub api_key: String,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Time allowed to connect and get response headers.
    pub connect_timeout_s: f32,
    /// A stream silent for this long is treated as stalled.
    pub idle_timeout_s: f32,
    /// Retries of a request that failed before its first token.
    pub retries: u32,
    /// Extra HTTP headers sent with every request.
    pub extra_headers: BTreeMap<String, String>,
    /// History kept in the prompt: at most this many turns...
    pub history_turns: u32,
    /// ...and at most about this many tokens.
    pub history_tokens: u32,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.2".into(),
            api_key: String::new(),
            temperature: 1.0,
            max_tokens: 512,
            connect_timeout_s: 5.0,
            idle_timeout_s: 30.0,
            retries: 2,
            extra_headers: BTreeMap::new(),
            history_turns: 100,
            history_tokens: 4000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtsEngine {
    Kokoro,
    Piper,
    Remote,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TtsSettings {
    pub engine: TtsEngine,
    /// Voice name ("af_heart"), or a blend ("af_heart:0.7,af_bella:0.3"). Empty uses the character's voice.
    pub voice: String,
    /// Speaking rate, 0.5 to 2.0.
    pub speed: f32,
    /// espeak-ng language for phonemes; empty uses the voice's language.
    pub language: String,
    /// The espeak-ng program (a separate process; never linked).
    pub espeak_program: String,
    pub kokoro_model: String,
    pub kokoro_vocab: String,
    /// Folder of Kokoro voice files (`<name>.bin`), relative to the models folder or a path.
    pub kokoro_voices: String,
    /// Piper voice model (`.onnx`, with its `.onnx.json` beside it).
    pub piper_model: String,
    pub piper_speaker: u32,
    /// OpenAI-compatible base URL for the remote engine.
    pub remote_url: String,
    pub remote_model: String,
    pub remote_api_key: String,
}

impl Default for TtsSettings {
    fn default() -> Self {
        Self {
            engine: TtsEngine::Kokoro,
            voice: String::new(),
            speed: 1.0,
            language: String::new(),
            espeak_program: "espeak-ng".into(),
            kokoro_model: "kokoro-v1.0.int8.onnx".into(),
            kokoro_vocab: "kokoro-vocab.json".into(),
            kokoro_voices: "voices".into(),
            piper_model: "en_US-joe-medium.onnx".into(),
            piper_speaker: 0,
            remote_url: String::new(),
            remote_model: "kokoro".into(),
            remote_api_key: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PitchMethod {
    Rmvpe,
    Crepe,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RvcSettings {
    pub enabled: bool,
    /// The RVC voice generator (`.onnx`); its sample rate comes from a sidecar `.json` or the model.
    pub voice_model: String,
    /// Folder listed for voice models.
    pub voices_folder: String,
    pub content_encoder: String,
    pub pitch_method: PitchMethod,
    pub rmvpe_model: String,
    pub crepe_model: String,
    /// Pitch shift in semitones, -24 to 24.
    pub pitch_shift: f32,
    pub speaker_id: u32,
    /// Crossfade between streamed pieces.
    pub crossfade_ms: u32,
}

impl Default for RvcSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            voice_model: String::new(),
            voices_folder: "rvc".into(),
            content_encoder: "vec-768-layer-12.onnx".into(),
            pitch_method: PitchMethod::Rmvpe,
            rmvpe_model: "rmvpe.onnx".into(),
            crepe_model: "crepe-tiny.onnx".into(),
            pitch_shift: 1.0,
            speaker_id: 0,
            crossfade_ms: 50,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LipsyncStyle {
    /// Mouth poses from the phoneme timeline.
    Phonemes,
    /// Mouth opening from loudness alone.
    Loudness,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LipsyncSettings {
    pub style: LipsyncStyle,
    /// How fast the mouth moves toward a pose, per second.
    pub attack_rate: f32,
    /// How fast it returns to rest, per second.
    pub release_rate: f32,
    /// Scales every mouth movement, 0.0 to 2.0.
    pub intensity: f32,
}

impl Default for LipsyncSettings {
    fn default() -> Self {
        Self { style: LipsyncStyle::Phonemes, attack_rate: 35.0, release_rate: 15.0, intensity: 1.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AvatarSettings {
    /// Inochi2D puppet (`.inp`/`.inx`); empty uses the character's avatar.
    pub puppet: String,
    /// Our parameter name -> the puppet's parameter name, for puppets whose rigger named them differently.
    pub parameter_map: BTreeMap<String, String>,
    pub blink: bool,
    pub breathing: bool,
    pub idle_motion: bool,
    pub physics: bool,
    /// How long an expression from an emotion tag holds before returning to neutral.
    pub expression_hold_s: f32,
}

impl Default for AvatarSettings {
    fn default() -> Self {
        Self {
            puppet: String::new(),
            parameter_map: BTreeMap::new(),
            blink: true,
            breathing: true,
            idle_motion: true,
            physics: true,
            expression_hold_s: 3.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubtitlePosition {
    Top,
    Bottom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubtitleSettings {
    pub enabled: bool,
    pub position: SubtitlePosition,
    /// Text height as a fraction of the frame height.
    pub size: f32,
    /// Colours as "#rrggbb" or "#rrggbbaa".
    pub color: String,
    pub highlight_color: String,
    pub outline_color: String,
    pub outline_px: f32,
    pub max_lines: u32,
    /// Also show what the user said.
    pub show_user: bool,
}

impl Default for SubtitleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            position: SubtitlePosition::Bottom,
            size: 0.035,
            color: "#ffffff".into(),
            highlight_color: "#ffd84a".into(),
            outline_color: "#000000".into(),
            outline_px: 3.0,
            max_lines: 2,
            show_user: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSettings {
    pub fps: u32,
    /// Size of the rendered picture that outputs receive.
    pub width: u32,
    pub height: u32,
    /// The avatar window.
    pub window: bool,
    /// Colour behind the avatar in the window, for chroma keying window captures ("#rrggbb").
    pub window_background: String,
    /// A transparent, borderless, always-on-top overlay window.
    pub overlay: bool,
    /// Spout2 sender (Windows only).
    pub spout: bool,
    pub spout_name: String,
    /// v4l2loopback virtual camera (Linux only), e.g. "/dev/video10"; empty is off.
    pub v4l2_device: String,
    /// y4m video written to this file ("-" for stdout); empty is off.
    pub y4m: String,
}

impl Default for OutputSettings {
    fn default() -> Self {
        Self {
            fps: 30,
            width: 1080,
            height: 1920,
            window: true,
            window_background: "#00ff00".into(),
            overlay: false,
            spout: false,
            spout_name: "Persona".into(),
            v4l2_device: String::new(),
            y4m: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BargeIn {
    /// The character always finishes.
    Ignore,
    /// Any speech interrupts.
    Any,
    /// Speech interrupts only while the character is not speaking (e.g. while it thinks).
    WhenNotSpeaking,
    /// Speech with at least `barge_in_words` words interrupts.
    MinWords,
    /// At least `barge_in_words` words, and only while the character is not speaking.
    MinWordsNotSpeaking,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConversationSettings {
    /// The character: a folder name under the characters folders, or a path to one.
    pub character: String,
    /// How the user is called in the prompt (`{{user}}`).
    pub user_name: String,
    pub barge_in: BargeIn,
    pub barge_in_words: u32,
    /// Start the reply from a stable partial transcript instead of waiting for the final one.
    pub start_on_partial: bool,
    /// Topics for the context message.
    pub topics: Vec<String>,
    /// The "current vibe" line of the context message.
    pub vibe: String,
    /// Keep a per-character transcript log to resume conversations.
    pub keep_log: bool,
}

impl Default for ConversationSettings {
    fn default() -> Self {
        Self {
            character: "mira".into(),
            user_name: "User".into(),
            barge_in: BargeIn::MinWords,
            barge_in_words: 3,
            start_on_partial: false,
            topics: Vec::new(),
            vibe: String::new(),
            keep_log: true,
        }
    }
}
