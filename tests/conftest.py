"""Shared fixtures. Tests that need the real data in ../shared skip cleanly when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    env = os.environ.get("LGMPOSE_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared")
    for candidate in candidates:
        if (candidate / "data").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$LGMPOSE_SHARED/data``); skips the test when it is absent."""
    root = shared_dir()
    if root is None:
        pytest.skip("shared data not available (set LGMPOSE_SHARED or place ../shared)")
    return root / "data"


@pytest.fixture
def torch_one_thread():
    """Run a test with one torch thread.

    Tiny models gain nothing from intra-op threads, and on a busy 2-core machine two spinning
    OpenMP threads per process slow training down several times.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
