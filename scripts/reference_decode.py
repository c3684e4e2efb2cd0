#!/usr/bin/env python3
"""Independent reference decoder for the Sharp Eyes test models (onnxruntime + numpy only).

Written from the model layouts in the shared assets' README, not from the Rust code, so that
inference/tests/reference.rs can check the Rust decoders, NMS and box mapping against it.

Both sides start from the same letterboxed picture: the Rust test letterboxes each image with
`letterbox_image` (OpenCV's INTER_LINEAR byte for byte, held to cv2.resize by
inference/tests/resize_reference.rs) and writes the canvas as raw BGR bytes (height x width x 3, no row padding). This
script does everything after that on its own: channel order, normalisation, the model run,
decoding, score threshold, class-aware NMS, and mapping boxes back to source pixels.

Usage:
    reference_decode.py JOBS.json

JOBS.json:
    {"models_dir": "...", "jobs": [{"model": "nanodet_m", "canvas": "path.bgr",
      "width": 416, "height": 416, "score_threshold": 0.35, "iou_threshold": 0.6,
      "letterbox": {"scale": 0.385, "pad_x": 52, "pad_y": 0, "src_width": 810,
                    "src_height": 1080}}]}

Prints one JSON list on stdout: per job {"model", "canvas", "detections": [{"class_id",
"score", "box": [x1, y1, x2, y2], "keypoints": [[x, y, score], ...]}]}, boxes in source pixels
clamped to the picture, keypoints in source pixels unclamped, detections by score descending.
"""

import json
import sys

import numpy as np
import onnxruntime as ort

NANODET_MEAN = [103.53, 116.28, 123.675]
NANODET_STD = [57.375, 57.12, 58.395]

# Per model, from the assets README: file, input name, channel order, mean, std, layout.
MODELS = {
    "yolox_nano": dict(file="det_yolox_nano_416.onnx", input="images", order="bgr",
                       mean=[0, 0, 0], std=[1, 1, 1], layout="yolox"),
    "nanodet_m": dict(file="det_nanodet_m_416.onnx", input="input.1", order="bgr",
                      mean=NANODET_MEAN, std=NANODET_STD, layout="nanodet"),
    "rtmdet_nano_person": dict(file="det_rtmdet_nano_person_e2e.onnx", input="input",
                               order="bgr", mean=NANODET_MEAN, std=NANODET_STD, layout="e2e"),
    "yolo11n_pose": dict(file="pose_yolo11n-pose_int8_headfix.onnx", input="images",
                         order="rgb", mean=[0, 0, 0], std=[255, 255, 255], layout="pose"),
}


def to_tensor(canvas_bgr, spec):
    """HxWx3 uint8 BGR -> 1x3xHxW float32 in the model's order and normalisation."""
    img = canvas_bgr if spec["order"] == "bgr" else canvas_bgr[:, :, ::-1]
    x = img.astype(np.float32)
    x = (x - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def yolox(out, w, h, thr):
    """out [N, 5 + C]: (tx, ty, tw, th) on per-stride grids, objectness, class scores."""
    grids, strides = [], []
    for s in (8, 16, 32):
        gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
        grids.append(np.stack([gx, gy], -1).reshape(-1, 2))
        strides.append(np.full(grids[-1].shape[0], s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(strides).astype(np.float32)[:, None]
    xy = (out[:, :2] + grid) * stride
    wh = np.exp(out[:, 2:4]) * stride
    cls = out[:, 5:].argmax(1)
    score = out[:, 4] * out[np.arange(len(out)), 5 + cls]
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
    keep = score >= thr
    return boxes[keep], score[keep], cls[keep], None


def nanodet(outs, w, h, thr):
    """cls_pred_stride_s [N, C] (sigmoid), dis_pred_stride_s [N, 4*8] GFL distributions."""
    all_boxes, all_scores, all_cls = [], [], []
    for s in (8, 16, 32):
        cls_pred = outs["cls_pred_stride_%d" % s]
        dis = outs["dis_pred_stride_%d" % s].reshape(-1, 4, 8).astype(np.float64)
        gw, gh = -(-w // s), -(-h // s)
        gy, gx = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        cx = gx.reshape(-1) * s + 0.5 * (s - 1)
        cy = gy.reshape(-1) * s + 0.5 * (s - 1)
        e = np.exp(dis - dis.max(-1, keepdims=True))
        prob = e / e.sum(-1, keepdims=True)
        d = (prob * np.arange(8)).sum(-1) * s  # [N, 4]: left, top, right, bottom
        boxes = np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1)
        c = cls_pred.argmax(1)
        score = cls_pred[np.arange(len(c)), c]
        keep = score >= thr
        all_boxes.append(boxes[keep])
        all_scores.append(score[keep])
        all_cls.append(c[keep])
    return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_cls), None


def e2e(dets, labels, thr):
    """dets [K, 5] x1, y1, x2, y2, score (NMS done in the graph); labels [K]."""
    keep = dets[:, 4] >= thr
    return dets[keep, :4], dets[keep, 4], labels[keep].astype(np.int64), None


def pose(out, thr):
    """out [5 + 3K, N]: cx, cy, w, h, score, then K x (x, y, visibility)."""
    t = out.T
    keep = t[:, 4] >= thr
    t = t[keep]
    boxes = np.concatenate([t[:, :2] - t[:, 2:4] / 2, t[:, :2] + t[:, 2:4] / 2], 1)
    kpts = t[:, 5:].reshape(len(t), (out.shape[0] - 5) // 3, 3)
    return boxes, t[:, 4], np.zeros(len(t), np.int64), kpts


def nms(boxes, scores, classes, iou_thr):
    """Greedy class-aware NMS; returns kept indices by score descending. A box is dropped when
    its IoU with a kept box of the same class is > iou_thr."""
    boxes = boxes.astype(np.float64)
    order = sorted(range(len(scores)),
                   key=lambda i: (-float(scores[i]), int(classes[i]), *boxes[i].tolist()))
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    kept = []
    for i in order:
        ok = True
        for k in kept:
            if classes[k] != classes[i]:
                continue
            iw = max(0.0, min(boxes[i, 2], boxes[k, 2]) - max(boxes[i, 0], boxes[k, 0]))
            ih = max(0.0, min(boxes[i, 3], boxes[k, 3]) - max(boxes[i, 1], boxes[k, 1]))
            inter = iw * ih
            union = area[i] + area[k] - inter
            if union > 0 and inter / union > iou_thr:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def run_job(job, models_dir, sessions):
    spec = MODELS[job["model"]]
    w, h = job["width"], job["height"]
    if job["model"] not in sessions:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        sessions[job["model"]] = ort.InferenceSession(
            models_dir + "/" + spec["file"], opts, providers=["CPUExecutionProvider"])
    sess = sessions[job["model"]]
    canvas = np.fromfile(job["canvas"], np.uint8).reshape(h, w, 3)
    names = [o.name for o in sess.get_outputs()]
    raw = dict(zip(names, sess.run(None, {spec["input"]: to_tensor(canvas, spec)})))
    thr = job["score_threshold"]
    layout = spec["layout"]
    if layout == "yolox":
        boxes, scores, cls, kpts = yolox(raw["output"][0], w, h, thr)
    elif layout == "nanodet":
        boxes, scores, cls, kpts = nanodet({k: v[0] for k, v in raw.items()}, w, h, thr)
    elif layout == "e2e":
        boxes, scores, cls, kpts = e2e(raw["dets"][0], raw["labels"][0], thr)
    else:
        boxes, scores, cls, kpts = pose(raw["output0"][0], thr)
    kept = list(range(len(scores))) if layout == "e2e" else nms(boxes, scores, cls, job["iou_threshold"])
    if layout == "e2e":
        kept.sort(key=lambda i: -float(scores[i]))

    lb = job["letterbox"]
    s, px, py = lb["scale"], lb["pad_x"], lb["pad_y"]
    sw, sh = lb["src_width"], lb["src_height"]
    dets = []
    for i in kept:
        x1, y1, x2, y2 = boxes[i].astype(np.float64)
        b = [min(max((x1 - px) / s, 0), sw), min(max((y1 - py) / s, 0), sh),
             min(max((x2 - px) / s, 0), sw), min(max((y2 - py) / s, 0), sh)]
        if (b[2] - b[0]) <= 0 or (b[3] - b[1]) <= 0:
            continue
        d = {"class_id": int(cls[i]), "score": float(scores[i]), "box": b, "keypoints": []}
        if kpts is not None:
            d["keypoints"] = [[(float(k[0]) - px) / s, (float(k[1]) - py) / s, float(k[2])]
                              for k in kpts[i]]
        dets.append(d)
    return {"model": job["model"], "canvas": job["canvas"], "detections": dets}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    sessions = {}
    results = [run_job(j, jobs["models_dir"], sessions) for j in jobs["jobs"]]
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
