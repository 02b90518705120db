//! The puppet as data: the node tree, parameters with their keyform bindings, physics settings and textures,
//! read from (and written to) the Inochi2D JSON schema.
//!
//! Parsing walks `serde_json::Value` by hand rather than deriving, because real files carry many fields we do
//! not use, older files miss some, and an error must say *where* it is ("node \"Eye L\": mesh.verts has an odd
//! number of values") for a rigger to fix it.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value, json};
use thiserror::Error;

use super::format::{self, Container, FormatError, RawTexture, TextureEncoding};

/// Inochi2D's "no texture" / "no node" marker.
pub const NONE_ID: u32 = u32::MAX;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("the puppet's JSON is not valid: {0}")]
    Json(String),
    #[error("{at}: {what}")]
    Schema { at: String, what: String },
    #[error("texture {index}: {what}")]
    Texture { index: usize, what: String },
}

fn schema(at: impl Into<String>, what: impl Into<String>) -> LoadError {
    LoadError::Schema { at: at.into(), what: what.into() }
}

/// How colours combine with what is below (Inochi2D's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlendMode {
    Normal,
    Multiply,
    ColorDodge,
    LinearDodge,
    AddGlow,
    Screen,
    Lighten,
    Darken,
    Subtract,
    Inverse,
    DestinationIn,
    ClipToLower,
    SliceFromLower,
}

impl BlendMode {
    pub const ALL: [BlendMode; 13] = [
        BlendMode::Normal,
        BlendMode::Multiply,
        BlendMode::ColorDodge,
        BlendMode::LinearDodge,
        BlendMode::AddGlow,
        BlendMode::Screen,
        BlendMode::Lighten,
        BlendMode::Darken,
        BlendMode::Subtract,
        BlendMode::Inverse,
        BlendMode::DestinationIn,
        BlendMode::ClipToLower,
        BlendMode::SliceFromLower,
    ];
    pub fn name(self) -> &'static str {
        match self {
            BlendMode::Normal => "Normal",
            BlendMode::Multiply => "Multiply",
            BlendMode::ColorDodge => "ColorDodge",
            BlendMode::LinearDodge => "LinearDodge",
            BlendMode::AddGlow => "AddGlow",
            BlendMode::Screen => "Screen",
            BlendMode::Lighten => "Lighten",
            BlendMode::Darken => "Darken",
            BlendMode::Subtract => "Subtract",
            BlendMode::Inverse => "Inverse",
            BlendMode::DestinationIn => "DestinationIn",
            BlendMode::ClipToLower => "ClipToLower",
            BlendMode::SliceFromLower => "SliceFromLower",
        }
    }
    /// Unknown or shader-only modes (Overlay, SoftLight, ...) fall back to Normal with a warning.
    fn parse(s: &str, at: &str) -> BlendMode {
        match BlendMode::ALL.iter().find(|m| m.name().eq_ignore_ascii_case(s)) {
            Some(m) => *m,
            None => {
                tracing::warn!("{at}: blend mode \"{s}\" is not supported; drawing it as Normal");
                BlendMode::Normal
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskMode {
    /// Draw only where the source is.
    Mask,
    /// Draw only where the source is not.
    DodgeMask,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaskBinding {
    pub source: u32,
    pub mode: MaskMode,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mesh {
    pub verts: Vec<[f32; 2]>,
    pub uvs: Vec<[f32; 2]>,
    pub indices: Vec<u32>,
    pub origin: [f32; 2],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub trans: [f32; 3],
    pub rot: [f32; 3],
    pub scale: [f32; 2],
}

impl Default for Transform {
    fn default() -> Self {
        Transform { trans: [0.0; 3], rot: [0.0; 3], scale: [1.0, 1.0] }
    }
}

/// What a drawable adds on top of a node: how it looks and what clips it.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub blend: BlendMode,
    pub tint: [f32; 3],
    pub screen_tint: [f32; 3],
    pub opacity: f32,
    pub mask_threshold: f32,
    pub masks: Vec<MaskBinding>,
}

impl Default for Look {
    fn default() -> Self {
        Look {
            blend: BlendMode::Normal,
            tint: [1.0; 3],
            screen_tint: [0.0; 3],
            opacity: 1.0,
            mask_threshold: 0.5,
            masks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhysicsModel {
    Pendulum,
    SpringPendulum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhysicsMapMode {
    AngleLength,
    XY,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimplePhysics {
    /// The parameter this physics node drives.
    pub param: u32,
    pub model: PhysicsModel,
    pub map_mode: PhysicsMapMode,
    pub gravity: f32,
    pub length: f32,
    pub frequency: f32,
    pub angle_damping: f32,
    pub length_damping: f32,
    pub output_scale: [f32; 2],
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Node,
    Part { mesh: Mesh, textures: Vec<u32>, look: Look },
    Composite { look: Look },
    MeshGroup { mesh: Mesh },
    SimplePhysics(SimplePhysics),
}

impl NodeKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Node => "Node",
            NodeKind::Part { .. } => "Part",
            NodeKind::Composite { .. } => "Composite",
            NodeKind::MeshGroup { .. } => "MeshGroup",
            NodeKind::SimplePhysics(_) => "SimplePhysics",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub uuid: u32,
    pub name: String,
    pub enabled: bool,
    pub zsort: f32,
    pub transform: Transform,
    pub lock_to_root: bool,
    pub kind: NodeKind,
    pub children: Vec<Node>,
}

impl Node {
    pub fn new(uuid: u32, name: &str, kind: NodeKind) -> Node {
        Node {
            uuid,
            name: name.to_string(),
            enabled: true,
            zsort: 0.0,
            transform: Transform::default(),
            lock_to_root: false,
            kind,
            children: Vec::new(),
        }
    }
}

/// What a binding changes on its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    TranslateX,
    TranslateY,
    TranslateZ,
    RotateX,
    RotateY,
    RotateZ,
    ScaleX,
    ScaleY,
    Opacity,
    ZSort,
    Deform,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::TranslateX => "transform.t.x",
            Target::TranslateY => "transform.t.y",
            Target::TranslateZ => "transform.t.z",
            Target::RotateX => "transform.r.x",
            Target::RotateY => "transform.r.y",
            Target::RotateZ => "transform.r.z",
            Target::ScaleX => "transform.s.x",
            Target::ScaleY => "transform.s.y",
            Target::Opacity => "opacity",
            Target::ZSort => "zSort",
            Target::Deform => "deform",
        }
    }
    fn parse(s: &str) -> Option<Target> {
        [
            Target::TranslateX,
            Target::TranslateY,
            Target::TranslateZ,
            Target::RotateX,
            Target::RotateY,
            Target::RotateZ,
            Target::ScaleX,
            Target::ScaleY,
            Target::Opacity,
            Target::ZSort,
            Target::Deform,
        ]
        .into_iter()
        .find(|t| t.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    Linear,
    Nearest,
}

/// Keyform values on the parameter's grid: `[x][y]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Scalar(Vec<Vec<f32>>),
    Deform(Vec<Vec<Vec<[f32; 2]>>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub node: u32,
    pub target: Target,
    pub values: Values,
    pub is_set: Vec<Vec<bool>>,
    pub interpolation: Interpolation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub uuid: u32,
    pub name: String,
    pub is_vec2: bool,
    pub min: [f32; 2],
    pub max: [f32; 2],
    pub defaults: [f32; 2],
    /// Keyform positions per axis, normalised to 0..1 and ascending.
    pub axis_points: [Vec<f32>; 2],
    pub bindings: Vec<Binding>,
}

/// A decoded texture, RGBA8 with premultiplied alpha (what the renderer blends with).
#[derive(Debug, Clone, PartialEq)]
pub struct Texture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Puppet {
    pub meta: Map<String, Value>,
    pub pixels_per_meter: f32,
    pub gravity: f32,
    pub root: Node,
    pub params: Vec<Param>,
    pub textures: Vec<Texture>,
    /// Textures as stored, for writing the file back unchanged.
    pub raw_textures: Vec<RawTexture>,
    pub extensions: Vec<(String, Vec<u8>)>,
}

impl Puppet {
    pub fn name(&self) -> &str {
        self.meta.get("name").and_then(Value::as_str).unwrap_or("")
    }

    pub fn load(path: &Path) -> Result<Puppet, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.display().to_string(), source })?;
        Puppet::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Puppet, LoadError> {
        let c = format::read_container(bytes)?;
        let json: Value = serde_json::from_slice(&c.json).map_err(|e| LoadError::Json(e.to_string()))?;
        let mut p = parse_puppet(&json)?;
        p.textures = c.textures.iter().enumerate().map(|(i, t)| decode_texture(i, t)).collect::<Result<_, _>>()?;
        p.raw_textures = c.textures;
        p.extensions = c.extensions;
        validate(&p)?;
        Ok(p)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let json = serde_json::to_vec(&self.to_json()).unwrap_or_default();
        format::write_container(&Container {
            json,
            textures: self.raw_textures.clone(),
            extensions: self.extensions.clone(),
        })
    }

    /// Every node in the tree, depth first.
    pub fn nodes(&self) -> Vec<&Node> {
        fn walk<'a>(n: &'a Node, out: &mut Vec<&'a Node>) {
            out.push(n);
            for c in &n.children {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "meta": Value::Object(self.meta.clone()),
            "physics": { "pixelsPerMeter": self.pixels_per_meter, "gravity": self.gravity },
            "nodes": node_json(&self.root),
            "param": self.params.iter().map(param_json).collect::<Vec<_>>(),
            "automation": [],
            "animations": {},
        })
    }
}

/// Decodes PNG/TGA to premultiplied RGBA8.
pub fn decode_texture(index: usize, t: &RawTexture) -> Result<Texture, LoadError> {
    let fmt = match t.encoding {
        TextureEncoding::Png => image::ImageFormat::Png,
        TextureEncoding::Tga => image::ImageFormat::Tga,
        TextureEncoding::Bc7 => {
            return Err(LoadError::Texture {
                index,
                what: "BC7-compressed textures are not supported; re-export the puppet with PNG or TGA textures".into(),
            });
        }
    };
    let img = image::load_from_memory_with_format(&t.data, fmt)
        .map_err(|e| LoadError::Texture { index, what: format!("cannot decode: {e}") })?
        .to_rgba8();
    let (width, height) = img.dimensions();
    let mut rgba = img.into_raw();
    for px in rgba.chunks_exact_mut(4) {
        let a = px[3] as u32;
        for c in &mut px[..3] {
            *c = ((*c as u32 * a + 127) / 255) as u8;
        }
    }
    Ok(Texture { width, height, rgba })
}

/// Encodes straight-alpha RGBA8 as a PNG texture for writing a puppet.
pub fn png_texture(width: u32, height: u32, rgba: &[u8]) -> RawTexture {
    let mut data = Vec::new();
    let enc = image::codecs::png::PngEncoder::new(&mut data);
    use image::ImageEncoder;
    // Writing into a Vec cannot fail for a buffer of the right size.
    let _ = enc.write_image(rgba, width, height, image::ExtendedColorType::Rgba8);
    RawTexture { encoding: TextureEncoding::Png, data }
}

// ---- parsing ----

fn get<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.get(key).filter(|v| !v.is_null())
}

fn f32_of(v: &Value, at: &str, key: &str) -> Result<f32, LoadError> {
    v.as_f64().map(|x| x as f32).ok_or_else(|| schema(at, format!("\"{key}\" must be a number")))
}

fn opt_f32(o: &Map<String, Value>, key: &str, at: &str, default: f32) -> Result<f32, LoadError> {
    match get(o, key) {
        Some(v) => f32_of(v, at, key),
        None => Ok(default),
    }
}

fn opt_bool(o: &Map<String, Value>, key: &str, default: bool) -> bool {
    get(o, key).and_then(Value::as_bool).unwrap_or(default)
}

fn f32_array(v: &Value, at: &str, key: &str) -> Result<Vec<f32>, LoadError> {
    let a = v.as_array().ok_or_else(|| schema(at, format!("\"{key}\" must be an array of numbers")))?;
    a.iter().map(|x| f32_of(x, at, key)).collect()
}

fn fixed<const N: usize>(
    o: &Map<String, Value>,
    key: &str,
    at: &str,
    default: [f32; N],
) -> Result<[f32; N], LoadError> {
    let Some(v) = get(o, key) else { return Ok(default) };
    let a = f32_array(v, at, key)?;
    if a.len() < N {
        return Err(schema(at, format!("\"{key}\" needs {N} numbers, has {}", a.len())));
    }
    let mut out = default;
    out.copy_from_slice(&a[..N]);
    Ok(out)
}

fn u32_of(v: &Value, at: &str, key: &str) -> Result<u32, LoadError> {
    v.as_u64()
        .and_then(|x| u32::try_from(x).ok())
        .ok_or_else(|| schema(at, format!("\"{key}\" must be a whole number from 0 to 4294967295")))
}

fn pairs(flat: Vec<f32>, at: &str, key: &str) -> Result<Vec<[f32; 2]>, LoadError> {
    if flat.len() % 2 != 0 {
        return Err(schema(at, format!("\"{key}\" has an odd number of values ({})", flat.len())));
    }
    Ok(flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect())
}

fn parse_mesh(v: &Value, at: &str) -> Result<Mesh, LoadError> {
    let o = v.as_object().ok_or_else(|| schema(at, "\"mesh\" must be an object"))?;
    let verts = pairs(f32_array(get(o, "verts").unwrap_or(&json!([])), at, "mesh.verts")?, at, "mesh.verts")?;
    let uvs = pairs(f32_array(get(o, "uvs").unwrap_or(&json!([])), at, "mesh.uvs")?, at, "mesh.uvs")?;
    let indices = match get(o, "indices") {
        Some(Value::Array(a)) => a.iter().map(|x| u32_of(x, at, "mesh.indices")).collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(schema(at, "\"mesh.indices\" must be an array")),
        None => Vec::new(),
    };
    let origin = fixed(o, "origin", at, [0.0, 0.0])?;
    if uvs.len() != verts.len() {
        return Err(schema(at, format!("mesh has {} vertices but {} UVs", verts.len(), uvs.len())));
    }
    if indices.len() % 3 != 0 {
        return Err(schema(at, format!("mesh.indices has {} entries, not a multiple of 3", indices.len())));
    }
    if let Some(bad) = indices.iter().find(|&&i| i as usize >= verts.len()) {
        return Err(schema(at, format!("mesh index {bad} is out of range (the mesh has {} vertices)", verts.len())));
    }
    Ok(Mesh { verts, uvs, indices, origin })
}

fn parse_look(o: &Map<String, Value>, at: &str) -> Result<Look, LoadError> {
    let masks = match get(o, "masks") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| {
                let mo = m.as_object().ok_or_else(|| schema(at, "each entry of \"masks\" must be an object"))?;
                let source = u32_of(get(mo, "source").unwrap_or(&Value::Null), at, "masks.source")?;
                let mode = match get(mo, "mode").and_then(Value::as_str).unwrap_or("Mask") {
                    "DodgeMask" => MaskMode::DodgeMask,
                    "Mask" => MaskMode::Mask,
                    other => return Err(schema(at, format!("unknown mask mode \"{other}\" (Mask or DodgeMask)"))),
                };
                Ok(MaskBinding { source, mode })
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(schema(at, "\"masks\" must be an array")),
        None => Vec::new(),
    };
    Ok(Look {
        blend: BlendMode::parse(get(o, "blend_mode").and_then(Value::as_str).unwrap_or("Normal"), at),
        tint: fixed(o, "tint", at, [1.0; 3])?,
        screen_tint: fixed(o, "screenTint", at, [0.0; 3])?,
        opacity: opt_f32(o, "opacity", at, 1.0)?,
        mask_threshold: opt_f32(o, "mask_threshold", at, 0.5)?,
        masks,
    })
}

fn parse_node(v: &Value, path: &str, depth: usize) -> Result<Node, LoadError> {
    if depth > 256 {
        return Err(schema(path, "the node tree is nested more than 256 levels deep"));
    }
    let o = v.as_object().ok_or_else(|| schema(path, "a node must be a JSON object"))?;
    let name = get(o, "name").and_then(Value::as_str).unwrap_or("").to_string();
    let at = format!("{path} \"{name}\"");
    let uuid = u32_of(get(o, "uuid").unwrap_or(&Value::Null), &at, "uuid")?;
    let ty = get(o, "type").and_then(Value::as_str).unwrap_or("Node");
    let transform = match get(o, "transform") {
        Some(Value::Object(t)) => Transform {
            trans: fixed(t, "trans", &at, [0.0; 3])?,
            rot: fixed(t, "rot", &at, [0.0; 3])?,
            scale: fixed(t, "scale", &at, [1.0; 2])?,
        },
        Some(_) => return Err(schema(&at, "\"transform\" must be an object")),
        None => Transform::default(),
    };
    let kind = match ty {
        "Node" => NodeKind::Node,
        "Part" | "AnimatedPart" => {
            let mesh = parse_mesh(get(o, "mesh").unwrap_or(&json!({})), &at)?;
            let textures = match get(o, "textures") {
                Some(Value::Array(a)) => a.iter().map(|x| u32_of(x, &at, "textures")).collect::<Result<_, _>>()?,
                _ => Vec::new(),
            };
            NodeKind::Part { mesh, textures, look: parse_look(o, &at)? }
        }
        "Composite" => NodeKind::Composite { look: parse_look(o, &at)? },
        "MeshGroup" => NodeKind::MeshGroup { mesh: parse_mesh(get(o, "mesh").unwrap_or(&json!({})), &at)? },
        "SimplePhysics" => NodeKind::SimplePhysics(SimplePhysics {
            param: match get(o, "param") {
                Some(p) => u32_of(p, &at, "param")?,
                None => NONE_ID,
            },
            model: match get(o, "model_type").and_then(Value::as_str).unwrap_or("Pendulum") {
                "SpringPendulum" => PhysicsModel::SpringPendulum,
                _ => PhysicsModel::Pendulum,
            },
            map_mode: match get(o, "map_mode").and_then(Value::as_str).unwrap_or("AngleLength") {
                "XY" => PhysicsMapMode::XY,
                _ => PhysicsMapMode::AngleLength,
            },
            gravity: opt_f32(o, "gravity", &at, 1.0)?,
            length: opt_f32(o, "length", &at, 100.0)?,
            frequency: opt_f32(o, "frequency", &at, 1.0)?,
            angle_damping: opt_f32(o, "angle_damping", &at, 0.5)?,
            length_damping: opt_f32(o, "length_damping", &at, 0.5)?,
            output_scale: fixed(o, "output_scale", &at, [1.0, 1.0])?,
        }),
        other => {
            tracing::warn!("{at}: node type \"{other}\" is not supported; loading it as a plain node");
            NodeKind::Node
        }
    };
    let children = match get(o, "children") {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, c)| parse_node(c, &format!("{at} > child {i}"), depth + 1))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(schema(&at, "\"children\" must be an array")),
        None => Vec::new(),
    };
    Ok(Node {
        uuid,
        name,
        enabled: opt_bool(o, "enabled", true),
        zsort: opt_f32(o, "zsort", &at, 0.0)?,
        transform,
        lock_to_root: opt_bool(o, "lockToRoot", false),
        kind,
        children,
    })
}

fn parse_binding(v: &Value, at: &str, nx: usize, ny: usize) -> Result<Option<Binding>, LoadError> {
    let o = v.as_object().ok_or_else(|| schema(at, "a binding must be an object"))?;
    let node = u32_of(get(o, "node").unwrap_or(&Value::Null), at, "node")?;
    let pname = get(o, "param_name").and_then(Value::as_str).unwrap_or("");
    let Some(target) = Target::parse(pname) else {
        tracing::warn!("{at}: binding target \"{pname}\" is not supported; ignoring it");
        return Ok(None);
    };
    let at = format!("{at} ({pname})");
    let interpolation = match get(o, "interpolate_mode").and_then(Value::as_str).unwrap_or("Linear") {
        "Nearest" | "Stepped" => Interpolation::Nearest,
        _ => Interpolation::Linear,
    };
    let grid = get(o, "values").and_then(Value::as_array).ok_or_else(|| schema(&at, "\"values\" must be an array"))?;
    if grid.len() != nx {
        return Err(schema(
            &at,
            format!("\"values\" has {} columns but the parameter has {nx} keyform points", grid.len()),
        ));
    }
    let column = |x: usize| -> Result<&Vec<Value>, LoadError> {
        let c = grid[x].as_array().ok_or_else(|| schema(&at, format!("values[{x}] must be an array")))?;
        if c.len() != ny {
            return Err(schema(&at, format!("values[{x}] has {} entries, expected {ny}", c.len())));
        }
        Ok(c)
    };
    let values = if target == Target::Deform {
        let mut cols = Vec::with_capacity(nx);
        for x in 0..nx {
            let mut col = Vec::with_capacity(ny);
            for (y, cell) in column(x)?.iter().enumerate() {
                let offs = cell.as_array().ok_or_else(|| schema(&at, format!("values[{x}][{y}] must be an array")))?;
                let mut list = Vec::with_capacity(offs.len());
                for p in offs {
                    let pa = f32_array(p, &at, "deform offset")?;
                    if pa.len() != 2 {
                        return Err(schema(&at, format!("values[{x}][{y}]: each deform offset needs 2 numbers")));
                    }
                    list.push([pa[0], pa[1]]);
                }
                col.push(list);
            }
            cols.push(col);
        }
        Values::Deform(cols)
    } else {
        let mut cols = Vec::with_capacity(nx);
        for x in 0..nx {
            cols.push(column(x)?.iter().map(|c| f32_of(c, &at, "values")).collect::<Result<Vec<_>, _>>()?);
        }
        Values::Scalar(cols)
    };
    let is_set = match get(o, "isSet").and_then(Value::as_array) {
        Some(a) if a.len() == nx => a
            .iter()
            .map(|c| {
                let c = c.as_array().map(|c| c.iter().map(|b| b.as_bool().unwrap_or(false)).collect::<Vec<_>>());
                match c {
                    Some(c) if c.len() == ny => Ok(c),
                    _ => Err(schema(&at, format!("\"isSet\" must be a {nx}×{ny} grid of booleans"))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(schema(&at, format!("\"isSet\" must be a {nx}×{ny} grid of booleans"))),
        None => vec![vec![true; ny]; nx],
    };
    Ok(Some(Binding { node, target, values, is_set, interpolation }))
}

fn parse_param(v: &Value, i: usize) -> Result<Param, LoadError> {
    let o = v.as_object().ok_or_else(|| schema(format!("param {i}"), "a parameter must be an object"))?;
    let name = get(o, "name").and_then(Value::as_str).unwrap_or("").to_string();
    let at = format!("param \"{name}\"");
    let is_vec2 = opt_bool(o, "is_vec2", false);
    let min = fixed(o, "min", &at, [-1.0, -1.0])?;
    let max = fixed(o, "max", &at, [1.0, 1.0])?;
    let defaults = fixed(o, "defaults", &at, [0.0, 0.0])?;
    let axis =
        get(o, "axis_points").and_then(Value::as_array).ok_or_else(|| schema(&at, "\"axis_points\" is missing"))?;
    if axis.len() != 2 {
        return Err(schema(&at, "\"axis_points\" must hold two axes"));
    }
    let ax = f32_array(&axis[0], &at, "axis_points")?;
    let ay = f32_array(&axis[1], &at, "axis_points")?;
    for a in [&ax, &ay] {
        if a.is_empty() {
            return Err(schema(&at, "an axis has no keyform points"));
        }
        if a.windows(2).any(|w| w[0] > w[1]) || a.iter().any(|x| !x.is_finite()) {
            return Err(schema(&at, "axis points must be finite and ascending"));
        }
    }
    for k in 0..2 {
        if !(max[k] > min[k]) && (k == 0 || is_vec2) {
            return Err(schema(&at, format!("max ({}) must be greater than min ({})", max[k], min[k])));
        }
    }
    let mut bindings = Vec::new();
    if let Some(bs) = get(o, "bindings").and_then(Value::as_array) {
        for (j, b) in bs.iter().enumerate() {
            if let Some(b) = parse_binding(b, &format!("{at} binding {j}"), ax.len(), ay.len())? {
                bindings.push(b);
            }
        }
    }
    Ok(Param {
        uuid: u32_of(get(o, "uuid").unwrap_or(&Value::Null), &at, "uuid")?,
        name,
        is_vec2,
        min,
        max,
        defaults,
        axis_points: [ax, ay],
        bindings,
    })
}

fn parse_puppet(v: &Value) -> Result<Puppet, LoadError> {
    let o = v.as_object().ok_or_else(|| schema("puppet", "the JSON payload must be an object"))?;
    let root = parse_node(get(o, "nodes").ok_or_else(|| schema("puppet", "\"nodes\" is missing"))?, "node", 0)?;
    let params = match get(o, "param") {
        Some(Value::Array(a)) => a.iter().enumerate().map(|(i, p)| parse_param(p, i)).collect::<Result<_, _>>()?,
        Some(_) => return Err(schema("puppet", "\"param\" must be an array")),
        None => Vec::new(),
    };
    let phys = get(o, "physics").and_then(Value::as_object);
    let (pixels_per_meter, gravity) = match phys {
        Some(p) => (opt_f32(p, "pixelsPerMeter", "physics", 1000.0)?, opt_f32(p, "gravity", "physics", 9.8)?),
        None => (1000.0, 9.8),
    };
    Ok(Puppet {
        meta: get(o, "meta").and_then(Value::as_object).cloned().unwrap_or_default(),
        pixels_per_meter,
        gravity,
        root,
        params,
        textures: Vec::new(),
        raw_textures: Vec::new(),
        extensions: Vec::new(),
    })
}

/// Cross-references: masks, bindings and textures must point at things that exist and fit.
fn validate(p: &Puppet) -> Result<(), LoadError> {
    let nodes: HashMap<u32, &Node> = p.nodes().into_iter().map(|n| (n.uuid, n)).collect();
    for n in nodes.values() {
        let at = format!("node \"{}\"", n.name);
        let look = match &n.kind {
            NodeKind::Part { textures, look, .. } => {
                if let Some(&t) = textures.first()
                    && t != NONE_ID
                    && t as usize >= p.textures.len()
                {
                    return Err(schema(&at, format!("uses texture {t}, but the file has {}", p.textures.len())));
                }
                Some(look)
            }
            NodeKind::Composite { look } => Some(look),
            _ => None,
        };
        for m in look.map(|l| l.masks.as_slice()).unwrap_or(&[]) {
            if !nodes.contains_key(&m.source) {
                return Err(schema(&at, format!("is masked by node {} which does not exist", m.source)));
            }
        }
    }
    for param in &p.params {
        for b in &param.bindings {
            let at = format!("param \"{}\" binding {}", param.name, b.target.name());
            let Some(node) = nodes.get(&b.node) else {
                return Err(schema(at, format!("targets node {} which does not exist", b.node)));
            };
            if let Values::Deform(cols) = &b.values {
                let n = match &node.kind {
                    NodeKind::Part { mesh, .. } | NodeKind::MeshGroup { mesh } => mesh.verts.len(),
                    _ => return Err(schema(at, format!("deforms node \"{}\", which has no mesh", node.name))),
                };
                for cell in cols.iter().flatten() {
                    if !cell.is_empty() && cell.len() != n {
                        return Err(schema(
                            at,
                            format!("has {} deform offsets for node \"{}\" with {n} vertices", cell.len(), node.name),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

// ---- writing ----

fn mesh_json(m: &Mesh) -> Value {
    json!({
        "verts": m.verts.iter().flatten().collect::<Vec<_>>(),
        "uvs": m.uvs.iter().flatten().collect::<Vec<_>>(),
        "indices": m.indices,
        "origin": m.origin,
    })
}

fn look_json(o: &mut Map<String, Value>, l: &Look) {
    o.insert("blend_mode".into(), json!(l.blend.name()));
    o.insert("tint".into(), json!(l.tint));
    o.insert("screenTint".into(), json!(l.screen_tint));
    o.insert("opacity".into(), json!(l.opacity));
    o.insert("mask_threshold".into(), json!(l.mask_threshold));
    let masks: Vec<Value> = l
        .masks
        .iter()
        .map(|m| {
            json!({"source": m.source, "mode": match m.mode { MaskMode::Mask => "Mask", MaskMode::DodgeMask => "DodgeMask" }})
        })
        .collect();
    o.insert("masks".into(), Value::Array(masks));
}

fn node_json(n: &Node) -> Value {
    let mut o = Map::new();
    o.insert("uuid".into(), json!(n.uuid));
    o.insert("name".into(), json!(n.name));
    o.insert("type".into(), json!(n.kind.type_name()));
    o.insert("enabled".into(), json!(n.enabled));
    o.insert("zsort".into(), json!(n.zsort));
    o.insert(
        "transform".into(),
        json!({"trans": n.transform.trans, "rot": n.transform.rot, "scale": n.transform.scale}),
    );
    o.insert("lockToRoot".into(), json!(n.lock_to_root));
    match &n.kind {
        NodeKind::Node => {}
        NodeKind::Part { mesh, textures, look } => {
            o.insert("mesh".into(), mesh_json(mesh));
            o.insert("textures".into(), json!(textures));
            look_json(&mut o, look);
        }
        NodeKind::Composite { look } => look_json(&mut o, look),
        NodeKind::MeshGroup { mesh } => {
            o.insert("mesh".into(), mesh_json(mesh));
        }
        NodeKind::SimplePhysics(s) => {
            o.insert("param".into(), json!(s.param));
            o.insert(
                "model_type".into(),
                json!(match s.model {
                    PhysicsModel::Pendulum => "Pendulum",
                    PhysicsModel::SpringPendulum => "SpringPendulum",
                }),
            );
            o.insert(
                "map_mode".into(),
                json!(match s.map_mode {
                    PhysicsMapMode::AngleLength => "AngleLength",
                    PhysicsMapMode::XY => "XY",
                }),
            );
            o.insert("gravity".into(), json!(s.gravity));
            o.insert("length".into(), json!(s.length));
            o.insert("frequency".into(), json!(s.frequency));
            o.insert("angle_damping".into(), json!(s.angle_damping));
            o.insert("length_damping".into(), json!(s.length_damping));
            o.insert("output_scale".into(), json!(s.output_scale));
        }
    }
    o.insert("children".into(), Value::Array(n.children.iter().map(node_json).collect()));
    Value::Object(o)
}

fn param_json(p: &Param) -> Value {
    let bindings: Vec<Value> = p
        .bindings
        .iter()
        .map(|b| {
            let values = match &b.values {
                Values::Scalar(v) => json!(v),
                Values::Deform(v) => json!(v),
            };
            json!({
                "node": b.node,
                "param_name": b.target.name(),
                "values": values,
                "isSet": b.is_set,
                "interpolate_mode": match b.interpolation { Interpolation::Linear => "Linear", Interpolation::Nearest => "Nearest" },
            })
        })
        .collect();
    json!({
        "uuid": p.uuid,
        "name": p.name,
        "is_vec2": p.is_vec2,
        "min": p.min,
        "max": p.max,
        "defaults": p.defaults,
        "axis_points": p.axis_points,
        "merge_mode": "Additive",
        "bindings": bindings,
    })
}
