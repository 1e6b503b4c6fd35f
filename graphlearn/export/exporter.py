"""Export the vectors of a trained model for every node of its graph (see :mod:`graphlearn.export.spaces` for
which vector each node gets, :mod:`graphlearn.export.store` for the folder written).

Models:

``student``  Cold Brew student, space ``coldbrew`` (teacher embedding for nodes with a neighbourhood, MLP1's
             estimate for the rest) or ``mlp1``; queries for new nodes: MLP1. Space ``retrieval``: the student's
             retrieval head for every node and for queries (a student trained with ``retrieval_dim > 0``).
``teacher``  the teacher embeddings of every node as the student stored them (isolated nodes: the teacher on
             their features with no edge); queries for new nodes: the student's MLP1, which regresses them.
``glnn``, ``mlp``  the last hidden layer of the GLNN / MLP baselines for every node and for queries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphlearn import model_io, sparse

from .spaces import STUDENT_SPACES, as_numpy, hidden_vectors, normalize, student_vectors
from .store import write_export

__all__ = ["EXPORT_MODELS", "export_embeddings", "node_vectors"]

EXPORT_MODELS = ("student", "teacher", "glnn", "mlp")
DEFAULT_CHUNK = 65536


def _check_graph(model, x: Tensor, kind: str) -> None:
    if x.dim() != 2 or x.size(1) != model.in_channels:
        raise ValueError(
            f"the graph's features have shape {list(x.shape)} but the {kind} model was trained on "
            f"{model.in_channels} features: not the data it was trained on"
        )
    n_graph = getattr(model, "teacher_embeddings", None)
    if n_graph is not None and n_graph.size(0) != x.size(0):
        raise ValueError(
            f"the graph has {x.size(0)} nodes but the {kind} model was trained on a graph of {n_graph.size(0)}: "
            "not the data it was trained on"
        )


def node_vectors(
    kind: str, model, x: Tensor, *, space: str = "coldbrew", chunk_size: int = DEFAULT_CHUNK
) -> Iterator[tuple[np.ndarray, list[str] | str]]:
    """``(vectors, source)`` chunks for every node (rows of ``x``) in order, as :func:`write_export` takes them."""
    if kind not in EXPORT_MODELS:
        raise ValueError(f"unknown export model {kind!r}; choose from {list(EXPORT_MODELS)}")
    if kind in ("student", "teacher") and not hasattr(model, "mlp1"):
        raise ValueError(f"--model {kind} needs the Cold Brew student (got a {type(model).__name__})")
    if space not in STUDENT_SPACES:
        raise ValueError(f"unknown embedding space {space!r}; choose from {list(STUDENT_SPACES)}")
    _check_graph(model, x, kind)
    n = x.size(0)
    if kind in ("student", "teacher"):
        is_cand = torch.zeros(n, dtype=torch.bool)
        is_cand[model.candidate_index.cpu()] = True
    for start in range(0, n, chunk_size):
        rows = torch.arange(start, min(n, start + chunk_size))
        xs = sparse.take_rows(x, rows)  # dense or CSR (a sparse x stays sparse)
        if kind == "student":
            v = student_vectors(model, xs, space, rows)
            source = (
                space
                if space in ("mlp1", "retrieval")
                else ["teacher" if c else "mlp1" for c in is_cand[rows].tolist()]
            )
        elif kind == "teacher":
            with torch.no_grad():
                v = normalize(model._standardise(model.teacher_embeddings[rows]))
            source = "teacher"
        else:
            v, source = hidden_vectors(model, xs), kind
        yield as_numpy(v), source


def export_embeddings(
    folder: str | os.PathLike,
    kind: str,
    model_path: str | os.PathLike,
    x: Tensor,
    *,
    ids: Sequence | None = None,
    class_names: Sequence[str] | None = None,
    feature_norm: str = "none",
    space: str = "coldbrew",
    index: str = "flat",
    chunk_size: int = DEFAULT_CHUNK,
    query_model_path: str | os.PathLike | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write the export folder of the model saved at ``model_path`` (graphlearn.model format) over the graph
    whose features are ``x`` (as the model saw them at training).

    ``space="auto"`` picks ``retrieval`` for a student with a trained retrieval head, else ``coldbrew``.
    ``query_model_path`` is the model that embeds new nodes (default ``model_path``; the student for
    ``teacher``); it is copied into the folder as ``model.pt`` with the preprocessing new features need
    (``feature_norm``, the feature width) recorded in the metadata, so the folder is a complete
    :class:`~graphlearn.export.endpoint.ColdStartEndpoint`.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 (got {chunk_size})")
    model = model_io.load(model_path)
    if space == "auto":  # the retrieval head's space when the student has a trained one (best retrieval), else coldbrew
        head = getattr(model, "retrieval", None) if kind == "student" else None
        space = "retrieval" if head is not None and head.trained else "coldbrew"
    dim = int(model.embed_channels if kind in ("student", "teacher") else model.hidden_channels)
    if kind == "student" and space == "retrieval":
        dim = int(getattr(model, "retrieval_dim", 0))
        if not dim:
            raise ValueError("space 'retrieval' needs a student trained with retrieval_dim > 0 (this one has 0)")
    if kind in ("glnn", "mlp") and model.num_layers < 2:
        raise ValueError(f"the {kind} model has no hidden layer (num_layers={model.num_layers}) to export")
    meta = {
        "model": kind,
        "space": space if kind == "student" else kind,
        "preprocessing": {"in_channels": int(x.size(1)), "feature_norm": feature_norm, "dtype": "float32"},
        "class_names": list(class_names) if class_names is not None else None,
        **dict(metadata or {}),
    }
    return write_export(
        folder,
        node_vectors(kind, model, x, space=space, chunk_size=chunk_size),
        num_nodes=int(x.size(0)),
        dim=dim,
        ids=ids,
        index=index,
        metadata=meta,
        model_file=query_model_path or model_path,
        progress=progress,
    )
