"""One model per process for `lgmpose bench`, and the parent's handle on such a process.

Runtimes keep worker threads: after a run they spin for a while, and an idle session in the same
process as the timed one steals cores from it. So every timed model lives in its own process
(``python -m lgmpose.benchmarks.worker``), and the parent stops (``SIGSTOP``, waiting until the
stop has taken effect) every worker before it starts the next one's block: a stopped process
cannot run at all, whatever its threads were doing. Each worker reports the CPU time its process
used between two of its blocks (``idle_cpu_ms``): the spinning between its answer and the stop,
which ends before any other model runs.

Protocol, one JSON object per line: the parent sends ``{"spec": ..., "warmup": N}``; the worker
builds the target, runs it N times and answers ``{"ready": info}`` (or ``{"error": message}``);
then for every ``{"block": n}`` it answers ``{"times_ms": [...], "cpu_s": [start, end]}``. It
exits when its input closes.

Specs (``kind``): ``onnx`` (an ONNX file, :func:`lgmpose.benchmarks.targets.onnx_target`),
``torch`` (a registered model rebuilt from its config), ``peer`` (a deployed model of
:mod:`lgmpose.benchmarks.peers`) and ``factory`` (``"module:function"`` called with ``kwargs``,
returning a :class:`~lgmpose.benchmarks.timing.BenchTarget`).
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from lgmpose.benchmarks.timing import BenchTarget, target_info
from lgmpose.errors import LgmposeError


def build_target(spec: dict[str, Any]) -> BenchTarget:
    """The :class:`BenchTarget` a spec describes (in the worker process)."""
    kind = spec.get("kind")
    if kind == "onnx":
        from lgmpose.benchmarks.targets import onnx_target

        return onnx_target(spec["path"], spec["model"], spec["threads"], spec.get("params"),
                           spec.get("macs"), spec.get("precision", "fp32"),
                           spec.get("device", "cpu"), spec.get("note", ""))
    if kind == "torch":
        from lgmpose.benchmarks.targets import torch_target
        from lgmpose.models import create_model

        module = create_model(**spec["config"]).eval()
        return torch_target(module, spec["model"], spec["batch"], spec["input_size"],
                            spec["threads"], spec.get("params"), spec.get("macs"),
                            spec.get("device", "cpu"))
    if kind == "peer":
        from lgmpose.benchmarks.peers import PEERS, peer_target

        peer = next(p for p in PEERS if p.name == spec["name"])
        return peer_target(peer, Path(spec["path"]), spec["threads"])
    if kind == "factory":
        module_name, _, function = spec["factory"].partition(":")
        return getattr(importlib.import_module(module_name), function)(**spec.get("kwargs", {}))
    raise ValueError(f"unknown bench target kind {kind!r}")


def serve(commands: IO[str], answers: IO[str]) -> None:
    """The worker's loop: build the target, then time blocks on request."""
    def answer(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    first = commands.readline()
    if not first:
        return
    request = json.loads(first)
    try:
        target = build_target(request["spec"])
        for _ in range(max(int(request.get("warmup", 1)), 1)):
            target.run()
    except Exception as error:  # reported to the parent, which raises it as one line
        text = (str(error).strip().splitlines() or [""])[0]
        answer({"error": f"{type(error).__name__}: {text[:300]}"})
        return
    answer({"ready": target_info(target)})
    run, clock, cpu = target.run, time.perf_counter_ns, time.process_time
    for line in commands:
        runs = int(json.loads(line)["block"])
        start_cpu = cpu()
        times = []
        for _ in range(runs):
            start = clock()
            run()
            times.append((clock() - start) / 1e6)
        answer({"times_ms": times, "cpu_s": [start_cpu, cpu()]})
    if target.close is not None:
        target.close()


def main() -> int:
    # Answers go to the original stdout; anything a library prints goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        serve(sys.stdin, answers)
    except (KeyboardInterrupt, BrokenPipeError):
        return 1
    return 0


class WorkerRunner:
    """The parent's side of one worker: start it, time blocks, keep it stopped in between."""

    def __init__(self, spec: dict[str, Any], pause_idle: bool = True) -> None:
        self.spec = spec
        self.pause_idle = pause_idle and hasattr(signal, "SIGSTOP")
        self.label = spec.get("model") or spec.get("name") or spec.get("factory", "?")
        self.info: dict[str, Any] = {}
        self.idle_cpu_ms: list[float] = []
        self._last_cpu_end: float | None = None
        self._stopped = False
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process: subprocess.Popen | None = None

    def start(self, warmup: int) -> None:
        """Start the worker, let it build and warm up its target, then stop it."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "lgmpose.benchmarks.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1)
        answer = self._ask({"spec": self.spec, "warmup": warmup})
        self.info = answer["ready"]
        self.label = f"{self.info['model']}/{self.info['backend']}/b{self.info['batch']}"
        self.pause()

    def time_block(self, runs: int) -> list[float]:
        """Milliseconds of each of ``runs`` runs in a row."""
        self.resume()
        answer = self._ask({"block": runs})
        self.pause()
        start, end = answer["cpu_s"]
        if self._last_cpu_end is not None:
            self.idle_cpu_ms.append(max(0.0, (start - self._last_cpu_end) * 1000.0))
        self._last_cpu_end = end
        return [float(t) for t in answer["times_ms"]]

    def pause(self) -> None:
        """Stop the worker and wait until it is stopped, so that the next model to be timed never
        shares the cores with it (its threads may still be spinning when it has answered)."""
        process = self._process
        if not self.pause_idle or process is None or self._stopped:
            return
        os.kill(process.pid, signal.SIGSTOP)
        _, status = os.waitpid(process.pid, os.WUNTRACED)
        if os.WIFSTOPPED(status):
            self._stopped = True
        else:  # it ended meanwhile: keep its status for the error message
            process.returncode = os.waitstatus_to_exitcode(status)

    def resume(self) -> None:
        if self._stopped and self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)
            self._stopped = False

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if self._stopped:
            os.kill(process.pid, signal.SIGCONT)
            self._stopped = False
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        finally:
            process.stdout.close()
            self._stderr.close()

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        process = self._process
        assert process is not None
        try:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except BrokenPipeError:
            line = ""
        answer = json.loads(line) if line.strip() else {"error": self._crash_message()}
        if "error" in answer:
            self.close()
            raise LgmposeError(f"bench worker for {self.label}: {answer['error']}")
        return answer

    def _crash_message(self) -> str:
        code = self._process.wait() if self._process is not None else None
        self._stderr.seek(0)
        tail = [line for line in self._stderr.read().splitlines() if line.strip()][-1:]
        return f"exited with status {code}" + (f" ({tail[0][:300]})" if tail else "")


if __name__ == "__main__":
    sys.exit(main())
