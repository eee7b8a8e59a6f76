"""COCO keypoint evaluation: OKS AP/AR by pycocotools, plus the top-down post-processing that the
published numbers use with detected boxes (instance rescoring, then OKS-NMS per image)."""
from __future__ import annotations

import contextlib
import io
import json
import os
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from lgmpose.defaults import OKS_NMS_THR, RESCORE_THR
from lgmpose.errors import LgmposeError
from lgmpose.scoring import rescore

__all__ = ["COCO_STATS_NAMES", "coco_keypoint_ap", "keypoint_similarity", "oks_iou", "oks_nms",
           "rescore", "make_coco_results"]

COCO_STATS_NAMES = ["AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"]


def _load_coco(ann_file):
    from pycocotools.coco import COCO

    if isinstance(ann_file, COCO):
        return ann_file
    if not isinstance(ann_file, dict) and not os.path.isfile(ann_file):
        raise LgmposeError(f"annotation file {str(ann_file)!r} does not exist")
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            if isinstance(ann_file, dict) or str(ann_file).endswith(".gz"):
                # a dataset in memory; pycocotools reads plain json files only
                from lgmpose.data.coco import load_coco_json

                coco = COCO()
                coco.dataset = ann_file if isinstance(ann_file, dict) else load_coco_json(ann_file)
                coco.createIndex()
                return coco
            return COCO(str(ann_file))
        except (ValueError, KeyError, TypeError) as error:
            name = "annotation dataset" if isinstance(ann_file, dict) else \
                f"annotation file {str(ann_file)!r}"
            raise LgmposeError(f"{name}: not COCO json ({error})") from None


def coco_keypoint_ap(results, ann_file, sigmas=None, verbose: bool = False) -> dict:
    """COCO OKS AP/AR of ``results`` against ``ann_file`` (a path, a COCO dataset dict or a
    pycocotools ``COCO``).

    ``results``: a list of COCO result dicts (``image_id``, ``category_id``, ``keypoints`` as a flat
    ``[x, y, score] * K`` list, ``score``) or the path of such a json file. ``sigmas``: OKS sigmas for
    a custom keypoint set (default: COCO's 17). Returns ``{"AP", "AP50", "AP75", "APM", "APL", "AR",
    "AR50", "AR75", "ARM", "ARL"}`` as floats in 0-1, exactly pycocotools' ``stats``.
    """
    from pycocotools.cocoeval import COCOeval

    coco_gt = _load_coco(ann_file)
    if isinstance(results, (str, os.PathLike)):
        try:
            results = json.loads(open(results).read())
        except (OSError, ValueError) as error:
            raise LgmposeError(f"results file {str(results)!r}: cannot read json ({error})") from None
    results = list(results)
    if not results:
        return {name: 0.0 for name in COCO_STATS_NAMES}
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        if sigmas is not None:
            evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        evaluator.params.useSegm = None
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(COCO_STATS_NAMES, evaluator.stats)}


def _similarity(d2: np.ndarray, areas: np.ndarray, sigmas) -> np.ndarray:
    """COCOeval's per-keypoint similarity ``exp(-d^2 / (2 * area * (2 * sigma)^2))`` of squared
    distances ``d2 [N, K]`` for people of ``areas [N]``."""
    variances = (2 * np.asarray(sigmas, dtype=np.float64)) ** 2
    return np.exp(-d2 / variances[None] / (areas[:, None] + np.spacing(1)) / 2.0)


def oks_iou(keypoints: np.ndarray, others: np.ndarray, area: float, other_areas: np.ndarray,
            sigmas, vis_threshold: float | None = None) -> np.ndarray:
    """OKS between one pose ``[K, 3]`` (x, y, score) and ``others[N, K, 3]`` (the NMS form: the mean
    over keypoints of ``exp(-d^2 / (2 * s^2 * k^2))`` with ``s^2`` the mean of the two areas).

    With ``vis_threshold``, only keypoints scored above it in both poses count.
    """
    d2 = ((others[..., :2] - keypoints[None, :, :2]) ** 2).sum(axis=-1)
    similarity = _similarity(d2, (area + np.asarray(other_areas, dtype=np.float64)) / 2.0, sigmas)
    if vis_threshold is None:
        return similarity.mean(axis=1)
    counted = (keypoints[None, :, 2] > vis_threshold) & (others[..., 2] > vis_threshold)
    return np.where(counted.any(axis=1),
                    (similarity * counted).sum(axis=1) / np.maximum(counted.sum(axis=1), 1), 0.0)


def keypoint_similarity(keypoints: np.ndarray, truth: np.ndarray, areas: np.ndarray, sigmas
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Each keypoint's mean OKS similarity over the people where it is labelled.

    ``keypoints [N, K, 2+]`` are predictions for the ground-truth people ``truth [N, K, 3]`` (x, y,
    v; v > 0 is labelled) of areas ``areas [N]``. The similarity of one keypoint is COCOeval's,
    ``exp(-d^2 / (2 * area * (2 * sigma)^2))``, so a person's OKS is the mean of its labelled
    keypoints' similarities. Returns ``(mean [K], count [K])``; a keypoint labelled nowhere has
    mean NaN. Shows which keypoints cost OKS AP, which AP itself does not.
    """
    truth = np.asarray(truth, dtype=np.float64)
    d2 = ((np.asarray(keypoints, dtype=np.float64)[..., :2] - truth[..., :2]) ** 2).sum(axis=-1)
    similarity = _similarity(d2, np.asarray(areas, dtype=np.float64), sigmas)
    labelled = truth[..., 2] > 0
    count = labelled.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (similarity * labelled).sum(axis=0) / count
    return mean, count


def oks_nms(keypoints, scores, areas, sigmas, threshold: float = OKS_NMS_THR,
            vis_threshold: float | None = None) -> list[int]:
    """Greedy NMS on poses ``[N, K, 3]``: keep the best, drop the others with OKS > ``threshold``."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.float64)
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        best, rest = order[0], np.asarray(order[1:], dtype=np.int64)
        keep.append(int(best))
        if rest.size == 0:
            break
        overlap = oks_iou(keypoints[best], keypoints[rest], areas[best], areas[rest], sigmas,
                          vis_threshold)
        order = list(rest[overlap <= threshold])
    return keep


def make_coco_results(image_ids: Sequence[int], keypoints, keypoint_scores, box_scores, areas,
                      sigmas, nms_threshold: float | None = OKS_NMS_THR, rescore_thr: float = RESCORE_THR,
                      category_id: int = 1) -> list[dict]:
    """Per-person predictions -> COCO result dicts, rescored and OKS-NMSed per image.

    ``keypoints[N, K, 2]`` in image pixels, ``keypoint_scores[N, K]``, ``box_scores[N]``, ``areas[N]``
    (the crop area ``scale_w * scale_h``, as HRNet uses). ``nms_threshold=None`` skips the NMS
    (e.g. with ground-truth boxes).
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    keypoint_scores = np.asarray(keypoint_scores, dtype=np.float64)
    scores = rescore(keypoint_scores, box_scores, rescore_thr)
    areas = np.asarray(areas, dtype=np.float64)
    poses = np.concatenate([keypoints, keypoint_scores[..., None]], axis=-1)
    by_image = defaultdict(list)
    for n, image_id in enumerate(image_ids):
        by_image[int(image_id)].append(n)
    results = []
    for image_id, members in by_image.items():
        members = np.asarray(members)
        if nms_threshold is not None and len(members) > 1:
            members = members[oks_nms(poses[members], scores[members], areas[members], sigmas,
                                      nms_threshold)]
        for n in members:
            results.append({"image_id": image_id, "category_id": int(category_id),
                            "keypoints": [round(float(v), 3) for v in poses[n].reshape(-1)],
                            "score": float(scores[n])})
    return results
