"""Metrics: COCO keypoint AP through pycocotools (with OKS-NMS and rescoring) and MPII PCKh."""
from __future__ import annotations

from lgmpose.evaluation.coco import (COCO_STATS_NAMES, coco_keypoint_ap, make_coco_results,
                                     oks_iou, oks_nms, rescore)
from lgmpose.evaluation.mpii import mpii_pckh

__all__ = ["COCO_STATS_NAMES", "coco_keypoint_ap", "make_coco_results", "oks_iou", "oks_nms",
           "rescore", "mpii_pckh"]
