//! SimplePhysics: a pendulum hung from a node, swinging when the node moves, driving a parameter (hair, ribbons,
//! earrings). The model is a damped pendulum in the anchor's accelerating frame, stepped at a fixed rate so its
//! behaviour does not depend on the frame rate.

use super::model::{PhysicsMapMode, PhysicsModel, SimplePhysics};

const STEP_S: f32 = 1.0 / 240.0;

#[derive(Debug, Clone)]
pub struct Pendulum {
    pub settings: SimplePhysics,
    /// Puppet gravity in px/s² (gravity × pixels per metre × the node's gravity factor).
    gravity_px: f32,
    angle: f32,
    velocity: f32,
    /// Spring pendulums also stretch.
    stretch: f32,
    stretch_velocity: f32,
    last_anchor: Option<[f32; 2]>,
    anchor_velocity: [f32; 2],
    leftover_s: f32,
}

impl Pendulum {
    pub fn new(settings: SimplePhysics, puppet_gravity: f32, pixels_per_meter: f32) -> Pendulum {
        let gravity_px = (settings.gravity * puppet_gravity * pixels_per_meter).abs().max(1e-3);
        Pendulum {
            settings,
            gravity_px,
            angle: 0.0,
            velocity: 0.0,
            stretch: 0.0,
            stretch_velocity: 0.0,
            last_anchor: None,
            anchor_velocity: [0.0; 2],
            leftover_s: 0.0,
        }
    }

    /// Advances by `dt` seconds with the anchor now at `anchor` (world pixels, y down); returns the output
    /// (x, y) to add to the driven parameter.
    pub fn step(&mut self, anchor: [f32; 2], dt: f32) -> [f32; 2] {
        let dt = dt.clamp(0.0, 0.25);
        let (accel, have_motion) = match self.last_anchor {
            Some(last) if dt > 0.0 => {
                let v = [(anchor[0] - last[0]) / dt, (anchor[1] - last[1]) / dt];
                let a = [(v[0] - self.anchor_velocity[0]) / dt, (v[1] - self.anchor_velocity[1]) / dt];
                self.anchor_velocity = v;
                (a, true)
            }
            _ => ([0.0; 2], false),
        };
        self.last_anchor = Some(anchor);
        if have_motion {
            let s = &self.settings;
            let omega0 = std::f32::consts::TAU * s.frequency.max(0.01);
            // Gravity felt by the bob in the anchor's frame, in units of g.
            let g = [-accel[0] / self.gravity_px, 1.0 - accel[1] / self.gravity_px];
            self.leftover_s += dt;
            while self.leftover_s >= STEP_S {
                self.leftover_s -= STEP_S;
                let (sin, cos) = self.angle.sin_cos();
                let torque = g[0] * cos - g[1] * sin;
                let acc = omega0 * omega0 * torque - 2.0 * s.angle_damping * omega0 * self.velocity;
                self.velocity += acc * STEP_S;
                self.angle = (self.angle + self.velocity * STEP_S).clamp(-1.5, 1.5);
                if s.model == PhysicsModel::SpringPendulum {
                    let radial = g[0] * sin + g[1] * cos - 1.0;
                    let acc = omega0 * omega0 * (radial * 0.1 - self.stretch)
                        - 2.0 * s.length_damping * omega0 * self.stretch_velocity;
                    self.stretch_velocity += acc * STEP_S;
                    self.stretch = (self.stretch + self.stretch_velocity * STEP_S).clamp(-0.5, 0.5);
                }
            }
        }
        let s = &self.settings;
        match s.map_mode {
            PhysicsMapMode::AngleLength => {
                [self.angle / std::f32::consts::FRAC_PI_2 * s.output_scale[0], self.stretch * s.output_scale[1]]
            }
            PhysicsMapMode::XY => {
                let len = 1.0 + self.stretch;
                [self.angle.sin() * len * s.output_scale[0], (1.0 - self.angle.cos() * len) * s.output_scale[1]]
            }
        }
    }
}
