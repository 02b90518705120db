//! Life on top of the driven parameters: blinking (REFERENCE timings: every 1.5–6 s, close 60 ms, closed 50 ms,
//! open 100 ms), breathing, a slow idle sway of head and body, eye saccades, and expressions as parameter presets
//! that fade in, hold, and fade out. Everything is a pure function of time and a seeded random stream, so a
//! test can step it deterministically.

/// A small deterministic random stream (xorshift64*); motion needs variety, not cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    /// Uniform in [0, 1).
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545F4914F6CDD1D) >> 40) as f32) / (1u64 << 24) as f32
    }
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
}

/// Blink phases in seconds.
pub const BLINK_CLOSE_S: f32 = 0.060;
pub const BLINK_HOLD_S: f32 = 0.050;
pub const BLINK_OPEN_S: f32 = 0.100;

#[derive(Debug, Clone)]
pub struct Blink {
    until_next: f32,
    /// Time since the current blink started, when blinking.
    phase: Option<f32>,
}

impl Blink {
    fn new(rng: &mut Rng) -> Blink {
        Blink { until_next: rng.range(1.5, 6.0), phase: None }
    }
    /// Starts a blink now.
    pub fn trigger(&mut self) {
        self.phase = Some(0.0);
    }
    /// Eye openness factor 0 (closed) to 1 (open).
    fn step(&mut self, dt: f32, rng: &mut Rng) -> f32 {
        match &mut self.phase {
            None => {
                self.until_next -= dt;
                if self.until_next <= 0.0 {
                    self.phase = Some(0.0);
                    // A quick double blink now and then.
                    self.until_next = if rng.next() < 0.15 { 0.25 } else { rng.range(1.5, 6.0) };
                }
                1.0
            }
            Some(t) => {
                *t += dt;
                let t = *t;
                if t < BLINK_CLOSE_S {
                    1.0 - t / BLINK_CLOSE_S
                } else if t < BLINK_CLOSE_S + BLINK_HOLD_S {
                    0.0
                } else if t < BLINK_CLOSE_S + BLINK_HOLD_S + BLINK_OPEN_S {
                    (t - BLINK_CLOSE_S - BLINK_HOLD_S) / BLINK_OPEN_S
                } else {
                    self.phase = None;
                    1.0
                }
            }
        }
    }
}

/// An expression: our parameter names and the values they take at full strength.
pub fn expression_preset(name: &str) -> Option<&'static [(&'static str, f32)]> {
    Some(match name {
        "neutral" => &[],
        "happy" => &[
            ("MouthForm", 1.0),
            ("EyeSmileLeft", 0.6),
            ("EyeSmileRight", 0.6),
            ("BrowLeftY", 0.3),
            ("BrowRightY", 0.3),
        ],
        "excited" => &[
            ("MouthForm", 1.0),
            ("MouthOpenY", 0.35),
            ("BrowLeftY", 0.8),
            ("BrowRightY", 0.8),
            ("EyeOpenLeft", 1.15),
            ("EyeOpenRight", 1.15),
        ],
        "confident" => {
            &[("MouthForm", 0.6), ("BrowAngle", 0.3), ("AngleY", -0.3), ("EyeOpenLeft", 0.85), ("EyeOpenRight", 0.85)]
        }
        "smug" => &[
            ("MouthForm", 0.7),
            ("MouthX", 0.5),
            ("EyeOpenLeft", 0.65),
            ("EyeOpenRight", 0.65),
            ("BrowLeftY", 0.4),
            ("AngleZ", 0.3),
        ],
        "determined" => &[
            ("BrowAngle", 0.8),
            ("BrowLeftY", -0.3),
            ("BrowRightY", -0.3),
            ("MouthForm", 0.1),
            ("MouthPressLipOpen", 0.6),
        ],
        "embarrassed" => &[
            ("Blush", 1.0),
            ("MouthForm", 0.3),
            ("EyeBallY", -0.5),
            ("BrowLeftY", -0.2),
            ("BrowRightY", -0.2),
            ("AngleY", 0.3),
        ],
        "surprised" => &[
            ("EyeOpenLeft", 1.25),
            ("EyeOpenRight", 1.25),
            ("BrowLeftY", 1.0),
            ("BrowRightY", 1.0),
            ("MouthOpenY", 0.5),
            ("MouthFunnel", 0.6),
        ],
        "thinking" => &[
            ("EyeBallX", 0.6),
            ("EyeBallY", 0.7),
            ("BrowLeftY", 0.5),
            ("BrowAngle", -0.3),
            ("AngleZ", -0.4),
            ("MouthForm", -0.2),
        ],
        "curious" => &[
            ("AngleZ", 0.5),
            ("BrowLeftY", 0.6),
            ("BrowRightY", 0.2),
            ("EyeOpenLeft", 1.1),
            ("EyeOpenRight", 1.1),
            ("MouthForm", 0.2),
        ],
        "frustrated" => {
            &[("BrowAngle", 1.0), ("BrowLeftY", -0.6), ("BrowRightY", -0.6), ("MouthForm", -0.7), ("Blush", 0.3)]
        }
        "sad" => &[
            ("BrowAngle", -1.0),
            ("BrowLeftY", -0.2),
            ("BrowRightY", -0.2),
            ("MouthForm", -1.0),
            ("EyeOpenLeft", 0.75),
            ("EyeOpenRight", 0.75),
            ("AngleY", 0.4),
        ],
        "awkward" => &[("MouthForm", 0.2), ("MouthX", -0.4), ("BrowAngle", -0.5), ("EyeBallX", -0.5), ("Blush", 0.4)],
        "annoyed" => &[
            ("EyeOpenLeft", 0.55),
            ("EyeOpenRight", 0.55),
            ("BrowAngle", 0.6),
            ("MouthForm", -0.5),
            ("EyeBallX", 0.4),
            ("AngleZ", -0.3),
        ],
        "affectionate" => &[
            ("MouthForm", 0.9),
            ("EyeSmileLeft", 0.8),
            ("EyeSmileRight", 0.8),
            ("Blush", 0.8),
            ("AngleZ", 0.4),
            ("BrowAngle", -0.3),
        ],
        "laughing" => &[
            ("MouthForm", 1.0),
            ("MouthOpenY", 0.7),
            ("EyeSmileLeft", 1.0),
            ("EyeSmileRight", 1.0),
            ("EyeOpenLeft", 0.35),
            ("EyeOpenRight", 0.35),
            ("BrowLeftY", 0.5),
            ("BrowRightY", 0.5),
        ],
        _ => return None,
    })
}

/// Every expression name with a preset.
pub const EXPRESSIONS: &[&str] = &[
    "happy",
    "excited",
    "confident",
    "smug",
    "determined",
    "embarrassed",
    "surprised",
    "thinking",
    "curious",
    "frustrated",
    "sad",
    "awkward",
    "annoyed",
    "affectionate",
    "laughing",
];

const FADE_IN_S: f32 = 0.25;
const FADE_OUT_S: f32 = 0.6;

#[derive(Debug, Clone)]
struct ActiveExpression {
    preset: &'static [(&'static str, f32)],
    age: f32,
    hold: f32,
    weight: f32,
}

/// Which motions run.
#[derive(Debug, Clone, Copy)]
pub struct MotionSwitches {
    pub blink: bool,
    pub breathing: bool,
    pub idle: bool,
}

/// The motion layer. `apply` turns the driven values into the final values for this frame.
#[derive(Debug, Clone)]
pub struct Motion {
    pub switches: MotionSwitches,
    rng: Rng,
    time: f32,
    blink: Blink,
    blink_factor: f32,
    saccade: [f32; 2],
    saccade_target: [f32; 2],
    until_saccade: f32,
    expressions: Vec<ActiveExpression>,
    phase: [f32; 3],
}

impl Motion {
    pub fn new(switches: MotionSwitches, seed: u64) -> Motion {
        let mut rng = Rng::new(seed);
        let blink = Blink::new(&mut rng);
        let phase = [rng.range(0.0, 6.0), rng.range(0.0, 6.0), rng.range(0.0, 6.0)];
        Motion {
            switches,
            rng,
            time: 0.0,
            blink,
            blink_factor: 1.0,
            saccade: [0.0; 2],
            saccade_target: [0.0; 2],
            until_saccade: 1.0,
            expressions: Vec::new(),
            phase,
        }
    }

    pub fn blink_now(&mut self) {
        self.blink.trigger();
    }

    /// Shows an expression by name for `hold_s` seconds (then it fades out); unknown names are reported.
    pub fn show(&mut self, name: &str, hold_s: f32) -> bool {
        let Some(preset) = expression_preset(name) else { return false };
        for e in &mut self.expressions {
            e.hold = e.hold.min(e.age); // the previous one starts fading now
        }
        self.expressions.push(ActiveExpression { preset, age: 0.0, hold: hold_s.max(0.0), weight: 0.0 });
        true
    }

    /// Advances time.
    pub fn step(&mut self, dt: f32) {
        let dt = dt.clamp(0.0, 0.5);
        self.time += dt;
        self.blink_factor = if self.switches.blink { self.blink.step(dt, &mut self.rng) } else { 1.0 };
        if self.switches.idle {
            self.until_saccade -= dt;
            if self.until_saccade <= 0.0 {
                self.until_saccade = self.rng.range(0.6, 3.0);
                self.saccade_target = if self.rng.next() < 0.4 {
                    [0.0, 0.0]
                } else {
                    [self.rng.range(-0.5, 0.5), self.rng.range(-0.3, 0.3)]
                };
            }
            // Saccades are fast: most of the way in ~50 ms.
            let k = 1.0 - (-dt * 40.0).exp();
            for i in 0..2 {
                self.saccade[i] += (self.saccade_target[i] - self.saccade[i]) * k;
            }
        } else {
            self.saccade = [0.0; 2];
        }
        for e in &mut self.expressions {
            e.age += dt;
            e.weight = if e.age < e.hold {
                (e.age / FADE_IN_S).min(1.0)
            } else {
                let start = (e.hold / FADE_IN_S).min(1.0);
                (start - (e.age - e.hold) / FADE_OUT_S).max(0.0)
            };
        }
        self.expressions.retain(|e| e.age < e.hold || e.weight > 0.0);
    }

    /// The current blink openness (1 open, 0 closed).
    pub fn blink_factor(&self) -> f32 {
        self.blink_factor
    }

    /// Writes this frame's values through `set(name, value)`, given `driven(name)`: what the app drives
    /// (lip sync, sliders), or `None` when nothing drives that name.
    pub fn apply(&self, driven: &dyn Fn(&str) -> Option<f32>, set: &mut dyn FnMut(&str, f32)) {
        let t = self.time;
        let mut values: Vec<(&str, f32)> = Vec::with_capacity(24);
        let base = |name: &str, default: f32| driven(name).unwrap_or(default);
        // Expressions blend from the neutral value towards their preset.
        let expr = |name: &'static str, neutral: f32| -> f32 {
            let mut v = base(name, neutral);
            for e in &self.expressions {
                if let Some(&(_, target)) = e.preset.iter().find(|(n, _)| *n == name) {
                    let target = if driven(name).is_some() && name.starts_with("Mouth") {
                        // Lip sync keeps the mouth; the expression only adds its shape.
                        v + target * 0.5
                    } else {
                        target
                    };
                    v += (target - v) * e.weight;
                }
            }
            v
        };
        for name in [
            "MouthForm",
            "MouthX",
            "MouthFunnel",
            "MouthPressLipOpen",
            "BrowLeftY",
            "BrowRightY",
            "BrowAngle",
            "Blush",
            "EyeSmileLeft",
            "EyeSmileRight",
        ] {
            values.push((name, expr(name, 0.0)));
        }
        let mouth = expr("MouthOpenY", 0.0);
        values.push(("MouthOpenY", mouth));
        for name in ["EyeOpenLeft", "EyeOpenRight"] {
            values.push((name, expr(name, 1.0) * self.blink_factor));
        }
        let (sx, sy) = if self.switches.idle {
            let p = &self.phase;
            (
                (t * 0.31 + p[0]).sin() * 0.6 + (t * 0.13 + p[1]).sin() * 0.4,
                (t * 0.23 + p[1]).sin() * 0.5 + (t * 0.07 + p[2]).sin() * 0.3,
            )
        } else {
            (0.0, 0.0)
        };
        let breath = if self.switches.breathing { 0.5 - 0.5 * (t * std::f32::consts::TAU / 3.6).cos() } else { 0.0 };
        values.push(("AngleX", expr("AngleX", 0.0) + sx * 0.25));
        values.push(("AngleY", expr("AngleY", 0.0) + sy * 0.2 - breath * 0.05));
        values.push(("AngleZ", expr("AngleZ", 0.0) + sx * 0.12));
        values.push(("BodyAngleX", base("BodyAngleX", 0.0) + sx * 0.2));
        values.push(("BodyAngleZ", base("BodyAngleZ", 0.0) + sy * 0.1));
        values.push(("Breath", base("Breath", 0.0) + breath));
        values.push(("EyeBallX", expr("EyeBallX", 0.0) + self.saccade[0]));
        values.push(("EyeBallY", expr("EyeBallY", 0.0) + self.saccade[1]));
        for (n, v) in values {
            set(n, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blink_follows_the_reference_timings() {
        let mut m = Motion::new(MotionSwitches { blink: true, breathing: false, idle: false }, 7);
        m.blink_now();
        let mut seen = Vec::new();
        for _ in 0..30 {
            m.step(0.01);
            seen.push(m.blink_factor());
        }
        assert!(seen[..5].iter().all(|&f| f < 1.0 && f > 0.0), "{seen:?}");
        assert_eq!(seen[7], 0.0);
        assert_eq!(seen[29], 1.0);
    }

    #[test]
    fn expressions_fade_in_and_out() {
        let mut m = Motion::new(MotionSwitches { blink: false, breathing: false, idle: false }, 1);
        assert!(m.show("happy", 1.0));
        assert!(!m.show("no-such-feeling", 1.0));
        let form = |m: &Motion| {
            let mut out = 0.0;
            m.apply(&|_| None, &mut |n, v| {
                if n == "MouthForm" {
                    out = v
                }
            });
            out
        };
        m.step(0.5);
        assert!((form(&m) - 1.0).abs() < 1e-4);
        for _ in 0..20 {
            m.step(0.1);
        }
        assert!(form(&m).abs() < 1e-4);
        for e in EXPRESSIONS {
            assert!(expression_preset(e).is_some(), "{e}");
        }
    }
}
