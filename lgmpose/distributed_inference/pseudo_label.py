"""``lgmpose pseudo-label --engine ray``: the teacher labels the entries on a pool of Ray actors;
the answers go to a sharded, resumable folder ``OUT.ray/`` (:mod:`.shards`) and the label file is
written by :func:`lgmpose.labels.pseudo_label.pseudo_label` itself, resuming from them, so it is
the file the one-process command writes.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from lgmpose.distributed_inference.shards import ShardStore
from lgmpose.errors import LgmposeError
from lgmpose.labels.entries import Entry
from lgmpose.labels.pseudo_label import pseudo_label
from lgmpose.utils.atomic import atomic_write_text

__all__ = ["pseudo_label_distributed", "shard_folder"]


def shard_folder(out: str | os.PathLike) -> Path:
    return Path(str(out) + ".ray")


def _no_teacher(image, box):
    raise LgmposeError("pseudo-label --engine ray: an entry was left without an answer")


def pseudo_label_distributed(entries: list[Entry], out: str | os.PathLike,
                             settings: dict[str, Any], ray_options, resume: bool = False,
                             description: str = "", shard_units: int = 1000,
                             shard_seconds: float = 60.0) -> dict[str, Any]:
    """Label ``entries`` on Ray; ``settings``: ``teacher`` (path), ``threads``, ``detector`` (a
    name or file, ``None``/``none``/``whole_image`` for none), ``det_thr``, ``min_height``,
    ``kpt_thr``, ``min_keypoints``, ``fix_pairs`` and ``source`` (what the entries are). Returns
    :func:`~lgmpose.labels.pseudo_label.pseudo_label`'s summary, plus ``done_before``."""
    from lgmpose.distributed_inference.ray_runner import run_actor_pool
    from lgmpose.distributed_inference.workers import LabelWorker

    out = Path(out)
    store = ShardStore(shard_folder(out), "pseudo-label", settings, fresh=not resume,
                       shard_units=shard_units, shard_seconds=shard_seconds)
    keys = [str(e.image_id) for e in entries]
    store.total = len(keys)
    done_before = sum(k in store.done for k in keys)
    todo = [{"entry": pickle.dumps(e)} for e in entries if str(e.image_id) not in store.done]
    if todo:
        try:
            run_actor_pool(todo, LabelWorker, settings, store.add, ray_options)
        finally:
            store.flush()
    records = store.records()
    missing = [k for k in keys if k not in records]
    if missing:
        raise LgmposeError(f"{len(missing)} picture(s) got no answer (first: image id "
                           f"{missing[0]}); rerun with --resume to do them")
    # pseudo_label's own resume file, complete: it only merges and writes the label file.
    partial = out.with_name(out.name + ".partial.jsonl")
    atomic_write_text(partial, "".join(json.dumps(records[k]) + "\n" for k in dict.fromkeys(keys)))
    summary = pseudo_label(entries, _no_teacher, out, kpt_thr=settings["kpt_thr"],
                           min_keypoints=settings["min_keypoints"], resume=True, progress=False,
                           description=description, fix_pairs=settings["fix_pairs"])
    store.write_manifest(complete=True)
    return {**summary, "done_before": done_before, "repeated_answers": store.repeated}
