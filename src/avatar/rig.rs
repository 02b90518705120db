//! Rig evaluation on the CPU: parameter values → keyform interpolation → node offsets → world transforms →
//! deformed vertices, collected into a [`Scene`] the renderer draws as is.
//!
//! Everything that does not change per frame (the flattened tree, filled keyform grids, mesh-group weights,
//! draw order inputs) is prepared once in [`Rig::new`]; a frame only does arithmetic into reused buffers.

use std::collections::HashMap;

use super::model::{
    BlendMode, Interpolation, Look, MaskMode, Mesh, NONE_ID, NodeKind, Param, Puppet, Target, Transform, Values,
};
use super::physics::Pendulum;

/// A vertex as the GPU reads it: world position in puppet pixels (y down) and texture coordinate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Vertex {
    pub pos: [f32; 2],
    pub uv: [f32; 2],
}

/// A range of the scene's index buffer with the texture it samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub first_index: u32,
    pub index_count: u32,
    /// Index into the puppet's textures; `None` draws nothing visible (but still masks).
    pub texture: Option<u32>,
}

/// A stencil source: where `geometry`'s texture alpha passes `threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskDraw {
    pub geometry: Geometry,
    pub threshold: f32,
    pub dodge: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartDraw {
    pub geometry: Geometry,
    pub blend: BlendMode,
    pub tint: [f32; 3],
    pub screen_tint: [f32; 3],
    pub opacity: f32,
    pub masks: Vec<MaskDraw>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Draw {
    Part(PartDraw),
    /// Children drawn into an offscreen layer, then the layer blended with the composite's look and masks.
    Composite {
        parts: Vec<PartDraw>,
        blend: BlendMode,
        tint: [f32; 3],
        screen_tint: [f32; 3],
        opacity: f32,
        masks: Vec<MaskDraw>,
    },
}

/// One frame of the puppet, ready to draw in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scene {
    pub vertices: Vec<Vertex>,
    pub indices: Vec<u32>,
    pub draws: Vec<Draw>,
    /// The rest pose's bounding box (min x, min y, max x, max y): what the camera frames, steady across frames.
    pub bounds: [f32; 4],
}

/// A 2D affine matrix: x' = a·x + c·y + tx, y' = b·x + d·y + ty.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Affine {
    a: f32,
    b: f32,
    c: f32,
    d: f32,
    tx: f32,
    ty: f32,
}

impl Affine {
    const IDENTITY: Affine = Affine { a: 1.0, b: 0.0, c: 0.0, d: 1.0, tx: 0.0, ty: 0.0 };
    fn trs(t: [f32; 2], angle: f32, s: [f32; 2]) -> Affine {
        let (sin, cos) = angle.sin_cos();
        Affine { a: cos * s[0], b: sin * s[0], c: -sin * s[1], d: cos * s[1], tx: t[0], ty: t[1] }
    }
    fn then(&self, inner: &Affine) -> Affine {
        // self ∘ inner
        Affine {
            a: self.a * inner.a + self.c * inner.b,
            b: self.b * inner.a + self.d * inner.b,
            c: self.a * inner.c + self.c * inner.d,
            d: self.b * inner.c + self.d * inner.d,
            tx: self.a * inner.tx + self.c * inner.ty + self.tx,
            ty: self.b * inner.tx + self.d * inner.ty + self.ty,
        }
    }
    fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [self.a * p[0] + self.c * p[1] + self.tx, self.b * p[0] + self.d * p[1] + self.ty]
    }
    fn apply_vector(&self, v: [f32; 2]) -> [f32; 2] {
        [self.a * v[0] + self.c * v[1], self.b * v[0] + self.d * v[1]]
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Plain,
    Part { mesh: Mesh, texture: Option<u32>, look: Look, composite: Option<usize> },
    Composite { look: Look },
    MeshGroup { mesh: Mesh },
    Physics(Box<Pendulum>, Option<usize>),
}

#[derive(Debug, Clone)]
struct RigNode {
    parent: Option<usize>,
    uuid: u32,
    /// False when this node or an ancestor is disabled.
    enabled: bool,
    zsort: f32,
    transform: Transform,
    lock_to_root: bool,
    kind: Kind,
    /// For parts inside a mesh group: per vertex, the group and its three vertices with barycentric weights.
    warp: Vec<Option<(usize, [u32; 3], [f32; 3])>>,
}

/// A binding with its keyform grid filled where the rigger left keyforms unset.
#[derive(Debug, Clone)]
struct RigBinding {
    node: usize,
    target: Target,
    interpolation: Interpolation,
    scalars: Vec<Vec<f32>>,
    deforms: Vec<Vec<Vec<[f32; 2]>>>,
}

#[derive(Debug, Clone)]
struct RigParam {
    name: String,
    min: [f32; 2],
    max: [f32; 2],
    defaults: [f32; 2],
    is_vec2: bool,
    axis: [Vec<f32>; 2],
    bindings: Vec<RigBinding>,
}

#[derive(Debug, Clone, Copy)]
struct Offsets {
    t: [f32; 3],
    r: [f32; 3],
    s: [f32; 2],
    opacity: f32,
    zsort: f32,
}

const NO_OFFSETS: Offsets = Offsets { t: [0.0; 3], r: [0.0; 3], s: [1.0; 2], opacity: 1.0, zsort: 0.0 };

/// A puppet ready to evaluate frame after frame.
pub struct Rig {
    nodes: Vec<RigNode>,
    params: Vec<RigParam>,
    param_index: HashMap<String, usize>,
    values: Vec<[f32; 2]>,
    physics_out: Vec<[f32; 2]>,
    offsets: Vec<Offsets>,
    deforms: Vec<Vec<[f32; 2]>>,
    world: Vec<Affine>,
    zsorts: Vec<f32>,
    order: Vec<usize>,
    first_vertex: Vec<u32>,
    first_index: Vec<u32>,
    scene: Scene,
}

fn fill_unset<T: Clone>(grid: &mut [Vec<T>], set: &[Vec<bool>], default: T) {
    // Unset keyforms take the nearest set keyform along x, then along y, else the neutral value.
    let nx = grid.len();
    let ny = grid.first().map_or(0, Vec::len);
    let orig: Vec<Vec<T>> = grid.to_vec();
    for x in 0..nx {
        for y in 0..ny {
            if set.get(x).and_then(|c| c.get(y)).copied().unwrap_or(false) {
                continue;
            }
            let by_x = (1..nx)
                .flat_map(|d| [x.checked_sub(d), Some(x + d)])
                .flatten()
                .find(|&xx| xx < nx && set.get(xx).and_then(|c| c.get(y)).copied().unwrap_or(false));
            let by_y = (1..ny)
                .flat_map(|d| [y.checked_sub(d), Some(y + d)])
                .flatten()
                .find(|&yy| yy < ny && set.get(x).and_then(|c| c.get(yy)).copied().unwrap_or(false));
            grid[x][y] = match (by_x, by_y) {
                (Some(xx), _) => orig[xx][y].clone(),
                (None, Some(yy)) => orig[x][yy].clone(),
                _ => default.clone(),
            };
        }
    }
}

/// Where `v` falls on the ascending `axis`: the lower keyform index and the fraction towards the next.
fn locate(axis: &[f32], v: f32, interpolation: Interpolation) -> (usize, f32) {
    if axis.len() < 2 || v <= axis[0] {
        return (0, 0.0);
    }
    let last = axis.len() - 1;
    if v >= axis[last] {
        return (last - 1, 1.0);
    }
    let i = axis.partition_point(|&a| a <= v).saturating_sub(1).min(last - 1);
    let span = axis[i + 1] - axis[i];
    let t = if span > 0.0 { (v - axis[i]) / span } else { 0.0 };
    match interpolation {
        Interpolation::Linear => (i, t),
        Interpolation::Nearest => (i, if t < 0.5 { 0.0 } else { 1.0 }),
    }
}

fn barycentric(p: [f32; 2], a: [f32; 2], b: [f32; 2], c: [f32; 2]) -> Option<[f32; 3]> {
    let det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
    if det.abs() < 1e-9 {
        return None;
    }
    let l1 = ((b[1] - c[1]) * (p[0] - c[0]) + (c[0] - b[0]) * (p[1] - c[1])) / det;
    let l2 = ((c[1] - a[1]) * (p[0] - c[0]) + (a[0] - c[0]) * (p[1] - c[1])) / det;
    let l3 = 1.0 - l1 - l2;
    (l1 >= -1e-4 && l2 >= -1e-4 && l3 >= -1e-4).then_some([l1, l2, l3])
}

impl Rig {
    pub fn new(puppet: &Puppet) -> Rig {
        let mut nodes: Vec<RigNode> = Vec::new();
        let mut uuid_index: HashMap<u32, usize> = HashMap::new();
        fn flatten(
            n: &super::model::Node,
            parent: Option<usize>,
            parent_enabled: bool,
            composite: Option<usize>,
            p: &Puppet,
            nodes: &mut Vec<RigNode>,
            uuid_index: &mut HashMap<u32, usize>,
        ) {
            let me = nodes.len();
            let enabled = parent_enabled && n.enabled;
            let kind = match &n.kind {
                NodeKind::Node => Kind::Plain,
                NodeKind::Part { mesh, textures, look } => Kind::Part {
                    mesh: mesh.clone(),
                    texture: textures.first().copied().filter(|&t| t != NONE_ID),
                    look: look.clone(),
                    composite,
                },
                NodeKind::Composite { look } => Kind::Composite { look: look.clone() },
                NodeKind::MeshGroup { mesh } => Kind::MeshGroup { mesh: mesh.clone() },
                NodeKind::SimplePhysics(s) => {
                    Kind::Physics(Box::new(Pendulum::new(s.clone(), p.gravity, p.pixels_per_meter)), None)
                }
            };
            let is_composite = matches!(kind, Kind::Composite { .. });
            nodes.push(RigNode {
                parent,
                uuid: n.uuid,
                enabled,
                zsort: n.zsort,
                transform: n.transform,
                lock_to_root: n.lock_to_root,
                kind,
                warp: Vec::new(),
            });
            uuid_index.entry(n.uuid).or_insert(me);
            // Nested composites draw into their outer composite's layer.
            let child_composite = if is_composite && composite.is_none() { Some(me) } else { composite };
            for c in &n.children {
                flatten(c, Some(me), enabled, child_composite, p, nodes, uuid_index);
            }
        }
        flatten(&puppet.root, None, true, None, puppet, &mut nodes, &mut uuid_index);

        let mut param_index = HashMap::new();
        let params: Vec<RigParam> = puppet
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                param_index.entry(p.name.clone()).or_insert(i);
                rig_param(p, &uuid_index)
            })
            .collect();
        for n in &mut nodes {
            if let Kind::Physics(pend, target) = &mut n.kind {
                *target = puppet.params.iter().position(|p| p.uuid == pend.settings.param);
            }
        }
        let values = params.iter().map(|p| p.defaults).collect();
        let count = nodes.len();
        let mut rig = Rig {
            physics_out: vec![[0.0; 2]; params.len()],
            params,
            param_index,
            values,
            offsets: vec![NO_OFFSETS; count],
            deforms: nodes
                .iter()
                .map(|n| match &n.kind {
                    Kind::Part { mesh, .. } | Kind::MeshGroup { mesh } => vec![[0.0; 2]; mesh.verts.len()],
                    _ => Vec::new(),
                })
                .collect(),
            world: vec![Affine::IDENTITY; count],
            zsorts: vec![0.0; count],
            order: Vec::new(),
            first_vertex: vec![0; count],
            first_index: vec![0; count],
            scene: Scene::default(),
            nodes,
        };
        rig.prepare_mesh_groups();
        rig.evaluate_without_physics();
        rig.scene.bounds = rig.rest_bounds();
        rig
    }

    /// Parts under a mesh group follow its deformation: find each vertex's rest triangle in the group.
    fn prepare_mesh_groups(&mut self) {
        self.compute_world();
        for i in 0..self.nodes.len() {
            let Kind::Part { mesh, .. } = &self.nodes[i].kind else { continue };
            let mut group = self.nodes[i].parent;
            while let Some(g) = group {
                if matches!(self.nodes[g].kind, Kind::MeshGroup { .. }) {
                    break;
                }
                group = self.nodes[g].parent;
            }
            let Some(g) = group else { continue };
            let Kind::MeshGroup { mesh: gm } = &self.nodes[g].kind else { continue };
            let gw = &self.world[g];
            let gverts: Vec<[f32; 2]> = gm.verts.iter().map(|&v| gw.apply(v)).collect();
            let pw = &self.world[i];
            let warp = mesh
                .verts
                .iter()
                .map(|&v| {
                    let p = pw.apply(v);
                    gm.indices.chunks_exact(3).find_map(|t| {
                        let tri = [t[0], t[1], t[2]];
                        let w = barycentric(p, gverts[t[0] as usize], gverts[t[1] as usize], gverts[t[2] as usize])?;
                        Some((g, tri, w))
                    })
                })
                .collect();
            self.nodes[i].warp = warp;
        }
    }

    fn rest_bounds(&self) -> [f32; 4] {
        let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for v in &self.scene.vertices {
            b[0] = b[0].min(v.pos[0]);
            b[1] = b[1].min(v.pos[1]);
            b[2] = b[2].max(v.pos[0]);
            b[3] = b[3].max(v.pos[1]);
        }
        if b[0] > b[2] { [-1.0, -1.0, 1.0, 1.0] } else { b }
    }

    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| p.name.as_str())
    }

    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.param_index.get(name).copied()
    }

    /// (min, max, default, is 2D) of a parameter.
    pub fn param_range(&self, index: usize) -> Option<([f32; 2], [f32; 2], [f32; 2], bool)> {
        self.params.get(index).map(|p| (p.min, p.max, p.defaults, p.is_vec2))
    }

    pub fn param_count(&self) -> usize {
        self.params.len()
    }

    pub fn value(&self, index: usize) -> [f32; 2] {
        self.values.get(index).copied().unwrap_or_default()
    }

    /// Sets a parameter (clamped to its range); out-of-range indices are ignored.
    pub fn set_value(&mut self, index: usize, v: [f32; 2]) {
        if let (Some(p), Some(slot)) = (self.params.get(index), self.values.get_mut(index)) {
            *slot = [v[0].clamp(p.min[0], p.max[0]), v[1].clamp(p.min[1], p.max[1])];
        }
    }

    /// Every parameter back to its default.
    pub fn reset(&mut self) {
        for (v, p) in self.values.iter_mut().zip(&self.params) {
            *v = p.defaults;
        }
    }

    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// Steps physics by `dt` seconds and evaluates the frame.
    pub fn update(&mut self, dt: f32) -> &Scene {
        self.evaluate_without_physics();
        // Physics reads where its anchors are now and feeds the parameter it drives from the next frame on.
        for v in &mut self.physics_out {
            *v = [0.0; 2];
        }
        for i in 0..self.nodes.len() {
            let anchor = [self.world[i].tx, self.world[i].ty];
            let enabled = self.nodes[i].enabled;
            if let Kind::Physics(p, Some(target)) = &mut self.nodes[i].kind
                && enabled
            {
                let out = p.step(anchor, dt);
                let o = &mut self.physics_out[*target];
                o[0] += out[0];
                o[1] += out[1];
            }
        }
        self.evaluate_without_physics();
        &self.scene
    }

    /// Evaluates without stepping physics (for still frames).
    pub fn evaluate(&mut self) -> &Scene {
        self.evaluate_without_physics();
        &self.scene
    }

    fn apply_params(&mut self) {
        for o in &mut self.offsets {
            *o = NO_OFFSETS;
        }
        for d in &mut self.deforms {
            d.fill([0.0; 2]);
        }
        for (pi, p) in self.params.iter().enumerate() {
            let raw = self.values[pi];
            let out = self.physics_out[pi];
            let mut norm = [0.0f32; 2];
            for k in 0..2 {
                let v = (raw[k] + out[k]).clamp(p.min[k], p.max[k]);
                let span = p.max[k] - p.min[k];
                norm[k] = if span > 0.0 { (v - p.min[k]) / span } else { 0.0 };
            }
            if !p.is_vec2 {
                norm[1] = 0.0;
            }
            for b in &p.bindings {
                let (x0, tx) = locate(&p.axis[0], norm[0], b.interpolation);
                let (y0, ty) = locate(&p.axis[1], norm[1], b.interpolation);
                let x1 = (x0 + 1).min(p.axis[0].len() - 1);
                let y1 = (y0 + 1).min(p.axis[1].len() - 1);
                let w = [(1.0 - tx) * (1.0 - ty), tx * (1.0 - ty), (1.0 - tx) * ty, tx * ty];
                let cells = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)];
                if b.target == Target::Deform {
                    let d = &mut self.deforms[b.node];
                    for (k, &(x, y)) in cells.iter().enumerate() {
                        if w[k] == 0.0 {
                            continue;
                        }
                        let cell = &b.deforms[x][y];
                        for (acc, off) in d.iter_mut().zip(cell) {
                            acc[0] += off[0] * w[k];
                            acc[1] += off[1] * w[k];
                        }
                    }
                    continue;
                }
                let v: f32 = cells.iter().zip(w).map(|(&(x, y), w)| b.scalars[x][y] * w).sum();
                let o = &mut self.offsets[b.node];
                match b.target {
                    Target::TranslateX => o.t[0] += v,
                    Target::TranslateY => o.t[1] += v,
                    Target::TranslateZ => o.t[2] += v,
                    Target::RotateX => o.r[0] += v,
                    Target::RotateY => o.r[1] += v,
                    Target::RotateZ => o.r[2] += v,
                    Target::ScaleX => o.s[0] *= v,
                    Target::ScaleY => o.s[1] *= v,
                    Target::Opacity => o.opacity *= v,
                    Target::ZSort => o.zsort += v,
                    Target::Deform => {}
                }
            }
        }
    }

    fn compute_world(&mut self) {
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            let o = &self.offsets[i];
            let t = &n.transform;
            let local = Affine::trs(
                [t.trans[0] + o.t[0], t.trans[1] + o.t[1]],
                t.rot[2] + o.r[2],
                [t.scale[0] * o.s[0], t.scale[1] * o.s[1]],
            );
            let (parent_world, parent_z) = match n.parent {
                Some(p) if !n.lock_to_root => (self.world[p], self.zsorts[p]),
                Some(p) => (Affine::IDENTITY, self.zsorts[p]),
                None => (Affine::IDENTITY, 0.0),
            };
            self.world[i] = parent_world.then(&local);
            self.zsorts[i] = parent_z + n.zsort + o.zsort;
        }
    }

    fn evaluate_without_physics(&mut self) {
        self.apply_params();
        self.compute_world();
        let scene = &mut self.scene;
        scene.vertices.clear();
        scene.indices.clear();
        scene.draws.clear();
        // Geometry of every part (drawn or only used as a mask), in tree order.
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            let Kind::Part { mesh, .. } = &n.kind else { continue };
            let base = scene.vertices.len() as u32;
            self.first_vertex[i] = base;
            self.first_index[i] = scene.indices.len() as u32;
            let w = &self.world[i];
            let d = &self.deforms[i];
            for (k, (&v, &uv)) in mesh.verts.iter().zip(&mesh.uvs).enumerate() {
                let off = d.get(k).copied().unwrap_or_default();
                let mut p = w.apply([v[0] + off[0], v[1] + off[1]]);
                if let Some(Some((g, tri, bw))) = n.warp.get(k) {
                    let gd = &self.deforms[*g];
                    let mut dv = [0.0f32; 2];
                    for j in 0..3 {
                        let o = gd.get(tri[j] as usize).copied().unwrap_or_default();
                        dv[0] += o[0] * bw[j];
                        dv[1] += o[1] * bw[j];
                    }
                    let dv = self.world[*g].apply_vector(dv);
                    p[0] += dv[0];
                    p[1] += dv[1];
                }
                scene.vertices.push(Vertex { pos: p, uv });
            }
            scene.indices.extend(mesh.indices.iter().map(|&ix| ix + base));
        }
        let geometry = |i: usize, nodes: &[RigNode], first_index: &[u32]| -> Option<Geometry> {
            match &nodes[i].kind {
                Kind::Part { mesh, texture, .. } => Some(Geometry {
                    first_index: first_index[i],
                    index_count: mesh.indices.len() as u32,
                    texture: *texture,
                }),
                _ => None,
            }
        };
        let uuid_to_index = |uuid: u32, nodes: &[RigNode]| nodes.iter().position(|n| n.uuid == uuid);
        let masks_of = |look: &Look, nodes: &[RigNode], first_index: &[u32]| -> Vec<MaskDraw> {
            look.masks
                .iter()
                .filter_map(|m| {
                    let src = uuid_to_index(m.source, nodes)?;
                    let threshold = match &nodes[src].kind {
                        Kind::Part { look, .. } => look.mask_threshold,
                        _ => 0.5,
                    };
                    Some(MaskDraw {
                        geometry: geometry(src, nodes, first_index)?,
                        threshold,
                        dodge: m.mode == MaskMode::DodgeMask,
                    })
                })
                .collect()
        };
        // Top-level drawables (parts outside composites, and composites), back to front: higher zsort is further.
        self.order.clear();
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.enabled {
                continue;
            }
            match &n.kind {
                Kind::Part { composite: None, .. } | Kind::Composite { .. } => self.order.push(i),
                _ => {}
            }
        }
        let zs = &self.zsorts;
        self.order.sort_by(|&a, &b| zs[b].total_cmp(&zs[a]));
        let part_draw = |i: usize, nodes: &[RigNode], offsets: &[Offsets], first_index: &[u32]| -> Option<PartDraw> {
            let Kind::Part { look, .. } = &nodes[i].kind else { return None };
            Some(PartDraw {
                geometry: geometry(i, nodes, first_index)?,
                blend: look.blend,
                tint: look.tint,
                screen_tint: look.screen_tint,
                opacity: (look.opacity * offsets[i].opacity).clamp(0.0, 1.0),
                masks: masks_of(look, nodes, first_index),
            })
        };
        for &i in &self.order {
            match &self.nodes[i].kind {
                Kind::Part { .. } => {
                    if let Some(d) = part_draw(i, &self.nodes, &self.offsets, &self.first_index)
                        && d.opacity > 0.0
                    {
                        scene.draws.push(Draw::Part(d));
                    }
                }
                Kind::Composite { look } => {
                    let mut members: Vec<usize> = (0..self.nodes.len())
                        .filter(|&j| {
                            self.nodes[j].enabled
                                && matches!(self.nodes[j].kind, Kind::Part { composite: Some(c), .. } if c == i)
                        })
                        .collect();
                    members.sort_by(|&a, &b| zs[b].total_cmp(&zs[a]));
                    let parts: Vec<PartDraw> = members
                        .into_iter()
                        .filter_map(|j| part_draw(j, &self.nodes, &self.offsets, &self.first_index))
                        .filter(|d| d.opacity > 0.0)
                        .collect();
                    let opacity = (look.opacity * self.offsets[i].opacity).clamp(0.0, 1.0);
                    if !parts.is_empty() && opacity > 0.0 {
                        scene.draws.push(Draw::Composite {
                            parts,
                            blend: look.blend,
                            tint: look.tint,
                            screen_tint: look.screen_tint,
                            opacity,
                            masks: masks_of(look, &self.nodes, &self.first_index),
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

fn rig_param(p: &Param, uuid_index: &HashMap<u32, usize>) -> RigParam {
    let nx = p.axis_points[0].len();
    let ny = p.axis_points[1].len();
    let bindings = p
        .bindings
        .iter()
        .filter_map(|b| {
            let node = *uuid_index.get(&b.node)?;
            let mut rb = RigBinding {
                node,
                target: b.target,
                interpolation: b.interpolation,
                scalars: Vec::new(),
                deforms: Vec::new(),
            };
            match &b.values {
                Values::Scalar(grid) => {
                    let neutral = match b.target {
                        Target::ScaleX | Target::ScaleY | Target::Opacity => 1.0,
                        _ => 0.0,
                    };
                    let mut g = grid.clone();
                    fill_unset(&mut g, &b.is_set, neutral);
                    rb.scalars = g;
                }
                Values::Deform(grid) => {
                    let mut g = grid.clone();
                    fill_unset(&mut g, &b.is_set, Vec::new());
                    rb.deforms = g;
                }
            }
            // The loader checked shapes; guard anyway so evaluation can index freely.
            let ok = match b.target {
                Target::Deform => rb.deforms.len() == nx && rb.deforms.iter().all(|c| c.len() == ny),
                _ => rb.scalars.len() == nx && rb.scalars.iter().all(|c| c.len() == ny),
            };
            ok.then_some(rb)
        })
        .collect();
    RigParam {
        name: p.name.clone(),
        min: p.min,
        max: p.max,
        defaults: p.defaults,
        is_vec2: p.is_vec2,
        axis: p.axis_points.clone(),
        bindings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_linear_and_nearest() {
        let axis = [0.0, 0.5, 1.0];
        assert_eq!(locate(&axis, 0.25, Interpolation::Linear), (0, 0.5));
        assert_eq!(locate(&axis, 0.75, Interpolation::Linear), (1, 0.5));
        assert_eq!(locate(&axis, 0.2, Interpolation::Nearest), (0, 0.0));
        assert_eq!(locate(&axis, 0.3, Interpolation::Nearest), (0, 1.0));
        assert_eq!(locate(&axis, 2.0, Interpolation::Linear), (1, 1.0));
        assert_eq!(locate(&[0.0], 0.7, Interpolation::Linear), (0, 0.0));
    }

    #[test]
    fn unset_keyforms_take_neighbours() {
        let mut g = vec![vec![1.0], vec![0.0], vec![3.0]];
        fill_unset(&mut g, &[vec![true], vec![false], vec![true]], 0.0);
        assert_eq!(g[1][0], 1.0);
    }
}
