"""The bundled model's answers on the bundled pictures do not change by a single bit.

``data/bundled_reference.npz`` holds what ``PoseEstimator()`` (the bundled LGM-Pose ONNX model and
the bundled NanoDet detector on ONNX Runtime, one thread) gave on ``lgmpose/assets/*.jpg``; it was
written before the package was reorganised into its current folders, so a move or a rename that
changes an answer fails here. Rewrite it only for a change meant to alter the answers:

    python tests/test_bundled_reference.py --write
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

REFERENCE = Path(__file__).parent / "data" / "bundled_reference.npz"
ASSETS = Path(__file__).resolve().parents[1] / "lgmpose" / "assets"
FIELDS = ("boxes", "box_scores", "keypoints", "scores", "quality")
# (name, PoseEstimator keywords): the plain path, and flip test with a second pass on re-drawn boxes
SETTINGS = (("plain", {}), ("flip_refine", {"flip_test": True, "refine_boxes": True}))


def answers() -> dict[str, np.ndarray]:
    from lgmpose import PoseEstimator

    out: dict[str, np.ndarray] = {}
    for setting, kwargs in SETTINGS:
        estimator = PoseEstimator(backend="onnxruntime", threads=1, **kwargs)
        for picture in sorted(ASSETS.glob("*.jpg")):
            people = estimator(str(picture))
            k = estimator.metainfo.num_keypoints
            values = {
                "boxes": np.array([p.box for p in people], np.float32).reshape(-1, 4),
                "box_scores": np.array([p.box_score for p in people], np.float64),
                "keypoints": np.array([p.keypoints for p in people], np.float32).reshape(-1, k, 2),
                "scores": np.array([p.scores for p in people], np.float32).reshape(-1, k),
                "quality": np.array([p.quality for p in people], np.float64),
            }
            for field in FIELDS:
                out[f"{setting}/{picture.stem}/{field}"] = values[field]
    return out


def test_bundled_model_gives_the_stored_answers_exactly():
    reference = np.load(REFERENCE)
    now = answers()
    assert sorted(now) == sorted(reference.files)
    assert any(len(reference[name]) for name in reference.files if name.endswith("/boxes"))
    for name in sorted(now):
        # tolerance 0: the same weights, runtime and thread count give the same bits
        np.testing.assert_array_equal(now[name], reference[name], err_msg=name, strict=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    np.savez_compressed(REFERENCE, **answers())
    print(f"wrote {REFERENCE}")
