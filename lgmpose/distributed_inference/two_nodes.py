"""A scale simulation on one machine: two Ray nodes (a head and a worker node, 1 CPU each,
started with ``ray start`` on 127.0.0.1), a ``predict`` run over a folder with one worker per
node, and the worker node killed in the middle of the run. The run must finish with every
picture answered exactly once, with the answers of a run that lost nothing.

    python -m lgmpose.distributed_inference.two_nodes FOLDER [--kill-at 0.3] [--check]

Both nodes run in process groups of their own, stopped by this script (no ``ray stop``, which
would stop every Ray of this user on the machine).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from lgmpose.video.predict import PredictOptions
from lgmpose.distributed_inference.inputs import list_inputs, plan_items
from lgmpose.distributed_inference.predict import predict_distributed
from lgmpose.distributed_inference.ray_runner import RayOptions, start_local_ray

OBJECT_STORE = str(150 * 1024 ** 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_node(*args: str, log: Path) -> subprocess.Popen:
    ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    return subprocess.Popen([ray, "start", "--block", "--node-ip-address=127.0.0.1",
                             "--num-cpus=1", f"--object-store-memory={OBJECT_STORE}",
                             "--disable-usage-stats", *args],
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_started(node: subprocess.Popen, log: Path, timeout: float = 300.0) -> None:
    """Until ``ray start`` says the node runs; its log's end if it gave up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        if node.poll() is not None:
            raise RuntimeError(f"ray start failed ({log}):\n"
                               + "\n".join(log.read_text(errors="replace").splitlines()[-5:]))
        time.sleep(0.5)
    raise RuntimeError(f"ray start: no node after {timeout:.0f} s ({log})")


def _stop(node: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(node.pid, sig)
    except ProcessLookupError:
        return
    try:
        node.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait()


def _forget_cluster(port: int) -> None:
    """Remove the address file a stopped head leaves (``ray stop`` would): a later ``ray.init()``
    would try to join the dead cluster."""
    current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    try:
        if current.read_text().strip().endswith(f":{port}"):
            current.unlink()
    except OSError:
        pass


def _shard_keys(out: Path) -> list[str]:
    return [json.loads(line)["key"] for shard in sorted((out / "shards").glob("shard-*.jsonl"))
            for line in shard.read_text().splitlines()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of pictures")
    parser.add_argument("--kill-at", type=float, default=0.3,
                        help="kill the worker node when this share of the pictures is done")
    parser.add_argument("--pictures-per-item", type=int, default=2)
    parser.add_argument("--check", action="store_true",
                        help="also compare with a run on a local Ray that loses nothing")
    parser.add_argument("--out", help="output folder (default: a temporary one)")
    parser.add_argument("--facts", help="also write the facts (JSON) to this file")
    args = parser.parse_args(argv)
    # Ray 2.60 puts a head started by `ray start` in token mode but not a node joining it, nor a
    # driver: say it to all three (the token is in ~/.ray/auth_token, made by the head)
    os.environ["RAY_AUTH_MODE"] = "token"
    import ray

    work = Path(tempfile.mkdtemp(prefix="lgmpose-two-nodes-"))
    out = Path(args.out) if args.out else work / "out"
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = worker_node = None
    facts: dict = {"address": address}
    try:
        # `ray start` gives a node 30 s to come up; a busy machine can take longer: try again
        for attempt in range(3):
            head = _ray_node("--head", f"--port={port}", "--include-dashboard=false",
                             log=work / "head.log")
            try:
                _wait_started(head, work / "head.log")
                break
            except RuntimeError:
                _stop(head)
                if attempt == 2:
                    raise
        for attempt in range(3):
            worker_node = _ray_node(f"--address={address}", log=work / "worker.log")
            try:
                _wait_started(worker_node, work / "worker.log")
                break
            except RuntimeError:
                _stop(worker_node)
                if attempt == 2:
                    raise
        ray.init(address=address, logging_level="warning", log_to_driver=False)
        for _ in range(120):
            if sum(n["Alive"] for n in ray.nodes()) == 2:
                break
            time.sleep(1)
        facts["nodes_at_start"] = sum(n["Alive"] for n in ray.nodes())
        inputs = list_inputs([args.folder])
        _, keys = plan_items(inputs, set(), args.pictures_per_item, 256)
        outcome: dict = {}

        def run() -> None:
            try:
                outcome["report"] = predict_distributed(
                    [args.folder], PredictOptions(out_dir=out, threads=1),
                    RayOptions(num_workers=2, progress=False),
                    pictures_per_item=args.pictures_per_item, shard_units=args.pictures_per_item,
                    shard_seconds=1.0)
            except BaseException as error:  # reported below
                outcome["error"] = repr(error)

        t0 = time.perf_counter()
        thread = threading.Thread(target=run)
        thread.start()
        while thread.is_alive():
            done = len(_shard_keys(out)) if (out / "shards").is_dir() else 0
            if done >= args.kill_at * len(keys):
                _stop(worker_node, signal.SIGKILL)
                facts["killed_worker_node_at"] = (f"{done}/{len(keys)} pictures done, "
                                                  f"{time.perf_counter() - t0:.1f} s")
                break
            time.sleep(0.2)
        thread.join()
        facts["seconds"] = round(time.perf_counter() - t0, 1)
        facts["nodes_at_end"] = sum(n["Alive"] for n in ray.nodes())
        if "error" in outcome:
            facts["error"] = outcome["error"]
        else:
            report = outcome["report"]
            written = _shard_keys(out)
            facts.update(pictures=len(keys), answered=len(written),
                         answered_once=len(written) == len(set(written)) == len(keys)
                         and set(written) == set(keys),
                         repeated_answers_dropped=report.repeated,
                         people=len(report.results))
        ray.shutdown()
        for node in (worker_node, head):    # before the check's own local Ray
            if node is not None:
                _stop(node)
        if args.check and "error" not in facts:
            start_local_ray(num_cpus=2, object_store_memory=int(OBJECT_STORE))
            try:
                clean = predict_distributed([args.folder], PredictOptions(
                    out_dir=work / "clean", threads=1), RayOptions(num_workers=2,
                                                                   progress=False))
            finally:
                ray.shutdown()
            facts["same_answers_as_a_run_without_failure"] = (
                clean.results == outcome["report"].results)
    finally:
        ray.shutdown()
        for node in (worker_node, head):
            if node is not None:
                _stop(node)
        _forget_cluster(port)
        print(json.dumps(facts, indent=1))
        if args.facts:   # the nodes' own messages also reach stdout
            Path(args.facts).write_text(json.dumps(facts, indent=1) + "\n")
    ok = facts.get("answered_once") and facts.get("same_answers_as_a_run_without_failure", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
