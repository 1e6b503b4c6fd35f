"""Tests of ``graphlearn.data``; helpers for read-only roots."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """``{relative path: (mode, size, mtime_ns)}`` of everything under ``root`` (root included)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def copy_read_only(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` and remove every write bit (root ignores them; the loaders must not)."""
    shutil.copytree(src, dst)
    for dirpath, dirnames, filenames in os.walk(dst):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode & ~_WRITE)
    dst.chmod(dst.stat().st_mode & ~_WRITE)
    return dst


def make_writable(root: Path) -> None:
    """Undo :func:`copy_read_only` so ``tmp_path`` can be cleaned up by non-root users."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames]:
            p = Path(dirpath) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
