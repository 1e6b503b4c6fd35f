"""Retrieval quality of node embeddings: does a node's nearest neighbours in embedding space recover its graph
neighbours and its class?

Used to judge exported embeddings (``graphlearn.export``) on cold-start nodes: under the Cold Brew protocol an
isolated node's removed edges are its true neighbours, so querying the index with its vector should return them.
Search is exact inner product over L2-normalised vectors (cosine), with FAISS (``IndexFlatIP``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RetrievalScores", "true_neighbors", "search", "retrieval_scores"]


@dataclass
class RetrievalScores:
    """Means over the queries (percent): ``recall`` of the true neighbours in the top ``k`` (over queries with at
    least one true neighbour), ``precision`` of same-class results in the top ``k``; ``queries`` counted."""

    recall: float
    precision: float
    queries: int
    k: int

    def to_dict(self) -> dict[str, float]:
        return {"recall": self.recall, "precision": self.precision, "queries": self.queries, "k": self.k}


def _unit(x: np.ndarray, what: str) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{what} must be 2-D [n, d] (got shape {list(x.shape)})")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN/inf")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def true_neighbors(edge_index, nodes) -> list[np.ndarray]:
    """For each of ``nodes``, its neighbours in ``edge_index`` (``[2, E]``, either direction), self-loops dropped."""
    ei = np.asarray(edge_index)
    nodes = np.asarray(nodes, dtype=np.int64)
    src, dst = np.concatenate([ei[0], ei[1]]), np.concatenate([ei[1], ei[0]])
    keep = src != dst
    src, dst = src[keep], dst[keep]
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]
    lo, hi = np.searchsorted(src, nodes, "left"), np.searchsorted(src, nodes, "right")
    return [np.unique(dst[a:b]) for a, b in zip(lo, hi)]


def search(query: np.ndarray, index: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``index`` with the ``k`` highest cosine similarities to each query row (``[m, k]`` int64), exactly
    (FAISS ``IndexFlatIP``); ``exclude[i]`` (a row of ``index``, or -1) is never returned for query ``i``."""
    import faiss  # noqa: PLC0415

    q, x = _unit(query, "query vectors"), _unit(index, "index vectors")
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"query vectors have width {q.shape[1]} but the index has width {x.shape[1]}")
    if not 1 <= k < x.shape[0]:
        raise ValueError(f"k must be in [1, {x.shape[0] - 1}] for an index of {x.shape[0]} vectors (got {k})")
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    _, rows = flat.search(q, k + (exclude is not None))
    if exclude is None:
        return rows
    out = np.empty((len(q), k), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i] = r[r != exclude[i]][:k]
    return out


def retrieval_scores(
    query: np.ndarray,
    index: np.ndarray,
    truth: list[np.ndarray],
    query_labels: np.ndarray,
    index_labels: np.ndarray,
    k: int = 10,
    exclude: np.ndarray | None = None,
) -> RetrievalScores:
    """Recall@k of ``truth[i]`` (rows of ``index``) and same-class precision@k for each query row.

    Args:
        query: ``[m, d]`` query vectors (normalised here).
        index: ``[n, d]`` indexed vectors.
        truth: for each query, the index rows that are its true neighbours (may be empty: left out of recall).
        query_labels, index_labels: classes of the queries and of the index rows.
        k: results per query.
        exclude: for each query, its own row in ``index`` (or -1), never counted as a result.
    """
    if len(truth) != len(query) or len(query_labels) != len(query):
        raise ValueError(
            f"{len(query)} queries but {len(truth)} neighbour lists and {len(query_labels)} labels; one each"
        )
    if len(index_labels) != len(index):
        raise ValueError(f"{len(index)} index vectors but {len(index_labels)} index labels")
    if len(query) == 0:
        raise ValueError("no query vectors")
    rows = search(query, index, k, exclude)
    hits = [np.isin(r, t).sum() / len(t) for r, t in zip(rows, truth) if len(t)]
    same = (np.asarray(index_labels)[rows] == np.asarray(query_labels)[:, None]).mean(1)
    return RetrievalScores(
        recall=100.0 * float(np.mean(hits)) if hits else float("nan"),
        precision=100.0 * float(same.mean()),
        queries=len(query),
        k=k,
    )
