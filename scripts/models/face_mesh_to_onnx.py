#!/usr/bin/env python3
"""Convert MediaPipe Face Mesh's landmark model (face_landmark.tflite, Apache-2.0) to ONNX.

A build tool, run once by a maintainer; nothing in the product runs Python. Reproducible:

    scripts/models/face_mesh_to_onnx.sh          # makes a venv under target/, then runs this file

What it does, op by op (the model uses only DEQUANTIZE, CONV_2D, DEPTHWISE_CONV_2D, PRELU, ADD, MAX_POOL_2D and
PAD):
* the fp16 weights (DEQUANTIZE of a constant) are widened to fp32, which is what TFLite computes with;
* the graph is rewritten from NHWC to NCHW (kernels OHWI -> OIHW, depthwise 1HWC -> C1HW with group = C, PRelu
  slopes [1,1,C] -> [C,1,1], the channel padding's pads reordered), TFLite's SAME padding written as explicit pads;
* the input becomes `input` float32 [N, 3, 192, 192], RGB scaled to 0..1 (MediaPipe's ImageToTensor range); the
  outputs `landmarks` [N, 1404] (468 x (x, y, z) in input pixels) and `face_flag` [N, 1] (a logit: sigmoid > 0.5
  means a face is in the crop).

It then checks the ONNX graph against the TFLite interpreter on random and structured inputs (max |difference|
printed; the script fails above 1e-3 px) and prints the file's SHA-256.
"""

import argparse
import hashlib
import sys
import zipfile

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

# The wheel the model comes from and the model's own checksum (the wheel is fetched from PyPI by the .sh script).
SOURCE_MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
SOURCE_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"

OPS = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}


def same_pads(size, kernel, stride):
    """TFLite SAME padding along one axis: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def convert(tfl_bytes):
    model = tflite.Model.GetRootAsModel(tfl_bytes, 0)
    g = model.Subgraphs(0)

    def tensor(i):
        return g.Tensors(i)

    def shape(i):
        return [int(d) for d in tensor(i).ShapeAsNumpy()]

    def name(i):
        return tensor(i).Name().decode()

    def raw(i):
        t = tensor(i)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int):  # no buffer: not a constant
            return None
        dtype = {
            tflite.TensorType.FLOAT32: np.float32,
            tflite.TensorType.FLOAT16: np.float16,
            tflite.TensorType.INT32: np.int32,
        }[t.Type()]
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(shape(i))

    consts = {}  # tensor index -> numpy array (fp32 for weights)
    nodes, inits = [], []
    onnx_name = {}  # tensor index -> ONNX value name

    inp = g.Inputs(0)
    assert shape(inp) == [1, 192, 192, 3], shape(inp)
    onnx_name[inp] = "input"

    def pads(o, src, kh, kw):
        """ONNX pads (top, left, bottom, right) for a TFLite conv or pool's SAME or VALID padding."""
        _, h, wd, _ = shape(src)
        if o.Padding() != tflite.Padding.SAME:
            return 0, 0, 0, 0
        t, b = same_pads(h, kh, o.StrideH())
        le, r = same_pads(wd, kw, o.StrideW())
        return t, le, b, r

    def const(arr, label):
        inits.append(numpy_helper.from_array(arr, label))
        return label

    def act(out_name, fused):
        if fused == tflite.ActivationFunctionType.NONE:
            return out_name
        if fused == tflite.ActivationFunctionType.RELU:
            nodes.append(helper.make_node("Relu", [out_name + "_pre"], [out_name]))
            return out_name + "_pre"
        raise SystemExit(f"unsupported fused activation {fused}")

    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = OPS[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = [int(i) for i in op.InputsAsNumpy()]
        outs = [int(i) for i in op.OutputsAsNumpy()]
        out = outs[0]
        onnx_name[out] = name(out)
        opts = op.BuiltinOptions()

        if kind == "DEQUANTIZE":
            consts[out] = raw(ins[0]).astype(np.float32)
            continue

        def weight(i):
            if i in consts:
                return consts[i]
            w = raw(i)
            if w is None:
                raise SystemExit(f"op {k} ({kind}): input {name(i)} is not a constant")
            return w.astype(np.float32)

        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            if kind == "CONV_2D":
                o = tflite.Conv2DOptions()
            else:
                o = tflite.DepthwiseConv2DOptions()
            o.Init(opts.Bytes, opts.Pos)
            assert o.DilationHFactor() == 1 and o.DilationWFactor() == 1
            w = weight(ins[1])
            if kind == "CONV_2D":
                w = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
                group = 1
            else:
                assert o.DepthMultiplier() == 1
                w = w.transpose(3, 0, 1, 2)  # 1HWC -> C1HW
                group = w.shape[0]
            kh, kw = w.shape[2], w.shape[3]
            t, le, b, r = pads(o, ins[0], kh, kw)
            inputs = [onnx_name[ins[0]], const(w, name(out) + "/W")]
            if len(ins) > 2 and ins[2] >= 0:
                inputs.append(const(weight(ins[2]), name(out) + "/B"))
            target = act(name(out), o.FusedActivationFunction())
            nodes.append(
                helper.make_node(
                    "Conv",
                    inputs,
                    [target],
                    kernel_shape=[kh, kw],
                    strides=[o.StrideH(), o.StrideW()],
                    pads=[t, le, b, r],
                    group=group,
                )
            )
        elif kind == "PRELU":
            s = weight(ins[1])
            c = s.shape[-1]
            s = s.reshape(c, 1, 1)
            nodes.append(
                helper.make_node("PRelu", [onnx_name[ins[0]], const(s, name(out) + "/slope")], [name(out)])
            )
        elif kind == "ADD":
            o = tflite.AddOptions()
            o.Init(opts.Bytes, opts.Pos)
            target = act(name(out), o.FusedActivationFunction())
            nodes.append(helper.make_node("Add", [onnx_name[ins[0]], onnx_name[ins[1]]], [target]))
        elif kind == "MAX_POOL_2D":
            o = tflite.Pool2DOptions()
            o.Init(opts.Bytes, opts.Pos)
            kh, kw = o.FilterHeight(), o.FilterWidth()
            t, le, b, r = pads(o, ins[0], kh, kw)
            target = act(name(out), o.FusedActivationFunction())
            nodes.append(
                helper.make_node(
                    "MaxPool",
                    [onnx_name[ins[0]]],
                    [target],
                    kernel_shape=[kh, kw],
                    strides=[o.StrideH(), o.StrideW()],
                    pads=[t, le, b, r],
                )
            )
        elif kind == "PAD":
            p = raw(ins[1]).astype(np.int64)  # [[n0, n1], [h0, h1], [w0, w1], [c0, c1]]
            nchw = p[[0, 3, 1, 2]]
            widths = np.concatenate([nchw[:, 0], nchw[:, 1]]).astype(np.int64)
            nodes.append(
                helper.make_node("Pad", [onnx_name[ins[0]], const(widths, name(out) + "/pads")], [name(out)])
            )
        else:
            raise SystemExit(f"op {k}: {kind} is not handled by this converter")

    outputs = {name(g.Outputs(i)): g.Outputs(i) for i in range(g.OutputsLength())}
    lm, flag = outputs["conv2d_21"], outputs["conv2d_31"]
    nodes.append(
        helper.make_node("Reshape", [onnx_name[lm], const(np.array([-1, 1404], np.int64), "shape_lm")], ["landmarks"])
    )
    nodes.append(
        helper.make_node("Reshape", [onnx_name[flag], const(np.array([-1, 1], np.int64), "shape_flag")], ["face_flag"])
    )
    graph = helper.make_graph(
        nodes,
        "mediapipe_face_landmark",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 192, 192])],
        [
            helper.make_tensor_value_info("landmarks", TensorProto.FLOAT, ["N", 1404]),
            helper.make_tensor_value_info("face_flag", TensorProto.FLOAT, ["N", 1]),
        ],
        inits,
    )
    m = helper.make_model(
        graph,
        producer_name="isshesarahconnor scripts/models/face_mesh_to_onnx.py",
        opset_imports=[helper.make_opsetid("", 13)],
    )
    m.ir_version = 7
    m.doc_string = (
        "MediaPipe Face Mesh landmark model (face_landmark.tflite from the mediapipe 0.10.14 wheel, Apache-2.0), "
        "converted to ONNX: input RGB 0..1 NCHW 192x192; landmarks = 468 x (x, y, z) in input pixels; "
        "face_flag = logit."
    )
    onnx.checker.check_model(m)
    return m


def check(tfl_path, onnx_bytes):
    import onnxruntime as ort
    import tflite_runtime.interpreter as tfl

    it = tfl.Interpreter(model_path=tfl_path)
    it.allocate_tensors()
    i_in = it.get_input_details()[0]["index"]
    outs = {d["name"]: d["index"] for d in it.get_output_details()}
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    worst = 0.0
    yy, xx = np.mgrid[0:192, 0:192] / 191.0
    samples = [rng.random((192, 192, 3), dtype=np.float32) for _ in range(4)]
    samples.append(np.stack([xx, yy, (xx + yy) / 2], -1).astype(np.float32))  # smooth gradients
    for x in samples:
        it.set_tensor(i_in, x[None])
        it.invoke()
        ref_lm = it.get_tensor(outs["conv2d_21"]).reshape(1, 1404)
        ref_flag = it.get_tensor(outs["conv2d_31"]).reshape(1, 1)
        lm, flag = sess.run(None, {"input": x.transpose(2, 0, 1)[None]})
        worst = max(worst, float(np.abs(lm - ref_lm).max()), float(np.abs(flag - ref_flag).max()))
    print(f"ONNX Runtime vs TFLite, 5 inputs: max |difference| {worst:.2e}")
    if worst > 1e-3:
        raise SystemExit("the converted graph does not match the TFLite model")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel", help="the mediapipe-0.10.14 wheel (pip download --no-deps mediapipe==0.10.14)")
    ap.add_argument("output", help="where to write the ONNX file")
    ap.add_argument("--tflite-out", help="also write the extracted .tflite here (for the check)")
    args = ap.parse_args()
    with zipfile.ZipFile(args.wheel) as z:
        tfl = z.read(SOURCE_MEMBER)
    digest = hashlib.sha256(tfl).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"{SOURCE_MEMBER} in {args.wheel} has SHA-256 {digest}, expected {SOURCE_SHA256}")
    m = convert(tfl)
    data = m.SerializeToString()
    with open(args.output, "wb") as f:
        f.write(data)
    if args.tflite_out:
        with open(args.tflite_out, "wb") as f:
            f.write(tfl)
        check(args.tflite_out, data)
    print(f"{args.output}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
