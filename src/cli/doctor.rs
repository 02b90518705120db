//! `persona doctor`: one line per thing the app needs, each with a fix when it is not right.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{AsrEngine, Paths, Settings, TtsEngine};
use crate::models::manifest::{self, AssetState, FileState};
use crate::models::onnxruntime;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip the LLM endpoint check (no network traffic at all).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but not fully (headless, optional part missing).
    Warn,
    /// Something the app needs is missing or broken.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, status: Status::Ok, detail: detail.into(), fix: None }
    }
    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, status: Status::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }
    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let paths = Paths::resolve(config);
    let checks = checks(&paths, !args.offline);
    for c in &checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        println!("{mark} {:<13} {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            println!("     {:<13} fix: {fix}", "");
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        println!("\n{failed} required item(s) missing or broken.");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// All checks, in the order they are printed.
pub fn checks(paths: &Paths, network: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let settings = match Settings::load(&paths.config_file) {
        Ok(s) => {
            let where_ = if paths.config_file.exists() { "valid" } else { "no file yet, defaults in use" };
            out.push(Check::ok("settings", format!("{} ({where_})", paths.config_file.display())));
            s
        }
        Err(e) => {
            out.push(Check::fail(
                "settings",
                e.to_string(),
                "fix the lines named above, or `persona config init --force`",
            ));
            Settings::default()
        }
    };
    out.push(character(paths, &settings));
    out.extend(models(paths, &settings));
    out.push(onnx_runtime(paths));
    out.push(espeak(&settings));
    out.extend(audio_devices(&settings));
    out.push(gpu());
    if network {
        out.push(llm(&settings));
    }
    out
}

fn character(paths: &Paths, settings: &Settings) -> Check {
    match crate::character::Character::find(paths, &settings.conversation.character) {
        Ok(c) => Check::ok("character", format!("{} ({})", c.info.name, c.dir.display())),
        Err(e) => Check::fail("character", e.to_string(), "set conversation.character to a character folder"),
    }
}

/// The default assets, present and verified against the manifest (digests cached by size and time), and any
/// model the settings name by a path of their own.
fn models(paths: &Paths, settings: &Settings) -> Vec<Check> {
    let fetch = "`persona models fetch` (offline: `--mirror DIR`, or PERSONA_MODELS=DIR)";
    let mut out = Vec::new();
    let statuses = match manifest::status(paths, manifest::Verify::Cached) {
        Ok(s) => s,
        Err(e) => return vec![Check::fail("models", e.to_string(), "rebuild persona; the manifest is built in")],
    };
    let mut known = Vec::new();
    for asset in &statuses {
        known.extend(asset.files.iter().map(|f| f.path.clone()));
        if !asset.default {
            continue;
        }
        let detail = |what: &str| format!("{} {what} ({})", asset.name, paths.models_dir.display());
        out.push(match asset.state() {
            AssetState::Installed => {
                Check::ok("model", format!("{} verified ({} MB)", asset.name, asset.size_on_disk() / 1_000_000))
            }
            AssetState::Corrupt => {
                let why = asset.files.iter().find_map(|f| match &f.state {
                    FileState::Corrupt { reason } | FileState::Unreadable { reason } => {
                        Some(format!("{}: {reason}", f.path.display()))
                    }
                    _ => None,
                });
                Check::fail(
                    "model",
                    detail(&format!("corrupt: {}", why.unwrap_or_default())),
                    format!("{fetch} --force"),
                )
            }
            state => Check::fail("model", detail(&state.to_string()), fetch),
        });
    }
    let mut named = vec![settings.vad.model.clone()];
    if settings.asr.engine == AsrEngine::Whisper {
        named.push(settings.asr.model.clone());
    }
    match settings.tts.engine {
        TtsEngine::Kokoro => named.push(settings.tts.kokoro_model.clone()),
        TtsEngine::Piper => named.push(settings.tts.piper_model.clone()),
        TtsEngine::Remote => {}
    }
    for file in named {
        let path = paths.model(&file);
        if known.contains(&path) && statuses.iter().any(|a| a.default && a.files.iter().any(|f| f.path == path)) {
            continue;
        }
        out.push(if path.exists() {
            Check::ok("model", format!("{} (named in the settings)", path.display()))
        } else {
            Check::fail("model", format!("{} (named in the settings) is missing", path.display()), fetch)
        });
    }
    out
}

fn onnx_runtime(paths: &Paths) -> Check {
    match onnxruntime::environment(&paths.models_dir) {
        Ok(_) => {
            let (path, version) = onnxruntime::loaded_version().unwrap_or_default();
            Check::ok("onnxruntime", format!("{version} ({})", path.display()))
        }
        Err(e) => {
            Check::fail("onnxruntime", e.to_string(), "`persona models fetch onnxruntime`, or set ORT_DYLIB_PATH")
        }
    }
}

fn espeak(settings: &Settings) -> Check {
    let program = &settings.tts.espeak_program;
    match std::process::Command::new(program).arg("--version").output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            // "eSpeak NG text-to-speech: 1.51  Data at: ..."
            let version = text.split(':').nth(1).and_then(|v| v.split_whitespace().next()).unwrap_or("").to_owned();
            Check::ok("espeak-ng", format!("{program} {version}").trim().to_owned())
        }
        Ok(out) => Check::fail("espeak-ng", format!("{program} --version failed: {}", out.status), install_espeak()),
        Err(e) => Check::fail("espeak-ng", format!("{program} not found ({e})"), install_espeak()),
    }
}

fn install_espeak() -> String {
    let how = if cfg!(target_os = "macos") {
        "brew install espeak-ng"
    } else if cfg!(target_os = "windows") {
        "install espeak-ng from its releases page and add it to PATH"
    } else {
        "sudo apt-get install espeak-ng (or your distribution's package)"
    };
    format!("{how}; or set tts.espeak_program to its path")
}

fn audio_devices(settings: &Settings) -> Vec<Check> {
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    let describe =
        |d: &cpal::Device| d.description().map(|x| x.name().to_owned()).unwrap_or_else(|_| "(unnamed)".into());
    // A device "exists but will not open" on machines without a sound card, and ALSA's `null` device (often the
    // default there) discards everything: only a real device whose configuration can be read counts.
    let real = |d: &cpal::Device| {
        let id = d.id().map(|i| i.to_string()).unwrap_or_default();
        !(id.ends_with(":null") || describe(d).starts_with("Discard all samples"))
    };
    let inputs: Vec<String> = host
        .input_devices()
        .map(|ds| ds.filter(|d| real(d) && d.default_input_config().is_ok()).map(|d| describe(&d)).collect())
        .unwrap_or_default();
    let outputs: Vec<String> = host
        .output_devices()
        .map(|ds| ds.filter(|d| real(d) && d.default_output_config().is_ok()).map(|d| describe(&d)).collect())
        .unwrap_or_default();
    let line = |name: &'static str, devices: Vec<String>, wanted: &str, key: &str| {
        if devices.is_empty() {
            return Check::warn(
                name,
                "none: headless (no sound card); files can stand in (--input/--output)",
                "plug in a device, or start a sound server (PulseAudio/PipeWire)",
            );
        }
        if !wanted.is_empty() && !devices.iter().any(|d| d == wanted) {
            return Check::fail(
                name,
                format!("\"{wanted}\" not found; available: {}", devices.join(", ")),
                format!("set {key} to one of the names above, or \"\" for the default"),
            );
        }
        Check::ok(name, format!("{} device(s): {}", devices.len(), devices.join(", ")))
    };
    vec![
        line("audio input", inputs, &settings.audio.input_device, "audio.input_device"),
        line("audio output", outputs, &settings.audio.output_device, "audio.output_device"),
    ]
}

fn gpu() -> Check {
    // Vulkan/Metal/DX12 first; GL only when none of those has an adapter (GL probing logs EGL noise).
    let request = |backends: wgpu::Backends| {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = backends;
        }
        let instance = wgpu::Instance::new(desc);
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
    };
    let adapter = request(wgpu::Backends::PRIMARY).or_else(|_| request(wgpu::Backends::all()));
    match adapter {
        Ok(a) => {
            let info = a.get_info();
            let kind = match info.device_type {
                wgpu::DeviceType::Cpu => "software",
                wgpu::DeviceType::DiscreteGpu => "discrete GPU",
                wgpu::DeviceType::IntegratedGpu => "integrated GPU",
                wgpu::DeviceType::VirtualGpu => "virtual GPU",
                wgpu::DeviceType::Other => "other",
            };
            Check::ok("gpu", format!("{} ({kind}, {:?})", info.name, info.backend))
        }
        Err(e) => Check::fail(
            "gpu",
            format!("no graphics adapter: {e}"),
            "install Vulkan or GL drivers (a software one works: mesa-vulkan-drivers)",
        ),
    }
}

fn llm(settings: &Settings) -> Check {
    let url = format!("{}/models", settings.llm.endpoint.trim_end_matches('/'));
    let timeout = Duration::from_secs(5);
    let client = match reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => return Check::warn("llm", e.to_string(), "check the system's TLS setup"),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let Ok(rt) = rt else { return Check::warn("llm", "could not start the async runtime", "report this") };
    let mut req = client.get(&url);
    if !settings.llm.api_key.is_empty() {
        req = req.bearer_auth(&settings.llm.api_key);
    }
    match rt.block_on(async move { req.send().await }) {
        Ok(resp) if resp.status().is_success() => Check::ok("llm", format!("{} reachable", settings.llm.endpoint)),
        Ok(resp) if resp.status() == reqwest::StatusCode::UNAUTHORIZED => Check::warn(
            "llm",
            format!("{} answers 401 Unauthorized", settings.llm.endpoint),
            "set llm.api_key to a valid key",
        ),
        Ok(resp) => Check::warn(
            "llm",
            format!("{} answers {} to GET /models", settings.llm.endpoint, resp.status()),
            "some servers have no /models; `persona llm probe` tries a real request",
        ),
        Err(e) => Check::warn(
            "llm",
            format!("{} unreachable ({})", settings.llm.endpoint, short(&e)),
            "start your LLM server (Ollama, LM Studio, llama.cpp) or set llm.endpoint / PERSONA_LLM_URL",
        ),
    }
}

fn short(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused".into()
    } else if e.is_timeout() {
        "timed out".into()
    } else {
        e.to_string()
    }
}
