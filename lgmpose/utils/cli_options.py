"""Argument types and option groups shared by the `lgmpose` sub-commands and the modules run with
``python -m`` (``lgmpose.serve.loadtest``): a bad value is an argparse error (exit 2)."""
from __future__ import annotations

import argparse

__all__ = ["score", "fraction", "positive_int", "positive_float", "add_model_options",
           "add_serve_model_options"]


def _number(text: str, kind=float):
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _unit_interval(text: str, what: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r}: {what} must be in [0, 1]")
    return value


def score(text: str) -> float:
    """A score threshold: a number in [0, 1]."""
    return _unit_interval(text, "a score threshold")


def fraction(text: str) -> float:
    """A fraction: a number in [0, 1]."""
    return _unit_interval(text, "a fraction")


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive integer (1 or more)")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if not 0.0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive number")
    return value


def add_model_options(parser: argparse.ArgumentParser, detector_help: str) -> None:
    """The pose-model and detector options that `predict` and `serve` share."""
    parser.add_argument("--weights", help=".onnx export or .pt checkpoint (default: bundled model)")
    parser.add_argument("--backend", choices=["onnxruntime", "torch"],
                        help="default: from the weights file type (onnxruntime for .onnx)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--detector", default="auto", help=detector_help)
    parser.add_argument("--det-thr", type=score, default=None,
                        help="detector score threshold, 0 to 1")


def add_serve_model_options(parser: argparse.ArgumentParser) -> None:
    """The model options of `serve`, shared with ``python -m lgmpose.serve.loadtest``."""
    add_model_options(parser, "person detector when a request sends no boxes: auto, nanodet, "
                      "blazepose, hog, whole_image, or a detector model file (default: auto)")
    parser.add_argument("--flip-test", action="store_true", help="average with mirrored crops")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads per network in each worker (default: the runtime's; "
                             "with several workers, 1 or 2 avoids oversubscribing the cores)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes, each with its own model (default: 1)")
