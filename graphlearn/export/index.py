"""FAISS indexes over exported vectors (unit rows, inner product = cosine).

FAISS ids are row numbers of ``embeddings.npy`` (0..N-1); the export's ``ids.json`` maps them to the user's
original node ids. Kinds:

``flat``  exact search (``IndexFlatIP``);
``ivf``   inverted lists (``IndexIVFFlat``): ``nlist = 4 sqrt(N)`` (at most N / 39, FAISS's minimum of training points
          per list), trained on up to ``64 * nlist`` evenly spaced rows, ``nprobe = max(16, nlist / 16)``;
``hnsw``  graph search (``IndexHNSWFlat``, M = 32, efConstruction = 40, efSearch = 128).

Indexes are written with ``faiss.write_index`` (FAISS's own binary format, no pickle).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["INDEX_KINDS", "build_index", "index_params", "read_index", "write_index", "set_threads"]

INDEX_KINDS = ("flat", "ivf", "hnsw")


def _faiss():
    import faiss  # noqa: PLC0415  (heavy; only where an index is built or read)

    return faiss


def set_threads(threads: int) -> None:
    """FAISS's OpenMP threads (its default is every core; graphlearn's jobs pass ``--threads``)."""
    _faiss().omp_set_num_threads(int(threads))


def index_params(kind: str, n: int) -> dict:
    """The parameters :func:`build_index` uses for ``n`` vectors (recorded in the export's metadata)."""
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {kind!r}; choose from {list(INDEX_KINDS)}")
    if kind == "ivf":
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
        return {"nlist": nlist, "nprobe": min(nlist, max(16, nlist // 16)), "train_rows": min(n, 64 * nlist)}
    if kind == "hnsw":
        return {"M": 32, "efConstruction": 40, "efSearch": 128}
    return {}


def build_index(vectors: np.ndarray, kind: str = "flat", chunk_rows: int = 65536):
    """An index of ``vectors`` (``[N, d]`` float32, rows already unit-normalised; a memory map is read in chunks of
    ``chunk_rows``)."""
    faiss = _faiss()
    n, d = vectors.shape
    if n == 0:
        raise ValueError("cannot build an index of 0 vectors")
    params = index_params(kind, n)
    metric = faiss.METRIC_INNER_PRODUCT
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "ivf":
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, params["nlist"], metric)
        rows = np.linspace(0, n - 1, params["train_rows"]).astype(np.int64)
        index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
        index.nprobe = params["nprobe"]
    else:
        index = faiss.IndexHNSWFlat(d, params["M"], metric)
        index.hnsw.efConstruction = params["efConstruction"]
        index.hnsw.efSearch = params["efSearch"]
    for start in range(0, n, chunk_rows):
        index.add(np.ascontiguousarray(vectors[start : start + chunk_rows], dtype=np.float32))
    return index


def write_index(index, path: str | os.PathLike) -> Path:
    _faiss().write_index(index, str(path))
    return Path(path)


def read_index(path: str | os.PathLike, kind: str | None = None, params: dict | None = None):
    """Read an index written by :func:`write_index`; ``params`` (from the metadata) restore the search settings
    (``nprobe``, ``efSearch``), which FAISS does not store."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FAISS index not found: {path}")
    faiss = _faiss()
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} is not a readable FAISS index: {first}") from None
    params = params or {}
    if kind == "ivf" and "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    if kind == "hnsw" and "efSearch" in params:
        index.hnsw.efSearch = int(params["efSearch"])
    return index
