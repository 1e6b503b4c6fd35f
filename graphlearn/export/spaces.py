"""Which vector each node gets when embeddings leave graphlearn (the *embedding space* of an export).

Cold Brew's MLP1 maps a node's features into its teacher's embedding space, so nodes with edges (teacher
embedding) and brand-new nodes (MLP1's estimate of it) can be compared. Every space here is:

* **standardised** with the student's candidate statistics (per-dimension mean and std of the teacher embeddings
  of nodes with a neighbourhood: ``ColdBrewStudent.emb_mean`` / ``emb_std``), so that the teacher's layers, of
  different scales, weigh alike (as in the student's own neighbour search);
* **L2-normalised**, searched by inner product: scores are cosine similarities in ``[-1, 1]``.

Spaces of a student (``benchmarks/results/export_retrieval.md`` measures them):

``"coldbrew"`` (the default)
    nodes with a neighbourhood in the training graph keep their teacher embedding; every other node (isolated,
    and brand-new nodes at query time) gets MLP1's estimate from its features.
``"mlp1"``
    MLP1's estimate for every node (one function of the features for index and queries alike).
``"retrieval"``
    the student's opt-in retrieval head (``retrieval_dim > 0``, :mod:`graphlearn.methods.coldbrew.retrieval`):
    a learnt projection of the normalised features plus the student's class distribution, already unit-norm (not
    standardised); one function of the features for index and queries alike.

Queries (new nodes, features only) are MLP1's estimate in the ``coldbrew`` / ``mlp1`` spaces and the retrieval
head's vector in the ``retrieval`` space: :func:`query_vectors` with ``space``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from graphlearn import sparse

__all__ = ["STUDENT_SPACES", "normalize", "query_vectors", "student_vectors", "hidden_vectors"]

STUDENT_SPACES = ("coldbrew", "mlp1", "retrieval")


def normalize(v: Tensor) -> Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return torch.nn.functional.normalize(v, dim=-1)


@torch.no_grad()
def query_vectors(student, features: Tensor, space: str = "coldbrew") -> Tensor:
    """The exported vector of nodes given by their features alone: MLP1's estimate, standardised, normalised
    (spaces ``coldbrew`` and ``mlp1``), or the retrieval head's vector (space ``retrieval``)."""
    if space not in STUDENT_SPACES:
        raise ValueError(f"unknown embedding space {space!r}; choose from {list(STUDENT_SPACES)}")
    if space == "retrieval":
        return student.retrieval_vectors(features)
    student._check_x(features)
    student._require_teacher()
    student.eval()
    return normalize(sparse.mlp_forward(student.mlp1, [sparse.model_input(features)]))


@torch.no_grad()
def student_vectors(student, features: Tensor, space: str = "coldbrew", rows: Tensor | None = None) -> Tensor:
    """Exported vectors of training-graph nodes (``features`` are their rows of the training graph's features;
    ``rows`` their node ids, default ``0..n-1``), in ``space`` (see the module docstring)."""
    if space not in STUDENT_SPACES:
        raise ValueError(f"unknown embedding space {space!r}; choose from {list(STUDENT_SPACES)}")
    out = query_vectors(student, features, space)
    if space in ("mlp1", "retrieval"):
        return out
    n_graph = student.teacher_embeddings.size(0)
    rows = torch.arange(features.size(0)) if rows is None else rows
    if rows.numel() and int(rows.max()) >= n_graph:
        raise ValueError(f"node ids up to {int(rows.max())} but the student's training graph has {n_graph} nodes")
    is_cand = torch.zeros(n_graph, dtype=torch.bool)
    is_cand[student.candidate_index.cpu()] = True
    keep = is_cand[rows]
    if bool(keep.any()):
        teacher = student._standardise(student.teacher_embeddings[rows[keep].to(student.teacher_embeddings.device)])
        out[keep.to(out.device)] = normalize(teacher).to(out.dtype)
    return out


@torch.no_grad()
def hidden_vectors(mlp, features: Tensor) -> Tensor:
    """The last hidden layer of an :class:`~graphlearn.methods.coldbrew.MLPClassifier` (the MLP and GLNN
    baselines), normalised: what such a model would export."""
    mlp.eval()
    _, emb = mlp.mlp(sparse.model_input(features), return_emb=True)
    return normalize(emb)


def as_numpy(v: Tensor) -> np.ndarray:
    return np.ascontiguousarray(v.detach().cpu().numpy(), dtype=np.float32)
