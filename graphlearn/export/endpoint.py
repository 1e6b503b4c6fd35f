"""The cold-start endpoint: brand-new nodes' features in; their embedding, predicted class and nearest exported
nodes (original ids, cosine scores) out. No edges and no retraining are needed.

An endpoint is an export folder (:mod:`graphlearn.export.store`) whose ``model.pt`` is a Cold Brew student (or the
MLP / GLNN baselines) and whose metadata carries the model's preprocessing: the feature width, and the
normalisation applied at training (``row``: each raw non-negative feature row divided by its sum, PyG's
``NormalizeFeatures``), so callers send the features as they are in their files. The MLflow model
(``graphlearn export --register``) and ``graphlearn neighbors`` are thin wrappers around :class:`ColdStartEndpoint`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graphlearn import model_io, sparse

from .spaces import as_numpy, normalize, query_vectors
from .store import Export, ExportError, read_export, sha256

__all__ = ["ColdStartEndpoint", "EndpointInputError", "Answer", "preprocess"]

NORMS = ("row", "none")


class EndpointInputError(ValueError):
    """A request the endpoint cannot answer (wrong width or type, NaN/inf, empty, bad k); names the value."""


@dataclass
class Answer:
    """One answer per request row: ``embedding [n, d]``, ``class_id [n]``, ``class_name``, ``neighbor_ids``
    (``n`` lists of ``k`` original ids), ``scores [n, k]`` (cosine)."""

    embedding: np.ndarray
    class_id: np.ndarray
    class_name: list[str]
    neighbor_ids: list[list]
    scores: np.ndarray

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row."""
        return [
            {
                "class_id": int(self.class_id[i]),
                "class_name": self.class_name[i],
                "neighbor_ids": self.neighbor_ids[i],
                "scores": [float(s) for s in self.scores[i]],
                "embedding": [float(v) for v in self.embedding[i]],
            }
            for i in range(len(self.class_id))
        ]


def preprocess(features: Any, in_channels: int, norm: str = "none") -> torch.Tensor:
    """Request features (a NumPy array, a list of rows, one row, a DataFrame; any real dtype) as the float32
    ``[n, in_channels]`` tensor the model was trained on, with the training normalisation applied.

    Raises:
        EndpointInputError: empty, ragged or non-numeric input, wrong width, NaN/inf, negative values under
            ``row`` normalisation; the message names the value.
    """
    if norm not in NORMS:
        raise ValueError(f"unknown feature normalisation {norm!r}; choose from {list(NORMS)}")
    if hasattr(features, "to_numpy"):  # pandas
        features = features.to_numpy()
    try:
        x = np.asarray(features)
    except ValueError as e:  # ragged lists
        raise EndpointInputError(f"features are not a rectangular table of numbers: {e}") from None
    if x.dtype == object:
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError):
            raise EndpointInputError("features must be numbers; got a table with non-numeric or ragged rows") from None
    if x.ndim == 1 and x.size:
        x = x.reshape(1, -1)
    if x.size == 0:
        raise EndpointInputError(f"empty request: no feature rows (got shape {list(x.shape)})")
    if x.ndim != 2:
        raise EndpointInputError(f"features must be a 2-D table [rows, {in_channels}] (got shape {list(x.shape)})")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.issubdtype(x.dtype, np.complexfloating):
        raise EndpointInputError(f"features must be real numbers (got dtype {x.dtype})")
    if x.shape[1] != in_channels:
        raise EndpointInputError(
            f"features have {x.shape[1]} columns but the model was trained on {in_channels} features"
        )
    x = x.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        r = int(np.flatnonzero(bad.any(1))[0])
        c = int(np.flatnonzero(bad[r])[0])
        raise EndpointInputError(f"features contain NaN/inf: row {r}, column {c} is {x[r, c]}")
    out = torch.from_numpy(x)
    if norm == "row":
        if bool((out < 0).any()):
            r, c = (int(v) for v in (out < 0).nonzero()[0])
            raise EndpointInputError(
                f"the model row-normalises raw non-negative features, but row {r}, column {c} is {float(out[r, c])}"
            )
        out = out / out.sum(-1, keepdim=True).clamp(min=1.0)
    return out


class ColdStartEndpoint:
    """Answer queries for brand-new nodes from an export folder with a ``model.pt``.

    Args:
        export: the read export (:func:`~graphlearn.export.store.read_export`).
        model: the model of ``model.pt`` (a ``ColdBrewStudent`` or ``MLPClassifier``).
    """

    def __init__(self, export: Export, model: torch.nn.Module):
        meta = export.metadata
        pre = meta.get("preprocessing") or {}
        self.export, self.model = export, model.eval()
        self.in_channels = int(pre.get("in_channels", getattr(model, "in_channels", -1)))
        self.norm = pre.get("feature_norm", "none")
        self.class_names = list(meta.get("class_names") or [])
        # the student's space decides the query vector: MLP1 (coldbrew, mlp1; the teacher export) or the retrieval head
        self.space = "retrieval" if meta.get("space") == "retrieval" else "coldbrew"
        if getattr(model, "in_channels", self.in_channels) != self.in_channels:
            raise ExportError(
                f"{export.folder}: metadata says {self.in_channels} input features but model.pt takes "
                f"{model.in_channels}"
            )
        rows = getattr(model, "teacher_embeddings", None)
        if rows is not None and rows.numel() and meta.get("num_nodes") not in (None, rows.size(0)):
            raise ExportError(
                f"{export.folder}: model.pt holds teacher embeddings of {rows.size(0)} nodes but the index holds "
                f"{meta['num_nodes']}: not the model this index was built with"
            )
        width = self._embed_and_classify(torch.zeros(1, self.in_channels))[0].shape[1]
        if width != export.dim:
            raise ExportError(
                f"{export.folder}: the model gives {width}-dimensional vectors but the index holds {export.dim}"
            )

    @classmethod
    def load(cls, folder: str | os.PathLike) -> ColdStartEndpoint:
        """Read ``folder`` (checks that ``model.pt`` is the model the index was built with, by checksum)."""
        folder = Path(folder)
        export = read_export(folder)
        model_path = folder / "model.pt"
        if not model_path.is_file():
            raise ExportError(f"{folder} has no model.pt: it was exported without a model that can embed new nodes")
        expected = export.metadata.get("model_sha256")
        if expected and sha256(model_path) != expected:
            raise ExportError(
                f"{model_path} is not the model this index was built with (checksum differs from metadata.json)"
            )
        return cls(export, model_io.load(model_path))

    @property
    def num_nodes(self) -> int:
        return self.export.index.ntotal

    @torch.no_grad()
    def _embed_and_classify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(query vectors, classes) in one forward pass (the student's MLP1 output feeds both)."""
        m = self.model
        if hasattr(m, "mlp1"):
            # the classes are the student's (with its blend); the retrieval space reads MLP2's logits
            z, logits, out = m._new_node_outputs(x)
            classes = out.argmax(-1)
            if self.space == "retrieval":  # the same vector as query_vectors(m, x, "retrieval"), one MLP2 pass
                if m.retrieval is None or not m.retrieval.trained:
                    return query_vectors(m, x, "retrieval"), classes  # raises its clear error
                return m.retrieval.combine(m.retrieval.project(sparse.model_input(x)), logits), classes
            return normalize(z), classes
        logits, emb = m.mlp(x, return_emb=True)
        return normalize(emb), logits.argmax(-1)

    def query(self, features: Any, k: int = 10) -> Answer:
        """Embed ``features`` (rows of raw features, as at training), classify them and find their ``k`` nearest
        exported nodes."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise EndpointInputError(f"k must be an integer (got {k!r})")
        if not 1 <= int(k) <= self.num_nodes:
            raise EndpointInputError(
                f"k must be in [1, {self.num_nodes}] (the index holds {self.num_nodes} nodes); got {k}"
            )
        x = preprocess(features, self.in_channels, self.norm)
        v, classes = self._embed_and_classify(x)
        vectors, classes = as_numpy(v), classes.cpu().numpy()
        scores, rows = self.export.index.search(vectors, int(k))
        names = [self.class_names[c] if c < len(self.class_names) else str(int(c)) for c in classes]
        neighbors = [self.export.original_ids(r) for r in rows]
        return Answer(embedding=vectors, class_id=classes, class_name=names, neighbor_ids=neighbors, scores=scores)
