"""A run's output folder: results in shards written as they come, and a manifest.

    OUT/manifest.json               the run's settings and what is done (rewritten atomically)
    OUT/shards/shard-000001.jsonl   one line per finished unit: {"key": ..., "record": {...}}

A shard is written atomically (complete or absent), so the shards on disk are the truth about
what is done: a rerun reads their keys and skips those units, whatever happened to the manifest.
A rerun with other settings is refused (its answers would mix with these).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lgmpose.errors import LgmposeError
from lgmpose.utils.atomic import atomic_write_text

__all__ = ["ShardStore", "MANIFEST"]

MANIFEST = "manifest.json"
FORMAT = 1


class ShardStore:
    """Collect ``(key, record)`` pairs and write them as shards of ``shard_units`` units, or
    sooner when ``shard_seconds`` have passed since the last shard. Only one process writes."""

    def __init__(self, folder: str | os.PathLike, command: str, settings: dict[str, Any],
                 fresh: bool = False, shard_units: int = 1000, shard_seconds: float = 60.0
                 ) -> None:
        self.folder = Path(folder)
        self.shards = self.folder / "shards"
        if self.folder.exists() and not self.folder.is_dir():
            raise LgmposeError(f"output '{self.folder}': is a file, not a folder")
        self.command, self.settings = command, settings
        self.shard_units, self.shard_seconds = shard_units, shard_seconds
        manifest = self.folder / MANIFEST
        if fresh:
            for old in self.shards.glob("shard-*.jsonl"):
                old.unlink()
            manifest.unlink(missing_ok=True)
        elif manifest.is_file():
            old = json.loads(manifest.read_text())
            if old.get("command") != command or old.get("settings") != settings:
                changed = sorted(k for k in set(settings) | set(old.get("settings", {}))
                                 if settings.get(k) != old.get("settings", {}).get(k))
                raise LgmposeError(f"output '{self.folder}': holds a {old.get('command')} run "
                                   f"with other settings ({', '.join(changed) or 'command'}); "
                                   "choose another output, or rerun with the same settings "
                                   "to resume it")
        self.done: dict[str, str] = {}      # key -> shard file
        self.unreadable = 0
        for path in self.shard_files():
            for key, record in _read_shard(path):
                self.done[key] = path.name
                self.unreadable += "error" in record
        self.resumed = len(self.done)
        self.repeated = 0                   # units that came back twice (a retried task)
        self._pending: list[tuple[str, dict]] = []
        self._pending_keys: set[str] = set()
        self._since = time.monotonic()
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in self.shard_files()), default=0)
        self.total = 0
        self.write_manifest()   # the settings are on record before any shard

    def shard_files(self) -> list[Path]:
        return sorted(self.shards.glob("shard-*.jsonl"))

    def add(self, key: str, record: dict) -> None:
        if key in self.done or key in self._pending_keys:
            self.repeated += 1
            return
        self._pending.append((key, record))
        self._pending_keys.add(key)
        self.unreadable += "error" in record
        if (len(self._pending) >= self.shard_units
                or time.monotonic() - self._since >= self.shard_seconds):
            self.flush()

    def flush(self) -> None:
        if self._pending:
            path = self.shards / f"shard-{self._next:06d}.jsonl"
            atomic_write_text(path, "".join(json.dumps({"key": k, "record": r}) + "\n"
                                            for k, r in self._pending))
            for key, _ in self._pending:
                self.done[key] = path.name
            self._pending, self._pending_keys = [], set()
            self._next += 1
        self._since = time.monotonic()
        self.write_manifest()

    def write_manifest(self, complete: bool = False) -> None:
        counts: dict[str, int] = {}
        for name in self.done.values():
            counts[name] = counts.get(name, 0) + 1
        atomic_write_text(self.folder / MANIFEST, json.dumps({
            "format": FORMAT, "command": self.command, "settings": self.settings,
            "units": self.total, "done": len(self.done), "unreadable": self.unreadable,
            "complete": complete,
            "shards": [{"file": f"shards/{n}", "units": c} for n, c in sorted(counts.items())],
        }, indent=1))

    def records(self) -> dict[str, dict]:
        """Every finished unit's record, by key (a unit written twice counts once)."""
        out: dict[str, dict] = {}
        for path in self.shard_files():
            for key, record in _read_shard(path):
                out.setdefault(key, record)
        return out


def _read_shard(path: Path) -> Iterator[tuple[str, dict]]:
    for line in path.read_text().splitlines():
        row = json.loads(line)
        yield row["key"], row["record"]
