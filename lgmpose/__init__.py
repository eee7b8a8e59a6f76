"""lgmpose: real-time top-down human pose estimation with the LGM-Pose network.

Importing the package is cheap and never imports torch: the heavy parts load on first use, so the
ONNX Runtime deployment path works on a machine without torch.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["PoseEstimator", "VideoPipeline", "__version__"]


def __getattr__(name: str):
    if name == "PoseEstimator":
        from lgmpose.inference.estimator import PoseEstimator

        return PoseEstimator
    if name == "VideoPipeline":
        from lgmpose.video.pipeline import VideoPipeline

        return VideoPipeline
    raise AttributeError(f"module 'lgmpose' has no attribute {name!r}")
