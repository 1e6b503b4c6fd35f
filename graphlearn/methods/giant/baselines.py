"""Cheap embeddings to compare the pretrainer against.

* :func:`propagated_features`: SGC's ``S^k X`` with ``S = D̃^-1/2 (A + I) D̃^-1/2`` (Wu et al., ICML 2019), the
  library's :func:`graphlearn.sparse.propagation_matrix`. Uses the neighbours' features at embedding time, so it is
  not available for a node without edges.
* :func:`linear_neighbourhood_features`: an XR-Linear-like linear model of the same per-level targets ``Y_l`` the
  pretrainer predicts: a ridge regression ``X -> Y_l`` per level (closed form, one-vs-rest), whose predicted
  cluster scores ``X W_l`` are the embedding. Like the pretrained encoder it needs only a node's own features.
  Dense ``[F, K_l]`` weights: meant for small graphs (``K_l`` up to a few thousand).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from graphlearn.sparse import propagation_matrix

from .label_tree import LabelTree, adjacency, build_label_tree, level_targets, pifa_embeddings

__all__ = ["propagated_features", "linear_neighbourhood_features"]


def propagated_features(x: Tensor, edge_index: Tensor, hops: int = 2) -> Tensor:
    """SGC features ``S^hops X`` (float32 ``[N, F]``).

    ``edge_index`` is read as an undirected simple graph (:func:`~.label_tree.adjacency`: symmetrised, duplicates and
    self-loops dropped); ``S`` is then :func:`graphlearn.sparse.propagation_matrix` (``norm="gcn"``).
    """
    n = x.shape[0]
    a = adjacency(edge_index, n).tocoo()
    simple = torch.from_numpy(np.stack([a.row, a.col]).astype(np.int64))
    s = propagation_matrix(simple, n, "gcn", dtype=torch.float32)
    out = x.detach().to(device="cpu", dtype=torch.float32, copy=True)
    for _ in range(hops):
        out = torch.sparse.mm(s, out)
    return out


def linear_neighbourhood_features(
    x: Tensor,
    edge_index: Tensor,
    tree: LabelTree | None = None,
    alpha: float = 1.0,
    branching: int = 16,
    max_leaf_size: int = 32,
    seed: int = 0,
) -> Tensor:
    """Concatenated ridge predictions ``[X W_0, ..., X W_L]`` of the per-level neighbourhood targets.

    Args:
        x: ``[N, F]`` node features; edge_index: ``[2, E]``.
        tree: label tree to use (built from PIFA like the pretrainer's when ``None``).
        alpha: ridge penalty.
    """
    n = x.shape[0]
    adj = adjacency(edge_index, n)
    xn = x.numpy().astype(np.float64)
    if tree is None:
        tree = build_label_tree(pifa_embeddings(adj, xn), branching, max_leaf_size, seed=seed)
    train = np.diff(adj.indptr) > 0  # isolated nodes have all-zero targets: keep them out of the fit
    xt = xn[train]
    gram_inv = np.linalg.inv(xt.T @ xt + alpha * np.eye(xn.shape[1]))
    outs = []
    for y in level_targets(adj, tree):
        xty = np.asarray((y[train].T @ xt).T)  # [F, K_l]
        outs.append(xn @ (gram_inv @ xty))
    return torch.from_numpy(np.concatenate(outs, 1).astype(np.float32))
