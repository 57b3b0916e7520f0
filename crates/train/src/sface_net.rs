//! SFace as a burn module, for fine-tuning.
//!
//! [`SFaceNet::from_onnx`] reads `face_recognition_sface_2021dec_dequant.onnx` with the ONNX protobuf schema and
//! walks its nodes in order, turning each into a burn layer: a small interpreter for exactly the operators the
//! graph uses (`Constant`, `Reshape` of constants, `Sub`/`Mul` by a scalar, `Conv` with groups, strides and pads,
//! inference-mode `BatchNormalization`, `PRelu`, `Dropout` (identity), `Flatten`, `Gemm`). Anything else is a
//! clear error rather than a silently different network. The graph must be a chain: every operator takes the
//! previous operator's output, plus constants.
//!
//! The layers are grouped into *stages* by node name: `conv_1` … `conv_14` (each `conv_K_*` node belongs to stage
//! `conv_K`; the input scaling joins the first stage), then one [`EMBEDDING_STAGE`] holding everything after
//! (`bn1`, dropout, flatten, `pre_fc1`, `fc1`): 15 stages for SFace. [`SFaceNet::freeze_all_but_last`] makes only
//! the last stages trainable.
//!
//! Batch normalisation keeps the model's running mean and variance fixed (inference statistics, the usual choice
//! when fine-tuning on small datasets); its scale (`gamma`) and shift (`beta`) are parameters of their stage. The
//! statistics are constants of the module, rebuilt from the ONNX file, so a burn record of an `SFaceNet` holds
//! only the parameters and is loaded into a net made by [`SFaceNet::from_onnx`].
//!
//! [`SFaceNet::onnx_weights`] gives every parameter back under its ONNX initializer name, in the initializer's
//! element order, so an exporter can overwrite those initializers in the original file.

use std::collections::{HashMap, HashSet};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::activation::prelu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use prost::Message;
use tract_onnx::pb;

use crate::error::TrainError;

/// Name of the last stage: everything after the last `conv_K` unit (`bn1`, `pre_fc1`, `fc1`).
pub const EMBEDDING_STAGE: &str = "embedding";

/// SFace (MobileFaceNet) as a burn module, numerically the ONNX model.
///
/// Input: `[n, 3, 112, 112]` RGB, raw 0..255 (the graph normalises internally), like the ONNX model's `data`.
/// Output: `fc1`, `[n, 128]`, **not** L2-normalised.
#[derive(Module, Debug)]
pub struct SFaceNet {
    stages: Vec<Stage>,
    /// Input `[channels, height, width]`.
    input: [usize; 3],
    /// Output features.
    output: usize,
}

/// One freezable unit: `conv_K`, or the embedding stage.
#[derive(Module, Debug)]
struct Stage {
    name: String,
    layers: Vec<Layer>,
}

/// One operator of the chain. Activations are always carried as `[n, c, h, w]`; after `Flatten` as
/// `[n, features, 1, 1]`, so per-channel operators (batch norm, PReLU) act per feature there.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // a few dozen layers, built once: boxing would buy nothing
enum Layer {
    Sub(ScalarSub),
    Mul(ScalarMul),
    Conv(Conv),
    BatchNorm(BatchNorm),
    PRelu(PRelu),
    Flatten(Flatten),
    Gemm(Gemm),
}

/// `x - value`, or `value - x` when `reversed`.
#[derive(Module, Debug)]
struct ScalarSub {
    value: f32,
    reversed: bool,
}

/// `x * value`.
#[derive(Module, Debug)]
struct ScalarMul {
    value: f32,
}

/// A 2-D convolution; the weight is `[c_out, c_in / groups, kh, kw]`.
#[derive(Module, Debug)]
struct Conv {
    weight: Param<Tensor<4>>,
    bias: Option<Param<Tensor<1>>>,
    stride: [usize; 2],
    /// ONNX order: top, left, bottom, right.
    pads: [usize; 4],
    dilation: [usize; 2],
    groups: usize,
    /// The initializer holding the weight (before any `Reshape`).
    weight_name: String,
    /// The initializer holding the bias (empty without bias).
    bias_name: String,
}

/// Inference-mode batch normalisation with fixed statistics: `(x - mean) * inv_std * gamma + beta`.
#[derive(Module, Debug)]
struct BatchNorm {
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
    /// Running mean (constant, not recorded).
    mean: Tensor<1>,
    /// `1 / sqrt(running_var + epsilon)` (constant, not recorded).
    inv_std: Tensor<1>,
    gamma_name: String,
    beta_name: String,
}

/// PReLU with one slope per channel (or one for all).
#[derive(Module, Debug)]
struct PRelu {
    slope: Param<Tensor<1>>,
    slope_name: String,
}

/// `[n, c, h, w]` to `[n, c·h·w, 1, 1]`.
#[derive(Module, Debug)]
struct Flatten {
    features: usize,
}

/// `alpha · x · W(ᵀ) + beta · bias`; the weight is kept in the ONNX layout (`[out, in]` when `trans_b`).
#[derive(Module, Debug)]
struct Gemm {
    weight: Param<Tensor<2>>,
    bias: Option<Param<Tensor<1>>>,
    trans_b: bool,
    alpha: f32,
    beta: f32,
    weight_name: String,
    bias_name: String,
}

/// Parameter counts of one stage, as [`SFaceNet::stage_params`] reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageParams {
    /// `conv_1` … `conv_14`, or [`EMBEDDING_STAGE`].
    pub name: String,
    /// Scalars that receive gradients.
    pub trainable: usize,
    /// Scalars that do not.
    pub frozen: usize,
}

impl SFaceNet {
    /// Build the network from the bytes of the SFace ONNX file, with every parameter trainable, on `device`
    /// (`Device::flex()` for inference, `Device::flex().autodiff()` for training).
    pub fn from_onnx(bytes: &[u8], device: &Device) -> Result<Self, TrainError> {
        let model =
            pb::ModelProto::decode(bytes).map_err(|e| TrainError::Onnx(format!("not an ONNX protobuf ({e})")))?;
        let graph = model.graph.as_ref().ok_or_else(|| TrainError::Onnx("the model has no graph".into()))?;
        Builder::new(graph, device)?.build(graph)
    }

    /// `fc1` of `x` (`[n, 3, 112, 112]`, RGB 0..255): `[n, 128]`, not normalised.
    ///
    /// # Panics
    /// When `x` is not `[n, c, h, w]` of [`input_shape`](Self::input_shape) (burn's shape checks).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let n = x.dims()[0];
        let x = self.stages.iter().fold(x, |x, stage| stage.forward(x));
        x.reshape([n, self.output])
    }

    /// The input the network takes, `[channels, height, width]` (`[3, 112, 112]`).
    pub fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    /// Size of the output (128).
    pub fn output_dim(&self) -> usize {
        self.output
    }

    /// The stages, first to last (`conv_1` … `conv_14`, `embedding`).
    pub fn stage_names(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.name.as_str()).collect()
    }

    /// Make the parameters of the last `k` stages trainable and freeze all others (their parameters get no
    /// gradient, and the backward pass does not run through the frozen front of the network). `k = 0` freezes
    /// everything; `k >=` [the number of stages](Self::stage_names) makes everything trainable.
    pub fn freeze_all_but_last(mut self, k: usize) -> Self {
        let first = self.stages.len().saturating_sub(k);
        self.stages = self.stages.into_iter().enumerate().map(|(i, s)| s.set_require_grad(i >= first)).collect();
        self
    }

    /// Trainable and frozen parameter counts per stage. Reflects the configured state on any device (also on a
    /// plain `Device::flex()`, where nothing is tracked until the module moves to an autodiff device).
    pub fn stage_params(&self) -> Vec<StageParams> {
        self.stages
            .iter()
            .map(|s| {
                let mut counter = ParamCounter::default();
                // `train` re-applies each parameter's configured gradient setting, on the autodiff device.
                s.clone().train().visit(&mut counter);
                StageParams { name: s.name.clone(), trainable: counter.trainable, frozen: counter.frozen }
            })
            .collect()
    }

    /// `(trainable, frozen)` parameter counts of the whole network.
    pub fn param_counts(&self) -> (usize, usize) {
        self.stage_params().iter().fold((0, 0), |(t, f), s| (t + s.trainable, f + s.frozen))
    }

    /// Every parameter as `(ONNX initializer name, values)`, in graph order: convolution weights under their
    /// `*_weight_dequantized` initializer (in its element order), batch-norm `gamma`/`beta`, PReLU slopes,
    /// `pre_fc1` weight and bias. Overwriting those initializers in the original ONNX file gives this network.
    /// The running statistics are not listed: they never change.
    pub fn onnx_weights(&self) -> Vec<(String, Vec<f32>)> {
        let mut out = vec![];
        for layer in self.stages.iter().flat_map(|s| &s.layers) {
            match layer {
                Layer::Conv(c) => {
                    out.push((c.weight_name.clone(), values(c.weight.val())));
                    if let Some(b) = &c.bias {
                        out.push((c.bias_name.clone(), values(b.val())));
                    }
                }
                Layer::BatchNorm(b) => {
                    out.push((b.gamma_name.clone(), values(b.gamma.val())));
                    out.push((b.beta_name.clone(), values(b.beta.val())));
                }
                Layer::PRelu(p) => out.push((p.slope_name.clone(), values(p.slope.val()))),
                Layer::Gemm(g) => {
                    out.push((g.weight_name.clone(), values(g.weight.val())));
                    if let Some(b) = &g.bias {
                        out.push((g.bias_name.clone(), values(b.val())));
                    }
                }
                Layer::Sub(_) | Layer::Mul(_) | Layer::Flatten(_) => {}
            }
        }
        out
    }
}

/// A tensor's values in row-major order, as f32.
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default()
}

#[derive(Default)]
struct ParamCounter {
    trainable: usize,
    frozen: usize,
}

impl ModuleVisitor for ParamCounter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        if t.is_require_grad() {
            self.trainable += n;
        } else {
            self.frozen += n;
        }
    }
}

impl Stage {
    /// The layers in order; a convolution followed by batch normalisation runs as one convolution with the
    /// normalisation folded into its weights and bias (the same function, one pass over the activation less).
    fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        let mut layers = self.layers.iter().peekable();
        while let Some(layer) = layers.next() {
            x = match (layer, layers.peek()) {
                (Layer::Conv(c), Some(Layer::BatchNorm(b))) => {
                    layers.next();
                    c.forward_folded(b, x)
                }
                _ => layer.forward(x),
            };
        }
        x
    }
}

impl Conv {
    fn options(&self) -> ConvOptions<2> {
        let [top, left, bottom, right] = self.pads;
        ConvOptions::new_with_padding(self.stride, [(top, bottom), (left, right)], self.dilation, self.groups)
    }

    /// `bn(conv(x))` as one convolution: weights scaled per output channel, the shift as bias.
    fn forward_folded(&self, bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
        let (scale, shift) = bn.scale_shift();
        let c = scale.dims()[0];
        let shift = match &self.bias {
            Some(b) => shift + b.val() * scale.clone(),
            None => shift,
        };
        let weight = self.weight.val() * scale.reshape([c, 1, 1, 1]);
        conv2d(x, weight, Some(shift), self.options())
    }
}

impl BatchNorm {
    /// Per-channel `(scale, shift)` with `bn(x) = x * scale + shift`.
    fn scale_shift(&self) -> (Tensor<1>, Tensor<1>) {
        let scale = self.gamma.val() * self.inv_std.clone();
        let shift = self.beta.val() - self.mean.clone() * scale.clone();
        (scale, shift)
    }
}

impl Layer {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Layer::Sub(s) if s.reversed => x.neg().add_scalar(s.value),
            Layer::Sub(s) => x.sub_scalar(s.value),
            Layer::Mul(m) => x.mul_scalar(m.value),
            Layer::Conv(c) => conv2d(x, c.weight.val(), c.bias.as_ref().map(|b| b.val()), c.options()),
            Layer::BatchNorm(b) => {
                let (scale, shift) = b.scale_shift();
                let c = scale.dims()[0];
                x * scale.reshape([1, c, 1, 1]) + shift.reshape([1, c, 1, 1])
            }
            Layer::PRelu(p) => prelu(x, p.slope.val()),
            Layer::Flatten(f) => {
                let n = x.dims()[0];
                x.reshape([n, f.features, 1, 1])
            }
            Layer::Gemm(g) => {
                let [n, f, _, _] = x.dims();
                let x = x.reshape([n, f]);
                let w = g.weight.val();
                let mut y = if g.trans_b { x.matmul(w.transpose()) } else { x.matmul(w) };
                if g.alpha != 1.0 {
                    y = y.mul_scalar(g.alpha);
                }
                if let Some(b) = &g.bias {
                    let b = b.val();
                    let b = if g.beta != 1.0 { b.mul_scalar(g.beta) } else { b };
                    let out = b.dims()[0];
                    y = y + b.reshape([1, out]);
                }
                let out = y.dims()[1];
                y.reshape([n, out, 1, 1])
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The interpreter.

/// Shape of the activation, without the batch axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActShape {
    Map { c: usize, h: usize, w: usize },
    Flat(usize),
}

impl ActShape {
    fn channels(self) -> usize {
        match self {
            ActShape::Map { c, .. } => c,
            ActShape::Flat(f) => f,
        }
    }
}

#[derive(Debug, Clone)]
enum ConstData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant value of the graph: an initializer, a `Constant` node's value, or a `Reshape` of either.
#[derive(Debug, Clone)]
struct Const {
    dims: Vec<usize>,
    data: ConstData,
    /// The initializer the values come from, if any (where an exporter writes them back).
    source: Option<String>,
}

impl Const {
    fn numel(&self) -> usize {
        self.dims.iter().product()
    }
}

/// ONNX `TensorProto.DataType` codes used here.
const ONNX_FLOAT: i32 = 1;
const ONNX_INT64: i32 = 7;
const ONNX_EXTERNAL: i32 = 1;

/// Decode a tensor: float32 or int64, from `raw_data` (little-endian) or the typed field.
fn decode_tensor(t: &pb::TensorProto, what: &str) -> Result<Const, TrainError> {
    let bad = |m: String| Err(TrainError::Onnx(format!("{what}: {m}")));
    if t.data_location == Some(ONNX_EXTERNAL) {
        return bad("external data is not supported".into());
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        match usize::try_from(d) {
            Ok(d) => dims.push(d),
            Err(_) => return bad(format!("negative dimension in {:?}", t.dims)),
        }
    }
    let numel: usize = dims.iter().product();
    let raw = &t.raw_data;
    let data = match t.data_type {
        ONNX_FLOAT if !raw.is_empty() => {
            if raw.len() != numel * 4 {
                return bad(format!("{} raw bytes for {numel} float32 values", raw.len()));
            }
            ConstData::F32(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        }
        ONNX_FLOAT => {
            if t.float_data.len() != numel {
                return bad(format!("{} float_data values for shape {dims:?}", t.float_data.len()));
            }
            ConstData::F32(t.float_data.clone())
        }
        ONNX_INT64 if !raw.is_empty() => {
            if raw.len() != numel * 8 {
                return bad(format!("{} raw bytes for {numel} int64 values", raw.len()));
            }
            ConstData::I64(
                raw.chunks_exact(8)
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect(),
            )
        }
        ONNX_INT64 => {
            if t.int64_data.len() != numel {
                return bad(format!("{} int64_data values for shape {dims:?}", t.int64_data.len()));
            }
            ConstData::I64(t.int64_data.clone())
        }
        other => return bad(format!("data type {other} is not supported (only float32 and int64)")),
    };
    Ok(Const { dims, data, source: None })
}

/// Stage of a node: `conv_K` for `conv_K` or `conv_K_*`, `None` otherwise.
fn stage_key(node: &str) -> Option<String> {
    let rest = node.strip_prefix("conv_")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let after = &rest[digits..];
    (digits > 0 && (after.is_empty() || after.starts_with('_'))).then(|| format!("conv_{}", &rest[..digits]))
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_int(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_float(node: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

fn attr_ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

struct Builder<'g> {
    device: Device,
    initializers: HashMap<&'g str, &'g pb::TensorProto>,
    /// Values of `Constant` and `Reshape` nodes.
    constants: HashMap<String, Const>,
    /// Initializers already bound to a parameter (each may be trained under one name only).
    bound: HashSet<String>,
    /// Name of the current activation.
    act: String,
    shape: ActShape,
    input: [usize; 3],
    stages: Vec<Stage>,
    /// Layers before the first named stage (they join it).
    pending: Vec<Layer>,
}

impl<'g> Builder<'g> {
    fn new(graph: &'g pb::GraphProto, device: &Device) -> Result<Self, TrainError> {
        let initializers: HashMap<&str, &pb::TensorProto> =
            graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
        let inputs: Vec<&pb::ValueInfoProto> =
            graph.input.iter().filter(|i| !initializers.contains_key(i.name.as_str())).collect();
        let [input] = inputs.as_slice() else {
            return Err(TrainError::Onnx(format!("the graph has {} inputs, expected one image batch", inputs.len())));
        };
        let dims = input_dims(input)?;
        Ok(Self {
            device: device.clone(),
            initializers,
            constants: HashMap::new(),
            bound: HashSet::new(),
            act: input.name.clone(),
            shape: ActShape::Map { c: dims[0], h: dims[1], w: dims[2] },
            input: dims,
            stages: vec![],
            pending: vec![],
        })
    }

    fn build(mut self, graph: &pb::GraphProto) -> Result<SFaceNet, TrainError> {
        for node in &graph.node {
            self.node(node)?;
        }
        let [output] = graph.output.as_slice() else {
            return Err(TrainError::Onnx(format!("the graph has {} outputs, expected one", graph.output.len())));
        };
        if output.name != self.act {
            return Err(TrainError::Onnx(format!(
                "the graph output `{}` is not the end of the operator chain (`{}`)",
                output.name, self.act
            )));
        }
        if self.stages.is_empty() {
            return Err(TrainError::Onnx("no `conv_K` nodes: cannot split the network into stages".into()));
        }
        let output = match self.shape {
            ActShape::Map { c, h, w } => c * h * w,
            ActShape::Flat(f) => f,
        };
        Ok(SFaceNet { stages: self.stages, input: self.input, output })
    }

    fn node(&mut self, node: &pb::NodeProto) -> Result<(), TrainError> {
        let what = format!("node `{}` ({})", node.name, node.op_type);
        let bad = |m: &str| Err(TrainError::Onnx(format!("{what}: {m}")));
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return bad(&format!("domain `{}` is not supported", node.domain));
        }
        let outputs: Vec<&String> = node.output.iter().filter(|o| !o.is_empty()).collect();
        let [out] = outputs.as_slice() else {
            return bad("expected exactly one output");
        };
        let out = (*out).clone();
        match node.op_type.as_str() {
            "Constant" => {
                let Some(t) = attr(node, "value").and_then(|a| a.t.as_ref()) else {
                    return bad("only a `value` tensor attribute is supported");
                };
                let c = decode_tensor(t, &what)?;
                self.constants.insert(out, c);
            }
            "Reshape" => {
                let data = self.constant(node, 0, &what)?;
                let shape = self.constant(node, 1, &what)?;
                let ConstData::I64(spec) = &shape.data else { return bad("the shape is not int64") };
                let dims = reshape_dims(&data.dims, spec, attr_int(node, "allowzero", 0) != 0)
                    .map_err(|m| TrainError::Onnx(format!("{what}: {m}")))?;
                self.constants.insert(out, Const { dims, ..data });
            }
            "Sub" | "Mul" => {
                let (reversed, c) = if self.is_act(node, 0) {
                    (false, self.constant(node, 1, &what)?)
                } else if self.is_act(node, 1) {
                    (true, self.constant(node, 0, &what)?)
                } else {
                    return bad("neither input is the previous operator's output (only chains are supported)");
                };
                let value = match (&c.data, c.numel()) {
                    (ConstData::F32(v), 1) => v[0],
                    _ => return bad("only a single float32 constant operand is supported"),
                };
                let layer = if node.op_type == "Sub" {
                    Layer::Sub(ScalarSub { value, reversed })
                } else {
                    Layer::Mul(ScalarMul { value })
                };
                self.push(node, layer, out)?;
            }
            "Conv" => self.conv(node, &what, out)?,
            "BatchNormalization" => self.batch_norm(node, &what, out)?,
            "PRelu" => {
                self.expect_act(node, &what)?;
                let (slope, slope_name) = self.param_values(node, 1, &what)?;
                let dims = &self.constant(node, 1, &what)?.dims;
                let c = self.shape.channels();
                // Per-channel slopes must broadcast along axis 1: [C,1,1] / [1,C,1,1] on maps, [C] / [1,C] on
                // flat features; a single slope broadcasts anywhere.
                let per_channel = match self.shape {
                    ActShape::Map { .. } => matches!(dims.as_slice(), [x, 1, 1] | [1, x, 1, 1] if *x == c),
                    ActShape::Flat(_) => matches!(dims.as_slice(), [x] | [1, x] if *x == c),
                };
                if !(per_channel || slope.len() == 1) {
                    return bad(&format!("slope shape {dims:?} is not per-channel for {c} channels"));
                }
                let n = slope.len();
                let slope = Param::from_data(TensorData::new(slope, [n]), &self.device);
                self.push(node, Layer::PRelu(PRelu { slope, slope_name }), out)?;
            }
            "Dropout" => {
                self.expect_act(node, &what)?;
                if let Some(mode) = node.input.get(2).filter(|s| !s.is_empty()) {
                    let c = self.constant_named(mode, &what)?;
                    if !matches!(&c.data, ConstData::I64(v) if v.iter().all(|&b| b == 0)) {
                        return bad("training_mode must be a constant false");
                    }
                }
                // Identity at inference: the output names the same activation.
                self.act = out;
            }
            "Flatten" => {
                self.expect_act(node, &what)?;
                if attr_int(node, "axis", 1) != 1 {
                    return bad("only axis = 1 is supported");
                }
                let features = match self.shape {
                    ActShape::Map { c, h, w } => c * h * w,
                    ActShape::Flat(f) => f,
                };
                self.shape = ActShape::Flat(features);
                self.push(node, Layer::Flatten(Flatten { features }), out)?;
            }
            "Gemm" => self.gemm(node, &what, out)?,
            other => return bad(&format!("operator `{other}` is not supported by the burn port of SFace")),
        }
        Ok(())
    }

    fn conv(&mut self, node: &pb::NodeProto, what: &str, out: String) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Onnx(format!("{what}: {m}")));
        self.expect_act(node, what)?;
        let ActShape::Map { c, h, w } = self.shape else { return bad("the input is not a feature map".into()) };
        let wdims = self.constant(node, 1, what)?.dims;
        let [c_out, c_in_g, kh, kw] = wdims[..] else { return bad(format!("weight shape {wdims:?} is not 4-D")) };
        let groups = usize::try_from(attr_int(node, "group", 1)).unwrap_or(0);
        if kh == 0 || kw == 0 {
            return bad(format!("weight shape {wdims:?} has an empty kernel"));
        }
        if groups == 0 || c_in_g * groups != c || !c_out.is_multiple_of(groups) {
            return bad(format!("weight {wdims:?} with group {groups} does not fit {c} input channels"));
        }
        if attr(node, "auto_pad").is_some_and(|a| !a.s.is_empty() && a.s != b"NOTSET") {
            return bad("auto_pad is not supported (explicit pads only)".into());
        }
        if let Some(k) = attr_ints(node, "kernel_shape")
            && k != [kh as i64, kw as i64]
        {
            return bad(format!("kernel_shape {k:?} differs from the weight's {wdims:?}"));
        }
        let two = |name: &str| -> Result<[usize; 2], TrainError> {
            let v = attr_ints(node, name).unwrap_or_else(|| vec![1, 1]);
            match v[..] {
                [a, b] if a > 0 && b > 0 => Ok([a as usize, b as usize]),
                _ => Err(TrainError::Onnx(format!("{what}: {name} {v:?} is not two positive values"))),
            }
        };
        let stride = two("strides")?;
        let dilation = two("dilations")?;
        let pads = match attr_ints(node, "pads").unwrap_or_else(|| vec![0; 4])[..] {
            [a, b, cc, d] if a >= 0 && b >= 0 && cc >= 0 && d >= 0 => [a as usize, b as usize, cc as usize, d as usize],
            ref v => return bad(format!("pads {v:?} are not four values >= 0")),
        };
        let span = |size: usize, pad: usize, k: usize, d: usize| (size + pad).checked_sub(d * (k - 1) + 1);
        let (Some(sh), Some(sw)) =
            (span(h, pads[0] + pads[2], kh, dilation[0]), span(w, pads[1] + pads[3], kw, dilation[1]))
        else {
            return bad(format!("kernel {kh}x{kw} is larger than the padded {h}x{w} input"));
        };
        let (weight, weight_name) = self.param_values(node, 1, what)?;
        let weight = Param::from_data(TensorData::new(weight, [c_out, c_in_g, kh, kw]), &self.device);
        let (bias, bias_name) = if node.input.get(2).is_some_and(|s| !s.is_empty()) {
            let (b, name) = self.param_values(node, 2, what)?;
            if b.len() != c_out {
                return bad(format!("bias has {} values for {c_out} output channels", b.len()));
            }
            (Some(Param::from_data(TensorData::new(b, [c_out]), &self.device)), name)
        } else {
            (None, String::new())
        };
        self.shape = ActShape::Map { c: c_out, h: sh / stride[0] + 1, w: sw / stride[1] + 1 };
        let conv = Conv { weight, bias, stride, pads, dilation, groups, weight_name, bias_name };
        self.push(node, Layer::Conv(conv), out)
    }

    fn batch_norm(&mut self, node: &pb::NodeProto, what: &str, out: String) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Onnx(format!("{what}: {m}")));
        self.expect_act(node, what)?;
        if attr_int(node, "training_mode", 0) != 0 {
            return bad("training_mode is not supported (inference statistics only)".into());
        }
        let c = self.shape.channels();
        let eps = attr_float(node, "epsilon", 1e-5);
        let (gamma, gamma_name) = self.param_values(node, 1, what)?;
        let (beta, beta_name) = self.param_values(node, 2, what)?;
        let mean = f32_values(self.constant(node, 3, what)?, what)?;
        let var = f32_values(self.constant(node, 4, what)?, what)?;
        if [gamma.len(), beta.len(), mean.len(), var.len()] != [c; 4] {
            return bad(format!("scale/bias/mean/var do not all have {c} values"));
        }
        let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        let device = &self.device;
        let bn = BatchNorm {
            gamma: Param::from_data(TensorData::new(gamma, [c]), device),
            beta: Param::from_data(TensorData::new(beta, [c]), device),
            mean: Tensor::from_data(TensorData::new(mean, [c]), device),
            inv_std: Tensor::from_data(TensorData::new(inv_std, [c]), device),
            gamma_name,
            beta_name,
        };
        self.push(node, Layer::BatchNorm(bn), out)
    }

    fn gemm(&mut self, node: &pb::NodeProto, what: &str, out: String) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Onnx(format!("{what}: {m}")));
        self.expect_act(node, what)?;
        let ActShape::Flat(f) = self.shape else { return bad("the input is not flattened".into()) };
        if attr_int(node, "transA", 0) != 0 {
            return bad("transA is not supported".into());
        }
        let trans_b = attr_int(node, "transB", 0) != 0;
        let wdims = self.constant(node, 1, what)?.dims;
        let (d_in, d_out) = match (wdims.as_slice(), trans_b) {
            (&[o, i], true) => (i, o),
            (&[i, o], false) => (i, o),
            _ => return bad(format!("weight shape {wdims:?} is not 2-D")),
        };
        if d_in != f {
            return bad(format!("weight {wdims:?} (transB {trans_b}) does not take {f} features"));
        }
        let (weight, weight_name) = self.param_values(node, 1, what)?;
        let weight = Param::from_data(TensorData::new(weight, [wdims[0], wdims[1]]), &self.device);
        let (bias, bias_name) = if node.input.get(2).is_some_and(|s| !s.is_empty()) {
            let (b, name) = self.param_values(node, 2, what)?;
            if b.len() != d_out {
                return bad(format!("bias has {} values for {d_out} outputs (only per-output bias)", b.len()));
            }
            (Some(Param::from_data(TensorData::new(b, [d_out]), &self.device)), name)
        } else {
            (None, String::new())
        };
        let gemm = Gemm {
            weight,
            bias,
            trans_b,
            alpha: attr_float(node, "alpha", 1.0),
            beta: attr_float(node, "beta", 1.0),
            weight_name,
            bias_name,
        };
        self.shape = ActShape::Flat(d_out);
        self.push(node, Layer::Gemm(gemm), out)
    }

    fn is_act(&self, node: &pb::NodeProto, i: usize) -> bool {
        node.input.get(i) == Some(&self.act)
    }

    fn expect_act(&self, node: &pb::NodeProto, what: &str) -> Result<(), TrainError> {
        if self.is_act(node, 0) {
            Ok(())
        } else {
            Err(TrainError::Onnx(format!(
                "{what}: its first input is not the previous operator's output `{}` (only chains are supported)",
                self.act
            )))
        }
    }

    /// Input `i` of `node`, which must be a constant.
    fn constant(&self, node: &pb::NodeProto, i: usize, what: &str) -> Result<Const, TrainError> {
        let name = node.input.get(i).filter(|s| !s.is_empty());
        let name = name.ok_or_else(|| TrainError::Onnx(format!("{what}: input {i} is missing")))?;
        self.constant_named(name, what)
    }

    fn constant_named(&self, name: &str, what: &str) -> Result<Const, TrainError> {
        if let Some(c) = self.constants.get(name) {
            return Ok(c.clone());
        }
        match self.initializers.get(name) {
            Some(t) => {
                Ok(Const { source: Some(name.to_string()), ..decode_tensor(t, &format!("initializer `{name}`"))? })
            }
            None if name == self.act => {
                Err(TrainError::Onnx(format!("{what}: `{name}` must be a constant, not the activation")))
            }
            None => Err(TrainError::Onnx(format!("{what}: input `{name}` is neither a constant nor the activation"))),
        }
    }

    /// Input `i` of `node` as the float values of a trainable tensor, with the initializer they come from.
    fn param_values(&mut self, node: &pb::NodeProto, i: usize, what: &str) -> Result<(Vec<f32>, String), TrainError> {
        let c = self.constant(node, i, what)?;
        let Some(source) = c.source.clone() else {
            return Err(TrainError::Onnx(format!(
                "{what}: input {i} does not come from an initializer, so it could not be exported after training"
            )));
        };
        if !self.bound.insert(source.clone()) {
            return Err(TrainError::Onnx(format!("{what}: initializer `{source}` is shared by several operators")));
        }
        Ok((f32_values(c, what)?, source))
    }

    /// Add a layer to the stage `node` belongs to, and make `out` the activation.
    fn push(&mut self, node: &pb::NodeProto, layer: Layer, out: String) -> Result<(), TrainError> {
        let key = stage_key(&node.name).or_else(|| (!self.stages.is_empty()).then(|| EMBEDDING_STAGE.to_string()));
        match key {
            None => self.pending.push(layer),
            Some(key) => {
                if self.stages.last().is_none_or(|s| s.name != key) {
                    if self.stages.iter().any(|s| s.name == key) {
                        return Err(TrainError::Onnx(format!(
                            "node `{}`: stage `{key}` resumes after another stage; its nodes must be contiguous",
                            node.name
                        )));
                    }
                    let layers = std::mem::take(&mut self.pending);
                    self.stages.push(Stage { name: key, layers });
                }
                if let Some(stage) = self.stages.last_mut() {
                    stage.layers.push(layer);
                }
            }
        }
        self.act = out;
        Ok(())
    }
}

fn f32_values(c: Const, what: &str) -> Result<Vec<f32>, TrainError> {
    match c.data {
        ConstData::F32(v) => Ok(v),
        ConstData::I64(_) => Err(TrainError::Onnx(format!("{what}: expected float32 values, got int64"))),
    }
}

/// The `[c, h, w]` of the graph input `[N, c, h, w]` (N may be symbolic).
fn input_dims(input: &pb::ValueInfoProto) -> Result<[usize; 3], TrainError> {
    use pb::tensor_shape_proto::dimension::Value;
    let bad =
        || TrainError::Onnx(format!("input `{}` is not a float32 [N, C, H, W] tensor of known C, H, W", input.name));
    let Some(pb::type_proto::Value::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(bad());
    };
    if t.elem_type != ONNX_FLOAT {
        return Err(bad());
    }
    let dims = t.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default();
    let known = |d: &pb::tensor_shape_proto::Dimension| match d.value {
        Some(Value::DimValue(v)) if v > 0 => Some(v as usize),
        _ => None,
    };
    match dims {
        [_, c, h, w] => match (known(c), known(h), known(w)) {
            (Some(c), Some(h), Some(w)) => Ok([c, h, w]),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// ONNX `Reshape` of a constant of shape `dims` to `spec` (`0` copies a dimension unless `allowzero`, `-1` is
/// inferred).
fn reshape_dims(dims: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let numel: usize = dims.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => {
                out.push(*dims.get(i).ok_or_else(|| format!("shape {spec:?}: no dimension {i} to copy"))?)
            }
            s if s >= 0 => out.push(s as usize),
            _ => return Err(format!("shape {spec:?} is not valid")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(format!("cannot reshape {dims:?} to {spec:?}"));
        }
        out[i] = numel / known;
    }
    if out.iter().product::<usize>() != numel {
        return Err(format!("cannot reshape {dims:?} ({numel} values) to {spec:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use burn::module::{Module, ModuleVisitor, Param};
    use burn::optim::{AdamWConfig, GradientsParams};
    use burn::store::ModuleRecord;
    use burn::tensor::{Device, Tensor, TensorData};
    use image::RgbImage;
    use issc_detect::{DetectorConfig, DetectorKind, Embedder, EngineChoice, ModelDir, SFace};
    use prost::Message;
    use tract_onnx::pb;

    use super::*;

    fn models() -> ModelDir {
        ModelDir::locate(None).expect("models folder")
    }

    fn sface_bytes() -> Vec<u8> {
        models().load(&issc_detect::models::SFACE_DEQUANT).expect("SFace model")
    }

    /// Every face of the fixture photos, detected by YuNet and aligned to 112x112.
    fn aligned_crops() -> Vec<(String, RgbImage)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/people");
        let detector = DetectorKind::YuNet.open(&models(), DetectorConfig::default()).expect("YuNet");
        let mut photos: Vec<PathBuf> = std::fs::read_dir(&root)
            .expect("fixtures/people")
            .flat_map(|d| std::fs::read_dir(d.expect("entry").path()).expect("person folder"))
            .map(|f| f.expect("entry").path())
            .collect();
        photos.sort();
        let mut crops = vec![];
        for photo in photos {
            let img = issc_core::load_image(&photo, &Default::default()).expect("photo").rgb;
            for (k, face) in detector.detect(&img).expect("detect").iter().enumerate() {
                let crop = issc_detect::align_face(&img, &face.landmarks, 112).expect("align");
                let name = format!("{}#{k}", photo.file_name().unwrap_or_default().to_string_lossy());
                crops.push((name, crop));
            }
        }
        crops
    }

    fn nchw(crops: &[&RgbImage], device: &Device) -> Tensor<4> {
        let plane = 112 * 112;
        let mut data = vec![0f32; crops.len() * 3 * plane];
        for (k, crop) in crops.iter().enumerate() {
            for (i, p) in crop.pixels().enumerate() {
                for ch in 0..3 {
                    data[(k * 3 + ch) * plane + i] = f32::from(p.0[ch]);
                }
            }
        }
        Tensor::from_data(TensorData::new(data, [crops.len(), 3, 112, 112]), device)
    }

    fn l2_normalised(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn sface_net_matches_onnx_on_aligned_faces() {
        let engine = issc_detect::init_engine(EngineChoice::Auto).expect("engine");
        let crops = aligned_crops();
        assert!(crops.len() >= 9, "expected a face in each of the 9 fixture photos, got {}", crops.len());
        let sface = SFace::new(&models()).expect("SFace");
        let device = Device::flex();
        let net = SFaceNet::from_onnx(&sface_bytes(), &device).expect("SFaceNet");
        assert_eq!(net.input_shape(), [3, 112, 112]);
        assert_eq!(net.output_dim(), 128);
        // One batch through burn, one face at a time through the ONNX engine.
        let images: Vec<&RgbImage> = crops.iter().map(|(_, c)| c).collect();
        let out = net.forward(nchw(&images, &device));
        assert_eq!(out.dims(), [crops.len(), 128]);
        let out = out.into_data().try_into_vec::<f32>().expect("f32");
        let (mut min_cos, mut max_diff) = (f32::INFINITY, 0f32);
        for (k, (name, crop)) in crops.iter().enumerate() {
            let ours = l2_normalised(&out[k * 128..(k + 1) * 128]);
            let onnx = sface.embed(crop).expect("embed");
            let cos: f32 = ours.iter().zip(onnx.as_slice()).map(|(a, b)| a * b).sum();
            let diff = ours.iter().zip(onnx.as_slice()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            println!("{name}: cosine {cos:.7}, max |diff| {diff:.2e}");
            assert!(cos >= 0.9999, "{name}: cosine {cos} between burn and ONNX");
            assert!(diff < 1e-3, "{name}: max abs difference {diff}");
            min_cos = min_cos.min(cos);
            max_diff = max_diff.max(diff);
        }
        println!("{} faces, engine {engine}: min cosine {min_cos:.7}, max |diff| {max_diff:.2e}", crops.len());
        // The same faces one at a time give the same values as the batch.
        let single = net.forward(nchw(&images[..1], &device)).into_data().try_into_vec::<f32>().expect("f32");
        let batch_diff = single.iter().zip(&out[..128]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(batch_diff < 1e-4, "batch of 1 vs batch: {batch_diff}");
    }

    /// The float values of an initializer, decoded independently of the module's decoder.
    fn initializer_values(t: &pb::TensorProto) -> Vec<f32> {
        if t.raw_data.is_empty() {
            t.float_data.clone()
        } else {
            t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect()
        }
    }

    #[test]
    fn sface_net_exports_the_original_initializers() {
        let bytes = sface_bytes();
        let net = SFaceNet::from_onnx(&bytes, &Device::flex()).expect("SFaceNet");
        let model = pb::ModelProto::decode(bytes.as_slice()).expect("onnx");
        let graph = model.graph.expect("graph");
        let weights = net.onnx_weights();
        let names: HashSet<&str> = weights.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), weights.len(), "a name is listed twice");
        // Every float initializer except the fixed statistics and the input scaling is a parameter.
        let expected: HashSet<&str> = graph
            .initializer
            .iter()
            .filter(|t| t.data_type == ONNX_FLOAT)
            .map(|t| t.name.as_str())
            .filter(|n| !n.ends_with("_moving_mean") && !n.ends_with("_moving_var") && !n.starts_with("scalar_op"))
            .collect();
        assert_eq!(names, expected);
        for (name, values) in &weights {
            let t = graph.initializer.iter().find(|t| &t.name == name).expect("initializer");
            let original = initializer_values(t);
            assert_eq!(values.len(), original.len(), "{name}");
            assert!(values.iter().zip(&original).all(|(a, b)| a.to_bits() == b.to_bits()), "{name} differs");
        }
        let total: usize = weights.iter().map(|(_, v)| v.len()).sum();
        assert_eq!(net.param_counts(), (total, 0));
        println!("{} tensors, {total} parameters", weights.len());
    }

    #[test]
    fn sface_net_reads_typed_fields_as_well_as_raw_data() {
        let bytes = sface_bytes();
        let mut model = pb::ModelProto::decode(bytes.as_slice()).expect("onnx");
        let graph = model.graph.as_mut().expect("graph");
        let mut moved = 0;
        for t in &mut graph.initializer {
            if t.raw_data.is_empty() {
                continue;
            }
            match t.data_type {
                ONNX_FLOAT => t.float_data = initializer_values(t),
                ONNX_INT64 => {
                    t.int64_data =
                        t.raw_data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8"))).collect()
                }
                _ => continue,
            }
            t.raw_data.clear();
            moved += 1;
        }
        assert!(moved > 50, "the model stores its weights in raw_data");
        let device = Device::flex();
        let typed = SFaceNet::from_onnx(&model.encode_to_vec(), &device).expect("typed fields");
        let raw = SFaceNet::from_onnx(&bytes, &device).expect("raw_data");
        assert_eq!(typed.onnx_weights(), raw.onnx_weights());
    }

    #[test]
    fn sface_net_rejects_unsupported_operators_and_bad_bytes() {
        let mut model = pb::ModelProto::decode(sface_bytes().as_slice()).expect("onnx");
        let graph = model.graph.as_mut().expect("graph");
        let node = graph.node.iter_mut().find(|n| n.op_type == "PRelu").expect("a PRelu");
        node.op_type = "Relu".into();
        let err = SFaceNet::from_onnx(&model.encode_to_vec(), &Device::flex()).expect_err("Relu is not supported");
        let msg = err.to_string();
        assert!(msg.contains("`Relu` is not supported") && msg.contains("conv_1_relu"), "{msg}");
        let err = SFaceNet::from_onnx(b"not a model", &Device::flex()).expect_err("garbage");
        assert!(err.to_string().contains("ONNX"), "{err}");
    }

    /// Checks, for every parameter it visits, whether it has a gradient.
    struct GradCheck<'a> {
        grads: &'a GradientsParams,
        with: usize,
        without: usize,
    }

    impl ModuleVisitor for GradCheck<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            match self.grads.get::<D>(param.id) {
                Some(_) => self.with += 1,
                None => self.without += 1,
            }
        }
    }

    #[test]
    fn sface_net_freezing_leaves_only_the_last_stages_trainable() {
        let bytes = sface_bytes();
        let device = Device::flex().autodiff();
        let net = SFaceNet::from_onnx(&bytes, &device).expect("SFaceNet");
        let names = net.stage_names();
        assert_eq!(names.len(), 15);
        assert_eq!(names[0], "conv_1");
        assert_eq!(names[13], "conv_14");
        assert_eq!(names[14], EMBEDDING_STAGE);
        let all = net.stage_params();
        let total: usize = all.iter().map(|s| s.trainable).sum();
        for s in &all {
            println!("{:>9}: {:>8} parameters", s.name, s.trainable);
        }

        let net = net.freeze_all_but_last(2);
        let stages = net.stage_params();
        for (i, s) in stages.iter().enumerate() {
            let size = all[i].trainable;
            let expected = if i >= 13 { (size, 0) } else { (0, size) };
            assert_eq!((s.trainable, s.frozen), expected, "stage {}", s.name);
        }
        let (trainable, frozen) = net.param_counts();
        assert_eq!(trainable + frozen, total);
        assert_eq!(trainable, all[13].trainable + all[14].trainable);
        println!("last 2 stages: {trainable} trainable, {frozen} frozen of {total}");

        // A backward pass reaches exactly the parameters of the last two stages.
        let x = Tensor::<4>::from_data(
            TensorData::new((0..2 * 3 * 112 * 112).map(|i| (i % 251) as f32).collect::<Vec<_>>(), [2, 3, 112, 112]),
            &device,
        );
        let grads = GradientsParams::from_grads(net.forward(x).sum().backward(), &net);
        for (i, stage) in net.stages.iter().enumerate() {
            let mut check = GradCheck { grads: &grads, with: 0, without: 0 };
            stage.visit(&mut check);
            if i >= 13 {
                assert!(check.with > 0 && check.without == 0, "{}: {} without gradient", stage.name, check.without);
            } else {
                assert!(check.with == 0, "{}: {} frozen parameters got a gradient", stage.name, check.with);
            }
        }

        // The counts are the configured state on a plain device too; 0 and >= 15 are the extremes.
        let plain = SFaceNet::from_onnx(&bytes, &Device::flex()).expect("SFaceNet").freeze_all_but_last(2);
        assert_eq!(plain.param_counts(), (trainable, frozen));
        let none = plain.freeze_all_but_last(0);
        assert_eq!(none.param_counts(), (0, total));
        assert_eq!(none.freeze_all_but_last(100).param_counts(), (total, 0));
    }

    #[test]
    fn sface_net_round_trips_through_a_burn_record_after_a_training_step() {
        let bytes = sface_bytes();
        let device = Device::flex().autodiff();
        let original = SFaceNet::from_onnx(&bytes, &device).expect("SFaceNet").onnx_weights();
        let mut net = SFaceNet::from_onnx(&bytes, &device).expect("SFaceNet").freeze_all_but_last(1);
        let mut optim = AdamWConfig::new().init();
        let x = Tensor::<4>::from_data(
            TensorData::new((0..3 * 112 * 112).map(|i| (i % 199) as f32).collect::<Vec<_>>(), [1, 3, 112, 112]),
            &device,
        );
        let grads = GradientsParams::from_grads(net.forward(x.clone()).sum().backward(), &net);
        net = optim.step(1e-2, net, grads);
        let trained = net.onnx_weights();
        // Only the embedding stage moved.
        for ((name, before), (_, after)) in original.iter().zip(&trained) {
            let embedding = ["bn1_", "pre_fc1_", "fc1_"].iter().any(|p| name.starts_with(p));
            assert_eq!(before != after, embedding, "{name}");
        }

        let record = net.clone().into_record().into_bytes().expect("save");
        let loaded = SFaceNet::from_onnx(&bytes, &device)
            .expect("SFaceNet")
            .try_load_record(ModuleRecord::from_bytes(record).expect("parse"))
            .expect("load");
        assert_eq!(loaded.onnx_weights(), trained);
        let a = net.valid().forward(x.clone().inner()).into_data().try_into_vec::<f32>().expect("f32");
        let b = loaded.valid().forward(x.inner()).into_data().try_into_vec::<f32>().expect("f32");
        assert_eq!(a, b);
    }
}
