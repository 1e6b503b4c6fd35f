"""Atomic file writes: nothing already written is lost or left half-written (STYLE.md).

* :func:`atomic_write` / :func:`atomic_write_text`: one file, through a temporary file beside it and ``os.replace``.
* :func:`save_figure`: a matplotlib figure, the same way.
* :func:`atomic_dir`: a whole folder, built in a temporary sibling and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_dir", "atomic_write", "atomic_write_text", "save_figure"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    On any error the temporary file is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would (0666 minus the umask)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` with :func:`atomic_write`."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def save_figure(fig: Any, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """``fig.savefig(path, **savefig_kwargs)`` through :func:`atomic_write`: a matplotlib ``Figure`` is rendered
    into a temporary file beside ``path`` that then replaces ``path``, so a failed or interrupted save leaves the
    previous file (or none).

    The format is ``savefig_kwargs["format"]`` if given, else ``path``'s suffix (``.png``, ``.pdf``, ``.svg`` ...),
    else PNG. Returns ``path``.
    """
    fmt = savefig_kwargs.pop("format", None) or Path(path).suffix.lstrip(".").lower() or "png"
    return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, **savefig_kwargs))


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``final``; on success it is renamed to ``final``, on error deleted.

    Args:
        final: the folder to produce.
        overwrite: replace an existing ``final`` (the old one is moved aside, then deleted). Without it an existing
            ``final`` raises ``FileExistsError`` before anything is written.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} already exists; pass overwrite=True to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
