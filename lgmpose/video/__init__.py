"""Pose estimation over a stream of frames, around a ``PoseEstimator`` (which knows nothing of it):

- :mod:`.pipeline`: ``VideoPipeline(estimator)``: detection every N frames, tracking, smoothing;
- :mod:`.tracking`: greedy OKS/IoU track assignment; :mod:`.smoothing`: One-Euro filters;
- :mod:`.predict`: the ``lgmpose predict`` loop over an image, a folder, a video or a camera
  (read, detect, estimate, track, draw, write), :mod:`.writers` its atomic outputs.

Part of the deployable path: no torch. Import submodules directly.
"""
