"""Export forms: the model rewritten, module by module, into the graph that is exported.

A module offers an export form through ``export_module(precision, batch, input_shape)``: a
module computing the same function in operators ONNX Runtime runs faster (``precision="fp32"``)
or quantises better (``"int8"``), with BatchNorm folded into weights and every shape a constant.
The forms live next to the modules they replace (:mod:`lgmpose.models.layers`,
:mod:`~lgmpose.models.mobilevim`, :mod:`~lgmpose.models.sfusion`); training and the eval-mode
forward never see them.
"""
from __future__ import annotations

import copy
from typing import Any

PRECISIONS = ("fp32", "int8")


def prepare_for_export(model: Any, precision: str = "fp32", batch: int | None = 1,
                       input_size: tuple[int, int] | None = None) -> Any:
    """A copy of ``model`` with each module that has an export form replaced by it.

    ``batch`` None leaves the batch axis free. The input shape each module sees is recorded on
    one batch-1 pass at ``input_size`` (default: the model config's). The model itself, its
    parameters and state-dict keys are not touched.
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    h, w = (int(v) for v in (input_size or model.model_config["input_size"]))
    prepared = copy.deepcopy(model).eval()
    shapes: dict[Any, tuple[int, ...]] = {}

    def record(module: Any, args: tuple) -> None:
        shapes.setdefault(module, tuple(args[0].shape))

    hooks = [module.register_forward_pre_hook(record) for module in prepared.modules()
             if hasattr(module, "export_module")]
    try:
        with torch.no_grad():
            prepared(torch.zeros(1, 3, h, w))
    finally:
        for hook in hooks:
            hook.remove()

    def swap(parent: Any) -> None:
        for name, child in parent.named_children():
            if child in shapes:
                setattr(parent, name, child.export_module(precision, batch, shapes[child]))
            else:
                swap(child)

    swap(prepared)
    return prepared.eval()
