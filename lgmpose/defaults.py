"""The thresholds shared by the CLI, the Python API, serve and training, each with one name and
one default.

- ``kpt_thr`` (:data:`KPT_THR`): a keypoint counts when its score is at least this: it is drawn,
  followed by the tracker and the boxes around a pose, and kept by pseudo-labelling.
- ``rescore_thr`` (:data:`RESCORE_THR`): the keypoints scoring above this make a person's
  instance score (:func:`lgmpose.scoring.rescore`), in evaluation and in predict's results alike.
- ``det_thr``: the score a person box needs. Its default is ``None``, "the detector's own": each
  detector states its default where it is defined (:mod:`lgmpose.detectors`), since detectors
  score on different scales; for boxes read from a file, ``None`` keeps every box.
  Pseudo-labelling alone has a default of its own, :data:`LABEL_DET_THR`: only people a detector
  is sure of are labelled, since a wrong box teaches the student a wrong pose.
"""
from __future__ import annotations

__all__ = ["KPT_THR", "RESCORE_THR", "LABEL_DET_THR", "MAX_PIXELS"]

KPT_THR = 0.3
RESCORE_THR = 0.2
LABEL_DET_THR = 0.5
# The largest picture (width x height) that predict and serve decode: a 20000x20000 picture takes
# seconds and gigabytes; larger ones are refused from their header, before decoding.
MAX_PIXELS = 50_000_000
