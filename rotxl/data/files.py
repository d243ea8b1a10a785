"""Writing files safely: whole or not at all, and only where asked."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class FileExistsNoForce(FileExistsError):
    """The target exists and the caller did not ask to overwrite it."""


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None], overwrite: bool = True) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash, Ctrl-C or error part-way leaves ``path`` as it was (the old file or none), never a
    half-written file. With ``overwrite=False`` an existing ``path`` is refused up front.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsNoForce(f"{path} already exists; use --force to replace it")
    mode = path.stat().st_mode & 0o777 if path.exists() else _new_file_mode()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, mode)  # mkstemp makes the file private (0600); give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
