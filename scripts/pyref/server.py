"""The Python face service a seed user would deploy: Flask + gunicorn, one process per core.

    PYREF_ENROLL=target/example/dataset/train \
        gunicorn -w "$(nproc)" -b 127.0.0.1:8000 --chdir scripts/pyref 'server:create_app()'
    python scripts/pyref/server.py --enroll DIR [--port 8000]          # Flask's development server, to try it

`POST /predict` takes the same requests as `issc serve`'s /predict: the photo as the raw body (`image/*` or
`application/octet-stream`) or as the multipart/form-data field `image`; optional `?top_k=N` (default 3). Each worker
runs OpenCV decode -> YuNet-n -> 5-point alignment -> SFace (onnxruntime, one intra-op thread; facepipe.py) and names
each face by the nearest enrolled centroid (cosine), `unknown` below the SFace author threshold 0.363
(PYREF_THRESHOLD). It answers in issc's shape, `similarity` (cosine) standing where issc puts the softmax
`probability`:

    {"width", "height", "faces": [{"box": [x, y, w, h], "score", "landmarks", "label", "similarity",
      "top_k": [{"label", "similarity"}]}], "timings": {"decode_ms", "inference_ms", "total_ms"}}

Errors are {"error": {"code", "message"}} with 400 (empty body, bad multipart), 413 (over 10 MB), 415 (other content
types) and 422 (not an image). Centroids come from `<enroll>/<label>/*` at start-up, computed in each worker: crops
that are already aligned 112x112 (issc's dataset/train) are embedded as they are; any other photo is aligned on its
best face first.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
from flask import Flask, jsonify, request

import facepipe as fp

MAX_BODY = 10 * 1024 * 1024  # issc serve's default --max-body-mb 10


def enroll(root, yunet, sface):
    """(labels, unit centroids [L,128]) from <root>/<label>/<photo>."""
    labels, centroids = [], []
    for d in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        embs = []
        for f in sorted(p for p in d.iterdir() if p.is_file()):
            img = fp.decode(f.read_bytes())
            if img is None:
                continue
            if img.shape[:2] != (112, 112):
                _, lms, _ = yunet.detect(img)
                if len(lms) == 0:
                    continue
                img = fp.align(img, lms[0])
            embs.append(sface.embed(img))
        if embs:
            c = np.mean(embs, axis=0)
            labels.append(d.name)
            centroids.append(c / np.linalg.norm(c))
    if not labels:
        raise SystemExit(f"enroll: no faces under {root}/<label>/")
    return labels, np.stack(centroids)


def error(status, code, message):
    return jsonify({"error": {"code": code, "message": message}}), status


def create_app(enroll_dir=None, threshold=None):
    """The WSGI app; gunicorn calls this in every worker (no --preload: sessions are never shared across fork)."""
    fp.single_thread()
    enroll_dir = enroll_dir or os.environ.get("PYREF_ENROLL")
    if not enroll_dir:
        raise SystemExit("set PYREF_ENROLL (or --enroll) to a folder of <label>/<photo>")
    threshold = float(threshold if threshold is not None else os.environ.get("PYREF_THRESHOLD", "0.363"))
    yunet, sface = fp.YuNet(), fp.SFace()
    labels, centroids = enroll(enroll_dir, yunet, sface)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY + 64 * 1024

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok", "labels": len(labels)})

    @app.errorhandler(413)
    def too_large(_):
        return error(413, "PayloadTooLarge", f"the body is over {MAX_BODY} bytes")

    @app.post("/predict")
    def predict():
        started = time.perf_counter()
        try:
            top_k = int(request.args.get("top_k", 3))
        except ValueError:
            top_k = 0
        if top_k < 1:
            return error(400, "InvalidTopK", "top_k must be a positive integer")
        ct = (request.content_type or "").lower()
        if ct.startswith("multipart/form-data"):
            f = request.files.get("image")
            if f is None:
                return error(400, "MissingImage", "multipart body has no field named `image`")
            data = f.read()
        elif ct.startswith("image/") or ct.startswith("application/octet-stream"):
            data = request.get_data()
        else:
            return error(415, "UnsupportedMediaType",
                         "send image/* (raw photo), application/octet-stream or multipart/form-data with `image`")
        if not data:
            return error(400, "EmptyImage", "the request has no photo (empty body)")

        t0 = time.perf_counter()
        img = fp.decode(data)
        if img is None:
            return error(422, "NotAnImage", "the body is not a readable image")
        t1 = time.perf_counter()
        boxes, lms, scores = yunet.detect(img)
        faces = []
        for box, lm, score in zip(boxes, lms, scores):
            sims = centroids @ sface.embed(fp.align(img, lm))
            order = np.argsort(-sims)[:top_k]
            best = int(order[0])
            faces.append({
                "box": [float(v) for v in box],
                "score": float(score),
                "landmarks": lm.astype(float).tolist(),
                "label": labels[best] if sims[best] >= threshold else "unknown",
                "similarity": float(sims[best]),
                "top_k": [{"label": labels[i], "similarity": float(sims[i])} for i in order],
            })
        t2 = time.perf_counter()
        return jsonify({
            "width": int(img.shape[1]),
            "height": int(img.shape[0]),
            "faces": faces,
            "timings": {"decode_ms": (t1 - t0) * 1e3, "inference_ms": (t2 - t1) * 1e3,
                        "total_ms": (t2 - started) * 1e3},
        })

    return app


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Flask development server for the reference /predict")
    ap.add_argument("--enroll", help="folder of <label>/<photo> (default: $PYREF_ENROLL)")
    ap.add_argument("--port", type=int, default=8000)
    a = ap.parse_args()
    create_app(a.enroll).run(host="127.0.0.1", port=a.port)
