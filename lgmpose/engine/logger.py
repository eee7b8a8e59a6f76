"""Run logs: one JSON object per line (``log.jsonl``), TensorBoard scalars when it is installed,
and short console lines. Only the main process writes."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["RunLogger"]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


class RunLogger:
    """Append-only JSONL log (``log.jsonl`` in the work dir) plus optional TensorBoard.

    The JSONL file is flushed after every line, so a killed run keeps everything it logged;
    a resumed run appends to the same file (each line carries ``epoch``).
    """

    def __init__(self, work_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(work_dir) / "log.jsonl"
        self._tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
            try:  # optional: needs the `tensorboard` package
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(work_dir) / "tensorboard"))
            except (ImportError, ModuleNotFoundError):
                self._tb = None

    @property
    def tensorboard(self) -> bool:
        return self._tb is not None

    def log(self, record: dict[str, Any], step: int | None = None) -> None:
        """Write one record (a flat dict); numeric values also go to TensorBoard at ``step``."""
        if not self.enabled:
            return
        line = {"time": round(time.time(), 3), **{k: _plain(v) for k, v in record.items()}}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
            handle.flush()
        if self._tb is not None and step is not None:
            for key, value in line.items():
                if key not in ("time", "epoch") and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()

    def info(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
