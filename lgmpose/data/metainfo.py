"""Dataset metainfo: what a keypoint set is (names, flip pairs, OKS sigmas, skeleton, colours).

A metainfo is a small YAML file. COCO-17 and MPII-16 ship with the package (``load_metainfo("coco")``);
a custom COCO-format dataset points at its own file (``load_metainfo("my_dataset.yaml")``)::

    name: my_dataset
    keypoints:                      # order = the order of the annotation's keypoint triplets
      - {name: head, type: upper, color: [51, 153, 255]}   # type (upper|lower) and color optional
      - {name: left_hand, type: upper}
      - {name: right_hand, type: upper}
    flip_pairs: [[left_hand, right_hand]]                  # names or 0-based indices
    skeleton: [[head, left_hand], {link: [head, right_hand], color: [255, 0, 0]}]
    sigmas: [0.05, 0.06, 0.06]     # OKS sigmas, one per keypoint
    joint_weights: [1, 1.5, 1.5]   # optional loss weights (default 1)

A file whose flip pairs, sigmas or weights do not match its keypoints is refused with a message that
names the file and the problem. No torch here: the ONNX Runtime deployment path imports this module.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from lgmpose.errors import LgmposeError

__all__ = ["MetaInfo", "load_metainfo", "builtin_metainfo_names"]

_BUILTIN_DIR = Path(__file__).resolve().parent / "metainfo"
_DEFAULT_COLOR = (51, 153, 255)


@dataclass(frozen=True)
class MetaInfo:
    """A keypoint set. Colours are RGB tuples (0-255); reverse them for OpenCV drawing."""

    name: str
    keypoint_names: list[str]
    flip_indices: list[int]               # flip_indices[i] = index of the mirror of keypoint i
    flip_pairs: list[tuple[int, int]]
    sigmas: np.ndarray                    # [K] float32, COCO OKS sigmas
    joint_weights: np.ndarray             # [K] float32
    skeleton: list[tuple[int, int]]
    keypoint_colors: list[tuple[int, int, int]]
    skeleton_colors: list[tuple[int, int, int]]
    upper_body_ids: list[int]
    lower_body_ids: list[int]
    source: str = field(default="", compare=False)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    def index(self, keypoint_name: str) -> int:
        return self.keypoint_names.index(keypoint_name)

    def to_dict(self) -> dict:
        """A plain, YAML/JSON-serialisable description (e.g. for a checkpoint's ``meta``)."""
        return {
            "name": self.name,
            "keypoints": [
                {"name": n, "type": "upper" if i in self.upper_body_ids else
                 "lower" if i in self.lower_body_ids else None, "color": list(c)}
                for i, (n, c) in enumerate(zip(self.keypoint_names, self.keypoint_colors))
            ],
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "skeleton": [{"link": list(s), "color": list(c)}
                         for s, c in zip(self.skeleton, self.skeleton_colors)],
            "sigmas": [float(s) for s in self.sigmas],
            "joint_weights": [float(w) for w in self.joint_weights],
        }


def builtin_metainfo_names() -> list[str]:
    return sorted(p.stem for p in _BUILTIN_DIR.glob("*.yaml"))


def load_metainfo(name_or_path: str | os.PathLike | MetaInfo | dict) -> MetaInfo:
    """``"coco"``, ``"mpii"``, a YAML path, an already parsed dict, or a MetaInfo (returned as is)."""
    if isinstance(name_or_path, MetaInfo):
        return name_or_path
    if isinstance(name_or_path, dict):
        return _parse(name_or_path, "<dict>")
    text = str(name_or_path)
    builtin = _BUILTIN_DIR / f"{text.lower()}.yaml"
    path = builtin if (os.sep not in text and not text.endswith((".yaml", ".yml"))
                       and builtin.is_file()) else Path(text)
    if not path.is_file():
        raise LgmposeError(f"metainfo {text!r}: not a built-in name ({', '.join(builtin_metainfo_names())}) "
                           "nor an existing YAML file")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise LgmposeError(f"metainfo {str(path)!r}: cannot read YAML: {error}") from None
    return _parse(raw, str(path))


def _color(value, where: str, source: str) -> tuple[int, int, int]:
    if value is None:
        return _DEFAULT_COLOR
    if not (isinstance(value, (list, tuple)) and len(value) == 3
            and all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in value)):
        raise LgmposeError(f"metainfo {source!r}: {where}: colour must be [R, G, B] in 0-255, got {value!r}")
    return tuple(int(v) for v in value)


def _parse(raw, source: str) -> MetaInfo:
    def fail(problem: str):
        raise LgmposeError(f"metainfo {source!r}: {problem}")

    if not isinstance(raw, dict):
        fail("expected a mapping with 'keypoints', 'flip_pairs', 'sigmas', ...")
    entries = raw.get("keypoints")
    if not isinstance(entries, list) or not entries:
        fail("'keypoints' must be a non-empty list")
    names, colors, upper, lower = [], [], [], []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            fail(f"keypoint {i}: expected a name or a mapping with 'name'")
        if entry["name"] in names:
            fail(f"keypoint name {entry['name']!r} appears twice")
        names.append(entry["name"])
        colors.append(_color(entry.get("color"), f"keypoint {entry['name']!r}", source))
        kind = entry.get("type")
        if kind == "upper":
            upper.append(i)
        elif kind == "lower":
            lower.append(i)
        elif kind is not None:
            fail(f"keypoint {entry['name']!r}: type must be 'upper' or 'lower', got {kind!r}")
    k = len(names)

    def to_index(value, where: str) -> int:
        if isinstance(value, str):
            if value not in names:
                fail(f"{where}: unknown keypoint {value!r}")
            return names.index(value)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < k:
            return int(value)
        fail(f"{where}: {value!r} is neither a keypoint name nor an index in 0..{k - 1} "
             f"(the file has {k} keypoints)")

    flip_indices = list(range(k))
    flip_pairs = []
    for pair in raw.get("flip_pairs") or []:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            fail(f"flip pair {pair!r}: expected two keypoints")
        a, b = (to_index(p, f"flip pair {pair!r}") for p in pair)
        if a == b or flip_indices[a] != a or flip_indices[b] != b:
            fail(f"flip pair {pair!r}: a keypoint may be in at most one pair, with another keypoint")
        flip_indices[a], flip_indices[b] = b, a
        flip_pairs.append((a, b))

    skeleton, skeleton_colors = [], []
    for link in raw.get("skeleton") or []:
        color = None
        if isinstance(link, dict):
            link, color = link.get("link"), link.get("color")
        if not isinstance(link, (list, tuple)) or len(link) != 2:
            fail(f"skeleton link {link!r}: expected two keypoints")
        skeleton.append(tuple(to_index(p, f"skeleton link {link!r}") for p in link))
        skeleton_colors.append(_color(color, f"skeleton link {link!r}", source))

    def per_keypoint(key: str, default: float | None) -> np.ndarray:
        values = raw.get(key)
        if values is None:
            if default is None:
                fail(f"'{key}' is missing (one value per keypoint, {k} values)")
            return np.full(k, default, dtype=np.float32)
        if not isinstance(values, (list, tuple)) or len(values) != k:
            got = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
            fail(f"'{key}' must have one value per keypoint: {k} keypoints, got {got}")
        try:
            array = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError):
            fail(f"'{key}' must be numbers")
        if not np.all(np.isfinite(array)) or np.any(array < 0) or (key == "sigmas" and np.any(array <= 0)):
            fail(f"'{key}' must be finite and positive")
        return array

    sigmas = per_keypoint("sigmas", None)
    joint_weights = per_keypoint("joint_weights", 1.0)
    # Keypoints without a type: no half-body augmentation for them.
    return MetaInfo(
        name=str(raw.get("name") or Path(source).stem),
        keypoint_names=names, flip_indices=flip_indices, flip_pairs=flip_pairs,
        sigmas=sigmas, joint_weights=joint_weights, skeleton=skeleton,
        keypoint_colors=colors, skeleton_colors=skeleton_colors,
        upper_body_ids=upper, lower_body_ids=lower, source=source,
    )
