"""Inference: ``PoseEstimator`` (detect, crop, run the pose network, decode), its backends (ONNX
Runtime; torch for checkpoints, on use), model metadata, image and video sources, drawing, and the
MoveNet runner used as teacher and peer.

Everything here runs on NumPy, OpenCV and ONNX Runtime; torch is imported only by the torch
backend, on use. Person detectors are in :mod:`lgmpose.detectors`, tracking and the video loop in
:mod:`lgmpose.video`. Import submodules directly; this package imports nothing heavy itself.
"""
