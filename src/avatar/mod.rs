//! The avatar: an Inochi2D puppet (`model`, loaded from the `format` container), evaluated by the `rig` from
//! named parameters, brought to life by `motion` and `physics`, with our parameter names mapped onto the
//! rigger's (`params`). `default_puppet` draws and rigs the bundled character.
//!
//! Per frame the app calls [`Avatar::set`] for what it drives (lip sync's nine VBridger parameters, sliders),
//! [`Avatar::show_expression`] when an emotion tag fires, and [`Avatar::update`] to get the [`rig::Scene`] the
//! renderer draws.

pub mod bench;
pub mod default_puppet;
pub mod draw;
pub mod format;
pub mod model;
pub mod motion;
pub mod params;
pub mod physics;
pub mod rig;

use std::collections::BTreeMap;
use std::path::Path;

pub use model::{LoadError, Puppet};
pub use motion::{Motion, MotionSwitches};
pub use params::ParameterMap;
pub use rig::{Rig, Scene};

use crate::config::AvatarSettings;

/// The bundled default puppet, built by `persona avatar build` (see `default_puppet`).
pub const DEFAULT_PUPPET: &[u8] = include_bytes!("../../assets/avatar/mira.inp");

/// The puppet `path` names, else the settings' puppet, else the bundled default.
pub fn load_puppet(path: Option<&Path>, settings: &AvatarSettings) -> Result<Puppet, LoadError> {
    match path {
        Some(path) => Puppet::load(path),
        None if !settings.puppet.is_empty() => Puppet::load(Path::new(&settings.puppet)),
        None => Puppet::from_bytes(DEFAULT_PUPPET),
    }
}

/// A puppet with its rig, motion and parameter map.
pub struct Avatar {
    pub puppet: Puppet,
    pub rig: Rig,
    pub motion: Motion,
    map: ParameterMap,
    driven: BTreeMap<String, f32>,
    physics: bool,
    hold_s: f32,
}

impl Avatar {
    /// Loads the puppet named in the settings (or `puppet`), or the default one when neither names a file.
    pub fn load(puppet: Option<&Path>, settings: &AvatarSettings) -> Result<Avatar, LoadError> {
        Ok(Avatar::new(load_puppet(puppet, settings)?, settings))
    }

    pub fn new(puppet: Puppet, settings: &AvatarSettings) -> Avatar {
        let rig = Rig::new(&puppet);
        let map = ParameterMap::new(&rig, &settings.parameter_map);
        let switches =
            MotionSwitches { blink: settings.blink, breathing: settings.breathing, idle: settings.idle_motion };
        Avatar {
            puppet,
            rig,
            motion: Motion::new(switches, 0x5eed),
            map,
            driven: BTreeMap::new(),
            physics: settings.physics,
            hold_s: settings.expression_hold_s,
        }
    }

    /// A still avatar: no blinking, breathing, sway or physics (for single frames and tests).
    pub fn still(puppet: Puppet, settings: &AvatarSettings) -> Avatar {
        let s =
            AvatarSettings { blink: false, breathing: false, idle_motion: false, physics: false, ..settings.clone() };
        Avatar::new(puppet, &s)
    }

    /// Drives a parameter by our name (e.g. "MouthOpenY"), a puppet parameter name, or "Name.x"/"Name.y" for one
    /// axis of a 2D parameter. Returns false when the puppet has nothing by that name.
    pub fn set(&mut self, name: &str, value: f32) -> bool {
        let known = self.map.slot(&self.rig, name).is_some();
        if known {
            self.driven.insert(name.to_string(), value);
        }
        known
    }

    /// Stops driving a parameter (it returns to its default and motion).
    pub fn release(&mut self, name: &str) {
        self.driven.remove(name);
    }

    /// Shows an expression from the emotion map ("happy", "sad", ...); false if there is no such expression.
    pub fn show_expression(&mut self, name: &str) -> bool {
        self.motion.show(name, self.hold_s)
    }

    /// Advances motion and physics by `dt` seconds and evaluates the frame.
    pub fn update(&mut self, dt: f32) -> &Scene {
        self.motion.step(dt);
        self.apply();
        if self.physics { self.rig.update(dt) } else { self.rig.evaluate() }
    }

    fn apply(&mut self) {
        self.rig.reset();
        let Avatar { rig, motion, map, driven, .. } = self;
        let mut writes: Vec<(String, f32)> = Vec::new();
        motion.apply(&|n| driven.get(n).copied(), &mut |n, v| writes.push((n.to_string(), v)));
        // Everything driven that motion does not touch goes straight through.
        for (n, v) in driven.iter() {
            if !writes.iter().any(|(w, _)| w == n) {
                writes.push((n.clone(), *v));
            }
        }
        for (name, v) in writes {
            if let Some(slot) = map.slot(rig, &name) {
                let mut cur = rig.value(slot.param);
                cur[slot.axis] = v;
                rig.set_value(slot.param, cur);
            }
        }
    }

    /// Names we drive that this puppet answers to, with the puppet parameter each lands on.
    pub fn mapped(&self) -> Vec<(String, String)> {
        let names: Vec<&str> = self.rig.param_names().collect();
        self.map.resolved().map(|(ours, s)| (ours.to_string(), names[s.param].to_string())).collect()
    }
}
