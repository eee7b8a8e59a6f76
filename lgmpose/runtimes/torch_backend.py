"""The torch backend: a training checkpoint (``.pt``) run with PyTorch. Imports torch on use only."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["TorchPoseModel"]


class TorchPoseModel:
    """``images[B, 3, H, W]`` (NumPy) -> ``heatmaps[B, K, h, w]`` (NumPy) with a checkpoint."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu",
                 threads: int | None = None) -> None:
        try:
            import torch
        except ImportError:
            raise LgmposeError("backend 'torch' needs PyTorch (pip install 'lgmpose[torch]'); "
                               "or use backend='onnxruntime' with an .onnx model") from None
        from lgmpose.models.checkpoint import load_model

        self.path = Path(path)
        if not self.path.is_file():
            raise LgmposeError(f"pose model '{self.path}': file not found")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise LgmposeError(f"device '{device}': PyTorch sees no CUDA GPU here")
        if threads:
            torch.set_num_threads(int(threads))
        try:
            self.model = load_model(self.path, map_location="cpu")
        except LgmposeError:
            raise
        except Exception as error:  # pickle/zip errors of a file that is no checkpoint
            raise LgmposeError(f"pose model '{self.path}': not an lgmpose checkpoint "
                               f"({type(error).__name__}: {str(error)[:150]})") from None
        # load_model attaches the checkpoint's meta and config: the file is read once.
        # The model description is read once, the way ONNX metadata is read (ModelInfo.from_meta);
        # ``meta`` stays the checkpoint's dict, completed with the architecture's input size.
        from lgmpose.runtimes.model_info import ModelInfo

        self.meta = dict(self.model.meta or {})
        config = dict(self.model.model_config)
        self.meta.setdefault("input_size", config.get("input_size"))
        self.info = ModelInfo.from_meta({**self.meta, "model_config": config})
        self.device = torch.device(device)
        self.model = self.model.to(self.device).eval()
        self._torch = torch

    def __call__(self, images: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(self.device)
            return self.model(x).float().cpu().numpy()
