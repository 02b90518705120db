//! Our parameter names → the puppet's. Riggers name parameters freely ("Mouth Open", "ParamMouthOpenY",
//! "mouth_open"...), so each name we drive is resolved once per puppet: first through the user's
//! `avatar.parameter_map`, then through a best-guess list of common names, compared ignoring case, spaces,
//! underscores and a "Param" prefix. A target may name one axis of a 2D parameter: "Head:: Yaw-Pitch.x".

use std::collections::BTreeMap;

use super::rig::Rig;

/// The names the rest of Persona drives, with the names riggers commonly use for each.
pub const KNOWN: &[(&str, &[&str])] = &[
    ("MouthOpenY", &["MouthOpenY", "MouthOpen", "Mouth Open", "ParamMouthOpenY", "Mouth:: Open", "MouthOpenness"]),
    ("JawOpen", &["JawOpen", "Jaw Open", "ParamJawOpen"]),
    ("MouthForm", &["MouthForm", "Mouth Form", "ParamMouthForm", "MouthSmile", "Mouth Smile", "Mouth:: Shape"]),
    ("MouthShrug", &["MouthShrug", "Mouth Shrug"]),
    ("MouthFunnel", &["MouthFunnel", "Mouth Funnel"]),
    ("MouthPuckerWiden", &["MouthPuckerWiden", "Mouth Pucker Widen", "MouthWiden", "MouthPucker"]),
    ("MouthPressLipOpen", &["MouthPressLipOpen", "Mouth Press Lip Open", "MouthPress"]),
    ("MouthX", &["MouthX", "Mouth X", "ParamMouthX"]),
    ("CheekPuffC", &["CheekPuffC", "CheekPuff", "Cheek Puff", "ParamCheek"]),
    ("EyeOpenLeft", &["EyeOpenLeft", "EyeLOpen", "ParamEyeLOpen", "Eye L Open", "Left Eye Open", "Eye:: Left:: Blink"]),
    (
        "EyeOpenRight",
        &["EyeOpenRight", "EyeROpen", "ParamEyeROpen", "Eye R Open", "Right Eye Open", "Eye:: Right:: Blink"],
    ),
    ("EyeSmileLeft", &["EyeSmileLeft", "EyeLSmile", "ParamEyeLSmile"]),
    ("EyeSmileRight", &["EyeSmileRight", "EyeRSmile", "ParamEyeRSmile"]),
    ("EyeBallX", &["EyeBallX", "EyesX", "ParamEyeBallX", "Eye X", "Eyes:: Look.x"]),
    ("EyeBallY", &["EyeBallY", "EyesY", "ParamEyeBallY", "Eye Y", "Eyes:: Look.y"]),
    ("BrowLeftY", &["BrowLeftY", "BrowLY", "ParamBrowLY", "Brow L Y", "Eyebrow L Y"]),
    ("BrowRightY", &["BrowRightY", "BrowRY", "ParamBrowRY", "Brow R Y", "Eyebrow R Y"]),
    ("BrowAngle", &["BrowAngle", "BrowForm", "ParamBrowLAngle", "Brow Angle"]),
    ("AngleX", &["AngleX", "ParamAngleX", "Head X", "HeadYaw", "Head:: Yaw-Pitch.x", "Head Yaw"]),
    ("AngleY", &["AngleY", "ParamAngleY", "Head Y", "HeadPitch", "Head:: Yaw-Pitch.y", "Head Pitch"]),
    ("AngleZ", &["AngleZ", "ParamAngleZ", "Head Z", "HeadRoll", "Head:: Roll", "Head Roll"]),
    ("BodyAngleX", &["BodyAngleX", "ParamBodyAngleX", "Body X", "Body:: Yaw"]),
    ("BodyAngleZ", &["BodyAngleZ", "ParamBodyAngleZ", "Body Z", "Body:: Roll"]),
    ("Breath", &["Breath", "ParamBreath", "Breathing", "Body:: Breath"]),
    ("Blush", &["Blush", "ParamCheek", "Cheek", "Face:: Blush"]),
];

fn squash(s: &str) -> String {
    let s: String = s.chars().filter(|c| c.is_alphanumeric() || *c == '.').flat_map(char::to_lowercase).collect();
    s.strip_prefix("param").map(str::to_string).unwrap_or(s)
}

/// Where one of our names lands on the puppet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub param: usize,
    /// 0 for x (or a 1D parameter), 1 for y.
    pub axis: usize,
}

/// Resolves a puppet parameter reference ("Name" or "Name.x"/"Name.y") on a rig.
pub fn resolve_target(rig: &Rig, target: &str) -> Option<Slot> {
    if let Some(i) = rig.param_index(target) {
        return Some(Slot { param: i, axis: 0 });
    }
    let (base, axis) = match target.rsplit_once('.') {
        Some((b, "x")) => (b, 0),
        Some((b, "y")) => (b, 1),
        _ => (target, 0),
    };
    if let Some(i) = rig.param_index(base) {
        return Some(Slot { param: i, axis });
    }
    let want = squash(base);
    let i = rig.param_names().position(|n| squash(n) == want)?;
    Some(Slot { param: i, axis })
}

/// Our name → slot, for every name that resolved.
#[derive(Debug, Clone, Default)]
pub struct ParameterMap {
    slots: BTreeMap<String, Slot>,
}

impl ParameterMap {
    /// `user` is `avatar.parameter_map` (our name → puppet name); it wins over the guesses. Names in `user` that
    /// match nothing are reported once as a warning.
    pub fn new(rig: &Rig, user: &BTreeMap<String, String>) -> ParameterMap {
        let mut slots = BTreeMap::new();
        for (ours, theirs) in user {
            match resolve_target(rig, theirs) {
                Some(s) => {
                    slots.insert(ours.clone(), s);
                }
                None => tracing::warn!(
                    "avatar.parameter_map: \"{ours}\" = \"{theirs}\", but the puppet has no parameter \"{theirs}\""
                ),
            }
        }
        for (ours, guesses) in KNOWN {
            if slots.contains_key(*ours) {
                continue;
            }
            if let Some(s) = guesses.iter().find_map(|g| resolve_target(rig, g)) {
                slots.insert(ours.to_string(), s);
            }
        }
        ParameterMap { slots }
    }

    /// Our name (or any puppet parameter name, as a fallback) → slot.
    pub fn slot(&self, rig: &Rig, name: &str) -> Option<Slot> {
        self.slots.get(name).copied().or_else(|| resolve_target(rig, name))
    }

    pub fn resolved(&self) -> impl Iterator<Item = (&str, Slot)> {
        self.slots.iter().map(|(k, v)| (k.as_str(), *v))
    }
}
