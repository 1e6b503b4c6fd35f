"""Node-feature files: ``[N, D]`` float32 features any model of the suite can take in place of a graph's own.

Features are stored as ``<name>.npz`` (``features`` float32 ``[N, D]`` plus the metadata as a JSON string) with a
human-readable ``<name>.json`` sidecar holding the same metadata (e.g. config, dataset, node count, dim). Both are
written to a temporary name in the same folder and renamed, so a reader never sees half a file. The library takes
paths only: the pipeline resolves ``pretrained:<run id>`` through MLflow to a path before calling
:func:`load_features`. GIANT's pretraining (:mod:`graphlearn.methods.giant`) writes them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from graphlearn.io import atomic_write

__all__ = ["save_features", "load_features", "FEATURES_FILE"]

FEATURES_FILE = "features.npz"  # file name looked for when a folder is given
_CHUNK_ROWS = 1 << 16  # rows checked for non-finite values at a time (bounded extra memory)


def save_features(path: str | os.PathLike, features: Tensor | np.ndarray, meta: dict | None = None) -> Path:
    """Write ``features [N, D]`` to ``path`` (``.npz``; a folder gets ``features.npz``) and a ``.json`` sidecar.

    ``meta`` is completed with ``num_nodes`` and ``dim`` (a conflicting value raises). Returns the ``.npz`` path.
    """
    path = Path(path)
    if path.suffix == "":
        path = path / FEATURES_FILE
    if path.suffix != ".npz":
        raise ValueError(f"features are saved as .npz, got {path.name!r}")
    arr = np.ascontiguousarray(
        features.detach().cpu().numpy() if isinstance(features, Tensor) else features, dtype=np.float32
    )
    if arr.ndim != 2:
        raise ValueError(f"features must be 2-D [N, D], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("features hold non-finite values; refusing to save them")
    meta = dict(meta or {})
    for key, value in (("num_nodes", arr.shape[0]), ("dim", arr.shape[1])):
        if meta.get(key) not in (None, value):
            raise ValueError(f"meta[{key!r}]={meta[key]} does not match the features' {key}={value}")
        meta[key] = int(value)
    text = json.dumps(meta, indent=2, sort_keys=True, default=str)
    atomic_write(path, lambda fh: np.savez(fh, features=arr, meta_json=np.array(text)))
    atomic_write(path.with_suffix(".json"), lambda fh: fh.write(text.encode()))
    return path


def _read_npz(path: Path) -> tuple[np.ndarray, dict]:
    """The ``features`` array and the metadata of ``path``; any decoding failure is a ``ValueError``."""
    unreadable = f"{path} is not a readable features file"
    if path.stat().st_size == 0:
        raise ValueError(f"{unreadable}: it is empty (0 bytes)")
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise ValueError(f"{unreadable}: it holds a single .npy array, not an .npz archive")
    if not magic.startswith(b"PK"):  # random bytes, a CSV, ...: np.load would call it "pickled (object) data"
        raise ValueError(f"{unreadable}: not an .npz archive (no zip signature; first bytes {magic[:4]!r})")
    try:
        f = np.load(path, allow_pickle=False)
    except Exception as e:  # truncated or not a zip (BadZipFile), pickled data (ValueError), ...
        raise ValueError(f"{unreadable}: {type(e).__name__}: {e}") from e
    if not hasattr(f, "files"):
        raise ValueError(f"{unreadable}: it holds a single .npy array, not an .npz archive")
    with f:
        if "features" not in f.files:
            raise ValueError(f"{path} has no 'features' array (keys: {sorted(f.files)})")
        try:  # members are read here: a truncated archive fails now (BadZipFile, zlib.error, EOFError)
            arr = f["features"]
            meta_text = str(f["meta_json"]) if "meta_json" in f.files else None
        except Exception as e:
            raise ValueError(f"{unreadable}: {type(e).__name__}: {e}") from e
    if meta_text is None:
        return arr, {}
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{unreadable}: its metadata is not JSON ({e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{unreadable}: its metadata is a {type(meta).__name__}, not a JSON object")
    return arr, meta


def _read_pt(path: Path) -> tuple[np.ndarray, dict]:
    """A ``[N, D]`` tensor saved with ``torch.save`` (or a dict with a ``features`` tensor and an optional ``meta``
    dict), loaded with ``weights_only=True`` (no code runs)."""
    unreadable = f"{path} is not a readable features file"
    if path.stat().st_size == 0:
        raise ValueError(f"{unreadable}: it is empty (0 bytes)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, a pickle refused by weights_only, truncated
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(f"{unreadable}: {type(e).__name__}: {first}") from None
    meta = {}
    if isinstance(obj, dict):
        if "features" not in obj:
            raise ValueError(f"{path} has no 'features' tensor (keys: {sorted(map(str, obj))})")
        meta = obj.get("meta") or {}
        if not isinstance(meta, dict):
            raise ValueError(f"{unreadable}: its 'meta' is a {type(meta).__name__}, not a dict")
        obj = obj["features"]
    if isinstance(obj, Tensor):
        obj = obj.detach().cpu().numpy()
    if not isinstance(obj, np.ndarray):
        raise ValueError(f"{path} holds a {type(obj).__name__}; expected a [N, D] tensor or {{'features': tensor}}")
    return obj, meta


def _check_finite(path: Path, arr: np.ndarray, raw: np.ndarray) -> None:
    """Raise naming the first non-finite value of ``arr`` (its row, column and stored value ``raw[row, col]``) and
    how many there are; the check runs over row blocks, so it needs little memory beyond the features."""
    first, count = None, 0
    for start in range(0, arr.shape[0], _CHUNK_ROWS):
        bad = ~np.isfinite(arr[start : start + _CHUNK_ROWS])
        n = int(bad.sum())
        if n and first is None:
            row, col = divmod(int(bad.argmax()), arr.shape[1])
            first = (start + row, col)
        count += n
    if count:
        row, col = first
        value = raw[row, col].item()
        why = "" if not np.isfinite(value) else " (overflows float32)"
        raise ValueError(
            f"{path}: features[{row}, {col}] = {value}{why} at row {row}, column {col}; features must be finite "
            f"({count} non-finite value(s) in total)"
        )


def load_features(path: str | os.PathLike) -> tuple[Tensor, dict]:
    """Read features written by :func:`save_features`: ``(float32 Tensor [N, D], meta dict)``.

    ``path`` is the ``.npz`` file or a folder holding ``features.npz`` (e.g. a downloaded run artifact folder), or
    a ``.pt`` file of ``torch.save(tensor)`` / ``torch.save({"features": tensor, "meta": {...}})`` (read with
    ``weights_only=True``).

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: a ``pretrained:<run id>`` reference (resolve it in the pipeline first); an empty, truncated or
            otherwise unreadable file ("not a readable features file"); no ``features`` array; features that are
            not numbers or not 2-D, or whose shape disagrees with the metadata; NaN or inf values (the message
            names the file, the row and column of the first one and their count).
    """
    text = str(path)
    if text.startswith("pretrained:"):
        raise ValueError(f"{text!r} is a run reference: resolve it to a path (pipelines do this via MLflow) first")
    path = Path(path)
    if path.is_dir():
        path = path / FEATURES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained features at {path}")
    arr, meta = _read_pt(path) if path.suffix == ".pt" else _read_npz(path)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{path}: features of dtype {arr.dtype}, expected numbers")
    if arr.ndim != 2:
        raise ValueError(f"{path}: features must be 2-D [N, D], got shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{path}: features need at least one row and one column, got shape {arr.shape}")
    raw = arr
    with np.errstate(over="ignore"):  # float64 beyond float32's range turns inf: reported just below
        arr = arr.astype(np.float32, copy=False)
    if meta.get("num_nodes", arr.shape[0]) != arr.shape[0] or meta.get("dim", arr.shape[1]) != arr.shape[1]:
        raise ValueError(
            f"{path}: features of shape {arr.shape} disagree with meta num_nodes={meta.get('num_nodes')}, "
            f"dim={meta.get('dim')}"
        )
    _check_finite(path, arr, raw)
    return torch.from_numpy(arr), meta
