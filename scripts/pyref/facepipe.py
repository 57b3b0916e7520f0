"""The face pipeline a Python user would write: OpenCV decode, YuNet-n and SFace on onnxruntime.

Shared by `pipeline.py` (the photos/s benchmark) and `server.py` (the Flask /predict service). Every pre- and
post-processing step follows /work/shared/models/MODELS.md (sections 3 and 4), which was checked against OpenCV's own
FaceDetectorYN / FaceRecognizerSF:

- YuNet: BGR, raw 0..255, resized so the long side is at most 640 (never enlarged), zero-padded right and bottom to
  multiples of 32; score = sqrt(cls * obj); greedy NMS at IoU 0.3; threshold 0.6; top_k 5000.
- Alignment: 5-point similarity (Umeyama, or cv2.estimateAffinePartial2D with LMEDS) onto the ArcFace 112x112
  template, cv2.warpAffine bilinear, border 0.
- SFace: RGB, raw 0..255 (the graph normalises), batch 1 (batching gains nothing on CPU), output L2-normalised.

Single-threaded on purpose: onnxruntime intra_op = inter_op = 1 and cv2.setNumThreads(1). The Python way to use more
cores is more processes (one per core), so comparisons are per core.
"""

import os
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("ISSC_MODELS", REPO / "models"))
YUNET_PATH = MODELS / "face_detection_yunet_n_dynamic.onnx"
SFACE_PATH = MODELS / "face_recognition_sface_2021dec_dequant.onnx"

SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
TOP_K = 5000
MAX_SIDE = 640

# ArcFace / insightface 5-point template for a 112x112 crop: image-left eye, image-right eye, nose tip, image-left
# mouth corner, image-right mouth corner (YuNet's landmark order).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)

# Magic bytes of the formats `issc` reads (image::guess_format, restricted to what it decodes).
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def single_thread():
    """One core per process: no OpenCV worker pool (resize, warpAffine, its DNN module)."""
    cv2.setNumThreads(1)


def is_photo(head: bytes) -> bool:
    """Whether the first bytes of a file look like a photo `issc bench` would take (it sniffs, it ignores names)."""
    if head.startswith(_MAGIC):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"1234567"


def list_photos(root, limit=None):
    """Photos under `root`, recursively, in the order `issc bench` walks them (walkdir, siblings sorted by name)."""
    out = []

    def walk(d):
        for e in sorted(os.scandir(d), key=lambda e: e.name):
            if e.is_dir():
                walk(e.path)
            elif e.is_file():
                with open(e.path, "rb") as f:
                    if is_photo(f.read(16)):
                        out.append(e.path)

    walk(root)
    return out[:limit] if limit else out


def decode(data: bytes):
    """File bytes -> BGR uint8 HxWx3 (EXIF orientation applied, grey and alpha converted), or None."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def shrink(img, max_side=MAX_SIDE):
    """Resize so the long side is at most `max_side` (never enlarged); returns (image, scale)."""
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) == (w, h):
        return img, scale
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR), scale


def session(path):
    """An onnxruntime CPU session on exactly one thread."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def nms(boxes, scores, iou_thr):
    """Greedy NMS over x,y,w,h boxes (IoU with +1e-9, as MODELS.md's reference); kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        inter = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None) * np.clip(
            np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None
        )
        order = rest[inter / (area[i] + area[rest] - inter + 1e-9) <= iou_thr]
    return np.array(keep, dtype=np.int64)


class YuNet:
    """YuNet-n (dynamic input) on onnxruntime: detect(bgr) -> boxes [N,4] xywh, landmarks [N,5,2], scores [N],
    in the photo's pixels, best first."""

    STRIDES = (8, 16, 32)

    def __init__(self, path=YUNET_PATH):
        self.sess = session(path)
        self.input = self.sess.get_inputs()[0].name
        self.outputs = [o.name for o in self.sess.get_outputs()]

    def detect(self, img_bgr, max_side=MAX_SIDE, score_thr=SCORE_THRESHOLD, nms_thr=NMS_THRESHOLD, top_k=TOP_K):
        small, scale = shrink(img_bgr, max_side)
        nh, nw = small.shape[:2]
        ph, pw = -(-nh // 32) * 32, -(-nw // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :nh, :nw] = small.transpose(2, 0, 1)  # BGR planes, 0..255
        outs = dict(zip(self.outputs, self.sess.run(None, {self.input: blob})))
        boxes, kpss, scores = [], [], []
        for s in self.STRIDES:
            cols = pw // s
            cls, obj = outs[f"cls_{s}"][0, :, 0], outs[f"obj_{s}"][0, :, 0]
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            idx = np.nonzero(score >= score_thr)[0]
            if idx.size == 0:
                continue
            bbox, kps = outs[f"bbox_{s}"][0, idx], outs[f"kps_{s}"][0, idx]
            r, c = (idx // cols).astype(np.float32), (idx % cols).astype(np.float32)
            cx, cy = (c + bbox[:, 0]) * s, (r + bbox[:, 1]) * s
            w, h = np.exp(bbox[:, 2]) * s, np.exp(bbox[:, 3]) * s
            boxes.append(np.stack([cx - w / 2, cy - h / 2, w, h], 1))
            kpss.append(np.stack([(kps[:, 0::2] + c[:, None]) * s, (kps[:, 1::2] + r[:, None]) * s], 2))
            scores.append(score[idx])
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32)
        boxes, kpss, scores = np.concatenate(boxes), np.concatenate(kpss), np.concatenate(scores)
        keep = nms(boxes, scores, nms_thr)[:top_k]
        return boxes[keep] / scale, kpss[keep] / scale, scores[keep]


def umeyama(src, dst=ARCFACE_112):
    """Least-squares similarity (rotation + uniform scale + translation, no reflection) mapping src onto dst: the
    transform of OpenCV's FaceRecognizerSF::alignCrop and skimage's SimilarityTransform. 2x3 matrix."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sd, dd = src - mu_s, dst - mu_d
    a = dd.T @ sd / len(src)
    d = np.array([1.0, -1.0 if np.linalg.det(a) < 0 else 1.0])
    u, sv, vt = np.linalg.svd(a)
    rot = u @ np.diag(d) @ vt
    scale = (sv * d).sum() / ((sd**2).sum() / len(src))
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align(img_bgr, landmarks, method="umeyama"):
    """The aligned 112x112 BGR crop of one face."""
    if method == "lmeds":
        m, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float32), ARCFACE_112.astype(np.float32),
                                           method=cv2.LMEDS)
        if m is None:  # degenerate landmarks: fall back to least squares
            m = umeyama(landmarks)
    else:
        m = umeyama(landmarks)
    return cv2.warpAffine(img_bgr, m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


class SFace:
    """SFace on onnxruntime: embed(aligned BGR 112x112) -> L2-normalised 128-d float32 vector."""

    def __init__(self, path=SFACE_PATH):
        self.sess = session(path)
        self.input = self.sess.get_inputs()[0].name

    def embed(self, crop_bgr):
        x = np.ascontiguousarray(crop_bgr[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)  # RGB, 0..255
        f = self.sess.run(None, {self.input: x})[0][0]
        return f / np.linalg.norm(f)
