//! An equivalent, faster form of graphs with per-channel `PRelu` (SFace has 27).
//!
//! ONNX Runtime fuses `Relu` into the convolution before it and runs its CPU convolutions in a blocked channel
//! layout (NCHWc), but `PRelu` has neither: it is a separate element-wise kernel with generic broadcasting, and
//! the graph leaves the blocked layout around each one. In SFace those kernels and layout changes took half of
//! the time per face. Each `PRelu(x, s)` (slope `s` per channel) is rewritten as
//!
//! ```text
//! PRelu(x) = max(x, 0) + s·min(x, 0) = x + (1 − s)·Relu(−x)
//!          = x + Relu((s − 1)·x)                      for channels with s ≤ 1
//!          = x − Relu((1 − s)·x)                      for channels with s > 1
//!          = x + c·Relu(d·x)      with (c, d) = (1, s − 1) or (−1, 1 − s) per channel
//! ```
//!
//! where each per-channel product is a `BatchNormalization` with that scale (mean 0, variance 1, ε 0: exactly a
//! multiplication). ONNX Runtime runs `BatchNormalization` + `Relu` + `Add` inside the blocked layout (a depthwise
//! 1×1 convolution with fused activation), so the graph never leaves it. A layer with no slope above 1 (25 of
//! SFace's 27) needs no `c`. (`max(x, s·x)` is also exact for s ≤ 1, but `Max` is not in the blocked layout and
//! measured slower.)
//!
//! The result differs from the original only by float rounding (`x + (s − 1)·x` against `s·x`): SFace embeddings
//! agree at cosine ≥ 0.99999 (tested on every face of the shared identity photos).

use issc_predict::int8::floats;
use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto, TensorProto};

/// Producer tag written into a rewritten model's `doc_string`, so the file says how it was made.
const NOTE: &str = "PRelu(x, s) rewritten as x + c*Relu(d*x), (c, d) = (1, s-1) for s <= 1 else (-1, 1-s), by issc-export \
                    (issc_export::fast)";

fn tensor(name: String, data: &[f32]) -> TensorProto {
    TensorProto {
        name,
        dims: vec![data.len() as i64],
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn node(op: &str, name: String, inputs: Vec<String>, output: String, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto { op_type: op.into(), name, input: inputs, output: vec![output], attribute, ..Default::default() }
}

/// Rewrite every `PRelu` whose slope is a constant with one value per channel (shape `[C]`, `[C,1,1]`, …) into the
/// equivalent `BatchNormalization`/`Relu`/`Add` form described in the module docs. Returns how many were rewritten;
/// other `PRelu`s (a slope computed by the graph, or a single shared slope) are left as they are.
pub fn rewrite_prelu(model: &mut ModelProto) -> Result<usize, String> {
    let graph = model.graph.as_mut().ok_or("the model has no graph")?;
    let mut nodes = Vec::with_capacity(graph.node.len());
    let mut added: Vec<TensorProto> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut rewritten = 0;
    let old = std::mem::take(&mut graph.node);
    for n in old {
        let slope = (n.op_type == "PRelu" && n.input.len() == 2 && n.output.len() == 1)
            .then(|| graph.initializer.iter().find(|t| t.name == n.input[1]))
            .flatten()
            .filter(|t| t.dims.iter().skip(1).all(|&d| d == 1) && !t.dims.is_empty())
            .and_then(floats);
        let Some(s) = slope.filter(|s| s.len() > 1 && s.iter().all(|v| v.is_finite())) else {
            nodes.push(n);
            continue;
        };
        let c = s.len();
        let base = if n.name.is_empty() { format!("issc_prelu{rewritten}") } else { n.name.clone() };
        let (x, y) = (n.input[0].clone(), n.output[0].clone());
        let zeros = format!("issc_zeros_{c}");
        let ones = format!("issc_ones_{c}");
        if !added.iter().any(|t| t.name == zeros) {
            added.push(tensor(zeros.clone(), &vec![0.0; c]));
            added.push(tensor(ones.clone(), &vec![1.0; c]));
        }
        let eps = AttributeProto {
            name: "epsilon".into(),
            r#type: AttributeType::Float as i32,
            f: 0.0,
            ..Default::default()
        };
        let scale = |name: &str, values: Vec<f32>, input: String, added: &mut Vec<TensorProto>| -> NodeProto {
            let scale_name = format!("{base}_issc_{name}");
            added.push(tensor(scale_name.clone(), &values));
            let out = format!("{base}_issc_{name}_x");
            node(
                "BatchNormalization",
                out.clone(),
                vec![input, scale_name, zeros.clone(), zeros.clone(), ones.clone()],
                out,
                vec![eps.clone()],
            )
        };
        // d·x, Relu, [c·], + x.
        let d: Vec<f32> = s.iter().map(|&v| if v <= 1.0 { v - 1.0 } else { 1.0 - v }).collect();
        let dx = scale("d", d, x.clone(), &mut added);
        let relu = format!("{base}_issc_relu");
        nodes.push(node("Relu", relu.clone(), dx.output.clone(), relu.clone(), vec![]));
        nodes.insert(nodes.len() - 1, dx);
        let mut term = relu;
        if s.iter().any(|&v| v > 1.0) {
            let signs: Vec<f32> = s.iter().map(|&v| if v <= 1.0 { 1.0 } else { -1.0 }).collect();
            let cr = scale("c", signs, term, &mut added);
            term = cr.output[0].clone();
            nodes.push(cr);
        }
        nodes.push(node("Add", format!("{base}_issc_add"), vec![x.clone(), term], y, vec![]));
        dropped.push(n.input[1].clone());
        rewritten += 1;
    }
    graph.node = nodes;
    // Slopes no longer read by any node are removed (ONNX Runtime warns about unused initializers).
    dropped.retain(|name| !graph.node.iter().any(|n| n.input.iter().any(|i| i == name)));
    graph.initializer.retain(|t| !dropped.contains(&t.name));
    graph.initializer.extend(added);
    if rewritten > 0 {
        issc_predict::int8::append_note(model, NOTE);
    }
    Ok(rewritten)
}

/// The fast form of an ONNX model's bytes (see [`rewrite_prelu`]): the same graph with every per-channel `PRelu`
/// rewritten, and how many were. Deterministic: the same input gives the same bytes.
pub fn fast_model_bytes(original: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut model = ModelProto::decode(original).map_err(|e| format!("not an ONNX model: {e}"))?;
    let n = rewrite_prelu(&mut model)?;
    Ok((model.encode_to_vec(), n))
}
