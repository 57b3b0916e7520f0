"""Emulate ONNX Runtime's AVX2 (no VNNI) uint8 x int8 kernel on the int8 SFace graph; see int8_avx2_check.sh."""

import csv
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts/pyref"))
import facepipe as fp  # noqa: E402

MODELS = REPO / "models"
DATA = REPO / "../shared/data"
PUBLIC = DATA / "identity/public"
FOLDERS = [PUBLIC, DATA / "detection/images", DATA / "identity/edge_cases"]


def saturating(model_path, out_path):
    """Each MatMulIntegerToFloat(A u8, B s8, ...) as int32 ops: pairs (2j, 2j+1) of A*B summed and clipped to int16,
    then summed; the zero point of A, the scales and the bias applied as ONNX Runtime's kernel does."""
    m = onnx.load(model_path)
    inits = {i.name: i for i in m.graph.initializer}
    nodes, added = [], []
    for k, n in enumerate(m.graph.node):
        if n.op_type != "MatMulIntegerToFloat":
            nodes.append(n)
            continue
        a, b, sa, sb, za, _zb, bias = n.input
        w = nh.to_array(inits[b]).astype(np.int32)
        c, o = w.shape
        p = f"emu{k}"
        const = {
            "w": w.reshape(c // 2, 2, o),
            "colsum": w.sum(0).astype(np.float32),
            "shape": np.array([-1, c // 2, 2, 1], np.int64),
            "ax2": np.array([2], np.int64),
            "ax1": np.array([1], np.int64),
            "lo": np.array(-32768, np.int32),
            "hi": np.array(32767, np.int32),
            "z0": np.array([0], np.int64),
            "m1": np.array([-1], np.int64),
            "o": np.array([o], np.int64),
        }
        added += [nh.from_array(v, f"{p}_{name}") for name, v in const.items()]
        q = lambda s: f"{p}_{s}"  # noqa: E731
        nodes += [
            h.make_node("Shape", [a], [q("ashape")]),
            h.make_node("Cast", [a], [q("a32")], to=TensorProto.INT32),
            h.make_node("Reshape", [q("a32"), q("shape")], [q("a4")]),
            h.make_node("Mul", [q("a4"), q("w")], [q("prod")]),
            h.make_node("ReduceSum", [q("prod"), q("ax2")], [q("pair")], keepdims=0),
            h.make_node("Max", [q("pair"), q("lo")], [q("p1")]),
            h.make_node("Min", [q("p1"), q("hi")], [q("psat")]),
            h.make_node("ReduceSum", [q("psat"), q("ax1")], [q("acc")], keepdims=0),
            h.make_node("Cast", [q("acc")], [q("accf")], to=TensorProto.FLOAT),
            h.make_node("Cast", [za], [q("zaf")], to=TensorProto.FLOAT),
            h.make_node("Mul", [q("zaf"), q("colsum")], [q("corr")]),
            h.make_node("Sub", [q("accf"), q("corr")], [q("accz")]),
            h.make_node("Mul", [q("accz"), sa], [q("y1")]),
            h.make_node("Mul", [q("y1"), sb], [q("y2")]),
            h.make_node("Add", [q("y2"), bias], [q("y3")]),
            h.make_node("Slice", [q("ashape"), q("z0"), q("m1")], [q("lead")]),
            h.make_node("Concat", [q("lead"), q("o")], [q("oshape")], axis=0),
            h.make_node("Reshape", [q("y3"), q("oshape")], [n.output[0]]),
        ]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.extend(added)
    onnx.save(m, out_path)


def embed_all(model_path, crops):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    out = []
    for c in crops:
        x = np.ascontiguousarray(c[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
        f = s.run(None, {name: x})[0][0]
        out.append(f / np.linalg.norm(f))
    return np.array(out)


def main():
    work = Path(sys.argv[1])
    emulated = work / "sface_int8_avx2_emulated.onnx"
    saturating(MODELS / "face_recognition_sface_2021dec_int8.onnx", emulated)
    yunet = fp.YuNet()
    crops, first_face = [], {}
    for folder in FOLDERS:
        for f in fp.list_photos(str(folder)):
            img = fp.decode(Path(f).read_bytes())
            if img is None:
                continue
            _, landmarks, _ = yunet.detect(img)
            for i, lm in enumerate(landmarks):
                if i == 0 and folder == PUBLIC:
                    first_face[str(Path(f).relative_to(PUBLIC))] = len(crops)
                crops.append(fp.align(img, lm))
    pairs = list(csv.DictReader(open(PUBLIC / "pairs.csv")))
    original = embed_all(MODELS / "face_recognition_sface_2021dec_dequant.onnx", crops)
    for label, path in [("int8 graph", MODELS / "face_recognition_sface_2021dec_int8.onnx"), ("int8, AVX2 saturation emulated", emulated)]:
        e = embed_all(path, crops)
        cos = np.sort((e * original).sum(1))
        ok = sum(
            (float(e[first_face[p["left"]]] @ e[first_face[p["right"]]]) >= 0.363) == (p["same"] == "1")
            for p in pairs
        )
        print(
            f"{label}: {len(crops)} faces, cosine to the original min {cos[0]:.5f}, 1st percentile "
            f"{cos[len(cos) // 100]:.5f}, median {cos[len(cos) // 2]:.5f}; verification {ok}/{len(pairs)}"
        )


if __name__ == "__main__":
    main()
