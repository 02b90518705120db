//! Frame outputs: where the rendered character goes so OBS (or anything else) can take it.
//!
//! Every output is a [`FrameSink`]: opened with a size and a frame rate, fed one [`Frame`] at a time from the
//! render loop with [`FrameSink::send`], closed with [`FrameSink::finish`]. Several run at once; each converts the
//! premultiplied RGBA frame into what its consumer wants (y4m planes, straight-alpha RGBA, YUYV/NV12 for a
//! virtual camera, a texture in a window, a shared D3D11 texture for Spout2).
//!
//! Which outputs run comes from `--output KIND:TARGET` flags ([`OutputSpec`]) or the `[output]` settings;
//! [`open`] turns a spec into a sink.

pub mod bench;
pub mod convert;
pub mod png;
pub mod raw;
pub mod spec;
#[cfg(windows)]
pub mod spout;
#[cfg(target_os = "linux")]
pub mod v4l2;
pub mod v4l2_format;
pub mod window;

pub use spec::{OutputKind, OutputSpec};

/// Frames come from the renderer: premultiplied-alpha RGBA8, rows top to bottom, no padding.
pub use crate::render::Frame;

/// Size and rate an output is opened with. Frames sent later must have this size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFormat {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// Why an output could not open or take a frame. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0}")]
    BadSpec(String),
    #[error("{0}")]
    BadFrame(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The consumer went away (ffmpeg closed the pipe, the window was closed): stop sending to this sink.
    #[error("{0} was closed")]
    Closed(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Device(String),
}

impl OutputError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> OutputError {
        if source.kind() == std::io::ErrorKind::BrokenPipe {
            return OutputError::Closed(what.into());
        }
        OutputError::Io { what: what.into(), source }
    }
}

/// A place frames go. Driven from the render loop: `send` once per frame, `finish` at the end.
pub trait FrameSink {
    /// A short name for logs and errors, e.g. `y4m:out.y4m`.
    fn name(&self) -> String;
    /// Delivers one frame. It must have the size the sink was opened with.
    fn send(&mut self, frame: &Frame) -> Result<(), OutputError>;
    /// Flushes and closes (writes trailers, closes windows). Sending after `finish` is an error.
    fn finish(&mut self) -> Result<(), OutputError>;
}

/// Checks a frame against the format a sink was opened with.
pub(crate) fn check_size(name: &str, format: &VideoFormat, frame: &Frame) -> Result<(), OutputError> {
    frame.check()?;
    if frame.width != format.width || frame.height != format.height {
        return Err(OutputError::BadFrame(format!(
            "{name} was opened for {}×{} frames but got {}×{}",
            format.width, format.height, frame.width, frame.height
        )));
    }
    Ok(())
}

/// Opens every output in `specs` at `format`. Window and overlay specs share one window sink (one event loop per
/// process), so several windows can run at once; `window_background` is the chroma colour of a plain window when
/// its spec names none.
pub fn open(
    specs: &[OutputSpec],
    format: VideoFormat,
    window_background: [u8; 4],
) -> Result<Vec<Box<dyn FrameSink>>, OutputError> {
    let mut sinks: Vec<Box<dyn FrameSink>> = Vec::new();
    let mut windows = Vec::new();
    for spec in specs {
        match spec.kind {
            OutputKind::Window => {
                windows.push(window::WindowKind::Plain { background: spec.colour()?.unwrap_or(window_background) })
            }
            OutputKind::Overlay => windows.push(window::WindowKind::Overlay),
            OutputKind::Y4m => sinks.push(Box::new(raw::Y4mSink::open(&spec.target, format)?)),
            OutputKind::Rgba => sinks.push(Box::new(raw::RgbaSink::open(&spec.target, format)?)),
            OutputKind::Png => sinks.push(Box::new(png::PngSink::open(&spec.target, format)?)),
            OutputKind::V4l2 => {
                #[cfg(target_os = "linux")]
                sinks.push(Box::new(v4l2::V4l2Sink::open(&spec.target, format, window_background)?));
                #[cfg(not(target_os = "linux"))]
                return Err(OutputError::Unsupported(
                    "v4l2 (virtual camera) output exists on Linux only; on Windows use spout, elsewhere y4m:-".into(),
                ));
            }
            OutputKind::Spout => {
                #[cfg(windows)]
                sinks.push(Box::new(spout::SpoutSink::open(spec.target_or("Persona"), format)?));
                #[cfg(not(windows))]
                return Err(OutputError::Unsupported(
                    "spout output exists on Windows only; on Linux use v4l2:/dev/videoN or window capture".into(),
                ));
            }
        }
    }
    if !windows.is_empty() {
        sinks.push(Box::new(window::WindowSink::open(windows, format)?));
    }
    Ok(sinks)
}
