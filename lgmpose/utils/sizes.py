"""Parsing of ``HxW`` size strings such as ``256x192`` (height first, as everywhere in lgmpose)."""
from __future__ import annotations

from collections.abc import Sequence

from lgmpose.errors import LgmposeError


def parse_size(text: str | Sequence[int]) -> tuple[int, int]:
    """``"256x192"`` -> ``(256, 192)``; a pair of ints passes through. Raises LgmposeError."""
    if not isinstance(text, str):
        values = list(text)
        if len(values) != 2:
            raise LgmposeError(f"size {values!r}: expected two values (height, width)")
        h, w = (int(v) for v in values)
    else:
        parts = text.lower().replace("*", "x").replace(",", "x").split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise LgmposeError(f"size {text!r}: expected HEIGHTxWIDTH, e.g. 256x192")
        h, w = (int(p) for p in parts)
    if h <= 0 or w <= 0:
        raise LgmposeError(f"size {text!r}: height and width must be positive")
    return h, w


def format_size(size: Sequence[int]) -> str:
    return f"{int(size[0])}x{int(size[1])}"
