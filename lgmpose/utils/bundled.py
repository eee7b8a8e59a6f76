"""The weights that ship inside the package, and the word that names them wherever a model or a
checkpoint is asked for (``lgmpose accuracy --models bundled``, ``train.init_from: bundled``)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLED", "WEIGHTS_DIR", "bundled_weights"]

BUNDLED = "bundled"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
BUNDLED_STEM = "lgm_pose_coco_256x192"


def bundled_weights(backend: str = "onnxruntime") -> Path:
    """The bundled LGM-Pose model: its ONNX export for ``onnxruntime``, else its checkpoint."""
    return WEIGHTS_DIR / f"{BUNDLED_STEM}{'.onnx' if backend == 'onnxruntime' else '.pt'}"
