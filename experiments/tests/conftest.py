"""The fixtures of the package's tests (``tests/conftest.py``: the shared data, one torch thread),
for the tests of the experiment configs."""
from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "lgmpose_tests_conftest", Path(__file__).resolve().parents[2] / "tests" / "conftest.py")
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

shared_data = _shared.shared_data
torch_one_thread = _shared.torch_one_thread
