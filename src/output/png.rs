//! A PNG sequence: `DIR/frame_000001.png`, ... with straight alpha, for editing software and for checking frames
//! by eye. `ffmpeg -framerate 30 -i DIR/frame_%06d.png` reads it back as video.

use std::path::{Path, PathBuf};

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use super::convert::unpremultiply_into;
use super::{Frame, FrameSink, OutputError, VideoFormat, check_size};

pub struct PngSink {
    dir: PathBuf,
    format: VideoFormat,
    next: u64,
    buffer: Vec<u8>,
    finished: bool,
}

impl PngSink {
    /// Makes `dir` if missing. Frames already there with the same names are overwritten.
    pub fn open(dir: &str, format: VideoFormat) -> Result<PngSink, OutputError> {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| OutputError::io(format!("cannot make the PNG folder {}", dir.display()), e))?;
        let n = format.width as usize * format.height as usize;
        Ok(PngSink { dir, format, next: 1, buffer: vec![0; n * 4], finished: false })
    }

    /// The file frame number `n` (from 1) goes to.
    pub fn frame_path(dir: &Path, n: u64) -> PathBuf {
        dir.join(format!("frame_{n:06}.png"))
    }
}

impl FrameSink for PngSink {
    fn name(&self) -> String {
        format!("png:{}", self.dir.display())
    }

    fn send(&mut self, frame: &Frame) -> Result<(), OutputError> {
        if self.finished {
            return Err(OutputError::Closed(self.name()));
        }
        check_size(&self.name(), &self.format, frame)?;
        unpremultiply_into(&frame.rgba, &mut self.buffer);
        let path = Self::frame_path(&self.dir, self.next);
        let file =
            std::fs::File::create(&path).map_err(|e| OutputError::io(format!("cannot write {}", path.display()), e))?;
        // Fast compression: a stream at 30 fps cannot wait for the best one.
        PngEncoder::new_with_quality(std::io::BufWriter::new(file), CompressionType::Fast, FilterType::Sub)
            .write_image(&self.buffer, frame.width, frame.height, ExtendedColorType::Rgba8)
            .map_err(|e| OutputError::Io {
                what: format!("encoding {}", path.display()),
                source: std::io::Error::other(e.to_string()),
            })?;
        self.next += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        self.finished = true;
        Ok(())
    }
}
