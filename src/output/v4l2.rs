//! A virtual camera on Linux: frames written to a v4l2loopback device (`/dev/videoN`), which OBS ("Video Capture
//! Device (V4L2)"), browsers and meeting apps then see as a webcam.
//!
//! The device is opened read-write, checked to be a video *output* device (a real webcam cannot take frames),
//! the pixel format negotiated with `VIDIOC_S_FMT` (see [`super::v4l2_format`]), and then each frame is converted
//! (composited over the background colour, RGBA → YUYV or NV12) and handed over with one `write()`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;

use super::convert::{Matrix, rgba_to_nv12, rgba_to_yuyv};
use super::v4l2_format::{
    CAP_DEVICE_CAPS, CAP_VIDEO_OUTPUT, CAPABILITY_SIZE, CameraFormat, FormatDevice, Negotiated, PixFormat,
    VIDIOC_G_FMT, VIDIOC_QUERYCAP, VIDIOC_S_FMT, negotiate,
};
use super::{Frame, FrameSink, OutputError, VideoFormat, check_size};

/// An open `/dev/videoN`.
struct Device {
    file: File,
}

impl Device {
    fn ioctl(&self, request: u32, arg: &mut [u8]) -> std::io::Result<()> {
        // SAFETY: every request used here reads/writes a struct of exactly `arg.len()` bytes (the size is encoded
        // in the request number and checked against the kernel headers in tests).
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), request as _, arg.as_mut_ptr()) };
        if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
    }

    /// (driver name, card name, device capabilities).
    fn query(&self) -> std::io::Result<(String, String, u32)> {
        let mut cap = [0u8; CAPABILITY_SIZE];
        self.ioctl(VIDIOC_QUERYCAP, &mut cap)?;
        let text = |b: &[u8]| String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(b)).into_owned();
        let u32_at = |o: usize| u32::from_ne_bytes([cap[o], cap[o + 1], cap[o + 2], cap[o + 3]]);
        let (caps, device_caps) = (u32_at(84), u32_at(88));
        let effective = if caps & CAP_DEVICE_CAPS != 0 { device_caps } else { caps };
        Ok((text(&cap[0..16]), text(&cap[16..48]), effective))
    }
}

impl FormatDevice for Device {
    fn set_format(&mut self, want: &PixFormat) -> std::io::Result<PixFormat> {
        let mut b = want.encode();
        self.ioctl(VIDIOC_S_FMT, &mut b)?;
        Ok(PixFormat::decode(&b))
    }

    fn get_format(&mut self) -> std::io::Result<PixFormat> {
        let mut b = PixFormat::default().encode();
        self.ioctl(VIDIOC_G_FMT, &mut b)?;
        Ok(PixFormat::decode(&b))
    }
}

/// Frames to a v4l2loopback camera.
pub struct V4l2Sink {
    path: String,
    device: Option<Device>,
    format: VideoFormat,
    negotiated: Negotiated,
    background: [u8; 3],
    buffer: Vec<u8>,
}

impl V4l2Sink {
    /// Opens `path`, checks it takes frames, negotiates YUYV or NV12 at `format`'s size. Transparent parts of
    /// frames show `background` (cameras have no alpha).
    pub fn open(path: &str, format: VideoFormat, background: [u8; 4]) -> Result<V4l2Sink, OutputError> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "no such device: load v4l2loopback first (`sudo modprobe v4l2loopback video_nr=10 \
                     exclusive_caps=1 card_label=Persona`), see docs/outputs.md"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "permission denied: add yourself to the `video` group (`sudo usermod -aG video $USER`, then log \
                     in again)"
                }
                _ => "cannot open the camera device",
            };
            OutputError::io(format!("{path}: {hint}"), e)
        })?;
        let mut device = Device { file };
        let (driver, card, caps) = device.query().map_err(|e| {
            OutputError::Device(format!("{path} is not a V4L2 video device ({e}); give a v4l2loopback device"))
        })?;
        if caps & CAP_VIDEO_OUTPUT == 0 {
            return Err(OutputError::Device(format!(
                "{path} ({card}, driver {driver}) cannot take frames: it is a capture-only device such as a real \
                 webcam. Use a v4l2loopback device (`v4l2-ctl --list-devices` shows which)"
            )));
        }
        let negotiated = negotiate(&mut device, path, format.width, format.height)?;
        tracing::info!(
            "{path} ({card}): writing {}×{} {:?} {:?}",
            format.width,
            format.height,
            negotiated.format,
            negotiated.matrix
        );
        let size = negotiated.format.image_size(format.width, format.height);
        Ok(V4l2Sink {
            path: path.to_string(),
            device: Some(device),
            format,
            negotiated,
            background: [background[0], background[1], background[2]],
            buffer: vec![0; size],
        })
    }

    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }
}

/// Converts a frame into the buffer a camera in `format` takes (shared with the benchmark).
pub fn convert_for_camera(frame: &Frame, format: CameraFormat, matrix: Matrix, bg: [u8; 3], out: &mut [u8]) {
    match format {
        CameraFormat::Yuyv => rgba_to_yuyv(&frame.rgba, frame.width, frame.height, bg, matrix, out),
        CameraFormat::Nv12 => rgba_to_nv12(&frame.rgba, frame.width, frame.height, bg, matrix, out),
    }
}

impl FrameSink for V4l2Sink {
    fn name(&self) -> String {
        format!("v4l2:{}", self.path)
    }

    fn send(&mut self, frame: &Frame) -> Result<(), OutputError> {
        check_size(&self.name(), &self.format, frame)?;
        let device = self.device.as_mut().ok_or_else(|| OutputError::Closed(format!("v4l2:{}", self.path)))?;
        let n = self.negotiated;
        convert_for_camera(frame, n.format, n.matrix, self.background, &mut self.buffer);
        device.file.write_all(&self.buffer).map_err(|e| OutputError::io(format!("writing to {}", self.path), e))
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        self.device = None;
        Ok(())
    }
}
