//! Raw video pipes: y4m and straight RGBA, to a file or to stdout, so `persona ... | ffmpeg -i - ...` works on
//! every platform.
//!
//! y4m (YUV4MPEG2) carries its own size and rate, so `ffmpeg -i -` needs no options. We write `C444alpha`
//! (ffmpeg's yuva444p): full-resolution chroma and the alpha plane, so the character stays cut out; the colour
//! is BT.601 limited range, which is what ffmpeg assumes for y4m. Raw RGBA has no header: the reader must be told
//! `-f rawvideo -pix_fmt rgba -s WxH -r FPS`. Both write straight (not premultiplied) alpha, as readers expect.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::convert::{rgba_to_yuva444, unpremultiply_into};
use super::{Frame, FrameSink, OutputError, VideoFormat, check_size};

/// Where a pipe writes: a file, or stdout for `-`.
fn open_target(target: &str, what: &str) -> Result<Box<dyn Write + Send>, OutputError> {
    if target == "-" {
        return Ok(Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout())));
    }
    let path = Path::new(target);
    let file = File::create(path).map_err(|e| {
        OutputError::io(format!("cannot create the {what} file {} (does its folder exist?)", path.display()), e)
    })?;
    Ok(Box::new(BufWriter::with_capacity(1 << 20, file)))
}

/// A pipe that writes frames through a conversion into a reusable buffer.
struct Pipe {
    name: String,
    format: VideoFormat,
    out: Option<Box<dyn Write + Send>>,
    buffer: Vec<u8>,
}

impl Pipe {
    fn write(&mut self, parts: &[&[u8]]) -> Result<(), OutputError> {
        let out = self.out.as_mut().ok_or_else(|| OutputError::Closed(self.name.clone()))?;
        for p in parts {
            out.write_all(p).map_err(|e| OutputError::io(format!("writing {}", self.name), e))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        if let Some(mut out) = self.out.take() {
            out.flush().map_err(|e| OutputError::io(format!("finishing {}", self.name), e))?;
        }
        Ok(())
    }
}

/// YUV4MPEG2 (yuva444p) video to a file or stdout.
pub struct Y4mSink {
    pipe: Pipe,
}

impl Y4mSink {
    /// Opens `target` (`-` is stdout) and writes the stream header.
    pub fn open(target: &str, format: VideoFormat) -> Result<Y4mSink, OutputError> {
        Self::to_writer(open_target(target, "y4m")?, format, format!("y4m:{target}"))
    }

    /// Writes to any writer (used by benchmarks and by callers with their own pipe).
    pub fn to_writer(out: Box<dyn Write + Send>, format: VideoFormat, name: String) -> Result<Y4mSink, OutputError> {
        if format.width == 0 || format.height == 0 || format.fps == 0 {
            return Err(OutputError::BadSpec(format!(
                "{name}: size and frame rate must be above zero, got {format:?}"
            )));
        }
        let n = format.width as usize * format.height as usize;
        let mut pipe = Pipe { name, format, out: Some(out), buffer: vec![0; n * 4] };
        let header = format!(
            "YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C444alpha XCOLORRANGE=LIMITED\n",
            format.width, format.height, format.fps
        );
        pipe.write(&[header.as_bytes()])?;
        Ok(Y4mSink { pipe })
    }
}

impl FrameSink for Y4mSink {
    fn name(&self) -> String {
        self.pipe.name.clone()
    }

    fn send(&mut self, frame: &Frame) -> Result<(), OutputError> {
        check_size(&self.pipe.name, &self.pipe.format, frame)?;
        let mut buffer = std::mem::take(&mut self.pipe.buffer);
        rgba_to_yuva444(&frame.rgba, frame.width, frame.height, &mut buffer);
        let result = self.pipe.write(&[b"FRAME\n", &buffer]);
        self.pipe.buffer = buffer;
        result
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        self.pipe.finish()
    }
}

/// Headerless straight-alpha RGBA frames to a file or stdout.
pub struct RgbaSink {
    pipe: Pipe,
}

impl RgbaSink {
    pub fn open(target: &str, format: VideoFormat) -> Result<RgbaSink, OutputError> {
        Ok(Self::to_writer(open_target(target, "rgba")?, format, format!("rgba:{target}")))
    }

    pub fn to_writer(out: Box<dyn Write + Send>, format: VideoFormat, name: String) -> RgbaSink {
        let n = format.width as usize * format.height as usize;
        RgbaSink { pipe: Pipe { name, format, out: Some(out), buffer: vec![0; n * 4] } }
    }
}

impl FrameSink for RgbaSink {
    fn name(&self) -> String {
        self.pipe.name.clone()
    }

    fn send(&mut self, frame: &Frame) -> Result<(), OutputError> {
        check_size(&self.pipe.name, &self.pipe.format, frame)?;
        let mut buffer = std::mem::take(&mut self.pipe.buffer);
        unpremultiply_into(&frame.rgba, &mut buffer);
        let result = self.pipe.write(&[&buffer]);
        self.pipe.buffer = buffer;
        result
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        self.pipe.finish()
    }
}
