"""Saving and loading Cold Brew models (teacher, student, MLP / GLNN).

A file is a ``torch.save`` of a plain dict (loadable with
``weights_only=True``)::

    {"format": "graphlearn.coldbrew", "format_version": 1,
     "graphlearn_version": "0.1.0", "model_class": "ColdBrewStudent",
     "hparams": {...constructor arguments...}, "config": {...} | None,
     "state_dict": {...}}

``config`` is the resolved run configuration (e.g. ``asdict(ColdBrewConfig)``)
when the caller passes one. Files are written to a temporary name in the
target directory and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphlearn import __version__
from graphlearn.io import atomic_write

from .glnn import MLPClassifier
from .student import ColdBrewStudent
from .teacher import ColdBrewTeacher

FORMAT = "graphlearn.coldbrew"
FORMAT_VERSION = 1
MODEL_CLASSES = {cls.__name__: cls for cls in (ColdBrewTeacher, ColdBrewStudent, MLPClassifier)}


class IncompatibleModelError(ValueError):
    """The file was written in a model format this graphlearn cannot read."""


def save(model: nn.Module, path: str | os.PathLike, config: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (one of :data:`MODEL_CLASSES`) with its constructor
    arguments, ``config`` and the format / graphlearn versions to ``path``,
    atomically. Returns the path."""
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise TypeError(f"cannot save a {name}; supported: {sorted(MODEL_CLASSES)}")
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "graphlearn_version": __version__,
        "model_class": name,
        "hparams": model.hparams,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The file's payload after the format checks (see :func:`load`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, pickle from elsewhere, ...
        raise ValueError(f"{path} is not a readable graphlearn model file: {e}") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{path} is not a graphlearn Cold Brew model file (format {found!r}, expected {FORMAT!r})")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise IncompatibleModelError(
            f"{path} uses model format version {version} (written by graphlearn "
            f"{payload.get('graphlearn_version')}), but graphlearn {__version__} reads "
            f"format version {FORMAT_VERSION}; retrain or load it with the graphlearn "
            f"version that wrote it"
        )
    if payload.get("model_class") not in MODEL_CLASSES:
        raise ValueError(
            f"{path} holds an unknown model class {payload.get('model_class')!r}; known: {sorted(MODEL_CLASSES)}"
        )
    return payload


def load(path: str | os.PathLike) -> nn.Module:
    """Rebuild a model saved by :func:`save`, in eval mode. The run config is
    available as ``model.saved_config`` (``None`` when none was saved).

    Raises:
        FileNotFoundError: no such file.
        IncompatibleModelError: written in another format version (the message
            names both versions).
        ValueError: not a graphlearn Cold Brew model file.
    """
    payload = read_header(path)
    cls = MODEL_CLASSES[payload["model_class"]]
    model = cls(**payload["hparams"])
    model.load_state_dict(payload["state_dict"])
    model.saved_config = payload.get("config")
    model.eval()
    return model
