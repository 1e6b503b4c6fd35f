"""Saving and loading the pretrained encoder, in the library's model-file format (:mod:`graphlearn.model_io`).

The features it makes are saved with :func:`graphlearn.features.save_features`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from graphlearn import model_io

from .encoder import MLPEncoder
from .trainer import GiantConfig, PretrainResult

__all__ = ["save_encoder", "load_encoder"]


def save_encoder(path: str | os.PathLike, result: PretrainResult) -> Path:
    """Save a :class:`~.trainer.PretrainResult`'s encoder to ``path`` (``.pt``), atomically, as a versioned model
    file: config = the :class:`~.trainer.GiantConfig` as a dict, meta = ``result.meta()``."""
    return model_io.save(result.encoder, path, config=result.config.to_dict(), meta=result.meta())


def _legacy_encoder(path: Path) -> MLPEncoder | None:
    """An encoder file from before the versioned format (``state_dict``, ``config``, ``in_channels``, ``meta``),
    or ``None`` when ``path`` is not one."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if (
        not isinstance(payload, dict)
        or "format" in payload
        or not {"state_dict", "config", "in_channels"} <= set(payload)
    ):
        return None
    cfg = GiantConfig.from_dict(payload["config"])
    enc = MLPEncoder(
        payload["in_channels"], cfg.hidden_channels, cfg.out_channels, cfg.num_layers, cfg.dropout, cfg.input_dropout
    )
    enc.load_state_dict(payload["state_dict"])
    enc.saved_config, enc.saved_meta = payload["config"], payload.get("meta")
    return enc.eval()


def load_encoder(path: str | os.PathLike) -> tuple[MLPEncoder, GiantConfig]:
    """Load an encoder saved by :func:`save_encoder`: a ready ``MLPEncoder`` (eval mode; ``.saved_meta`` holds the
    run's ``meta``) and its config. Encoder files written before the versioned format are read too.

    Raises:
        FileNotFoundError, ValueError, IncompatibleModelError: as :func:`graphlearn.model_io.load`; ``ValueError``
            also for a model file that holds another model than a GIANT encoder, or no config.
    """
    path = Path(path)
    try:
        enc = model_io.load(path)
    except model_io.IncompatibleModelError:
        raise
    except ValueError:
        enc = _legacy_encoder(path)
        if enc is None:
            raise
    if not isinstance(enc, MLPEncoder):
        raise ValueError(f"{path} holds a {type(enc).__name__}, not a GIANT encoder (MLPEncoder)")
    if enc.saved_config is None:
        raise ValueError(f"{path} holds an MLPEncoder saved without its GiantConfig (save it with save_encoder)")
    return enc, GiantConfig.from_dict(enc.saved_config)
