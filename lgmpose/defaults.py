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

The defaults of the standard COCO top-down recipe, each written only here (configs, datasets,
codecs, the model description and the commands read them from this module):

- :data:`INPUT_SIZE` ``(H, W)``: the model input, 256x192; :data:`MPII_INPUT_SIZE`, 256x256, is
  MPII's (its standard protocol crops squares).
- :data:`HEATMAP_STRIDE`: every pose network here outputs heatmaps at a quarter of its input, so
  a heatmap size is always derived (input size // stride), never configured.
- :data:`BOX_PADDING`: a person box is widened by this factor before cropping (HRNet / MMPose).
- :data:`CODEC` and :data:`CODEC_SIGMA`: the heatmap codec (MSRA Gaussians) and its sigma in
  heatmap pixels.
- :data:`OKS_NMS_THR`: the OKS above which a pose is suppressed by a better one of its image.

Video (:mod:`lgmpose.video` and the in-browser page, which reads them from the model description):

- :data:`TRACK_THR`: a pose joins a track when its similarity (OKS, or box IoU) to the track's
  last pose is at least this; below it, it starts a new track.
- :data:`LOST_RATIO`: between detection frames a followed person is dropped when their mean
  keypoint score falls below this share of what it was on the last detection frame.
"""
from __future__ import annotations

__all__ = ["KPT_THR", "RESCORE_THR", "LABEL_DET_THR", "MAX_PIXELS", "INPUT_SIZE",
           "MPII_INPUT_SIZE", "HEATMAP_STRIDE", "BOX_PADDING", "CODEC", "CODEC_SIGMA",
           "OKS_NMS_THR", "TRACK_THR", "LOST_RATIO", "derived_heatmap_size"]

KPT_THR = 0.3
RESCORE_THR = 0.2
LABEL_DET_THR = 0.5
# The largest picture (width x height) that predict and serve decode: a 20000x20000 picture takes
# seconds and gigabytes; larger ones are refused from their header, before decoding.
MAX_PIXELS = 50_000_000

INPUT_SIZE = (256, 192)
MPII_INPUT_SIZE = (256, 256)
HEATMAP_STRIDE = 4
BOX_PADDING = 1.25
CODEC = "msra"
CODEC_SIGMA = 2.0
OKS_NMS_THR = 0.9
TRACK_THR = 0.3
LOST_RATIO = 0.5


def derived_heatmap_size(input_size, stride: int = HEATMAP_STRIDE) -> tuple[int, int]:
    """The heatmap size ``(h, w)`` of a network taking ``input_size`` ``(H, W)``."""
    return (int(input_size[0]) // stride, int(input_size[1]) // stride)
