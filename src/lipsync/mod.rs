//! Lip sync: from a phoneme timeline (or, without one, from loudness) to the nine VBridger-style mouth parameters.
//!
//! Each phoneme has a mouth pose; the mouth moves toward the pose of the phoneme sounding now at `attack_rate`
//! per second and back to rest at `release_rate` (exponential smoothing, so fast phonemes blend as real mouths
//! do). Sampling is stateless: the value at time `t` is found by running the smoothing over the half second before
//! `t`, so the avatar can ask for any time (a frame late, a seek, a replay) and always get the same answer.

use serde::Serialize;

use crate::config::{LipsyncSettings, LipsyncStyle};
use crate::tts::Timeline;
use crate::tts::timeline::frame_db;

/// The parameter names, in the order of [`MouthParams::values`]; the avatar maps them onto its puppet.
pub const PARAM_NAMES: [&str; 9] = [
    "MouthOpenY",
    "JawOpen",
    "MouthForm",
    "MouthShrug",
    "MouthFunnel",
    "MouthPuckerWiden",
    "MouthPressLipOpen",
    "MouthX",
    "CheekPuffC",
];

/// A mouth pose. Ranges: open/jaw/shrug/funnel/cheek 0..1; form (frown..smile), pucker_widen (pucker..widen),
/// press_lip_open (pressed..lips apart), x (left..right) −1..1. All zeros is the mouth at rest.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct MouthParams {
    pub mouth_open_y: f32,
    pub jaw_open: f32,
    pub mouth_form: f32,
    pub mouth_shrug: f32,
    pub mouth_funnel: f32,
    pub mouth_pucker_widen: f32,
    pub mouth_press_lip_open: f32,
    pub mouth_x: f32,
    pub cheek_puff_c: f32,
}

impl MouthParams {
    pub const REST: MouthParams = MouthParams {
        mouth_open_y: 0.0,
        jaw_open: 0.0,
        mouth_form: 0.0,
        mouth_shrug: 0.0,
        mouth_funnel: 0.0,
        mouth_pucker_widen: 0.0,
        mouth_press_lip_open: 0.0,
        mouth_x: 0.0,
        cheek_puff_c: 0.0,
    };

    /// Values in the order of [`PARAM_NAMES`].
    pub fn values(&self) -> [f32; 9] {
        [
            self.mouth_open_y,
            self.jaw_open,
            self.mouth_form,
            self.mouth_shrug,
            self.mouth_funnel,
            self.mouth_pucker_widen,
            self.mouth_press_lip_open,
            self.mouth_x,
            self.cheek_puff_c,
        ]
    }

    /// From values in `PARAM_NAMES` order.
    pub const fn from_values(v: [f32; 9]) -> MouthParams {
        MouthParams {
            mouth_open_y: v[0],
            jaw_open: v[1],
            mouth_form: v[2],
            mouth_shrug: v[3],
            mouth_funnel: v[4],
            mouth_pucker_widen: v[5],
            mouth_press_lip_open: v[6],
            mouth_x: v[7],
            cheek_puff_c: v[8],
        }
    }

    /// (name, value) pairs.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, f32)> {
        PARAM_NAMES.into_iter().zip(self.values())
    }

    /// The largest distance from rest over all parameters.
    pub fn distance_from_rest(&self) -> f32 {
        self.values().iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    fn scaled(self, k: f32) -> MouthParams {
        let mut v = self.values();
        for x in &mut v {
            *x *= k;
        }
        // The clamps keep every parameter in its range whatever the intensity.
        for (i, x) in v.iter_mut().enumerate() {
            *x = if matches!(i, 2 | 5 | 6 | 7) { x.clamp(-1.0, 1.0) } else { x.clamp(0.0, 1.0) };
        }
        MouthParams::from_values(v)
    }
}

/// open, jaw, form, shrug, funnel, pucker_widen, press_lip_open, x, cheek.
const fn pose(v: [f32; 9]) -> MouthParams {
    MouthParams::from_values(v)
}

/// The pose of one IPA sound (its first letter decides; length marks and diacritics do not change the shape).
pub fn pose_of(sound: char) -> MouthParams {
    match sound {
        // Lips together: pressed, cheeks a little puffed for the plosives.
        'p' | 'b' => pose([0.0, 0.05, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.35]),
        'm' => pose([0.0, 0.05, 0.0, 0.0, 0.0, 0.0, -0.9, 0.0, 0.1]),
        // Lower lip to the teeth.
        'f' | 'v' => pose([0.1, 0.1, 0.0, 0.3, 0.0, 0.1, -0.4, 0.0, 0.0]),
        'θ' | 'ð' => pose([0.2, 0.2, 0.0, 0.0, 0.0, 0.1, 0.4, 0.0, 0.0]),
        's' | 'z' => pose([0.1, 0.1, 0.1, 0.0, 0.0, 0.5, 0.6, 0.0, 0.0]),
        'ʃ' | 'ʒ' | 'ʧ' | 'ʤ' => pose([0.2, 0.15, 0.0, 0.0, 0.7, -0.3, 0.5, 0.0, 0.0]),
        't' | 'd' | 'n' | 'l' | 'ɾ' | 'ɫ' => pose([0.25, 0.25, 0.0, 0.0, 0.0, 0.1, 0.3, 0.0, 0.0]),
        'k' | 'ɡ' | 'g' | 'ŋ' | 'h' | 'x' | 'ʔ' => pose([0.35, 0.35, 0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0]),
        'ɹ' | 'r' | 'ɻ' => pose([0.2, 0.2, 0.0, 0.0, 0.4, -0.3, 0.2, 0.0, 0.0]),
        'w' => pose([0.15, 0.1, 0.0, 0.0, 0.6, -0.8, 0.0, 0.0, 0.0]),
        'j' => pose([0.2, 0.15, 0.2, 0.0, 0.0, 0.4, 0.3, 0.0, 0.0]),
        // Vowels: open ones open the jaw, front ones widen, back rounded ones pucker.
        'ɑ' | 'a' | 'ɒ' => pose([0.9, 1.0, 0.0, 0.0, 0.0, 0.1, 0.6, 0.0, 0.0]),
        'æ' => pose([0.75, 0.7, 0.1, 0.0, 0.0, 0.4, 0.6, 0.0, 0.0]),
        'ɛ' | 'e' => pose([0.55, 0.5, 0.2, 0.0, 0.0, 0.4, 0.5, 0.0, 0.0]),
        'ɪ' | 'i' | 'ᵻ' | 'y' => pose([0.3, 0.25, 0.3, 0.0, 0.0, 0.7, 0.5, 0.0, 0.0]),
        'ʌ' | 'ə' | 'ɐ' | 'ᵊ' => pose([0.5, 0.45, 0.0, 0.0, 0.0, 0.0, 0.4, 0.0, 0.0]),
        'ɜ' | 'ɚ' => pose([0.35, 0.3, 0.0, 0.0, 0.35, -0.2, 0.3, 0.0, 0.0]),
        'ɔ' | 'o' | 'œ' | 'ø' => pose([0.6, 0.55, 0.0, 0.0, 0.6, -0.4, 0.4, 0.0, 0.0]),
        'ʊ' | 'u' | 'ɯ' => pose([0.25, 0.2, 0.0, 0.0, 0.7, -0.8, 0.2, 0.0, 0.0]),
        c if c.is_alphabetic() => pose([0.35, 0.3, 0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0]),
        _ => MouthParams::REST,
    }
}

/// The target pose `frac` (0..1) of the way through `phoneme`: diphthongs and affricates glide from their first
/// sound's pose to their last.
pub fn target(phoneme: &str) -> impl Fn(f32) -> MouthParams {
    let letters: Vec<char> =
        phoneme.chars().filter(|c| c.is_alphabetic() && !matches!(c, 'ː' | 'ʰ' | 'ʲ' | 'ˈ' | 'ˌ')).collect();
    let a = letters.first().map_or(MouthParams::REST, |&c| pose_of(c));
    let b = letters.last().map_or(MouthParams::REST, |&c| pose_of(c));
    move |frac: f32| {
        if a == b {
            return a;
        }
        let k = ((frac - 0.3) / 0.6).clamp(0.0, 1.0);
        let (va, vb) = (a.values(), b.values());
        let mut v = [0.0; 9];
        for i in 0..9 {
            v[i] = va[i] + (vb[i] - va[i]) * k;
        }
        MouthParams::from_values(v)
    }
}

/// How long before `t` the smoothing starts from rest: long enough that the start no longer matters.
const HISTORY_S: f64 = 0.5;
const STEP_S: f64 = 1.0 / 400.0;

/// Mouth movement per loudness frame for audio without phonemes.
#[derive(Debug, Clone)]
pub struct LoudnessTrack {
    /// 0..1 per 10 ms frame.
    levels: Vec<f32>,
}

impl LoudnessTrack {
    /// Loudness relative to the piece's loudest frame: −40 dB below it is closed, its level is fully open.
    pub fn new(samples: &[f32], rate: u32) -> LoudnessTrack {
        let db = frame_db(samples, rate);
        let max = db.iter().copied().fold(-100.0f32, f32::max);
        let levels = db.iter().map(|&d| ((d - (max - 40.0)) / 35.0).clamp(0.0, 1.0)).collect();
        LoudnessTrack { levels }
    }

    pub fn level_at(&self, t: f64) -> f32 {
        if t < 0.0 {
            return 0.0;
        }
        self.levels.get((t / 0.01) as usize).copied().unwrap_or(0.0)
    }
}

/// Samples mouth parameters at any time, with the settings' smoothing and intensity.
#[derive(Debug, Clone)]
pub struct LipSync {
    attack: f64,
    release: f64,
    intensity: f32,
    pub style: LipsyncStyle,
}

impl LipSync {
    pub fn new(s: &LipsyncSettings) -> LipSync {
        LipSync {
            attack: s.attack_rate.max(0.1) as f64,
            release: s.release_rate.max(0.1) as f64,
            intensity: s.intensity.clamp(0.0, 2.0),
            style: s.style,
        }
    }

    /// Runs the smoothing from rest over the `HISTORY_S` before `t` toward `target_at(τ)`.
    fn smooth(&self, t: f64, target_at: impl Fn(f64) -> MouthParams) -> MouthParams {
        let mut v = [0.0f32; 9];
        let steps = (HISTORY_S / STEP_S) as usize;
        for i in 0..=steps {
            let tau = t - HISTORY_S + i as f64 * STEP_S;
            let goal = target_at(tau);
            let at_rest = goal == MouthParams::REST;
            let rate = if at_rest { self.release } else { self.attack };
            let k = (1.0 - (-rate * STEP_S).exp()) as f32;
            for (x, g) in v.iter_mut().zip(goal.values()) {
                *x += (g - *x) * k;
            }
        }
        MouthParams::from_values(v).scaled(self.intensity)
    }

    /// The mouth at time `t` (seconds into the piece) from its phoneme timeline.
    pub fn sample(&self, timeline: &Timeline, t: f64) -> MouthParams {
        self.smooth(t, |tau| match timeline.phoneme_at(tau) {
            Some(p) if !p.phoneme.is_empty() => {
                let len = (p.end_s - p.start_s).max(1e-6);
                target(&p.phoneme)(((tau - p.start_s) / len) as f32)
            }
            _ => MouthParams::REST,
        })
    }

    /// The mouth at time `t` from loudness alone: opening and jaw follow the level.
    pub fn sample_loudness(&self, track: &LoudnessTrack, t: f64) -> MouthParams {
        self.smooth(t, |tau| {
            let l = track.level_at(tau);
            if l <= 0.0 {
                MouthParams::REST
            } else {
                MouthParams {
                    mouth_open_y: 0.8 * l,
                    jaw_open: 0.7 * l,
                    mouth_press_lip_open: 0.4 * l,
                    ..MouthParams::REST
                }
            }
        })
    }

    /// What the settings ask for: phonemes when the timeline has them (and the style is `phonemes`), else loudness.
    pub fn sample_speech(&self, timeline: &Timeline, loudness: &LoudnessTrack, t: f64) -> MouthParams {
        if self.style == LipsyncStyle::Phonemes && !timeline.phonemes.iter().all(|p| p.phoneme.is_empty()) {
            self.sample(timeline, t)
        } else {
            self.sample_loudness(loudness, t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::{TimedPhoneme, Timeline};

    fn tl(items: &[(&str, f64, f64)]) -> Timeline {
        Timeline {
            phonemes: items
                .iter()
                .map(|&(p, s, e)| TimedPhoneme { phoneme: p.into(), start_s: s, end_s: e, word_index: None })
                .collect(),
            words: vec![],
        }
    }

    #[test]
    fn opens_on_vowels_presses_on_bilabials_rests_in_silence() {
        let ls = LipSync::new(&LipsyncSettings::default());
        let t = tl(&[("", 0.0, 0.3), ("ɑː", 0.3, 0.5), ("b", 0.5, 0.57), ("ɑː", 0.57, 0.8), ("", 0.8, 1.4)]);
        assert!(ls.sample(&t, 0.1).distance_from_rest() < 1e-6);
        let open = ls.sample(&t, 0.45);
        assert!(open.mouth_open_y > 0.8 && open.jaw_open > 0.8, "{open:?}");
        let b = ls.sample(&t, 0.565);
        assert!(b.mouth_press_lip_open < -0.6 && b.mouth_open_y < 0.25, "{b:?}");
        assert!(ls.sample(&t, 1.05).distance_from_rest() < 0.05);
        assert_eq!(ls.sample(&t, 0.45), ls.sample(&t, 0.45), "sampling is repeatable");
        assert_eq!(PARAM_NAMES.len(), open.values().len());
    }

    #[test]
    fn loudness_fallback() {
        let ls = LipSync::new(&LipsyncSettings::default());
        let mut s = vec![0.0f32; 8000];
        s.extend((0..8000).map(|i| 0.5 * (i as f32 * 0.05).sin()));
        s.extend(vec![0.0f32; 8000]);
        let tr = LoudnessTrack::new(&s, 16000);
        assert!(ls.sample_loudness(&tr, 0.3).mouth_open_y < 0.01);
        assert!(ls.sample_loudness(&tr, 0.9).mouth_open_y > 0.5);
        assert!(ls.sample_loudness(&tr, 1.45).distance_from_rest() < 0.05);
    }
}
