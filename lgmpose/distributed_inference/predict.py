"""``lgmpose predict --engine ray``: poses on many pictures and videos, written to a resumable
sharded output and merged into the ``results.json`` that ``lgmpose predict`` writes.

    OUT/manifest.json, OUT/shards/*.jsonl   (:mod:`.shards`)
    OUT/results.json                        COCO keypoint results, as ``lgmpose predict``'s
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lgmpose.distributed_inference.inputs import list_inputs, plan_items
from lgmpose.distributed_inference.merge_shards import merge_results
from lgmpose.distributed_inference.shards import ShardStore
from lgmpose.errors import LgmposeError
from lgmpose.video.predict import PredictOptions
from lgmpose.video.writers import write_json

__all__ = ["DistributedReport", "predict_distributed", "run_settings"]


@dataclass
class DistributedReport:
    inputs: int = 0              # pictures and videos
    units: int = 0               # pictures and video chunks
    done_before: int = 0         # units a previous run had finished (skipped)
    processed: int = 0           # units this run finished
    unreadable: int = 0          # units that could not be read (all runs)
    repeated: int = 0            # answers that came twice (a retried task) and were dropped
    workers: int = 0
    seconds: float = 0.0
    startup_seconds: float = 0.0  # until the first answer: Ray, the actors and their models
    results: list[dict] = field(default_factory=list)
    results_path: Path | None = None

    def summary(self) -> str:
        rate = self.processed / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.inputs} input(s) = {self.units} unit(s) (pictures and video chunks): "
                f"{self.processed} done by {self.workers} worker(s) in {self.seconds:.1f} s "
                f"({rate:.2f} units/s; {self.startup_seconds:.1f} s to the first answer), "
                f"{self.done_before} done before, {self.unreadable} "
                f"unreadable (skipped), {len(self.results)} person detection(s)")


def run_settings(options: PredictOptions, chunk_frames: int) -> dict[str, Any]:
    """What the workers need, and what a resumed run must not change."""
    weights = None if options.weights is None else str(Path(options.weights).resolve())
    boxes = None if options.boxes_file is None else str(Path(options.boxes_file).resolve())
    return {"weights": weights, "backend": options.backend, "device": options.device,
            "detector": str(options.detector), "det_thr": options.det_thr, "boxes": boxes,
            "kpt_thr": options.kpt_thr, "flip_test": options.flip_test,
            "pose_quality": options.pose_quality, "det_interval": max(1, options.det_interval),
            "smooth": options.smooth,
            # one thread per worker unless told: workers share the cores
            "threads": options.threads or 1, "chunk_frames": chunk_frames,
            "max_frames": options.max_frames, "max_pixels": options.max_pixels}


def _check(options: PredictOptions, chunk_frames: int, pictures_per_item: int) -> None:
    if options.show:
        raise LgmposeError("--show: not with --engine ray (the workers have no window)")
    if chunk_frames < 1 or pictures_per_item < 1:
        raise LgmposeError("chunk_frames and pictures_per_item must be positive integers")
    if options.det_interval > 1 and chunk_frames % options.det_interval:
        raise LgmposeError(f"--chunk-frames {chunk_frames}: must be a multiple of --det-every "
                           f"{options.det_interval}, so that every chunk starts on a detection "
                           "frame")


def predict_distributed(sources: list[str], options: PredictOptions, ray_options,
                        chunk_frames: int = 256, pictures_per_item: int = 16,
                        shard_units: int = 1000, shard_seconds: float = 60.0
                        ) -> DistributedReport:
    """Run ``lgmpose predict`` over ``sources`` on Ray (``ray_options``: a
    :class:`~lgmpose.distributed_inference.ray_runner.RayOptions`); see the module docstring."""
    _check(options, chunk_frames, pictures_per_item)
    inputs = list_inputs(sources)
    if options.boxes_file and any(f.kind == "video" for f in inputs):
        raise LgmposeError("--boxes: applies to pictures only with --engine ray")
    settings = run_settings(options, chunk_frames)
    store = ShardStore(options.out_dir, "predict", settings, shard_units=shard_units,
                       shard_seconds=shard_seconds)
    items, keys = plan_items(inputs, set(store.done), pictures_per_item, chunk_frames,
                             options.max_frames)
    store.total = len(keys)
    report = DistributedReport(inputs=len(inputs), units=len(keys),
                               done_before=sum(k in store.done for k in keys))
    start = time.perf_counter()
    if items:
        from lgmpose.distributed_inference.ray_runner import run_actor_pool
        from lgmpose.distributed_inference.workers import PredictWorker

        before = len(store.done)

        def sink(key: str, record: dict) -> None:
            if not report.startup_seconds:
                report.startup_seconds = time.perf_counter() - start
            store.add(key, record)

        try:
            report.workers = run_actor_pool([{"item": json.dumps(i)} for i in items],
                                            PredictWorker, settings, sink, ray_options)
        finally:
            store.flush()   # what came back is kept, also when the run is interrupted
        report.processed = len(store.done) - before
    report.seconds = time.perf_counter() - start
    records = store.records()
    report.unreadable = sum("error" in records.get(k, {}) for k in keys)
    report.repeated = store.repeated
    missing = [k for k in keys if k not in records]
    if missing:
        raise LgmposeError(f"{len(missing)} unit(s) got no answer (first: {missing[0]}); rerun "
                           "the same command to do them")
    report.results = merge_results(inputs, records, lambda: _video_pipeline(settings),
                                   options.max_frames)
    report.results_path = Path(options.out_dir) / "results.json"
    write_json(report.results_path, report.results)
    store.write_manifest(complete=True)
    return report


def _video_pipeline(settings: dict[str, Any]):
    """The tracker and smoother of a one-process run with these settings (tracking needs the
    model's keypoint set, so the pose model is loaded; the detector is not)."""
    from lgmpose.inference.estimator import PoseEstimator
    from lgmpose.video.pipeline import VideoPipeline

    estimator = PoseEstimator(settings["weights"], backend=settings["backend"], device="cpu",
                              detector="whole_image", threads=1)
    smooth = True if settings["smooth"] is None else settings["smooth"]
    return VideoPipeline(estimator, det_interval=settings["det_interval"], smooth=smooth,
                         kpt_thr=settings["kpt_thr"])
