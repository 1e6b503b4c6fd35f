"""Small helpers shared by the dataset loaders: the writable cache, read-only roots, graph normalisation."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected

_WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def resolve_cache(cache: str | os.PathLike | None = None) -> Path:
    """Writable cache for processed files: ``cache``, else ``$GRAPHLEARN_CACHE``, else ``./.cache/graphlearn``."""
    if cache is not None:
        return Path(cache)
    env = os.environ.get("GRAPHLEARN_CACHE")
    return Path(env) if env else Path(".cache") / "graphlearn"


def is_writable(path: str | os.PathLike) -> bool:
    """Whether files may be created in ``path`` (or, if it does not exist yet, in its nearest existing parent).

    A directory without any write bit in its mode counts as read-only even when ``os.access`` says otherwise:
    ``os.access`` is always true for root, and a read-only staged dataset must stay untouched whoever runs us.
    """
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        mode = p.stat().st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) and bool(mode & _WRITE_BITS) and os.access(p, os.W_OK | os.X_OK)


def mirror_dir(src: Path, *, cache: Path | None = None, skip: tuple[str, ...] = ("processed",)) -> Path:
    """Mirror the files under ``src`` into the writable cache as symlinks (copies where symlinks fail).

    Directories are created for real, so a loader that writes ``processed/`` (or downloads a missing raw file)
    writes into the cache and never through a link into ``src``. The mirror lives under
    ``<cache>/mirrors/<hash of src>/<src.name>``, so two roots holding the same dataset name do not share
    processed files. Top-level entries named in ``skip`` are not mirrored.

    Returns:
        The mirror directory (it exists, possibly empty when ``src`` does not exist).
    """
    src = Path(src).absolute()
    key = hashlib.sha1(str(src.parent).encode()).hexdigest()[:12]
    dst = resolve_cache(cache).absolute() / "mirrors" / key / src.name
    dst.mkdir(parents=True, exist_ok=True)
    if not src.is_dir():
        return dst
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d not in skip]
        (dst / rel).mkdir(exist_ok=True)
        for fname in filenames:
            target, link = Path(dirpath) / fname, dst / rel / fname
            if link.is_symlink() and Path(os.readlink(link)) == target:
                continue
            if link.is_symlink() or link.exists():
                link.unlink()
            try:
                os.symlink(target, link)
            except FileExistsError:  # a concurrent process linked it first
                pass
            except OSError:
                shutil.copy2(target, link)
    return dst


@contextlib.contextmanager
def remove_created_on_error(*paths: Path) -> Iterator[None]:
    """On an exception, remove each of ``paths`` that did not exist on entry (outermost first), then re-raise.

    Guards calls into library code (PyG, ogb) that create folders and may fail halfway, leaving a folder whose
    mere existence changes what the next run does.
    """
    new = [Path(p) for p in paths if not Path(p).exists()]
    try:
        yield
    except BaseException:
        for p in new:
            if p.is_symlink() or p.is_file():
                p.unlink(missing_ok=True)
            elif p.exists():
                shutil.rmtree(p, ignore_errors=True)
        raise


def feature_tensor(x) -> Tensor:
    """Float32 node features as a tensor. A SciPy sparse matrix stays CSR when it is large enough to matter
    (``graphlearn.sparse.STORE_SPARSE_MIN_ELEMENTS`` entries, :func:`graphlearn.sparse.compact`'s rule: a large bag
    of words is never held densely), else it is made dense as every small graph is; arrays pass through."""
    import scipy.sparse as sp  # noqa: PLC0415

    from .. import sparse as gsparse  # noqa: PLC0415

    if not sp.issparse(x):
        return torch.as_tensor(x)
    if x.shape[0] * x.shape[1] < gsparse.STORE_SPARSE_MIN_ELEMENTS:
        return torch.from_numpy(x.toarray().astype(np.float32, copy=False))
    x = sp.csr_matrix(x, dtype=np.float32)
    x.sort_indices()
    return torch.sparse_csr_tensor(
        torch.from_numpy(x.indptr.astype(np.int64)),
        torch.from_numpy(x.indices.astype(np.int64)),
        torch.from_numpy(x.data),
        x.shape,
        check_invariants=True,
    )


def build_graph(
    x: Tensor | np.ndarray,
    edge_index: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    *,
    train_mask: Tensor | np.ndarray | None = None,
    val_mask: Tensor | np.ndarray | None = None,
    test_mask: Tensor | np.ndarray | None = None,
    num_classes: int | None = None,
) -> Data:
    """Build a ``Data`` that follows the graph contract of ``docs/design.md``.

    Edges are symmetrised, coalesced (sorted, de-duplicated) and self-loops removed; ``x`` becomes float32,
    ``y`` int64 ``[N]`` and masks bool. Masks that are not given are left out (the caller adds a split).

    Args:
        x: node features ``[N, F]``.
        edge_index: ``[2, E]`` edges, in one or both directions.
        y: labels ``[N]`` or ``[N, 1]``, ``-1`` for unlabelled nodes.
        train_mask, val_mask, test_mask: optional bool-like ``[N]``.
        num_classes: defaults to ``y.max() + 1``.
    """
    x = torch.as_tensor(x).to(torch.float32)
    num_nodes = x.size(0)
    y = torch.as_tensor(y).reshape(-1).to(torch.long)
    if y.numel() != num_nodes:
        raise ValueError(f"y has {y.numel()} entries but x has {num_nodes} rows")
    edge_index = torch.as_tensor(edge_index).to(torch.long)
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
    edge_index, _ = remove_self_loops(edge_index)
    edge_index = to_undirected(edge_index, num_nodes=num_nodes)  # also sorts and de-duplicates
    data = Data(x=x, edge_index=edge_index, y=y)
    for key, mask in (("train_mask", train_mask), ("val_mask", val_mask), ("test_mask", test_mask)):
        if mask is not None:
            mask = torch.as_tensor(mask).reshape(-1).to(torch.bool)
            if mask.numel() != num_nodes:
                raise ValueError(f"{key} has {mask.numel()} entries but the graph has {num_nodes} nodes")
            data[key] = mask
    data.num_classes = int(num_classes) if num_classes is not None else int(y.max().item()) + 1 if y.numel() else 0
    return data
