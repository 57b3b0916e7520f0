//! An int8 form of SFace-like graphs for ONNX Runtime: the wide 1×1 convolutions and the final fully connected
//! layer run as 8-bit integer matrix products with **dynamic** activation quantization.
//!
//! After [`crate::fast`], SFace's time under ONNX Runtime is convolution (12 of 15.6 ms per face on an AVX-512
//! core), nearly all of it in the 1×1 ("pointwise") convolutions of its depthwise-separable blocks, which already
//! run near the core's fp32 peak. Integer products run 3–4× faster (AVX-512 VNNI, AVX-VNNI), so each 1×1
//! convolution `y = W·x + b` whose input has at least [`MIN_CHANNELS`] channels is rewritten as
//!
//! ```text
//! (q, s, z) = DynamicQuantizeLinear(x)             x: [N,C,H,W] f32 -> uint8, one scale and zero point per call
//! y         = MatMulIntegerToFloat(Transpose(q) [N,H,W,C], Wq [C,O] int8, s, sw [O], z, 0, b')   -> [N,H,W,O]
//! out       = Transpose(y) [N,O,H,W]
//! ```
//!
//! - the weights are quantized **per output channel**, symmetric, to −127..127 (`sw = max|W[o,·]| / 127`), after
//!   the `BatchNormalization` that follows the convolution (if any) is folded into them (`b'`);
//! - the activations are quantized **per call** from their own range (`DynamicQuantizeLinear`), not from a
//!   calibration set: the scale fits every photo, which is what keeps the embeddings close to fp32 (static,
//!   calibrated int8 gave a median cosine of 0.978 and a minimum of 0.86 on this network);
//! - the `Gemm` with a constant weight matrix (SFace's 50,176 → 128 layer, 25.7 MB of fp32 weights read per face)
//!   becomes `DynamicQuantizeLinear` + `MatMulIntegerToFloat` the same way (ONNX Runtime fuses the pair);
//! - narrower 1×1 convolutions, the depthwise 3×3 ones and everything else stay fp32: there int8 pays less than
//!   the layout changes cost.
//!
//! Because one scale covers the whole input tensor, **run one face per call**: in a batch, the faces would share
//! a scale and each face's embedding would depend on the others. `MatMulIntegerToFloat` is an ONNX Runtime
//! operator (`com.microsoft`); tract runs the fp32 graph instead.
//!
//! The bundled `models/face_recognition_sface_2021dec_int8.onnx` is this rewrite of the fast SFace graph
//! (`cargo run -p issc-export --example int8_sface`); [`crate::Predictor::open_with_mode`] applies it in memory to
//! an exported model (SFace + trained head; the head's narrow layers stay fp32) in the default fast mode under
//! ONNX Runtime.

use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};

/// A 1×1 convolution is rewritten only when its input has at least this many channels (SFace: `conv_4` to
/// `conv_14`; the 32- and 64-channel ones measured faster in fp32).
pub const MIN_CHANNELS: usize = 128;
/// A `Gemm` is rewritten only when its inner dimension is at least this large.
pub const MIN_GEMM_INNER: usize = 1024;

/// Producer tag written into the model's `doc_string`.
const NOTE: &str = "int8: 1x1 convolutions with >= 128 input channels and constant-weight Gemm rewritten as \
                    DynamicQuantizeLinear + MatMulIntegerToFloat (per-channel int8 weights, per-call uint8 \
                    activations) by issc (issc_predict::int8)";

/// What [`quantize`] rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quantized {
    /// 1×1 convolutions rewritten.
    pub convolutions: usize,
    /// Of those, how many had a following `BatchNormalization` folded in.
    pub batch_norms_folded: usize,
    /// `Gemm` layers rewritten.
    pub gemms: usize,
}

/// A constant tensor: its shape and values.
struct Constant {
    dims: Vec<i64>,
    data: Vec<f32>,
}

/// The values of a float32 tensor (raw little-endian bytes or `float_data`); `None` for another type or a raw
/// buffer that is not a whole number of floats. (Shared with `issc_export::fast`.)
pub fn floats(t: &TensorProto) -> Option<Vec<f32>> {
    if t.data_type != DataType::Float as i32 {
        return None;
    }
    if !t.raw_data.is_empty() {
        if !t.raw_data.len().is_multiple_of(4) {
            return None;
        }
        return Some(t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
    }
    Some(t.float_data.clone())
}

fn int64s(t: &TensorProto) -> Option<Vec<i64>> {
    if t.data_type != DataType::Int64 as i32 {
        return None;
    }
    if !t.raw_data.is_empty() {
        if !t.raw_data.len().is_multiple_of(8) {
            return None;
        }
        return Some(t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect());
    }
    Some(t.int64_data.clone())
}

fn element_count(dims: &[i64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)))
}

/// The constant a node input names: an initializer, or a `Reshape` of an initializer by a constant shape (how
/// SFace's file stores its weights).
fn constant(model: &ModelProto, name: &str) -> Option<Constant> {
    let graph = model.graph.as_ref()?;
    let init = |n: &str| graph.initializer.iter().find(|t| t.name == n);
    if let Some(t) = init(name) {
        let data = floats(t)?;
        return (element_count(&t.dims)? == data.len()).then(|| Constant { dims: t.dims.clone(), data });
    }
    let producer = graph.node.iter().find(|n| n.output.iter().any(|o| o == name))?;
    if producer.op_type != "Reshape" || producer.input.len() != 2 {
        return None;
    }
    let data_t = init(&producer.input[0])?;
    let data = floats(data_t)?;
    let shape = int64s(init(&producer.input[1])?)?;
    let mut dims: Vec<i64> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if d == 0 { data_t.dims.get(i).copied().unwrap_or(0) } else { d })
        .collect();
    if let Some(free) = dims.iter().position(|&d| d == -1) {
        let known = element_count(&dims.iter().map(|&d| if d == -1 { 1 } else { d }).collect::<Vec<_>>())?;
        if known == 0 || !data.len().is_multiple_of(known) {
            return None;
        }
        dims[free] = i64::try_from(data.len() / known).ok()?;
    }
    (element_count(&dims)? == data.len()).then_some(Constant { dims, data })
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

fn attr_f(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}

fn attr_all(n: &NodeProto, name: &str, want: i64) -> bool {
    attr(n, name).is_none_or(|a| a.ints.iter().all(|&v| v == want))
}

/// How many nodes read `name`, plus one if it is a graph output.
fn readers(model: &ModelProto, name: &str) -> usize {
    let Some(g) = model.graph.as_ref() else { return 0 };
    g.node.iter().flat_map(|n| n.input.iter()).filter(|i| *i == name).count()
        + g.output.iter().filter(|o| o.name == name).count()
}

/// Per-output-channel symmetric int8: `w` is `[k][o]` row-major (inner dimension first); returns the codes in
/// the same layout and one scale per output column.
fn quantize_columns(w: &[f32], k: usize, o: usize) -> (Vec<i8>, Vec<f32>) {
    let mut scales = vec![0f32; o];
    for row in w.chunks_exact(o) {
        for (s, &v) in scales.iter_mut().zip(row) {
            *s = s.max(v.abs());
        }
    }
    for s in &mut scales {
        *s = if *s > 0.0 && s.is_finite() { *s / 127.0 } else { 1.0 };
    }
    let mut codes = Vec::with_capacity(k * o);
    for row in w.chunks_exact(o) {
        codes.extend(row.iter().zip(&scales).map(|(&v, &s)| (v / s).round().clamp(-127.0, 127.0) as i8));
    }
    (codes, scales)
}

fn f32_tensor(name: String, dims: Vec<i64>, data: &[f32]) -> TensorProto {
    TensorProto {
        name,
        dims,
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn i8_tensor(name: String, dims: Vec<i64>, data: &[i8]) -> TensorProto {
    TensorProto {
        name,
        dims,
        data_type: DataType::Int8 as i32,
        raw_data: data.iter().map(|&v| v.to_le_bytes()[0]).collect(),
        ..Default::default()
    }
}

fn node(op: &str, name: String, input: Vec<String>, output: Vec<String>, attribute: Vec<AttributeProto>) -> NodeProto {
    let domain = if op == "MatMulIntegerToFloat" { "com.microsoft".into() } else { String::new() };
    NodeProto { op_type: op.into(), name, input, output, attribute, domain, ..Default::default() }
}

fn perm(p: &[i64]) -> AttributeProto {
    AttributeProto { name: "perm".into(), r#type: AttributeType::Ints as i32, ints: p.to_vec(), ..Default::default() }
}

/// The nodes and initializers of one integer product: `x` (f32, any shape whose last axis is the inner one after
/// `to_last`) times the int8 codes `w` `[k][o]`, plus `bias`, into `y`.
struct Product<'a> {
    base: &'a str,
    x: String,
    y: String,
    w: &'a [f32],
    k: usize,
    o: usize,
    bias: &'a [f32],
    /// For a convolution: NCHW in and out, so the quantized input goes to NHWC and the result comes back.
    nchw: bool,
}

fn product(p: Product<'_>, nodes: &mut Vec<NodeProto>, added: &mut Vec<TensorProto>) {
    let (codes, scales) = quantize_columns(p.w, p.k, p.o);
    let b = p.base;
    let name = |s: &str| format!("{b}_issc_q_{s}");
    let o = i64::try_from(p.o).unwrap_or(i64::MAX);
    let k = i64::try_from(p.k).unwrap_or(i64::MAX);
    added.push(i8_tensor(name("w"), vec![k, o], &codes));
    added.push(f32_tensor(name("w_scale"), vec![o], &scales));
    added.push(i8_tensor(name("w_zero"), vec![o], &vec![0; p.o]));
    added.push(f32_tensor(name("bias"), vec![o], p.bias));
    nodes.push(node(
        "DynamicQuantizeLinear",
        name("x"),
        vec![p.x],
        vec![name("xq"), name("x_scale"), name("x_zero")],
        vec![],
    ));
    let mut a = name("xq");
    if p.nchw {
        nodes.push(node("Transpose", name("xq_nhwc"), vec![a], vec![name("xq_nhwc")], vec![perm(&[0, 2, 3, 1])]));
        a = name("xq_nhwc");
    }
    let product_out = if p.nchw { name("y_nhwc") } else { p.y.clone() };
    nodes.push(node(
        "MatMulIntegerToFloat",
        name("matmul"),
        vec![a, name("w"), name("x_scale"), name("w_scale"), name("x_zero"), name("w_zero"), name("bias")],
        vec![product_out.clone()],
        vec![],
    ));
    if p.nchw {
        nodes.push(node("Transpose", name("y"), vec![product_out], vec![p.y], vec![perm(&[0, 3, 1, 2])]));
    }
}

/// A 1×1 convolution this rewrite takes: `[O, C]` weights (transposed to `[C][O]`), bias, and the node whose
/// output the rewrite produces (the convolution, or the `BatchNormalization` folded into it).
struct PointwiseConv {
    w_t: Vec<f32>,
    c: usize,
    o: usize,
    bias: Vec<f32>,
    output: String,
    folded_bn: Option<usize>,
}

fn pointwise_conv(model: &ModelProto, nodes: &[NodeProto], at: usize) -> Option<PointwiseConv> {
    let n = &nodes[at];
    let plain = n.op_type == "Conv"
        && n.domain.is_empty()
        && (2..=3).contains(&n.input.len())
        && n.output.len() == 1
        && attr_i(n, "group", 1) == 1
        && attr_all(n, "strides", 1)
        && attr_all(n, "pads", 0)
        && attr(n, "auto_pad").is_none_or(|a| a.s.is_empty() || a.s == b"NOTSET" || a.s == b"VALID");
    if !plain {
        return None;
    }
    let w = constant(model, &n.input[1])?;
    let [o, c, 1, 1] = w.dims.as_slice() else { return None };
    let (o, c) = (usize::try_from(*o).ok()?, usize::try_from(*c).ok()?);
    if c < MIN_CHANNELS || o == 0 {
        return None;
    }
    let mut bias = match n.input.get(2).filter(|b| !b.is_empty()) {
        Some(b) => constant(model, b).filter(|b| b.data.len() == o)?.data,
        None => vec![0.0; o],
    };
    let mut w_t = vec![0f32; c * o];
    for (oi, row) in w.data.chunks_exact(c).enumerate() {
        for (ci, &v) in row.iter().enumerate() {
            w_t[ci * o + oi] = v;
        }
    }
    // A BatchNormalization reading only this convolution's output, with constant parameters, is folded in.
    let mut output = n.output[0].clone();
    let mut folded_bn = None;
    if readers(model, &output) == 1
        && let Some((bi, bn)) = nodes.iter().enumerate().find(|(_, m)| m.input.first() == Some(&output))
        && bn.op_type == "BatchNormalization"
        && bn.domain.is_empty()
        && bn.input.len() == 5
        && bn.output.len() == 1
        && attr_i(bn, "training_mode", 0) == 0
    {
        let p: Option<Vec<Vec<f32>>> =
            bn.input[1..].iter().map(|i| constant(model, i).map(|t| t.data).filter(|d| d.len() == o)).collect();
        if let Some([gamma, beta, mean, var]) = p.as_deref() {
            let eps = attr_f(bn, "epsilon", 1e-5);
            for oi in 0..o {
                let s = gamma[oi] / (var[oi] + eps).sqrt();
                for ci in 0..c {
                    w_t[ci * o + oi] *= s;
                }
                bias[oi] = (bias[oi] - mean[oi]) * s + beta[oi];
            }
            output = bn.output[0].clone();
            folded_bn = Some(bi);
        }
    }
    Some(PointwiseConv { w_t, c, o, bias, output, folded_bn })
}

/// A `Gemm` `y = x·B + c` with constant `B` (`transB` either way), `alpha = beta = 1`, no `transA`: `[K][N]`
/// weights and bias.
fn constant_gemm(model: &ModelProto, n: &NodeProto) -> Option<(Vec<f32>, usize, usize, Vec<f32>)> {
    let plain = n.op_type == "Gemm"
        && n.domain.is_empty()
        && (2..=3).contains(&n.input.len())
        && n.output.len() == 1
        && attr_i(n, "transA", 0) == 0
        && attr_f(n, "alpha", 1.0) == 1.0
        && attr_f(n, "beta", 1.0) == 1.0;
    if !plain {
        return None;
    }
    let b = constant(model, &n.input[1])?;
    let [r, s] = b.dims.as_slice() else { return None };
    let (r, s) = (usize::try_from(*r).ok()?, usize::try_from(*s).ok()?);
    if r == 0 || s == 0 {
        return None;
    }
    let (k, o, w) = if attr_i(n, "transB", 0) == 1 {
        let mut t = vec![0f32; r * s];
        for (oi, row) in b.data.chunks_exact(s).enumerate() {
            for (ki, &v) in row.iter().enumerate() {
                t[ki * r + oi] = v;
            }
        }
        (s, r, t)
    } else {
        (r, s, b.data)
    };
    if k < MIN_GEMM_INNER || o == 0 {
        return None;
    }
    let bias = match n.input.get(2).filter(|c| !c.is_empty()) {
        Some(c) => constant(model, c).filter(|c| c.data.len() == o)?.data,
        None => vec![0.0; o],
    };
    Some((w, k, o, bias))
}

/// Rewrite `model` as described in the module docs. Returns what was rewritten (nothing for a graph without
/// such layers). Deterministic: the same graph gives the same bytes.
pub fn quantize(model: &mut ModelProto) -> Result<Quantized, String> {
    let old = model.graph.as_ref().ok_or("the model has no graph")?.node.clone();
    let mut done = Quantized::default();
    let mut nodes = Vec::with_capacity(old.len() + 64);
    let mut added = Vec::new();
    let mut skip = vec![false; old.len()];
    for (i, n) in old.iter().enumerate() {
        if skip[i] {
            continue;
        }
        let base = if n.name.is_empty() { format!("issc_node{i}") } else { n.name.clone() };
        if let Some(pc) = pointwise_conv(model, &old, i) {
            if let Some(bi) = pc.folded_bn {
                skip[bi] = true;
                done.batch_norms_folded += 1;
            }
            let p = Product {
                base: &base,
                x: n.input[0].clone(),
                y: pc.output,
                w: &pc.w_t,
                k: pc.c,
                o: pc.o,
                bias: &pc.bias,
                nchw: true,
            };
            product(p, &mut nodes, &mut added);
            done.convolutions += 1;
        } else if let Some((w, k, o, bias)) = constant_gemm(model, n) {
            let p = Product {
                base: &base,
                x: n.input[0].clone(),
                y: n.output[0].clone(),
                w: &w,
                k,
                o,
                bias: &bias,
                nchw: false,
            };
            product(p, &mut nodes, &mut added);
            done.gemms += 1;
        } else {
            nodes.push(n.clone());
        }
    }
    if done == Quantized::default() {
        return Ok(done);
    }
    let graph = model.graph.as_mut().ok_or("the model has no graph")?;
    graph.node = nodes;
    graph.initializer.extend(added);
    // Weights no longer read (and the Reshape nodes that only made them) are dropped.
    loop {
        let read: std::collections::HashSet<&String> =
            graph.node.iter().flat_map(|n| n.input.iter()).chain(graph.output.iter().map(|o| &o.name)).collect();
        let dead: Vec<usize> = (0..graph.node.len())
            .filter(|&i| {
                let n = &graph.node[i];
                n.op_type == "Reshape" && n.output.iter().all(|o| !read.contains(o))
            })
            .collect();
        let unused: Vec<String> =
            graph.initializer.iter().filter(|t| !read.contains(&t.name)).map(|t| t.name.clone()).collect();
        if dead.is_empty() && unused.is_empty() {
            break;
        }
        let mut k = 0;
        graph.node.retain(|_| {
            k += 1;
            !dead.contains(&(k - 1))
        });
        graph.initializer.retain(|t| !unused.contains(&t.name));
    }
    // Shapes recorded for the replaced tensors no longer hold; ONNX Runtime infers them again.
    graph.value_info.clear();
    if !model.opset_import.iter().any(|o| o.domain == "com.microsoft") {
        model.opset_import.push(OperatorSetIdProto { domain: "com.microsoft".into(), version: 1 });
    }
    append_note(model, NOTE);
    Ok(done)
}

/// Add `note` as a line of the model's `doc_string` (once), so that the file says how it was made.
pub fn append_note(model: &mut ModelProto, note: &str) {
    if !model.doc_string.contains(note) {
        if !model.doc_string.is_empty() {
            model.doc_string.push('\n');
        }
        model.doc_string.push_str(note);
    }
}

/// The int8 form of an ONNX model's bytes (see [`quantize`]) and what was rewritten.
pub fn int8_model_bytes(model: &[u8]) -> Result<(Vec<u8>, Quantized), String> {
    let mut model = ModelProto::decode(model).map_err(|e| format!("not an ONNX model: {e}"))?;
    let q = quantize(&mut model)?;
    Ok((model.encode_to_vec(), q))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gemm_model(dims: [i64; 2], trans_b: i64) -> ModelProto {
        let n: usize = dims.iter().map(|&d| d as usize).product();
        let data: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        let gemm = NodeProto {
            op_type: "Gemm".into(),
            input: vec!["x".into(), "b".into()],
            output: vec!["y".into()],
            attribute: vec![AttributeProto {
                name: "transB".into(),
                r#type: AttributeType::Int as i32,
                i: trans_b,
                ..Default::default()
            }],
            ..Default::default()
        };
        ModelProto {
            graph: Some(tract_onnx::pb::GraphProto {
                node: vec![gemm],
                initializer: vec![f32_tensor("b".into(), dims.to_vec(), &data)],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_wide_constant_gemm_becomes_an_integer_product_and_degenerate_ones_are_left_alone() {
        let mut m = gemm_model([2, 1024], 1);
        let q = quantize(&mut m).unwrap();
        assert_eq!(q, Quantized { convolutions: 0, batch_norms_folded: 0, gemms: 1 });
        let g = m.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["DynamicQuantizeLinear", "MatMulIntegerToFloat"]);
        let w = g.initializer.iter().find(|t| t.data_type == DataType::Int8 as i32 && t.dims.len() == 2).unwrap();
        assert_eq!(w.dims, vec![1024, 2], "weights as [K, N]");
        assert!(!g.initializer.iter().any(|t| t.name == "b"), "the fp32 weights are dropped");
        assert!(m.opset_import.iter().any(|o| o.domain == "com.microsoft"));
        // Narrow, empty or zero-sized: nothing to do, and no panic.
        for (dims, t) in [([2, 64], 1), ([0, 1024], 1), ([1024, 0], 1), ([1024, 0], 0), ([0, 0], 0)] {
            let mut m = gemm_model(dims, t);
            assert_eq!(quantize(&mut m).unwrap(), Quantized::default(), "{dims:?} transB={t}");
        }
    }

    #[test]
    fn per_column_codes_span_the_range_and_round_trip() {
        // k = 3 rows, o = 2 columns.
        let w = [1.5, -0.5, -2.0, 0.2, 0.5, 0.0];
        let (codes, scales) = quantize_columns(&w, 3, 2);
        assert_eq!(scales, vec![2.0 / 127.0, 0.5 / 127.0]);
        assert_eq!(codes, vec![95, -127, -127, 51, 32, 0]);
        for (i, (&c, &v)) in codes.iter().zip(&w).enumerate() {
            assert!((f32::from(c) * scales[i % 2] - v).abs() <= scales[i % 2] / 2.0 + 1e-7);
        }
        // A column of zeros gets scale 1, codes 0.
        let (codes, scales) = quantize_columns(&[0.0, 0.0], 2, 1);
        assert_eq!((codes, scales), (vec![0, 0], vec![1.0]));
    }
}
