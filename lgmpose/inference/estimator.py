"""``PoseEstimator``: detect people, crop each box, run the pose network once for all crops,
decode the heatmaps and map the keypoints back to image pixels.

    from lgmpose import PoseEstimator
    est = PoseEstimator()                    # bundled LGM-Pose COCO model on ONNX Runtime
    people = est("photo.jpg")                # or a BGR array; boxes=[[x, y, w, h], ...] optional
    for p in people:
        p.box, p.keypoints, p.scores         # [4] xywh, [K, 2] image pixels, [K]

On video, :class:`lgmpose.video.VideoPipeline` wraps an estimator and adds stable track ids,
One-Euro smoothing and detection every N frames.

With ``backend="onnxruntime"`` nothing here imports torch.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lgmpose.codecs import build_codec
from lgmpose.codecs.quality import pose_quality
from lgmpose.data.crops import box_to_crop, crop_batch
from lgmpose.data.metainfo import load_metainfo
from lgmpose.data.transforms import transform_points
from lgmpose.detectors import PersonDetector, build_detector
from lgmpose.detectors.boxes import boxes_from_keypoints, validate_boxes
from lgmpose.errors import LgmposeError
from lgmpose.inference.media import as_image
from lgmpose.scoring import rescore
from lgmpose.utils.bundled import bundled_weights

__all__ = ["Person", "PoseEstimator", "bundled_weights", "BACKENDS"]

BACKENDS = ("onnxruntime", "torch")


@dataclass
class Person:
    """One detected person: ``box`` [x, y, w, h], ``keypoints`` [K, 2] and ``scores`` [K]."""

    box: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    box_score: float = 1.0
    track_id: int | None = None
    quality: float = 1.0    # the pose's expected OKS by its heatmaps (lgmpose.codecs.quality)

    @property
    def score(self) -> float:
        """Pose confidence: the box score times the pose's quality times the mean of the keypoint
        scores above ``rescore_thr``, the instance score of ``lgmpose eval`` with
        ``test.pose_quality: true`` (the published protocol's, without the quality, when the
        estimator was made with ``pose_quality=False``)."""
        return float(rescore(self.scores, self.box_score * self.quality))

    def to_coco(self, image_id: int | str) -> dict:
        kpts = np.concatenate([self.keypoints, self.scores[:, None]], axis=1).astype(np.float64)
        out = {"image_id": image_id, "category_id": 1,
               "keypoints": np.round(kpts.reshape(-1), 3).tolist(),
               "score": round(self.score, 5),
               "bbox": np.round(np.asarray(self.box, np.float64), 2).tolist()}
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        return out


def _resolve_backend(weights: Path, backend: str | None) -> str:
    suffix = weights.suffix.lower()
    if backend is None:
        backend = "torch" if suffix in (".pt", ".pth") else "onnxruntime"
    if backend not in BACKENDS:
        raise LgmposeError(f"backend '{backend}': use one of {', '.join(BACKENDS)}")
    if suffix not in (".onnx", ".pt", ".pth"):
        raise LgmposeError(f"weights '{weights}': unknown model file type '{suffix or '(none)'}'; "
                           "expected an exported .onnx file or a .pt checkpoint")
    if backend == "onnxruntime" and suffix != ".onnx":
        raise LgmposeError(f"weights '{weights}': a checkpoint needs backend='torch'; for ONNX "
                           "Runtime export it first (lgmpose export)")
    if backend == "torch" and suffix == ".onnx":
        raise LgmposeError(f"weights '{weights}': an ONNX file runs with backend='onnxruntime'")
    return backend


class PoseEstimator:
    """Top-down multi-person pose estimation; see the module docstring.

    Args:
        weights: ``.onnx`` export or ``.pt`` checkpoint; ``None`` = the bundled COCO model.
        backend: ``"onnxruntime"`` or ``"torch"``; ``None`` = from the weights' file type.
        device: ``"cpu"`` or ``"cuda"``.
        detector: a name (``auto``, ``nanodet``, ``blazepose``, ``hog``, ``motion``,
            ``whole_image``), a detector ``.onnx`` / ``.tflite`` file, or any callable
            ``image -> (boxes xywh, scores)``.
        det_thr: detector score threshold (``None``: the detector's default); the old keyword
            ``det_score_thr`` still works.
        flip_test: also run the mirrored crops and average the heatmaps (slower, a bit better).
        threads: CPU threads for the networks (``None``: the runtime's default).
        refine_boxes: run the pose network a second time on boxes re-drawn around the first
            pass's confident keypoints (for detectors whose boxes are loose or cut people off).
        pose_quality: a person's ``score`` also counts the pose's expected OKS by its heatmaps
            (:mod:`lgmpose.codecs.quality`), which ranks good poses above bad ones better;
            ``False`` gives the published protocol's score (box score x mean confident keypoint).
    """

    def __init__(self, weights: str | os.PathLike | None = None, backend: str | None = None,
                 device: str = "cpu", detector: "str | os.PathLike | PersonDetector" = "auto",
                 det_thr: float | None = None, flip_test: bool = False,
                 threads: int | None = None, max_people: int = 100,
                 refine_boxes: bool = False, det_score_thr: float | None = None,
                 pose_quality: bool = True) -> None:
        if det_score_thr is not None:
            warnings.warn("PoseEstimator(det_score_thr=...) is now det_thr=...",
                          DeprecationWarning, stacklevel=2)
            det_thr = det_score_thr if det_thr is None else det_thr
        if weights is None:
            weights = bundled_weights(backend or "onnxruntime")
            if not weights.is_file():
                raise LgmposeError(f"bundled model '{weights.name}' is missing from this install; "
                                   "pass weights=PATH (an .onnx export or a .pt checkpoint)")
        self.pose_quality = bool(pose_quality)
        self.weights = Path(weights)
        self.backend = _resolve_backend(self.weights, backend)
        self.device = device
        if self.backend == "onnxruntime":
            from lgmpose.runtimes.onnx_runtime import OnnxPoseModel

            self.model = OnnxPoseModel(self.weights, device, threads)
        else:
            from lgmpose.runtimes.torch_backend import TorchPoseModel

            self.model = TorchPoseModel(self.weights, device, threads)
        self.info = self.model.info
        self.input_size = self.info.input_size
        self.codec = build_codec(**self.info.codec_config())
        self.metainfo = self._metainfo()
        k = getattr(self.model, "num_keypoints", None)
        if k is not None and k != self.metainfo.num_keypoints:
            raise LgmposeError(f"pose model '{self.weights}': predicts {k} keypoints but its "
                               f"keypoint set '{self.metainfo.name}' has "
                               f"{self.metainfo.num_keypoints}; export it with its metainfo")
        self.flip_test = flip_test
        self.refine_boxes = refine_boxes
        self.max_people = max_people
        self._detector_spec = detector
        self.det_thr = det_thr
        self._threads = threads
        self._detector: PersonDetector | None = None
        self.timings: dict[str, float] = {}

    def _metainfo(self):
        """The model's keypoint set: its own description, else a built-in set by name."""
        if self.info.metainfo is not None:
            return load_metainfo(self.info.metainfo)
        try:
            return load_metainfo(self.info.dataset)
        except LgmposeError:
            coco = load_metainfo("coco")
            if self.info.keypoint_names and len(self.info.keypoint_names) != coco.num_keypoints:
                raise LgmposeError(f"pose model '{self.weights}': keypoint set "
                                   f"'{self.info.dataset}' unknown and no metainfo stored with "
                                   "the model") from None
            return coco

    # -- detection ---------------------------------------------------------------------------
    @property
    def detector(self) -> PersonDetector:
        if self._detector is None:
            self._detector = build_detector(self._detector_spec, self.det_thr,
                                            self._threads, device=self.device)
        return self._detector

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = self.detector(image)
        order = np.argsort(-scores, kind="stable")[:self.max_people]
        return boxes[order], scores[order]

    # -- pose --------------------------------------------------------------------------------
    def estimate(self, image: np.ndarray, boxes: np.ndarray, quality: bool = False
                 ) -> tuple[np.ndarray, ...]:
        """Keypoints ``[N, K, 2]`` (image pixels) and scores ``[N, K]`` for valid ``boxes [N, 4]``;
        with ``quality``, also each pose's quality ``[N]`` (the mean expected OKS its heatmaps give
        it, :func:`lgmpose.codecs.quality.pose_quality`; all 1 when the estimator was made with
        ``pose_quality=False``), a factor of its instance score."""
        k = self.metainfo.num_keypoints
        if len(boxes) == 0:
            empty = np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
            return (*empty, np.zeros(0, np.float32)) if quality else empty
        x, inverse = self.crops(image, boxes)
        return self.poses(self.heatmaps(x), inverse, boxes, quality)

    # The three steps of :meth:`estimate`, apart so that crops of several pictures can share one
    # network call (lgmpose.distributed_inference batches across files).
    def crops(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network inputs ``[N, 3, H, W]`` for ``boxes`` and the crop-to-image matrices."""
        return crop_batch(image, boxes, self.input_size, self.codec.udp, self.info.mean,
                          self.info.std)

    def heatmaps(self, x: np.ndarray) -> np.ndarray:
        """The network's heatmaps for inputs ``x`` (averaged with the mirrored crops' when
        ``flip_test``)."""
        if not self.flip_test:
            return self.model(x)
        heatmaps = self.model(np.concatenate([x, x[..., ::-1]]))
        n = len(x)
        return self.codec.flip_test(heatmaps[:n], heatmaps[n:], self.metainfo.flip_indices)

    def poses(self, heatmaps: np.ndarray, inverse: np.ndarray, boxes: np.ndarray,
              quality: bool = False) -> tuple[np.ndarray, ...]:
        """Decode the heatmaps of non-empty ``boxes`` into image keypoints; see :meth:`estimate`."""
        kpts, scores = self.codec.decode(heatmaps)
        # A heatmap's peak can pass 1 (overlapping Gaussians, the flip-test average); users read
        # keypoint scores as probabilities.
        scores = np.clip(scores, 0.0, 1.0)
        out = np.stack([transform_points(p, m) for p, m in zip(kpts, inverse)])
        result = out.astype(np.float32), np.asarray(scores, np.float32)
        if not quality:
            return result
        if not self.pose_quality:
            return (*result, np.ones(len(out), np.float32))
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        _, crop_size = box_to_crop(boxes, self.input_size)
        share = boxes[:, 2] * boxes[:, 3] / np.prod(crop_size.reshape(-1, 2), axis=1)
        return (*result, pose_quality(self.codec, heatmaps, kpts, self.metainfo.sigmas, share))

    # -- the whole pipeline ------------------------------------------------------------------
    def __call__(self, image, boxes=None) -> list[Person]:
        """People in ``image`` (a BGR array or a path); ``boxes`` [N, 4] xywh skip the detector."""
        image = as_image(image)
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        if boxes is None:
            boxes, box_scores = self.detect(image)
        else:
            boxes = validate_boxes(boxes, w, h, source="boxes")
            box_scores = np.ones(len(boxes), np.float32)
        t1 = time.perf_counter()
        kpts, scores, quality = self.estimate(image, boxes, quality=True)
        if self.refine_boxes and len(boxes):
            boxes = boxes_from_keypoints(kpts, scores, boxes, reference=boxes)
            kpts, scores, quality = self.estimate(image, boxes, quality=True)
        t2 = time.perf_counter()
        self.timings = {"detect": t1 - t0, "pose": t2 - t1}
        return [Person(b.astype(np.float32), k, s, float(bs), quality=float(q))
                for b, k, s, bs, q in zip(boxes, kpts, scores, box_scores, quality)]
