"""Compatibility of a model update: does the new model regress on what the old one got right, and can its queries be
searched against the old model's index?

* :func:`negative_flip_rate` - the share of nodes the old model classified correctly and the new one does not
  (`Yan et al., CVPR 2021 <https://arxiv.org/abs/2011.09161>`_).
* :func:`retrieval_compatibility` - retrieval old/old, new/new and new-query/old-index
  (`Shen et al., CVPR 2020 <https://arxiv.org/abs/2003.11942>`_) with :func:`~graphlearn.evaluation.retrieval.
  retrieval_scores`: queries are the isolated test nodes, the index holds every node, the truth is each query's
  removed edges.
* :func:`classification_compatibility` - accuracies of both models and the negative flip rate per node group.

Vectors and predictions come in as arrays (``graphlearn.export.spaces`` makes the vectors), so this module does not
depend on any method.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from torch import Tensor

from .retrieval import retrieval_scores, true_neighbors

__all__ = ["negative_flip_rate", "retrieval_compatibility", "classification_compatibility", "PAIRS"]

#: The (query model, index model) pairs of :func:`retrieval_compatibility`.
PAIRS = ("old/old", "new/new", "new/old")


def _as_array(v, what: str) -> np.ndarray:
    if isinstance(v, Tensor):
        v = v.detach().cpu().numpy()
    a = np.asarray(v)
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D (got shape {list(a.shape)})")
    return a


def negative_flip_rate(old_pred, new_pred, y, mask=None) -> float:
    """Negative flip rate in percent: among the nodes of ``mask``, the share the old model got right and the new one
    wrong (PCT's NFR: divided by all nodes of ``mask``, not only the old model's correct ones).

    Args:
        old_pred, new_pred, y: predicted and true classes ``[N]`` (tensors or arrays).
        mask: bool ``[N]``, the nodes counted. (default: every node)

    Raises:
        ValueError: arrays of different lengths, or a mask that selects no node.
    """
    old, new, y = _as_array(old_pred, "old_pred"), _as_array(new_pred, "new_pred"), _as_array(y, "y")
    if not len(old) == len(new) == len(y):
        raise ValueError(f"old_pred, new_pred and y must have the same length (got {len(old)}, {len(new)}, {len(y)})")
    m = np.ones(len(y), dtype=bool) if mask is None else _as_array(mask, "mask")
    if m.dtype != bool or len(m) != len(y):
        raise ValueError(f"mask must be bool [{len(y)}] (got {m.dtype} [{len(m)}])")
    if not m.any():
        raise ValueError("mask selects no node")
    flips = (old[m] == y[m]) & (new[m] != y[m])
    return 100.0 * float(flips.mean())


def retrieval_compatibility(
    old_query,
    old_index,
    new_query,
    new_index,
    *,
    edge_index,
    y,
    query_nodes,
    k: int = 10,
) -> dict[str, dict[str, float]]:
    """Retrieval of the queries' true neighbours for each (query model, index model) pair of :data:`PAIRS`.

    Args:
        old_query, new_query: ``[m, d]`` query vectors of ``query_nodes`` from the old and the new model
            (:func:`graphlearn.export.spaces.query_vectors`).
        old_index, new_index: ``[N, d]`` index vectors of every node (:func:`graphlearn.export.spaces.
            student_vectors`); the new index may have more rows than the old one (a grown graph) and is then cut
            to the old one's nodes for new/old.
        edge_index: the **original** graph ``[2, E]`` (before the cold-start split removed the queries' edges): a
            query's true neighbours are its neighbours there.
        y: classes ``[N]`` (same-class precision).
        query_nodes: int64 ``[m]`` node ids of the queries (e.g. the isolated test nodes); each query's own row is
            never counted as a result.
        k (int): results per query. (default: ``10``)

    Returns:
        ``{pair: {"recall", "precision", "queries", "k"}}`` (percent; :class:`~graphlearn.evaluation.retrieval.
        RetrievalScores`), for ``pair`` in ``"old/old"``, ``"new/new"``, ``"new/old"``.

    Raises:
        ValueError: query vectors whose count is not that of ``query_nodes``, or vectors of the two models of a pair
            of different widths (naming them).
    """
    nodes = _as_array(query_nodes, "query_nodes").astype(np.int64)
    labels = _as_array(y, "y")
    ei = edge_index.detach().cpu().numpy() if isinstance(edge_index, Tensor) else np.asarray(edge_index)
    given = {"old_query": old_query, "new_query": new_query, "old_index": old_index, "new_index": new_index}
    vec = {name: v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v) for name, v in given.items()}
    for name in ("old_query", "new_query"):
        if vec[name].ndim != 2 or len(vec[name]) != len(nodes):
            raise ValueError(f"{name} must be [{len(nodes)}, d], one row per query node (got {list(vec[name].shape)})")
    n_old = len(vec["old_index"])
    if len(vec["new_index"]) < n_old:
        raise ValueError(f"new_index has {len(vec['new_index'])} rows, fewer than the old index's {n_old}")
    if nodes.size and int(nodes.max()) >= n_old:
        raise ValueError(f"query node ids up to {int(nodes.max())} but the old index has {n_old} rows")
    if len(labels) < len(vec["new_index"]):
        raise ValueError(f"y has {len(labels)} entries but the new index has {len(vec['new_index'])} rows")
    pairs = {
        "old/old": ("old_query", "old_index"),
        "new/new": ("new_query", "new_index"),
        "new/old": ("new_query", "old_index"),
    }
    out = {}
    for pair, (q, x) in pairs.items():
        if vec[q].shape[1] != vec[x].shape[1]:
            raise ValueError(f"{pair}: {q} have width {vec[q].shape[1]} but {x} has width {vec[x].shape[1]}")
        n = len(vec[x])
        truth = true_neighbors(ei[:, (ei < n).all(0)], nodes)
        out[pair] = retrieval_scores(vec[q], vec[x], truth, labels[nodes], labels[:n], k=k, exclude=nodes).to_dict()
    return out


def classification_compatibility(old_pred, new_pred, y, masks: Mapping[str, Tensor]) -> dict[str, dict[str, float]]:
    """Accuracy of both models and the negative flip rate on each mask (e.g. :func:`~graphlearn.data.splits.
    group_masks`): ``{group: {"old_acc", "new_acc", "nfr"}}``, percent."""
    old, new, labels = _as_array(old_pred, "old_pred"), _as_array(new_pred, "new_pred"), _as_array(y, "y")
    out = {}
    for group, mask in masks.items():
        m = _as_array(mask.cpu() if isinstance(mask, Tensor) else mask, f"mask {group!r}")
        if not m.any():
            continue
        out[group] = {
            "old_acc": 100.0 * float((old[m] == labels[m]).mean()),
            "new_acc": 100.0 * float((new[m] == labels[m]).mean()),
            "nfr": negative_flip_rate(old, new, labels, m),
        }
    return out
