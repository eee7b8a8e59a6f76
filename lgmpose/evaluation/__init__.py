"""Metrics: COCO keypoint AP through pycocotools (with OKS-NMS and rescoring) and MPII PCKh.

Also here, imported from their modules: the comparison of pose models on the same people
(:mod:`.compare`), person-box AP of detectors (:mod:`.detector_ap`) and keypoint jitter on video
(:mod:`.video_metrics`).
"""
from __future__ import annotations

from lgmpose.evaluation.coco import (COCO_STATS_NAMES, coco_keypoint_ap, make_coco_results,
                                     oks_iou, oks_nms, rescore)
from lgmpose.evaluation.mpii import mpii_pckh

__all__ = ["COCO_STATS_NAMES", "coco_keypoint_ap", "make_coco_results", "oks_iou", "oks_nms",
           "rescore", "mpii_pckh"]
