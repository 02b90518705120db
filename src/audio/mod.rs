//! Audio: WAV files, sample-rate conversion, and (built on these) capture and playback.

pub mod capture;
pub mod playback;
pub mod resample;
pub mod wav;

pub use capture::{Capture, CaptureControls, CaptureError, CaptureEvent, Captured, Pace};
pub use resample::{Resampler, resample};
pub use wav::{Audio, WavError, read_wav, write_wav};
