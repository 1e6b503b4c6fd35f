"""Saving and loading pretrained node features (and the encoder that makes them), atomically.

Features are stored as ``<name>.npz`` (``features`` float32 ``[N, D]`` plus the metadata as a JSON string) with a
human-readable ``<name>.json`` sidecar holding the same metadata (config, dataset, node count, dim). Both are
written to a temporary name in the same folder and renamed, so a reader never sees half a file. The library takes
paths only: the pipeline resolves ``pretrained:<run id>`` through MLflow to a path before calling
:func:`load_features`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from graphlearn.io import atomic_write as _atomic_write

__all__ = ["save_features", "load_features", "save_encoder", "load_encoder", "FEATURES_FILE"]

FEATURES_FILE = "features.npz"  # file name looked for when a folder is given


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
    _atomic_write(path, lambda fh: np.savez(fh, features=arr, meta_json=np.array(text)))
    _atomic_write(path.with_suffix(".json"), lambda fh: fh.write(text.encode()))
    return path


def load_features(path: str | os.PathLike) -> tuple[Tensor, dict]:
    """Read features written by :func:`save_features`: ``(float32 Tensor [N, D], meta dict)``.

    ``path`` is the ``.npz`` file or a folder holding ``features.npz`` (e.g. a downloaded run artifact folder).

    Raises:
        ValueError: a ``pretrained:<run id>`` reference (resolve it in the pipeline first), or a file whose shape
            disagrees with its metadata.
        FileNotFoundError: nothing at ``path``.
    """
    text = str(path)
    if text.startswith("pretrained:"):
        raise ValueError(f"{text!r} is a run reference: resolve it to a path (pipelines do this via MLflow) first")
    path = Path(path)
    if path.is_dir():
        path = path / FEATURES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained features at {path}")
    with np.load(path, allow_pickle=False) as f:
        if "features" not in f:
            raise ValueError(f"{path} has no 'features' array (keys: {sorted(f.files)})")
        arr = f["features"].astype(np.float32, copy=False)
        meta = json.loads(str(f["meta_json"])) if "meta_json" in f else {}
    if (
        arr.ndim != 2
        or meta.get("num_nodes", arr.shape[0]) != arr.shape[0]
        or meta.get("dim", arr.shape[1]) != arr.shape[1]
    ):
        raise ValueError(
            f"{path}: features of shape {arr.shape} disagree with meta num_nodes={meta.get('num_nodes')}, "
            f"dim={meta.get('dim')}"
        )
    return torch.from_numpy(arr), meta


def save_encoder(path: str | os.PathLike, result) -> Path:
    """Save a :class:`~.trainer.PretrainResult`'s encoder (state dict + config) to ``path`` (``.pt``)."""
    path = Path(path)
    payload = {
        "state_dict": result.encoder.state_dict(),
        "config": result.config.to_dict(),
        "in_channels": result.in_channels,
        "meta": result.meta(),
    }
    _atomic_write(path, lambda fh: torch.save(payload, fh))
    return path


def load_encoder(path: str | os.PathLike):
    """Load an encoder saved by :func:`save_encoder`; returns a ready ``MLPEncoder`` (eval mode) and its config."""
    from .encoder import MLPEncoder
    from .trainer import GiantConfig

    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    cfg = GiantConfig.from_dict(payload["config"])
    enc = MLPEncoder(
        payload["in_channels"], cfg.hidden_channels, cfg.out_channels, cfg.num_layers, cfg.dropout, cfg.input_dropout
    )
    enc.load_state_dict(payload["state_dict"])
    return enc.eval(), cfg
