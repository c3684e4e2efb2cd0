#!/usr/bin/env python3
"""Baseline (c) of `sharpeyes bench`: the plain Python loop people write first.

OpenCV reads and decodes the clip, each frame is letterboxed to the model's input, run through
onnxruntime, and the YOLOX output decoded and NMS'd (cv2.dnn.NMSBoxes), one frame after the
other. The clip starts over at its end. Prints one JSON line:
  {"fps": full loop frames/s, "decode_fps": decode-only frames/s, ...}

Run by `sharpeyes bench` from the checkout with the project venv's python (which the bench
gives opencv-python-headless); by hand:
  .venv/bin/python benches/python_loop.py --clip CLIP --model models/.cache/det_yolox_nano_416.onnx
"""

import argparse
import json
import time

import cv2
import numpy as np
import onnxruntime as ort


def letterbox(img, size, pad=114):
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nh, nw = int(round(h * r)), int(round(w * r))
    out = np.full((size, size, 3), pad, dtype=np.uint8)
    out[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, r


def yolox_grids(size, strides=(8, 16, 32)):
    grids, expanded = [], []
    for s in strides:
        n = size // s
        xv, yv = np.meshgrid(np.arange(n), np.arange(n))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        expanded.append(np.full((n * n, 1), s))
    return np.concatenate(grids, 0).astype(np.float32), np.concatenate(expanded, 0).astype(np.float32)


def decode(out, grids, strides, r, score_thr=0.1, iou=0.45):
    p = out[0]
    xy = (p[:, :2] + grids) * strides
    wh = np.exp(p[:, 2:4]) * strides
    scores = p[:, 4:5] * p[:, 5:]
    cls = scores.argmax(1)
    conf = scores[np.arange(len(cls)), cls]
    keep = conf >= score_thr
    if not keep.any():
        return []
    xy, wh, conf, cls = xy[keep], wh[keep], conf[keep], cls[keep]
    boxes = np.concatenate((xy - wh / 2, wh), 1) / r
    idx = cv2.dnn.NMSBoxesBatched(boxes.tolist(), conf.tolist(), cls.tolist(), score_thr, iou)
    return [(int(cls[i]), float(conf[i]), boxes[i].tolist()) for i in np.array(idx).reshape(-1)]


class Clip:
    """The clip's frames, starting over at the end."""

    def __init__(self, path):
        self.path = path
        self.cap = cv2.VideoCapture(path)
        if not self.cap.isOpened():
            raise SystemExit(f"cannot open {path}")

    def read(self):
        ok, frame = self.cap.read()
        if not ok:
            self.cap.release()
            self.cap = cv2.VideoCapture(self.path)
            ok, frame = self.cap.read()
            if not ok:
                raise SystemExit(f"{self.path}: no frame")
        return frame


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, default=416)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads; 0: onnxruntime's default")
    ap.add_argument("--seconds", type=float, default=20.0)
    a = ap.parse_args()

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if a.threads:
        so.intra_op_num_threads = a.threads
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    grids, strides = yolox_grids(a.size)

    # Decode alone: what reading the clip costs this loop.
    clip = Clip(a.clip)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < min(5.0, a.seconds / 4):
        clip.read()
        n += 1
    decode_fps = n / (time.perf_counter() - t0)

    # The loop.
    clip = Clip(a.clip)
    for _ in range(3):  # warm-up
        img, r = letterbox(clip.read(), a.size)
        sess.run(None, {name: img.transpose(2, 0, 1)[None].astype(np.float32)})
    t0, n, found = time.perf_counter(), 0, 0
    while time.perf_counter() - t0 < a.seconds:
        img, r = letterbox(clip.read(), a.size)
        x = img.transpose(2, 0, 1)[None].astype(np.float32)  # YOLOX: raw BGR 0-255
        out = sess.run(None, {name: x})[0]
        found += len(decode(out, grids, strides, r))
        n += 1
    secs = time.perf_counter() - t0
    print(json.dumps({
        "fps": n / secs,
        "decode_fps": decode_fps,
        "frames": n,
        "seconds": secs,
        "detections": found,
        "threads": a.threads,
        "opencv": cv2.__version__,
        "onnxruntime": ort.__version__,
    }))


if __name__ == "__main__":
    main()
