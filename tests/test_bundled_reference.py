"""The bundled model's answers on the bundled pictures do not change by a single bit.

``data/bundled_reference.npz`` holds what ``PoseEstimator()`` (the bundled LGM-Pose ONNX model and
the bundled NanoDet detector on ONNX Runtime, one thread) gave on ``lgmpose/assets/*.jpg``; it was
written before the package was reorganised into its current folders, so a move or a rename that
changes an answer fails here. On a CPU with the same vector instructions and the same ONNX Runtime
the answers must match bit for bit; elsewhere ONNX Runtime picks other kernels, whose rounding
differs in the last bits, and the answers must match to a small tolerance. Rewrite the file only
for a change meant to alter the answers:

    python tests/test_bundled_reference.py --write
"""
from __future__ import annotations

import platform
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


# the instruction sets that decide which ONNX Runtime kernels run
KERNEL_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
                "amx_tile", "asimd", "sve")
TOLERANCE = {"boxes": 1e-2, "box_scores": 1e-5, "keypoints": 1e-2, "scores": 1e-4,
             "quality": 1e-4}


def kernel_signature() -> str:
    """The machine, its vector instruction sets and the ONNX Runtime version."""
    import onnxruntime

    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags.update(line.split(":", 1)[1].split())
    except OSError:
        pass
    present = ",".join(f for f in KERNEL_FLAGS if f in flags)
    return f"{platform.machine()} [{present}] onnxruntime {onnxruntime.__version__}"


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
    stored = [name for name in reference.files if name != "kernel_signature"]
    assert sorted(now) == sorted(stored)
    assert any(len(reference[name]) for name in stored if name.endswith("/boxes"))
    same_kernels = str(reference["kernel_signature"]) == kernel_signature()
    for name in sorted(now):
        if same_kernels:
            # tolerance 0: the same weights, kernels and thread count give the same bits
            np.testing.assert_array_equal(now[name], reference[name], err_msg=name, strict=True)
        else:
            assert now[name].shape == reference[name].shape, name
            np.testing.assert_allclose(now[name], reference[name], rtol=0, err_msg=name,
                                       atol=TOLERANCE[name.rsplit("/", 1)[1]])


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    np.savez_compressed(REFERENCE, kernel_signature=np.array(kernel_signature()), **answers())
    print(f"wrote {REFERENCE}")
