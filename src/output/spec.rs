//! `--output KIND:TARGET`: which output, and where it goes.
//!
//! | spec | meaning |
//! |---|---|
//! | `window` or `window:#00ff00` | a window, the avatar over a chroma colour (default: `output.window_background`) |
//! | `overlay` | a transparent, borderless, always-on-top window you can drag |
//! | `y4m:-`, `y4m:out.y4m` | YUV4MPEG2 video (yuva444p, alpha kept) to stdout or a file |
//! | `rgba:-`, `rgba:out.rgba` | raw straight-alpha RGBA frames to stdout or a file |
//! | `png:DIR` | one PNG per frame in DIR (made if missing) |
//! | `v4l2:/dev/video10` | a v4l2loopback virtual camera (Linux) |
//! | `spout` or `spout:NAME` | a Spout2 sender (Windows) |

use std::fmt;
use std::str::FromStr;

use super::OutputError;

/// The kinds of output, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Window,
    Overlay,
    Y4m,
    Rgba,
    Png,
    V4l2,
    Spout,
}

impl OutputKind {
    pub const ALL: [OutputKind; 7] = [
        OutputKind::Window,
        OutputKind::Overlay,
        OutputKind::Y4m,
        OutputKind::Rgba,
        OutputKind::Png,
        OutputKind::V4l2,
        OutputKind::Spout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OutputKind::Window => "window",
            OutputKind::Overlay => "overlay",
            OutputKind::Y4m => "y4m",
            OutputKind::Rgba => "rgba",
            OutputKind::Png => "png",
            OutputKind::V4l2 => "v4l2",
            OutputKind::Spout => "spout",
        }
    }

    /// An example of a complete spec, for error messages.
    fn example(self) -> &'static str {
        match self {
            OutputKind::Window => "window or window:#00ff00",
            OutputKind::Overlay => "overlay",
            OutputKind::Y4m => "y4m:- or y4m:out.y4m",
            OutputKind::Rgba => "rgba:- or rgba:out.rgba",
            OutputKind::Png => "png:frames",
            OutputKind::V4l2 => "v4l2:/dev/video10",
            OutputKind::Spout => "spout or spout:Persona",
        }
    }

    fn needs_target(self) -> bool {
        matches!(self, OutputKind::Y4m | OutputKind::Rgba | OutputKind::Png | OutputKind::V4l2)
    }
}

/// One `--output` flag: a kind and its target (empty when the kind takes none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    pub kind: OutputKind,
    pub target: String,
}

impl OutputSpec {
    pub fn new(kind: OutputKind, target: impl Into<String>) -> OutputSpec {
        OutputSpec { kind, target: target.into() }
    }

    /// The target, or `default` when none was given.
    pub fn target_or<'a>(&'a self, default: &'a str) -> &'a str {
        if self.target.is_empty() { default } else { &self.target }
    }

    /// The target read as a colour (`window:#rrggbb`), if one was given.
    pub fn colour(&self) -> Result<Option<[u8; 4]>, OutputError> {
        if self.target.is_empty() {
            return Ok(None);
        }
        crate::config::parse_colour(&self.target).map(Some).ok_or_else(|| {
            OutputError::BadSpec(format!(
                "`{self}`: the window's background must be a colour like #00ff00, not \"{}\"",
                self.target
            ))
        })
    }
}

impl fmt::Display for OutputSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.target.is_empty() {
            write!(f, "{}", self.kind.name())
        } else {
            write!(f, "{}:{}", self.kind.name(), self.target)
        }
    }
}

impl FromStr for OutputSpec {
    type Err = OutputError;

    fn from_str(s: &str) -> Result<OutputSpec, OutputError> {
        let (kind_text, target) = match s.split_once(':') {
            Some((k, t)) => (k, t),
            None => (s, ""),
        };
        let kinds = || OutputKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
        let kind = OutputKind::ALL.into_iter().find(|k| k.name() == kind_text.trim()).ok_or_else(|| {
            OutputError::BadSpec(format!(
                "unknown output \"{kind_text}\" in `{s}`; outputs are KIND:TARGET with KIND one of {}",
                kinds()
            ))
        })?;
        if kind.needs_target() && target.is_empty() {
            return Err(OutputError::BadSpec(format!("`{s}` needs a target, e.g. {}", kind.example())));
        }
        if kind == OutputKind::Overlay && !target.is_empty() {
            return Err(OutputError::BadSpec(format!("`{s}`: the overlay takes no target; write `overlay`")));
        }
        let spec = OutputSpec::new(kind, target);
        spec.colour().map(|_| ()).or_else(|e| if kind == OutputKind::Window { Err(e) } else { Ok(()) })?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let p = |s: &str| s.parse::<OutputSpec>().unwrap();
        assert_eq!(p("y4m:-"), OutputSpec::new(OutputKind::Y4m, "-"));
        assert_eq!(p("y4m:out.y4m"), OutputSpec::new(OutputKind::Y4m, "out.y4m"));
        assert_eq!(p("v4l2:/dev/video10"), OutputSpec::new(OutputKind::V4l2, "/dev/video10"));
        assert_eq!(p("png:DIR"), OutputSpec::new(OutputKind::Png, "DIR"));
        assert_eq!(p("rgba:-"), OutputSpec::new(OutputKind::Rgba, "-"));
        assert_eq!(p("window"), OutputSpec::new(OutputKind::Window, ""));
        assert_eq!(p("window:#ff00ff").colour().unwrap(), Some([255, 0, 255, 255]));
        assert_eq!(p("overlay"), OutputSpec::new(OutputKind::Overlay, ""));
        assert_eq!(p("spout").target_or("Persona"), "Persona");
        assert_eq!(p("spout:Mira").target_or("Persona"), "Mira");
        // A Windows path keeps its drive colon: only the first colon splits.
        assert_eq!(p("y4m:C:\\v\\a.y4m").target, "C:\\v\\a.y4m");
        for s in ["y4m:-", "window", "png:x", "spout:Mira"] {
            assert_eq!(p(s).to_string(), s);
        }
    }

    #[test]
    fn bad_specs_say_what_is_allowed() {
        let e = |s: &str| s.parse::<OutputSpec>().unwrap_err().to_string();
        assert!(e("mp4:x").contains("window, overlay, y4m, rgba, png, v4l2, spout"), "{}", e("mp4:x"));
        assert!(e("y4m").contains("y4m:-"), "{}", e("y4m"));
        assert!(e("v4l2:").contains("/dev/video10"));
        assert!(e("window:green").contains("#00ff00"));
        assert!(e("overlay:x").contains("no target"));
    }
}
