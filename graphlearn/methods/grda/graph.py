"""Domain-graph pieces of GRDA: domain-node embeddings, subgraph sampling and the reconstruction loss.

The discriminator of GRDA does not classify domains; it reconstructs the domain graph. For two samples from
domains ``i`` and ``j`` with discriminator codes ``d_i``, ``d_j`` the edge logit is ``d_i . d_j`` and the loss is
the binary cross-entropy against ``A_ij``. Pairs are drawn from a sampled *domain subgraph* every step, and the
loss is balanced between edges and non-edges (sparse graphs would otherwise teach "no edge").
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def spectral_embedding(adjacency: np.ndarray, dim: int = 2) -> np.ndarray:
    """Laplacian-eigenmap coordinates of the domains, ``[D, dim]`` float32 with unit-variance columns.

    Solves ``L v = lambda Deg v`` (``L = Deg - A``) and keeps the ``dim`` eigenvectors after the constant one:
    the closed-form minimiser of ``sum_ij A_ij ||u_i - u_j||^2`` under a scale constraint, i.e. adjacent domains
    get nearby codes, which is what the encoder needs to interpolate from labelled to unlabelled neighbours.
    Deterministic (signs fixed so the largest-magnitude entry is positive), no training, no seeds.
    Isolated domains (degree 0) get the zero vector; a disconnected graph yields component indicators first.
    """
    a = np.asarray(adjacency, dtype=np.float64)
    n = len(a)
    deg = a.sum(1)
    inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
    sym = np.eye(n) - inv_sqrt[:, None] * a * inv_sqrt[None, :]
    vals, vecs = np.linalg.eigh(sym)
    vecs = inv_sqrt[:, None] * vecs  # back to the random-walk (generalised) eigenvectors
    keep = vecs[:, 1 : 1 + dim]
    if keep.shape[1] < dim:  # fewer domains than requested dimensions
        keep = np.pad(keep, ((0, 0), (0, dim - keep.shape[1])))
    std = keep.std(0)
    keep = keep / np.where(std > 0, std, 1.0)
    flip = np.sign(keep[np.abs(keep).argmax(0), np.arange(keep.shape[1])])
    return (keep * np.where(flip == 0, 1.0, flip)).astype(np.float32)


def sample_domain_subgraph(adjacency: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sample ``min(size, D)`` distinct domains.

    Half of the time uniformly at random (mostly non-edges on a sparse graph); otherwise as a union of random-walk
    chains that only step to unvisited neighbours, restarting at a random unvisited domain when stuck (mostly
    edges). The mix shows the discriminator both kinds of pairs, as GRDA's sampler does.
    """
    a = np.asarray(adjacency) > 0
    n = len(a)
    size = min(int(size), n)
    if rng.random() < 0.5:
        return rng.choice(n, size=size, replace=False)
    visited = np.zeros(n, dtype=bool)
    chosen: list[int] = []
    current = -1
    while len(chosen) < size:
        nxt = np.flatnonzero(a[current] & ~visited) if current >= 0 else np.empty(0, dtype=int)
        current = int(rng.choice(nxt)) if len(nxt) else int(rng.choice(np.flatnonzero(~visited)))
        visited[current] = True
        chosen.append(current)
    return np.asarray(chosen)


def subgraph_pairs(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs ``(u[p], v[p])`` with ``u != v`` of the sampled ``nodes``."""
    i, j = np.triu_indices(len(nodes), k=1)
    return np.asarray(nodes)[i], np.asarray(nodes)[j]


def graph_reconstruction_loss(d: Tensor, adjacency: Tensor, u: Tensor, v: Tensor, balanced: bool = True) -> Tensor:
    """Binary cross-entropy of ``sigmoid(d_u . d_v)`` against ``A_uv`` over the sampled domain pairs.

    Args:
        d: discriminator codes ``[D, B, k]`` (slot ``b`` of domain ``u`` is paired with slot ``b`` of domain ``v``)
            or ``[D, k]`` (one code per domain).
        adjacency: ``[D, D]`` targets in ``[0, 1]``.
        u, v: long ``[P]`` domain indices of the pairs.
        balanced: average edges (``A > 0``) and non-edges separately, then take the mean of the two averages.

    Returns:
        scalar loss.
    """
    if d.dim() == 2:
        d = d.unsqueeze(1)
    logits = (d[u] * d[v]).sum(-1)  # [P, B]
    target = adjacency[u, v].to(logits.dtype)  # [P]
    loss = F.binary_cross_entropy_with_logits(logits, target[:, None].expand_as(logits), reduction="none")
    loss = loss.mean(1)  # [P]
    if not balanced:
        return loss.mean()
    edge = target > 0
    parts = [loss[m].mean() for m in (edge, ~edge) if m.any()]
    return torch.stack(parts).mean()
