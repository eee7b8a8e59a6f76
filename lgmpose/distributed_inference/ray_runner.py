"""Run work items through a pool of Ray actors with Ray Data and hand each answer row to a sink.

Without an address a local Ray is started on this machine for the run (and stopped after it);
with one, the run joins that cluster (``auto``: the one ``ray start`` made here). The actors load
their models once; Ray restarts an actor that dies (a lost node, a crash) and retries its batch,
so a unit may come back twice: the sink keeps the first answer. (Ray Data gives its actors
unlimited restarts and task retries by default.)
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lgmpose.errors import LgmposeError

__all__ = ["RayOptions", "run_actor_pool", "start_local_ray"]

LOCAL_OBJECT_STORE = 256 * 1024 ** 2   # answers are small and inputs travel as paths


@dataclass
class RayOptions:
    address: str | None = None         # None: start a local Ray for the run
    num_workers: int | None = None     # None: as many as the cluster's CPUs allow
    cpus_per_worker: float = 1.0
    progress: bool = True


def start_local_ray(num_cpus: int | None = None, object_store_memory: int = LOCAL_OBJECT_STORE,
                    attempts: int = 3) -> None:
    """A Ray of its own on this machine ("local": even where `ray start` left a cluster or its
    address file). Ray gives a node 30 s to come up, which a busy machine can miss: retried."""
    import ray

    for attempt in range(attempts):
        try:
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                     object_store_memory=object_store_memory, include_dashboard=False,
                     logging_level=logging.WARNING)
            return
        except Exception:  # a start-up time-out is a bare Exception
            ray.shutdown()
            if attempt == attempts - 1:
                raise


def _connect(options: RayOptions) -> bool:
    """Start or join Ray; True when this call started it (and must stop it)."""
    import ray

    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "logging_level": logging.WARNING,
             "log_to_driver": True}
    if options.address:
        try:
            ray.init(address=options.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise LgmposeError(f"--ray-address {options.address}: cannot join the Ray cluster "
                               f"({str(error).splitlines()[0]})") from None
    else:
        start_local_ray()
    return True


def _workers(options: RayOptions) -> int:
    import ray

    if options.num_workers:
        return options.num_workers
    cpus = ray.cluster_resources().get("CPU", 1.0)
    return max(1, int(cpus // options.cpus_per_worker))


def run_actor_pool(rows: list[dict[str, Any]], worker: type, worker_settings: dict[str, Any],
                   sink: Callable[[str, dict], None], options: RayOptions) -> int:
    """Send ``rows`` (one work item each) through ``worker`` actors in batches of one item;
    call ``sink(key, record)`` for every answer row as it arrives. Returns the pool size."""
    import json

    import ray

    started = _connect(options)
    try:
        size = min(_workers(options), len(rows))   # no idle actors on a short run
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = options.progress
        context.print_on_execution_start = False
        # Several items per block keep the block count low on millions of inputs; a few blocks
        # per actor keep them all busy to the end.
        per_block = max(1, min(8, len(rows) // (4 * size)))
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(
            len(rows) / per_block)))
        answers = dataset.map_batches(
            worker, fn_constructor_kwargs={"settings": worker_settings}, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=size), num_cpus=options.cpus_per_worker)
        for batch in answers.iter_batches(batch_size=None, batch_format="numpy"):
            for key, record in zip(batch["key"], batch["record"]):
                sink(str(key), json.loads(record))
        return size
    finally:
        if started:
            ray.shutdown()
