//! Small ONNX models with exactly the interfaces of RVC's real models, written without any ONNX library.
//!
//! No package registry ships RVC models (content encoder, RMVPE, voice generators), so the tests and the benchmark
//! build stand-ins whose inputs and outputs match the real exports name for name and shape for shape, with weights
//! chosen so the output can be checked: the generator synthesises a sine at the pitch it is given, so a pitch
//! shift is measurable in its output. They run through the same ONNX Runtime code paths as real models.
//!
//! The writer below emits the few protobuf messages an ONNX file needs (ModelProto, GraphProto, NodeProto,
//! TensorProto), on the wire-format helpers of `models::protobuf`; field numbers are those of `onnx.proto`.

use std::path::Path;

pub use crate::models::protobuf::{Dim, Elem};
use crate::models::protobuf::{bytes_field, float_field, int_field, value_info};

/// An initializer (constant tensor).
pub struct Tensor {
    name: String,
    dims: Vec<i64>,
    elem: Elem,
    raw: Vec<u8>,
}

impl Tensor {
    pub fn f32(name: &str, dims: &[i64], data: &[f32]) -> Tensor {
        assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "tensor {name}: dims and data disagree");
        Tensor {
            name: name.into(),
            dims: dims.to_vec(),
            elem: Elem::F32,
            raw: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    pub fn i64(name: &str, dims: &[i64], data: &[i64]) -> Tensor {
        assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "tensor {name}: dims and data disagree");
        Tensor {
            name: name.into(),
            dims: dims.to_vec(),
            elem: Elem::I64,
            raw: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for d in &self.dims {
            int_field(&mut out, 1, *d);
        }
        int_field(&mut out, 2, self.elem as i64);
        bytes_field(&mut out, 8, self.name.as_bytes());
        bytes_field(&mut out, 9, &self.raw);
        out
    }
}

/// An attribute of a node.
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// A graph under construction.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Vec<u8>>,
    initializers: Vec<Tensor>,
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
    metadata: Vec<(String, String)>,
}

impl Graph {
    pub fn input(&mut self, name: &str, elem: Elem, dims: &[Dim]) {
        self.inputs.push(value_info(name, elem, dims));
    }

    pub fn output(&mut self, name: &str, elem: Elem, dims: &[Dim]) {
        self.outputs.push(value_info(name, elem, dims));
    }

    pub fn constant(&mut self, t: Tensor) {
        self.initializers.push(t);
    }

    /// Adds a node `op(inputs) -> outputs` with attributes.
    pub fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) {
        let mut n = Vec::new();
        for i in inputs {
            bytes_field(&mut n, 1, i.as_bytes());
        }
        for o in outputs {
            bytes_field(&mut n, 2, o.as_bytes());
        }
        bytes_field(&mut n, 3, format!("{op}_{}", self.nodes.len()).as_bytes());
        bytes_field(&mut n, 4, op.as_bytes());
        for (name, a) in attrs {
            let mut attr = Vec::new();
            bytes_field(&mut attr, 1, name.as_bytes());
            match a {
                Attr::Float(v) => {
                    float_field(&mut attr, 2, *v);
                    int_field(&mut attr, 20, 1);
                }
                Attr::Int(v) => {
                    int_field(&mut attr, 3, *v);
                    int_field(&mut attr, 20, 2);
                }
                Attr::Ints(vs) => {
                    for v in vs {
                        int_field(&mut attr, 8, *v);
                    }
                    int_field(&mut attr, 20, 7);
                }
            }
            bytes_field(&mut n, 5, &attr);
        }
        self.nodes.push(n);
    }

    /// A key/value pair in the model's metadata (`metadata_props`).
    pub fn metadata(&mut self, key: &str, value: &str) {
        self.metadata.push((key.into(), value.into()));
    }

    /// The serialised ModelProto (IR version 8, default domain opset 17).
    pub fn encode(&self) -> Vec<u8> {
        let mut g = Vec::new();
        for n in &self.nodes {
            bytes_field(&mut g, 1, n);
        }
        bytes_field(&mut g, 2, b"graph");
        for t in &self.initializers {
            bytes_field(&mut g, 5, &t.encode());
        }
        for i in &self.inputs {
            bytes_field(&mut g, 11, i);
        }
        for o in &self.outputs {
            bytes_field(&mut g, 12, o);
        }
        let mut m = Vec::new();
        int_field(&mut m, 1, 8);
        bytes_field(&mut m, 2, b"persona-rvc-graphs");
        bytes_field(&mut m, 7, &g);
        let mut opset = Vec::new();
        bytes_field(&mut opset, 1, b"");
        int_field(&mut opset, 2, 17);
        bytes_field(&mut m, 8, &opset);
        for (k, v) in &self.metadata {
            let mut e = Vec::new();
            bytes_field(&mut e, 1, k.as_bytes());
            bytes_field(&mut e, 2, v.as_bytes());
            bytes_field(&mut m, 14, &e);
        }
        m
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.encode())
    }
}

/// Deterministic pseudo-random numbers in [-1, 1) (xorshift), for weights that need no meaning.
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Content encoder stand-in with the interface of `vec-768-layer-12.onnx`: `source` f32 `[1, 1, samples]` at
/// 16 kHz → `embed` f32 `[1, frames, 768]`. Like HuBERT's feature extractor it has a 400-sample receptive field
/// and a 320-sample stride, so it gives `(samples - 400) / 320 + 1` frames (one fewer than samples / 320).
pub fn content_encoder() -> Graph {
    let mut g = Graph::default();
    g.input("source", Elem::F32, &[Dim::Fixed(1), Dim::Fixed(1), Dim::Named("samples")]);
    g.output("embed", Elem::F32, &[Dim::Fixed(1), Dim::Named("frames"), Dim::Fixed(768)]);
    let w: Vec<f32> = noise(768 * 400, 7).into_iter().map(|v| v * 0.05).collect();
    g.constant(Tensor::f32("conv_w", &[768, 1, 400], &w));
    g.node("Conv", &["source", "conv_w"], &["conv"], &[("strides", Attr::Ints(vec![320]))]);
    g.node("Transpose", &["conv"], &["embed"], &[("perm", Attr::Ints(vec![0, 2, 1]))]);
    g
}

/// The HTK mel frequency of `hz`.
fn hz_to_mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// RMVPE stand-in with the interface of `rmvpe.onnx`: log-mel `mel` f32 `[1, 128, frames]` → salience `pitch`
/// f32 `[1, frames, 360]`. It is not a pitch detector: it turns the log-mel of each frame back into a
/// distribution over mel bands (softmax of the log gives the band energies, normalised) and spreads each band onto
/// the pitch bins near its centre frequency. For a pure tone that puts the salience peak at the tone's pitch,
/// which is what the tests feed it.
pub fn rmvpe() -> Graph {
    let mut g = Graph::default();
    g.input("mel", Elem::F32, &[Dim::Fixed(1), Dim::Fixed(128), Dim::Named("frames")]);
    g.output("pitch", Elem::F32, &[Dim::Fixed(1), Dim::Named("frames"), Dim::Fixed(360)]);
    // Centres of the 128 HTK mel bands between 30 Hz and 8 kHz (the mel scale RMVPE uses).
    let (lo, hi) = (hz_to_mel(30.0), hz_to_mel(8000.0));
    let step = (hi - lo) / 129.0;
    let mut w = vec![0.0f32; 128 * 360];
    for m in 0..128 {
        let centre = lo + step * (m + 1) as f64;
        for b in 0..360 {
            let cents = 1_997.379_408_437_619 + 20.0 * b as f64;
            let hz = 10.0 * 2f64.powf(cents / 1200.0);
            let d = (hz_to_mel(hz) - centre) / step;
            w[m * 360 + b] = (-0.5 * d * d / 0.25).exp() as f32;
        }
    }
    g.constant(Tensor::f32("bands_to_bins", &[128, 360], &w));
    g.node("Transpose", &["mel"], &["mel_t"], &[("perm", Attr::Ints(vec![0, 2, 1]))]);
    g.node("Softmax", &["mel_t"], &["bands"], &[("axis", Attr::Int(-1))]);
    g.node("MatMul", &["bands", "bands_to_bins"], &["pitch"], &[]);
    g
}

/// Voice generator stand-in with the interface of an RVC v2 ONNX export: inputs in order `feats` f32
/// `[1, T, 768]`, `p_len` i64 `[1]`, `pitch` i64 `[1, T]`, `pitchf` f32 `[1, T]`, `sid` i64 `[1]`, `rnd` f32
/// `[1, 192, T]` → `audio` f32 `[1, 1, T * rate / 100]`. It synthesises a sine of amplitude 0.5 at `pitchf`
/// (phase-continuous, silent where `pitchf` is 0, with 10 ms amplitude ramps), so the pitch it was given can be
/// measured in its output. `feats`, `p_len`, `pitch`, `sid` and `rnd` are accepted and unused.
pub fn generator(rate: u32) -> Graph {
    let hop = (rate / 100) as i64;
    let mut g = Graph::default();
    let t = Dim::Named("T");
    g.input("feats", Elem::F32, &[Dim::Fixed(1), Dim::Named("T"), Dim::Fixed(768)]);
    g.input("p_len", Elem::I64, &[Dim::Fixed(1)]);
    g.input("pitch", Elem::I64, &[Dim::Fixed(1), Dim::Named("T")]);
    g.input("pitchf", Elem::F32, &[Dim::Fixed(1), t]);
    g.input("sid", Elem::I64, &[Dim::Fixed(1)]);
    g.input("rnd", Elem::F32, &[Dim::Fixed(1), Dim::Fixed(192), Dim::Named("T")]);
    g.output("audio", Elem::F32, &[Dim::Fixed(1), Dim::Fixed(1), Dim::Named("samples")]);
    // pitchf [1, T] -> [T, 1] -> [T, hop] (each frame's pitch held for hop samples) -> [1, 1, T * hop].
    g.constant(Tensor::i64("col", &[2], &[-1, 1]));
    g.constant(Tensor::i64("rep", &[2], &[1, hop]));
    g.constant(Tensor::i64("flat", &[3], &[1, 1, -1]));
    g.constant(Tensor::i64("axis", &[], &[2]));
    g.constant(Tensor::f32("two_pi_over_rate", &[], &[2.0 * std::f32::consts::PI / rate as f32]));
    g.constant(Tensor::f32("amplitude", &[], &[0.5]));
    g.constant(Tensor::f32("box", &[1, 1, hop], &vec![1.0 / hop as f32; hop as usize]));
    g.node("Reshape", &["pitchf", "col"], &["f_col"], &[]);
    g.node("Tile", &["f_col", "rep"], &["f_held"], &[]);
    g.node("Reshape", &["f_held", "flat"], &["f_up"], &[]);
    // Phase accumulates 2*pi*f/rate per sample.
    g.node("Mul", &["f_up", "two_pi_over_rate"], &["dphase"], &[]);
    g.node("CumSum", &["dphase", "axis"], &["phase"], &[]);
    g.node("Sin", &["phase"], &["sine"], &[]);
    // Voiced mask (1 where pitchf > 0), smoothed by a hop-long box filter into ramps.
    g.node("Sign", &["f_up"], &["voiced"], &[]);
    let half = hop / 2;
    g.node("Conv", &["voiced", "box"], &["ramp"], &[("pads", Attr::Ints(vec![half, hop - 1 - half]))]);
    g.node("Mul", &["sine", "ramp"], &["shaped"], &[]);
    g.node("Mul", &["shaped", "amplitude"], &["audio"], &[]);
    g.metadata(
        "metadata",
        &format!("{{\"samplingRate\": {rate}, \"f0\": true, \"embChannels\": 768, \"version\": \"v2\"}}"),
    );
    g
}

/// A model whose single input is an i64 token list, for checking that wrong models are named clearly.
pub fn wrong_model() -> Graph {
    let mut g = Graph::default();
    g.input("tokens", Elem::I64, &[Dim::Fixed(1), Dim::Named("n")]);
    g.output("out", Elem::I64, &[Dim::Fixed(1), Dim::Named("n")]);
    g.node("Identity", &["tokens"], &["out"], &[]);
    g
}
