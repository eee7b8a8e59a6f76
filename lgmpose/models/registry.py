"""Named model variants: ``create_model(name, num_keypoints, input_size, **overrides)``.

A module that defines a network registers its variants with :func:`register_model`;
:mod:`lgmpose.models` imports those modules, so every name is known once the package is loaded.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from lgmpose.defaults import INPUT_SIZE

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a builder ``fn(num_keypoints, input_size, **overrides) -> nn.Module``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, num_keypoints: int = 17, input_size: Sequence[int] = INPUT_SIZE,
                 **overrides) -> nn.Module:
    """Build a registered model; ``model.model_config`` holds everything needed to rebuild it.

    Unknown names and bad overrides raise :class:`lgmpose.errors.LgmposeError`.
    """
    from lgmpose.errors import LgmposeError

    if name not in _REGISTRY:
        raise LgmposeError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    size = (int(input_size[0]), int(input_size[1]))
    try:
        model = _REGISTRY[name](num_keypoints=int(num_keypoints), input_size=size, **overrides)
    except (TypeError, ValueError) as error:
        raise LgmposeError(f"cannot build model {name!r} at {size[0]}x{size[1]}: {error}") from error
    model.model_config = {"name": name, "num_keypoints": int(num_keypoints),
                          "input_size": list(size), **_plain(overrides)}
    return model


def _plain(overrides: dict) -> dict:
    """Tuples become lists so that the config survives JSON/YAML and torch.load(weights_only)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()}

