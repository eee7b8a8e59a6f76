"""Latency measurement for `lgmpose bench`: block-interleaved timing, summary rows, the table.

Every model is a :class:`BenchTarget` (a callable that runs one forward pass on a fixed input,
plus what the table says about it), driven through a runner: `lgmpose bench` gives each target
its own process (:class:`lgmpose.benchmarks.worker.WorkerRunner`, idle ones stopped), and
:class:`InProcessRunner` runs one in this process. :func:`time_in_blocks` runs them in blocks:
``A x block, B x block, C x block`` and again for every round, dropping the first ``drop`` runs of
each block. Blocks, not strict ``A B A B`` alternation, because a runtime's worker threads keep
spinning for a while after a run; rounds, because a shared machine drifts and the drift should
hit every model alike.

NumPy only: the torch and ONNX Runtime targets are built in :mod:`lgmpose.benchmarks.targets`.
"""
from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

REFERENCE_MODEL = "lgm_pose"
ROW_KEYS = ("model", "backend", "batch", "threads", "input_size", "params", "macs",
            "latency_ms_median", "latency_ms_p90", "fps")


@dataclass
class BenchTarget:
    """One thing to time: ``run()`` performs a single forward pass of ``batch`` crops."""

    model: str
    backend: str
    batch: int
    threads: int
    input_size: tuple[int, int]
    run: Callable[[], Any]
    params: int | None = None
    macs: int | None = None  # multiply-accumulates of one forward pass for one crop
    precision: str = "fp32"
    device: str = "cpu"
    note: str = ""
    close: Callable[[], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.model}/{self.backend}/b{self.batch}"


INFO_KEYS = ("model", "backend", "batch", "threads", "input_size", "params", "macs",
             "precision", "device", "note", "extra")


def target_info(target: BenchTarget) -> dict[str, Any]:
    """What a row says about a target (JSON-serialisable; without its callables)."""
    info = {key: getattr(target, key) for key in INFO_KEYS}
    info["input_size"] = [int(v) for v in target.input_size]
    return info


class Runner(Protocol):
    """What :func:`time_in_blocks` drives: one target, wherever it runs."""

    label: str
    info: dict[str, Any]
    idle_cpu_ms: list[float]

    def start(self, warmup: int) -> None: ...

    def time_block(self, runs: int) -> list[float]: ...

    def close(self) -> None: ...


class InProcessRunner:
    """Runs a target in this process (tests, and anything that must share the caller's state)."""

    def __init__(self, target: BenchTarget) -> None:
        self.target = target
        self.info = target_info(target)
        self.label = target.label
        self.idle_cpu_ms: list[float] = []

    def start(self, warmup: int) -> None:
        for _ in range(max(warmup, 1)):
            self.target.run()

    def time_block(self, runs: int) -> list[float]:
        run, clock = self.target.run, time.perf_counter_ns
        times = []
        for _ in range(runs):
            start = clock()
            run()
            times.append((clock() - start) / 1e6)
        return times

    def close(self) -> None:
        if self.target.close is not None:
            self.target.close()


def time_in_blocks(runners: Sequence[Runner | BenchTarget], rounds: int = 5, block: int = 20, drop: int = 3,
                   warmup: int = 10, progress: Callable[[str], None] | None = None
                   ) -> list[np.ndarray]:
    """Time every runner in blocks; return, per runner, the kept times in ms, ``[rounds, kept]``.

    ``runners`` are :class:`InProcessRunner`, :class:`~lgmpose.benchmarks.worker.WorkerRunner`
    or plain :class:`BenchTarget` (run in this process). Each is started in turn (its target
    built and run ``warmup`` times). Then for each of ``rounds`` rounds every runner runs
    ``block`` times in a row and the first ``drop`` runs of the block are discarded (caches and
    thread pools that the previous block disturbed).
    """
    if block <= drop:
        raise ValueError(f"block ({block}) must be larger than drop ({drop})")
    runners = [InProcessRunner(r) if isinstance(r, BenchTarget) else r for r in runners]
    for runner in runners:
        if progress:
            progress(f"warm-up {runner.label}")
        runner.start(warmup)
    kept: list[list[list[float]]] = [[] for _ in runners]
    for round_index in range(rounds):
        if progress:
            progress(f"round {round_index + 1}/{rounds}")
        for index, runner in enumerate(runners):
            kept[index].append(runner.time_block(block)[drop:])
    return [np.asarray(times, dtype=np.float64) for times in kept]


def summarise(target: BenchTarget | dict[str, Any], times_ms: np.ndarray) -> dict[str, Any]:
    """One JSON row: the fields of :data:`ROW_KEYS` and a few more.

    ``times_ms`` is ``[rounds, runs]`` (or flat: one round); each round's median is kept too
    (``round_medians_ms``), for ratios between models timed in the same rounds.
    """
    info = target_info(target) if isinstance(target, BenchTarget) else target
    rounds = np.atleast_2d(np.asarray(times_ms, dtype=np.float64))
    flat = rounds.ravel()
    median = float(np.median(flat))
    size = info["input_size"]
    return {
        "model": info["model"],
        "backend": info["backend"],
        "batch": info["batch"],
        "threads": info["threads"],
        "input_size": f"{size[0]}x{size[1]}",
        "params": info["params"],
        "macs": info["macs"],
        "latency_ms_median": round(median, 4),
        "latency_ms_p90": round(float(np.percentile(flat, 90)), 4),
        "latency_ms_min": round(float(np.min(flat)), 4),
        "fps": round(info["batch"] * 1000.0 / median, 2),
        "runs": int(flat.size),
        "round_medians_ms": [round(float(np.median(r)), 4) for r in rounds],
        "precision": info["precision"],
        "device": info["device"],
        "note": info["note"],
        **(info.get("extra") or {}),
    }


def add_ratios(rows: list[dict[str, Any]], reference: str = REFERENCE_MODEL) -> None:
    """Add ``ratio_vs_reference``: row latency / the reference model's latency.

    The reference is the fp32 ``reference`` row with the same device and batch, on the same
    backend when there is one (ONNX Runtime otherwise: peers run on TFLite). Per-crop latency is
    what is compared, so a value of 2.0 means "takes twice as long per crop as LGM-Pose".
    """
    refs = {(r["device"], r["backend"], r["batch"]): r for r in rows
            if r["model"] == reference and r.get("precision", "fp32") == "fp32"}
    for row in rows:
        ref = (refs.get((row["device"], row["backend"], row["batch"]))
               or refs.get((row["device"], "onnxruntime", row["batch"]))
               or refs.get((row["device"], "onnxruntime", 1)))
        if ref is None:
            row["ratio_vs_reference"] = None
            continue
        per_crop = row["latency_ms_median"] / row["batch"]
        ref_per_crop = ref["latency_ms_median"] / ref["batch"]
        row["ratio_vs_reference"] = round(per_crop / ref_per_crop, 3)
        row["reference"] = f"{reference}/{ref['backend']}/b{ref['batch']}"


def add_peer_ratios(rows: list[dict[str, Any]], peer: str) -> None:
    """Add ``ratio_vs_peer``: per-crop latency / the ``peer`` row's, round by round.

    Only rows timed in the same rounds as the peer (same ``timing_group``) get one: in each round
    the row's median is divided by the peer's median of that round, and the median of those
    ratios is kept, so that a drift of the machine between rounds cancels out.
    """
    refs = {r.get("timing_group"): r for r in rows if r["model"] == peer}
    for row in rows:
        ref = refs.get(row.get("timing_group"))
        if ref is None or len(ref["round_medians_ms"]) != len(row["round_medians_ms"]):
            row["ratio_vs_peer"] = None
            continue
        ratios = [(mine / row["batch"]) / (theirs / ref["batch"])
                  for mine, theirs in zip(row["round_medians_ms"], ref["round_medians_ms"])]
        row["ratio_vs_peer"] = round(float(np.median(ratios)), 3)
        row["peer"] = peer


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def library_versions(names: Iterable[str] = ("numpy", "onnxruntime", "torch", "ai_edge_litert",
                                             "onnx")) -> dict[str, str]:
    """Versions of the libraries that are already imported or importable, without importing."""
    from importlib import metadata

    dists = {"ai_edge_litert": "ai-edge-litert"}
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(dists.get(name, name))
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment(device: str = "cpu") -> dict[str, Any]:
    """What the table header states about the machine."""
    env: dict[str, Any] = {
        "device": device,
        "cpu": cpu_name(),
        "cores": usable_cores(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "versions": library_versions(),
    }
    if hasattr(os, "getloadavg"):
        env["load_average"] = [round(x, 2) for x in os.getloadavg()]
    if hasattr(os, "nice"):
        env["nice"] = os.nice(0)
    return env


def _fmt_count(value: int | None, unit: float, digits: int = 2) -> str:
    return "-" if value is None else f"{value / unit:.{digits}f}"


def format_table(rows: Sequence[dict[str, Any]], env: dict[str, Any]) -> str:
    """The plain-text table `lgmpose bench` prints."""
    peer = next((r["peer"] for r in rows if r.get("ratio_vs_peer") is not None), None)
    header = ["model", "backend", "prec", "batch", "input", "params(M)", "GMACs",
              "median ms", "p90 ms", "crops/s", "x lgm_pose"] + ([f"x {peer}"] if peer else [])

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [[
        r["model"], r["backend"], r.get("precision", "fp32"), str(r["batch"]), r["input_size"],
        _fmt_count(r["params"], 1e6), _fmt_count(r["macs"], 1e9, 3),
        f"{r['latency_ms_median']:.2f}", f"{r['latency_ms_p90']:.2f}", f"{r['fps']:.1f}",
        ratio(r.get("ratio_vs_reference")),
    ] + ([ratio(r.get("ratio_vs_peer"))] if peer else []) for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]

    def render(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    load = env.get("load_average")
    out = [
        f"device: {env['device']} ({env['cpu']}, {env['cores']} usable cores), "
        f"threads: {sorted({r['threads'] for r in rows})}"
        + (f", load average {load[0]:.2f} at the end" if load else ""),
        f"versions: python {env['python']}, {versions}",
        render(header),
        render(["-" * w for w in widths]),
    ]
    out += [render(line) for line in lines]
    notes = sorted({r["note"] for r in rows if r.get("note")})
    out.append("latency: median and 90th percentile of one forward pass of `batch` crops; "
               "x lgm_pose: latency per crop / LGM-Pose's (fp32, same batch, same backend or "
               "ONNX Runtime)" + (f"; x {peer}: the same against {peer}, median of the "
                                  "per-round ratios" if peer else "") + ".")
    if env.get("isolation"):
        out.append(f"timing: {env['isolation']}")
    sizes = [r["input_size"] for r in rows]
    common = max(set(sizes), key=sizes.count) if sizes else ""
    others = [r for r in _first_per_model(rows) if r["input_size"] != common]
    if others:
        out.append(f"input sizes differ (HxW): {common} except " + ", ".join(
            f"{r['model']} {r['input_size']}" for r in others))
    out += [f"note: {n}" for n in notes]
    return "\n".join(out)


def _first_per_model(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(row["model"], row)
    return list(seen.values())


def write_json(path: str | os.PathLike, rows: Sequence[dict[str, Any]],
               env: dict[str, Any]) -> None:
    """A list of rows; each row also carries the environment, so one row stands on its own."""
    from lgmpose.utils.atomic import atomic_write_text

    payload = [{**row, "environment": env} for row in rows]
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


def plot_latency_vs_params(path: str | os.PathLike, rows: Sequence[dict[str, Any]],
                           env: dict[str, Any], batch: int | None = None) -> None:
    """Scatter plot of median latency (per forward pass) against parameter count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lgmpose.utils.atomic import atomic_path

    batch = batch if batch is not None else min(r["batch"] for r in rows)
    chosen = [r for r in rows if r["batch"] == batch and r["params"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    markers = {"onnxruntime": "o", "torch": "s", "tflite": "^"}
    sizes = [r["input_size"] for r in chosen]
    common_size = max(set(sizes), key=sizes.count) if sizes else ""
    for backend in sorted({r["backend"] for r in chosen}):
        for int8 in (False, True):
            group = [r for r in chosen if r["backend"] == backend
                     and (r.get("precision") == "int8") == int8]
            if not group:
                continue
            ax.scatter([r["params"] / 1e6 for r in group],
                       [r["latency_ms_median"] for r in group],
                       marker=markers.get(backend, "o"), s=40,
                       label=f"{backend} int8" if int8 else backend,
                       facecolors="none" if int8 else None,
                       edgecolors=f"C{sorted(markers).index(backend) % 10}" if int8 else None,
                       color=None if int8 else f"C{sorted(markers).index(backend) % 10}")
            for r in group:
                size = "" if r["input_size"] == common_size else f" ({r['input_size']})"
                ax.annotate(r["model"] + size, (r["params"] / 1e6, r["latency_ms_median"]),
                            textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters (millions, log scale)")
    ax.set_ylabel(f"median latency, batch {batch} (ms, log scale)")
    threads = sorted({r["threads"] for r in chosen})
    ax.set_title(f"{env['device']}: {env['cpu']}, threads {threads}; "
                 f"input {common_size} unless noted", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
