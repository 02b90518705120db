//! WAV files in and out: any rate, mono or multi-channel, 8/16/24/32-bit integer or 32-bit float.

use std::path::{Path, PathBuf};

/// Audio in memory: interleaved f32 samples in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: u16,
}

impl Audio {
    pub fn mono(samples: Vec<f32>, sample_rate: u32) -> Audio {
        Audio { samples, sample_rate, channels: 1 }
    }

    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1) as usize
    }

    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / self.sample_rate as f64
    }

    /// The channels averaged into one.
    pub fn to_mono(&self) -> Vec<f32> {
        let ch = self.channels.max(1) as usize;
        if ch == 1 {
            return self.samples.clone();
        }
        self.samples.chunks_exact(ch).map(|f| f.iter().sum::<f32>() / ch as f32).collect()
    }

    /// Mono at `rate`, converted with the project's resampler.
    pub fn to_mono_at(&self, rate: u32) -> Vec<f32> {
        super::resample(&self.to_mono(), self.sample_rate, rate)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("{path}: cannot be read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{path}: not a usable WAV file ({reason}); give a RIFF/WAVE file with 8/16/24/32-bit PCM or 32-bit float samples"
    )]
    Format { path: PathBuf, reason: String },
    #[error("{path}: the WAV file holds no audio")]
    Empty { path: PathBuf },
}

/// Reads a whole WAV file.
pub fn read_wav(path: &Path) -> Result<Audio, WavError> {
    let format = |reason: String| WavError::Format { path: path.to_owned(), reason };
    let file = std::fs::File::open(path).map_err(|source| WavError::Io { path: path.to_owned(), source })?;
    let reader = hound::WavReader::new(std::io::BufReader::new(file)).map_err(|e| format(e.to_string()))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(format(format!("{} channels at {} Hz", spec.channels, spec.sample_rate)));
    }
    let samples: Result<Vec<f32>, hound::Error> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => reader.into_samples::<f32>().collect(),
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect()
        }
        (f, b) => return Err(format(format!("unsupported sample format {f:?} with {b} bits"))),
    };
    let samples = samples.map_err(|e| format(e.to_string()))?;
    if samples.is_empty() {
        return Err(WavError::Empty { path: path.to_owned() });
    }
    Ok(Audio { samples, sample_rate: spec.sample_rate, channels: spec.channels })
}

/// Writes 16-bit PCM (what every player and tool reads), clipping to [-1, 1].
pub fn write_wav(path: &Path, audio: &Audio) -> Result<(), WavError> {
    let io = |e: hound::Error| WavError::Io { path: path.to_owned(), source: std::io::Error::other(e.to_string()) };
    let spec = hound::WavSpec {
        channels: audio.channels,
        sample_rate: audio.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(io)?;
    for &s in &audio.samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).map_err(io)?;
    }
    w.finalize().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_formats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        let a = Audio { samples: vec![0.0, 0.5, -0.5, 0.25], sample_rate: 8000, channels: 2 };
        write_wav(&p, &a).unwrap();
        let b = read_wav(&p).unwrap();
        assert_eq!((b.sample_rate, b.channels, b.frames()), (8000, 2, 2));
        assert!((b.samples[1] - 0.5).abs() < 1e-4);
        assert_eq!(b.to_mono().len(), 2);

        let f = dir.path().join("f.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 44100,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(&f, spec).unwrap();
        w.write_sample(0.75f32).unwrap();
        w.finalize().unwrap();
        assert_eq!(read_wav(&f).unwrap().samples, vec![0.75]);
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.wav");
        std::fs::write(&p, b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
        assert!(matches!(read_wav(&p), Err(WavError::Format { .. })));
        std::fs::write(&p, b"").unwrap();
        assert!(read_wav(&p).is_err());
        assert!(matches!(read_wav(&dir.path().join("none.wav")), Err(WavError::Io { .. })));
        let e = dir.path().join("empty.wav");
        write_wav(&e, &Audio::mono(vec![], 16000)).unwrap();
        assert!(matches!(read_wav(&e), Err(WavError::Empty { .. })));
    }
}
