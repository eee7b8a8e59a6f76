"""Where an ONNX model spends its time: ONNX Runtime's per-operator profile, summed by type.

The profile is taken on the optimised graph (after ONNX Runtime's fusions), so the operator
types are those that actually run (``FusedConv``, ``QLinearConv``, ...), not the exported ones.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class OpShare:
    op_type: str
    total_ms: float  # summed over the profiled runs, divided by the number of runs
    share: float  # of the summed operator time
    nodes: int  # distinct graph nodes of this type


def profile_onnx(path: str | os.PathLike, threads: int, runs: int = 200,
                 warmup: int = 20) -> list[OpShare]:
    """Per-operator-type time of one forward pass, most expensive first."""
    from lgmpose.benchmarks.targets import onnx_input_shape, ort_session

    with tempfile.TemporaryDirectory(prefix="lgmpose-profile-") as tmp:
        session = ort_session(path, threads, profile_prefix=str(Path(tmp) / "profile"))
        shape = onnx_input_shape(session)
        feed = {session.get_inputs()[0].name: np.zeros(shape, dtype=np.float32)}
        for _ in range(warmup + runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[str, list[float]] = {}
    op_of: dict[str, str] = {}
    for event in events:
        args = event.get("args", {})
        if event.get("cat") != "Node" or "op_name" not in args:
            continue
        if not event.get("name", "").endswith("_kernel_time"):
            continue
        node = event["name"][: -len("_kernel_time")]
        per_node.setdefault(node, []).append(float(event.get("dur", 0)) / 1000.0)
        op_of[node] = args["op_name"]
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for node, durations in per_node.items():
        # the last `runs` calls of each node are the measured ones (warm-up ones come first)
        measured = durations[-runs:]
        totals[op_of[node]] = totals.get(op_of[node], 0.0) + sum(measured) / len(measured)
        counts[op_of[node]] = counts.get(op_of[node], 0) + 1
    grand = sum(totals.values()) or 1.0
    return sorted((OpShare(op, ms, ms / grand, counts[op]) for op, ms in totals.items()),
                  key=lambda s: -s.total_ms)


def format_profile(shares: list[OpShare], top: int = 10) -> str:
    total = sum(s.total_ms for s in shares)
    lines = [f"{'operator':<28}{'nodes':>6}{'ms/run':>9}{'share':>8}"]
    for s in shares[:top]:
        lines.append(f"{s.op_type:<28}{s.nodes:>6}{s.total_ms:>9.3f}{s.share * 100:>7.1f}%")
    rest = shares[top:]
    if rest:
        lines.append(f"{'(other)':<28}{sum(s.nodes for s in rest):>6}"
                     f"{sum(s.total_ms for s in rest):>9.3f}"
                     f"{sum(s.share for s in rest) * 100:>7.1f}%")
    lines.append(f"{'sum of operator times':<34}{total:>9.3f}")
    return "\n".join(lines)
