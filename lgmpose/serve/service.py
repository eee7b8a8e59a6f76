"""The framework-free core of ``lgmpose serve``: one ``PoseEstimator`` per process, its settings,
and what the endpoints answer (model description, health, poses with per-stage timings).

Nothing here imports the web framework, so that the settings can be validated (and the model
loaded) before a server starts, and so that the same code answers in every worker process.
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lgmpose.defaults import KPT_THR, MAX_PIXELS
from lgmpose.errors import LgmposeError

__all__ = ["ServeConfig", "PoseService", "CONFIG_ENV", "API_KEY_ENV", "rss_bytes"]

CONFIG_ENV = "LGMPOSE_SERVE_CONFIG"
API_KEY_ENV = "LGMPOSE_API_KEY"
MB = 1024 * 1024


@dataclass
class ServeConfig:
    """What a worker needs to build its estimator and check requests (JSON-serialisable: the
    workers of ``--workers N`` receive it through the environment)."""

    weights: str | None = None
    backend: str | None = None
    device: str = "cpu"
    detector: str = "auto"
    det_thr: float | None = None
    flip_test: bool = False
    threads: int | None = None
    max_bytes: int = 20 * MB            # request body
    max_pixels: int = MAX_PIXELS        # decoded picture (width x height)
    max_boxes: int = 100                # boxes a request may send
    max_queue: int = 32                 # pose requests waiting or running, else 503
    api_key: str | None = field(default=None, repr=False)   # bearer token; None: no key

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise LgmposeError(f"--max-mb: must be positive, got {self.max_bytes / MB:g}")
        if self.max_pixels <= 0:
            raise LgmposeError(f"--max-megapixels: must be positive, got {self.max_pixels / 1e6:g}")
        if self.threads is not None and self.threads <= 0:
            raise LgmposeError(f"--threads: must be positive, got {self.threads}")
        if self.max_queue <= 0:
            raise LgmposeError(f"--max-queue: must be positive, got {self.max_queue}")
        key = self.api_key
        if key is not None and (len(key) < 8 or key != key.strip() or not key.isascii()
                                or not key.isprintable()):
            raise LgmposeError(f"--api-key / ${API_KEY_ENV}: give at least 8 printable ASCII "
                               "characters, without spaces at the ends")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeConfig":
        return cls(**json.loads(text))

    @classmethod
    def from_env(cls) -> "ServeConfig":
        text = os.environ.get(CONFIG_ENV)
        return cls.from_json(text) if text else cls()


def rss_bytes(pid: int | str = "self") -> int | None:
    """Resident memory of a process (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _model_name(estimator) -> str:
    info = getattr(estimator, "info", None)
    return str(getattr(info, "model_name", None) or Path(estimator.weights).stem)


class PoseService:
    """One estimator, used by one request at a time (``PoseEstimator`` keeps per-call state) on
    one thread (``executor``); decoding runs elsewhere, overlapping another request's inference."""

    def __init__(self, config: ServeConfig | None = None, estimator=None) -> None:
        self.config = config or ServeConfig()
        if estimator is None:
            from lgmpose.inference.estimator import PoseEstimator

            c = self.config
            estimator = PoseEstimator(c.weights, backend=c.backend, device=c.device,
                                      detector=c.detector, det_thr=c.det_thr,
                                      flip_test=c.flip_test, threads=c.threads)
        self.estimator = estimator
        self.detector_name = type(estimator.detector).__name__  # built now, not on a request
        self.lock = threading.Lock()
        # The endpoints run the estimator on this one thread: requests queue in order, and the
        # memory the runtimes keep per thread is kept once.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="lgmpose-pose")
        self.started = time.time()
        self.requests = 0
        self.errors = 0
        self.in_flight = 0                  # pose requests waiting or running (the Guard counts)
        self.model = self._describe()

    def _describe(self) -> dict:
        est = self.estimator
        meta = est.metainfo
        c = self.config
        return {
            "name": _model_name(est),
            "weights": Path(est.weights).name,
            "backend": est.backend,
            "device": est.device,
            "dataset": meta.name,
            "input_size": list(est.input_size),
            "num_keypoints": meta.num_keypoints,
            "keypoint_names": list(meta.keypoint_names),
            "skeleton": [list(map(int, link)) for link in meta.skeleton],
            "keypoint_colors": [list(map(int, c)) for c in meta.keypoint_colors],
            "skeleton_colors": [list(map(int, c)) for c in meta.skeleton_colors],
            "detector": c.detector,
            "detector_class": self.detector_name,
            "flip_test": bool(est.flip_test),
            "kpt_thr": KPT_THR,
            "limits": {"max_bytes": c.max_bytes, "max_pixels": c.max_pixels,
                       "max_boxes": c.max_boxes, "max_queue": c.max_queue},
        }

    def health(self) -> dict:
        out = {"status": "ok", "model": self.model["name"], "pid": os.getpid(),
               "uptime_s": round(time.time() - self.started, 1), "requests": self.requests,
               "errors": self.errors, "in_flight": self.in_flight}
        rss = rss_bytes()
        if rss is not None:
            out["rss_mb"] = round(rss / MB, 1)
        return out

    def parse_boxes(self, text: str | None, width: int, height: int) -> np.ndarray | None:
        """Request boxes (JSON ``[[x, y, w, h], ...]`` or one ``[x, y, w, h]``) clipped to the
        image, ``None`` when absent (the detector runs); ``LgmposeError`` when malformed."""
        if text is None:
            return None
        from lgmpose.detectors.boxes import validate_boxes

        try:
            value = json.loads(text)
        except ValueError as error:
            raise LgmposeError(f"boxes: not valid JSON ({error}); send [[x, y, w, h], ...]") \
                from None
        if not isinstance(value, list):
            raise LgmposeError("boxes: expected a JSON list [[x, y, w, h], ...], got "
                               f"{type(value).__name__}")
        if value and not isinstance(value[0], list):
            value = [value]
        for i, box in enumerate(value):
            if not isinstance(box, list) or len(box) != 4 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
                raise LgmposeError(f"boxes: box {i} must be 4 numbers [x, y, w, h], got "
                                   f"{json.dumps(box)[:80]}")
        if len(value) > self.config.max_boxes:
            raise LgmposeError(f"boxes: {len(value)} boxes, over this service's limit of "
                               f"{self.config.max_boxes}")
        return validate_boxes(value, width, height, source="boxes")

    def estimate(self, image: np.ndarray, boxes: np.ndarray | None,
                 image_id: int | str = 0) -> tuple[list[dict], dict[str, float]]:
        """People (``predict``'s COCO result entries plus ``box_score``) and timings in seconds
        (``queue``: waiting for the estimator; ``detect``, ``pose``)."""
        t0 = time.perf_counter()
        with self.lock:
            t1 = time.perf_counter()
            people = self.estimator(image, boxes=boxes)
            timings = dict(self.estimator.timings)
        results = []
        for person in people:
            entry = person.to_coco(image_id)
            entry["box_score"] = round(float(person.box_score), 5)
            results.append(entry)
        return results, {"queue": t1 - t0, "detect": timings.get("detect", 0.0),
                         "pose": timings.get("pose", 0.0)}
