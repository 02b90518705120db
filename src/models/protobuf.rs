//! The few pieces of protobuf an ONNX file needs, written without any ONNX library: the wire format (writer and a
//! field reader), `ValueInfoProto`, and one edit of a finished model: exposing an intermediate tensor as an extra
//! graph output (how Kokoro's phoneme durations are read). Field numbers are those of `onnx.proto`.

/// ONNX tensor element types used here (values of `TensorProto.DataType`).
#[derive(Clone, Copy)]
pub enum Elem {
    F32 = 1,
    I64 = 7,
}

/// A dimension of a graph input or output: fixed, or named (dynamic).
pub enum Dim {
    Fixed(i64),
    Named(&'static str),
}

pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, ((field as u64) << 3) | wire as u64);
}

pub(crate) fn int_field(out: &mut Vec<u8>, field: u32, v: i64) {
    key(out, field, 0);
    varint(out, v as u64);
}

pub(crate) fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn float_field(out: &mut Vec<u8>, field: u32, v: f32) {
    key(out, field, 5);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A `ValueInfoProto`: a named tensor of element type `elem` and shape `dims`.
pub(crate) fn value_info(name: &str, elem: Elem, dims: &[Dim]) -> Vec<u8> {
    value_info_of(name, elem, Some(dims))
}

/// A `ValueInfoProto` of element type `elem`; `dims: None` leaves the shape (even the rank) unknown.
fn value_info_of(name: &str, elem: Elem, dims: Option<&[Dim]>) -> Vec<u8> {
    let mut shape = Vec::new();
    for d in dims.unwrap_or_default() {
        let mut dim = Vec::new();
        match d {
            Dim::Fixed(v) => int_field(&mut dim, 1, *v),
            Dim::Named(s) => bytes_field(&mut dim, 2, s.as_bytes()),
        }
        bytes_field(&mut shape, 1, &dim);
    }
    let mut tensor_type = Vec::new();
    int_field(&mut tensor_type, 1, elem as i64);
    if dims.is_some() {
        bytes_field(&mut tensor_type, 2, &shape);
    }
    let mut type_proto = Vec::new();
    bytes_field(&mut type_proto, 1, &tensor_type);
    let mut out = Vec::new();
    bytes_field(&mut out, 1, name.as_bytes());
    bytes_field(&mut out, 2, &type_proto);
    out
}

fn read_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// One top-level field of a message: its number, wire type and the byte range of the whole field (key included)
/// and of its payload.
struct Field {
    number: u64,
    wire: u8,
    whole: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

/// The top-level fields of a message, or `None` when the bytes are not a well-formed message.
fn fields(data: &[u8]) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let start = pos;
        let k = read_varint(data, &mut pos)?;
        let (number, wire) = (k >> 3, (k & 7) as u8);
        let mut payload_start = pos;
        match wire {
            0 => {
                read_varint(data, &mut pos)?;
            }
            1 => pos += 8,
            2 => {
                let len = usize::try_from(read_varint(data, &mut pos)?).ok()?;
                payload_start = pos;
                pos = pos.checked_add(len)?;
            }
            5 => pos += 4,
            _ => return None,
        }
        if pos > data.len() {
            return None;
        }
        out.push(Field { number, wire, whole: start..pos, payload: payload_start..pos });
    }
    Some(out)
}

/// A copy of the ONNX model `model` with `name` (a tensor some node computes) added to the graph's outputs, so
/// a session returns it after the existing outputs. `None` when the model is not well-formed or no node of its
/// main graph produces `name`.
pub fn with_extra_output(model: &[u8], name: &str, elem: Elem) -> Option<Vec<u8>> {
    const MODEL_GRAPH: u64 = 7;
    const GRAPH_NODE: u64 = 1;
    const GRAPH_OUTPUT: u32 = 12;
    const NODE_OUTPUT: u64 = 2;
    let top = fields(model)?;
    let graph = top.iter().find(|f| f.number == MODEL_GRAPH && f.wire == 2)?;
    let graph_bytes = &model[graph.payload.clone()];
    let produced = fields(graph_bytes)?.into_iter().filter(|f| f.number == GRAPH_NODE && f.wire == 2).any(|node| {
        let node_bytes = &graph_bytes[node.payload.clone()];
        fields(node_bytes).is_some_and(|nf| {
            nf.iter()
                .any(|f| f.number == NODE_OUTPUT && f.wire == 2 && &node_bytes[f.payload.clone()] == name.as_bytes())
        })
    });
    if !produced {
        return None;
    }
    let mut new_graph = graph_bytes.to_vec();
    bytes_field(&mut new_graph, GRAPH_OUTPUT, &value_info_of(name, elem, None));
    let mut out = Vec::with_capacity(model.len() + 64);
    for f in &top {
        if std::ptr::eq(f, graph) {
            bytes_field(&mut out, MODEL_GRAPH as u32, &new_graph);
        } else {
            out.extend_from_slice(&model[f.whole.clone()]);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with one node `Neg(x) -> y` and one `Abs(y) -> z`, as ModelProto bytes.
    fn model() -> Vec<u8> {
        let node = |op: &str, i: &str, o: &str| {
            let mut n = Vec::new();
            bytes_field(&mut n, 1, i.as_bytes());
            bytes_field(&mut n, 2, o.as_bytes());
            bytes_field(&mut n, 4, op.as_bytes());
            n
        };
        let mut graph = Vec::new();
        bytes_field(&mut graph, 1, &node("Neg", "x", "y"));
        bytes_field(&mut graph, 1, &node("Abs", "y", "z"));
        bytes_field(&mut graph, 2, b"g");
        bytes_field(&mut graph, 11, &value_info("x", Elem::F32, &[Dim::Fixed(2)]));
        bytes_field(&mut graph, 12, &value_info("z", Elem::F32, &[Dim::Fixed(2)]));
        let mut m = Vec::new();
        int_field(&mut m, 1, 8);
        bytes_field(&mut m, 7, &graph);
        m
    }

    fn outputs(model: &[u8]) -> Vec<String> {
        let top = fields(model).unwrap();
        let g = top.iter().find(|f| f.number == 7).unwrap();
        let graph = &model[g.payload.clone()];
        fields(graph)
            .unwrap()
            .iter()
            .filter(|f| f.number == 12)
            .map(|f| {
                let vi = &graph[f.payload.clone()];
                let name = fields(vi).unwrap().into_iter().find(|x| x.number == 1).unwrap();
                String::from_utf8(vi[name.payload].to_vec()).unwrap()
            })
            .collect()
    }

    #[test]
    fn an_intermediate_tensor_becomes_an_output_after_the_existing_ones() {
        let m = model();
        let edited = with_extra_output(&m, "y", Elem::F32).unwrap();
        assert_eq!(outputs(&edited), ["z", "y"]);
        assert!(edited.starts_with(&m[..2]), "fields before the graph are kept");
    }

    #[test]
    fn a_tensor_no_node_computes_is_refused() {
        assert!(with_extra_output(&model(), "nothing", Elem::F32).is_none());
        assert!(with_extra_output(&model(), "x", Elem::F32).is_none(), "an input is not computed by a node");
    }

    #[test]
    fn malformed_bytes_give_none_never_a_panic() {
        let m = model();
        for cut in 0..m.len() {
            let _ = with_extra_output(&m[..cut], "y", Elem::F32);
        }
        let mut state = 0x9e37_79b9_u32;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..(state % 64))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let _ = with_extra_output(&bytes, "y", Elem::F32);
        }
        assert!(with_extra_output(&[0xff; 12], "y", Elem::F32).is_none());
    }
}
