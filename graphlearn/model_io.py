"""One versioned file format for every saved model (Cold Brew, GIANT's encoder, GRDA and its baselines).

A file is a ``torch.save`` of a plain dict, loadable with ``weights_only=True``::

    {"format": "graphlearn.model", "format_version": 1, "graphlearn_version": "0.1.0",
     "model_class": "ColdBrewStudent", "hparams": {...constructor arguments...},
     "config": {...} | None, "meta": {...} | None, "state_dict": {...}}

``hparams`` are the model's ``hparams`` (its constructor keyword arguments; tensors allowed); ``config`` is the
resolved run configuration and ``meta`` a free description of the run, both as the caller passes them. Files are
written to a temporary name in the target directory and renamed, so a reader never sees half a file, and an
existing file survives a failed write. Files of the former Cold Brew format (``"graphlearn.coldbrew"`` version 1,
the same layout without ``meta``) are read too.

Classes are looked up by name in :data:`MODEL_CLASSES`. The library's own models are listed there as
``"module:Class"`` strings imported on first use (no import cycles, and a fresh process can load any file); other
classes join with :func:`register_model`. A class whose constructor needs more than ``cls(**hparams)`` (e.g. a
config object stored as a dict) defines a ``from_hparams(hparams)`` classmethod.
"""

from __future__ import annotations

import importlib
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graphlearn import __version__
from graphlearn.io import atomic_write

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LEGACY_FORMATS",
    "MODEL_CLASSES",
    "IncompatibleModelError",
    "register_model",
    "model_class",
    "save",
    "load",
    "read_header",
]

FORMAT = "graphlearn.model"
FORMAT_VERSION = 1
LEGACY_FORMATS = {"graphlearn.coldbrew": 1}  # earlier format names still read -> the one version they had

# name -> class, or "module:Class" imported on first use
MODEL_CLASSES: dict[str, type[nn.Module] | str] = {
    "ColdBrewTeacher": "graphlearn.methods.coldbrew.teacher:ColdBrewTeacher",
    "ColdBrewStudent": "graphlearn.methods.coldbrew.student:ColdBrewStudent",
    "MLPClassifier": "graphlearn.methods.coldbrew.glnn:MLPClassifier",
    "MLPEncoder": "graphlearn.methods.giant.encoder:MLPEncoder",
    "GRDA": "graphlearn.methods.grda.method:GRDA",
    "DANN": "graphlearn.methods.grda.baselines:DANN",
    "AdaptationMethod": "graphlearn.methods.grda.method:AdaptationMethod",  # the source-only baseline
    # the baselines of graphlearn.models.MODELS (GCN, SAGE, GAT, SIGN, ...): built by name, see build_model
    "Baseline": "graphlearn.models:Baseline",
}


class IncompatibleModelError(ValueError):
    """The file was written in a model format version this graphlearn cannot read."""


def register_model(cls: type[nn.Module] | None = None, *, name: str | None = None):
    """Make ``cls`` savable by :func:`save` (usable as ``@register_model`` or ``@register_model(name=...)``).

    The class must expose ``hparams``: a dict of its constructor keyword arguments (plain values, lists, tuples,
    dicts and tensors). Registering another class under a taken name raises ``ValueError``.
    """

    def add(c: type[nn.Module]) -> type[nn.Module]:
        key = name or c.__name__
        known = MODEL_CLASSES.get(key)
        if known is not None and known is not c and known != f"{c.__module__}:{c.__qualname__}":
            raise ValueError(f"model class name {key!r} is already registered for {known}")
        MODEL_CLASSES[key] = c
        return c

    return add if cls is None else add(cls)


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name`` (importing its module if needed)."""
    entry = MODEL_CLASSES.get(name)
    if entry is None:
        raise KeyError(f"unknown model class {name!r}; known: {sorted(MODEL_CLASSES)}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        MODEL_CLASSES[name] = entry
    return entry


def _plain(value: Any, where: str) -> Any:
    """``value`` with numpy scalars turned into Python ones; raises on anything ``weights_only`` cannot read."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a non-string key {k!r}; model files take string keys only")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    raise TypeError(
        f"{where} is a {type(value).__name__}; model files hold only None, bool, int, float, str, tensors, "
        f"lists, tuples and dicts"
    )


def save(
    model: nn.Module,
    path: str | os.PathLike,
    config: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (a class of :data:`MODEL_CLASSES`) with its ``hparams``, ``config``, ``meta`` and the
    format / graphlearn versions to ``path``, atomically. Returns the path. A model built by a registered factory
    names it in ``model.saved_class`` (e.g. ``"Baseline"`` for :func:`graphlearn.models.build_model`'s models); the
    factory's ``from_hparams(model.hparams)`` rebuilds it on :func:`load`.

    Raises:
        TypeError: the model's class is not registered, or ``hparams`` / ``config`` / ``meta`` hold a value the
            file cannot store (the message names where).
    """
    name = getattr(model, "saved_class", None) or type(model).__name__
    factory = name != type(model).__name__ and name in MODEL_CLASSES
    if factory and not hasattr(model_class(name), "from_hparams"):
        raise TypeError(f"model class {name!r} (named by saved_class) has no from_hparams to rebuild the model")
    if not factory and (name not in MODEL_CLASSES or model_class(name) is not type(model)):
        raise TypeError(f"cannot save a {type(model).__qualname__}; supported: {sorted(MODEL_CLASSES)}")
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "graphlearn_version": __version__,
        "model_class": name,
        "hparams": _plain(model.hparams, "hparams"),
        "config": _plain(config, "config"),
        "meta": _plain(meta, "meta"),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The file's payload (see the module docstring) after the checks of :func:`load`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is not a readable graphlearn model file: it is empty (0 bytes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, a pickle from elsewhere, ...
        # torch's own message runs over several paragraphs; its first line says what failed
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if isinstance(e, pickle.UnpicklingError):
            first = "not a torch.save file of plain tensors and containers (refused by weights_only=True loading)"
        raise ValueError(f"{path} is not a readable graphlearn model file: {type(e).__name__}: {first}") from e
    found = payload.get("format") if isinstance(payload, dict) else f"a {type(payload).__name__}"
    if found == FORMAT:
        expected = FORMAT_VERSION
    elif found in LEGACY_FORMATS:
        expected = LEGACY_FORMATS[found]
    else:
        raise ValueError(
            f"{path} is not a graphlearn model file (format {found!r}, expected {FORMAT!r} or one of "
            f"{sorted(LEGACY_FORMATS)})"
        )
    version = payload.get("format_version")
    if version != expected:
        raise IncompatibleModelError(
            f"{path} uses model format version {version} ({found}, written by graphlearn "
            f"{payload.get('graphlearn_version')}), but graphlearn {__version__} reads format version {expected}; "
            f"retrain or load it with the graphlearn version that wrote it"
        )
    if payload.get("model_class") not in MODEL_CLASSES:
        raise ValueError(
            f"{path} holds an unknown model class {payload.get('model_class')!r}; known: {sorted(MODEL_CLASSES)}"
        )
    for key in ("hparams", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise ValueError(f"{path} is a damaged graphlearn model file: {key!r} is not a dict")
    return payload


def load(path: str | os.PathLike) -> nn.Module:
    """Rebuild a model saved by :func:`save`, in eval mode. The run config and description are available as
    ``model.saved_config`` and ``model.saved_meta`` (``None`` when none was saved).

    Raises:
        FileNotFoundError: no such file.
        IncompatibleModelError: written in another format version (the message names both versions).
        ValueError: not a readable graphlearn model file (empty, truncated, another format, an unknown class, or
            hyper-parameters and weights that do not fit together).
    """
    payload = read_header(path)
    name = payload["model_class"]
    cls = model_class(name)
    build = getattr(cls, "from_hparams", None)
    try:
        model = build(payload["hparams"]) if build is not None else cls(**payload["hparams"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        raise ValueError(f"{path}: cannot rebuild the saved {name}: {e}") from e
    model.saved_config = payload.get("config")
    model.saved_meta = payload.get("meta")
    model.eval()
    return model
