"""Accuracy against latency: one picture from a ``lgmpose bench --json`` file and a
``lgmpose accuracy --json`` file (matplotlib, the ``bench`` extra)::

    python -m lgmpose.plots.accuracy_latency --bench bench.json --accuracy acc.json \\
        --same movenet_singlepose_lightning_int8=movenet_lightning_int8 --plot acc_latency.png

Latency is each bench row's ratio to its peer (MoveNet Lightning int8 by default), so the x axis
survives slow spells of a shared machine; the y axis is the accuracy file's main metric (COCO AP
or LSP PCK). A model is drawn when both files hold it (matched by row name, or by ``--same
ACCURACY_NAME=BENCH_NAME``); the others are listed. Several bench files are allowed: the ratio used
is the median over them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from lgmpose.data.lsp import PCK_THR
from lgmpose.errors import LgmposeError

__all__ = ["latency_ratios", "accuracies", "pair_up", "main"]


def _read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise LgmposeError(f"'{path}': cannot read it as JSON ({error})") from None


def latency_ratios(bench_files: list[str]) -> tuple[dict[str, float], str]:
    """``({row name: median ratio to the peer}, peer name)`` over one or more bench files."""
    ratios: dict[str, list[float]] = {}
    peer = ""
    for path in bench_files:
        rows = _read_json(path)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise LgmposeError(f"'{path}': not a `lgmpose bench --json` file (a list of rows)")
        for row in rows:
            if row.get("ratio_vs_peer") is None:
                continue
            peer = row.get("peer", peer)
            ratios.setdefault(str(row["model"]), []).append(float(row["ratio_vs_peer"]))
    if not ratios:
        raise LgmposeError("no bench row has a ratio to a peer: run `lgmpose bench --peers DIR`")
    return {name: statistics.median(values) for name, values in ratios.items()}, peer


def accuracies(accuracy_file: str) -> tuple[dict[str, float], str]:
    """``({model name: main metric}, metric label)`` of a ``lgmpose accuracy --json`` file."""
    report = _read_json(accuracy_file)
    rows = report.get("rows") if isinstance(report, dict) else None
    if not rows:
        raise LgmposeError(f"'{accuracy_file}': not a `lgmpose accuracy --json` file (no rows)")
    kind = report.get("dataset", {}).get("kind", "coco")
    metric = "PCK" if kind == "lsp" else "AP"
    threshold = report.get("dataset", {}).get("threshold", PCK_THR)
    label = f"LSP PCK@{threshold:g}" if kind == "lsp" else "COCO keypoint AP (GT boxes)"
    return {str(r["name"]): float(r[metric]) for r in rows if metric in r}, label


def pair_up(ratios: dict[str, float], scores: dict[str, float], same: dict[str, str]
            ) -> tuple[list[tuple[str, float, float]], list[str]]:
    """``([(name, latency ratio, accuracy)], names found in only one file)``."""
    points, alone = [], []
    matched_bench = set()
    for name, score in scores.items():
        bench_name = same.get(name, name)
        if bench_name in ratios:
            points.append((bench_name, ratios[bench_name], score))
            matched_bench.add(bench_name)
        else:
            alone.append(f"{name} (accuracy only)")
    alone += [f"{name} (latency only)" for name in ratios if name not in matched_bench]
    return points, alone


def _plot(points: list[tuple[str, float, float]], peer: str, label: str, out: str) -> None:
    try:
        import matplotlib
    except ImportError as error:
        from lgmpose.utils.extras import missing_extra_message

        raise LgmposeError(missing_extra_message(error) or str(error)) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ratio, score in points:
        ax.scatter([ratio], [score], s=40)
        ax.annotate(name, (ratio, score), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel(f"latency per crop, x {peer}\n(same run, one process per model)")
    ax.set_ylabel(label)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", nargs="+", required=True, metavar="JSON",
                        help="`lgmpose bench --json` files (the median ratio over them is used)")
    parser.add_argument("--accuracy", required=True, metavar="JSON",
                        help="a `lgmpose accuracy --json` file")
    parser.add_argument("--same", action="append", default=[], metavar="ACC=BENCH",
                        help="an accuracy row name and the bench row name of the same model")
    parser.add_argument("--plot", metavar="PNG", help="draw the picture")
    args = parser.parse_args(argv)
    try:
        same = {}
        for spec in args.same:
            acc_name, sep, bench_name = spec.partition("=")
            if not sep or not acc_name or not bench_name:
                raise LgmposeError(f"--same {spec!r}: expected ACCURACY_NAME=BENCH_NAME")
            same[acc_name] = bench_name
        ratios, peer = latency_ratios(args.bench)
        scores, label = accuracies(args.accuracy)
        points, alone = pair_up(ratios, scores, same)
        print(f"| model | latency x {peer} | {label} |\n| --- | --- | --- |")
        for name, ratio, score in sorted(points, key=lambda p: p[1]):
            print(f"| {name} | {ratio:.2f} | {score:.3f} |")
        if alone:
            print("not drawn (in one file only): " + ", ".join(alone))
        if args.plot:
            if not points:
                raise LgmposeError("no model is in both files: nothing to draw (see --same)")
            _plot(points, peer, label, args.plot)
            print(f"plot: {args.plot}")
    except LgmposeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
