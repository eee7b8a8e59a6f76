"""What `lgmpose bench` runs: a worker process per target, timed in interleaved blocks, summarised.

A model entry is a registered name (``lgm_pose``), a registered name with ``_int8`` (the
statically quantised ONNX model, ONNX Runtime only) or the path of an ``.onnx`` file (timed as
it is, ONNX Runtime only).

The parent exports and quantises; every timed target then lives in its own process
(:mod:`lgmpose.benchmarks.worker`), stopped while the others are timed, so that no idle runtime's
threads can take the cores from the one being timed. Targets are timed in groups, one per batch
size (the peers and ``.onnx`` files with the first): the models of a group are interleaved block
by block, and ratios are taken within a group.
"""
from __future__ import annotations

import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lgmpose.benchmarks.timing import (add_peer_ratios, add_ratios, environment, summarise,
                                      time_in_blocks)
from lgmpose.defaults import INPUT_SIZE
from lgmpose.errors import LgmposeError

BACKENDS = ("onnxruntime", "torch")
INT8_SUFFIX = "_int8"
PEER_REFERENCE = "movenet_lightning_int8"


@dataclass
class BenchSettings:
    models: list[str]
    backends: list[str] = field(default_factory=lambda: ["onnxruntime", "torch"])
    batches: list[int] = field(default_factory=lambda: [1, 8])
    threads: int = 2
    input_size: tuple[int, int] = INPUT_SIZE
    rounds: int = 5
    block: int = 20
    drop: int = 3
    warmup: int = 10
    peers: str | None = None
    int8: bool = False
    calib: str | None = None
    device: str = "cpu"
    num_keypoints: int = 17
    onnx_dir: str | None = None  # keep the exported ONNX files here (default: a temp folder)
    peer_reference: str = PEER_REFERENCE


def _model_entries(settings: BenchSettings) -> list[tuple[str, str, str]]:
    """``(row name, registry name or path, kind)`` with kind ``model``, ``int8`` or ``onnx``."""
    entries = []
    for name in settings.models:
        if name.endswith(".onnx"):
            if not Path(name).is_file():
                raise LgmposeError(f"ONNX model '{name}' does not exist")
            entries.append((Path(name).stem, name, "onnx"))
        elif name.endswith(INT8_SUFFIX):
            entries.append((name, name[: -len(INT8_SUFFIX)], "int8"))
        else:
            entries.append((name, name, "model"))
    if settings.int8:
        present = {e[0] for e in entries}
        entries += [(n + INT8_SUFFIX, n, "int8") for n, _, kind in list(entries)
                    if kind == "model" and n + INT8_SUFFIX not in present]
    return entries


def build_specs(settings: BenchSettings, workdir: Path,
                log: Callable[[str], None] = print) -> list[list[dict[str, Any]]]:
    """The worker specs (see :mod:`lgmpose.benchmarks.worker`), one group per batch size.

    ONNX files are exported and quantised here, into ``workdir``."""
    from lgmpose.benchmarks.targets import complexity, export_onnx

    unknown = [b for b in settings.backends if b not in BACKENDS]
    if unknown:
        raise LgmposeError(f"unknown backend {unknown[0]!r}; use {', '.join(BACKENDS)}")
    entries = _model_entries(settings)
    if settings.device == "cuda" and not _ort_has_cuda():
        if "onnxruntime" in settings.backends:
            log("ONNX Runtime has no CUDA provider here: its rows are skipped")
        settings = replace(settings, backends=[b for b in settings.backends if b != "onnxruntime"])
        entries = [e for e in entries if e[2] == "model"]
    if settings.device == "cuda" and any(kind == "int8" for _, _, kind in entries):
        log("int8 QDQ models are timed on the CPU only: skipped on cuda")
        entries = [e for e in entries if e[2] != "int8"]
    modules: dict[str, tuple[Any, int, int]] = {}
    if any(kind != "onnx" for _, _, kind in entries):
        try:
            from lgmpose.models import create_model
        except ImportError as error:
            raise LgmposeError(f"timing registered models needs PyTorch ({error}); install "
                               "'lgmpose[torch]' or pass exported .onnx files to --models"
                               ) from error

        for _, source, kind in entries:
            if kind != "onnx" and source not in modules:
                module = create_model(source, num_keypoints=settings.num_keypoints,
                                      input_size=settings.input_size).eval()
                modules[source] = (module, *complexity(module, settings.input_size))
    common = {"threads": settings.threads, "device": settings.device}
    calib_crops = None
    groups: list[list[dict[str, Any]]] = []
    for batch in settings.batches:
        group: list[dict[str, Any]] = []
        for row_name, source, kind in entries:
            if kind == "onnx":
                if batch == settings.batches[0]:  # a file has one batch size; time it once
                    group.append(_onnx_file_spec(row_name, source, common))
                continue
            module, params, macs = modules[source]
            counts = {"params": params, "macs": macs}
            if kind == "int8":
                from lgmpose.export.quantize import calibration_crops, export_int8

                if calib_crops is None and settings.calib:
                    # fewer crops than an export uses: ranges do not change latency
                    calib_crops = calibration_crops(settings.calib, settings.input_size,
                                                    max_crops=32)
                int8_path = workdir / f"{source}_int8_b{batch}.onnx"
                log(f"quantising {source} (batch {batch}) to int8")
                export_int8(module, int8_path, None, batch_size=batch, crops=calib_crops)
                note = ("int8: static QDQ, calibrated on person crops" if settings.calib else
                        "int8: static QDQ, calibrated on noise (timing only; use --calib DIR)")
                group.append({"kind": "onnx", "path": str(int8_path), "model": row_name,
                              "precision": "int8", "note": note, **counts, **common})
                continue
            for backend in settings.backends:
                if backend == "onnxruntime":
                    fp32_path = workdir / f"{source}_b{batch}.onnx"
                    if not fp32_path.exists():
                        log(f"exporting {source} (batch {batch}) to ONNX")
                        export_onnx(module, fp32_path, batch, settings.input_size)
                    group.append({"kind": "onnx", "path": str(fp32_path), "model": row_name,
                                  "precision": "fp32", **counts, **common})
                else:
                    config = {"name": source, "num_keypoints": settings.num_keypoints,
                              "input_size": list(settings.input_size)}
                    group.append({"kind": "torch", "model": row_name, "config": config,
                                  "batch": batch, "input_size": list(settings.input_size),
                                  **counts, **common})
        if settings.peers and not groups:
            if settings.device != "cpu":
                log("peers are TFLite CPU models: skipped on " + settings.device)
            else:
                from lgmpose.benchmarks.peers import usable_peers

                group += [{"kind": "peer", "name": spec.name, "path": str(path),
                           "threads": settings.threads}
                          for spec, path in usable_peers(settings.peers)]
        groups.append(group)
    return [group for group in groups if group]


def _onnx_file_spec(name: str, path: str, common: dict[str, Any]) -> dict[str, Any]:
    from lgmpose.export.quantize import describe_quantised

    precision = "int8" if describe_quantised(path).get("DequantizeLinear") else "fp32"
    return {"kind": "onnx", "path": str(path), "model": name, "precision": precision,
            "note": f"{name}: ONNX file as given", **common}


def run_benchmark(settings: BenchSettings, log: Callable[[str], None] = print
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Build, time in blocks, summarise: ``(rows, environment)``; rows carry the ratios."""
    if settings.onnx_dir:
        workdir = Path(settings.onnx_dir)
        workdir.mkdir(parents=True, exist_ok=True)
        return _run(settings, workdir, log)
    with tempfile.TemporaryDirectory(prefix="lgmpose-bench-") as tmp:
        return _run(settings, Path(tmp), log)


def time_groups(groups: list[list[dict[str, Any]]], settings: BenchSettings,
                log: Callable[[str], None] = print, pause_idle: bool = True
                ) -> list[dict[str, Any]]:
    """Time each group's specs in worker processes, block-interleaved; one row per spec."""
    from lgmpose.benchmarks.worker import WorkerRunner

    rows: list[dict[str, Any]] = []
    for index, group in enumerate(groups):
        runners = [WorkerRunner(spec, pause_idle) for spec in group]
        try:
            times = time_in_blocks(runners, rounds=settings.rounds, block=settings.block,
                                   drop=settings.drop, warmup=settings.warmup, progress=log)
        finally:
            for runner in runners:
                runner.close()
        for runner, kept in zip(runners, times):
            row = summarise(runner.info, kept)
            row["timing_group"] = index
            row["idle_cpu_ms_max"] = round(max(runner.idle_cpu_ms, default=0.0), 3)
            rows.append(row)
    return rows


def _run(settings: BenchSettings, workdir: Path, log: Callable[[str], None]
         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    groups = build_specs(settings, workdir, log)
    if not groups:
        raise LgmposeError("nothing to time: no model, backend or peer selected")
    env_before = environment(_device_name(settings.device))
    rows = time_groups(groups, settings, log)
    env = environment(_device_name(settings.device))
    env["load_average_before"] = env_before.get("load_average")
    env["isolation"] = ("one process per model, " + (
        "the idle ones stopped (SIGSTOP) while another is timed" if hasattr(signal, "SIGSTOP")
        else "the idle ones waiting on a pipe (no SIGSTOP here)")
        + "; blocks interleaved round by round")
    env["timing"] = {"rounds": settings.rounds, "block": settings.block, "drop": settings.drop,
                     "warmup": settings.warmup}
    add_ratios(rows)
    add_peer_ratios(rows, settings.peer_reference)
    return rows, env


def _ort_has_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def _device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    return device
