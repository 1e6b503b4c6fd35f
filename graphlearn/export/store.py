"""Export folders: every node's vector, its original id, a FAISS index and a metadata file, written atomically.

Layout of a folder written by :func:`write_export`::

    embeddings.npy       float32 [N, d], row i = node i (unit rows: cosine = inner product)
    embeddings.parquet   node_id (the user's original id), source (which model gave the vector), embedding
    ids.json             the IdMapping (row i -> original id); FAISS ids are rows
    index.faiss          FAISS index of the rows (kind and parameters in the metadata)
    metadata.json        format, model, run id, dataset, dimension, metric, normalisation, index, counts,
                         creation time, graphlearn / FAISS versions, sha256 of embeddings.npy (and of model.pt)
    model.pt             (optional) the model that answers queries for new nodes, graphlearn.model format

Vectors arrive in chunks, so the writer's memory is bounded by the chunk size (the NumPy file is streamed chunk by
chunk, Parquet is written one row group per chunk; the ids are held once); the index is then built from a read-only
memory map of the NumPy file (an index holds every vector: its memory is that of N vectors, whatever the chunk).
Everything is written into a temporary sibling folder that is renamed into place at the end
(:func:`graphlearn.io.atomic_dir`): a killed or failed export leaves the previous folder as it was.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graphlearn import __version__
from graphlearn.io import atomic_dir, atomic_write_text

from .index import INDEX_KINDS, build_index, index_params, read_index, write_index

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "Export", "ExportError", "write_export", "read_export", "sha256"]

EXPORT_FORMAT = "graphlearn.export"
EXPORT_VERSION = 1
FILES = ("embeddings.npy", "embeddings.parquet", "ids.json", "index.faiss", "metadata.json")


class ExportError(ValueError):
    """An export folder that is missing, damaged, or does not match what it is used with."""


def sha256(path: str | os.PathLike, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def _id_type(ids: Sequence) -> str:
    return "int64" if all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in ids) else "string"


def write_export(
    folder: str | os.PathLike,
    chunks: Iterable[tuple[np.ndarray, Sequence[str] | str]],
    *,
    num_nodes: int,
    dim: int,
    ids: Sequence | None = None,
    index: str | None = "flat",
    metadata: Mapping[str, Any] | None = None,
    model_file: str | os.PathLike | None = None,
    overwrite: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write an export folder (see the module docstring) from ``chunks`` of ``(vectors [c, dim], source)`` in row
    order (``source``: one name per row, or one for the chunk). ``ids`` are the original node ids (default
    ``0..N-1``); ``metadata`` is merged into ``metadata.json``; ``model_file`` is copied in as ``model.pt``;
    ``progress(rows)`` is called after each chunk; ``index=None`` writes no index (files only, e.g. to build one
    elsewhere). Returns the folder.

    Raises:
        ValueError: wrong chunk shapes, NaN/inf vectors, ids of the wrong length or duplicated, unknown index
            kind. Nothing is left behind (an existing folder is kept as it was).
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from graphlearn.data import IdMapping  # noqa: PLC0415

    if index is not None and index not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {index!r}; choose from {list(INDEX_KINDS)}")
    if num_nodes < 1 or dim < 1:
        raise ValueError(f"an export needs at least one node and one dimension (got {num_nodes} x {dim})")
    ids = list(range(num_nodes)) if ids is None else list(ids)
    if len(ids) != num_nodes:
        raise ValueError(f"{len(ids)} node ids for {num_nodes} nodes")
    mapping = IdMapping(ids, source="export ids")  # raises on duplicates
    id_type = _id_type(mapping.ids)
    schema = pa.schema(
        [
            ("node_id", pa.int64() if id_type == "int64" else pa.string()),
            ("source", pa.string()),
            ("embedding", pa.list_(pa.float32(), dim)),
        ]
    )
    folder = Path(folder)
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        # embeddings.npy is streamed (header, then each chunk's bytes), not a writable memory map: the mapped pages
        # would stay resident and make the writer's memory grow with N instead of the chunk
        npy = open(tmp / "embeddings.npy", "wb")  # noqa: SIM115  (closed below, also on error by atomic_dir's cleanup)
        np.lib.format.write_array_header_1_0(
            npy, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (num_nodes, dim)}
        )  # fmt: skip
        sources: dict[str, int] = {}
        row = 0
        with npy, pq.ParquetWriter(tmp / "embeddings.parquet", schema) as writer:
            for vectors, source in chunks:
                vectors = np.asarray(vectors, dtype=np.float32)
                c = len(vectors)
                if vectors.ndim != 2 or vectors.shape[1] != dim:
                    raise ValueError(f"chunk at row {row} has shape {list(vectors.shape)}; expected [*, {dim}]")
                if row + c > num_nodes:
                    raise ValueError(f"chunks give more than num_nodes={num_nodes} rows")
                bad = ~np.isfinite(vectors).all(1)
                if bad.any():
                    raise ValueError(f"vector of node row {row + int(np.flatnonzero(bad)[0])} has NaN/inf values")
                src = [source] * c if isinstance(source, str) else list(source)
                for s in set(src):
                    sources[s] = sources.get(s, 0) + src.count(s)
                npy.write(np.ascontiguousarray(vectors).tobytes())
                table = pa.table(
                    {
                        "node_id": pa.array(mapping.ids[row : row + c], type=schema.field("node_id").type),
                        "source": pa.array(src, type=pa.string()),
                        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
                    },
                    schema=schema,
                )
                writer.write_table(table)
                row += c
                if progress:
                    progress(c)
        if row != num_nodes:
            raise ValueError(f"chunks gave {row} rows; expected num_nodes={num_nodes}")
        if index is not None:
            vectors = np.load(tmp / "embeddings.npy", mmap_mode="r")
            faiss_index = build_index(vectors, index)
            write_index(faiss_index, tmp / "index.faiss")
            del faiss_index, vectors
        mapping.save(tmp / "ids.json")
        import faiss  # noqa: PLC0415

        meta = {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_VERSION,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "graphlearn_version": __version__,
            "faiss_version": faiss.__version__,
            "num_nodes": num_nodes,
            "dimension": dim,
            "metric": "cosine",
            "normalisation": "unit L2 norm (inner product = cosine similarity)",
            "index": (
                {"kind": index, "params": index_params(index, num_nodes), "ids": "rows; ids.json maps rows"}
                if index is not None
                else None
            ),
            "id_mapping": {"file": "ids.json", "type": id_type},
            "sources": sources,
            "embeddings_sha256": sha256(tmp / "embeddings.npy"),
            **dict(metadata or {}),
        }
        if model_file is not None:
            shutil.copyfile(model_file, tmp / "model.pt")
            meta["model_sha256"] = sha256(tmp / "model.pt")
        atomic_write_text(tmp / "metadata.json", json.dumps(meta, indent=2, default=str) + "\n")
    return folder


@dataclass
class Export:
    """A read export folder: ``vectors`` (memory map), ``ids`` (row -> original id), ``metadata``, ``index``."""

    folder: Path
    metadata: dict[str, Any]
    vectors: np.ndarray
    ids: list
    index: Any

    @property
    def dim(self) -> int:
        return int(self.metadata["dimension"])

    def original_ids(self, rows: np.ndarray) -> list:
        return [self.ids[int(r)] if r >= 0 else None for r in np.asarray(rows).reshape(-1)]


def read_export(folder: str | os.PathLike, *, with_index: bool = True, verify: bool = False) -> Export:
    """Read and check an export folder written by :func:`write_export` (``verify`` also re-hashes the files).

    Raises:
        ExportError: a missing folder or file, another format or version, or files that disagree (counts,
            dimension, checksums), each named.
    """
    from graphlearn.data import IdMapping  # noqa: PLC0415

    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"export folder not found: {folder}")
    missing = [f for f in FILES if not (folder / f).is_file()]
    if "index.faiss" in missing and "metadata.json" not in missing:
        try:  # an export written with index=None has no index file
            if json.loads((folder / "metadata.json").read_text()).get("index", {}) is None:
                missing.remove("index.faiss")
        except (json.JSONDecodeError, AttributeError):
            pass
    if missing:
        raise ExportError(f"{folder} is not a complete graphlearn export: missing {missing}")
    try:
        meta = json.loads((folder / "metadata.json").read_text())
    except json.JSONDecodeError as e:
        raise ExportError(f"{folder / 'metadata.json'} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ExportError(f"{folder / 'metadata.json'}: format {found!r}, expected {EXPORT_FORMAT!r}")
    if meta.get("format_version") != EXPORT_VERSION:
        raise ExportError(
            f"{folder} is export format version {meta.get('format_version')}; this graphlearn reads {EXPORT_VERSION}"
        )
    try:
        vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
    except ValueError as e:
        raise ExportError(f"{folder / 'embeddings.npy'} is not a readable NumPy file: {e}") from None
    n, d = int(meta["num_nodes"]), int(meta["dimension"])
    if vectors.shape != (n, d):
        raise ExportError(f"{folder / 'embeddings.npy'} has shape {list(vectors.shape)}; metadata says [{n}, {d}]")
    try:
        ids = IdMapping.load(folder / "ids.json").ids
    except ValueError as e:
        raise ExportError(str(e)) from None
    if len(ids) != n:
        raise ExportError(f"{folder / 'ids.json'} has {len(ids)} ids; metadata says {n} nodes")
    if verify:
        for name, key in (("embeddings.npy", "embeddings_sha256"), ("model.pt", "model_sha256")):
            if key in meta and sha256(folder / name) != meta[key]:
                raise ExportError(f"{folder / name} does not match its checksum in metadata.json (changed or damaged)")
    index = None
    if with_index and meta.get("index") is None:
        raise ExportError(f"{folder} was exported without an index (index=None)")
    if with_index:
        kind = meta.get("index", {}).get("kind")
        try:
            index = read_index(folder / "index.faiss", kind, meta.get("index", {}).get("params"))
        except ValueError as e:
            raise ExportError(str(e)) from None
        if index.ntotal != n or index.d != d:
            raise ExportError(
                f"{folder / 'index.faiss'} holds {index.ntotal} vectors of width {index.d}; metadata says {n} x {d}"
            )
    return Export(folder=folder, metadata=meta, vectors=vectors, ids=ids, index=index)
