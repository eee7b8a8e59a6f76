"""Person detectors: a BGR image -> person boxes ``[N, 4]`` (x, y, w, h) and scores ``[N]``.

- :mod:`.factory`: :func:`build_detector` from a name (``auto``, ``nanodet``, ``blazepose``,
  ``hog``, ``motion``, ``whole_image``) or a model file; what ``auto`` resolves to;
- :mod:`.nanodet` (the default), :mod:`.blazepose`, :mod:`.yolo` (YOLOX / YOLOv8 ``.onnx``
  files), :mod:`.opencv` (HOG, motion, whole image);
- :mod:`.boxes`: box conversions, IoU, NMS, validation of caller boxes and boxes around
  keypoints.

Part of the deployable path: NumPy, OpenCV and ONNX Runtime (LiteRT for BlazePose), no torch.
"""
from __future__ import annotations

from lgmpose.detectors.base import PersonDetector
from lgmpose.detectors.factory import DETECTOR_NAMES, build_detector, default_detector_name

__all__ = ["DETECTOR_NAMES", "PersonDetector", "build_detector", "default_detector_name"]
