//! Mira, the bundled default avatar, drawn and rigged in code: every texture is painted from vector shapes
//! (`draw`), every part is a grid mesh, and every parameter is a keyform binding, written out as a standard
//! Inochi2D `.inp` by `persona avatar build` (the committed `assets/avatar/mira.inp` comes from that command).
//!
//! Coordinates are puppet pixels, y down, on a 1080×1920 portrait canvas centred on (0, 0). Parameters use
//! Persona's own names, so the default parameter map needs no configuration; head and gaze are 2D parameters
//! named the way Inochi2D riggers often do ("Head:: Yaw-Pitch", "Eyes:: Look").

use serde_json::json;

use super::draw::{Canvas, Rgba, circle, cubic, ellipse, hex, mix, polygon, quad, stroke};
use super::format::RawTexture;
use super::model::*;

type Pt = [f32; 2];

struct Builder {
    scale: f32,
    /// (parent, node, world origin)
    nodes: Vec<(Option<usize>, Node, Pt)>,
    params: Vec<Param>,
    raw: Vec<RawTexture>,
    /// Rest vertices in world space, per node index (parts only).
    rest: Vec<Vec<Pt>>,
    next_uuid: u32,
}

#[derive(Clone, Copy)]
struct N(usize);
#[derive(Clone, Copy)]
struct P(usize);

impl Builder {
    fn uuid(&mut self) -> u32 {
        self.next_uuid += 1;
        self.next_uuid
    }

    fn node(&mut self, parent: Option<N>, name: &str, origin: Pt, kind: NodeKind) -> N {
        let uuid = self.uuid();
        let mut n = Node::new(uuid, name, kind);
        let po = parent.map_or([0.0, 0.0], |p| self.nodes[p.0].2);
        n.transform.trans = [origin[0] - po[0], origin[1] - po[1], 0.0];
        self.nodes.push((parent.map(|p| p.0), n, origin));
        self.rest.push(Vec::new());
        N(self.nodes.len() - 1)
    }

    /// A part covering `rect` with a `cols`×`rows` grid mesh, painted by `paint`, drawn at depth `z` (higher is
    /// further back).
    fn part(
        &mut self,
        parent: N,
        name: &str,
        rect: [f32; 4],
        grid: (usize, usize),
        z: f32,
        paint: impl FnOnce(&mut Canvas),
    ) -> N {
        let mut c = Canvas::new(rect, self.scale);
        paint(&mut c);
        self.raw.push(png_texture(c.width, c.height, &c.to_rgba8()));
        let tex = (self.raw.len() - 1) as u32;
        let origin = self.nodes[parent.0].2;
        let (cols, rows) = grid;
        let mut mesh = Mesh::default();
        let mut rest = Vec::new();
        for j in 0..=rows {
            for i in 0..=cols {
                let (u, v) = (i as f32 / cols as f32, j as f32 / rows as f32);
                let w = [rect[0] + (rect[2] - rect[0]) * u, rect[1] + (rect[3] - rect[1]) * v];
                rest.push(w);
                mesh.verts.push([w[0] - origin[0], w[1] - origin[1]]);
                mesh.uvs.push([u, v]);
            }
        }
        for j in 0..rows {
            for i in 0..cols {
                let a = (j * (cols + 1) + i) as u32;
                let b = a + 1;
                let c2 = a + cols as u32 + 1;
                let d = c2 + 1;
                mesh.indices.extend_from_slice(&[a, b, d, a, d, c2]);
            }
        }
        let n =
            self.node(Some(parent), name, origin, NodeKind::Part { mesh, textures: vec![tex], look: Look::default() });
        self.nodes[n.0].1.transform.trans = [0.0; 3];
        self.nodes[n.0].1.zsort = z;
        self.rest[n.0] = rest;
        n
    }

    fn look(&mut self, n: N) -> &mut Look {
        match &mut self.nodes[n.0].1.kind {
            NodeKind::Part { look, .. } | NodeKind::Composite { look } => look,
            _ => unreachable!("only parts and composites have a look"),
        }
    }

    /// A parameter; `xs`/`ys` are keyform positions in parameter units.
    fn param(&mut self, name: &str, min: Pt, max: Pt, default: Pt, xs: &[f32], ys: Option<&[f32]>) -> P {
        let uuid = self.uuid();
        let norm = |v: &[f32], k: usize| v.iter().map(|&x| (x - min[k]) / (max[k] - min[k])).collect::<Vec<_>>();
        self.params.push(Param {
            uuid,
            name: name.to_string(),
            is_vec2: ys.is_some(),
            min,
            max,
            defaults: default,
            axis_points: [norm(xs, 0), ys.map_or(vec![0.0], |y| norm(y, 1))],
            bindings: Vec::new(),
        });
        P(self.params.len() - 1)
    }

    fn keys(&self, p: P) -> (Vec<f32>, Vec<f32>) {
        let q = &self.params[p.0];
        let k = |a: &Vec<f32>, i: usize| a.iter().map(|t| q.min[i] + t * (q.max[i] - q.min[i])).collect::<Vec<_>>();
        (k(&q.axis_points[0], 0), k(&q.axis_points[1], 1))
    }

    /// A transform/opacity binding: `f(x, y)` is the value at each keyform (parameter units).
    fn bind(&mut self, p: P, n: N, target: Target, f: impl Fn(f32, f32) -> f32) {
        let (xs, ys) = self.keys(p);
        let values: Vec<Vec<f32>> = xs.iter().map(|&x| ys.iter().map(|&y| f(x, y)).collect()).collect();
        let is_set = vec![vec![true; ys.len()]; xs.len()];
        let node = self.nodes[n.0].1.uuid;
        self.params[p.0].bindings.push(Binding {
            node,
            target,
            values: Values::Scalar(values),
            is_set,
            interpolation: Interpolation::Linear,
        });
    }

    /// A deform binding: `f(x, y, rest vertex)` is the offset of each vertex at each keyform.
    fn deform(&mut self, p: P, n: N, f: impl Fn(f32, f32, Pt) -> Pt) {
        let (xs, ys) = self.keys(p);
        let rest = self.rest[n.0].clone();
        let values: Vec<Vec<Vec<Pt>>> =
            xs.iter().map(|&x| ys.iter().map(|&y| rest.iter().map(|&v| f(x, y, v)).collect()).collect()).collect();
        let is_set = vec![vec![true; ys.len()]; xs.len()];
        let node = self.nodes[n.0].1.uuid;
        self.params[p.0].bindings.push(Binding {
            node,
            target: Target::Deform,
            values: Values::Deform(values),
            is_set,
            interpolation: Interpolation::Linear,
        });
    }

    fn finish(self) -> Puppet {
        let mut nodes: Vec<Option<Node>> = Vec::new();
        let mut parents = Vec::new();
        for (parent, node, _) in self.nodes {
            parents.push(parent);
            nodes.push(Some(node));
        }
        // Attach children to parents, last first, so every child is complete before it moves.
        for i in (1..nodes.len()).rev() {
            if let (Some(p), Some(child)) = (parents[i], nodes[i].take()) {
                if let Some(parent) = nodes[p].as_mut() {
                    parent.children.insert(0, child);
                }
            }
        }
        let root = nodes[0].take().unwrap_or_else(|| Node::new(0, "Root", NodeKind::Node));
        let mut meta = serde_json::Map::new();
        meta.insert("name".into(), json!("Mira"));
        meta.insert("version".into(), json!("1.0-alpha"));
        meta.insert("rigger".into(), json!("Persona (persona avatar build)"));
        meta.insert("artist".into(), json!("Persona (persona avatar build)"));
        meta.insert("copyright".into(), json!("MIT OR Apache-2.0"));
        meta.insert("licenseURL".into(), json!(""));
        meta.insert("preservePixels".into(), json!(false));
        let textures = self.raw.iter().enumerate().filter_map(|(i, t)| decode_texture(i, t).ok()).collect();
        Puppet {
            meta,
            pixels_per_meter: 1000.0,
            gravity: 9.8,
            root,
            params: self.params,
            textures,
            raw_textures: self.raw,
            extensions: Vec::new(),
        }
    }
}

// Palette.
fn skin() -> Rgba {
    hex("#ffe7da", 1.0)
}
fn skin_shade() -> Rgba {
    hex("#f6c7b6", 1.0)
}
fn hair() -> Rgba {
    hex("#4a3a78", 1.0)
}
fn hair_dark() -> Rgba {
    hex("#33285a", 1.0)
}
fn hair_light() -> Rgba {
    hex("#8a78c8", 1.0)
}
fn ink() -> Rgba {
    hex("#2a2038", 1.0)
}

const EYE_Y: f32 = -300.0;
const EYE_X: f32 = 95.0;
const MOUTH_Y: f32 = -160.0;

fn face_outline() -> Vec<Pt> {
    let mut pts = cubic([-200.0, -330.0], [-198.0, -190.0], [-95.0, -72.0], [0.0, -62.0], 24);
    pts.extend(cubic([0.0, -62.0], [95.0, -72.0], [198.0, -190.0], [200.0, -330.0], 24).into_iter().skip(1));
    for i in 1..24 {
        let a = std::f32::consts::PI * i as f32 / 24.0;
        pts.push([200.0 * a.cos(), -330.0 - 240.0 * a.sin()]);
    }
    pts
}

/// Builds Mira. `scale` is texels per puppet pixel (1.0 for the shipped file; tests use less).
pub fn build(scale: f32) -> Puppet {
    let mut b =
        Builder { scale, nodes: Vec::new(), params: Vec::new(), raw: Vec::new(), rest: Vec::new(), next_uuid: 1000 };
    let root = b.node(None, "Root", [0.0, 0.0], NodeKind::Node);
    let body = b.node(Some(root), "Body", [0.0, 200.0], NodeKind::Node);
    let head = b.node(Some(body), "Head", [0.0, -90.0], NodeKind::Node);
    let features = b.node(Some(head), "Face Features", [0.0, -90.0], NodeKind::Node);
    let hair_node = b.node(Some(head), "Hair", [0.0, -90.0], NodeKind::Node);

    // ---- body ----
    let body_part = b.part(body, "Body", [-350.0, -40.0, 350.0, 960.0], (6, 6), 50.0, |c| {
        let outline = {
            let mut p = cubic([-60.0, -30.0], [-80.0, 60.0], [-210.0, 60.0], [-270.0, 120.0], 16);
            p.extend(cubic([-270.0, 120.0], [-320.0, 180.0], [-330.0, 600.0], [-340.0, 960.0], 16).into_iter().skip(1));
            let mirrored: Vec<Pt> = p.iter().rev().map(|q| [-q[0], q[1]]).collect();
            p.extend(mirrored);
            p
        };
        let jacket = hex("#3d5a8c", 1.0);
        c.fill(
            polygon(outline),
            |x, y| {
                mix(
                    mix(jacket, hex("#2c4470", 1.0), (x.abs() - 200.0) / 200.0),
                    hex("#4a6aa0", 1.0),
                    (260.0 - y) / 300.0,
                )
            },
            0.0,
        );
        // Blouse V and collar.
        c.solid(polygon(vec![[-90.0, 10.0], [90.0, 10.0], [0.0, 300.0]]), hex("#f7f2ea", 1.0));
        c.solid(polygon(vec![[-60.0, -20.0], [-140.0, 45.0], [-70.0, 160.0], [-20.0, 60.0]]), hex("#fbf8f3", 1.0));
        c.solid(polygon(vec![[60.0, -20.0], [140.0, 45.0], [70.0, 160.0], [20.0, 60.0]]), hex("#fbf8f3", 1.0));
        c.solid(stroke(vec![[-60.0, -20.0], [-140.0, 45.0], [-70.0, 160.0]], 3.0, 3.0), hex("#d9d0c4", 1.0));
        c.solid(stroke(vec![[60.0, -20.0], [140.0, 45.0], [70.0, 160.0]], 3.0, 3.0), hex("#d9d0c4", 1.0));
        // Ribbon bow.
        let rib = hex("#e4607e", 1.0);
        c.solid(polygon(vec![[0.0, 65.0], [-55.0, 35.0], [-60.0, 95.0]]), rib);
        c.solid(polygon(vec![[0.0, 65.0], [55.0, 35.0], [60.0, 95.0]]), rib);
        c.solid(polygon(vec![[-8.0, 70.0], [-35.0, 170.0], [-12.0, 160.0], [0.0, 80.0]]), hex("#d04d6c", 1.0));
        c.solid(polygon(vec![[8.0, 70.0], [35.0, 170.0], [12.0, 160.0], [0.0, 80.0]]), hex("#d04d6c", 1.0));
        c.solid(circle(0.0, 66.0, 14.0), hex("#f07a95", 1.0));
        // Buttons.
        for y in [420.0, 560.0, 700.0] {
            c.solid(circle(45.0, y, 10.0), hex("#e9d9a6", 1.0));
        }
    });
    let neck = b.part(body, "Neck", [-70.0, -140.0, 70.0, 60.0], (2, 3), 45.0, |c| {
        c.fill(
            polygon(vec![[-52.0, -140.0], [52.0, -140.0], [58.0, 20.0], [0.0, 40.0], [-58.0, 20.0]]),
            |_, y| mix(skin_shade(), skin(), (y + 60.0) / 80.0),
            0.0,
        );
    });
    let _ = neck;

    // ---- back hair (behind the body) ----
    let hair_back = b.part(hair_node, "Hair Back", [-320.0, -640.0, 320.0, 330.0], (6, 8), 60.0, |c| {
        let mut p = vec![];
        for i in 0..=24 {
            let a = std::f32::consts::PI * i as f32 / 24.0;
            p.push([-270.0 * a.cos(), -330.0 - 290.0 * a.sin()]);
        }
        p.extend(cubic([270.0, -330.0], [300.0, -100.0], [300.0, 150.0], [285.0, 300.0], 16));
        // Wavy ends.
        for i in 0..=12 {
            let t = i as f32 / 12.0;
            let x = 285.0 - 570.0 * t;
            p.push([x, 300.0 + 25.0 * (t * std::f32::consts::TAU * 3.0).sin().abs()]);
        }
        p.extend(cubic([-285.0, 300.0], [-300.0, 150.0], [-300.0, -100.0], [-270.0, -330.0], 16));
        c.fill(
            polygon(p),
            |x, y| mix(hair_dark(), hex("#2a2150", 1.0), ((y + 100.0) / 400.0).max(0.0) + x.abs() / 1200.0),
            0.0,
        );
    });
    b.nodes[hair_back.0].1.zsort = 60.0;

    // ---- face ----
    let face = b.part(head, "Face", [-215.0, -580.0, 215.0, -50.0], (6, 8), 40.0, |c| {
        let outline = face_outline();
        c.fill(polygon(outline.clone()), |_, y| mix(skin_shade(), skin(), (y + 470.0) / 90.0), 0.0);
        // Soft shading along the jaw.
        let jaw = polygon(outline);
        c.fill(move |x, y| jaw(x, y).max(-(jaw(x, y) + 14.0)), |_, _| hex("#f9d3c3", 0.6), 10.0);
    });
    let blush = b.part(head, "Blush", [-190.0, -260.0, 190.0, -190.0], (2, 1), 34.0, |c| {
        for sx in [-1.0, 1.0] {
            c.fill(ellipse(sx * 128.0, -225.0, 42.0, 20.0), |_, _| hex("#ff8aa5", 0.55), 14.0);
            for k in 0..3 {
                let x0 = sx * 128.0 - 20.0 + 14.0 * k as f32;
                c.solid(stroke(vec![[x0, -220.0], [x0 + 8.0, -232.0]], 3.0, 2.0), hex("#f06f8c", 0.6));
            }
        }
    });

    // ---- eyes ----
    let mut eye_parts = Vec::new();
    for (side, sx) in [("L", -1.0f32), ("R", 1.0)] {
        let ex = sx * EYE_X;
        let white = b.part(
            features,
            &format!("Eye White {side}"),
            [ex - 66.0, EYE_Y - 50.0, ex + 66.0, EYE_Y + 46.0],
            (4, 4),
            20.0,
            |c| {
                c.fill(
                    polygon({
                        let mut p = cubic(
                            [ex - 60.0, EYE_Y + 4.0],
                            [ex - 50.0, EYE_Y - 46.0],
                            [ex + 40.0, EYE_Y - 52.0],
                            [ex + 60.0, EYE_Y - 4.0],
                            16,
                        );
                        p.extend(cubic(
                            [ex + 60.0, EYE_Y - 4.0],
                            [ex + 50.0, EYE_Y + 42.0],
                            [ex - 40.0, EYE_Y + 48.0],
                            [ex - 60.0, EYE_Y + 4.0],
                            16,
                        ));
                        p.iter().map(|q| [ex + (q[0] - ex) * sx, q[1]]).collect()
                    }),
                    |_, y| mix(hex("#d9d4ee", 1.0), hex("#ffffff", 1.0), (y - EYE_Y + 40.0) / 30.0),
                    0.0,
                );
            },
        );
        let iris = b.part(
            features,
            &format!("Iris {side}"),
            [ex - 40.0, EYE_Y - 40.0, ex + 40.0, EYE_Y + 48.0],
            (2, 2),
            18.0,
            |c| {
                let (cx, cy) = (ex, EYE_Y + 4.0);
                c.fill(
                    ellipse(cx, cy, 33.0, 38.0),
                    |_, y| mix(hex("#1d5f78", 1.0), hex("#46c2b8", 1.0), (y - cy + 20.0) / 50.0),
                    0.0,
                );
                c.solid(ellipse(cx, cy, 33.0, 38.0).clone_shell(3.0), hex("#153a4e", 1.0));
                c.solid(ellipse(cx, cy + 2.0, 15.0, 18.0), hex("#142433", 1.0));
                c.fill(ellipse(cx, cy + 20.0, 18.0, 8.0), |_, _| hex("#8ef0d8", 0.5), 6.0);
                c.solid(circle(cx - 11.0, cy - 14.0, 9.0), hex("#ffffff", 0.95));
                c.solid(circle(cx + 11.0, cy + 12.0, 4.0), hex("#ffffff", 0.9));
            },
        );
        let lash = b.part(
            features,
            &format!("Lash {side}"),
            [ex - 78.0, EYE_Y - 64.0, ex + 78.0, EYE_Y + 16.0],
            (6, 2),
            16.0,
            |c| {
                let f = |q: Pt| [ex + (q[0] - ex) * sx, q[1]];
                let arc: Vec<Pt> = cubic(
                    [ex - 64.0, EYE_Y + 4.0],
                    [ex - 50.0, EYE_Y - 50.0],
                    [ex + 40.0, EYE_Y - 56.0],
                    [ex + 64.0, EYE_Y - 6.0],
                    20,
                )
                .into_iter()
                .map(f)
                .collect();
                c.solid(stroke(arc, 5.0, 11.0), ink());
                // A little flick at the outer corner.
                c.solid(stroke(vec![f([ex + 60.0, EYE_Y - 10.0]), f([ex + 74.0, EYE_Y - 22.0])], 7.0, 2.0), ink());
                c.solid(stroke(vec![f([ex + 52.0, EYE_Y - 24.0]), f([ex + 70.0, EYE_Y - 40.0])], 5.0, 1.5), ink());
            },
        );
        let lower = b.part(
            features,
            &format!("Lower Lash {side}"),
            [ex - 50.0, EYE_Y + 26.0, ex + 50.0, EYE_Y + 52.0],
            (2, 1),
            15.0,
            |c| {
                c.solid(
                    stroke(
                        quad([ex - 40.0, EYE_Y + 36.0], [ex, EYE_Y + 48.0], [ex + 44.0, EYE_Y + 34.0], 12),
                        2.5,
                        2.5,
                    ),
                    hex("#7a5a7e", 0.7),
                );
            },
        );
        let brow = b.part(
            features,
            &format!("Brow {side}"),
            [ex - 70.0, EYE_Y - 120.0, ex + 70.0, EYE_Y - 60.0],
            (3, 1),
            14.0,
            |c| {
                let f = |q: Pt| [ex + (q[0] - ex) * sx, q[1]];
                c.solid(
                    stroke(
                        quad([ex - 50.0, EYE_Y - 78.0], [ex, EYE_Y - 104.0], [ex + 56.0, EYE_Y - 90.0], 16)
                            .into_iter()
                            .map(f)
                            .collect(),
                        11.0,
                        5.0,
                    ),
                    hex("#3d2f63", 1.0),
                );
            },
        );
        // The iris shows only inside the eye white.
        let white_uuid = b.nodes[white.0].1.uuid;
        b.look(iris).masks.push(MaskBinding { source: white_uuid, mode: MaskMode::Mask });
        eye_parts.push((sx, white, iris, lash, lower, brow));
    }

    // ---- nose and mouth ----
    b.part(features, "Nose", [-20.0, -235.0, 20.0, -200.0], (1, 1), 30.0, |c| {
        c.solid(stroke(quad([-6.0, -212.0], [2.0, -206.0], [8.0, -214.0], 8), 4.0, 3.0), hex("#e8a393", 0.9));
    });
    let mouth_in = b.part(features, "Mouth Inside", [-56.0, MOUTH_Y - 14.0, 56.0, MOUTH_Y + 66.0], (6, 4), 26.0, |c| {
        let shape = || {
            let mut p = cubic(
                [-48.0, MOUTH_Y - 6.0],
                [-20.0, MOUTH_Y - 12.0],
                [20.0, MOUTH_Y - 12.0],
                [48.0, MOUTH_Y - 6.0],
                12,
            );
            p.extend(cubic(
                [48.0, MOUTH_Y - 6.0],
                [44.0, MOUTH_Y + 60.0],
                [-44.0, MOUTH_Y + 60.0],
                [-48.0, MOUTH_Y - 6.0],
                16,
            ));
            polygon(p)
        };
        c.solid(shape(), hex("#7a2740", 1.0));
        let s = shape();
        c.fill(
            move |x, y| s(x, y).max(ellipse(0.0, MOUTH_Y + 52.0, 30.0, 22.0)(x, y)),
            |_, _| hex("#e47388", 1.0),
            0.0,
        );
        let s = shape();
        c.fill(move |x, y| s(x, y).max(y - (MOUTH_Y + 4.0)), |_, _| hex("#fffaf6", 1.0), 0.0);
    });
    let mouth_line = b.part(features, "Mouth Line", [-60.0, MOUTH_Y - 22.0, 60.0, MOUTH_Y + 8.0], (6, 1), 24.0, |c| {
        c.solid(
            stroke(quad([-48.0, MOUTH_Y - 10.0], [0.0, MOUTH_Y + 2.0], [48.0, MOUTH_Y - 10.0], 16), 4.0, 4.0),
            hex("#a04a5c", 1.0),
        );
    });

    // ---- front hair ----
    let bangs = b.part(hair_node, "Hair Front", [-245.0, -650.0, 245.0, -320.0], (6, 4), 10.0, |c| {
        let mut p = vec![];
        for i in 0..=24 {
            let a = std::f32::consts::PI * i as f32 / 24.0;
            p.push([-236.0 * a.cos(), -400.0 - 242.0 * a.sin()]);
        }
        // Fringe tips, right to left.
        let tips: [(f32, f32); 9] = [
            (236.0, -330.0),
            (190.0, -375.0),
            (150.0, -430.0),
            (95.0, -372.0),
            (40.0, -440.0),
            (-10.0, -380.0),
            (-70.0, -445.0),
            (-130.0, -372.0),
            (-190.0, -420.0),
        ];
        for (x, y) in tips {
            p.push([x, y]);
        }
        p.push([-236.0, -330.0]);
        let shape = polygon(p);
        c.fill(&shape, |_, y| mix(hair_light(), hair(), (y + 600.0) / 120.0), 0.0);
        // The shine band.
        let shine = stroke(
            (0..=20)
                .map(|i| {
                    let a = 0.8 + 1.54 * i as f32 / 20.0;
                    [-205.0 * a.cos(), -420.0 - 175.0 * a.sin()]
                })
                .collect(),
            10.0,
            10.0,
        );
        c.fill(move |x, y| shape(x, y).max(shine(x, y)), |_, _| hex("#b9a9ec", 0.75), 3.0);
    });
    let mut locks = Vec::new();
    for (side, sx) in [("L", -1.0f32), ("R", 1.0)] {
        let lock = b.part(
            hair_node,
            &format!("Side Lock {side}"),
            [sx * 215.0 - 60.0, -540.0, sx * 215.0 + 60.0, 120.0],
            (2, 8),
            11.0,
            |c| {
                let pts: Vec<Pt> =
                    cubic([sx * 195.0, -500.0], [sx * 240.0, -380.0], [sx * 225.0, -150.0], [sx * 245.0, 90.0], 24);
                c.fill(
                    stroke(pts, 64.0, 14.0),
                    |x, _| mix(hair(), hair_light(), ((x * sx) - 215.0) / 40.0 * 0.4 + 0.2),
                    0.0,
                );
            },
        );
        locks.push((sx, lock));
    }
    let clip = b.part(hair_node, "Hair Clip", [110.0, -620.0, 190.0, -540.0], (1, 1), 8.0, |c| {
        let star: Vec<Pt> = (0..10)
            .map(|i| {
                let a = -std::f32::consts::FRAC_PI_2 + std::f32::consts::PI * i as f32 / 5.0;
                let r = if i % 2 == 0 { 34.0 } else { 15.0 };
                [150.0 + r * a.cos(), -580.0 + r * a.sin()]
            })
            .collect();
        c.solid(polygon(star.clone()), hex("#f5c451", 1.0));
        c.fill(circle(144.0, -588.0, 8.0), |_, _| hex("#fff4c8", 0.9), 4.0);
    });
    let _ = clip;
    let physics = b.node(Some(head), "Hair Physics", [0.0, -560.0], NodeKind::Node);

    // ---- parameters ----
    let yaw_pitch =
        b.param("Head:: Yaw-Pitch", [-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], &[-1.0, 0.0, 1.0], Some(&[-1.0, 0.0, 1.0]));
    b.bind(yaw_pitch, features, Target::TranslateX, |x, _| x * 26.0);
    b.bind(yaw_pitch, features, Target::TranslateY, |_, y| y * 18.0);
    b.bind(yaw_pitch, face, Target::TranslateX, |x, _| x * 6.0);
    b.bind(yaw_pitch, hair_node, Target::TranslateX, |x, _| x * 10.0);
    b.bind(yaw_pitch, hair_back, Target::TranslateX, |x, _| -x * 14.0);
    b.bind(yaw_pitch, blush, Target::TranslateX, |x, _| x * 20.0);
    b.bind(yaw_pitch, head, Target::TranslateY, |_, y| y * 6.0);
    let roll = b.param("AngleZ", [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 0.0, 1.0], None);
    b.bind(roll, head, Target::RotateZ, |x, _| x * 0.16);
    let body_x = b.param("BodyAngleX", [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 1.0], None);
    b.bind(body_x, body, Target::TranslateX, |x, _| x * 18.0);
    b.bind(body_x, head, Target::TranslateX, |x, _| x * 10.0);
    let body_z = b.param("BodyAngleZ", [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 1.0], None);
    b.bind(body_z, body, Target::RotateZ, |x, _| x * 0.04);
    let breath = b.param("Breath", [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[0.0, 1.0], None);
    b.deform(breath, body_part, |x, _, v| {
        // Shoulders rise, the chest swells a little.
        let top = ((300.0 - v[1]) / 300.0).clamp(0.0, 1.0);
        [v[0].signum() * 4.0 * x * top, -10.0 * x * top]
    });
    b.bind(breath, head, Target::TranslateY, |x, _| -5.0 * x);

    let eye_open: Vec<P> = ["EyeOpenLeft", "EyeOpenRight"]
        .iter()
        .map(|n| b.param(n, [0.0, 0.0], [1.3, 0.0], [1.0, 0.0], &[0.0, 1.0, 1.3], None))
        .collect();
    let eye_smile: Vec<P> = ["EyeSmileLeft", "EyeSmileRight"]
        .iter()
        .map(|n| b.param(n, [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[0.0, 1.0], None))
        .collect();
    let look = b.param("Eyes:: Look", [-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], &[-1.0, 0.0, 1.0], Some(&[-1.0, 0.0, 1.0]));
    let brow_y: Vec<P> = ["BrowLeftY", "BrowRightY"]
        .iter()
        .map(|n| b.param(n, [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 1.0], None))
        .collect();
    let brow_angle = b.param("BrowAngle", [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 0.0, 1.0], None);
    let close_y = EYE_Y + 24.0;
    for (k, &(sx, white, iris, lash, lower, brow)) in eye_parts.iter().enumerate() {
        let ex = sx * EYE_X;
        b.deform(eye_open[k], white, move |x, _, v| {
            if x < 0.5 {
                [0.0, close_y - v[1]]
            } else if x > 1.1 {
                [0.0, (v[1] - EYE_Y) * 0.18]
            } else {
                [0.0, 0.0]
            }
        });
        b.deform(eye_open[k], lash, move |x, _, v| {
            let t = 1.0 - ((v[0] - ex) / 70.0).powi(2).min(1.0);
            if x < 0.5 {
                // Down to the lower lid, the arc turned into a soft downward curve.
                [0.0, (close_y - EYE_Y) + 4.0 + 50.0 * t * 1.15 - (v[1] - EYE_Y + 20.0) * 0.5]
            } else if x > 1.1 {
                [0.0, -8.0 * t]
            } else {
                [0.0, 0.0]
            }
        });
        b.deform(eye_smile[k], white, move |x, _, v| [0.0, x * -((v[1] - EYE_Y).max(-10.0) + 10.0) * 0.55]);
        b.deform(eye_smile[k], lower, move |x, _, _| [0.0, -x * 20.0]);
        b.deform(eye_smile[k], lash, move |x, _, v| {
            let t = 1.0 - ((v[0] - ex) / 70.0).powi(2).min(1.0);
            [0.0, x * (6.0 - 6.0 * t)]
        });
        b.bind(look, iris, Target::TranslateX, |x, _| x * 20.0);
        b.bind(look, iris, Target::TranslateY, |_, y| y * -12.0);
        b.bind(brow_y[k], brow, Target::TranslateY, |x, _| -x * 16.0);
        b.bind(brow_angle, brow, Target::RotateZ, move |x, _| -sx * x * 0.22);
        b.bind(brow_angle, brow, Target::TranslateY, |x, _| x.max(0.0) * 6.0);
    }

    let open = b.param("MouthOpenY", [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[0.0, 1.0], None);
    let line_y = MOUTH_Y - 4.0;
    b.deform(open, mouth_in, move |x, _, v| if x < 0.5 { [0.0, line_y - v[1]] } else { [0.0, 0.0] });
    b.deform(open, mouth_line, |x, _, _| [0.0, -4.0 * x]);
    let jaw = b.param("JawOpen", [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[0.0, 1.0], None);
    b.deform(jaw, face, |x, _, v| {
        [0.0, x * 16.0 * ((v[1] - MOUTH_Y) / (MOUTH_Y + 62.0 - MOUTH_Y).abs()).clamp(0.0, 1.0)]
    });
    b.deform(jaw, mouth_in, |x, _, v| [0.0, x * 12.0 * ((v[1] - line_y) / 60.0).clamp(0.0, 1.0)]);
    let form = b.param("MouthForm", [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 0.0, 1.0], None);
    let corner = |v: Pt| (v[0] / 50.0).powi(2).min(1.4);
    for part in [mouth_in, mouth_line] {
        b.deform(form, part, move |x, _, v| {
            let c = corner(v);
            if x > 0.0 {
                [v[0] * 0.12, -18.0 * c]
            } else if x < 0.0 {
                [v[0] * -0.05, 14.0 * c - 4.0]
            } else {
                [0.0, 0.0]
            }
        });
    }
    let width = b.param("MouthPuckerWiden", [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 1.0], None);
    let funnel = b.param("MouthFunnel", [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[0.0, 1.0], None);
    let mouth_x = b.param("MouthX", [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 1.0], None);
    let shrug = b.param("MouthShrug", [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[0.0, 1.0], None);
    let press = b.param("MouthPressLipOpen", [-1.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[-1.0, 0.0, 1.0], None);
    for part in [mouth_in, mouth_line] {
        b.deform(width, part, |x, _, v| [v[0] * 0.25 * x, 0.0]);
        b.deform(funnel, part, |x, _, v| [-v[0] * 0.35 * x, 0.0]);
        b.deform(mouth_x, part, |x, _, v| [x * 10.0, x * v[0] * 0.12]);
        b.deform(shrug, part, |x, _, _| [0.0, -6.0 * x]);
    }
    b.deform(press, mouth_in, move |x, _, v| if x < 0.0 { [0.0, (line_y - v[1]) * -x * 0.8] } else { [0.0, 0.0] });
    b.deform(press, mouth_line, |x, _, v| [v[0] * 0.05 * x.max(0.0), 0.0]);
    let puff = b.param("CheekPuffC", [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[0.0, 1.0], None);
    b.deform(puff, face, |x, _, v| {
        let w = (1.0 - ((v[1] - -200.0) / 120.0).powi(2)).max(0.0);
        [v[0].signum() * 10.0 * x * w, 0.0]
    });
    let blush_p = b.param("Blush", [0.0, 0.0], [1.0, 0.0], [0.0, 0.0], &[0.0, 1.0], None);
    b.bind(blush_p, blush, Target::Opacity, |x, _| x);

    // Hair swing, driven by physics from the head's motion.
    let sway = b.param("Hair Sway", [-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], &[-1.0, 0.0, 1.0], Some(&[-1.0, 0.0, 1.0]));
    b.deform(sway, bangs, |x, _, v| [x * 14.0 * ((v[1] + 560.0) / 200.0).clamp(0.0, 1.0), 0.0]);
    for &(_, lock) in &locks {
        b.deform(sway, lock, |x, y, v| {
            let t = ((v[1] + 540.0) / 640.0).clamp(0.0, 1.0);
            [x * 60.0 * t * t, y * 20.0 * t * t]
        });
    }
    b.deform(sway, hair_back, |x, y, v| {
        let t = ((v[1] + 300.0) / 600.0).clamp(0.0, 1.0);
        [x * 40.0 * t * t, y * 10.0 * t]
    });
    let sway_uuid = b.params[sway.0].uuid;
    b.nodes[physics.0].1.kind = NodeKind::SimplePhysics(SimplePhysics {
        param: sway_uuid,
        model: PhysicsModel::Pendulum,
        map_mode: PhysicsMapMode::AngleLength,
        gravity: 1.0,
        length: 300.0,
        frequency: 1.2,
        angle_damping: 0.35,
        length_damping: 0.5,
        output_scale: [1.5, 1.0],
    });
    b.finish()
}

trait Shell {
    /// The ring `width` wide just inside this shape's edge.
    fn clone_shell(self, width: f32) -> impl Fn(f32, f32) -> f32;
}

impl<F: Fn(f32, f32) -> f32> Shell for F {
    fn clone_shell(self, width: f32) -> impl Fn(f32, f32) -> f32 {
        move |x, y| {
            let d = self(x, y);
            d.max(-(d + width))
        }
    }
}
