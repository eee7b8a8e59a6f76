"""Inference: ``PoseEstimator`` (detect, crop, run the pose network, decode), the images and
video frames it reads (:mod:`.media`), drawing, and the MoveNet runner used as teacher and peer.

Everything here runs on NumPy, OpenCV and ONNX Runtime. The networks run through
:mod:`lgmpose.runtimes`, person detectors are in :mod:`lgmpose.detectors`, tracking and the video
loop in :mod:`lgmpose.video`. Import submodules directly; this package imports nothing heavy itself.
"""
