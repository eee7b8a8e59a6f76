"""Turn a training checkpoint into a release file: weights, model config and meta only (no
optimiser or RNG state), with a note of what the model was trained on."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["release_checkpoint"]


def release_checkpoint(src: str | os.PathLike, dst: str | os.PathLike,
                       extra_meta: dict[str, Any] | None = None) -> Path:
    """Write ``dst`` from the training checkpoint ``src``; the model is rebuilt and reloaded
    (strictly) on the way, so a file that does not load is never released."""
    from lgmpose.models.checkpoint import load_checkpoint, load_model, save_checkpoint

    state = load_checkpoint(src)
    model = load_model(src)
    meta = dict(state.get("meta", {}))
    meta["trained_epochs"] = int(state.get("epoch", 0))
    meta.update(extra_meta or {})
    save_checkpoint(dst, model, meta=meta)
    load_model(dst)  # refuses a file that does not rebuild
    return Path(dst)
