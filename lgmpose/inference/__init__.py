"""Inference: person detectors, the ``PoseEstimator`` pipeline, tracking, smoothing, drawing.

Everything here runs on NumPy, OpenCV and ONNX Runtime; torch is imported only by the torch
backend, on use. Import submodules directly; this package imports nothing heavy itself.
"""
