"""Output folders: created before any work (so an impossible one fails first, as one line naming
it) and removed again, if still empty, when the work fails or is interrupted."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from lgmpose.errors import LgmposeError

__all__ = ["make_output_dir", "output_dir", "remove_if_empty"]


def make_output_dir(path: str | os.PathLike, option: str = "--out") -> list[Path]:
    """Create ``path`` (and missing parents); the folders created, deepest last. An
    ``LgmposeError`` naming ``option`` and the path when that is impossible."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        if folder.exists() or folder.is_symlink():
            where = "is an existing file" if folder == path else f"'{folder}' is not a folder"
            raise LgmposeError(f"{option} '{path}': {where}; choose another {option}")
        missing.append(folder)
    else:
        folder = None
    if folder is not None and not os.access(folder, os.W_OK | os.X_OK):
        raise LgmposeError(f"{option} '{path}': cannot create or write there ('{folder}' is not "
                           "writable)")
    created = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
    except OSError as error:
        remove_if_empty(created)
        raise LgmposeError(f"{option} '{path}': cannot create the folder "
                           f"({error.strerror or error})") from None
    return created


def remove_if_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest last in the list) that are empty; others are kept."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def output_dir(path: str | os.PathLike, option: str = "--out") -> Iterator[Path]:
    """Create ``path`` for the block; on an error or interrupt, remove the folders made here if
    nothing was written into them."""
    created = make_output_dir(path, option)
    try:
        yield Path(path)
    except BaseException:
        remove_if_empty(created)
        raise
