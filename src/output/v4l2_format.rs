//! The V4L2 side of a virtual camera that needs no device: the `struct v4l2_format` wire layout, the ioctl
//! numbers, and format negotiation. Kept apart from the Linux device code so all of it is tested everywhere.
//!
//! Negotiation: the writer asks the device (with `VIDIOC_S_FMT` on the *output* queue) for our size in YUYV,
//! then NV12. A driver answers with the format it actually set: v4l2loopback may keep the format another
//! producer set, round sizes, or refuse while a reader holds the device. We take the first answer that is one of
//! our pixel formats at exactly our size; otherwise the error says what the device has and what to do.

use super::OutputError;
use super::convert::{Matrix, nv12_len, yuyv_len};

/// `sizeof(struct v4l2_format)` on 64-bit Linux: a `u32` type, padding to 8, then a 200-byte union.
pub const FORMAT_SIZE: usize = 208;
const PIX_OFFSET: usize = 8;

/// `V4L2_BUF_TYPE_VIDEO_OUTPUT`: the queue a producer writes to.
pub const BUF_TYPE_VIDEO_OUTPUT: u32 = 2;
pub const FIELD_NONE: u32 = 1;
pub const COLORSPACE_SMPTE170M: u32 = 1;
pub const COLORSPACE_REC709: u32 = 3;
pub const YCBCR_ENC_601: u32 = 1;
pub const YCBCR_ENC_709: u32 = 2;
pub const QUANTIZATION_LIM_RANGE: u32 = 2;
pub const CAP_VIDEO_OUTPUT: u32 = 0x0000_0002;
pub const CAP_DEVICE_CAPS: u32 = 0x8000_0000;
/// `sizeof(struct v4l2_capability)`.
pub const CAPABILITY_SIZE: usize = 104;

/// Linux `_IOC(dir, type, nr, size)` for the generic ioctl layout (x86, ARM, RISC-V).
const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32
}
const IOC_READ: u32 = 2;
const IOC_WRITE: u32 = 1;
pub const VIDIOC_QUERYCAP: u32 = ioc(IOC_READ, b'V', 0, CAPABILITY_SIZE);
pub const VIDIOC_G_FMT: u32 = ioc(IOC_READ | IOC_WRITE, b'V', 4, FORMAT_SIZE);
pub const VIDIOC_S_FMT: u32 = ioc(IOC_READ | IOC_WRITE, b'V', 5, FORMAT_SIZE);

const fn fourcc(code: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*code)
}

/// The pixel formats we can write to a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraFormat {
    /// Packed 4:2:2, what most webcams send and every reader takes.
    Yuyv,
    /// 4:2:0, half the chroma; what browsers and hardware encoders like.
    Nv12,
}

impl CameraFormat {
    pub const PREFERENCE: [CameraFormat; 2] = [CameraFormat::Yuyv, CameraFormat::Nv12];

    pub fn fourcc(self) -> u32 {
        match self {
            CameraFormat::Yuyv => fourcc(b"YUYV"),
            CameraFormat::Nv12 => fourcc(b"NV12"),
        }
    }

    pub fn from_fourcc(code: u32) -> Option<CameraFormat> {
        Self::PREFERENCE.into_iter().find(|f| f.fourcc() == code)
    }

    pub fn bytes_per_line(self, width: u32) -> u32 {
        match self {
            CameraFormat::Yuyv => width * 2,
            CameraFormat::Nv12 => width,
        }
    }

    pub fn image_size(self, width: u32, height: u32) -> usize {
        match self {
            CameraFormat::Yuyv => yuyv_len(width, height),
            CameraFormat::Nv12 => nv12_len(width, height),
        }
    }
}

/// A four-character code as text, for messages ("YUYV", or hex when unprintable).
pub fn fourcc_text(code: u32) -> String {
    let b = code.to_le_bytes();
    if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        String::from_utf8_lossy(&b).trim_end().to_string()
    } else {
        format!("{code:#010x}")
    }
}

/// The fields of `struct v4l2_pix_format` we read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PixFormat {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub ycbcr_enc: u32,
    pub quantization: u32,
}

impl PixFormat {
    /// The format we ask for: `format` at our size, progressive, with the colour encoding we convert with.
    pub fn request(format: CameraFormat, width: u32, height: u32, matrix: Matrix) -> PixFormat {
        let (colorspace, ycbcr_enc) = match matrix {
            Matrix::Bt601 => (COLORSPACE_SMPTE170M, YCBCR_ENC_601),
            Matrix::Bt709 => (COLORSPACE_REC709, YCBCR_ENC_709),
        };
        PixFormat {
            width,
            height,
            pixelformat: format.fourcc(),
            field: FIELD_NONE,
            bytesperline: format.bytes_per_line(width),
            sizeimage: format.image_size(width, height) as u32,
            colorspace,
            ycbcr_enc,
            quantization: QUANTIZATION_LIM_RANGE,
        }
    }

    /// `struct v4l2_format` for the video output queue, as the kernel reads it.
    pub fn encode(&self) -> [u8; FORMAT_SIZE] {
        let mut b = [0u8; FORMAT_SIZE];
        b[0..4].copy_from_slice(&BUF_TYPE_VIDEO_OUTPUT.to_ne_bytes());
        let fields = [
            self.width,
            self.height,
            self.pixelformat,
            self.field,
            self.bytesperline,
            self.sizeimage,
            self.colorspace,
            0, // priv
            0, // flags
            self.ycbcr_enc,
            self.quantization,
            0, // xfer_func: default for the colour space
        ];
        for (i, v) in fields.iter().enumerate() {
            b[PIX_OFFSET + i * 4..PIX_OFFSET + i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }

    /// Reads the pixel format back out of a `struct v4l2_format` the kernel filled in.
    pub fn decode(b: &[u8; FORMAT_SIZE]) -> PixFormat {
        let f = |i: usize| {
            let o = PIX_OFFSET + i * 4;
            u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
        };
        PixFormat {
            width: f(0),
            height: f(1),
            pixelformat: f(2),
            field: f(3),
            bytesperline: f(4),
            sizeimage: f(5),
            colorspace: f(6),
            ycbcr_enc: f(9),
            quantization: f(10),
        }
    }

    pub fn describe(&self) -> String {
        format!("{}×{} {}", self.width, self.height, fourcc_text(self.pixelformat))
    }
}

/// What negotiation needs from a device: set a format (the driver answers with what it set) and read the current
/// one. The Linux writer implements it with `VIDIOC_S_FMT` / `VIDIOC_G_FMT`.
pub trait FormatDevice {
    fn set_format(&mut self, want: &PixFormat) -> std::io::Result<PixFormat>;
    fn get_format(&mut self) -> std::io::Result<PixFormat>;
}

/// The format a camera writer settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub format: CameraFormat,
    pub matrix: Matrix,
    /// Bytes of one frame as the device wants it (at least our packed size; drivers may pad lines).
    pub bytes_per_line: u32,
}

/// The matrix for a picture size: BT.709 for HD (either side ≥ 720), BT.601 below, as cameras do.
pub fn matrix_for(width: u32, height: u32) -> Matrix {
    if width.max(height) >= 720 { Matrix::Bt709 } else { Matrix::Bt601 }
}

/// Agrees on a pixel format with `dev` for `width × height` frames (see the module doc).
pub fn negotiate(dev: &mut dyn FormatDevice, device: &str, width: u32, height: u32) -> Result<Negotiated, OutputError> {
    if width % 2 != 0 || height % 2 != 0 {
        return Err(OutputError::BadSpec(format!(
            "{device}: camera frames need an even width and height (YUYV and NV12 share chroma between pixel \
             pairs), got {width}×{height}; set output.width/height to even numbers"
        )));
    }
    let matrix = matrix_for(width, height);
    let mut answers = Vec::new();
    for format in CameraFormat::PREFERENCE {
        let want = PixFormat::request(format, width, height, matrix);
        match dev.set_format(&want) {
            Ok(got) => {
                let packed = format.bytes_per_line(width);
                let same_lines = got.bytesperline == 0 || got.bytesperline == packed;
                if got.pixelformat == want.pixelformat && got.width == width && got.height == height && same_lines {
                    return Ok(Negotiated { format, matrix, bytes_per_line: packed });
                }
                answers.push(format!("asked for {}, it set {}", want.describe(), got.describe()));
            }
            Err(e) => answers.push(format!("asked for {}: {e}", want.describe())),
        }
    }
    let current = match dev.get_format() {
        Ok(f) => format!("it is set to {}", f.describe()),
        Err(e) => format!("its format cannot be read ({e})"),
    };
    Err(OutputError::Device(format!(
        "{device} will not take {width}×{height} YUYV or NV12 frames ({}; {current}). If another program writes to \
         this camera or a reader holds it with another format, close them; or reload the module: \
         `sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback video_nr=10 exclusive_caps=1`",
        answers.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_and_layout_match_the_kernel_headers() {
        // Values printed by a C program including <linux/videodev2.h> on x86_64.
        assert_eq!(VIDIOC_QUERYCAP, 0x8068_5600);
        assert_eq!(VIDIOC_G_FMT, 0xc0d0_5604);
        assert_eq!(VIDIOC_S_FMT, 0xc0d0_5605);
        assert_eq!(CameraFormat::Yuyv.fourcc(), 0x5659_5559);
        assert_eq!(CameraFormat::Nv12.fourcc(), 0x3231_564e);
        let f = PixFormat::request(CameraFormat::Nv12, 1080, 1920, Matrix::Bt709);
        let b = f.encode();
        assert_eq!(&b[0..4], &2u32.to_ne_bytes());
        assert_eq!(&b[8..12], &1080u32.to_ne_bytes());
        assert_eq!(&b[16..20], b"NV12");
        assert_eq!(f.sizeimage as usize, 1080 * 1920 * 3 / 2);
        assert_eq!(PixFormat::decode(&b), f);
    }

    /// A model of the driver's answers, as v4l2loopback gives them: it may hold a format fixed by another
    /// producer (answering S_FMT with that one), or be busy.
    struct Driver {
        fixed: Option<PixFormat>,
        busy: bool,
        asked: Vec<u32>,
    }

    impl FormatDevice for Driver {
        fn set_format(&mut self, want: &PixFormat) -> std::io::Result<PixFormat> {
            self.asked.push(want.pixelformat);
            if self.busy {
                return Err(std::io::Error::from_raw_os_error(16)); // EBUSY
            }
            Ok(self.fixed.unwrap_or(*want))
        }
        fn get_format(&mut self) -> std::io::Result<PixFormat> {
            Ok(self.fixed.unwrap_or_default())
        }
    }

    #[test]
    fn free_device_takes_yuyv() {
        let mut d = Driver { fixed: None, busy: false, asked: vec![] };
        let n = negotiate(&mut d, "/dev/video10", 1080, 1920).unwrap();
        assert_eq!(n, Negotiated { format: CameraFormat::Yuyv, matrix: Matrix::Bt709, bytes_per_line: 2160 });
        assert_eq!(d.asked, [CameraFormat::Yuyv.fourcc()]);
        assert_eq!(negotiate(&mut d, "x", 640, 480).unwrap().matrix, Matrix::Bt601);
    }

    #[test]
    fn device_fixed_to_nv12_gets_nv12() {
        let nv12 = PixFormat::request(CameraFormat::Nv12, 640, 480, Matrix::Bt601);
        let mut d = Driver { fixed: Some(nv12), busy: false, asked: vec![] };
        let n = negotiate(&mut d, "/dev/video10", 640, 480).unwrap();
        assert_eq!(n.format, CameraFormat::Nv12);
        assert_eq!(d.asked, [CameraFormat::Yuyv.fourcc(), CameraFormat::Nv12.fourcc()]);
    }

    #[test]
    fn wrong_size_or_format_or_busy_is_a_clear_error() {
        let other = PixFormat { width: 1280, height: 720, pixelformat: fourcc(b"MJPG"), ..Default::default() };
        let mut d = Driver { fixed: Some(other), busy: false, asked: vec![] };
        let e = negotiate(&mut d, "/dev/video10", 640, 480).unwrap_err().to_string();
        assert!(e.contains("it is set to 1280×720 MJPG") && e.contains("modprobe"), "{e}");
        let mut d = Driver { fixed: None, busy: true, asked: vec![] };
        let e = negotiate(&mut d, "/dev/video10", 640, 480).unwrap_err().to_string();
        assert!(e.contains("busy"), "{e}");
        let e = negotiate(&mut d, "/dev/video10", 641, 480).unwrap_err().to_string();
        assert!(e.contains("even width"), "{e}");
    }
}
