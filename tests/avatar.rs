//! Avatar and renderer tests on the software adapter (lavapipe): the default avatar renders, lip-sync's mouth
//! changes only the mouth, blinking closes both eyes, masks clip, each blend mode matches a hand-computed pixel,
//! composites blend as one layer, the background stays transparent; the loader reads every node type, parameter
//! shape and binding kind from hand-built INP files and survives corrupted and truncated ones.
//!
//! Golden image: `tests/golden/mira_270x480.png`. After an intended change to the default avatar or the
//! renderer, regenerate it with
//! `PERSONA_UPDATE_GOLDEN=1 cargo test --test avatar golden` and look at the new PNG before committing it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use persona::avatar::format::{self, TextureEncoding};
use persona::avatar::model::*;
use persona::avatar::{Avatar, DEFAULT_PUPPET, Puppet};
use persona::config::AvatarSettings;
use persona::render::{Frame, Gpu, Renderer};

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new().expect("a wgpu adapter (lavapipe: mesa-vulkan-drivers)"))
}

fn still_default() -> Avatar {
    Avatar::still(Puppet::from_bytes(DEFAULT_PUPPET).expect("default puppet loads"), &AvatarSettings::default())
}

fn render(avatar: &mut Avatar, w: u32, h: u32) -> (Frame, Renderer) {
    let mut r = Renderer::new(gpu(), w, h).unwrap();
    r.set_textures(&avatar.puppet.textures);
    let scene = avatar.update(0.0).clone();
    (r.render_frame(&scene).unwrap(), r)
}

fn region(r: &Renderer, bounds: [f32; 4], a: [f32; 2], b: [f32; 2]) -> [u32; 4] {
    let p = r.project(bounds, a);
    let q = r.project(bounds, b);
    [p[0].floor() as u32, p[1].floor() as u32, q[0].ceil() as u32, q[1].ceil() as u32]
}

fn changed(a: &Frame, b: &Frame) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for y in 0..a.height {
        for x in 0..a.width {
            let (p, q) = (a.pixel(x, y), b.pixel(x, y));
            if p.iter().zip(q).any(|(u, v)| u.abs_diff(v) > 8) {
                out.push((x, y));
            }
        }
    }
    out
}

#[test]
fn default_avatar_renders_on_a_transparent_background() {
    let mut a = still_default();
    let (f, _) = render(&mut a, 270, 480);
    let opaque = f.rgba.chunks_exact(4).filter(|p| p[3] == 255).count();
    let total = (f.width * f.height) as usize;
    assert!(opaque > total / 3, "the character covers a good part of the frame ({opaque} of {total})");
    for (x, y) in [(0, 0), (269, 0), (0, 479), (269, 479), (3, 100)] {
        assert_eq!(f.pixel(x, y), [0, 0, 0, 0], "nothing drawn at ({x},{y}) must be transparent");
    }
    // Skin in the middle of the face, hair above it.
    let names: Vec<&str> = a.rig.param_names().collect();
    for p in ["MouthOpenY", "EyeOpenLeft", "EyeOpenRight", "MouthForm", "Head:: Yaw-Pitch", "Hair Sway", "Blush"] {
        assert!(names.contains(&p), "default avatar has {p}");
    }
}

#[test]
fn mouth_open_changes_the_mouth_region_only() {
    let mut a = still_default();
    let (closed, r) = render(&mut a, 270, 480);
    assert!(a.set("MouthOpenY", 1.0));
    let (open, _) = render(&mut a, 270, 480);
    let bounds = a.rig.scene().bounds;
    let diff = changed(&closed, &open);
    assert!(diff.len() > 40, "opening the mouth changes pixels ({} changed)", diff.len());
    let m = region(&r, bounds, [-70.0, -185.0], [70.0, -80.0]);
    for &(x, y) in &diff {
        assert!(x >= m[0] && x <= m[2] && y >= m[1] && y <= m[3], "pixel ({x},{y}) outside the mouth {m:?} changed");
    }
}

fn white_pixels(f: &Frame, r: [u32; 4]) -> usize {
    let mut n = 0;
    for y in r[1]..=r[3].min(f.height - 1) {
        for x in r[0]..=r[2].min(f.width - 1) {
            let p = f.pixel(x, y);
            if p[0] > 225 && p[1] > 225 && p[2] > 225 && p[3] == 255 {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn blink_closes_both_eyes() {
    let settings = AvatarSettings { idle_motion: false, breathing: false, physics: false, ..Default::default() };
    let mut a = Avatar::new(Puppet::from_bytes(DEFAULT_PUPPET).unwrap(), &settings);
    let mut r = Renderer::new(gpu(), 270, 480).unwrap();
    r.set_textures(&a.puppet.textures);
    let open = r.render_frame(&a.update(0.0).clone()).unwrap();
    let bounds = a.rig.scene().bounds;
    let left = region(&r, bounds, [-165.0, -350.0], [-25.0, -250.0]);
    let right = region(&r, bounds, [25.0, -350.0], [165.0, -250.0]);
    assert!(white_pixels(&open, left) > 20 && white_pixels(&open, right) > 20, "eyes are open at rest");
    a.motion.blink_now();
    // 80 ms in: past the 60 ms close, inside the 50 ms hold.
    a.update(0.04);
    let closed = r.render_frame(&a.update(0.04).clone()).unwrap();
    assert_eq!(white_pixels(&closed, left), 0, "left eye closed");
    assert_eq!(white_pixels(&closed, right), 0, "right eye closed");
    // And they open again.
    for _ in 0..10 {
        a.update(0.05);
    }
    let again = r.render_frame(&a.update(0.0).clone()).unwrap();
    assert!(white_pixels(&again, left) > 20);
}

#[test]
fn lip_sync_and_face_names_map_onto_the_default_avatar() {
    let a = still_default();
    let mapped: BTreeMap<String, String> = a.mapped().into_iter().collect();
    for n in [
        "MouthOpenY",
        "JawOpen",
        "MouthForm",
        "MouthShrug",
        "MouthFunnel",
        "MouthPuckerWiden",
        "MouthPressLipOpen",
        "MouthX",
        "CheekPuffC",
        "EyeOpenLeft",
        "EyeOpenRight",
        "BrowLeftY",
        "AngleX",
        "AngleY",
        "AngleZ",
        "EyeBallX",
    ] {
        assert!(mapped.contains_key(n), "{n} maps onto the default avatar: {mapped:?}");
    }
    assert_eq!(mapped["AngleX"], "Head:: Yaw-Pitch");
    assert_eq!(mapped["EyeBallY"], "Eyes:: Look");
}

#[test]
fn every_emotion_of_the_character_has_an_expression() {
    let toml_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/personas/mira/persona.toml")).unwrap();
    let v: toml::Value = toml::from_str(&toml_text).unwrap();
    let mut a = still_default();
    for (_, name) in v["emotions"].as_table().unwrap() {
        let name = name.as_str().unwrap();
        assert!(a.show_expression(name), "expression {name}");
    }
    // An expression changes the face.
    let mut b = still_default();
    let (neutral, _) = render(&mut b, 135, 240);
    b.show_expression("happy");
    b.update(0.5);
    let (happy, _) = render(&mut b, 135, 240);
    assert!(changed(&neutral, &happy).len() > 10);
}

#[test]
fn physics_swings_the_hair_when_the_head_moves() {
    let settings = AvatarSettings { blink: false, idle_motion: false, breathing: false, ..Default::default() };
    let mut a = Avatar::new(Puppet::from_bytes(DEFAULT_PUPPET).unwrap(), &settings);
    let sway = a.rig.param_index("Hair Sway").unwrap();
    let mut peak = 0.0f32;
    for i in 0..120 {
        a.set("AngleZ", if (i / 20) % 2 == 0 { 1.0 } else { -1.0 });
        a.update(1.0 / 60.0);
        let _ = sway;
        peak = peak.max(a.rig.scene().vertices.iter().map(|v| v.pos[0]).fold(f32::MIN, f32::max));
    }
    let mut still = still_default();
    still.set("AngleZ", 1.0);
    let still_max = still.update(0.0).vertices.iter().map(|v| v.pos[0]).fold(f32::MIN, f32::max);
    assert!(peak > still_max + 2.0, "hair swings out beyond the rigid pose ({peak} vs {still_max})");
}

#[test]
fn golden_image_of_the_default_avatar() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/mira_270x480.png");
    let mut a = still_default();
    a.set("MouthOpenY", 0.4);
    a.set("MouthForm", 0.6);
    let (f, _) = render(&mut a, 270, 480);
    if std::env::var_os("PERSONA_UPDATE_GOLDEN").is_some() {
        f.save_png(std::path::Path::new(path)).unwrap();
        return;
    }
    let golden = image::open(path)
        .expect("golden image missing: PERSONA_UPDATE_GOLDEN=1 cargo test --test avatar golden")
        .to_rgba8();
    assert_eq!((golden.width(), golden.height()), (f.width, f.height));
    let ours = f.to_straight_rgba();
    let mut bad = 0usize;
    let mut sum = 0u64;
    for (p, q) in ours.chunks_exact(4).zip(golden.as_raw().chunks_exact(4)) {
        // Colour is meaningless where alpha is 0.
        let w = if p[3] == 0 && q[3] == 0 { 0 } else { 1 };
        let d = p.iter().zip(q).map(|(a, b)| a.abs_diff(*b) as u64).max().unwrap_or(0) * w;
        sum += d;
        if d > 24 {
            bad += 1;
        }
    }
    let n = (f.width * f.height) as usize;
    assert!(bad < n / 200, "{bad} pixels differ a lot from the golden image");
    assert!((sum as f64 / n as f64) < 2.0, "mean difference {} from the golden image", sum as f64 / n as f64);
}

// ---- hand-built puppets ----

struct Maker {
    puppet: Puppet,
    next: u32,
}

fn solid_png(rgba: [u8; 4]) -> format::RawTexture {
    let px: Vec<u8> = std::iter::repeat_n(rgba, 16).flatten().collect();
    png_texture(4, 4, &px)
}

fn quad_mesh(r: [f32; 4]) -> Mesh {
    Mesh {
        verts: vec![[r[0], r[1]], [r[2], r[1]], [r[2], r[3]], [r[0], r[3]]],
        uvs: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
        indices: vec![0, 1, 2, 0, 2, 3],
        origin: [0.0, 0.0],
    }
}

impl Maker {
    fn new() -> Maker {
        let root = Node::new(1, "Root", NodeKind::Node);
        Maker {
            puppet: Puppet {
                meta: Default::default(),
                pixels_per_meter: 1000.0,
                gravity: 9.8,
                root,
                params: Vec::new(),
                textures: Vec::new(),
                raw_textures: Vec::new(),
                extensions: Vec::new(),
            },
            next: 10,
        }
    }
    fn texture(&mut self, rgba: [u8; 4]) -> u32 {
        self.puppet.raw_textures.push(solid_png(rgba));
        (self.puppet.raw_textures.len() - 1) as u32
    }
    fn part(&mut self, name: &str, rect: [f32; 4], rgba: [u8; 4], z: f32, look: Look) -> Node {
        let t = self.texture(rgba);
        self.next += 1;
        let mut n = Node::new(self.next, name, NodeKind::Part { mesh: quad_mesh(rect), textures: vec![t], look });
        n.zsort = z;
        n
    }
    fn load(&self) -> Puppet {
        Puppet::from_bytes(&self.puppet.to_bytes()).expect("hand-built puppet loads")
    }
}

fn render_puppet(p: Puppet, w: u32, h: u32) -> Frame {
    let mut a = Avatar::still(p, &AvatarSettings::default());
    render(&mut a, w, h).0
}

fn close(got: [u8; 4], want: [f32; 4], what: &str) {
    for k in 0..4 {
        let w = (want[k].clamp(0.0, 1.0) * 255.0).round();
        assert!((got[k] as f32 - w).abs() <= 3.0, "{what}: got {got:?}, want {:?}", want.map(|v| (v * 255.0).round()));
    }
}

#[test]
fn each_blend_mode_matches_a_hand_computed_pixel() {
    // Below: opaque (0.2, 0.5, 0.8). Above: straight (0.6, 0.4, 0.2) at alpha 0.8 → premultiplied cs.
    let (d, a_s) = ([0.2f32, 0.5, 0.8], 200.0 / 255.0);
    let src = [153u8, 102, 51, 200];
    let s: Vec<f32> = (0..3).map(|k| (src[k] as f32 / 255.0 * a_s * 255.0).round() / 255.0).collect();
    for mode in BlendMode::ALL {
        let mut m = Maker::new();
        let below = m.part("below", [-10.0, -10.0, 10.0, 10.0], [51, 128, 204, 255], 1.0, Look::default());
        let above = m.part("above", [-10.0, -10.0, 10.0, 10.0], src, 0.0, Look { blend: mode, ..Look::default() });
        m.puppet.root.children = vec![below, above];
        let f = render_puppet(m.load(), 16, 16);
        let dd = [0.2f32, 128.0 / 255.0, 0.8];
        let _ = d;
        let c = |k: usize| -> f32 {
            let (cs, cd) = (s[k], dd[k]);
            match mode {
                BlendMode::Normal => cs + cd * (1.0 - a_s),
                BlendMode::Multiply => cs * cd + cd * (1.0 - a_s),
                BlendMode::ColorDodge => cs * cd + cd,
                BlendMode::LinearDodge | BlendMode::AddGlow => cs + cd,
                BlendMode::Screen => cs + cd * (1.0 - cs),
                BlendMode::Lighten => cs.max(cd),
                BlendMode::Darken => cs.min(cd),
                BlendMode::Subtract => cd - cs,
                BlendMode::Inverse => cs * (1.0 - cd) + cd * (1.0 - a_s),
                BlendMode::DestinationIn => cd * a_s,
                BlendMode::ClipToLower => cs * 1.0 + cd * (1.0 - a_s),
                BlendMode::SliceFromLower => cd * (1.0 - a_s),
            }
        };
        let alpha = match mode {
            BlendMode::DestinationIn => a_s,
            BlendMode::ClipToLower => 1.0,
            BlendMode::SliceFromLower => 1.0 - a_s,
            _ => 1.0,
        };
        close(f.pixel(8, 8), [c(0), c(1), c(2), alpha], mode.name());
    }
}

#[test]
fn masks_clip_and_dodge_masks_cut_out() {
    for dodge in [false, true] {
        let mut m = Maker::new();
        let window = m.part("window", [-3.0, -3.0, 3.0, 3.0], [255, 255, 255, 255], 2.0, Look::default());
        let uuid = window.uuid;
        let mode = if dodge { MaskMode::DodgeMask } else { MaskMode::Mask };
        let look = Look { masks: vec![MaskBinding { source: uuid, mode }], ..Look::default() };
        let blue = m.part("blue", [-10.0, -10.0, 10.0, 10.0], [0, 0, 255, 255], 0.0, look);
        // An invisible-by-opacity frame keeps the camera on the full square.
        m.puppet.root.children = vec![window, blue];
        let f = render_puppet(m.load(), 40, 40);
        let inside = f.pixel(20, 20);
        let outside = f.pixel(4, 20);
        if dodge {
            assert_eq!(inside, [255, 255, 255, 255], "a dodge mask leaves its source showing");
            assert_eq!(outside, [0, 0, 255, 255], "and draws around it");
        } else {
            assert_eq!(inside, [0, 0, 255, 255], "a mask lets the part show inside its source");
            assert_eq!(outside, [0, 0, 0, 0], "and clips it outside");
        }
    }
}

#[test]
fn a_composite_blends_its_parts_as_one_layer() {
    let mut m = Maker::new();
    let mut comp = Node::new(500, "group", NodeKind::Composite { look: Look { opacity: 0.5, ..Look::default() } });
    comp.children = vec![
        m.part("a", [-10.0, -10.0, 4.0, 10.0], [255, 0, 0, 255], 1.0, Look::default()),
        m.part("b", [-4.0, -10.0, 10.0, 10.0], [0, 255, 0, 255], 0.0, Look::default()),
    ];
    m.puppet.root.children = vec![comp];
    let f = render_puppet(m.load(), 40, 40);
    // Overlap: green over red inside the layer, then the layer at half opacity: (0, 0.5, 0, 0.5) premultiplied.
    close(f.pixel(20, 20), [0.0, 0.5, 0.0, 0.5], "overlap");
    close(f.pixel(4, 20), [0.5, 0.0, 0.0, 0.5], "red only");
    assert_eq!(f.pixel(20, 0), [0, 0, 0, 0]);
}

#[test]
fn the_overlay_is_composited_over_the_puppet() {
    let mut m = Maker::new();
    m.puppet.root.children = vec![m.part("a", [-10.0, -10.0, 10.0, 10.0], [255, 0, 0, 255], 0.0, Look::default())];
    let mut a = Avatar::still(m.load(), &AvatarSettings::default());
    let mut r = Renderer::new(gpu(), 8, 8).unwrap();
    r.set_textures(&a.puppet.textures);
    let mut overlay = Frame { width: 8, height: 8, rgba: vec![0; 256] };
    overlay.rgba[(4 * 8 + 4) * 4..(4 * 8 + 4) * 4 + 4].copy_from_slice(&[0, 0, 255, 255]);
    r.set_overlay(Some(&overlay));
    let f = r.render_frame(&a.update(0.0).clone()).unwrap();
    assert_eq!(f.pixel(4, 4), [0, 0, 255, 255]);
    assert_eq!(f.pixel(2, 2), [255, 0, 0, 255]);
}

// ---- loader ----

/// A puppet with every node type, a 1D and a 2D parameter, and every binding kind.
fn everything() -> Maker {
    let mut m = Maker::new();
    let part = m.part("part", [-10.0, -10.0, 10.0, 10.0], [255, 0, 0, 255], 0.0, Look::default());
    let pid = part.uuid;
    let mut group = Node::new(200, "group", NodeKind::MeshGroup { mesh: quad_mesh([-20.0, -20.0, 20.0, 20.0]) });
    group.children.push(part);
    let comp_child = m.part("in composite", [-5.0, -5.0, 5.0, 5.0], [0, 255, 0, 255], -1.0, Look::default());
    let mut comp = Node::new(300, "composite", NodeKind::Composite { look: Look::default() });
    comp.children.push(comp_child);
    let phys = Node::new(
        400,
        "physics",
        NodeKind::SimplePhysics(SimplePhysics {
            param: 901,
            model: PhysicsModel::SpringPendulum,
            map_mode: PhysicsMapMode::XY,
            gravity: 1.0,
            length: 100.0,
            frequency: 1.0,
            angle_damping: 0.5,
            length_damping: 0.5,
            output_scale: [1.0, 1.0],
        }),
    );
    let plain = Node::new(600, "plain", NodeKind::Node);
    m.puppet.root.children = vec![group, comp, phys, plain];
    let scalar = |node, target, vals: Vec<Vec<f32>>, interpolation| Binding {
        node,
        target,
        is_set: vals.iter().map(|c| vec![true; c.len()]).collect(),
        values: Values::Scalar(vals),
        interpolation,
    };
    let one_d = Param {
        uuid: 900,
        name: "Slide".into(),
        is_vec2: false,
        min: [0.0, 0.0],
        max: [1.0, 0.0],
        defaults: [0.0, 0.0],
        axis_points: [vec![0.0, 1.0], vec![0.0]],
        bindings: vec![
            scalar(pid, Target::TranslateX, vec![vec![0.0], vec![4.0]], Interpolation::Linear),
            scalar(pid, Target::TranslateY, vec![vec![0.0], vec![2.0]], Interpolation::Linear),
            scalar(pid, Target::RotateZ, vec![vec![0.0], vec![0.0]], Interpolation::Linear),
            scalar(pid, Target::ScaleX, vec![vec![1.0], vec![2.0]], Interpolation::Nearest),
            scalar(pid, Target::ScaleY, vec![vec![1.0], vec![1.0]], Interpolation::Linear),
            scalar(pid, Target::Opacity, vec![vec![1.0], vec![0.5]], Interpolation::Linear),
            scalar(pid, Target::ZSort, vec![vec![0.0], vec![-3.0]], Interpolation::Linear),
        ],
    };
    let deform: Vec<Vec<Vec<[f32; 2]>>> =
        (0..2).map(|x| (0..2).map(|y| vec![[x as f32 * 10.0, y as f32 * 10.0]; 4]).collect()).collect();
    let two_d = Param {
        uuid: 901,
        name: "Move".into(),
        is_vec2: true,
        min: [-1.0, -1.0],
        max: [1.0, 1.0],
        defaults: [-1.0, -1.0],
        axis_points: [vec![0.0, 1.0], vec![0.0, 1.0]],
        bindings: vec![Binding {
            node: pid,
            target: Target::Deform,
            values: Values::Deform(deform),
            is_set: vec![vec![true, true], vec![true, false]],
            interpolation: Interpolation::Linear,
        }],
    };
    m.puppet.params = vec![one_d, two_d];
    m
}

#[test]
fn loader_reads_every_node_type_parameter_and_binding() {
    let m = everything();
    let p = m.load();
    let kinds: Vec<&str> = p.nodes().iter().map(|n| n.kind.type_name()).collect();
    for k in ["Node", "Part", "Composite", "MeshGroup", "SimplePhysics"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    assert_eq!(p.params.len(), 2);
    assert!(p.params[1].is_vec2);
    let targets: Vec<Target> = p.params.iter().flat_map(|q| q.bindings.iter().map(|b| b.target)).collect();
    for t in [
        Target::TranslateX,
        Target::TranslateY,
        Target::RotateZ,
        Target::ScaleX,
        Target::ScaleY,
        Target::Opacity,
        Target::ZSort,
        Target::Deform,
    ] {
        assert!(targets.contains(&t), "{t:?}");
    }
    assert_eq!(p, Puppet::from_bytes(&p.to_bytes()).unwrap(), "writing and reading back changes nothing");

    // Evaluate: the part's first vertex (-10,-10) under each binding.
    let mut a = Avatar::still(p, &AvatarSettings::default());
    let v0 = |a: &mut Avatar| a.update(0.0).vertices[0].pos;
    assert_eq!(v0(&mut a), [-10.0, -10.0]);
    a.set("Slide", 0.5);
    // translate (2, 1); scale x nearest → 2 at 0.5; deform at (-1,-1) is 0.
    let p0 = v0(&mut a);
    assert!((p0[0] - (-20.0 + 2.0)).abs() < 1e-4 && (p0[1] - (-9.0)).abs() < 1e-4, "{p0:?}");
    a.set("Slide", 0.4);
    let p0 = v0(&mut a);
    assert!((p0[0] - (-10.0 + 1.6)).abs() < 1e-4, "nearest keeps scale 1 below the midpoint: {p0:?}");
    a.release("Slide");
    a.set("Move.x", 1.0);
    a.set("Move.y", -1.0);
    assert_eq!(v0(&mut a), [0.0, -10.0], "deform keyform (1, 0)");
    a.set("Move.y", 1.0);
    // (1,1) was unset: it takes its neighbour along x, (0,1) = (0, 10).
    assert_eq!(v0(&mut a), [-10.0, 0.0], "unset keyform filled from its neighbour");
    a.set("Move.x", 0.0);
    a.set("Move.y", 0.0);
    // Bilinear between (0,0) (0,10) (10,0) (10,10)-filled-as-(0,10): centre = (2.5, 5).
    assert_eq!(v0(&mut a), [-7.5, -5.0]);
}

#[test]
fn unknown_node_types_load_as_plain_nodes() {
    let m = everything();
    let mut json: serde_json::Value = {
        let c = format::read_container(&m.puppet.to_bytes()).unwrap();
        serde_json::from_slice(&c.json).unwrap()
    };
    json["nodes"]["children"][3]["type"] = "Camera".into();
    let mut c = format::read_container(&m.puppet.to_bytes()).unwrap();
    c.json = serde_json::to_vec(&json).unwrap();
    let p = Puppet::from_bytes(&format::write_container(&c)).unwrap();
    assert_eq!(p.root.children[3].kind, NodeKind::Node);
}

fn load_err(bytes: &[u8]) -> String {
    match Puppet::from_bytes(bytes) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_files_say_what_is_wrong() {
    let good = everything().puppet.to_bytes();
    assert!(load_err(b"PK\x03\x04 zip").contains("TRNSRTS"));
    assert!(load_err(&good[..good.len() - 10]).contains("truncated"));
    let mut c = format::read_container(&good).unwrap();
    c.json = b"{ not json".to_vec();
    assert!(load_err(&format::write_container(&c)).contains("JSON"));
    let mut c = format::read_container(&good).unwrap();
    c.textures[0].encoding = TextureEncoding::Bc7;
    assert!(load_err(&format::write_container(&c)).contains("BC7"));
    c.textures[0] = format::RawTexture { encoding: TextureEncoding::Png, data: b"not a png".to_vec() };
    assert!(load_err(&format::write_container(&c)).contains("texture 0"));
    // A deform with the wrong number of offsets names the parameter and the node.
    let mut m = everything();
    if let Values::Deform(d) = &mut m.puppet.params[1].bindings[0].values {
        d[0][0].pop();
    }
    let e = load_err(&m.puppet.to_bytes());
    assert!(e.contains("Move") && e.contains("part"), "{e}");
    // A mask pointing at nothing.
    let mut m = everything();
    if let NodeKind::Part { look, .. } = &mut m.puppet.root.children[0].children[0].kind {
        look.masks.push(MaskBinding { source: 4242, mode: MaskMode::Mask });
    }
    assert!(load_err(&m.puppet.to_bytes()).contains("4242"));
}

#[test]
fn corrupted_and_truncated_files_never_panic() {
    let good = everything().puppet.to_bytes();
    for n in 0..good.len() {
        let _ = Puppet::from_bytes(&good[..n]);
    }
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let mut b = good.clone();
        for _ in 0..(1 + rand() % 4) {
            let i = (rand() as usize) % b.len();
            b[i] = rand() as u8;
        }
        if let Ok(p) = Puppet::from_bytes(&b) {
            // Whatever loads must also evaluate without panicking.
            let mut a = Avatar::still(p, &AvatarSettings::default());
            a.set("Slide", 0.7);
            a.update(0.016);
        }
    }
}

#[test]
fn a_user_parameter_map_routes_our_names_to_the_riggers() {
    let mut m = everything();
    m.puppet.params[0].name = "Kuchi Open".into();
    let mut settings = AvatarSettings::default();
    settings.parameter_map.insert("MouthOpenY".into(), "Kuchi Open".into());
    let mut a =
        Avatar::new(m.load(), &AvatarSettings { blink: false, idle_motion: false, breathing: false, ..settings });
    assert!(a.set("MouthOpenY", 1.0));
    let x = a.update(0.0).vertices[0].pos[0];
    assert!((x - (-20.0 + 4.0)).abs() < 1e-3, "{x}");
}
