"""Which optional extra provides a module, to turn a missing import into one install hint."""
from __future__ import annotations

__all__ = ["EXTRA_OF_MODULE", "missing_extra_message"]

# Top-level module -> the extra of `pip install "lgmpose[EXTRA]"` that installs it.
EXTRA_OF_MODULE = {
    "torch": "torch",
    "torchvision": "torch",
    "onnx": "torch",
    "pycocotools": "torch",
    "scipy": "torch",
    "matplotlib": "bench",
    "fastapi": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
    "python_multipart": "serve",
    "starlette": "serve",
    "tensorflow": "convert",
    "tf2onnx": "convert",
    "ray": "ray",
}


def missing_extra_message(error: ImportError) -> str | None:
    """A one-line hint for an import of a module one of our extras provides, else ``None``."""
    name = getattr(error, "name", None)
    if not name:
        return None
    module = name.split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    return (f"this command needs '{module}', which is not installed; install the '{extra}' "
            f'extra: pip install "lgmpose[{extra}]"')
