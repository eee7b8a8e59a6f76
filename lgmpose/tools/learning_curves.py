"""Learning curves of training runs: a validation metric against the number of crops seen.

Reads each run's ``log.jsonl`` and ``config.yaml`` (written by ``lgmpose train``), prints a markdown
table and, with ``--plot``, draws the curves (matplotlib, the ``bench`` extra)::

    python -m lgmpose.tools.learning_curves work_dirs/a work_dirs/b --metric AP --plot curves.png

A run that continues another one (``train.init_from``) is placed after it with ``DIR@CROPS``, the
crops the earlier run had seen: ``"stage 2=work_dirs/stage2@108000"``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lgmpose.errors import LgmposeError

__all__ = ["read_curve", "main"]


def read_curve(work_dir: str | Path, metric: str = "AP") -> list[tuple[int, float]]:
    """``[(crops seen, metric), ...]`` of one run, one point per validation."""
    from lgmpose.engine.config import load_config

    work_dir = Path(work_dir)
    log, config = work_dir / "log.jsonl", work_dir / "config.yaml"
    if not log.is_file() or not config.is_file():
        raise LgmposeError(f"'{work_dir}' is not a training work dir (needs log.jsonl and "
                           "config.yaml)")
    batch = int(load_config(config)["train"]["batch_size"])
    points, iters = [], 0
    for line in log.read_text().splitlines():
        record: dict[str, Any] = json.loads(line)
        if "epoch" not in record or "iters" not in record:
            continue
        iters += int(record["iters"])
        value = record.get(f"val/{metric}")
        if value is not None:
            points.append((iters * batch, float(value)))
    return points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="work dirs; NAME=DIR sets the curve's label, DIR@CROPS starts it "
                        "after CROPS crops (a run continuing another)")
    parser.add_argument("--metric", default="AP", help="validation key (default: AP)")
    parser.add_argument("--plot", metavar="PNG", help="also draw the curves")
    args = parser.parse_args(argv)
    curves = {}
    try:
        for spec in args.runs:
            name, _, path = spec.rpartition("=")
            path, _, offset = path.partition("@")
            try:
                start = int(offset or 0)
            except ValueError:
                raise LgmposeError(f"{spec!r}: the number after '@' must be a crop count") from None
            curves[name or Path(path).name] = [(start + crops, value) for crops, value
                                               in read_curve(path, args.metric)]
    except LgmposeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"| run | crops seen | {args.metric} |\n| --- | --- | --- |")
    for name, points in curves.items():
        for crops, value in points:
            print(f"| {name} | {crops:,} | {value:.4f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from lgmpose.utils.atomic import atomic_path

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, points in curves.items():
            ax.plot([c / 1000 for c, _ in points], [v for _, v in points], marker="o", label=name)
        ax.set_xlabel("crops seen (thousands)")
        ax.set_ylabel(f"validation {args.metric}")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_path(args.plot) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
