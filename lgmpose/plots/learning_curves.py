"""Learning curves of training runs: a validation metric against crops seen or training minutes.

Reads each run's ``log.jsonl`` and ``config.yaml`` (written by ``lgmpose train``), prints a markdown
table and, with ``--plot``, draws the curves (matplotlib, the ``bench`` extra)::

    lgmpose curves work_dirs/a work_dirs/b --metric AP --plot curves.png
    lgmpose curves "small=work_dirs/a" "wide=work_dirs/b" --x minutes   # runs of one time budget

A run that continues another one (``train.init_from``) is placed after it with ``DIR@OFFSET``, the
crops (or minutes) the earlier run had used: ``"stage 2=work_dirs/stage2@108000"``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lgmpose.errors import LgmposeError

__all__ = ["X_AXES", "read_curve", "parse_run", "format_table", "plot_curves", "main"]

# x axis -> (label, unit in the table)
X_AXES = {"crops": "crops seen", "minutes": "training minutes"}


def read_curve(work_dir: str | Path, metric: str = "AP",
               x: str = "crops") -> list[tuple[float, float]]:
    """``[(x, metric), ...]`` of one run, one point per validation. ``x`` is ``crops`` (crops
    seen) or ``minutes`` (training time, the epochs' ``epoch_time_s``; validation excluded)."""
    from lgmpose.engine.config import load_config

    if x not in X_AXES:
        raise LgmposeError(f"unknown x axis {x!r}; choose from {', '.join(X_AXES)}")
    work_dir = Path(work_dir)
    log, config = work_dir / "log.jsonl", work_dir / "config.yaml"
    if not log.is_file() or not config.is_file():
        raise LgmposeError(f"'{work_dir}' is not a training work dir (needs log.jsonl and "
                           "config.yaml)")
    batch = load_config(config).train.batch_size
    points, iters, seconds = [], 0, 0.0
    for number, line in enumerate(log.read_text().splitlines(), 1):
        try:
            record: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            raise LgmposeError(f"'{log}' line {number}: not JSON") from None
        if "epoch" not in record or "iters" not in record:
            continue
        iters += int(record["iters"])
        if x == "minutes" and "epoch_time_s" not in record:
            raise LgmposeError(f"'{log}' line {number}: no epoch_time_s for a minutes axis")
        seconds += float(record.get("epoch_time_s", 0.0))
        value = record.get(f"val/{metric}")
        if value is not None:
            points.append((iters * batch if x == "crops" else seconds / 60.0, float(value)))
    return points


def parse_run(spec: str) -> tuple[str, str, float]:
    """``NAME=DIR@OFFSET`` -> (name, dir, offset); NAME defaults to the folder's name."""
    name, _, path = spec.rpartition("=")
    path, _, offset = path.partition("@")
    try:
        start = float(offset or 0)
    except ValueError:
        raise LgmposeError(f"{spec!r}: the number after '@' must be a crop count or minutes") \
            from None
    return name or Path(path).name, path, start


def format_table(curves: dict[str, list[tuple[float, float]]], metric: str, x: str) -> str:
    rows = [f"| run | {X_AXES[x]} | {metric} |", "| --- | --- | --- |"]
    for name, points in curves.items():
        for at, value in points:
            shown = f"{int(round(at)):,}" if x == "crops" else f"{at:.1f}"
            rows.append(f"| {name} | {shown} | {value:.4f} |")
    return "\n".join(rows)


def plot_curves(curves: dict[str, list[tuple[float, float]]], metric: str, x: str,
                out: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lgmpose.utils.atomic import atomic_path

    scale = 1000.0 if x == "crops" else 1.0
    many = len(curves) > 6
    fig, ax = plt.subplots(figsize=(8.5 if many else 6, 4))
    # matplotlib's default cycle has 10 colours: beyond that, curves would share one; past
    # tab20's 20 colours, the marker tells curves of the same colour apart
    palette = plt.get_cmap("tab20").colors
    markers = "os^Dv"
    for i, (name, points) in enumerate(curves.items()):
        colour = palette[i % len(palette)] if len(curves) > 10 else None
        ax.plot([a / scale for a, _ in points], [v for _, v in points], label=name, color=colour,
                marker=markers[(i // len(palette)) % len(markers)])
    ax.set_xlabel("crops seen (thousands)" if x == "crops" else "training minutes")
    ax.set_ylabel(f"validation {metric}")
    ax.grid(alpha=0.3)
    if many:   # beside the axes: inside they would hide the last curves
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    else:
        ax.legend()
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="work dirs; NAME=DIR sets the curve's label, "
                        "DIR@OFFSET starts it after OFFSET crops or minutes (a run continuing "
                        "another)")
    parser.add_argument("--metric", default="AP", help="validation key (default: AP)")
    parser.add_argument("--x", choices=sorted(X_AXES), default="crops",
                        help="x axis: crops seen (default) or training minutes")
    parser.add_argument("--plot", metavar="PNG", help="also draw the curves")


def run(args: argparse.Namespace) -> int:
    curves = {}
    for spec in args.runs:
        name, path, start = parse_run(spec)
        curves[name] = [(start + at, value) for at, value in read_curve(path, args.metric, args.x)]
    print(format_table(curves, args.metric, args.x))
    if args.plot:
        plot_curves(curves, args.metric, args.x, args.plot)
        print(f"plot: {args.plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except LgmposeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
