#!/usr/bin/env python3
"""Python reference pipelines for `issc bench`: decode -> detect -> align -> embed over a folder of photos.

    python scripts/pyref/pipeline.py --pipeline ort|opencv --in DIR [--passes 2] [--limit N] [--align umeyama|lmeds]

- `ort`: what a Python user writes by hand with onnxruntime (facepipe.py): cv2.imdecode; resize to long side 640,
  pad to a multiple of 32, YuNet-n on onnxruntime, decode + NMS in numpy; 5-point similarity + cv2.warpAffine;
  SFace on onnxruntime.
- `opencv`: OpenCV's own classes as the OpenCV zoo demo uses them: cv2.FaceDetectorYN (input size set to the resized
  photo) and cv2.FaceRecognizerSF (alignCrop + feature), same models, cv2.setNumThreads(1).

One thread, one process: pin it to a core (`taskset -c 0`) to compare per core with `issc bench --threads 1`.
Stages are timed as `issc bench` times them: decode = reading the file + decoding it; detect = resize + pad +
network + box decoding + NMS; align and embed = all faces of the photo. The first pass warms up (it is not
counted when --passes > 1). Prints one JSON line:

    {"pipeline", "photos", "faces", "photos_per_s", "ms_per_photo": {"decode", "detect", "align", "embed"}, ...}
"""

import argparse
import json
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

import facepipe as fp


def ort_pipeline(align_method):
    """Per-photo stage functions of the hand-written onnxruntime pipeline."""
    yunet, sface = fp.YuNet(), fp.SFace()

    def detect(img):
        _, landmarks, _ = yunet.detect(img)
        return landmarks

    def align(img, faces):
        return [fp.align(img, lm, align_method) for lm in faces]

    def embed(crops):
        return [sface.embed(c) for c in crops]

    return detect, align, embed


def opencv_pipeline():
    """Per-photo stage functions of OpenCV's FaceDetectorYN + FaceRecognizerSF (the OpenCV zoo demo's calls)."""
    det = cv2.FaceDetectorYN.create(str(fp.YUNET_PATH), "", (320, 320), fp.SCORE_THRESHOLD, fp.NMS_THRESHOLD, fp.TOP_K)
    rec = cv2.FaceRecognizerSF.create(str(fp.SFACE_PATH), "")

    def detect(img):
        small, scale = fp.shrink(img)
        det.setInputSize((small.shape[1], small.shape[0]))
        _, faces = det.detect(small)
        if faces is None:
            return []
        # Rows are x, y, w, h, 5 landmarks, score in the resized photo: map back to the photo's pixels so that the
        # crop is cut from the full-resolution photo, as issc and the `ort` pipeline do.
        faces = faces.copy()
        faces[:, :14] /= scale
        return list(faces)

    def align(img, faces):
        return [rec.alignCrop(img, f) for f in faces]

    def embed(crops):
        out = []
        for c in crops:
            f = rec.feature(c).reshape(-1)
            out.append(f / np.linalg.norm(f))
        return out

    return detect, align, embed


def run_pass(files, stages):
    """One pass over the files: per-stage seconds, faces, failures, wall seconds."""
    detect, align, embed = stages
    t = {"decode": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0}
    faces = failed = 0
    start = time.perf_counter()
    for path in files:
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            img = fp.decode(f.read())
        t1 = time.perf_counter()
        t["decode"] += t1 - t0
        if img is None:
            failed += 1
            continue
        found = detect(img)
        t2 = time.perf_counter()
        crops = align(img, found)
        t3 = time.perf_counter()
        embed(crops)
        t4 = time.perf_counter()
        t["detect"] += t2 - t1
        t["align"] += t3 - t2
        t["embed"] += t4 - t3
        faces += len(crops)
    return t, faces, failed, time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pipeline", choices=["ort", "opencv"], required=True)
    ap.add_argument("--in", dest="input", required=True, help="folder of photos (searched recursively)")
    ap.add_argument("--passes", type=int, default=2, help="passes; the first warms up when > 1 (default 2)")
    ap.add_argument("--limit", type=int, help="use at most this many photos")
    ap.add_argument("--align", choices=["umeyama", "lmeds"], default="umeyama",
                    help="ort pipeline: similarity by least squares (MODELS.md, = alignCrop) or "
                         "cv2.estimateAffinePartial2D(method=LMEDS)")
    args = ap.parse_args()

    fp.single_thread()
    files = fp.list_photos(args.input, args.limit)
    if not files:
        sys.exit(f"--in {args.input}: no photos found")
    stages = ort_pipeline(args.align) if args.pipeline == "ort" else opencv_pipeline()

    passes = max(1, args.passes)
    measured = [run_pass(files, stages) for _ in range(passes)]
    if passes > 1:
        measured = measured[1:]
    n = len(files) * len(measured)
    wall = sum(m[3] for m in measured)
    faces = sum(m[1] for m in measured)
    stage = {k: sum(m[0][k] for m in measured) for k in ("decode", "detect", "align", "embed")}

    def ms(seconds, count):
        return seconds * 1e3 / count if count else 0.0

    print(json.dumps({
        "pipeline": "python-" + args.pipeline,
        "photos": len(files),
        "passes_measured": len(measured),
        "faces": faces // len(measured),
        "failed": sum(m[2] for m in measured) // len(measured),
        "wall_s": wall,
        "photos_per_s": n / wall,
        "faces_per_s": faces / wall,
        "ms_per_photo": {k: ms(v, n) for k, v in stage.items()},
        "ms_per_face": {"align": ms(stage["align"], faces), "embed": ms(stage["embed"], faces)},
        "align_method": args.align if args.pipeline == "ort" else "alignCrop",
        "versions": {"onnxruntime": ort.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
    }))


if __name__ == "__main__":
    main()
