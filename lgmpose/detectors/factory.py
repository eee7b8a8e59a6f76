"""Choosing a person detector: a string for the CLI and the API (:func:`build_detector`).

- ``"auto"``: the default; the bundled NanoDet-m (best person-box AP of the detectors we ship, see
  ``docs/inference.md``; runs on ONNX Runtime, part of the core install), else BlazePose's person
  detector when ``ai-edge-litert`` is installed, else OpenCV HOG where this OpenCV has it (4.x),
  else the whole image;
- ``"nanodet"``: the bundled NanoDet-m 416 (Apache-2.0, ONNX) COCO detector, person class;
- ``"blazepose"``: the bundled BlazePose person detector (TFLite, needs ``ai-edge-litert``);
- ``"hog"``: OpenCV's built-in HOG + linear SVM people detector: no extra file, no extra package;
- ``"motion"``: moving people seen by a fixed camera (background subtraction; video only);
- ``"whole_image"``: one box covering the whole image (a single, framed person);
- a path to a ``.onnx`` file: a YOLOX- or YOLOv8-style detector export (:mod:`.yolo`);
- a path to a ``.tflite`` file: a BlazePose-style person detector.

Boxes given by the caller bypass the detector entirely.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from lgmpose.detectors.base import PersonDetector
from lgmpose.detectors.opencv import HOGDetector, MotionDetector, WholeImageDetector, hog_available
from lgmpose.errors import LgmposeError

__all__ = ["DETECTOR_NAMES", "build_detector", "default_detector_name", "litert_available"]

DETECTOR_NAMES = ("auto", "nanodet", "blazepose", "hog", "motion", "whole_image")


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def default_detector_name() -> str:
    """What ``"auto"`` resolves to on this machine."""
    from lgmpose.detectors.blazepose import bundled_detector_path
    from lgmpose.detectors.nanodet import bundled_nanodet_path

    if bundled_nanodet_path().is_file():
        return "nanodet"
    if litert_available() and bundled_detector_path().is_file():
        return "blazepose"
    return "hog" if hog_available() else "whole_image"


def build_detector(spec: "str | os.PathLike | PersonDetector | None" = "auto",
                   det_thr: float | None = None, threads: int | None = None,
                   device: str = "cpu") -> PersonDetector:
    """A detector from a name, a model file, or an object that already is one.

    ``det_thr`` is the score a box needs to be kept; ``None`` keeps each detector's own default
    (the default of its constructor, chosen per detector in ``docs/inference.md``). ``device``
    applies to ONNX detectors (the others run on the CPU).
    """
    if spec is None:
        spec = "auto"
    if callable(spec) and not isinstance(spec, (str, os.PathLike)):
        return spec
    text = str(spec)
    if text == "auto":
        text = default_detector_name()
        if text not in ("nanodet", "blazepose"):
            warnings.warn("the bundled NanoDet model is missing and there is no BlazePose person "
                          f"detector (pip install ai-edge-litert): falling back to '{text}'; pass "
                          "a YOLOX/YOLOv8 .onnx detector or boxes for multi-person pictures",
                          stacklevel=2)
    kwargs = {} if det_thr is None else {"det_thr": det_thr}
    if text == "whole_image":
        return WholeImageDetector()
    if text == "hog":
        return HOGDetector(**kwargs)
    if text == "motion":
        return MotionDetector(**kwargs)
    if text == "nanodet":
        from lgmpose.detectors.nanodet import NanoDetDetector

        return NanoDetDetector(threads=threads, device=device, **kwargs)
    if text == "blazepose":
        from lgmpose.detectors.blazepose import BlazePoseDetector

        return BlazePoseDetector(threads=threads, **kwargs)
    path = Path(text)
    if path.suffix.lower() == ".onnx":
        from lgmpose.detectors.yolo import YoloOnnxDetector

        return YoloOnnxDetector(path, threads=threads, device=device, **kwargs)
    if path.suffix.lower() == ".tflite":
        from lgmpose.detectors.blazepose import BlazePoseDetector

        return BlazePoseDetector(path, threads=threads, **kwargs)
    raise LgmposeError(f"detector '{text}': unknown; use one of {', '.join(DETECTOR_NAMES)}, "
                       "a YOLOX/YOLOv8 .onnx file or a BlazePose .tflite file")
