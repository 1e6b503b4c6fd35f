"""Hierarchical label tree for multi-scale neighbourhood prediction (GIANT-XRT, PECOS indexer).

In GIANT every node is also a *label*: node ``i``'s targets are its neighbours. Labels are embedded with PIFA
(the normalised sum of the features of the nodes adjacent to the label), then clustered coarse to fine by recursive
balanced spherical 2-means, as PECOS's ``HierarchicalKMeans`` does (Yu et al., 2020, Algorithm 1). The binary tree
of depth ``d`` is cut every ``log2(B)`` binary levels to give a ``B``-ary tree, so level ``l`` has ``2**depth_l``
clusters and every cluster has exactly ``B`` children on the next level (the last cut may give fewer).

Why our own implementation and not ``libpecos``: ``libpecos`` pins ``numpy<2`` and ``scipy<1.14``, which conflicts
with the suite's stack (numpy 2.4, scipy 1.17). Balanced 2-means splits every cluster at the median of the
projection on its two centroids' difference, so all clusters of one binary depth can be split at once with one
sort of a ``(cluster, score)`` key. That vectorises the whole level in torch (``index_add_`` for centroids, one
``argsort`` per iteration): PIFA, tree and targets for 1M labels took 142 s on one contended core
(``benchmarks/results/giant_scale.md``). faiss k-means is not balanced, so it is not used here.

Clusters are numbered heap-style: the children of binary cluster ``c`` are ``2c`` and ``2c + 1``. Hence the
cluster of a label at binary depth ``t`` is ``leaf_code >> (d - t)`` and children are contiguous ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["LabelTree", "pifa_embeddings", "build_label_tree", "level_targets", "adjacency"]

_CHUNK = 1 << 14  # rows per chunk for row-wise dot products (a cache-sized gathered [chunk, F] block)


def adjacency(edge_index: torch.Tensor | np.ndarray, num_nodes: int) -> sp.csr_matrix:
    """Binary symmetric CSR adjacency ``[N, N]`` (float32) without self-loops from a ``[2, E]`` edge index."""
    ei = np.asarray(edge_index.cpu() if isinstance(edge_index, torch.Tensor) else edge_index, dtype=np.int64)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(ei.shape)}")
    if ei.size and (ei.min() < 0 or ei.max() >= num_nodes):
        bad = int(ei.max()) if ei.max() >= num_nodes else int(ei.min())
        raise ValueError(f"edge_index holds node id {bad}, expected ids in [0, {num_nodes})")
    row, col = ei
    keep = row != col
    row, col = np.concatenate([row[keep], col[keep]]), np.concatenate([col[keep], row[keep]])
    adj = sp.csr_matrix((np.ones(row.size, np.float32), (row, col)), shape=(num_nodes, num_nodes))
    adj.sum_duplicates()
    adj.data[:] = 1.0
    return adj


def _l2_normalize(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    np.divide(m, norms, out=m, where=norms > 0)
    return m


def pifa_embeddings(adj: sp.csr_matrix, x: np.ndarray | torch.Tensor, hops: int = 1) -> np.ndarray:
    """PIFA label embeddings ``Z = normalize(Â^hops X̄)`` with ``X̄`` the L2-normalised node features.

    ``Â = D^-1 A`` (row scaling does not change the L2-normalised result for ``hops=1``, where this is exactly
    PECOS's PIFA ``normalize(Yᵀ X)`` with ``Y = A``). A label with no neighbours has a zero PIFA row and falls back to
    its own normalised features, so isolated labels are clustered with the labels they resemble.

    Args:
        adj: ``[N, N]`` symmetric adjacency (CSR).
        x: ``[N, F]`` finite node features.
        hops: number of propagation steps ``k >= 1``.

    Returns:
        float32 ``[N, F]``, rows of unit norm (or zero if the label and its neighbourhood have all-zero features).
    """
    if hops < 1:
        raise ValueError(f"pifa hops must be >= 1, got {hops}")
    xb = np.array(x.cpu().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float32, copy=True)
    _l2_normalize(xb)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = sp.diags(np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0).astype(np.float32))
    z = xb
    for _ in range(hops):
        z = np.asarray(inv @ (adj @ z), dtype=np.float32)
    _l2_normalize(z)
    isolated = deg == 0
    z[isolated] = xb[isolated]
    return z


@dataclass
class LabelTree:
    """A ``B``-ary label tree stored as leaf codes of a complete binary tree.

    Attributes:
        leaf_codes: int64 ``[L]``, the cluster of every label at binary depth ``depth``.
        depth: binary depth of the leaves (``2**depth`` leaf clusters, all non-empty).
        level_depths: binary depth of every level, coarse to fine (last == ``depth``).
    """

    leaf_codes: np.ndarray
    depth: int
    level_depths: list[int]

    @property
    def num_labels(self) -> int:
        return int(self.leaf_codes.shape[0])

    @property
    def num_levels(self) -> int:
        return len(self.level_depths)

    def num_clusters(self, level: int) -> int:
        return 1 << self.level_depths[level]

    def assignments(self, level: int) -> np.ndarray:
        """int64 ``[L]``: the cluster of every label at ``level``."""
        return self.leaf_codes >> (self.depth - self.level_depths[level])

    def cluster_matrix(self, level: int) -> sp.csr_matrix:
        """Binary ``C_l`` of shape ``[L, K_l]``: ``C[ℓ, c] = 1`` iff label ``ℓ`` is in cluster ``c``."""
        a = self.assignments(level)
        return sp.csr_matrix(
            (np.ones(a.size, np.float32), a, np.arange(a.size + 1)), shape=(a.size, self.num_clusters(level))
        )

    def cluster_sizes(self, level: int) -> np.ndarray:
        return np.bincount(self.assignments(level), minlength=self.num_clusters(level))

    def branching(self, level: int) -> int:
        """Children per cluster of ``level - 1`` (``level >= 1``)."""
        if not 1 <= level < self.num_levels:
            raise IndexError(f"level {level} has no parent level; valid levels are 1..{self.num_levels - 1}")
        return 1 << (self.level_depths[level] - self.level_depths[level - 1])

    def parents(self, level: int) -> np.ndarray:
        """int64 ``[K_l]``: the parent (on ``level - 1``) of every cluster of ``level``."""
        shift = self.level_depths[level] - self.level_depths[level - 1]
        self.branching(level)  # validates level
        return np.arange(self.num_clusters(level), dtype=np.int64) >> shift

    def children(self, level: int) -> np.ndarray:
        """int64 ``[K_{l-1}, B_l]``: the children (on ``level``) of every cluster of ``level - 1``."""
        b = self.branching(level)
        return np.arange(self.num_clusters(level), dtype=np.int64).reshape(-1, b)

    def children_matrix(self, level: int) -> sp.csr_matrix:
        """Binary ``[K_{l-1}, K_l]`` parent-to-child matrix."""
        ch = self.children(level)
        k_prev, b = ch.shape
        return sp.csr_matrix(
            (np.ones(ch.size, np.float32), ch.ravel(), np.arange(0, ch.size + 1, b)), shape=(k_prev, ch.size)
        )

    def __repr__(self) -> str:
        sizes = [self.num_clusters(level) for level in range(self.num_levels)]
        return f"LabelTree(labels={self.num_labels}, clusters={sizes})"


def _rowwise_dot(emb: torch.Tensor, directions: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    out = torch.empty(emb.shape[0], dtype=emb.dtype)
    for s in range(0, emb.shape[0], _CHUNK):
        e = slice(s, s + _CHUNK)
        out[e] = torch.bmm(emb[e].unsqueeze(1), directions.index_select(0, codes[e]).unsqueeze(2)).view(-1)
    return out


def _split_level(
    emb: torch.Tensor,
    codes: torch.Tensor,
    num_parents: int,
    iters: int,
    spherical: bool,
    gen: torch.Generator,
    tol: float = 1e-2,
) -> torch.Tensor:
    """One balanced 2-means split of every cluster of one binary depth at once. Returns child codes.

    Stops after ``iters`` iterations or once at most a fraction ``tol`` of the labels changed side.
    """
    n, f = emb.shape
    counts = torch.bincount(codes, minlength=num_parents)
    starts = torch.cumsum(counts, 0) - counts
    order = torch.argsort(codes, stable=True)
    # init: two distinct random members per cluster (every cluster has >= 2 members, checked by the caller)
    r1 = (torch.rand(num_parents, generator=gen, dtype=torch.float64) * counts).long()
    r2 = (r1 + 1 + (torch.rand(num_parents, generator=gen, dtype=torch.float64) * (counts - 1)).long()) % counts
    centroids = torch.stack([emb[order[starts + r1]], emb[order[starts + r2]]], 1)  # [P, 2, F]
    new = None
    for _ in range(max(1, iters)):
        score = _rowwise_dot(emb, centroids[:, 1] - centroids[:, 0], codes)
        # rank inside the cluster: sort by score, then stably by cluster
        perm = torch.argsort(score)
        perm = perm[torch.argsort(codes[perm], stable=True)]
        rank = torch.empty(n, dtype=torch.long)
        rank[perm] = torch.arange(n) - starts[codes[perm]]
        child = 2 * codes + (rank >= counts[codes] // 2).long()  # left child gets floor(n/2) labels
        if new is not None and (child != new).sum() <= tol * n:
            new = child
            break
        new = child
        sums = torch.zeros(2 * num_parents, f, dtype=emb.dtype).index_add_(0, new, emb)
        if spherical:
            sums = torch.nn.functional.normalize(sums, dim=1)
        else:
            sums /= torch.bincount(new, minlength=2 * num_parents).clamp(min=1).unsqueeze(1).to(emb.dtype)
        centroids = sums.view(num_parents, 2, f)
    return new


def build_label_tree(
    emb: np.ndarray | torch.Tensor,
    branching: int = 16,
    max_leaf_size: int = 32,
    kmeans_iters: int = 10,
    spherical: bool = True,
    seed: int = 0,
    progress: bool = False,
) -> LabelTree:
    """Cluster labels into a ``B``-ary tree by recursive balanced 2-means (PECOS ``HierarchicalKMeans``).

    Binary depth ``d = max(1, ceil(log2(L / max_leaf_size)))``; every split halves a cluster (sizes differ by at most
    one), so every level's clusters have ``floor`` or ``ceil`` of ``L / K_l`` labels. Levels are cut every
    ``log2(branching)`` binary depths from the leaves up; a top level with fewer than ``branching`` clusters is merged
    into the next one (PECOS's ``min_codes = nr_splits``).

    Args:
        emb: ``[L, F]`` label embeddings (e.g. :func:`pifa_embeddings`).
        branching: children per cluster, a power of two ``>= 2``.
        max_leaf_size: largest leaf cluster, ``>= 1``.
        kmeans_iters: 2-means iterations per split (stops early once assignments are stable).
        spherical: L2-normalise centroids (spherical k-means, PECOS's default).
        seed: seed of the centroid initialisation.

    Raises:
        ValueError: bad ``branching``/``max_leaf_size``, fewer than 2 labels, non-finite embeddings, or a tree whose
            leaves would outnumber the labels (empty clusters).
    """
    if branching < 2 or branching & (branching - 1):
        raise ValueError(f"branching must be a power of two >= 2, got {branching}")
    if max_leaf_size < 1:
        raise ValueError(f"max_leaf_size must be >= 1, got {max_leaf_size}")
    e = torch.as_tensor(np.asarray(emb.cpu() if isinstance(emb, torch.Tensor) else emb), dtype=torch.float32)
    if e.ndim != 2:
        raise ValueError(f"label embeddings must be 2-D [L, F], got shape {tuple(e.shape)}")
    n = e.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 labels to build a tree, got {n}")
    if not torch.isfinite(e).all():
        rows = torch.nonzero(~torch.isfinite(e).all(1)).flatten()[:5].tolist()
        raise ValueError(f"label embeddings hold non-finite values (rows {rows}...)")
    depth = max(1, math.ceil(math.log2(n / max_leaf_size)))
    if (1 << depth) > n:
        raise ValueError(
            f"a tree of depth {depth} has {1 << depth} leaf clusters but only {n} labels "
            f"(max_leaf_size={max_leaf_size} too small); empty clusters would follow"
        )
    step = int(math.log2(branching))
    level_depths = list(range(depth, 0, -step))[::-1]
    if len(level_depths) > 1 and level_depths[0] < step:
        level_depths = level_depths[1:]
    gen = torch.Generator().manual_seed(seed)
    codes = torch.zeros(n, dtype=torch.long)
    depths = range(depth)
    if progress:
        from tqdm.auto import tqdm

        depths = tqdm(depths, desc="label tree", unit="depth")
    for t in depths:
        codes = _split_level(e, codes, 1 << t, kmeans_iters, spherical, gen)
    return LabelTree(codes.numpy().astype(np.int64), depth, level_depths)


def level_targets(adj: sp.csr_matrix, tree: LabelTree) -> list[sp.csr_matrix]:
    """Per-level neighbourhood targets ``Y_l = binarize(A C_l)`` (CSR ``[N, K_l]``, float32 ones).

    ``Y_l[i, c] = 1`` iff some neighbour of ``i`` is in cluster ``c`` of level ``l``. Computed in ``O(E)`` by
    relabelling the columns of ``A`` (a row has at most ``min(deg, K_l)`` entries, so targets stay sparse).
    """
    if adj.shape[1] != tree.num_labels:
        raise ValueError(f"adjacency has {adj.shape[1]} columns but the tree has {tree.num_labels} labels")
    adj = adj.tocsr()
    out = []
    for level in range(tree.num_levels):
        cols = tree.assignments(level)[adj.indices]
        y = sp.csr_matrix(
            (np.ones(cols.size, np.float32), cols, adj.indptr.copy()), shape=(adj.shape[0], tree.num_clusters(level))
        )
        y.sum_duplicates()
        y.data[:] = 1.0
        out.append(y)
    return out
