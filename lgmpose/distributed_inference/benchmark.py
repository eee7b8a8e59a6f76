"""Pictures per second of ``lgmpose predict`` in one process and on a local Ray with 1 and 2
workers, measured side by side in one run (each configuration in turn, ``--rounds`` times).

    python -m lgmpose.distributed_inference.benchmark FOLDER [--rounds 2] [--out DIR]

Every configuration runs the whole command as a user would, on the folder and on its first
picture alone: the second run is the fixed cost (starting Ray, the actors, loading the models),
and ``(N - 1) / (time(N) - time(1))`` the rate once running, which is what a large run sees.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lgmpose.video.predict import PredictOptions, run_predict
from lgmpose.distributed_inference.inputs import list_inputs
from lgmpose.distributed_inference.predict import predict_distributed
from lgmpose.distributed_inference.ray_runner import RayOptions, start_local_ray

OBJECT_STORE = 200 * 1024 ** 2
# (label, engine, workers, threads per worker)
CONFIGS = [("one process, 1 thread", "local", 0, 1), ("one process, 2 threads", "local", 0, 2),
           ("Ray, 1 worker x 1 thread", "ray", 1, 1), ("Ray, 1 worker x 2 threads", "ray", 1, 2),
           ("Ray, 2 workers x 1 thread", "ray", 2, 1)]


def _one_process(folder: str, out: Path, threads: int) -> int:
    report = run_predict(folder, PredictOptions(out_dir=out, threads=threads, draw=False,
                                                progress=False))
    return report.frames


def _on_ray(folder: str, out: Path, workers: int, threads: int) -> int:
    import ray

    start_local_ray(object_store_memory=OBJECT_STORE)
    try:
        report = predict_distributed([folder], PredictOptions(out_dir=out, threads=threads),
                                     RayOptions(num_workers=workers, cpus_per_worker=1,
                                                progress=False))
    finally:
        ray.shutdown()
    return report.processed


def _ray_start_seconds() -> float:
    import ray

    t0 = time.perf_counter()
    start_local_ray(object_store_memory=OBJECT_STORE)
    ray.get(ray.remote(lambda: 1).remote())
    seconds = time.perf_counter() - t0
    ray.shutdown()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of pictures")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", help="keep the outputs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    pictures = sorted(f.path for f in list_inputs([args.folder]) if f.kind == "image")
    seconds: dict[tuple[str, int], list[float]] = {}
    start_costs = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out or scratch)
        single = root / "one_picture"
        single.mkdir(parents=True, exist_ok=True)
        (single / pictures[0].name).write_bytes(pictures[0].read_bytes())
        for r in range(args.rounds):
            start_costs.append(_ray_start_seconds())
            for label, engine, workers, threads in CONFIGS:
                for source in (single, folder):
                    n = 1 if source == single else len(pictures)
                    out = root / f"round{r}" / f"{label.replace(' ', '_').replace(',', '')}_{n}"
                    t0 = time.perf_counter()
                    done = (_one_process(str(source), out, threads) if engine == "local"
                            else _on_ray(str(source), out, workers, threads))
                    seconds.setdefault((label, n), []).append(time.perf_counter() - t0)
                    assert done == n, (label, done, n)
                    print(f"round {r + 1} {label}, {n} picture(s): "
                          f"{seconds[label, n][-1]:.1f} s", file=sys.stderr)
    n = len(pictures)
    rows = []
    for label, *_ in CONFIGS:
        whole, one = (statistics.median(seconds[label, k]) for k in (n, 1))
        rows.append({"config": label, "seconds": round(whole, 1),
                     "pictures_per_s": round(n / whole, 2), "fixed_seconds": round(one, 1),
                     "running_pictures_per_s": round((n - 1) / max(whole - one, 1e-9), 2)})
    base = rows[0]
    for row in rows:
        row["vs_one_process"] = round(row["pictures_per_s"] / base["pictures_per_s"], 2)
        row["running_vs_one_process"] = round(row["running_pictures_per_s"]
                                              / base["running_pictures_per_s"], 2)
    print(json.dumps({"pictures": n, "rounds": args.rounds, "cpus": os.cpu_count(),
                      "load_average_at_end": os.getloadavg(),
                      "ray_start_seconds": round(statistics.median(start_costs), 2),
                      "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
