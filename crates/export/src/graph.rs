//! ONNX graph surgery with the ONNX protobuf schema (`tract_onnx::pb`, prost): append the trained head to the
//! SFace graph, rename its input, overwrite fine-tuned weights.

use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::type_proto;
use tract_onnx::pb::{
    AttributeProto, ModelProto, NodeProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};

use issc_train::DenseLayer;

/// Name of the exported graph's input.
pub const INPUT: &str = "face";
/// Name of the L2-normalised embedding output.
pub const EMBEDDING: &str = "embedding";
/// Name of the softmax output.
pub const PROBABILITIES: &str = "probabilities";

/// A dimension: a fixed size or a symbol.
#[derive(Debug, Clone)]
pub(crate) enum Dim {
    Fixed(i64),
    Symbol(&'static str),
}

pub(crate) fn decode(bytes: &[u8]) -> Result<ModelProto, String> {
    ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))
}

pub(crate) fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

fn float_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: v, ..Default::default() }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints: v.to_vec(), ..Default::default() }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => dimension::Value::DimValue(*v),
                Dim::Symbol(s) => dimension::Value::DimParam(s.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Overwrite float initializers by name (fine-tuned weights), keeping their shapes.
pub(crate) fn replace_initializers(model: &mut ModelProto, weights: &[(String, Vec<f32>)]) -> Result<(), String> {
    let graph = model.graph.as_mut().ok_or("the base model has no graph")?;
    for (name, values) in weights {
        let t = graph
            .initializer
            .iter_mut()
            .find(|t| &t.name == name)
            .ok_or_else(|| format!("the base model has no initializer '{name}'"))?;
        let n: i64 = t.dims.iter().product();
        if t.data_type != DataType::Float as i32 || n as usize != values.len() {
            return Err(format!("initializer '{name}' holds {n} values, the trained weights {}", values.len()));
        }
        t.float_data.clear();
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    }
    Ok(())
}

/// What to append to the embedder graph.
pub(crate) struct HeadSpec<'a> {
    pub layers: &'a [DenseLayer],
    pub embedding_dim: usize,
    pub metadata: Vec<(String, String)>,
    pub doc: String,
}

/// Turn the SFace graph (`data [N,3,112,112]` → `fc1 [N,128]`) into the exported one:
/// `face [N,3,112,112]` → `embedding [N,128]` (L2-normalised: fc1 / max(‖fc1‖₂, 1e-12)) and
/// `probabilities [N,C]` (softmax of the head's logits on the embedding).
pub(crate) fn append_head(model: &mut ModelProto, spec: HeadSpec<'_>) -> Result<(), String> {
    let graph = model.graph.as_mut().ok_or("the base model has no graph")?;
    if graph.input.len() != 1 || graph.output.len() != 1 {
        return Err(format!(
            "expected an embedder with one input and one output, found {} and {}",
            graph.input.len(),
            graph.output.len()
        ));
    }
    let Some(last) = spec.layers.last() else { return Err("the head has no layers".into()) };
    if spec.layers[0].input != spec.embedding_dim {
        return Err(format!(
            "the head takes {} values, the embedder gives {}",
            spec.layers[0].input, spec.embedding_dim
        ));
    }
    let classes = last.output;

    let old_input = graph.input[0].name.clone();
    for n in &mut graph.node {
        for i in &mut n.input {
            if *i == old_input {
                *i = INPUT.to_string();
            }
        }
    }
    graph.input[0] = value_info(INPUT, &[Dim::Symbol("N"), Dim::Fixed(3), Dim::Fixed(112), Dim::Fixed(112)]);
    // Shapes recorded for intermediate values by the original exporter are dropped: engines infer them.
    graph.value_info.clear();

    let raw = graph.output[0].name.clone();
    graph.initializer.push(float_tensor("issc_eps", &[], &[1e-12]));
    graph.node.push(node(
        "ReduceL2",
        "issc_norm",
        &[&raw],
        &["issc_norm"],
        vec![attr_ints("axes", &[1]), attr_int("keepdims", 1)],
    ));
    graph.node.push(node("Max", "issc_norm_safe", &["issc_norm", "issc_eps"], &["issc_norm_safe"], vec![]));
    graph.node.push(node("Div", "issc_embedding", &[&raw, "issc_norm_safe"], &[EMBEDDING], vec![]));

    let mut x = EMBEDDING.to_string();
    for (k, l) in spec.layers.iter().enumerate() {
        if l.weight.len() != l.input * l.output || l.bias.len() != l.output {
            return Err(format!("head layer {k} has inconsistent weights"));
        }
        let (w, b, y) = (format!("issc_head{k}_weight"), format!("issc_head{k}_bias"), format!("issc_head{k}"));
        graph.initializer.push(float_tensor(&w, &[l.input as i64, l.output as i64], &l.weight));
        graph.initializer.push(float_tensor(&b, &[l.output as i64], &l.bias));
        graph.node.push(node("Gemm", &y, &[&x, &w, &b], &[&y], vec![]));
        x = y;
        if l.relu {
            let r = format!("issc_head{k}_relu");
            graph.node.push(node("Relu", &r, &[&x], &[&r], vec![]));
            x = r;
        }
    }
    graph.node.push(node("Softmax", "issc_probabilities", &[&x], &[PROBABILITIES], vec![attr_int("axis", 1)]));
    graph.output = vec![
        value_info(EMBEDDING, &[Dim::Symbol("N"), Dim::Fixed(spec.embedding_dim as i64)]),
        value_info(PROBABILITIES, &[Dim::Symbol("N"), Dim::Fixed(classes as i64)]),
    ];
    graph.name = "issc_face_classifier".into();

    model.producer_name = "issc-export".into();
    model.producer_version = env!("CARGO_PKG_VERSION").into();
    model.doc_string = spec.doc;
    model.metadata_props =
        spec.metadata.into_iter().map(|(key, value)| StringStringEntryProto { key, value }).collect();
    Ok(())
}

/// The default-domain opset of a model.
pub(crate) fn opset(model: &ModelProto) -> i64 {
    model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(0, |o| o.version)
}
