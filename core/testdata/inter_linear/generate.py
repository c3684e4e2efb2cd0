"""Writes the fixture that inference/src/resample.rs's tests compare `resize_linear` with:
a seeded random 62x46 three-channel picture (`source_62x46.bin`, raw bytes, rows top to bottom)
and what OpenCV's `cv2.resize(source, (w, h), interpolation=cv2.INTER_LINEAR)` makes of it at
each size below (`{w}x{h}.bin`). Random bytes: every pixel differs from its neighbours, so any
difference in sample positions, weights or rounding shows.

Generated once with opencv-python-headless 4.10.0.84 (numpy 2.4) on x86_64:
    .venv/bin/pip install opencv-python-headless==4.10.0.84
    .venv/bin/python core/testdata/inter_linear/generate.py
"""

import pathlib

import cv2
import numpy as np

# Shrink (odd factors, one axis, exactly 2x: OpenCV switches to INTER_AREA there), same size,
# grow (slightly, 2x, odd factor), and a mix of shrink and grow.
SIZES = [(23, 17), (41, 31), (31, 23), (30, 46), (62, 46), (63, 47), (124, 92), (97, 71), (20, 90), (1, 1)]


def main():
    here = pathlib.Path(__file__).resolve().parent
    rng = np.random.default_rng(20261206)
    source = rng.integers(0, 256, size=(46, 62, 3), dtype=np.uint8)
    (here / "source_62x46.bin").write_bytes(source.tobytes())
    for w, h in SIZES:
        out = cv2.resize(source, (w, h), interpolation=cv2.INTER_LINEAR)
        (here / f"{w}x{h}.bin").write_bytes(np.ascontiguousarray(out).tobytes())
    print(f"cv2 {cv2.__version__}: wrote {len(SIZES)} sizes to {here}")


if __name__ == "__main__":
    main()
